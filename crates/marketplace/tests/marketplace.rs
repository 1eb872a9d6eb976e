//! Integration tests of the marketplace service against the embedded MongoDB-compatible store,
//! through the official driver. Each test starts its own server and uses a manual clock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use embedded_mongo::{EmbeddedMongo, ServerConfig};
use foundation::ManualClock;
use marketplace::{
    Actor, ActorRole, Bug, ErrorCategory, ExperienceLevel, Job, JobAction, JobStatus, JourneyStep,
    JourneyTemplate, MarketplaceError, MarketplaceService, MarketplaceSettings, NewJob, NewProject,
    NewTemplate, OrgRole, OrganizationLimits, ProjectCredentials, ProjectStatus, ProjectUpdate,
    ReviewDecision, Severity, StepOutcome, StepResult, SubmissionContent, SubmissionPayout,
    SubmissionPayoutStatus, SubmissionStatus, TemplateStep, TemplateVariable, TestEnvironment,
    TestType, TesterLevel, TesterProfile, Visibility,
};
use mongodb::{Client, Database};

// More tests of this one binary, grouped by topic under `tests/marketplace/`.
#[path = "marketplace/enhancement.rs"]
mod enhancement;
#[path = "marketplace/limits.rs"]
mod limits;

/// An established, verified account: no money rule but the caps applies.
const PAYER: marketplace::PayerStanding = marketplace::PayerStanding {
    caller_verified: true,
    account_created_at: bson::DateTime::from_millis(0),
};
/// Publishing without escrow (`NoFunding`) charges nobody, so no payment method is needed.
const SOURCE: Option<&marketplace::PaymentSource> = None;
const LIMITS: OrganizationLimits = OrganizationLimits {
    max_projects: 10,
    max_concurrent_jobs: 10,
};

struct Fixture {
    _server: EmbeddedMongo,
    database: Database,
    clock: Arc<ManualClock>,
    service: MarketplaceService,
}

async fn fixture() -> Fixture {
    let server = EmbeddedMongo::start(ServerConfig::default())
        .await
        .expect("embedded server starts");
    let client = Client::with_uri_str(server.uri())
        .await
        .expect("driver connects");
    let database = client.database("marketplace_tests");
    let clock = Arc::new(ManualClock::new(DateTime::from_millis(1_700_000_000_000)));
    let service = MarketplaceService::new(
        database.clone(),
        MarketplaceSettings::new([7; 32]),
        clock.clone(),
    );
    service
        .ensure_collections(&database)
        .await
        .expect("collections are created");
    Fixture {
        _server: server,
        database,
        clock,
        service,
    }
}

fn client() -> Actor {
    Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Client,
        organization: None,
        organization_rules: Default::default(),
    }
}

fn tester() -> (Actor, TesterProfile) {
    let id = ObjectId::new();
    (
        Actor {
            user_id: id,
            role: ActorRole::Tester,
            organization: None,
            organization_rules: Default::default(),
        },
        TesterProfile {
            tester_id: id,
            experience_level: ExperienceLevel::Intermediate,
            qualified: true,
            qualification_expires_at: None,
            devices: vec!["iPhone".into()],
            browsers: vec!["Safari".into()],
            os: vec!["iOS 17".into()],
        },
    )
}

fn new_job(fixture: &Fixture, project_id: ObjectId, max_testers: i32) -> NewJob {
    NewJob {
        project_id,
        title: "Checkout on mobile".into(),
        description: "Buy something".into(),
        test_type: TestType::UserJourney,
        scenario: "A shopper buys a kettle".into(),
        steps: vec![
            ("Open the shop".into(), "The home page shows".into()),
            ("Add a kettle".into(), "The cart holds one kettle".into()),
            ("Pay".into(), "An order number shows".into()),
        ],
        required_devices: vec!["iPhone".into(), "Android Phone".into()],
        required_browsers: vec!["Safari".into()],
        required_os: vec![],
        tester_level: TesterLevel::Intermediate,
        max_testers,
        budget_per_tester_cents: 2_500,
        deadline: DateTime::from_millis(fixture.clock_now_millis() + 86_400_000),
        estimated_duration_minutes: Some(30),
        visibility: Visibility::Public,
        invited_tester_ids: vec![],
    }
}

impl Fixture {
    fn clock_now_millis(&self) -> i64 {
        foundation::Clock::now(self.clock.as_ref()).timestamp_millis()
    }

    async fn raw_job(&self, id: ObjectId) -> Document {
        self.database
            .collection::<Document>("jobs")
            .find_one(doc! { "_id": id })
            .await
            .unwrap()
            .expect("job stored")
    }

    async fn raw_submission(&self, id: ObjectId) -> Document {
        self.database
            .collection::<Document>("submissions")
            .find_one(doc! { "_id": id })
            .await
            .unwrap()
            .expect("submission stored")
    }

    async fn new_job(&self, owner: &Actor, max_testers: i32) -> NewJob {
        let project = self
            .service
            .create_project(owner, new_project(false), LIMITS)
            .await
            .expect("project created");
        new_job(self, project.id, max_testers)
    }

    async fn open_job(&self, owner: &Actor, max_testers: i32) -> Job {
        let job = self
            .service
            .create_job(owner, self.new_job(owner, max_testers).await)
            .await
            .expect("draft created");
        self.service
            .publish_job(owner, job.id, LIMITS, PAYER, SOURCE)
            .await
            .expect("published")
            .job
    }

    /// Asserts the job's counters equal what its submissions say.
    async fn assert_counters_match(&self, job_id: ObjectId) -> (i32, i32, i32) {
        let job = self.service.job(job_id).await.unwrap();
        let submissions: Vec<Document> = {
            use futures_util::TryStreamExt;
            self.database
                .collection::<Document>("submissions")
                .find(doc! { "job_id": job_id, "status": { "$ne": "draft" } })
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap()
        };
        let approved = submissions
            .iter()
            .filter(|s| s.get_str("status").unwrap() == "approved")
            .count() as i32;
        let bugs: i32 = submissions
            .iter()
            .map(|s| s.get_array("bugs").unwrap().len() as i32)
            .sum();
        assert_eq!(job.submission_count, submissions.len() as i32);
        assert_eq!(job.approved_submission_count, approved);
        assert_eq!(job.bugs_found, bugs);
        (
            job.submission_count,
            job.approved_submission_count,
            job.bugs_found,
        )
    }
}

