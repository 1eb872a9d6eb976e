//! `/graphql/ws`: subscriptions only, over graphql-transport-ws or the legacy graphql-ws
//! (subscriptions-transport-ws) subprotocol, behind the same credentials, limits, error codes and
//! client address as `POST /graphql`, and refused to browser pages from origins outside the
//! allowlist.
//!
//! Queries and mutations are refused there: they belong to the HTTP path, where every request
//! has its own id, span and throttling. Credentials come in the `connection_init` payload
//! (`{"Authorization": "Bearer …"}`); invalid ones close the socket with 4403 (Forbidden), as the
//! protocol says. Once accepted, the credentials are watched (`live_connections`): the socket
//! closes with 4401 when the access token expires, its session is revoked or its user is
//! suspended. A user holds at most `SUBSCRIPTION_CONNECTIONS_PER_USER` sockets and streams
//! (4429 past it); pings keep idle sockets alive through proxies.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use async_graphql::http::{WebSocketProtocols, WsMessage};
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::BoxStream;
use futures_util::{future, SinkExt, StreamExt};

use crate::http::{AppState, RequestId};

/// The subprotocol served by preference.
const PROTOCOL: &str = "graphql-transport-ws";
/// The legacy subprotocol (Apollo's subscriptions-transport-ws), still spoken by older clients.
const LEGACY_PROTOCOL: &str = "graphql-ws";

/// The close code graphql-transport-ws gives to refused credentials.
const FORBIDDEN_CLOSE_CODE: u16 = 4403;
/// The close code for credentials that stopped holding (expired, revoked, suspended).
const UNAUTHORIZED_CLOSE_CODE: u16 = 4401;
/// The close code for a user past the connection cap.
const TOO_MANY_CLOSE_CODE: u16 = 4429;

/// The socket's read and write buffers.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

/// What may wait for a client that does not read before its socket fails.
const MAX_UNREAD_BYTES: usize = 1024 * 1024;

/// Upgrades to a subscriptions socket after the Origin check.
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !state.origin_allowed(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open /graphql/ws (CORS_ALLOWED_ORIGINS)\n",
        )
            .into_response();
    }
    let offered: Vec<String> = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(',')
                .map(|item| item.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    let protocol = if offered.iter().any(|item| item == PROTOCOL) {
        PROTOCOL
    } else if offered.iter().any(|item| item == LEGACY_PROTOCOL) {
        LEGACY_PROTOCOL
    } else {
        return (
            StatusCode::BAD_REQUEST,
            "only the graphql-transport-ws and graphql-ws subprotocols are served\n",
        )
            .into_response();
    };
    let client_ip = crate::http::client_ip(peer.ip(), &headers, &state.trusted_proxies);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let connection = Connection {
        state: state.clone(),
        viewer: Arc::new(OnceLock::new()),
        meta: graphql::RequestMeta {
            request_id: request_id.0,
            client_ip,
            user_agent,
            idempotency_key: None,
        },
    };
    let max_message = state.surface.max_body_bytes;
    upgrade
        .protocols([protocol])
        // A subscription socket carries small messages: small buffers keep an idle socket
        // cheap (tungstenite's defaults are 128 KiB each way), a message is no larger than an
        // HTTP body may be, and a client that stops reading is dropped once 1 MiB waits for it.
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .max_write_buffer_size(MAX_UNREAD_BYTES.max(max_message + SOCKET_BUFFER_BYTES))
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| serve(socket, connection, protocol))
}

/// One socket: who it authenticated as and the request facts every operation carries.
#[derive(Clone)]
struct Connection {
    state: Arc<AppState>,
    viewer: Arc<OnceLock<graphql::Viewer>>,
    meta: graphql::RequestMeta,
}

impl Connection {
    fn viewer(&self) -> graphql::Viewer {
        self.viewer
            .get()
            .cloned()
            .unwrap_or(graphql::Viewer::Anonymous)
    }

    fn refuse(&self, error: graphql::ApiError) -> async_graphql::Response {
        let error: async_graphql::Error = error.into();
        let response = async_graphql::Response::from_errors(vec![
            error.into_server_error(async_graphql::Pos::default())
        ]);
        graphql::finish_response(response, &self.meta.request_id)
    }
}

impl Executor for Connection {
    async fn execute(&self, _request: async_graphql::Request) -> async_graphql::Response {
        self.refuse(only_subscriptions())
    }

    fn execute_stream(
        &self,
        mut request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let viewer = self.viewer();
        let api = &self.state.api;
        if let Err(refusal) = graphql::admit(api, &mut request, &viewer, &self.meta.request_id) {
            return futures_util::stream::once(future::ready(*refusal)).boxed();
        }
        let operation_name = request.operation_name.clone();
        let operation = request
            .parsed_query()
            .ok()
            .and_then(|document| graphql::operation_type(document, operation_name.as_deref()));
        if operation != Some(OperationType::Subscription) {
            return futures_util::stream::once(future::ready(self.refuse(only_subscriptions())))
                .boxed();
        }
        let request_id = self.meta.request_id.clone();
        let request = graphql::loaders::install_for_stream(
            request.data(viewer).data(self.meta.clone()),
            &self.state.services,
        );
        api.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |response| graphql::finish_response(response, &request_id))
            .boxed()
    }
}

