//! The HTTP surface: the router, the GraphQL endpoint (`graphql_http` holds its rules) and
//! IDE, the subscriptions socket (`websocket`), health, readiness and metrics, the Stripe
//! webhook endpoint (`stripe_webhooks`), the request limits (body size, body and request
//! timeouts, CORS) and the middleware that gives every request an id, a span and a metrics
//! sample.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use sha2::{Digest, Sha256};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tracing::Instrument;

use crate::graphql_http::{self, ResponseMedia};

use crate::metrics::Metrics;

/// The header carrying the request id in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The header a client may send instead of a money-moving mutation's `idempotencyKey` input.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// What every handler shares.
pub struct AppState {
    /// The executable GraphQL schema with its limits and introspection policy.
    pub api: graphql::Api,
    /// The domain services, used to resolve the caller's credentials.
    pub services: graphql::Services,
    /// The database, for the readiness probe.
    pub database: mongodb::Database,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// Proxies whose `x-forwarded-for` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// The Stripe webhook endpoint, when a signing secret is configured.
    pub stripe_webhooks: Option<crate::stripe_webhooks::StripeWebhooks>,
    /// The HTTP-level settings: limits, timeouts, origins, IDE and metrics access.
    pub surface: Surface,
    /// Live-subscription connections: the per-user cap and keep-alive.
    pub live: crate::live_connections::LiveConnections,
}

/// How the HTTP surface is exposed, from the configuration.
#[derive(Debug, Clone)]
pub struct Surface {
    /// Largest `/graphql` body, in bytes.
    pub max_body_bytes: usize,
    /// Time a client has to send a body.
    pub body_read_timeout: Duration,
    /// Time one request may take.
    pub request_timeout: Duration,
    /// Browser origins allowed cross-site (CORS) and on `/graphql/ws`.
    pub allowed_origins: Vec<HeaderValue>,
    /// Whether GraphiQL is served.
    pub graphiql: bool,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
}

/// Who may read `/metrics`.
#[derive(Clone)]
pub enum MetricsAccess {
    /// Anyone who can reach the port (development).
    Open,
    /// Callers presenting this bearer token; only its SHA-256 is kept.
    Token([u8; 32]),
    /// Nobody: the route answers 404 (production without a token).
    Hidden,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            MetricsAccess::Open => "Open",
            MetricsAccess::Token(_) => "Token(<redacted>)",
            MetricsAccess::Hidden => "Hidden",
        })
    }
}

impl AppState {
    /// Whether a request's `Origin` may use the socket: no `Origin` (not a browser), the
    /// gateway's own host, or an allowlisted origin.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.surface.allowed_origins.contains(origin) {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|origin| origin.split_once("://"))
            .map(|(_, host)| host);
        matches!((host, origin_host), (Some(host), Some(origin)) if host.eq_ignore_ascii_case(origin))
    }
}

/// The id of the current request, set by [`observe_request`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Builds the router over the shared state.
pub fn router(state: Arc<AppState>) -> Router {
    let surface = state.surface.clone();
    let graphql_routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/stream", post(crate::sse::subscribe))
        // tower-http's limit replaces axum's default: it answers 413 from `Content-Length`
        // before reading, and stops a chunked body at the limit.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(surface.max_body_bytes));
    let mut router = Router::new()
        .merge(graphql_routes)
        .route("/graphql/ws", get(crate::websocket::upgrade))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/webhooks/stripe",
            post(crate::stripe_webhooks::receive).layer(DefaultBodyLimit::max(
                crate::stripe_webhooks::MAX_WEBHOOK_BODY_BYTES,
            )),
        );
    if surface.graphiql {
        router = router.route("/graphiql/{asset}", get(graphiql_asset));
    }
    if !surface.allowed_origins.is_empty() {
        // Bearer tokens, never cookies: credentials are not allowed cross-site.
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(surface.allowed_origins.clone()))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    header::ACCEPT,
                    header::HeaderName::from_static(IDEMPOTENCY_KEY_HEADER),
                    header::HeaderName::from_static(REQUEST_ID_HEADER),
                ])
                .expose_headers([header::HeaderName::from_static(REQUEST_ID_HEADER)])
                .max_age(Duration::from_secs(600)),
        );
    }
    router
        .layer(RequestBodyTimeoutLayer::new(surface.body_read_timeout))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            surface.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe_request,
        ))
        .with_state(state)
}

/// Routes whose names may label metrics; anything else is counted as `other` so a scan of
/// random paths cannot grow the label set.
const KNOWN_ROUTES: [&str; 8] = [
    "/graphql",
    "/graphql/ws",
    "/graphql/stream",
    "/healthz",
    "/readyz",
    "/metrics",
    "/graphiql",
    "/webhooks/stripe",
];

