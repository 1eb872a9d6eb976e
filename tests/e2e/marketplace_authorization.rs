//! The marketplace's authorization table: every marketplace query, mutation and sensitive field,
//! called by each kind of caller, with the outcome code each must get.
//!
//! "The client" is the demo client John, who owns the project and jobs; "another client" is Maria
//! (another organization); "the seated tester" is Sarah, who holds a seat on the job and submitted;
//! "another tester" is Li Wei, who holds no seat on it (but has a draft on a job of another of
//! John's projects). Rows that change state act on a target of their own per column, or come in
//! an order where no row changes what a later row depends on.

use serde_json::{json, Value};

use crate::harness::{check_table, row, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, details, draft_submission, hand_in, journey, open_job};

const CALLERS: [&str; 7] = [
    "anonymous",
    "the client",
    "another client",
    "the seated tester",
    "another tester",
    "admin",
    "read-only API key",
];

const OK: &str = "OK";
const U: &str = "UNAUTHENTICATED";
const FB: &str = "FORBIDDEN";
const NF: &str = "NOT_FOUND";
const C: &str = "CONFLICT";
const NULL: &str = "NULL";

fn id_of(value: &Value, path: &[&str]) -> String {
    let mut current = value;
    for key in path {
        current = &current[*key];
    }
    current.as_str().expect("an ID").to_string()
}

async fn draft_job(gateway: &TestGateway, token: &str, project_id: &str) -> String {
    let created = gateway
        .ok(
            Some(token),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": details(project_id, 1, 1_000), "journey": journey() } }),
        )
        .await;
    id_of(&created, &["createJob", "job", "id"])
}