fn conflict(error: &MarketplaceError) -> bool {
    error.category() == ErrorCategory::Conflict
}

#[tokio::test]
async fn a_draft_job_stores_numbered_steps_and_budget_in_cents() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 3).await)
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Draft);
    assert_eq!(
        job.user_journey.steps[1],
        JourneyStep {
            step_number: 2,
            action: "Add a kettle".into(),
            expected_result: "The cart holds one kettle".into(),
        }
    );
    let raw = fixture.raw_job(job.id).await;
    assert_eq!(raw.get_i64("budget_per_tester_usd").unwrap(), 2_500);
    assert_eq!(raw.get_i64("total_budget_usd").unwrap(), 7_500);
    assert_eq!(raw.get_str("status").unwrap(), "draft");
}

#[tokio::test]
async fn publishing_without_escrow_opens_the_job_unfunded_and_says_so() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 3).await)
        .await
        .unwrap();
    let published = fixture
        .service
        .publish_job(&owner, job.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap();
    assert_eq!(published.job.status, JobStatus::Open);
    assert_eq!(
        published.job.escrow_status,
        Some(marketplace::JobEscrowStatus::Pending)
    );
    assert_eq!(published.job.escrow_transaction_id, None);
    assert!(published.funding.note.contains("without funding"));
    assert!(published.job.published_at.is_some());
}

#[tokio::test]
async fn publishing_twice_or_editing_a_published_journey_is_a_conflict_that_changes_nothing() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 3).await;
    let before = fixture.raw_job(job.id).await;
    let error = fixture
        .service
        .publish_job(&owner, job.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        MarketplaceError::InvalidJobTransition { from: "open", .. }
    ));
    let error = fixture
        .service
        .update_job_journey(&owner, job.id, "new".into(), vec![("a".into(), "b".into())])
        .await
        .unwrap_err();
    assert!(matches!(error, MarketplaceError::JourneyLocked));
    assert!(conflict(&error));
    assert_eq!(fixture.raw_job(job.id).await, before);
}

#[tokio::test]
async fn a_draft_journey_can_be_edited_and_renumbered() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 1).await)
        .await
        .unwrap();
    let edited = fixture
        .service
        .update_job_journey(
            &owner,
            job.id,
            "Return flow".into(),
            vec![("Open orders".into(), "Orders list".into())],
        )
        .await
        .unwrap();
    assert_eq!(edited.user_journey.scenario, "Return flow");
    assert_eq!(edited.user_journey.steps.len(), 1);
    assert_eq!(edited.user_journey.steps[0].step_number, 1);
}

#[tokio::test]
async fn the_job_lifecycle_runs_to_completion_and_cancel_is_refused_after_review() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 1).await;
    for (action, status) in [
        (JobAction::StartTesting, JobStatus::InProgress),
        (JobAction::BeginReview, JobStatus::Review),
    ] {
        let moved = fixture
            .service
            .transition_job(&owner, job.id, action)
            .await
            .unwrap();
        assert_eq!(moved.status, status);
    }
    let before = fixture.raw_job(job.id).await;
    let error = fixture
        .service
        .transition_job(&owner, job.id, JobAction::Cancel)
        .await
        .unwrap_err();
    assert!(conflict(&error));
    assert_eq!(fixture.raw_job(job.id).await, before);
    let done = fixture
        .service
        .transition_job(&owner, job.id, JobAction::Complete)
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert!(done.completed_at.is_some());
}

#[tokio::test]
async fn another_client_may_not_publish_someone_elses_job() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 1).await)
        .await
        .unwrap();
    let error = fixture
        .service
        .publish_job(&client(), job.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Forbidden);
    assert_eq!(
        fixture.service.job(job.id).await.unwrap().status,
        JobStatus::Draft
    );
}

#[tokio::test]
async fn publishing_beyond_the_concurrent_job_limit_is_refused() {
    let fixture = fixture().await;
    let owner = client();
    let limits = OrganizationLimits {
        max_projects: 1,
        max_concurrent_jobs: 1,
    };
    let first = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 1).await)
        .await
        .unwrap();
    fixture
        .service
        .publish_job(&owner, first.id, limits, PAYER, SOURCE)
        .await
        .unwrap();
    let second = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 1).await)
        .await
        .unwrap();
    let error = fixture
        .service
        .publish_job(&owner, second.id, limits, PAYER, SOURCE)
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        MarketplaceError::ConcurrentJobLimitReached { limit: 1 }
    ));
    assert_eq!(
        fixture.service.job(second.id).await.unwrap().status,
        JobStatus::Draft
    );
}

#[tokio::test]
async fn fifty_concurrent_claims_on_a_three_seat_job_seat_exactly_three_testers() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 3).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let service = fixture.service.clone();
        let (actor, profile) = tester();
        tasks.push(tokio::spawn(async move {
            service.claim_job(&actor, &profile, job.id).await
        }));
    }
    let mut won = 0;
    let mut seats_full = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            Err(error) => {
                assert!(matches!(error, MarketplaceError::SeatsFull), "{error:?}");
                assert_eq!(error.category(), ErrorCategory::Conflict);
                seats_full += 1;
            }
        }
    }
    assert_eq!(won, 3);
    assert_eq!(seats_full, 47);
    let stored = fixture.raw_job(job.id).await;
    assert_eq!(stored.get_array("assigned_testers").unwrap().len(), 3);
}

