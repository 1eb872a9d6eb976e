//! In-app notifications over HTTP: each event reaches exactly the people it is for (asserted as
//! each recipient and as strangers), a notification is seen and changed by its recipient only,
//! preferences are honoured per type and channel, and an event replayed after a lost completion
//! creates no duplicate.

use serde_json::{json, Value};

use crate::escrow::open_job_for_every_device;
use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{
    create_project, details, draft_submission, hand_in, journey, open_job, submit_draft, PUBLISH,
};
use crate::stripe::{arm_fail_point, object_id};

const MY_NOTIFICATIONS: &str = "query($first: Int, $after: String, $unreadOnly: Boolean) {
  me { id unreadNotificationCount
       notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {
         totalCount pageInfo { hasNextPage }
         edges { cursor node { id type title message relatedJobId relatedSubmissionId relatedUserId
                               actionUrl priority groupKey isRead readAt sentEmail } } } } }";
const MARK_READ: &str =
    "mutation($input: NotificationIdInput!) { markNotificationRead(input: $input) {
  notification { id isRead readAt } unreadCount } }";
const MARK_ALL: &str =
    "mutation { markAllNotificationsRead(input: {}) { markedCount unreadCount } }";
const DISMISS: &str =
    "mutation($input: NotificationIdInput!) { dismissNotification(input: $input) {
  notification { id dismissedAt isRead } unreadCount } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id ... on Notification { title } } }";
const PREFERENCES: &str = "mutation($input: UpdateNotificationPreferencesInput!) {
  updateNotificationPreferences(input: $input) { preferences { type channel enabled } } }";

/// The caller's notifications about `job_id` (newest first) as (type, node).
pub async fn about_job(gateway: &TestGateway, token: &str, job_id: &str) -> Vec<Value> {
    let body = gateway
        .ok(Some(token), MY_NOTIFICATIONS, json!({ "first": 100 }))
        .await;
    body["me"]["notifications"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"].clone())
        .filter(|node| node["relatedJobId"] == json!(job_id))
        .collect()
}

pub fn types(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|node| node["type"].as_str().expect("type").to_string())
        .collect()
}

