//! Live subscriptions against the real gateway: two instances on one store (a change made
//! through instance A reaches a subscriber on instance B, over graphql-transport-ws and the
//! legacy graphql-ws), a reconnect with a cursor that gets exactly what it missed and then live
//! ones, the unread count following reads, and sockets closed with 4401 when their credentials
//! lapse (session revoked, user suspended, token expired), 4403 for a wrong token, 4429 past the
//! per-user cap.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, open_job};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const ADDED: &str = "subscription($after: String) { notificationAdded(after: $after) { cursor type relatedJobId } }";
const CLAIM: &str = "mutation($input: JobIdInput!) { claimJob(input: $input) { job { id } } }";

/// A gateway whose live connections re-check credentials and ping every second and whose
/// worker delivers events every 50 ms.
async fn live_gateway(adjust: impl FnOnce(&mut gateway::Config)) -> TestGateway {
    TestGateway::start_with(|config| {
        config.subscription_keep_alive_seconds = 1;
        config.notification_work_interval_milliseconds = 50;
        adjust(config);
    })
    .await
}

async fn open(gateway: &TestGateway, protocol: &str) -> Socket {
    let url = format!(
        "{}/graphql/ws",
        gateway.base_url.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().expect("header"));
    tokio_tungstenite::connect_async(request)
        .await
        .expect("upgraded")
        .0
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("sent");
}

/// The next text or close message within 15 s, skipping pings and graphql-ws keep-alives (which
/// do not extend the wait: a message that never comes fails the test instead of hanging it).
async fn next(socket: &mut Socket) -> Message {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("the server answers in time")
            .expect("the socket is open")
            .expect("a message");
        match &message {
            Message::Text(text) if text.as_str() == r#"{"type":"ka"}"# => continue,
            Message::Text(_) | Message::Close(_) => return message,
            _ => continue,
        }
    }
}

fn text(message: &Message) -> Value {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

fn close_code(message: &Message) -> u16 {
    match message {
        Message::Close(Some(frame)) => u16::from(frame.code),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Opens a graphql-transport-ws socket as `token` and subscribes `query` as operation "1".
async fn subscribe(gateway: &TestGateway, token: &str, query: &str, variables: Value) -> Socket {
    let mut socket = open(gateway, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(text(&next(&mut socket).await)["type"], "connection_ack");
    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } }),
    )
    .await;
    socket
}

/// The payload of the next `next` message.
async fn next_data(socket: &mut Socket) -> Value {
    let message = text(&next(socket).await);
    assert_eq!(message["type"], "next", "{message}");
    assert!(message["payload"].get("errors").is_none(), "{message}");
    message["payload"]["data"].clone()
}

/// Publishes `count` one-seat jobs of john's and returns their ids.
async fn jobs(gateway: &TestGateway, john: &str, count: usize) -> Vec<String> {
    let project = create_project(gateway, john, "Live").await;
    let mut jobs = Vec::new();
    for _ in 0..count {
        jobs.push(open_job(gateway, john, &project, 1).await);
    }
    jobs
}

async fn claim(gateway: &TestGateway, tester: &str, job: &str) {
    gateway
        .ok(Some(tester), CLAIM, json!({ "input": { "jobId": job } }))
        .await;
}