#[tokio::test]
async fn every_marketplace_operation_for_every_kind_of_caller() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let me = gateway
        .ok(Some(&john), "{ me { organization { id } } }", json!({}))
        .await;
    let organization_id = id_of(&me, &["me", "organization", "id"]);
    let key = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
            json!({ "input": { "organizationId": organization_id, "name": "reader", "scope": "READ" } }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let li_id = id_of(
        &gateway.ok(Some(&li), "{ me { id } }", json!({})).await,
        &["me", "id"],
    );
    let sarah_id = id_of(
        &gateway.ok(Some(&sarah), "{ me { id } }", json!({})).await,
        &["me", "id"],
    );

    let project = create_project(&gateway, &john, "Authz storefront").await;
    let job = open_job(&gateway, &john, &project, 3).await;
    let submission = hand_in(&gateway, &sarah, &job).await;
    // Li's draft lives on a job of another project, so Li stays unseated on `project`.
    let other_project = create_project(&gateway, &john, "Authz back office").await;
    let other_job = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": { "projectId": other_project, "title": "Back office",
                "requiredBrowsers": ["Chrome"], "maxTesters": 2, "budgetPerTesterCents": 1000,
                "deadline": crate::marketplace::deadline_in_days(60) }, "journey": journey() } }),
        )
        .await;
    let other_job = id_of(&other_job, &["createJob", "job", "id"]);
    gateway
        .ok(
            Some(&john),
            "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { id } } }",
            json!({ "input": { "jobId": other_job } }),
        )
        .await;
    let li_draft = draft_submission(&gateway, &li, &other_job).await;
    let li_draft_for_review = li_draft.clone();
    let template = gateway
        .ok(
            Some(&john),
            "{ aiTestTemplates { edges { node { id } } } }",
            json!({}),
        )
        .await["aiTestTemplates"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("template")
        .to_string();
    let mut archive_targets = Vec::new();
    let mut publish_targets = Vec::new();
    let mut cancel_targets = Vec::new();
    for column in 0..CALLERS.len() {
        archive_targets
            .push(create_project(&gateway, &john, &format!("Archive me {column}")).await);
        publish_targets.push(draft_job(&gateway, &john, &project).await);
        cancel_targets.push(draft_job(&gateway, &john, &project).await);
    }
    let credentials: [Option<String>; 7] = [
        None,
        Some(john.clone()),
        Some(maria),
        Some(sarah),
        Some(li),
        Some(admin),
        Some(key),
    ];

    let (p1, p2, p3, p4) = (
        project.clone(),
        project.clone(),
        project.clone(),
        project.clone(),
    );
    let (j1, j2, j3, j4, j5, j6, j7, j8, j9) = (
        job.clone(),
        job.clone(),
        job.clone(),
        job.clone(),
        job.clone(),
        job.clone(),
        job.clone(),
        job.clone(),
        job.clone(),
    );
    let (s1, s2, s3) = (submission.clone(), submission.clone(), submission.clone());
    let j10 = job.clone();
    let j6_for_draft_update = job.clone();
    let (j11, j12) = (job.clone(), job.clone());
    let accountable_job = job.clone();
    let sarah_node = sarah_id.clone();
    let (e1, e2, e3) = (job.clone(), job.clone(), job.clone());
    let (s4, s5, s6) = (submission.clone(), submission.clone(), submission.clone());
    let p5 = project.clone();
    let t1 = template.clone();
    let p6 = project.clone();
    let rows = vec![
        row("field Project.organization", "query($id: ID!) { project(id: $id) { organization { id } } }",
            move |_| json!({ "id": p6 }), [U, OK, NF, NF, NF, OK, OK]),
        row("query escrowsNeedingAttention", "{ escrowsNeedingAttention(first: 5) { totalCount } }",
            |_| json!({}), [U, FB, FB, FB, FB, OK, FB]),
        row("query searchProjects (second page)", "{ searchProjects(text: \"Authz\", first: 1) { totalCount pageInfo { endCursor } } }",
            |_| json!({}), [U, OK, OK, OK, OK, OK, OK]),
        row("query project", "query($id: ID!) { project(id: $id) { name } }",
            move |_| json!({ "id": p1 }), [U, OK, NF, NF, NF, OK, OK]),
        // Credentials are released while a tester's seat is in progress; Sarah handed in.
        row("field Project.credentials (through the job)",
            "query($id: ID!) { job(id: $id) { project { credentials { password } } } }",
            move |_| json!({ "id": j1 }), [U, OK, NF, FB, FB, OK, FB]),
        row("field Project.credentialReads (through the job)",
            "query($id: ID!) { job(id: $id) { project { credentialReads { totalCount } } } }",
            move |_| json!({ "id": j11 }), [U, OK, NF, FB, FB, OK, FB]),
        row("field User.assignedJobs of the seated tester (through the job)",
            "query($id: ID!) { job(id: $id) { assignments { tester { assignedJobs { totalCount } } } } }",
            move |_| json!({ "id": j12 }), [U, OK, NF, OK, OK, OK, OK]),
        row("query node (the seated tester)", "query($id: ID!) { node(id: $id) { id } }",
            move |_| json!({ "id": sarah_node }), [U, NULL, NULL, OK, NULL, OK, NULL]),
        row("field Job.totalBudgetCents", "query($id: ID!) { job(id: $id) { totalBudgetCents } }",
            move |_| json!({ "id": j2 }), [U, OK, NF, FB, FB, OK, OK]),
        row("field Job.escrowStatus", "query($id: ID!) { job(id: $id) { escrowStatus } }",
            move |_| json!({ "id": j3 }), [U, OK, NF, FB, FB, OK, FB]),
        // Money, on every path that reaches a job or a submission.
        row("field Job.escrow", "query($id: ID!) { job(id: $id) { escrow { capturedCents } } }",
            move |_| json!({ "id": e1 }), [U, OK, NF, FB, FB, OK, FB]),
        row("field Job.escrow (through node)", "query($id: ID!) { node(id: $id) { ... on Job { escrow { status } } } }",
            move |_| json!({ "id": e2 }), [U, OK, NULL, FB, FB, OK, FB]),
        row("field Job.escrow (through submission.job)", "query($id: ID!) { submission(id: $id) { job { escrow { status } } } }",
            move |_| json!({ "id": s4 }), [U, OK, NF, FB, NF, OK, FB]),
        row("field Job.escrow (through project.jobs)", "query($id: ID!) { project(id: $id) { jobs(first: 5) { edges { node { escrow { status } } } } } }",
            move |_| json!({ "id": p5 }), [U, OK, NF, NF, NF, OK, FB]),
        // Both testers hold a seat (Li on the back-office job); clients and admins have none.
        row("field Job.escrow (through me.assignedJobs)", "{ me { assignedJobs(first: 5) { edges { node { escrow { status } } } } } }",
            |_| json!({}), [U, OK, OK, FB, FB, OK, FB]),
        row("field Submission.payout", "query($id: ID!) { submission(id: $id) { payout { status } } }",
            move |_| json!({ "id": s5 }), [U, OK, NF, OK, NF, OK, FB]),
        row("mutation refundEscrow", "mutation($input: RefundEscrowInput!) { refundEscrow(input: $input) { refund { status } } }",
            move |_| json!({ "input": { "jobId": e3, "amountCents": 1, "reason": "authz" } }),
            [U, FB, FB, FB, FB, OK, FB]),
        row("mutation releasePayout (not approved)", "mutation($input: ReleasePayoutInput!) { releasePayout(input: $input) { payout { status } } }",
            move |_| json!({ "input": { "submissionId": s6 } }),
            [U, NF, NF, FB, NF, NF, FB]),
        row("field Job.invitedTesters", "query($id: ID!) { job(id: $id) { invitedTesters { id } } }",
            move |_| json!({ "id": j4 }), [U, OK, NF, FB, FB, OK, OK]),
        row("query job (public fields, budget per tester)",
            "query($id: ID!) { job(id: $id) { title budgetPerTesterCents } }",
            move |_| json!({ "id": j5 }), [U, OK, NF, OK, OK, OK, OK]),
        // The client's accountability is for whoever sees the job (testers weigh it).
        row("field Job.clientAccountability",
            "query($id: ID!) { job(id: $id) { clientAccountability { reviewedSubmissions disputesLost } } }",
            move |_| json!({ "id": accountable_job }), [U, OK, NF, OK, OK, OK, OK]),
        row("query submission", "query($id: ID!) { submission(id: $id) { summary } }",
            move |_| json!({ "id": s1 }), [U, OK, NF, OK, NF, OK, OK]),
        row("query node (submission)", "query($id: ID!) { node(id: $id) { id } }",
            move |_| json!({ "id": s2 }), [U, OK, NULL, OK, NULL, OK, OK]),
        row("query availableJobs", "{ availableJobs { totalCount } }",
            |_| json!({}), [U, FB, FB, OK, OK, FB, FB]),
        row("query aiTestTemplates", "{ aiTestTemplates { totalCount } }",
            |_| json!({}), [U, OK, OK, OK, OK, OK, OK]),
        row("query aiTestTemplates(includeInactive)", "{ aiTestTemplates(includeInactive: true) { totalCount } }",
            |_| json!({}), [U, FB, FB, FB, FB, OK, FB]),
        row("query aiTestTemplate", "query($id: ID!) { aiTestTemplate(id: $id) { name } }",
            move |_| json!({ "id": t1 }), [U, OK, OK, OK, OK, OK, OK]),
        row("query searchProjects", "{ searchProjects(text: \"storefront\") { totalCount } }",
            |_| json!({}), [U, OK, OK, OK, OK, OK, OK]),
        row("field User.projects", "{ me { projects { totalCount } } }",
            |_| json!({}), [U, OK, OK, OK, OK, OK, FB]),
        row("field User.assignedJobs", "{ me { assignedJobs { totalCount } } }",
            |_| json!({}), [U, OK, OK, OK, OK, OK, FB]),
        row("mutation updateProject", "mutation($input: UpdateProjectInput!) { updateProject(input: $input) { project { id } } }",
            move |_| json!({ "input": { "projectId": p2, "description": "Still a storefront" } }),
            [U, OK, FB, FB, FB, OK, FB]),
        row("mutation archiveProject", "mutation($input: ProjectIdInput!) { archiveProject(input: $input) { project { status } } }",
            move |column| json!({ "input": { "projectId": archive_targets[column] } }),
            [U, OK, FB, FB, FB, OK, FB]),
        row("mutation createProject", "mutation { createProject(input: { name: \"Table project\" }) { project { id } } }",
            |_| json!({}), [U, OK, OK, FB, FB, OK, FB]),
        row("mutation createJob", "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            move |_| json!({ "input": { "details": details(&p3, 1, 1_000), "journey": journey() } }),
            [U, OK, FB, FB, FB, OK, FB]),
        row("mutation createJobFromTemplate", "mutation($input: CreateJobFromTemplateInput!) { createJobFromTemplate(input: $input) { job { id } } }",
            move |_| json!({ "input": { "templateId": template, "details": details(&p4, 1, 1_000),
                "values": [{ "name": "product", "value": "a mug" }, { "name": "payment_method", "value": "cash" }] } }),
            [U, OK, FB, FB, FB, OK, FB]),
        row("mutation publishJob", "mutation($input: JobMoneyInput!) { publishJob(input: $input) { job { id } } }",
            move |column| json!({ "input": { "jobId": publish_targets[column] } }),
            [U, OK, FB, FB, FB, OK, FB]),
        row("mutation cancelJob", "mutation($input: JobMoneyInput!) { cancelJob(input: $input) { job { id } } }",
            move |column| json!({ "input": { "jobId": cancel_targets[column] } }),
            [U, OK, FB, FB, FB, OK, FB]),
        row("mutation updateJobJourney (published job)", "mutation($input: UpdateJobJourneyInput!) { updateJobJourney(input: $input) { job { id } } }",
            move |_| json!({ "input": { "jobId": j6, "journey": journey() } }),
            [U, C, FB, FB, FB, C, FB]),
        row("mutation updateDraftJob (published job)", "mutation($input: UpdateDraftJobInput!) { updateDraftJob(input: $input) { job { id } } }",
            move |_| json!({ "input": { "jobId": j6_for_draft_update, "title": "Renamed" } }),
            [U, C, FB, FB, FB, C, FB]),
        row("mutation enhanceJobJourney (published job)", "mutation($input: JobIdInput!) { enhanceJobJourney(input: $input) { enhancement { enhanced } } }",
            move |_| json!({ "input": { "jobId": j10 } }),
            [U, C, FB, FB, FB, C, FB]),
        row("mutation enhanceSubmissionSummary (handed in)", "mutation($input: SubmissionIdInput!) { enhanceSubmissionSummary(input: $input) { enhancement { enhanced } } }",
            move |_| json!({ "input": { "submissionId": s3 } }),
            [U, FB, FB, C, NF, FB, FB]),
        // A draft is its tester's (and admins') only: the job's client does not find it.
        row("mutation approveSubmission (a draft)", "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { id } } }",
            move |_| json!({ "input": { "submissionId": li_draft } }),
            [U, NF, NF, NF, FB, C, FB]),
        row("mutation startSubmissionReview (a draft)", "mutation($input: SubmissionIdInput!) { startSubmissionReview(input: $input) { submission { id } } }",
            { let draft = li_draft_for_review.clone(); move |_| json!({ "input": { "submissionId": draft } }) },
            [U, NF, NF, NF, FB, C, FB]),
        row("mutation createAiTestTemplate", "mutation { createAiTestTemplate(input: { name: \"T\", category: GENERAL, scenario: \"S\", steps: [{ actionTemplate: \"a\", expectedResultTemplate: \"b\" }] }) { template { id } } }",
            |_| json!({}), [U, FB, FB, FB, FB, OK, FB]),
        // Aimed at a template that does not exist: only the admin passes authorization.
        row("mutation updateAiTestTemplate", "mutation($input: UpdateAiTestTemplateInput!) { updateAiTestTemplate(input: $input) { template { id } } }",
            move |_| json!({ "input": { "templateId": template_id_for_toggle(), "template": { "name": "T", "category": "GENERAL", "scenario": "S",
                "steps": [{ "actionTemplate": "a", "expectedResultTemplate": "b" }] } } }),
            [U, FB, FB, FB, FB, NF, FB]),
        row("mutation setAiTestTemplateActive", "mutation($input: SetAiTestTemplateActiveInput!) { setAiTestTemplateActive(input: $input) { template { id } } }",
            move |_| json!({ "input": { "templateId": template_id_for_toggle(), "active": true } }),
            [U, FB, FB, FB, FB, NF, FB]),
        row("mutation setTesterQualification", "mutation($input: SetTesterQualificationInput!) { setTesterQualification(input: $input) { user { id } } }",
            move |_| json!({ "input": { "userId": li_id, "status": "QUALIFIED" } }),
            [U, FB, FB, FB, FB, OK, FB]),
        // Seats last. Li owns none of the job's devices, browsers or systems: refused.
        row("mutation createSubmission", "mutation($input: CreateSubmissionInput!) { createSubmission(input: $input) { submission { id } } }",
            move |_| json!({ "input": { "jobId": j7 } }), [U, FB, FB, C, NF, FB, FB]),
        row("mutation claimJob", "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }",
            move |_| json!({ "input": { "jobId": j8 } }), [U, FB, FB, C, FB, FB, FB]),
        row("mutation withdrawFromJob", "mutation($input: JobIdInput!) { withdrawFromJob(input: $input) { job { id } } }",
            move |_| json!({ "input": { "jobId": j9 } }), [U, FB, FB, C, NF, FB, FB]),
    ];

    check_table(&gateway, CALLERS, &credentials, &rows).await;
    gateway.stop().await;
}

/// A template ID that names no template: toggling it passes authorization and then finds
/// nothing, so the row changes no state.
fn template_id_for_toggle() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!(
        "AiTestTemplate:{}",
        bson::oid::ObjectId::new().to_hex()
    ))
}
