//! Ratings over HTTP: the double-blind reveal (both sides in, or 14 days by the gateway's clock),
//! edits before and never after the reveal, one rating per side, one response, bad input, and
//! exact aggregates after a hundred concurrent reveals for one tester.

use std::sync::Arc;
use std::time::Duration;

use foundation::ManualClock;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::escrow::open_job_for_every_device as open_job;
use crate::harness::{outcome, table_outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, hand_in};

pub(crate) const RATE: &str =
    "mutation($input: RateSubmissionInput!) { rateSubmission(input: $input) {
    rating { id overallRating revealed ratedUserRole detailRatings { quality } reviewText } } }";
const EDIT: &str = "mutation($input: EditRatingInput!) { editRating(input: $input) {
    rating { id overallRating revealed } } }";
const RESPOND: &str = "mutation($input: RespondToRatingInput!) { respondToRating(input: $input) {
    rating { id responseText } } }";
const SUBMISSION_RATINGS: &str = "query($id: ID!) { submission(id: $id) {
    ratings { id overallRating revealed reviewText ratedUserRole ratedBy { fullName } } } }";
const RATING: &str = "query($id: ID!) { rating(id: $id) { id overallRating } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
const USER_RATINGS: &str = "query($id: ID!) { node(id: $id) { ... on User {
    ratings { totalCount edges { node { overallRating responseText } } }
    ratingSummary { averageRating ratingCount ratingSum }
    testerData { averageRating } } } }";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn detail(score: i32) -> Value {
    json!({ "quality": score, "communication": score, "timeliness": score, "professionalism": score })
}

pub(crate) fn client_rating(submission: &str, score: i32) -> Value {
    json!({ "input": { "submissionId": submission, "overallRating": score,
        "detailRatings": detail(score), "reviewText": format!("client says {score}"),
        "pros": ["Clear steps"], "cons": [] } })
}

pub(crate) fn tester_rating(submission: &str, score: i32) -> Value {
    json!({ "input": { "submissionId": submission, "overallRating": score,
        "reviewText": format!("tester says {score}") } })
}