fn route_label(path: &str) -> &'static str {
    if path.starts_with("/graphiql/") {
        return "/graphiql";
    }
    KNOWN_ROUTES
        .into_iter()
        .find(|route| *route == path)
        .unwrap_or("other")
}

/// Accepts a caller's request id only if it is short printable ASCII, so it is safe in headers
/// and logs.
fn acceptable_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
}

fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 12]>())
}

/// Middleware: assigns the request id (the caller's `x-request-id` or a fresh one), runs the
/// request inside a span carrying it, echoes it in the response, and records metrics.
async fn observe_request(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| acceptable_request_id(value))
        .map(str::to_string)
        .unwrap_or_else(new_request_id);
    request
        .extensions_mut()
        .insert(RequestId(request_id.clone()));
    let route = route_label(request.uri().path());
    let method = request.method().to_string();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .record_request(route, &method, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            status,
            elapsed_ms = elapsed.as_millis() as u64,
            "request finished"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The caller's address: the socket peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address in `x-forwarded-for` (read right to left, since proxies append).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpAddr]) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|item| item.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|address| !trusted_proxies.contains(address))
        .unwrap_or(peer)
}

pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

async fn execute_graphql(
    state: &AppState,
    request_id: &RequestId,
    peer: SocketAddr,
    headers: &HeaderMap,
    request: async_graphql::Request,
) -> async_graphql::Response {
    let client_ip = client_ip(peer.ip(), headers, &state.trusted_proxies);
    let (viewer, viewer_records) =
        graphql::authenticate_with_records(&state.services, bearer_token(headers)).await;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let idempotency_key = match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(value) => match value.to_str() {
            Ok(key) => Some(key.to_string()),
            Err(_) => {
                let error = graphql::ApiError::bad_input(
                    "Idempotency-Key",
                    "the header must be printable ASCII",
                );
                let response = async_graphql::Response::from_errors(vec![
                    async_graphql::Error::from(error).into_server_error(Default::default()),
                ]);
                return graphql::finish_response(response, &request_id.0);
            }
        },
    };
    let meta = graphql::RequestMeta {
        request_id: request_id.0.clone(),
        client_ip,
        user_agent,
        idempotency_key,
    };
    graphql::execute_authenticated(
        &state.api,
        &state.services,
        request,
        viewer,
        viewer_records,
        meta,
    )
    .await
}

/// POST runs any operation; only `application/json` bodies are accepted (see `graphql_http`).
async fn graphql_post(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let Some(media) = graphql_http::negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    if !graphql_http::is_json_content_type(&headers) {
        return graphql_http::refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "content-type",
            "POST bodies must be application/json",
            &request_id.0,
        );
    }
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return graphql_http::refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                media,
                "body",
                &format!(
                    "the body is larger than {} bytes",
                    state.surface.max_body_bytes
                ),
                &request_id.0,
            )
        }
        // The body stopped arriving: BODY_READ_TIMEOUT_SECONDS passed, or the client left.
        Err(_) => {
            return graphql_http::refusal(
                StatusCode::REQUEST_TIMEOUT,
                media,
                "body",
                "the body did not arrive in time",
                &request_id.0,
            )
        }
    };
    let graphql_request = match graphql_http::parse_post_body(&body) {
        Ok(graphql_request) => graphql_request,
        Err(malformed) => {
            return graphql_http::refusal(
                StatusCode::BAD_REQUEST,
                media,
                malformed.field,
                &malformed.message,
                &request_id.0,
            )
        }
    };
    let response = execute_graphql(&state, &request_id, peer, &headers, graphql_request).await;
    graphql_http::respond(media, response)
}

fn not_acceptable(request_id: &RequestId) -> Response {
    graphql_http::refusal(
        StatusCode::NOT_ACCEPTABLE,
        ResponseMedia::Json,
        "accept",
        "the response can be application/json or application/graphql-response+json",
        &request_id.0,
    )
}

/// GET serves the IDE to browsers (when enabled) and runs queries (never mutations) for
/// everyone else.
async fn graphql_get(
    State(state): State<Arc<AppState>>,
    Extension(request_id): Extension<RequestId>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && state.surface.graphiql {
        return Html(include_str!("../assets/graphiql.html")).into_response();
    }
    let Some(media) = graphql_http::negotiate(&headers) else {
        return not_acceptable(&request_id);
    };
    let query = request.uri().query().unwrap_or_default();
    let graphql_request = match graphql_http::parse_query_string(query) {
        Ok(graphql_request) => graphql_request,
        Err(malformed) => {
            return graphql_http::refusal(
                StatusCode::BAD_REQUEST,
                media,
                malformed.field,
                &malformed.message,
                &request_id.0,
            )
        }
    };
    // A hash-only (APQ) request is judged by the document its hash names.
    let persisted_text = graphql_request
        .extensions
        .get("persistedQuery")
        .and_then(|persisted| match persisted {
            async_graphql::Value::Object(object) => match object.get("sha256Hash") {
                Some(async_graphql::Value::String(hash)) if graphql_request.query.is_empty() => {
                    state.api.persisted.lookup(hash)
                }
                _ => None,
            },
            _ => None,
        });
    let is_mutation = match persisted_text {
        Some(text) => {
            let mut probe = async_graphql::Request::new(text.to_string());
            probe.operation_name = graphql_request.operation_name.clone();
            graphql::is_mutation(&probe)
        }
        None => graphql::is_mutation(&graphql_request),
    };
    if is_mutation {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "mutations must be sent with POST",
        )
            .into_response();
    }
    let response = execute_graphql(&state, &request_id, peer, &headers, graphql_request).await;
    graphql_http::respond(media, response)
}