async fn me_id(gateway: &TestGateway, token: &str) -> String {
    gateway.ok(Some(token), "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn techcorp_id(gateway: &TestGateway, john: &str) -> String {
    gateway
        .ok(Some(john), "{ me { organization { id } } }", json!({}))
        .await["me"]["organization"]["id"]
        .as_str()
        .expect("john's organization")
        .to_string()
}

#[tokio::test]
async fn a_claim_tells_the_client_and_a_hand_in_tells_the_client_and_the_organizations_admins_only()
{
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let organization = techcorp_id(&gateway, &john).await;
    let manager = gateway.register("ops@techcorp.com", "CLIENT").await;
    gateway
        .join_organization(&john, &organization, &manager, "ops@techcorp.com", "ADMIN")
        .await;
    let member = gateway.register("dev@techcorp.com", "CLIENT").await;
    gateway
        .join_organization(&john, &organization, &member, "dev@techcorp.com", "MEMBER")
        .await;

    let project = create_project(&gateway, &john, "Notified").await;
    let job = open_job(&gateway, &john, &project, 2).await;
    let submission = draft_submission(&gateway, &sarah, &job).await;
    gateway.deliver_notifications().await;

    // A refused claim changes nothing, so it records no event either.
    let again = gateway
        .graphql(
            Some(&sarah),
            "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }",
            json!({ "input": { "jobId": job } }),
        )
        .await;
    assert_ne!(outcome(&again), "OK", "{again}");
    let events = gateway
        .database
        .collection::<bson::Document>("domain_events")
        .count_documents(bson::doc! { "kind": "seat_claimed", "job_id": object_id(&job) })
        .await
        .expect("count");
    assert_eq!(events, 1);
    let claimed = about_job(&gateway, &john, &job).await;
    assert_eq!(types(&claimed), ["JOB_ASSIGNED"]);
    assert_eq!(
        claimed[0]["relatedUserId"],
        json!(me_id(&gateway, &sarah).await)
    );
    assert_eq!(
        claimed[0]["actionUrl"]
            .as_str()
            .map(|url| url.starts_with("/jobs/")),
        Some(true)
    );
    assert!(claimed[0]["message"]
        .as_str()
        .expect("message")
        .contains("claimed a seat"));
    assert_eq!(claimed[0]["isRead"], json!(false));
    assert_eq!(claimed[0]["sentEmail"], json!(false));
    // The organization's other people hear of a claim only through the client; Sarah heard of
    // the job when it was published, and of nothing since.
    for other in [&manager, &member, &li, &maria, &admin] {
        assert_eq!(about_job(&gateway, other, &job).await, Vec::<Value>::new());
    }
    assert_eq!(
        types(&about_job(&gateway, &sarah, &job).await),
        ["JOB_POSTED"]
    );

    submit_draft(&gateway, &sarah, &submission).await;
    gateway.deliver_notifications().await;
    let for_john = about_job(&gateway, &john, &job).await;
    assert_eq!(types(&for_john), ["SUBMISSION_RECEIVED", "JOB_ASSIGNED"]);
    assert_eq!(for_john[0]["relatedSubmissionId"], json!(submission));
    let for_manager = about_job(&gateway, &manager, &job).await;
    assert_eq!(types(&for_manager), ["SUBMISSION_RECEIVED"]);
    for stranger in [&member, &li, &maria, &admin] {
        assert_eq!(
            about_job(&gateway, stranger, &job).await,
            Vec::<Value>::new()
        );
    }
    assert_eq!(
        types(&about_job(&gateway, &sarah, &job).await),
        ["JOB_POSTED"]
    );

    // Delivering again (the interval runs it too) creates nothing more.
    gateway.deliver_notifications().await;
    assert_eq!(about_job(&gateway, &john, &job).await.len(), 2);
    assert_eq!(about_job(&gateway, &manager, &job).await.len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn only_the_recipient_reads_or_changes_a_notification_and_admins_and_api_keys_see_none() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Private").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    draft_submission(&gateway, &sarah, &job).await;
    gateway.deliver_notifications().await;
    let notification = about_job(&gateway, &john, &job).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let key = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
            json!({ "input": { "organizationId": techcorp_id(&gateway, &john).await, "name": "ci", "scope": "READ_WRITE" } }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let john_id = me_id(&gateway, &john).await;

    // Reading: the recipient sees it; the tester, a platform admin and the organization's own
    // API key get null, as for an id that names nothing.
    let node = gateway
        .graphql(Some(&john), NODE, json!({ "id": notification }))
        .await;
    assert_eq!(node["data"]["node"]["id"], json!(notification));
    for other in [&sarah, &admin, &key] {
        let node = gateway
            .graphql(Some(other), NODE, json!({ "id": notification }))
            .await;
        assert_eq!(node["data"]["node"], Value::Null, "{node}");
    }
    // Someone else's list and count are null, admins included.
    let as_admin = gateway
        .graphql(
            Some(&admin),
            "query($id: ID!) { node(id: $id) { ... on User { notifications { totalCount } unreadNotificationCount notificationSettings { enabled } } } }",
            json!({ "id": john_id }),
        )
        .await;
    assert_eq!(
        as_admin["data"]["node"],
        json!({ "notifications": null, "unreadNotificationCount": null, "notificationSettings": null })
    );

    // Changing: someone else's is NOT_FOUND and changes nothing; API keys are FORBIDDEN.
    for other in [&sarah, &admin] {
        let body = gateway
            .graphql(
                Some(other),
                MARK_READ,
                json!({ "input": { "id": notification } }),
            )
            .await;
        assert_eq!(outcome(&body), "NOT_FOUND", "{body}");
        let body = gateway
            .graphql(
                Some(other),
                DISMISS,
                json!({ "input": { "id": notification } }),
            )
            .await;
        assert_eq!(outcome(&body), "NOT_FOUND", "{body}");
    }
    let body = gateway
        .graphql(
            Some(&key),
            MARK_READ,
            json!({ "input": { "id": notification } }),
        )
        .await;
    assert_eq!(outcome(&body), "FORBIDDEN", "{body}");
    let body = gateway.graphql(Some(&key), MARK_ALL, json!({})).await;
    assert_eq!(outcome(&body), "FORBIDDEN", "{body}");
    let body = gateway.graphql(None, MARK_ALL, json!({})).await;
    assert_eq!(outcome(&body), "UNAUTHENTICATED", "{body}");
    let untouched = about_job(&gateway, &john, &job).await;
    assert_eq!(untouched[0]["isRead"], json!(false));
    assert_eq!(untouched[0]["readAt"], Value::Null);
    // A malformed or foreign-typed id is bad input naming the field.
    let body = gateway
        .graphql(Some(&john), MARK_READ, json!({ "input": { "id": job } }))
        .await;
    assert_eq!(outcome(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], json!("id"));

    // The recipient reads, the count follows; reading again changes nothing.
    let before = gateway.ok(Some(&john), MY_NOTIFICATIONS, json!({})).await["me"]
        ["unreadNotificationCount"]
        .as_u64()
        .expect("count");
    let read = gateway
        .ok(
            Some(&john),
            MARK_READ,
            json!({ "input": { "id": notification } }),
        )
        .await;
    assert_eq!(
        read["markNotificationRead"]["notification"]["isRead"],
        json!(true)
    );
    assert_eq!(
        read["markNotificationRead"]["unreadCount"],
        json!(before - 1)
    );
    let read_at = read["markNotificationRead"]["notification"]["readAt"].clone();
    let again = gateway
        .ok(
            Some(&john),
            MARK_READ,
            json!({ "input": { "id": notification } }),
        )
        .await;
    assert_eq!(
        again["markNotificationRead"]["notification"]["readAt"],
        read_at
    );
    let unread = gateway
        .ok(
            Some(&john),
            MY_NOTIFICATIONS,
            json!({ "unreadOnly": true, "first": 100 }),
        )
        .await;
    assert_eq!(
        unread["me"]["notifications"]["totalCount"],
        json!(before - 1)
    );

    // Everything read at once; then dismissing takes it out of the list.
    let all = gateway.ok(Some(&john), MARK_ALL, json!({})).await;
    assert_eq!(
        all["markAllNotificationsRead"]["markedCount"],
        json!(before - 1)
    );
    assert_eq!(all["markAllNotificationsRead"]["unreadCount"], json!(0));
    let dismissed = gateway
        .ok(
            Some(&john),
            DISMISS,
            json!({ "input": { "id": notification } }),
        )
        .await;
    assert!(dismissed["dismissNotification"]["notification"]["dismissedAt"].is_string());
    assert_eq!(about_job(&gateway, &john, &job).await, Vec::<Value>::new());
    gateway.stop().await;
}

#[tokio::test]
async fn a_type_turned_off_in_app_is_not_shown_and_preferences_refuse_bad_input() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let changed = gateway
        .ok(
            Some(&john),
            PREFERENCES,
            json!({ "input": { "preferences": [
                { "type": "JOB_ASSIGNED", "channel": "IN_APP", "enabled": false },
                { "type": "JOB_ASSIGNED", "channel": "EMAIL", "enabled": false },
            ] } }),
        )
        .await;
    let preferences = changed["updateNotificationPreferences"]["preferences"]
        .as_array()
        .expect("preferences");
    assert_eq!(preferences.len(), 36, "every type on both channels");
    let off: Vec<&Value> = preferences
        .iter()
        .filter(|preference| preference["enabled"] == json!(false))
        .collect();
    assert_eq!(
        off,
        [
            &json!({ "type": "JOB_ASSIGNED", "channel": "IN_APP", "enabled": false }),
            &json!({ "type": "JOB_ASSIGNED", "channel": "EMAIL", "enabled": false }),
        ]
    );
    // The seed's own switch is the same preference.
    let seed = gateway
        .ok(
            Some(&john),
            "{ me { notificationPreferences { emailJobAssigned emailNewJob } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        seed["me"]["notificationPreferences"],
        json!({ "emailJobAssigned": false, "emailNewJob": true })
    );

    let project = create_project(&gateway, &john, "Quiet").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    let submission = draft_submission(&gateway, &sarah, &job).await;
    submit_draft(&gateway, &sarah, &submission).await;
    gateway.deliver_notifications().await;
    // The claim is not shown; the hand-in (still on) is.
    assert_eq!(
        types(&about_job(&gateway, &john, &job).await),
        ["SUBMISSION_RECEIVED"]
    );

    for (preferences, field) in [
        (
            json!([{ "type": "OTHER", "channel": "EMAIL", "enabled": false }]),
            "preferences.type",
        ),
        (
            json!([
                { "type": "PAYOUT_HELD", "channel": "EMAIL", "enabled": false },
                { "type": "PAYOUT_HELD", "channel": "EMAIL", "enabled": true },
            ]),
            "preferences",
        ),
    ] {
        let body = gateway
            .graphql(
                Some(&john),
                PREFERENCES,
                json!({ "input": { "preferences": preferences } }),
            )
            .await;
        assert_eq!(outcome(&body), "BAD_USER_INPUT", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], json!(field));
    }
    let unchanged = gateway
        .ok(
            Some(&john),
            "{ me { notificationSettings { type channel enabled } } }",
            json!({}),
        )
        .await;
    let payout_email = unchanged["me"]["notificationSettings"]
        .as_array()
        .expect("settings")
        .iter()
        .find(|preference| {
            preference["type"] == json!("PAYOUT_HELD") && preference["channel"] == json!("EMAIL")
        })
        .cloned();
    assert_eq!(payout_email.expect("listed")["enabled"], json!(true));
    gateway.stop().await;
}

#[tokio::test]
async fn suspending_an_account_tells_its_owner_once_and_an_event_replayed_creates_no_duplicate() {
    let gateway = TestGateway::start().await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let li_id = me_id(&gateway, &li).await;
    let suspend = "mutation($input: UserIdInput!) { suspendUser(input: $input) { user { id } } }";
    gateway
        .ok(
            Some(&admin),
            suspend,
            json!({ "input": { "userId": li_id } }),
        )
        .await;
    // Suspending a suspended account records nothing new.
    gateway
        .ok(
            Some(&admin),
            suspend,
            json!({ "input": { "userId": li_id } }),
        )
        .await;
    gateway.deliver_notifications().await;
    let notifications = gateway
        .database
        .collection::<bson::Document>("notifications");
    let user_id = object_id(&li_id);
    let filter = bson::doc! { "user_id": user_id, "type": "account_suspended" };
    assert_eq!(
        notifications
            .count_documents(filter.clone())
            .await
            .expect("count"),
        1
    );
    let stored = notifications
        .find_one(filter.clone())
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.get_str("priority").expect("priority"), "urgent");
    let ttl = stored
        .get_datetime("expires_at")
        .expect("expires")
        .timestamp_millis()
        - stored
            .get_datetime("created_at")
            .expect("created")
            .timestamp_millis();
    assert_eq!(ttl, 30 * 24 * 60 * 60 * 1000);

    // The completion was lost (a crash after the notifications committed, as the worker sees
    // it): the event is taken again and delivered again, and nothing is duplicated.
    let events = gateway
        .database
        .collection::<bson::Document>("domain_events");
    let reopened = events
        .update_many(
            bson::doc! { "kind": "account_suspended", "recipients": user_id },
            bson::doc! { "$set": { "processed_at": null, "lease_owner": null, "lease_until": null } },
        )
        .await
        .expect("reopened");
    assert_eq!(reopened.modified_count, 1);
    assert_eq!(gateway.deliver_notifications().await, 0);
    assert_eq!(
        notifications.count_documents(filter).await.expect("count"),
        1
    );
    assert_eq!(
        events
            .count_documents(bson::doc! { "kind": "account_suspended", "processed_at": null })
            .await
            .expect("count"),
        0
    );
    gateway.stop().await;
}