#[tokio::test]
async fn a_claim_made_through_instance_a_reaches_subscribers_on_instance_b_over_both_websocket_protocols(
) {
    let a = live_gateway(|_| {}).await;
    let uri = a.mongodb_uri();
    let b = live_gateway(|config| {
        config.mongodb_uri = Some(uri);
        config.instance_name = "instance-b".to_string();
    })
    .await;
    let (john_a, _) = a.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = a.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (john_b, _) = b.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let jobs = jobs(&a, &john_a, 1).await;

    let mut modern = subscribe(&b, &john_b, ADDED, json!({})).await;
    let mut legacy = open(&b, "graphql-ws").await;
    send(
        &mut legacy,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {john_b}") } }),
    )
    .await;
    assert_eq!(text(&next(&mut legacy).await)["type"], "connection_ack");
    send(
        &mut legacy,
        json!({ "id": "7", "type": "start", "payload": { "query": ADDED } }),
    )
    .await;
    // Both subscriptions are registered before the change: neither protocol acknowledges a
    // subscription, so a short pause lets the server take them.
    tokio::time::sleep(Duration::from_millis(300)).await;

    claim(&a, &sarah, &jobs[0]).await;
    let received = next_data(&mut modern).await;
    assert_eq!(received["notificationAdded"]["type"], "JOB_ASSIGNED");
    assert_eq!(
        received["notificationAdded"]["relatedJobId"],
        json!(jobs[0])
    );
    let message = text(&next(&mut legacy).await);
    assert_eq!(message["type"], "data", "{message}");
    assert_eq!(message["id"], "7");
    assert_eq!(
        message["payload"]["data"]["notificationAdded"]["relatedJobId"],
        json!(jobs[0])
    );
    // Sarah (who claimed) hears nothing: a subscription of hers on B stays silent.
    let (sarah_b, _) = b.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let mut sarah_socket = subscribe(&b, &sarah_b, ADDED, json!({})).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(700), next(&mut sarah_socket))
            .await
            .is_err(),
        "no notification for the tester"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_subscriber_reconnecting_with_its_cursor_gets_exactly_the_five_it_missed_in_order_then_live_ones(
) {
    // Only this test's passes deliver, so the five are numbered in the order they happened (two
    // workers racing may number one user's notifications out of event order).
    let gateway = live_gateway(|config| {
        config.notification_work_interval_milliseconds = crate::stripe::NOTIFICATIONS_NEVER;
    })
    .await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let jobs = jobs(&gateway, &john, 7).await;
    gateway.deliver_notifications().await;

    let mut socket = subscribe(&gateway, &john, ADDED, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    claim(&gateway, &sarah, &jobs[0]).await;
    gateway.deliver_notifications().await;
    let first = next_data(&mut socket).await;
    assert_eq!(first["notificationAdded"]["relatedJobId"], json!(jobs[0]));
    let cursor = first["notificationAdded"]["cursor"].clone();
    socket.close(None).await.expect("closed");

    for job in &jobs[1..6] {
        claim(&gateway, &sarah, job).await;
    }
    gateway.deliver_notifications().await;

    let mut socket = subscribe(&gateway, &john, ADDED, json!({ "after": cursor })).await;
    let mut replayed = Vec::new();
    for _ in 0..5 {
        replayed.push(next_data(&mut socket).await["notificationAdded"]["relatedJobId"].clone());
    }
    assert_eq!(
        replayed,
        jobs[1..6].iter().map(|job| json!(job)).collect::<Vec<_>>()
    );
    claim(&gateway, &sarah, &jobs[6]).await;
    gateway.deliver_notifications().await;
    let live = next_data(&mut socket).await;
    assert_eq!(live["notificationAdded"]["relatedJobId"], json!(jobs[6]));
    // Nothing twice at the seam.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), next(&mut socket))
            .await
            .is_err(),
        "no duplicate after the live one"
    );
    // A cursor that is not one is refused, naming the argument.
    let mut refused = subscribe(
        &gateway,
        &john,
        ADDED,
        json!({ "after": "bm90LWEtY3Vyc29y" }),
    )
    .await;
    let message = text(&next(&mut refused).await);
    assert_eq!(message["payload"]["data"], Value::Null, "{message}");
    let error = &message["payload"]["errors"][0]["extensions"];
    assert_eq!(error["code"], "BAD_USER_INPUT");
    assert_eq!(error["field"], "after");
    gateway.stop().await;
}