/// Serves the IDE's vendored assets; they are compiled into the binary so the IDE works offline.
async fn graphiql_asset(axum::extract::Path(asset): axum::extract::Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match asset.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../assets/graphiql.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "graphiql.min.css" => (
            include_bytes!("../assets/graphiql.min.css"),
            "text/css; charset=utf-8",
        ),
        "react.production.min.js" => (
            include_bytes!("../assets/react.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../assets/react-dom.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// How long the readiness probe waits for the database before declaring it unreachable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let ping = state.database.run_command(bson::doc! { "ping": 1 });
    match tokio::time::timeout(READINESS_TIMEOUT, ping).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness ping failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
        Err(_) => {
            tracing::warn!("readiness ping timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match &state.surface.metrics {
        MetricsAccess::Open => {}
        MetricsAccess::Hidden => return StatusCode::NOT_FOUND.into_response(),
        MetricsAccess::Token(expected) => {
            // Comparing digests keeps the comparison's timing independent of the secret.
            let presented = bearer_token(&headers).map(|token| Sha256::digest(token.as_bytes()));
            if presented.as_deref() != Some(expected.as_slice()) {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "metrics need the METRICS_TOKEN bearer token\n",
                )
                    .into_response();
            }
        }
    }
    let mut body = state.metrics.render();
    body.push_str(&crate::metrics::render_document_cache(
        state.api.documents.counts(),
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn error_with(extensions: &[(&str, async_graphql::Value)]) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new("refused", None);
        let mut values = async_graphql::ErrorExtensionValues::default();
        for (name, value) in extensions {
            values.set(*name, value.clone());
        }
        error.extensions = Some(values);
        error
    }

    #[test]
    fn a_rate_limited_error_makes_the_answer_a_429_with_the_longest_wait() {
        let code = |code: &str| ("code", async_graphql::Value::from(code));
        let wait = |seconds: u64| ("retryAfterSeconds", async_graphql::Value::from(seconds));
        let response = async_graphql::Response::from_errors(vec![
            error_with(&[code("BAD_USER_INPUT")]),
            error_with(&[code("RATE_LIMITED"), wait(30)]),
            error_with(&[code("RATE_LIMITED"), wait(900)]),
        ]);
        assert_eq!(graphql_http::rate_limited_retry_after(&response), Some(900));
        let without_wait =
            async_graphql::Response::from_errors(vec![error_with(&[code("RATE_LIMITED")])]);
        assert_eq!(
            graphql_http::rate_limited_retry_after(&without_wait),
            Some(1)
        );
        let other = async_graphql::Response::from_errors(vec![error_with(&[code("FORBIDDEN")])]);
        assert_eq!(graphql_http::rate_limited_retry_after(&other), None);
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "203.0.113.9".parse().expect("ip");
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(peer, &spoofed, &[]), peer);
    }

    #[test]
    fn forwarded_for_is_read_right_to_left_past_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let forwarded = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.1")]);
        assert_eq!(
            client_ip(proxy, &forwarded, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn bearer_token_is_extracted_case_insensitively() {
        assert_eq!(
            bearer_token(&headers(&[("authorization", "bearer abc.def")])),
            Some("abc.def")
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer ")])),
            None
        );
    }

    #[test]
    fn request_ids_with_unsafe_characters_are_replaced() {
        assert!(acceptable_request_id("abc-123_x.y:z"));
        assert!(!acceptable_request_id("has space"));
        assert!(!acceptable_request_id(&"x".repeat(129)));
        assert_eq!(new_request_id().len(), 24);
    }

    #[test]
    fn unknown_paths_share_one_metrics_label() {
        assert_eq!(route_label("/graphql"), "/graphql");
        assert_eq!(
            route_label("/graphiql/react.production.min.js"),
            "/graphiql"
        );
        assert_eq!(route_label("/webhooks/stripe"), "/webhooks/stripe");
        assert_eq!(route_label("/wp-admin"), "other");
    }
}