#[tokio::test]
async fn claims_distinguish_closed_already_claimed_and_unqualified() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 2).await;
    let (actor, profile) = tester();
    fixture
        .service
        .claim_job(&actor, &profile, job.id)
        .await
        .unwrap();
    let before = fixture.raw_job(job.id).await;
    let again = fixture
        .service
        .claim_job(&actor, &profile, job.id)
        .await
        .unwrap_err();
    assert!(matches!(again, MarketplaceError::AlreadyClaimed));
    assert!(conflict(&again));

    let (beginner_actor, mut beginner) = tester();
    beginner.experience_level = ExperienceLevel::Beginner;
    let unqualified = fixture
        .service
        .claim_job(&beginner_actor, &beginner, job.id)
        .await
        .unwrap_err();
    assert!(matches!(unqualified, MarketplaceError::NotQualified));

    let (desktop_actor, mut desktop) = tester();
    desktop.devices = vec!["Desktop".into()];
    desktop.browsers = vec!["Edge".into()];
    desktop.os = vec!["Windows 11".into()];
    let no_equipment = fixture
        .service
        .claim_job(&desktop_actor, &desktop, job.id)
        .await
        .unwrap_err();
    assert!(matches!(no_equipment, MarketplaceError::NotQualified));

    let (pending_actor, mut pending) = tester();
    pending.qualified = false;
    let not_yet = fixture
        .service
        .claim_job(&pending_actor, &pending, job.id)
        .await
        .unwrap_err();
    assert!(matches!(not_yet, MarketplaceError::NotQualified));
    assert_eq!(fixture.raw_job(job.id).await, before);

    fixture
        .service
        .transition_job(&owner, job.id, JobAction::StartTesting)
        .await
        .unwrap();
    let before = fixture.raw_job(job.id).await;
    let (late_actor, late) = tester();
    let closed = fixture
        .service
        .claim_job(&late_actor, &late, job.id)
        .await
        .unwrap_err();
    assert!(matches!(closed, MarketplaceError::JobNotOpen));
    assert_eq!(fixture.raw_job(job.id).await, before);
}

#[tokio::test]
async fn invited_only_jobs_seat_only_invited_testers() {
    let fixture = fixture().await;
    let owner = client();
    let (invited_actor, invited) = tester();
    let (stranger_actor, stranger) = tester();
    let mut input = fixture.new_job(&owner, 2).await;
    input.visibility = Visibility::InvitedOnly;
    input.invited_tester_ids = vec![invited.tester_id];
    let job = fixture.service.create_job(&owner, input).await.unwrap();
    fixture
        .service
        .publish_job(&owner, job.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap();
    let error = fixture
        .service
        .claim_job(&stranger_actor, &stranger, job.id)
        .await
        .unwrap_err();
    assert!(matches!(error, MarketplaceError::NotQualified));
    let seated = fixture
        .service
        .claim_job(&invited_actor, &invited, job.id)
        .await
        .unwrap();
    assert_eq!(seated.assigned_testers[0].tester_id, invited.tester_id);
}

#[tokio::test]
async fn withdrawing_frees_the_seat_for_another_tester() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 1).await;
    let (first_actor, first) = tester();
    let (second_actor, second) = tester();
    fixture
        .service
        .claim_job(&first_actor, &first, job.id)
        .await
        .unwrap();
    let full = fixture
        .service
        .claim_job(&second_actor, &second, job.id)
        .await
        .unwrap_err();
    assert!(matches!(full, MarketplaceError::SeatsFull));
    let freed = fixture
        .service
        .withdraw_from_job(&first_actor, job.id)
        .await
        .unwrap();
    assert!(freed.assigned_testers.is_empty());
    let seated = fixture
        .service
        .claim_job(&second_actor, &second, job.id)
        .await
        .unwrap();
    assert_eq!(seated.assigned_testers.len(), 1);
    assert_eq!(seated.assigned_testers[0].tester_id, second.tester_id);
}

fn content(bugs: usize) -> SubmissionContent {
    SubmissionContent {
        summary: "Checkout mostly works".into(),
        test_results: vec![
            StepResult {
                step_number: 1,
                status: StepOutcome::Passed,
                notes: "fine".into(),
                screenshots: vec![],
                timestamp: None,
            },
            StepResult {
                step_number: 3,
                status: StepOutcome::Failed,
                notes: "payment spinner hangs".into(),
                screenshots: vec!["https://cdn.test/pay.png".into()],
                timestamp: None,
            },
        ],
        bugs: (0..bugs)
            .map(|n| Bug {
                title: format!("Bug {n}"),
                severity: Severity::High,
                description: "Spinner never stops".into(),
                steps_to_reproduce: vec!["Pay".into()],
                expected_behavior: "Order number".into(),
                actual_behavior: "Spinner".into(),
                screenshots: vec![],
                video_url: Some("https://cdn.test/pay.mp4".into()),
                affected_devices: vec!["iPhone".into()],
                affected_browsers: vec!["Safari".into()],
            })
            .collect(),
        environment: TestEnvironment {
            device_used: "iPhone".into(),
            browser_used: "Safari".into(),
            browser_version: "17.2".into(),
            os_used: "iOS".into(),
            os_version: "17.2".into(),
            screen_resolution: "1179x2556".into(),
        },
        time_spent_minutes: 42,
    }
}