/// The authorization table for every notification operation: the recipient (John) and no one
/// else, whoever asks.
#[tokio::test]
async fn every_notification_operation_for_every_kind_of_caller() {
    use crate::harness::{check_table, row};
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let organization = techcorp_id(&gateway, &john).await;
    let key = |scope: &'static str| {
        let gateway = &gateway;
        let john = john.clone();
        let organization = organization.clone();
        async move {
            gateway
                .ok(
                    Some(&john),
                    "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
                    json!({ "input": { "organizationId": organization, "name": scope, "scope": scope } }),
                )
                .await["createApiKey"]["secret"]
                .as_str()
                .expect("secret")
                .to_string()
        }
    };
    let read_write = key("READ_WRITE").await;
    let read_only = key("READ").await;
    let project = create_project(&gateway, &john, "Table").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    draft_submission(&gateway, &sarah, &job).await;
    gateway.deliver_notifications().await;
    let notification = about_job(&gateway, &john, &job).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let credentials: [Option<String>; 7] = [
        None,
        Some(john.clone()),
        Some(maria),
        Some(sarah),
        Some(admin),
        Some(read_write),
        Some(read_only),
    ];
    let callers = [
        "anonymous",
        "recipient",
        "another client",
        "tester",
        "admin",
        "read-write API key",
        "read-only API key",
    ];
    let id = move |_: usize| json!({ "id": notification });
    let input = {
        let id = id.clone();
        move |column: usize| json!({ "input": id(column) })
    };
    let rows = [
        row(
            "me.unreadNotificationCount",
            "{ me { unreadNotificationCount notifications(first: 1) { totalCount } } }",
            |_| json!({}),
            [
                "UNAUTHENTICATED",
                "OK",
                "OK",
                "OK",
                "OK",
                "FORBIDDEN",
                "FORBIDDEN",
            ],
        ),
        row(
            "node(Notification)",
            NODE,
            id.clone(),
            [
                "UNAUTHENTICATED",
                "OK",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
                "NULL",
            ],
        ),
        row(
            "markNotificationRead",
            MARK_READ,
            input.clone(),
            [
                "UNAUTHENTICATED",
                "OK",
                "NOT_FOUND",
                "NOT_FOUND",
                "NOT_FOUND",
                "FORBIDDEN",
                "FORBIDDEN",
            ],
        ),
        row(
            "markAllNotificationsRead",
            MARK_ALL,
            |_| json!({}),
            [
                "UNAUTHENTICATED",
                "OK",
                "OK",
                "OK",
                "OK",
                "FORBIDDEN",
                "FORBIDDEN",
            ],
        ),
        row(
            "updateNotificationPreferences",
            PREFERENCES,
            |_| json!({ "input": { "preferences": [{ "type": "RATING_RECEIVED", "channel": "EMAIL", "enabled": true }] } }),
            [
                "UNAUTHENTICATED",
                "OK",
                "OK",
                "OK",
                "OK",
                "FORBIDDEN",
                "FORBIDDEN",
            ],
        ),
        row(
            "dismissNotification",
            DISMISS,
            input,
            [
                "UNAUTHENTICATED",
                "OK",
                "NOT_FOUND",
                "NOT_FOUND",
                "NOT_FOUND",
                "FORBIDDEN",
                "FORBIDDEN",
            ],
        ),
    ];
    check_table(&gateway, callers, &credentials, &rows).await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_delivery_that_dies_before_committing_loses_nothing_and_its_retry_creates_one_notification(
) {
    let clock = std::sync::Arc::new(foundation::ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clock(clock.clone(), |config| {
        config.embedded_test_commands = true;
        // Only this test's own passes deliver.
        config.notification_work_interval_milliseconds = 3_600_000;
    })
    .await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Crash").await;
    let job = open_job(&gateway, &john, &project, 1).await;
    gateway.deliver_notifications().await;
    draft_submission(&gateway, &sarah, &job).await;

    // The worker takes the claim's event and its transaction fails at the insert: nothing is
    // written, and the event stays taken by the dead worker's lease.
    arm_fail_point(&gateway.database.client().clone(), "insert").await;
    assert_eq!(gateway.deliver_notifications_once().await, 0);
    assert_eq!(about_job(&gateway, &john, &job).await, Vec::<Value>::new());
    let events = gateway
        .database
        .collection::<bson::Document>("domain_events");
    let filter = bson::doc! { "kind": "seat_claimed", "job_id": object_id(&job) };
    let event = events
        .find_one(filter.clone())
        .await
        .expect("read")
        .expect("the claim recorded its event");
    assert!(event
        .get("processed_at")
        .expect("field")
        .as_null()
        .is_some());
    assert!(event.get_datetime("lease_until").is_ok(), "{event}");
    // While the lease holds, no other pass takes it.
    assert_eq!(gateway.deliver_notifications_once().await, 0);

    // Once the lease has run out, the next pass delivers it, once.
    clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(gateway.deliver_notifications_once().await, 1);
    assert_eq!(
        types(&about_job(&gateway, &john, &job).await),
        ["JOB_ASSIGNED"]
    );
    assert_eq!(gateway.deliver_notifications_once().await, 0);
    assert_eq!(about_job(&gateway, &john, &job).await.len(), 1);
    let event = events.find_one(filter).await.expect("read").expect("event");
    assert!(event.get_datetime("processed_at").is_ok(), "{event}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_day_before_the_deadline_seated_testers_who_have_not_handed_in_are_reminded_once() {
    let clock = std::sync::Arc::new(foundation::ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clock(clock.clone(), |_| {}).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Deadlines").await;
    let handed_in = open_job(&gateway, &john, &project, 1).await;
    let waiting = open_job(&gateway, &john, &project, 1).await;
    let submission = draft_submission(&gateway, &sarah, &handed_in).await;
    submit_draft(&gateway, &sarah, &submission).await;
    draft_submission(&gateway, &sarah, &waiting).await;

    // Two days before the deadline (60 days out): too early.
    clock.advance(std::time::Duration::from_secs(58 * 24 * 60 * 60));
    gateway.record_deadline_reminders().await;
    gateway.deliver_notifications().await;
    assert_eq!(
        types(&about_job(&gateway, &sarah, &waiting).await),
        ["JOB_POSTED"]
    );

    // Within the last 24 hours: the tester still working is reminded; the one who handed in
    // and the client are not.
    clock.advance(std::time::Duration::from_secs(25 * 60 * 60));
    assert!(gateway.record_deadline_reminders().await >= 2);
    gateway.deliver_notifications().await;
    let reminded = about_job(&gateway, &sarah, &waiting).await;
    assert_eq!(types(&reminded), ["DEADLINE_REMINDER", "JOB_POSTED"]);
    assert_eq!(reminded[0]["priority"], "HIGH");
    assert_eq!(
        types(&about_job(&gateway, &sarah, &handed_in).await),
        ["JOB_POSTED"]
    );
    assert_eq!(
        types(&about_job(&gateway, &john, &waiting).await),
        ["JOB_ASSIGNED"]
    );

    // Once: a second sweep reminds nobody again.
    assert_eq!(gateway.record_deadline_reminders().await, 0);
    gateway.deliver_notifications().await;
    assert_eq!(about_job(&gateway, &sarah, &waiting).await.len(), 2);
    gateway.stop().await;
}

#[tokio::test]
async fn a_revealed_rating_tells_the_rated_person_once_and_nobody_before_the_reveal() {
    use crate::ratings::{client_rating, reviewed_submission, tester_rating, RATE};
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Rated").await;
    let (job, submission) = reviewed_submission(&gateway, &john, &sarah, &project, true).await;
    let rated = |nodes: Vec<Value>| {
        nodes
            .into_iter()
            .filter(|node| node["type"] == "RATING_RECEIVED")
            .collect::<Vec<_>>()
    };

    gateway
        .ok(Some(&john), RATE, client_rating(&submission, 5))
        .await;
    gateway.deliver_notifications().await;
    // Double-blind: one side's rating tells nobody yet.
    assert_eq!(
        rated(about_job(&gateway, &sarah, &job).await),
        Vec::<Value>::new()
    );

    gateway
        .ok(Some(&sarah), RATE, tester_rating(&submission, 4))
        .await;
    gateway.deliver_notifications().await;
    let for_sarah = rated(about_job(&gateway, &sarah, &job).await);
    assert_eq!(for_sarah.len(), 1);
    assert_eq!(for_sarah[0]["message"], "You received a 5-star rating.");
    assert_eq!(
        for_sarah[0]["relatedUserId"],
        json!(me_id(&gateway, &john).await)
    );
    let for_john = rated(about_job(&gateway, &john, &job).await);
    assert_eq!(for_john.len(), 1);
    assert_eq!(for_john[0]["message"], "You received a 4-star rating.");
    assert_eq!(
        rated(about_job(&gateway, &li, &job).await),
        Vec::<Value>::new()
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_published_job_is_announced_once_to_each_qualifying_tester_or_only_to_its_invitees() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (omar, _) = gateway
        .login("omar.haddad@testers.dev", DEMO_PASSWORD)
        .await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    // A tester who has not passed qualification hears of no job.
    let newcomer = gateway.register("newcomer@testers.dev", "TESTER").await;
    let project = create_project(&gateway, &john, "Announced").await;

    // An iPhone job: Sarah owns one (and matches on browser and system too, one notification
    // all the same); Li and Omar own nothing it asks for.
    let iphone = open_job(&gateway, &john, &project, 2).await;
    // No requirement: every qualified tester.
    let anyone = open_job_for_every_device(&gateway, &john, &project, 3).await;
    // Invited only: Li alone, although Sarah's equipment would match.
    let mut invited = details(&project, 1, 5_000);
    invited["visibility"] = json!("INVITED_ONLY");
    invited["invitedTesterIds"] = json!([me_id(&gateway, &li).await]);
    let invited = gateway
        .ok(
            Some(&john),
            "mutation($input: CreateJobInput!) { createJob(input: $input) { job { id } } }",
            json!({ "input": { "details": invited, "journey": journey() } }),
        )
        .await["createJob"]["job"]["id"]
        .as_str()
        .expect("job id")
        .to_string();
    gateway
        .ok(
            Some(&john),
            PUBLISH,
            json!({ "input": { "jobId": invited } }),
        )
        .await;
    gateway.deliver_notifications().await;

    let posted = |nodes: Vec<Value>| types(&nodes);
    assert_eq!(
        posted(about_job(&gateway, &sarah, &iphone).await),
        ["JOB_POSTED"]
    );
    let announcement = &about_job(&gateway, &sarah, &iphone).await[0];
    assert_eq!(announcement["priority"], "LOW");
    assert_eq!(
        announcement["actionUrl"],
        json!(format!("/jobs/{}", object_id(&iphone).to_hex()))
    );
    assert!(announcement["message"]
        .as_str()
        .expect("message")
        .contains("Checkout on an iPhone"));
    for tester in [&sarah, &li, &omar] {
        assert_eq!(
            posted(about_job(&gateway, tester, &anyone).await),
            ["JOB_POSTED"]
        );
    }
    assert_eq!(
        posted(about_job(&gateway, &li, &invited).await),
        ["JOB_POSTED"]
    );
    for (token, job) in [
        (&li, &iphone),
        (&omar, &iphone),
        (&sarah, &invited),
        (&omar, &invited),
    ] {
        assert_eq!(about_job(&gateway, token, job).await, Vec::<Value>::new());
    }
    for other in [&john, &admin, &newcomer] {
        for job in [&iphone, &anyone, &invited] {
            assert_eq!(about_job(&gateway, other, job).await, Vec::<Value>::new());
        }
    }
    // Delivered once: another pass announces nothing again.
    gateway.deliver_notifications().await;
    assert_eq!(about_job(&gateway, &sarah, &anyone).await.len(), 1);
    gateway.stop().await;
}

#[tokio::test]
async fn reviews_tell_the_tester_and_a_waiting_submission_reminds_the_client_once_before_it_is_approved_for_both(
) {
    let clock = std::sync::Arc::new(foundation::ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clock(clock.clone(), |config| {
        config.escrow_work_interval_seconds = crate::stripe::NEVER;
        config.notification_work_interval_milliseconds = crate::stripe::NOTIFICATIONS_NEVER;
    })
    .await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Reviewed").await;
    let job = open_job_for_every_device(&gateway, &john, &project, 2).await;
    let rejected = hand_in(&gateway, &li, &job).await;
    let revised = hand_in(&gateway, &sarah, &job).await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: RejectSubmissionInput!) { rejectSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": rejected, "feedback": "The steps were not followed." } }),
        )
        .await;
    gateway
        .ok(
            Some(&john),
            "mutation($input: RequestSubmissionRevisionInput!) { requestSubmissionRevision(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": revised, "notes": "Add a video of step 2" } }),
        )
        .await;
    gateway.deliver_notifications().await;
    let for_li = about_job(&gateway, &li, &job).await;
    assert_eq!(types(&for_li), ["SUBMISSION_REJECTED", "JOB_POSTED"]);
    assert_eq!(for_li[0]["relatedSubmissionId"], json!(rejected));
    assert_eq!(
        for_li[0]["relatedUserId"],
        json!(me_id(&gateway, &john).await)
    );
    let for_sarah = about_job(&gateway, &sarah, &job).await;
    assert_eq!(types(&for_sarah), ["REVISION_REQUESTED", "JOB_POSTED"]);
    assert_eq!(for_sarah[0]["relatedSubmissionId"], json!(revised));

    // Handed in again; eight days later (two before the automatic approval) John is reminded,
    // once, of Sarah's submission and not of Li's, which he reviewed.
    submit_draft(&gateway, &sarah, &revised).await;
    gateway.deliver_notifications().await;
    let reminders = |nodes: Vec<Value>| {
        nodes
            .into_iter()
            .filter(|node| node["type"] == "REVIEW_REMINDER")
            .collect::<Vec<_>>()
    };
    clock.advance(std::time::Duration::from_secs(7 * 86_400));
    gateway.run_escrow_due_work().await;
    gateway.deliver_notifications().await;
    assert_eq!(
        reminders(about_job(&gateway, &john, &job).await),
        Vec::<Value>::new()
    );
    clock.advance(std::time::Duration::from_secs(86_400 + 60));
    gateway.run_escrow_due_work().await;
    gateway.run_escrow_due_work().await;
    gateway.deliver_notifications().await;
    let reminded = reminders(about_job(&gateway, &john, &job).await);
    assert_eq!(reminded.len(), 1, "{reminded:?}");
    assert_eq!(reminded[0]["relatedSubmissionId"], json!(revised));
    assert!(reminded[0]["message"]
        .as_str()
        .expect("message")
        .contains("approved automatically in 2 days"));

    // Two days on, the platform approves it: Sarah and John both hear of it.
    clock.advance(std::time::Duration::from_secs(2 * 86_400));
    let report = gateway.run_escrow_due_work().await;
    assert_eq!(report.auto_approved, [object_id(&revised)]);
    gateway.deliver_notifications().await;
    let auto = |nodes: Vec<Value>| {
        nodes
            .into_iter()
            .filter(|node| node["type"] == "SUBMISSION_AUTO_APPROVED")
            .count()
    };
    assert_eq!(auto(about_job(&gateway, &sarah, &job).await), 1);
    assert_eq!(auto(about_job(&gateway, &john, &job).await), 1);
    assert_eq!(
        types(&about_job(&gateway, &li, &job).await),
        ["SUBMISSION_REJECTED", "JOB_POSTED"]
    );
    for stranger in [&maria, &admin] {
        assert_eq!(
            about_job(&gateway, stranger, &job).await,
            Vec::<Value>::new()
        );
    }
    gateway.stop().await;
}