#[tokio::test]
async fn the_unread_count_is_pushed_now_and_again_when_notifications_arrive_or_are_read() {
    let gateway = live_gateway(|_| {}).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    gateway
        .ok(
            Some(&john),
            "mutation { markAllNotificationsRead(input: {}) { unreadCount } }",
            json!({}),
        )
        .await;
    let jobs = jobs(&gateway, &john, 1).await;
    gateway.deliver_notifications().await;
    let mut socket = subscribe(
        &gateway,
        &john,
        "subscription { unreadNotificationCountChanged }",
        json!({}),
    )
    .await;
    assert_eq!(
        next_data(&mut socket).await["unreadNotificationCountChanged"],
        0
    );
    claim(&gateway, &sarah, &jobs[0]).await;
    assert_eq!(
        next_data(&mut socket).await["unreadNotificationCountChanged"],
        1
    );
    gateway
        .ok(
            Some(&john),
            "mutation { markAllNotificationsRead(input: {}) { unreadCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        next_data(&mut socket).await["unreadNotificationCountChanged"],
        0
    );
    gateway.stop().await;
}

#[tokio::test]
async fn revoking_the_session_or_suspending_the_user_closes_the_socket_with_4401() {
    let gateway = live_gateway(|_| {}).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;

    let mut socket = subscribe(&gateway, &sarah, ADDED, json!({})).await;
    gateway
        .ok(
            Some(&sarah),
            "mutation { logout(input: {}) { ok } }",
            json!({}),
        )
        .await;
    assert_eq!(close_code(&next(&mut socket).await), 4401);

    let mut socket = subscribe(&gateway, &li, ADDED, json!({})).await;
    let li_id = gateway.ok(Some(&li), "{ me { id } }", json!({})).await["me"]["id"].clone();
    gateway
        .ok(
            Some(&admin),
            "mutation($input: UserIdInput!) { suspendUser(input: $input) { user { id } } }",
            json!({ "input": { "userId": li_id } }),
        )
        .await;
    // The suspension notice may arrive first; then the socket closes.
    let mut message = next(&mut socket).await;
    if matches!(message, Message::Text(_)) {
        assert_eq!(
            text(&message)["payload"]["data"]["notificationAdded"]["type"],
            "ACCOUNT_SUSPENDED"
        );
        message = next(&mut socket).await;
    }
    assert_eq!(close_code(&message), 4401);
    gateway.stop().await;
}

