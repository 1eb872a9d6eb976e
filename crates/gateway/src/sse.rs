//! `POST /graphql/stream`: GraphQL over Server-Sent Events in graphql-sse's "distinct
//! connections" mode, for clients behind proxies that block WebSockets. One request carries one
//! subscription; the answer is a `text/event-stream` of `next` events (each a GraphQL response)
//! ending with `complete`.
//!
//! The same path as HTTP and `/graphql/ws`: credentials from `Authorization`, the document
//! admitted by `graphql::admit` (limits, persisted documents, variables), subscriptions only,
//! errors with their codes, the per-user connection cap (429), keep-alive comments, and the
//! credentials watched as on the socket: when they lapse, a last `next` with an
//! `UNAUTHENTICATED` error, then `complete`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, StreamExt};
use serde_json::json;

use crate::graphql_http::{parse_post_body, refusal, ResponseMedia};
use crate::http::{bearer_token, AppState, RequestId};

fn event(name: &str, response: &async_graphql::Response) -> Event {
    let data = serde_json::to_string(response).unwrap_or_else(|_| "{}".to_string());
    Event::default().event(name).data(data)
}

fn error_response(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code, "requestId": request_id } }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Serves one subscription as an event stream.
pub async fn subscribe(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = request_id.0;
    if !state.origin_allowed(&headers) {
        return error_response(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "this origin may not open /graphql/stream (CORS_ALLOWED_ORIGINS)",
            &request_id,
        );
    }
    let mut request = match parse_post_body(&body) {
        Ok(request) => request,
        Err(malformed) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                ResponseMedia::Json,
                malformed.field,
                &malformed.message,
                &request_id,
            )
        }
    };
    let bearer = bearer_token(&headers).map(str::to_string);
    let viewer = graphql::authenticate(&state.services, bearer.as_deref()).await;
    if let graphql::Viewer::Rejected(reason) = &viewer {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            reason,
            &request_id,
        );
    }
    let user_id = match &viewer {
        graphql::Viewer::Authenticated(principal) => principal.user_id(),
        _ => None,
    };
    let slot = match user_id {
        Some(user_id) => match state.live.admit(user_id) {
            Some(slot) => Some(slot),
            None => {
                return error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    "too many subscription connections: close another first",
                    &request_id,
                )
            }
        },
        None => None,
    };
    if let Err(refused) = graphql::admit(&state.api, &mut request, &viewer, &request_id) {
        return (StatusCode::BAD_REQUEST, axum::Json(*refused)).into_response();
    }
    let operation_name = request.operation_name.clone();
    let operation = request
        .parsed_query()
        .ok()
        .and_then(|document| graphql::operation_type(document, operation_name.as_deref()));
    if operation != Some(OperationType::Subscription) {
        return refusal(
            StatusCode::BAD_REQUEST,
            ResponseMedia::Json,
            "query",
            "only subscriptions are served on /graphql/stream; send queries and mutations to POST /graphql",
            &request_id,
        );
    }
    let client_ip = crate::http::client_ip(peer.ip(), &headers, &state.trusted_proxies);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let meta = graphql::RequestMeta {
        request_id: request_id.clone(),
        client_ip,
        user_agent,
        idempotency_key: None,
    };
    let request =
        graphql::loaders::install_for_stream(request.data(viewer).data(meta), &state.services);
    let finish_id = request_id.clone();
    let responses = state
        .api
        .schema
        .execute_stream(request)
        .map(move |response| graphql::finish_response(response, &finish_id));
    let keep_alive = state.live.keep_alive;
    let services = state.services.clone();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        // Held while the stream is served: the connection's place under the cap.
        let _slot = slot;
        let lapse = async move {
            match bearer {
                Some(bearer) => {
                    crate::live_connections::credentials_lapse(
                        services, bearer, user_id, keep_alive,
                    )
                    .await
                    .0
                }
                None => futures_util::future::pending().await,
            }
        };
        futures_util::pin_mut!(responses);
        futures_util::pin_mut!(lapse);
        loop {
            tokio::select! {
                response = responses.next() => {
                    let Some(response) = response else { break };
                    if sender.send(event("next", &response)).await.is_err() {
                        return;
                    }
                }
                reason = &mut lapse => {
                    let error: async_graphql::Error =
                        graphql::ApiError::Unauthenticated(reason).into();
                    let response = graphql::finish_response(
                        async_graphql::Response::from_errors(vec![
                            error.into_server_error(async_graphql::Pos::default()),
                        ]),
                        &request_id,
                    );
                    let _ = sender.send(event("next", &response)).await;
                    break;
                }
                // The client went away: stop executing.
                _ = sender.closed() => return,
            }
        }
        let _ = sender
            .send(Event::default().event("complete").data(""))
            .await;
    });
    let events = stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), receiver))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keep_alive).text(""))
        .into_response()
}