#[tokio::test]
async fn submission_review_with_revision_keeps_counters_equal_to_submissions() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 2).await;
    let (actor, profile) = tester();
    fixture
        .service
        .claim_job(&actor, &profile, job.id)
        .await
        .unwrap();

    let draft = fixture
        .service
        .create_submission(&actor, job.id)
        .await
        .unwrap();
    assert_eq!(draft.status, SubmissionStatus::Draft);
    let seat = fixture.service.job(job.id).await.unwrap().assigned_testers[0].status;
    assert_eq!(seat, marketplace::AssignmentStatus::InProgress);
    let saved = fixture
        .service
        .save_submission(&actor, draft.id, content(2))
        .await
        .unwrap();
    assert_eq!(saved.environment.browser_version, "17.2");
    assert_eq!(fixture.assert_counters_match(job.id).await, (0, 0, 0));

    let submitted = fixture
        .service
        .submit_submission(&actor, draft.id)
        .await
        .unwrap();
    assert_eq!(submitted.status, SubmissionStatus::Submitted);
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 0, 2));

    // Submitting twice is a conflict that changes nothing.
    let before = (
        fixture.raw_job(job.id).await,
        fixture.raw_submission(draft.id).await,
    );
    let twice = fixture
        .service
        .submit_submission(&actor, draft.id)
        .await
        .unwrap_err();
    assert!(conflict(&twice), "{twice:?}");
    assert_eq!(
        (
            fixture.raw_job(job.id).await,
            fixture.raw_submission(draft.id).await
        ),
        before
    );

    let sent_back = fixture
        .service
        .review_submission(
            &owner,
            draft.id,
            ReviewDecision::RequestRevision {
                notes: "Add the console log".into(),
            },
            PAYER,
        )
        .await
        .unwrap();
    assert_eq!(sent_back.status, SubmissionStatus::RevisionRequested);
    assert_eq!(
        sent_back.revision_notes.as_deref(),
        Some("Add the console log")
    );
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 0, 2));

    fixture
        .service
        .save_submission(&actor, draft.id, content(3))
        .await
        .unwrap();
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 0, 3));
    fixture
        .service
        .submit_submission(&actor, draft.id)
        .await
        .unwrap();
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 0, 3));

    let approved = fixture
        .service
        .review_submission(&owner, draft.id, ReviewDecision::Approve, PAYER)
        .await
        .unwrap();
    assert_eq!(approved.status, SubmissionStatus::Approved);
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 1, 3));
    let seat = fixture.service.job(job.id).await.unwrap().assigned_testers[0].status;
    assert_eq!(seat, marketplace::AssignmentStatus::Completed);
}

#[tokio::test]
async fn approving_a_draft_or_reporting_an_unknown_step_changes_nothing() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 1).await;
    let (actor, profile) = tester();
    fixture
        .service
        .claim_job(&actor, &profile, job.id)
        .await
        .unwrap();
    let draft = fixture
        .service
        .create_submission(&actor, job.id)
        .await
        .unwrap();
    let before = (
        fixture.raw_job(job.id).await,
        fixture.raw_submission(draft.id).await,
    );

    let error = fixture
        .service
        .review_submission(&owner, draft.id, ReviewDecision::Approve, PAYER)
        .await
        .unwrap_err();
    // A draft is the tester's alone: the client does not even find it.
    assert!(matches!(error, MarketplaceError::SubmissionNotFound));

    let mut bad = content(0);
    bad.test_results[0].step_number = 9;
    let error = fixture
        .service
        .save_submission(&actor, draft.id, bad)
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::BadUserInput);

    let duplicate = fixture
        .service
        .create_submission(&actor, job.id)
        .await
        .unwrap_err();
    assert!(matches!(duplicate, MarketplaceError::SubmissionExists));
    assert_eq!(
        (
            fixture.raw_job(job.id).await,
            fixture.raw_submission(draft.id).await
        ),
        before
    );
}

#[tokio::test]
async fn a_rejected_submission_keeps_feedback_and_counts_as_submitted_not_approved() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 1).await;
    let (actor, profile) = tester();
    fixture
        .service
        .claim_job(&actor, &profile, job.id)
        .await
        .unwrap();
    let draft = fixture
        .service
        .create_submission(&actor, job.id)
        .await
        .unwrap();
    fixture
        .service
        .save_submission(&actor, draft.id, content(1))
        .await
        .unwrap();
    fixture
        .service
        .submit_submission(&actor, draft.id)
        .await
        .unwrap();
    let rejected = fixture
        .service
        .review_submission(
            &owner,
            draft.id,
            ReviewDecision::Reject {
                feedback: "Steps not followed".into(),
            },
            PAYER,
        )
        .await
        .unwrap();
    assert_eq!(
        rejected.client_feedback.as_deref(),
        Some("Steps not followed")
    );
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 0, 1));
    let tester_review = fixture
        .service
        .review_submission(&actor, draft.id, ReviewDecision::Approve, PAYER)
        .await
        .unwrap_err();
    assert_eq!(tester_review.category(), ErrorCategory::Forbidden);
}

fn checkout_template() -> NewTemplate {
    NewTemplate {
        name: "Checkout".into(),
        description: "Buy a product".into(),
        category: marketplace::TemplateCategory::ECommerce,
        template_type: marketplace::TemplateType::UserJourney,
        journey_template: JourneyTemplate {
            scenario: "Buy {{product}} on {{site}}".into(),
            variables: vec![
                TemplateVariable {
                    name: "product".into(),
                    description: "What to buy".into(),
                    example: "a kettle".into(),
                },
                TemplateVariable {
                    name: "site".into(),
                    description: "Where".into(),
                    example: "shop.test".into(),
                },
            ],
            steps: vec![
                TemplateStep {
                    step_number: 2,
                    action_template: "Pay for {{product}}".into(),
                    expected_result_template: "Order confirmed".into(),
                },
                TemplateStep {
                    step_number: 1,
                    action_template: "Open {{site}}".into(),
                    expected_result_template: "{{site}} loads".into(),
                },
            ],
        },
        openai_system_prompt: String::new(),
        enhancement_instructions: String::new(),
        is_premium: false,
    }
}

