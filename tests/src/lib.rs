//! The `e2e` package: end-to-end tests of PeerTest Hub live in `e2e/` as one test binary that
//! starts the real gateway and talks to it over HTTP, and `benches/` measures it. This library
//! holds what both share: the fan-out fixture of the batching test and the benchmark.

use bson::oid::ObjectId;
use bson::DateTime;

/// The query whose cost is measured; `$n` is the page size at every level.
pub const NESTED_QUERY: &str =
    "query($n: Int!) { me { id projects(first: $n) { totalCount edges { node {
    name jobs(first: $n) { totalCount edges { node {
      title submissions(first: $n) { totalCount edges { node {
        status tester { fullName } } } } } } } } } } } }";

/// Writes `fan` projects for `client_id`, `fan` open jobs in each and one submitted submission
/// per job from each of the first `fan` testers.
pub async fn seed_fan_out(
    database: &mongodb::Database,
    client_id: ObjectId,
    testers: &[ObjectId],
    fan: usize,
) {
    let now = DateTime::now();
    let mut projects = Vec::new();
    let mut jobs = Vec::new();
    let mut submissions = Vec::new();
    for p in 0..fan {
        let project_id = ObjectId::new();
        projects.push(marketplace::Project {
            id: project_id,
            name: format!("Fan-out project {p}"),
            description: "Seeded for the batching test".into(),
            client_id,
            organization_id: None,
            project_type: marketplace::ProjectType::Web,
            url: "https://fan.example".into(),
            environment: marketplace::ProjectEnvironment::Staging,
            credentials: None,
            target_devices: Vec::new(),
            target_browsers: Vec::new(),
            target_os: Vec::new(),
            status: marketplace::ProjectStatus::Active,
            created_at: now,
            updated_at: now,
            archived_at: None,
        });
        for j in 0..fan {
            let job_id = ObjectId::new();
            let seats: Vec<marketplace::Assignment> = testers[..fan]
                .iter()
                .map(|tester| marketplace::Assignment {
                    tester_id: *tester,
                    assigned_at: now,
                    status: marketplace::AssignmentStatus::Submitted,
                    claimed_with: None,
                })
                .collect();
            jobs.push(marketplace::Job {
                id: job_id,
                project_id,
                client_id,
                organization_id: None,
                title: format!("Fan-out job {p}.{j}"),
                description: String::new(),
                test_type: marketplace::TestType::Exploratory,
                user_journey: marketplace::UserJourney {
                    scenario: "Explore".into(),
                    steps: vec![marketplace::JourneyStep {
                        step_number: 1,
                        action: "Look around".into(),
                        expected_result: "Nothing breaks".into(),
                    }],
                    ai_generated: false,
                    ai_template_id: None,
                },
                required_devices: Vec::new(),
                required_browsers: Vec::new(),
                required_os: Vec::new(),
                tester_level: marketplace::TesterLevel::Any,
                max_testers: fan as i32,
                assigned_testers: seats,
                withdrawn_testers: Vec::new(),
                budget_per_tester_cents: 1_000,
                total_budget_cents: 1_000 * fan as i64,
                deadline: DateTime::from_millis(now.timestamp_millis() + 86_400_000),
                estimated_duration_minutes: None,
                status: marketplace::JobStatus::InProgress,
                visibility: marketplace::Visibility::Public,
                invited_tester_ids: Vec::new(),
                escrow_status: None,
                budget_reserved: false,
                escrow_transaction_id: None,
                submission_count: fan as i32,
                approved_submission_count: 0,
                bugs_found: 0,
                created_at: now,
                updated_at: now,
                published_at: Some(now),
                completed_at: None,
                cancelled_at: None,
            });
            for tester in &testers[..fan] {
                submissions.push(marketplace::Submission {
                    id: ObjectId::new(),
                    job_id,
                    tester_id: *tester,
                    summary: "All good".into(),
                    ai_enhanced_summary: None,
                    test_results: Vec::new(),
                    bugs: Vec::new(),
                    environment: marketplace::TestEnvironment::default(),
                    time_spent_minutes: 10,
                    status: marketplace::SubmissionStatus::Submitted,
                    client_feedback: None,
                    revision_notes: None,
                    created_at: now,
                    submitted_at: Some(now),
                    reviewed_at: None,
                    updated_at: now,
                    payout_amount_cents: None,
                    payout_status: None,
                    payout_date: None,
                });
            }
        }
    }
    database
        .collection::<marketplace::Project>("projects")
        .insert_many(projects)
        .await
        .expect("projects written");
    database
        .collection::<marketplace::Job>("jobs")
        .insert_many(jobs)
        .await
        .expect("jobs written");
    database
        .collection::<marketplace::Submission>("submissions")
        .insert_many(submissions)
        .await
        .expect("submissions written");
}