#[tokio::test]
async fn an_expiring_access_token_closes_the_socket_with_4401() {
    let identity_clock = Arc::new(foundation::ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clocks(
        Arc::new(foundation::SystemClock),
        identity_clock.clone(),
        |config| config.subscription_keep_alive_seconds = 1,
    )
    .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let mut socket = subscribe(&gateway, &sarah, ADDED, json!({})).await;
    // Still open across a check while the token holds (the demo's job announcements may
    // arrive meanwhile: data, never a close).
    let checked = tokio::time::Instant::now() + Duration::from_millis(1_500);
    while let Ok(message) = tokio::time::timeout_at(checked, next(&mut socket)).await {
        assert!(matches!(message, Message::Text(_)), "{message:?}");
    }
    identity_clock.advance(Duration::from_secs(24 * 60 * 60));
    let mut message = next(&mut socket).await;
    while matches!(message, Message::Text(_)) {
        message = next(&mut socket).await;
    }
    assert_eq!(close_code(&message), 4401);
    gateway.stop().await;
}

#[tokio::test]
async fn a_wrong_token_gets_4403_and_no_data_and_a_user_past_the_cap_gets_4429() {
    let gateway = live_gateway(|config| config.subscription_connections_per_user = 2).await;
    let mut socket = open(&gateway, "graphql-transport-ws").await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not-a-token" } }),
    )
    .await;
    assert_eq!(close_code(&next(&mut socket).await), 4403);

    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let _first = subscribe(&gateway, &john, ADDED, json!({})).await;
    let second = subscribe(&gateway, &john, ADDED, json!({})).await;
    let mut third = open(&gateway, "graphql-transport-ws").await;
    send(
        &mut third,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {john}") } }),
    )
    .await;
    assert_eq!(close_code(&next(&mut third).await), 4429);
    // Closing one frees its place.
    drop(second);
    let mut freed = None;
    for _ in 0..50 {
        let mut again = open(&gateway, "graphql-transport-ws").await;
        send(
            &mut again,
            json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {john}") } }),
        )
        .await;
        let answer = next(&mut again).await;
        if matches!(answer, Message::Text(_)) {
            freed = Some(text(&answer)["type"].clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(freed, Some(json!("connection_ack")));
    gateway.stop().await;
}

#[tokio::test]
async fn job_changed_is_checked_at_subscribe_and_for_every_change() {
    let gateway = live_gateway(|_| {}).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let project = create_project(&gateway, &john, "Watched").await;
    let job = open_job(&gateway, &john, &project, 2).await;
    let watch = "subscription($id: ID!) { jobChanged(id: $id) { id status seatsRemaining } }";

    // Another organization's client may not see the job: refused at subscribe.
    let mut refused = subscribe(&gateway, &maria, watch, json!({ "id": job })).await;
    let message = text(&next(&mut refused).await);
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{message}"
    );

    let mut watching_tester = subscribe(&gateway, &li, watch, json!({ "id": job })).await;
    let mut seated_tester = subscribe(&gateway, &sarah, watch, json!({ "id": job })).await;
    let mut client = subscribe(&gateway, &john, watch, json!({ "id": job })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    claim(&gateway, &sarah, &job).await;
    for socket in [&mut watching_tester, &mut seated_tester, &mut client] {
        let seen = next_data(socket).await;
        assert_eq!(seen["jobChanged"]["seatsRemaining"], 1, "{seen}");
        assert_eq!(seen["jobChanged"]["status"], "OPEN");
    }

    // Cancelled, the job is no longer listed: the tester without a seat loses sight of it and
    // is told so once; the seated tester and the client see the change.
    gateway
        .ok(
            Some(&john),
            "mutation($input: JobMoneyInput!) { cancelJob(input: $input) { job { id } } }",
            json!({ "input": { "jobId": job } }),
        )
        .await;
    let message = text(&next(&mut watching_tester).await);
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{message}"
    );
    let done = text(&next(&mut watching_tester).await);
    assert_eq!(done, json!({ "id": "1", "type": "complete" }));
    for socket in [&mut seated_tester, &mut client] {
        let mut status = Value::Null;
        // A cancellation may take more than one write (the job, then its money): the last
        // change read shows the cancelled job.
        while status != json!("CANCELLED") {
            status = next_data(socket).await["jobChanged"]["status"].clone();
        }
    }
    gateway.stop().await;
}

#[tokio::test]
async fn each_job_change_is_resolved_afresh_down_to_its_submissions() {
    let gateway = live_gateway(|_| {}).await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Watched closely").await;
    let job = open_job(&gateway, &john, &project, 2).await;
    let mut client = subscribe(
        &gateway,
        &john,
        "subscription($id: ID!) { jobChanged(id: $id) { seatsTaken submissionCount
            approvedSubmissionCount submissions { totalCount edges { node { status } } } } }",
        json!({ "id": job }),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The claim's change loads the (empty) submission list; the later changes must not be
    // answered from what that first one read.
    let submission = crate::marketplace::hand_in(&gateway, &sarah, &job).await;
    let mut seen = next_data(&mut client).await;
    assert_eq!(seen["jobChanged"]["seatsTaken"], 1, "{seen}");
    while seen["jobChanged"]["submissionCount"] != 1 {
        seen = next_data(&mut client).await;
    }
    assert_eq!(seen["jobChanged"]["submissions"]["totalCount"], 1, "{seen}");
    assert_eq!(
        seen["jobChanged"]["submissions"]["edges"][0]["node"]["status"], "SUBMITTED",
        "{seen}"
    );

    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { id } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;
    while seen["jobChanged"]["approvedSubmissionCount"] != 1 {
        seen = next_data(&mut client).await;
    }
    assert_eq!(
        seen["jobChanged"]["submissions"]["edges"][0]["node"]["status"], "APPROVED",
        "{seen}"
    );
    gateway.stop().await;
}

/// Reads server-sent events from `response` until `count` `next` events arrived (or the stream
/// ended); returns (event name, data) pairs, keep-alive comments left out.
async fn sse_events(response: &mut reqwest::Response, count: usize) -> Vec<(String, Value)> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    // Keep-alive comments do not extend the wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    name = value.trim().to_string();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim());
                }
            }
            if name.is_empty() {
                continue;
            }
            let data = serde_json::from_str(&data).unwrap_or(Value::Null);
            let done = name == "complete";
            events.push((name, data));
            if done || events.iter().filter(|(name, _)| name == "next").count() == count {
                return events;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("the server sends in time")
            .expect("the stream is readable");
        match chunk {
            Some(bytes) => buffer.push_str(&String::from_utf8_lossy(&bytes)),
            None => return events,
        }
    }
}