#[tokio::test]
async fn a_job_from_a_template_fills_variables_and_counts_the_use() {
    let fixture = fixture().await;
    let admin = Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Admin,
        organization: None,
        organization_rules: Default::default(),
    };
    let template = fixture
        .service
        .create_template(&admin, checkout_template())
        .await
        .unwrap();
    let owner = client();
    let values = HashMap::from([
        ("product".to_string(), "a kettle".to_string()),
        ("site".to_string(), "shop.test".to_string()),
    ]);
    let job = fixture
        .service
        .create_job_from_template(
            &owner,
            template.id,
            &values,
            false,
            fixture.new_job(&owner, 1).await,
        )
        .await
        .unwrap();
    assert_eq!(job.user_journey.scenario, "Buy a kettle on shop.test");
    assert_eq!(job.user_journey.steps[0].action, "Open shop.test");
    assert_eq!(job.user_journey.steps[0].expected_result, "shop.test loads");
    assert_eq!(job.user_journey.steps[1].action, "Pay for a kettle");
    assert_eq!(job.user_journey.ai_template_id, Some(template.id));
    assert_eq!(
        fixture
            .service
            .template(template.id)
            .await
            .unwrap()
            .usage_count,
        1
    );

    let missing = HashMap::from([("product".to_string(), "a kettle".to_string())]);
    let error = fixture
        .service
        .create_job_from_template(
            &owner,
            template.id,
            &missing,
            false,
            fixture.new_job(&owner, 1).await,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, MarketplaceError::MissingTemplateVariable { ref name } if name == "site")
    );
    assert_eq!(error.category(), ErrorCategory::BadUserInput);
    assert_eq!(
        fixture
            .service
            .template(template.id)
            .await
            .unwrap()
            .usage_count,
        1
    );
}

#[tokio::test]
async fn only_admins_create_templates() {
    let fixture = fixture().await;
    let error = fixture
        .service
        .create_template(&client(), checkout_template())
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Forbidden);
}

#[tokio::test]
async fn batch_loaders_group_jobs_by_project_with_a_per_parent_limit() {
    let fixture = fixture().await;
    let owner = client();
    let project = fixture
        .service
        .create_project(&owner, new_project(false), LIMITS)
        .await
        .unwrap()
        .id;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let mut input = fixture.new_job(&owner, 1).await;
        input.project_id = project;
        ids.push(fixture.service.create_job(&owner, input).await.unwrap().id);
        fixture.clock.advance(Duration::from_secs(1));
    }
    let other = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 1).await)
        .await
        .unwrap();
    let by_id = fixture
        .service
        .jobs_by_ids(&[ids[0], other.id, ObjectId::new()])
        .await
        .unwrap();
    assert_eq!(by_id.len(), 2);
    let grouped = fixture
        .service
        .jobs_by_project_ids(&[project, other.project_id], 2)
        .await
        .unwrap();
    let newest: Vec<ObjectId> = grouped[&project].iter().map(|job| job.id).collect();
    assert_eq!(newest, vec![ids[2], ids[1]]);
    assert_eq!(grouped[&other.project_id].len(), 1);
}

#[tokio::test]
async fn collections_carry_the_seed_indexes_including_project_text_search() {
    let fixture = fixture().await;
    let names: Vec<String> = fixture
        .database
        .collection::<Document>("projects")
        .list_index_names()
        .await
        .unwrap();
    assert!(names.iter().any(|name| name.contains("text")), "{names:?}");
    let submissions = fixture
        .database
        .collection::<Document>("submissions")
        .list_index_names()
        .await
        .unwrap();
    assert!(
        submissions.contains(&"job_id_1_tester_id_1".to_string()),
        "{submissions:?}"
    );
}

fn new_project(with_credentials: bool) -> NewProject {
    NewProject {
        name: "Shop".into(),
        description: "Main web shop".into(),
        project_type: marketplace::ProjectType::Web,
        url: "https://shop.test".into(),
        environment: marketplace::ProjectEnvironment::Staging,
        credentials: with_credentials.then(|| ProjectCredentials {
            username: "qa@shop.test".into(),
            password: "hunter2".into(),
            additional_info: "promo TEST".into(),
        }),
        target_devices: vec!["iPhone".into()],
        target_browsers: vec!["Safari".into()],
        target_os: vec!["iOS 17".into()],
    }
}

#[tokio::test]
async fn project_credentials_are_sealed_at_rest_and_readable_only_by_the_allowed() {
    let fixture = fixture().await;
    let organization = ObjectId::new();
    let owner = Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Client,
        organization: Some((organization, OrgRole::Member)),
        organization_rules: Default::default(),
    };
    let project = fixture
        .service
        .create_project(&owner, new_project(true), LIMITS)
        .await
        .unwrap();
    let raw = fixture
        .database
        .collection::<Document>("projects")
        .find_one(doc! { "_id": project.id })
        .await
        .unwrap()
        .unwrap();
    let stored_password = raw
        .get_document("credentials")
        .unwrap()
        .get_str("password")
        .unwrap();
    assert!(!stored_password.contains("hunter2"));

    let mut input = fixture.new_job(&owner, 2).await;
    input.project_id = project.id;
    let job = fixture.service.create_job(&owner, input).await.unwrap();
    fixture
        .service
        .publish_job(&owner, job.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap();
    let (seated, seated_profile) = tester();
    fixture
        .service
        .claim_job(&seated, &seated_profile, job.id)
        .await
        .unwrap();
    // Credentials are released once testing has started, not on a claim.
    let claimed_only = fixture
        .service
        .project_credentials(&seated, project.id)
        .await
        .unwrap_err();
    assert_eq!(claimed_only.category(), ErrorCategory::Forbidden);
    fixture
        .service
        .start_assignment(&seated, job.id)
        .await
        .unwrap();
    let (unseated, _) = tester();
    let org_admin = Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Client,
        organization: Some((organization, OrgRole::Admin)),
        organization_rules: Default::default(),
    };
    let org_member = Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Client,
        organization: Some((organization, OrgRole::Member)),
        organization_rules: Default::default(),
    };
    let cases = [
        ("owner", &owner, true),
        ("org admin", &org_admin, true),
        ("seated tester", &seated, true),
        ("other org member", &org_member, false),
        ("unseated tester", &unseated, false),
        ("stranger client", &client(), false),
    ];
    for (who, actor, allowed) in cases {
        let result = fixture.service.project_credentials(actor, project.id).await;
        if allowed {
            let credentials = result.unwrap().expect("credentials set");
            assert_eq!(credentials.password, "hunter2", "{who}");
        } else {
            let error = result.unwrap_err();
            assert_eq!(error.category(), ErrorCategory::Forbidden, "{who}");
        }
    }
    fixture
        .service
        .withdraw_from_job(&seated, job.id)
        .await
        .unwrap();
    let error = fixture
        .service
        .project_credentials(&seated, project.id)
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Forbidden);
}

