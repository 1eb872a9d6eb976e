//! `/graphql/ws` attacks: queries and mutations over the socket (which would bypass the HTTP
//! path's request ids, masking and throttles), a cross-site page's socket, and a bad token at
//! `connection_init`; each refused, with nothing changed.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::TestGateway;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(
    gateway: &TestGateway,
    origin: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!(
        "{}/graphql/ws",
        gateway.base_url.replacen("http://", "ws://", 1)
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .expect("sent");
}

/// The next text or close message, within 10 s (pings do not extend the wait).
async fn next(socket: &mut Socket) -> Message {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("the server answers")
            .expect("the socket is open")
            .expect("a message");
        if matches!(message, Message::Text(_) | Message::Close(_)) {
            return message;
        }
    }
}

fn text(message: &Message) -> Value {
    match message {
        Message::Text(text) => serde_json::from_str(text.as_str()).expect("JSON"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test]
async fn queries_and_mutations_over_the_socket_are_refused_and_change_nothing() {
    let gateway = TestGateway::start().await;
    let mut socket = open(&gateway, None).await.expect("upgraded");
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(text(&next(&mut socket).await)["type"], "connection_ack");

    send(
        &mut socket,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ __typename }" } }),
    )
    .await;
    let refused = text(&next(&mut socket).await);
    assert_eq!(refused["id"], "1");
    let errors = if refused["type"] == "error" {
        refused["payload"].clone()
    } else {
        refused["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    assert!(refused["payload"].get("data").is_none() || refused["payload"]["data"].is_null());

    let email = "ws-register@example.com";
    send(
        &mut socket,
        json!({ "id": "2", "type": "subscribe", "payload": {
            "query": "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
            "variables": { "input": { "email": email, "password": "Correct-Horse-Battery-9",
                "fullName": "Socket", "role": "TESTER" } } } }),
    )
    .await;
    // async-graphql follows an `error` with a `complete` for the same id; skip it.
    let mut refused = text(&next(&mut socket).await);
    if refused["id"] == "1" {
        assert_eq!(refused["type"], "complete", "{refused}");
        refused = text(&next(&mut socket).await);
    }
    assert_eq!(refused["id"], "2");
    let users = gateway
        .database
        .collection::<bson::Document>("users")
        .count_documents(bson::doc! { "email": email })
        .await
        .expect("count");
    assert_eq!(users, 0, "the mutation did not run");
    gateway.stop().await;
}

#[tokio::test]
async fn a_socket_from_a_foreign_origin_is_refused() {
    let gateway = TestGateway::start_with(|config| {
        config.cors_allowed_origins = vec!["https://app.peertest.io".to_string()];
    })
    .await;
    match open(&gateway, Some("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a foreign origin opened the socket"),
    }
    let allowed = open(&gateway, Some("https://app.peertest.io")).await;
    assert!(allowed.is_ok(), "the allowlisted origin may connect");
    gateway.stop().await;
}

#[tokio::test]
async fn a_bad_token_at_connection_init_closes_the_socket_with_4403() {
    let gateway = TestGateway::start().await;
    let mut socket = open(&gateway, None).await.expect("upgraded");
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "Authorization": "Bearer not-a-token" } }),
    )
    .await;
    match next(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected a 4403 close, got {other:?}"),
    }
    gateway.stop().await;
}

#[tokio::test]
async fn a_message_larger_than_a_request_body_may_be_closes_the_socket_with_1009() {
    let gateway = TestGateway::start_with(|config| config.max_body_bytes = 16 * 1024).await;
    let mut socket = open(&gateway, None).await.expect("upgraded");
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(text(&next(&mut socket).await)["type"], "connection_ack");
    // A subscribe message padded past the limit: refused whole, the socket closed.
    let padding = "x".repeat(17 * 1024);
    let _ = socket
        .send(Message::Text(
            json!({ "id": "1", "type": "subscribe", "payload": {
                "query": format!("subscription {{ notificationAdded {{ id }} }} # {padding}") } })
            .to_string()
            .into(),
        ))
        .await;
    match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1009),
        // The server may close the connection under the frame it refused before its close
        // frame is read.
        Ok(None | Some(Err(_))) => {}
        other => panic!("expected the socket closed, got {other:?}"),
    }
    // A socket of messages within the limit still works.
    let mut socket = open(&gateway, None).await.expect("upgraded");
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(text(&next(&mut socket).await)["type"], "connection_ack");
    gateway.stop().await;
}