async fn sse(gateway: &TestGateway, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = gateway
        .http
        .post(format!("{}/graphql/stream", gateway.base_url))
        .header("accept", "text/event-stream")
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string());
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.send().await.expect("answered")
}

#[tokio::test]
async fn a_claim_made_through_instance_a_reaches_an_sse_subscriber_on_instance_b() {
    let a = live_gateway(|_| {}).await;
    let uri = a.mongodb_uri();
    let b = live_gateway(|config| {
        config.mongodb_uri = Some(uri);
        config.instance_name = "instance-b".to_string();
    })
    .await;
    let (john_a, _) = a.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = a.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (john_b, _) = b.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let jobs = jobs(&a, &john_a, 1).await;

    let mut stream = sse(&b, Some(&john_b), ADDED).await;
    assert_eq!(stream.status(), 200);
    assert_eq!(
        stream.headers()["content-type"].to_str().expect("type"),
        "text/event-stream"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    claim(&a, &sarah, &jobs[0]).await;
    let events = sse_events(&mut stream, 1).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "next");
    assert_eq!(
        events[0].1["data"]["notificationAdded"]["relatedJobId"],
        json!(jobs[0])
    );

    // The same rules as the other transports: no queries, no bad tokens, no API keys' lists.
    let query = sse(&b, Some(&john_b), "{ me { id } }").await;
    assert_eq!(query.status(), 400);
    let body: Value = query.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["field"], "query");
    let refused = sse(&b, Some("not-a-token"), ADDED).await;
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn an_sse_subscription_ends_with_unauthenticated_when_its_session_is_revoked() {
    let gateway = live_gateway(|_| {}).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let mut stream = sse(&gateway, Some(&sarah), ADDED).await;
    assert_eq!(stream.status(), 200);
    gateway
        .ok(
            Some(&sarah),
            "mutation { logout(input: {}) { ok } }",
            json!({}),
        )
        .await;
    let events = sse_events(&mut stream, 1).await;
    assert_eq!(events[0].0, "next", "{events:?}");
    assert_eq!(
        events[0].1["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    let rest = sse_events(&mut stream, 1).await;
    assert_eq!(
        rest.first().map(|(name, _)| name.as_str()),
        Some("complete")
    );
    gateway.stop().await;
}

/// A Node client process (graphql-ws or graphql-sse), killed when dropped.
struct NodeClient(std::process::Child);

impl Drop for NodeClient {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// graphql-ws (the reference client, installed by `cargo xtask node`) subscribed to `query` as
/// `bearer`; its stdout lines arrive on the returned channel.
fn graphql_ws_client(
    gateway: &TestGateway,
    bearer: &str,
    query: &str,
    count: usize,
) -> (NodeClient, tokio::sync::mpsc::Receiver<String>) {
    let url = format!(
        "{}/graphql/ws",
        gateway.base_url.replacen("http://", "ws://", 1)
    );
    node_client("subscribe.cjs", &url, bearer, query, count)
}

/// graphql-sse, the reference GraphQL over Server-Sent Events client, subscribed to `query` on
/// `gateway`'s `/graphql/stream` in distinct-connections mode; its JSON lines arrive on the
/// receiver (see `tests/graphql-js/sse-subscribe.cjs`).
fn graphql_sse_client(
    gateway: &TestGateway,
    bearer: &str,
    query: &str,
    count: usize,
) -> (NodeClient, tokio::sync::mpsc::Receiver<String>) {
    let url = format!("{}/graphql/stream", gateway.base_url);
    node_client("sse-subscribe.cjs", &url, bearer, query, count)
}

/// Runs one of the `tests/graphql-js` client scripts; its standard output, line by line, arrives
/// on the receiver.
fn node_client(
    script: &str,
    url: &str,
    bearer: &str,
    query: &str,
    count: usize,
) -> (NodeClient, tokio::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let modules = std::env::var("GRAPHQL_JS_MODULES").expect(
        "GRAPHQL_JS_MODULES is not set: run `cargo xtask node` (or `cargo xtask test`) and export what it prints",
    );
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("graphql-js")
        .join(script);
    let mut child = std::process::Command::new("node")
        .arg(script)
        .arg(url)
        .arg(bearer)
        .arg(query)
        .arg("{}")
        .arg(count.to_string())
        .env("GRAPHQL_JS_MODULES", modules)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.blocking_send(line).is_err() {
                break;
            }
        }
    });
    (NodeClient(child), receiver)
}