#[tokio::test]
async fn the_project_limit_counts_the_organizations_active_projects() {
    let fixture = fixture().await;
    let organization = ObjectId::new();
    let member = |role| Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Client,
        organization: Some((organization, role)),
        organization_rules: Default::default(),
    };
    let limits = OrganizationLimits {
        max_projects: 1,
        max_concurrent_jobs: 1,
    };
    let first = fixture
        .service
        .create_project(&member(OrgRole::Member), new_project(false), limits)
        .await
        .unwrap();
    let error = fixture
        .service
        .create_project(&member(OrgRole::Owner), new_project(false), limits)
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        MarketplaceError::ProjectLimitReached { limit: 1 }
    ));
    assert!(conflict(&error));

    let refused = fixture
        .service
        .archive_project(&member(OrgRole::Member), first.id)
        .await
        .unwrap_err();
    assert_eq!(refused.category(), ErrorCategory::Forbidden);
    let archived = fixture
        .service
        .archive_project(&member(OrgRole::Admin), first.id)
        .await
        .unwrap();
    assert_eq!(archived.status, ProjectStatus::Archived);
    let renamed = fixture
        .service
        .update_project(
            &member(OrgRole::Member),
            first.id,
            ProjectUpdate {
                name: Some("Renamed".into()),
                ..ProjectUpdate::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(renamed, MarketplaceError::ProjectArchived));
    fixture
        .service
        .create_project(&member(OrgRole::Owner), new_project(false), limits)
        .await
        .expect("an archived project frees its slot");
}

#[tokio::test]
async fn a_member_updates_a_project_and_outsiders_may_not() {
    let fixture = fixture().await;
    let owner = client();
    let project = fixture
        .service
        .create_project(&owner, new_project(false), LIMITS)
        .await
        .unwrap();
    let update = ProjectUpdate {
        target_browsers: Some(vec!["Firefox".into()]),
        ..ProjectUpdate::default()
    };
    let updated = fixture
        .service
        .update_project(&owner, project.id, update.clone())
        .await
        .unwrap();
    assert_eq!(updated.target_browsers, vec!["Firefox".to_string()]);
    let error = fixture
        .service
        .update_project(&client(), project.id, update)
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Forbidden);
    let loaded = fixture
        .service
        .projects_by_ids(&[project.id])
        .await
        .unwrap();
    assert_eq!(loaded[&project.id].name, "Shop");
}

#[tokio::test]
async fn jobs_are_created_only_in_managed_live_projects() {
    let fixture = fixture().await;
    let owner = client();
    let input = fixture.new_job(&owner, 1).await;
    let project_id = input.project_id;
    let error = fixture
        .service
        .create_job(&client(), input.clone())
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::Forbidden);
    fixture
        .service
        .archive_project(&owner, project_id)
        .await
        .unwrap();
    let error = fixture
        .service
        .create_job(&owner, input.clone())
        .await
        .unwrap_err();
    assert!(matches!(error, MarketplaceError::ProjectArchived));
    let mut unknown = input;
    unknown.project_id = ObjectId::new();
    let error = fixture
        .service
        .create_job(&owner, unknown)
        .await
        .unwrap_err();
    assert_eq!(error.category(), ErrorCategory::NotFound);
}

#[tokio::test]
async fn available_jobs_list_open_qualifying_public_and_invited_jobs_page_by_page() {
    let fixture = fixture().await;
    let owner = client();
    let (seeker_actor, seeker) = tester();
    let mut public = Vec::new();
    for _ in 0..3 {
        public.push(fixture.open_job(&owner, 2).await.id);
        fixture.clock.advance(Duration::from_secs(1));
    }
    let mut invited = fixture.new_job(&owner, 2).await;
    invited.visibility = Visibility::InvitedOnly;
    invited.invited_tester_ids = vec![seeker.tester_id];
    let invited = fixture.service.create_job(&owner, invited).await.unwrap();
    fixture
        .service
        .publish_job(&owner, invited.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap();
    let mut private = fixture.new_job(&owner, 2).await;
    private.visibility = Visibility::Private;
    private.invited_tester_ids = vec![seeker.tester_id];
    let private = fixture.service.create_job(&owner, private).await.unwrap();
    fixture
        .service
        .publish_job(&owner, private.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap();
    let mut expert = fixture.new_job(&owner, 2).await;
    expert.tester_level = TesterLevel::Expert;
    let expert = fixture.service.create_job(&owner, expert).await.unwrap();
    fixture
        .service
        .publish_job(&owner, expert.id, LIMITS, PAYER, SOURCE)
        .await
        .unwrap();
    let _draft = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 2).await)
        .await
        .unwrap();
    fixture
        .service
        .claim_job(&seeker_actor, &seeker, public[0])
        .await
        .unwrap();

    let filter = marketplace::AvailableJobsFilter::default();
    let first_page = fixture
        .service
        .available_jobs(&seeker, &filter, &foundation::PageRequest::first(2))
        .await
        .unwrap();
    assert!(first_page.has_next_page);
    assert_eq!(first_page.total_count, 3);
    assert_eq!(first_page.start, 0);
    // The cursor names the last job seen (position 1).
    let after = foundation::Cursor::from_offset(1).encode();
    let second_page = fixture
        .service
        .available_jobs(
            &seeker,
            &filter,
            &foundation::PageRequest {
                first: Some(2),
                after: Some(after),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!second_page.has_next_page);
    assert_eq!(second_page.start, 2);
    let listed: Vec<ObjectId> = first_page
        .jobs
        .iter()
        .chain(second_page.jobs.iter())
        .map(|job| job.id)
        .collect();
    assert_eq!(listed, vec![invited.id, public[2], public[1]]);
}

#[tokio::test]
async fn racing_reviews_of_one_submission_let_exactly_one_decision_win() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 1).await;
    let (actor, profile) = tester();
    fixture
        .service
        .claim_job(&actor, &profile, job.id)
        .await
        .unwrap();
    let draft = fixture
        .service
        .create_submission(&actor, job.id)
        .await
        .unwrap();
    fixture
        .service
        .save_submission(&actor, draft.id, content(2))
        .await
        .unwrap();
    fixture
        .service
        .submit_submission(&actor, draft.id)
        .await
        .unwrap();
    let decisions = [
        ReviewDecision::Approve,
        ReviewDecision::RequestRevision {
            notes: "more".into(),
        },
        ReviewDecision::Reject {
            feedback: "no".into(),
        },
        ReviewDecision::Approve,
    ];
    let mut tasks = Vec::new();
    for decision in decisions {
        let service = fixture.service.clone();
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            service
                .review_submission(&owner, draft.id, decision, PAYER)
                .await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(error) => assert!(conflict(&error), "{error:?}"),
        }
    }
    assert_eq!(winners, 1);
    let (submitted, approved, bugs) = fixture.assert_counters_match(job.id).await;
    assert_eq!((submitted, bugs), (1, 2));
    assert!(approved <= 1);
}