fn only_subscriptions() -> graphql::ApiError {
    graphql::ApiError::bad_input(
        "query",
        "only subscriptions are served on /graphql/ws; send queries and mutations to POST /graphql",
    )
}

/// Reads the bearer credential of a `connection_init` payload: `Authorization` (any case) or
/// `authToken`.
fn payload_bearer(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    let value = object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value)
        .or_else(|| object.get("authToken"))?
        .as_str()?
        .trim();
    // "Bearer" with nothing after it (trimmed above) is a scheme without a token.
    if value.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    };
    (!token.is_empty()).then(|| token.to_string())
}

/// Why the server ends a socket itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Credentials,
    TooManyConnections,
}

/// What `connection_init` accepted: the credential to watch and the connection's slot.
struct Accepted {
    bearer: String,
    user_id: Option<bson::oid::ObjectId>,
    _slot: Option<crate::live_connections::ConnectionSlot>,
}

async fn serve(socket: WebSocket, connection: Connection, protocol: &'static str) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let refused = Arc::new(parking_lot::Mutex::new(None::<Refusal>));
    let (accepted_tx, accepted_rx) = tokio::sync::oneshot::channel::<Accepted>();
    let accepted_tx = Arc::new(parking_lot::Mutex::new(Some(accepted_tx)));
    let on_init = {
        let connection = connection.clone();
        let refused = refused.clone();
        move |payload: serde_json::Value| async move {
            let bearer = payload_bearer(&payload);
            let viewer = graphql::authenticate(&connection.state.services, bearer.as_deref()).await;
            if let graphql::Viewer::Rejected(reason) = &viewer {
                *refused.lock() = Some(Refusal::Credentials);
                return Err(async_graphql::Error::new(format!("Forbidden: {reason}")));
            }
            let user_id = match &viewer {
                graphql::Viewer::Authenticated(principal) => principal.user_id(),
                _ => None,
            };
            let slot = match user_id {
                Some(user_id) => match connection.state.live.admit(user_id) {
                    Some(slot) => Some(slot),
                    None => {
                        *refused.lock() = Some(Refusal::TooManyConnections);
                        return Err(async_graphql::Error::new(
                            "Too many connections: close another subscription connection first",
                        ));
                    }
                },
                None => None,
            };
            if let Some(bearer) = bearer {
                if let Some(sender) = accepted_tx.lock().take() {
                    let _ = sender.send(Accepted {
                        bearer,
                        user_id,
                        _slot: slot,
                    });
                }
            }
            let _ = connection.viewer.set(viewer);
            Ok(Data::default())
        }
    };
    let protocols = if protocol == LEGACY_PROTOCOL {
        WebSocketProtocols::SubscriptionsTransportWS
    } else {
        WebSocketProtocols::GraphQLWS
    };
    let outgoing = async_graphql::http::WebSocket::new(connection.clone(), input, protocols)
        .on_connection_init(on_init)
        .map(move |message| match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                let code = match *refused.lock() {
                    Some(Refusal::Credentials) => FORBIDDEN_CLOSE_CODE,
                    Some(Refusal::TooManyConnections) => TOO_MANY_CLOSE_CODE,
                    None => code,
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        });
    futures_util::pin_mut!(outgoing);
    let services = connection.state.services.clone();
    let keep_alive = connection.state.live.keep_alive;
    // Until `connection_init` is accepted nothing lapses; then the credential is watched.
    let lapse = async move {
        match accepted_rx.await {
            Ok(accepted) => {
                let lapsed = crate::live_connections::credentials_lapse(
                    services,
                    accepted.bearer,
                    accepted.user_id,
                    keep_alive,
                )
                .await;
                (lapsed, accepted._slot)
            }
            Err(_) => future::pending().await,
        }
    };
    futures_util::pin_mut!(lapse);
    let mut pings = tokio::time::interval(keep_alive);
    pings.tick().await;
    loop {
        tokio::select! {
            message = outgoing.next() => {
                let Some(message) = message else { break };
                if sink.send(message).await.is_err() {
                    break;
                }
            }
            (lapsed, _slot) = &mut lapse => {
                tracing::info!(reason = %lapsed.0, "subscription socket closed: credentials lapsed");
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: UNAUTHORIZED_CLOSE_CODE,
                        reason: "Unauthorized: credentials expired or revoked".into(),
                    })))
                    .await;
                break;
            }
            _ = pings.tick() => {
                // graphql-ws (legacy) clients expect its `ka` message; every other client gets
                // WebSocket pings, which browsers answer by themselves.
                let ping = if protocol == LEGACY_PROTOCOL {
                    Message::Text(r#"{"type":"ka"}"#.into())
                } else {
                    Message::Ping(Vec::new().into())
                };
                if sink.send(ping).await.is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_init_credentials_are_read_like_the_authorization_header() {
        let bearer = |payload: serde_json::Value| payload_bearer(&payload);
        assert_eq!(
            bearer(serde_json::json!({ "Authorization": "Bearer abc" })),
            Some("abc".to_string())
        );
        assert_eq!(
            bearer(serde_json::json!({ "authorization": "bearer ptk_x" })),
            Some("ptk_x".to_string())
        );
        assert_eq!(
            bearer(serde_json::json!({ "authToken": "abc" })),
            Some("abc".to_string())
        );
        assert_eq!(bearer(serde_json::json!({})), None);
        assert_eq!(
            bearer(serde_json::json!({ "Authorization": "Bearer " })),
            None
        );
    }
}