async fn next_line(lines: &mut tokio::sync::mpsc::Receiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(20), lines.recv())
        .await
        .expect("graphql-ws reports in time")
        .expect("graphql-ws is running")
}

#[tokio::test]
async fn the_reference_graphql_ws_client_receives_a_claim_made_on_the_other_instance_and_is_closed_on_logout(
) {
    let a = live_gateway(|_| {}).await;
    let uri = a.mongodb_uri();
    let b = live_gateway(|config| {
        config.mongodb_uri = Some(uri);
        config.instance_name = "instance-b".to_string();
    })
    .await;
    let (john_a, _) = a.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = a.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (john_b, _) = b.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let jobs = jobs(&a, &john_a, 1).await;

    let (child, mut lines) = graphql_ws_client(&b, &john_b, ADDED, 2);
    assert_eq!(next_line(&mut lines).await, "READY");
    claim(&a, &sarah, &jobs[0]).await;
    let line: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON line");
    assert_eq!(
        line["next"]["data"]["notificationAdded"]["relatedJobId"],
        json!(jobs[0]),
        "{line}"
    );
    assert_eq!(
        line["next"]["data"]["notificationAdded"]["type"],
        "JOB_ASSIGNED"
    );
    // Signing out on instance B revokes the session: graphql-ws sees the socket closed with 4401.
    b.ok(
        Some(&john_b),
        "mutation { logout(input: {}) { ok } }",
        json!({}),
    )
    .await;
    let line: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON line");
    assert_eq!(line, json!({ "closed": 4401 }));
    drop(child);

    // A wrong token: graphql-ws is refused with 4403 and receives no data.
    let (child, mut lines) = graphql_ws_client(&b, "not-a-token", ADDED, 1);
    let line: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON line");
    assert_eq!(line, json!({ "closed": 4403 }));
    drop(child);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn the_reference_graphql_sse_client_receives_a_claim_made_on_the_other_instance_and_is_ended_on_logout(
) {
    let a = live_gateway(|_| {}).await;
    let uri = a.mongodb_uri();
    let b = live_gateway(|config| {
        config.mongodb_uri = Some(uri);
        config.instance_name = "instance-b".to_string();
    })
    .await;
    let (john_a, _) = a.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = a.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (john_b, _) = b.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let jobs = jobs(&a, &john_a, 1).await;

    let (child, mut lines) = graphql_sse_client(&b, &john_b, ADDED, 3);
    assert_eq!(next_line(&mut lines).await, "READY");
    claim(&a, &sarah, &jobs[0]).await;
    let line: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON line");
    assert_eq!(
        line["next"]["data"]["notificationAdded"]["relatedJobId"],
        json!(jobs[0]),
        "{line}"
    );
    // Signing out on instance B revokes the session: the stream's last result says so, then
    // the server completes it.
    b.ok(
        Some(&john_b),
        "mutation { logout(input: {}) { ok } }",
        json!({}),
    )
    .await;
    let line: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON line");
    assert_eq!(
        line["next"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{line}"
    );
    let line: Value = serde_json::from_str(&next_line(&mut lines).await).expect("JSON line");
    assert_eq!(line, json!({ "complete": true }));
    drop(child);

    // A wrong token: graphql-sse reports the refusal and receives no data.
    let (child, mut lines) = graphql_sse_client(&b, "not-a-token", ADDED, 1);
    let mut line = next_line(&mut lines).await;
    if line == "READY" {
        line = next_line(&mut lines).await;
    }
    let line: Value = serde_json::from_str(&line).expect("JSON line");
    assert!(line.get("error").is_some(), "{line}");
    assert!(line.get("next").is_none(), "{line}");
    drop(child);
    b.stop().await;
    a.stop().await;
}

/// When instance `name` last saved its change stream's resume token, polling up to 10 s for one
/// later than `after`.
async fn token_saved_after(
    gateway: &TestGateway,
    name: &str,
    after: Option<bson::DateTime>,
) -> Option<bson::DateTime> {
    let tokens = gateway
        .database
        .collection::<bson::Document>("change_stream_resume_tokens");
    for _ in 0..100 {
        let saved = tokens
            .find_one(bson::doc! { "_id": name })
            .await
            .expect("read")
            .and_then(|token| token.get_datetime("saved_at").ok().copied());
        if saved.is_some() && saved > after {
            return saved;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[tokio::test]
async fn a_restarted_instance_resumes_its_change_stream_where_it_stopped() {
    let a = live_gateway(|_| {}).await;
    let uri = a.mongodb_uri();
    let start_b = || {
        let uri = uri.clone();
        live_gateway(move |config| {
            config.mongodb_uri = Some(uri);
            config.instance_name = "instance-b".to_string();
        })
    };
    let (john, _) = a.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = a.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let jobs = jobs(&a, &john, 2).await;

    let b = start_b().await;
    claim(&a, &sarah, &jobs[0]).await;
    let first = token_saved_after(&a, "instance-b", None)
        .await
        .expect("instance B saved where its stream was");
    b.stop().await;

    // A notification is created while B is down; nothing happens after B is back.
    claim(&a, &sarah, &jobs[1]).await;
    a.deliver_notifications().await;
    let b = start_b().await;
    // B resumed from its token, so it read the change made while it was down (and saved past
    // it); a stream opened "from now" would have read nothing and saved nothing.
    assert!(
        token_saved_after(&a, "instance-b", Some(first))
            .await
            .is_some(),
        "instance B did not resume from its stored token"
    );
    b.stop().await;

    // The control: without a stored token, a restart starts from now and, with nothing
    // happening, has nothing to read or save.
    a.database
        .collection::<bson::Document>("change_stream_resume_tokens")
        .delete_one(bson::doc! { "_id": "instance-b" })
        .await
        .expect("deleted");
    let b = start_b().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let saved = a
        .database
        .collection::<bson::Document>("change_stream_resume_tokens")
        .find_one(bson::doc! { "_id": "instance-b" })
        .await
        .expect("read");
    assert_eq!(saved, None);
    b.stop().await;
    a.stop().await;
}