#[tokio::test]
async fn racing_publish_and_cancel_let_exactly_one_win() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture
        .service
        .create_job(&owner, fixture.new_job(&owner, 1).await)
        .await
        .unwrap();
    let publish = {
        let service = fixture.service.clone();
        let owner = owner.clone();
        tokio::spawn(async move {
            service
                .publish_job(&owner, job.id, LIMITS, PAYER, SOURCE)
                .await
                .map(|p| p.job)
        })
    };
    let cancel = {
        let service = fixture.service.clone();
        let owner = owner.clone();
        tokio::spawn(async move {
            service
                .transition_job(&owner, job.id, JobAction::Cancel)
                .await
        })
    };
    let outcomes = [publish.await.unwrap(), cancel.await.unwrap()];
    let final_status = fixture.service.job(job.id).await.unwrap().status;
    match final_status {
        JobStatus::Cancelled => {
            // Cancel may win outright, or after the publish: both orders are legal.
            assert!(outcomes[1].is_ok());
        }
        JobStatus::Open => {
            assert!(outcomes[0].is_ok());
            assert!(conflict(outcomes[1].as_ref().unwrap_err()));
        }
        other => panic!("unexpected status {other:?}"),
    }
}

#[tokio::test]
async fn project_search_finds_only_the_callers_matching_projects() {
    let fixture = fixture().await;
    let owner = client();
    let mut mobile = new_project(false);
    mobile.name = "Mobile banking app".into();
    mobile.description = "Transfers and statements".into();
    let mobile = fixture
        .service
        .create_project(&owner, mobile, LIMITS)
        .await
        .unwrap();
    fixture
        .service
        .create_project(&owner, new_project(false), LIMITS)
        .await
        .unwrap();
    let mut foreign = new_project(false);
    foreign.name = "Banking portal".into();
    fixture
        .service
        .create_project(&client(), foreign, LIMITS)
        .await
        .unwrap();
    let found = fixture
        .service
        .search_projects(&owner, "banking", 10)
        .await
        .unwrap();
    let ids: Vec<ObjectId> = found.iter().map(|project| project.id).collect();
    assert_eq!(ids, vec![mobile.id]);
}

#[tokio::test]
async fn jobs_by_tester_ids_groups_seats_per_tester() {
    let fixture = fixture().await;
    let owner = client();
    let first = fixture.open_job(&owner, 2).await;
    let second = fixture.open_job(&owner, 2).await;
    let (actor, profile) = tester();
    let (other_actor, other) = tester();
    fixture
        .service
        .claim_job(&actor, &profile, first.id)
        .await
        .unwrap();
    fixture
        .service
        .claim_job(&actor, &profile, second.id)
        .await
        .unwrap();
    fixture
        .service
        .claim_job(&other_actor, &other, second.id)
        .await
        .unwrap();
    let grouped = fixture
        .service
        .jobs_by_tester_ids(&[profile.tester_id, other.tester_id], 10)
        .await
        .unwrap();
    assert_eq!(grouped[&profile.tester_id].len(), 2);
    assert_eq!(grouped[&other.tester_id].len(), 1);
    assert_eq!(grouped[&other.tester_id][0].id, second.id);
}

#[tokio::test]
async fn a_withdrawn_template_cannot_seed_jobs() {
    let fixture = fixture().await;
    let admin = Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Admin,
        organization: None,
        organization_rules: Default::default(),
    };
    let template = fixture
        .service
        .create_template(&admin, checkout_template())
        .await
        .unwrap();
    let withdrawn = fixture
        .service
        .set_template_active(&admin, template.id, false)
        .await
        .unwrap();
    assert!(!withdrawn.is_active);
    let owner = client();
    let values = HashMap::from([
        ("product".to_string(), "a kettle".to_string()),
        ("site".to_string(), "shop.test".to_string()),
    ]);
    let input = fixture.new_job(&owner, 1).await;
    let error = fixture
        .service
        .create_job_from_template(&owner, template.id, &values, false, input)
        .await
        .unwrap_err();
    assert!(matches!(error, MarketplaceError::TemplateNotFound));
    let loaded = fixture
        .service
        .templates_by_ids(&[template.id])
        .await
        .unwrap();
    assert_eq!(loaded[&template.id].usage_count, 0);
}

impl Fixture {
    /// A tester seated on `job_id` with a submitted submission; returns the submission id.
    async fn submitted_by_new_tester(&self, job_id: ObjectId) -> ObjectId {
        let (actor, profile) = tester();
        self.service
            .claim_job(&actor, &profile, job_id)
            .await
            .unwrap();
        let draft = self
            .service
            .create_submission(&actor, job_id)
            .await
            .unwrap();
        self.service
            .submit_submission(&actor, draft.id)
            .await
            .unwrap();
        draft.id
    }
}