async fn me_id(gateway: &TestGateway, token: &str) -> String {
    gateway.ok(Some(token), "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// Publishes a two-seat job of `client`, has `tester` hand in, and approves (or rejects) it.
pub(crate) async fn reviewed_submission(
    gateway: &TestGateway,
    client: &str,
    tester: &str,
    project: &str,
    approve: bool,
) -> (String, String) {
    let job = open_job(gateway, client, project, 2).await;
    let submission = hand_in(gateway, tester, &job).await;
    if approve {
        gateway
            .ok(
                Some(client),
                "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
                json!({ "input": { "submissionId": submission } }),
            )
            .await;
    } else {
        gateway
            .ok(
                Some(client),
                "mutation($input: RejectSubmissionInput!) { rejectSubmission(input: $input) { submission { status } } }",
                json!({ "input": { "submissionId": submission, "feedback": "Steps missing" } }),
            )
            .await;
    }
    (job, submission)
}

async fn ratings_seen(gateway: &TestGateway, token: &str, submission: &str) -> Vec<Value> {
    gateway
        .ok(Some(token), SUBMISSION_RATINGS, json!({ "id": submission }))
        .await["submission"]["ratings"]
        .as_array()
        .expect("ratings list")
        .clone()
}

async fn rating_fields(gateway: &TestGateway, collection_filter: bson::Document) -> bson::Document {
    gateway
        .database
        .collection::<bson::Document>("ratings")
        .find_one(collection_filter)
        .await
        .expect("rating read")
        .expect("rating exists")
}

async fn user_document(gateway: &TestGateway, email: &str) -> bson::Document {
    gateway
        .database
        .collection::<bson::Document>("users")
        .find_one(bson::doc! { "email": email })
        .await
        .expect("user read")
        .expect("user exists")
}

fn number(document: &bson::Document, path: &str) -> f64 {
    let (parent, field) = path.split_once('.').expect("dotted path");
    let inner = document.get_document(parent).expect("sub-document");
    match inner.get(field) {
        Some(bson::Bson::Int32(value)) => f64::from(*value),
        Some(bson::Bson::Int64(value)) => *value as f64,
        Some(bson::Bson::Double(value)) => *value,
        other => panic!("{path} is {other:?}"),
    }
}

#[tokio::test]
async fn neither_side_sees_the_others_rating_until_both_have_rated_and_then_it_never_changes() {
    let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clock(clock.clone(), |_| {}).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let sarah_id = me_id(&gateway, &sarah).await;
    let john_id = me_id(&gateway, &john).await;
    let project = create_project(&gateway, &john, "Ratings shop").await;
    let (_, submission) = reviewed_submission(&gateway, &john, &sarah, &project, true).await;

    // Nobody rates a submission they are not a party of; li cannot even see it.
    let stranger = gateway
        .graphql(Some(&li), RATE, tester_rating(&submission, 5))
        .await;
    assert_eq!(outcome(&stranger), "NOT_FOUND", "{stranger}");
    // Bad input is refused, naming the field, and stores nothing.
    let mut too_high = client_rating(&submission, 5);
    too_high["input"]["overallRating"] = json!(6);
    let refused = gateway.graphql(Some(&john), RATE, too_high).await;
    assert_eq!(outcome(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "overallRating");
    let missing_detail = gateway
        .graphql(Some(&john), RATE, tester_rating(&submission, 4))
        .await;
    assert_eq!(
        missing_detail["errors"][0]["extensions"]["field"],
        "detailRatings"
    );
    let count = gateway
        .database
        .collection::<bson::Document>("ratings")
        .count_documents(bson::doc! {})
        .await
        .expect("count");
    assert_eq!(count, 0);

    // John rates first: only his side sees it.
    let johns = gateway
        .ok(Some(&john), RATE, client_rating(&submission, 3))
        .await["rateSubmission"]["rating"]
        .clone();
    assert_eq!(johns["revealed"], false);
    assert_eq!(johns["ratedUserRole"], "TESTER");
    let johns_id = johns["id"].as_str().expect("rating id").to_string();
    assert_eq!(ratings_seen(&gateway, &john, &submission).await.len(), 1);
    assert!(ratings_seen(&gateway, &sarah, &submission).await.is_empty());
    for (query, expected) in [(RATING, "NOT_FOUND"), (NODE, "NULL")] {
        let hidden = gateway
            .graphql(Some(&sarah), query, json!({ "id": johns_id }))
            .await;
        assert_eq!(table_outcome(&hidden), expected, "{hidden}");
    }
    // Users are found by `node(id:)` only by themselves, their organization and admins.
    let sarahs_profile = gateway
        .ok(Some(&admin), USER_RATINGS, json!({ "id": sarah_id }))
        .await;
    assert_eq!(sarahs_profile["node"]["ratings"]["totalCount"], 0);
    assert_eq!(sarahs_profile["node"]["ratingSummary"]["ratingCount"], 0);
    assert!(sarahs_profile["node"]["testerData"]["averageRating"].is_null());
    // A second rating by the same side is a conflict.
    let again = gateway
        .graphql(Some(&john), RATE, client_rating(&submission, 1))
        .await;
    assert_eq!(outcome(&again), "CONFLICT", "{again}");
    // Before the reveal, John may change his mind (an edit replaces the whole rating); Sarah
    // may not touch his rating.
    let edited = gateway
        .ok(
            Some(&john),
            EDIT,
            json!({ "input": { "ratingId": johns_id, "overallRating": 4, "detailRatings": detail(4) } }),
        )
        .await;
    assert_eq!(edited["editRating"]["rating"]["overallRating"], 4);
    let not_hers = gateway
        .graphql(
            Some(&sarah),
            EDIT,
            json!({ "input": { "ratingId": johns_id, "overallRating": 1, "detailRatings": detail(1) } }),
        )
        .await;
    assert_eq!(outcome(&not_hers), "NOT_FOUND", "{not_hers}");
    // Sarah cannot answer a rating she cannot see.
    let early = gateway
        .graphql(
            Some(&sarah),
            RESPOND,
            json!({ "input": { "ratingId": johns_id, "responseText": "Thanks" } }),
        )
        .await;
    assert_eq!(outcome(&early), "NOT_FOUND", "{early}");

    // Sarah rates John: both are revealed at once.
    let sarahs = gateway
        .ok(Some(&sarah), RATE, tester_rating(&submission, 5))
        .await["rateSubmission"]["rating"]
        .clone();
    assert_eq!(sarahs["revealed"], true);
    let sarahs_id = sarahs["id"].as_str().expect("id").to_string();
    for token in [&john, &sarah, &admin] {
        let seen = ratings_seen(&gateway, token, &submission).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen.iter().all(|rating| rating["revealed"] == true));
    }
    let as_sarah = ratings_seen(&gateway, &sarah, &submission).await;
    assert!(as_sarah
        .iter()
        .any(|rating| rating["overallRating"] == 4 && rating["reviewText"] == ""));

    // The aggregates moved exactly once, for both users.
    let sarah_doc = user_document(&gateway, "sarah.tester@gmail.com").await;
    assert_eq!(number(&sarah_doc, "tester_data.rating_sum"), 4.0);
    assert_eq!(number(&sarah_doc, "tester_data.rating_count"), 1.0);
    assert_eq!(number(&sarah_doc, "tester_data.average_rating"), 4.0);
    assert_eq!(number(&sarah_doc, "tester_data.success_rate"), 100.0);
    let john_doc = user_document(&gateway, "john.doe@techcorp.com").await;
    assert_eq!(number(&john_doc, "client_data.rating_sum"), 5.0);
    assert_eq!(number(&john_doc, "client_data.rating_count"), 1.0);
    let profile = gateway
        .ok(Some(&admin), USER_RATINGS, json!({ "id": sarah_id }))
        .await;
    assert_eq!(profile["node"]["ratings"]["totalCount"], 1);
    assert_eq!(
        profile["node"]["ratingSummary"],
        json!({ "averageRating": 4.0, "ratingCount": 1, "ratingSum": 4 })
    );
    assert_eq!(profile["node"]["testerData"]["averageRating"], 4.0);
    let johns_summary = gateway
        .ok(Some(&admin), USER_RATINGS, json!({ "id": john_id }))
        .await;
    assert_eq!(johns_summary["node"]["ratingSummary"]["ratingSum"], 5);

    // After the reveal: no edit by either side, no new rating, and nothing changed.
    let before = rating_fields(&gateway, bson::doc! { "rated_user_role": "tester" }).await;
    let late_edit = gateway
        .graphql(
            Some(&john),
            EDIT,
            json!({ "input": { "ratingId": johns_id, "overallRating": 1, "detailRatings": detail(1) } }),
        )
        .await;
    assert_eq!(outcome(&late_edit), "CONFLICT", "{late_edit}");
    let late_edit_tester = gateway
        .graphql(
            Some(&sarah),
            EDIT,
            json!({ "input": { "ratingId": sarahs_id, "overallRating": 1 } }),
        )
        .await;
    assert_eq!(outcome(&late_edit_tester), "CONFLICT", "{late_edit_tester}");
    let third = gateway
        .graphql(Some(&sarah), RATE, tester_rating(&submission, 2))
        .await;
    assert_eq!(outcome(&third), "CONFLICT", "{third}");
    assert_eq!(
        rating_fields(&gateway, bson::doc! { "rated_user_role": "tester" }).await,
        before
    );
    assert_eq!(
        number(
            &user_document(&gateway, "sarah.tester@gmail.com").await,
            "tester_data.rating_sum"
        ),
        4.0
    );

    // The rated user responds once; the rater cannot respond to their own rating.
    let own = gateway
        .graphql(
            Some(&john),
            RESPOND,
            json!({ "input": { "ratingId": johns_id, "responseText": "Me too" } }),
        )
        .await;
    assert_eq!(outcome(&own), "FORBIDDEN", "{own}");
    let response = gateway
        .ok(
            Some(&sarah),
            RESPOND,
            json!({ "input": { "ratingId": johns_id, "responseText": "Thank you, John" } }),
        )
        .await;
    assert_eq!(
        response["respondToRating"]["rating"]["responseText"],
        "Thank you, John"
    );
    let second = gateway
        .graphql(
            Some(&sarah),
            RESPOND,
            json!({ "input": { "ratingId": johns_id, "responseText": "Again" } }),
        )
        .await;
    assert_eq!(outcome(&second), "CONFLICT", "{second}");
    let empty = gateway
        .graphql(
            Some(&john),
            RESPOND,
            json!({ "input": { "ratingId": sarahs_id, "responseText": "   " } }),
        )
        .await;
    assert_eq!(empty["errors"][0]["extensions"]["field"], "responseText");
    gateway.stop().await;
}

#[tokio::test]
async fn a_lone_rating_is_revealed_fourteen_days_after_the_review_and_the_window_then_closes() {
    let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clock(clock.clone(), |_| {}).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Slow raters").await;
    let (_, submission) = reviewed_submission(&gateway, &john, &li, &project, false).await;

    // Reviews are rated only once reviewed: a handed-in submission of another job is refused.
    let job = open_job(&gateway, &john, &project, 2).await;
    let pending = hand_in(&gateway, &li, &job).await;
    let too_early = gateway
        .graphql(Some(&li), RATE, tester_rating(&pending, 3))
        .await;
    assert_eq!(outcome(&too_early), "CONFLICT", "{too_early}");

    let lis = gateway
        .ok(Some(&li), RATE, tester_rating(&submission, 2))
        .await["rateSubmission"]["rating"]
        .clone();
    let lis_id = lis["id"].as_str().expect("id").to_string();
    clock.advance(DAY * 13);
    assert_eq!(gateway.reveal_due_ratings().await, 0);
    assert!(ratings_seen(&gateway, &john, &submission).await.is_empty());
    // Still inside the window: Li may edit.
    gateway
        .ok(
            Some(&li),
            EDIT,
            json!({ "input": { "ratingId": lis_id, "overallRating": 1, "reviewText": "Vague rejection" } }),
        )
        .await;

    clock.advance(DAY);
    assert_eq!(gateway.reveal_due_ratings().await, 1);
    assert_eq!(
        gateway.reveal_due_ratings().await,
        0,
        "a reveal happens once"
    );
    let seen = ratings_seen(&gateway, &john, &submission).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["overallRating"], 1);
    assert_eq!(seen[0]["revealed"], true);
    let john_doc = user_document(&gateway, "john.doe@techcorp.com").await;
    assert_eq!(number(&john_doc, "client_data.rating_sum"), 1.0);
    assert_eq!(number(&john_doc, "client_data.rating_count"), 1.0);
    assert_eq!(number(&john_doc, "client_data.average_rating"), 1.0);

    // The window is closed: John can no longer rate, Li can no longer edit.
    let late = gateway
        .graphql(Some(&john), RATE, client_rating(&submission, 5))
        .await;
    assert_eq!(outcome(&late), "CONFLICT", "{late}");
    let late_edit = gateway
        .graphql(
            Some(&li),
            EDIT,
            json!({ "input": { "ratingId": lis_id, "overallRating": 5 } }),
        )
        .await;
    assert_eq!(outcome(&late_edit), "CONFLICT", "{late_edit}");
    assert_eq!(
        ratings_seen(&gateway, &john, &submission).await[0]["overallRating"],
        1
    );
    gateway.stop().await;
}

const JOB_STEPS: [(&str, &str); 3] = [
    ("startJobTesting", "JobIdInput"),
    ("beginJobReview", "JobIdInput"),
    ("completeJob", "JobMoneyInput"),
];

#[tokio::test]
async fn a_hundred_concurrent_reveals_for_one_tester_leave_exact_sums_counts_and_averages() {
    // The demo client's account is new, and a hundred jobs are more than a new account may fund
    // in one day: this test is about ratings, so that limit is out of its way.
    let gateway = TestGateway::start_with(|config| {
        config.money.new_account_days = 0;
    })
    .await;
    // Users are found by `node(id:)` only by themselves, their organization and admins.
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let sarah_id = me_id(&gateway, &sarah).await;
    let project = create_project(&gateway, &john, "Many ratings").await;
    let mut submissions = Vec::new();
    // Five jobs at a time, each completed, so the running-job limit (10, some taken by the demo
    // data) is never hit.
    for _ in 0..20 {
        let batch = join_all((0..5).map(|_| async {
            let (job, submission) =
                reviewed_submission(&gateway, &john, &sarah, &project, true).await;
            for (step, input) in JOB_STEPS {
                gateway
                    .ok(
                        Some(&john),
                        &format!("mutation($input: {input}!) {{ {step}(input: $input) {{ job {{ status }} }} }}"),
                        json!({ "input": { "jobId": job } }),
                    )
                    .await;
            }
            submission
        }))
        .await;
        submissions.extend(batch);
    }
    assert_eq!(submissions.len(), 100);
    // Sarah rates every client side first (hidden), then John's hundred ratings race: each one
    // reveals a pair and adds to both users' totals.
    for (index, submission) in submissions.iter().enumerate() {
        let score = (index % 5) as i32 + 1;
        gateway
            .ok(Some(&sarah), RATE, tester_rating(submission, score))
            .await;
    }
    let answers = join_all(submissions.iter().enumerate().map(|(index, submission)| {
        let score = ((index * 3) % 5) as i32 + 1;
        let gateway = &gateway;
        let john = &john;
        async move {
            gateway
                .graphql(Some(john), RATE, client_rating(submission, score))
                .await
        }
    }))
    .await;
    for answer in &answers {
        assert_eq!(outcome(answer), "OK", "{answer}");
        assert_eq!(answer["data"]["rateSubmission"]["rating"]["revealed"], true);
    }
    let tester_sum: i64 = (0..100).map(|index| ((index * 3) % 5) as i64 + 1).sum();
    let client_sum: i64 = (0..100).map(|index| (index % 5) as i64 + 1).sum();
    assert_eq!((tester_sum, client_sum), (300, 300));

    let sarah_doc = user_document(&gateway, "sarah.tester@gmail.com").await;
    assert_eq!(
        number(&sarah_doc, "tester_data.rating_sum"),
        tester_sum as f64
    );
    assert_eq!(number(&sarah_doc, "tester_data.rating_count"), 100.0);
    assert_eq!(number(&sarah_doc, "tester_data.average_rating"), 3.0);
    assert_eq!(number(&sarah_doc, "tester_data.success_rate"), 100.0);
    let john_doc = user_document(&gateway, "john.doe@techcorp.com").await;
    assert_eq!(
        number(&john_doc, "client_data.rating_sum"),
        client_sum as f64
    );
    assert_eq!(number(&john_doc, "client_data.rating_count"), 100.0);
    let revealed = gateway
        .database
        .collection::<bson::Document>("ratings")
        .count_documents(bson::doc! { "revealed_at": { "$ne": null } })
        .await
        .expect("count");
    assert_eq!(revealed, 200);
    let profile = gateway
        .ok(Some(&admin), USER_RATINGS, json!({ "id": sarah_id }))
        .await;
    assert_eq!(
        profile["node"]["ratingSummary"],
        json!({ "averageRating": 3.0, "ratingCount": 100, "ratingSum": 300 })
    );
    assert_eq!(profile["node"]["ratings"]["totalCount"], 100);
    gateway.stop().await;
}