#[tokio::test]
async fn a_planned_review_lands_only_with_the_callers_transaction_and_writes_the_payout_it_is_given(
) {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 2).await;
    let submission = fixture.submitted_by_new_tester(job.id).await;
    let service = &fixture.service;
    let plan = service
        .plan_review(&owner, submission, ReviewDecision::Approve, PAYER)
        .await
        .unwrap();
    let payout = SubmissionPayout {
        amount_cents: 4_250,
        status: SubmissionPayoutStatus::Pending,
        paid_at: None,
    };
    // The caller's transaction aborts (its money step failed): nothing of the review stays.
    let mut session = fixture.database.client().start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    let reviewed = service
        .apply_review(&mut session, &plan, Some(payout))
        .await
        .unwrap();
    assert_eq!(reviewed.status, SubmissionStatus::Approved);
    session.abort_transaction().await.unwrap();
    let stored = fixture.raw_submission(submission).await;
    assert_eq!(stored.get_str("status").unwrap(), "submitted");
    assert!(stored.get("payout_status").is_none());
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 0, 0));

    // Committed, the submission, its payout fields, the seat and the counters change together.
    session.start_transaction().await.unwrap();
    service
        .apply_review(&mut session, &plan, Some(payout))
        .await
        .unwrap();
    session.commit_transaction().await.unwrap();
    let stored = fixture.raw_submission(submission).await;
    assert_eq!(stored.get_str("status").unwrap(), "approved");
    assert_eq!(stored.get_i64("payout_amount_usd").unwrap(), 4_250);
    assert_eq!(stored.get_str("payout_status").unwrap(), "pending");
    assert_eq!(fixture.assert_counters_match(job.id).await, (1, 1, 0));
    let seats = service.job(job.id).await.unwrap().assigned_testers;
    assert_eq!(seats[0].status, marketplace::AssignmentStatus::Completed);

    // Applying the same plan again is a refused transition, inside any transaction.
    session.start_transaction().await.unwrap();
    let again = service
        .apply_review(&mut session, &plan, Some(payout))
        .await
        .unwrap_err();
    session.abort_transaction().await.unwrap();
    assert!(conflict(&again), "{again:?}");

    // A cancelled job takes no review, even one planned before it was cancelled.
    let other = fixture.submitted_by_new_tester(job.id).await;
    let late = service
        .plan_review(&owner, other, ReviewDecision::Approve, PAYER)
        .await
        .unwrap();
    service
        .transition_job(&owner, job.id, JobAction::Cancel)
        .await
        .unwrap();
    session.start_transaction().await.unwrap();
    let refused = service
        .apply_review(&mut session, &late, None)
        .await
        .unwrap_err();
    session.abort_transaction().await.unwrap();
    assert!(conflict(&refused), "{refused:?}");
    assert_eq!(
        fixture
            .raw_submission(other)
            .await
            .get_str("status")
            .unwrap(),
        "submitted"
    );
}

#[tokio::test]
async fn auto_approval_approves_only_old_unreviewed_submissions_and_only_once() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 2).await;
    let old = fixture.submitted_by_new_tester(job.id).await;
    fixture.clock.advance(Duration::from_secs(3_600));
    let recent = fixture.submitted_by_new_tester(job.id).await;
    let cutoff = DateTime::from_millis(fixture.clock_now_millis() - 1_000);
    let waiting = fixture
        .service
        .submissions_awaiting_review(cutoff, 10)
        .await
        .unwrap();
    assert_eq!(waiting.iter().map(|s| s.id).collect::<Vec<_>>(), vec![old]);
    let approved = fixture
        .service
        .auto_approve_submission(old, cutoff)
        .await
        .unwrap();
    assert_eq!(approved.status, SubmissionStatus::Approved);
    let again = fixture
        .service
        .auto_approve_submission(old, cutoff)
        .await
        .unwrap_err();
    assert!(conflict(&again), "{again:?}");
    let too_recent = fixture
        .service
        .auto_approve_submission(recent, cutoff)
        .await
        .unwrap_err();
    assert!(conflict(&too_recent), "{too_recent:?}");
    assert_eq!(
        fixture
            .raw_submission(recent)
            .await
            .get_str("status")
            .unwrap(),
        "submitted"
    );
    assert_eq!(fixture.assert_counters_match(job.id).await, (2, 1, 0));
    assert!(fixture
        .raw_submission(old)
        .await
        .get_bool("auto_approved")
        .unwrap());
}

#[tokio::test]
async fn after_a_key_rotation_credentials_still_open_and_reseal_moves_them_to_the_new_key() {
    let fixture = fixture().await;
    let owner = client();
    let project = fixture
        .service
        .create_project(&owner, new_project(true), LIMITS)
        .await
        .unwrap();
    let mut rotated_settings = MarketplaceSettings::new([9; 32]);
    rotated_settings.previous_credentials_keys = vec![[7; 32]];
    let rotated = MarketplaceService::new(
        fixture.database.clone(),
        rotated_settings,
        fixture.clock.clone(),
    );
    let before = rotated
        .project_credentials(&owner, project.id)
        .await
        .unwrap()
        .expect("credentials");
    assert_eq!(rotated.reseal_credentials().await.unwrap(), 1);
    assert_eq!(
        rotated.reseal_credentials().await.unwrap(),
        0,
        "nothing left"
    );
    // Only the new key is needed now.
    let new_key_only = MarketplaceService::new(
        fixture.database.clone(),
        MarketplaceSettings::new([9; 32]),
        fixture.clock.clone(),
    );
    let after = new_key_only
        .project_credentials(&owner, project.id)
        .await
        .unwrap()
        .expect("credentials");
    assert_eq!(after, before);
    assert!(fixture
        .service
        .project_credentials(&owner, project.id)
        .await
        .is_err());
}
