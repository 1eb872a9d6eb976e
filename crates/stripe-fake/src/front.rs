//! [`StripeFront`]: the HTTP server a Stripe provider under test talks to (see the crate docs).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;

/// One request the front received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The form body as sent (`application/x-www-form-urlencoded`).
    pub body: String,
}

impl RecordedRequest {
    /// The raw value of form field `name` (enough for ids, amounts and groups, which need no
    /// decoding).
    pub fn form_value(&self, name: &str) -> Option<&str> {
        form_value(&self.body, name)
    }

    /// The decoded value of form field `name`, with the key compared decoded
    /// (`metadata[payout_id]`).
    pub fn form_field(&self, name: &str) -> Option<String> {
        form_field(&self.body, name)
    }
}

/// A request and the answer the front gives it, as a hook sees it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: RecordedRequest,
    /// The answer's status.
    pub status: u16,
    /// The answer's JSON.
    pub body: Value,
}

/// A test's hook, run when a matching request has been answered and before the answer is sent.
pub type ExchangeHook = Arc<dyn Fn(Exchange) -> BoxFuture<'static, ()> + Send + Sync>;

type RequestMatcher = Box<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

fn form_value<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn form_field(body: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(body.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The `metadata[...]` fields of a form body, as Stripe stores them.
fn form_metadata(body: &str) -> serde_json::Map<String, Value> {
    form_urlencoded::parse(body.as_bytes())
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned();
            Some((name, Value::String(value.into_owned())))
        })
        .collect()
}

#[derive(Debug, Clone)]
struct StoredAnswer {
    fingerprint: String,
    status: StatusCode,
    body: Bytes,
}

#[derive(Default)]
struct FrontState {
    upstream: Option<String>,
    requests: Mutex<Vec<RecordedRequest>>,
    answers: Mutex<HashMap<String, StoredAnswer>>,
    /// One lock per idempotency key: a request waits while another with its key runs, then gets
    /// that request's stored answer, so racing duplicates create one object (Stripe answers the
    /// later one 409 instead; a retry then gets the first answer).
    key_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    queued_transfer_errors: Mutex<Vec<(StatusCode, String)>>,
    transfers: Mutex<Vec<Value>>,
    hooks: Mutex<Vec<(Arc<RequestMatcher>, ExchangeHook)>>,
    http: reqwest::Client,
}

/// The front described in the crate docs, listening on `127.0.0.1:<free port>`.
#[derive(Clone)]
pub struct StripeFront {
    state: Arc<FrontState>,
    /// Where it listens.
    pub address: SocketAddr,
}

impl StripeFront {
    /// A front forwarding to localstripe at `upstream` (`None`: only transfers are answered).
    pub async fn start(upstream: Option<String>) -> Self {
        let state = Arc::new(FrontState {
            upstream,
            ..FrontState::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the Stripe front");
        let address = listener.local_addr().expect("a bound address");
        let router = Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Self { state, address }
    }

    /// Its base URL, ending in `/` as the provider's `api_base` wants.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().clone()
    }

    /// The requests to `path` with `method`.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|request| request.method == method && request.path == path)
            .collect()
    }

    /// The Transfer objects the front created, in order (replays are not new transfers).
    pub fn transfers(&self) -> Vec<Value> {
        self.state.transfers.lock().clone()
    }

    /// The next transfer creation is answered with `status` and Stripe error JSON `body`.
    pub fn fail_next_transfer(&self, status: u16, body: &str) {
        self.state.queued_transfer_errors.lock().push((
            StatusCode::from_u16(status).expect("an HTTP status"),
            body.to_owned(),
        ));
    }

    /// Runs `hook` every time a `method` request whose path satisfies `path` has been answered
    /// (replayed answers included), before the answer is sent: the caller has not seen it yet.
    pub fn after_answering(
        &self,
        method: &str,
        path: impl Fn(&str) -> bool + Send + Sync + 'static,
        hook: impl Fn(Exchange) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) {
        let method = method.to_owned();
        let matcher: RequestMatcher =
            Box::new(move |request| request.method == method && path(&request.path));
        self.state
            .hooks
            .lock()
            .push((Arc::new(matcher), Arc::new(hook)));
    }

    /// Removes every hook.
    pub fn clear_hooks(&self) {
        self.state.hooks.lock().clear();
    }

    /// GETs `path` from localstripe (to look at its state, or take an object for a webhook), as
    /// JSON.
    pub async fn upstream_json(&self, path: &str) -> Value {
        let upstream = self
            .state
            .upstream
            .as_ref()
            .expect("a localstripe upstream");
        self.state
            .http
            .get(format!("{upstream}{path}"))
            .basic_auth("sk_test_front", Some(""))
            .send()
            .await
            .expect("localstripe answers")
            .json()
            .await
            .expect("localstripe answers JSON")
    }

    /// Does what Stripe.js does in the client's browser with a SetupIntent's `client_secret`:
    /// confirms it at localstripe with `payment_method` (a test card such as `pm_card_visa`).
    /// Returns the SetupIntent as localstripe answers it.
    pub async fn confirm_setup_intent_in_browser(
        &self,
        setup_intent_id: &str,
        client_secret: &str,
        payment_method: &str,
    ) -> Value {
        let upstream = self
            .state
            .upstream
            .as_ref()
            .expect("a localstripe upstream");
        self.state
            .http
            .post(format!(
                "{upstream}/v1/setup_intents/{setup_intent_id}/confirm"
            ))
            // Stripe.js authenticates with the publishable key in the form, never a secret key.
            .form(&[
                ("key", "pk_test_browser"),
                ("client_secret", client_secret),
                ("payment_method", payment_method),
            ])
            .send()
            .await
            .expect("localstripe answers")
            .json()
            .await
            .expect("localstripe answers JSON")
    }
}

fn json_response(status: StatusCode, body: Bytes, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

async fn answer(
    State(state): State<Arc<FrontState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let request = RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        idempotency_key: idempotency_key.clone(),
        body: body_text.clone(),
    };
    state.requests.lock().push(request.clone());

    // Stripe compares parameters, not bytes: form pairs in any order are the same request.
    let mut parameters: Vec<&str> = body_text.split('&').collect();
    parameters.sort_unstable();
    let fingerprint = format!("{method} {uri} {}", parameters.join("&"));
    let is_post = method == Method::POST;
    let key_lock = idempotency_key.as_ref().filter(|_| is_post).map(|key| {
        state
            .key_locks
            .lock()
            .entry(key.clone())
            .or_default()
            .clone()
    });
    let _running = match &key_lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    if let Some(key) = idempotency_key.as_ref().filter(|_| is_post) {
        let stored = state.answers.lock().get(key).cloned();
        if let Some(stored) = stored {
            if stored.fingerprint == fingerprint {
                run_hooks(&state, &request, stored.status, &stored.body).await;
                return json_response(stored.status, stored.body, true);
            }
            let error = serde_json::json!({ "error": {
                "type": "idempotency_error",
                "message": format!(
                    "Idempotency key {key} was first used with other parameters; use another key for another request."
                ),
            }});
            return json_response(
                StatusCode::BAD_REQUEST,
                Bytes::from(error.to_string()),
                false,
            );
        }
    }

    let (status, answer_body) = if is_post && path == "/v1/transfers" {
        transfer_answer(&state, &body_text)
    } else if is_post && path == "/v1/accounts" {
        account_answer(&state, &body_text)
    } else if is_post && path == "/v1/account_links" {
        account_link_answer(&state, &body_text)
    } else {
        forward(&state, &method, &uri, &headers, &path, &body_text).await
    };

    // Stripe keeps the answer of a request that ran (not of a 5xx), keyed by the idempotency key.
    if let Some(key) = idempotency_key.filter(|_| is_post) {
        if !status.is_server_error() {
            state.answers.lock().insert(
                key,
                StoredAnswer {
                    fingerprint,
                    status,
                    body: answer_body.clone(),
                },
            );
        }
    }
    run_hooks(&state, &request, status, &answer_body).await;
    json_response(status, answer_body, false)
}

/// Runs every hook matching `request`, in the order they were added.
async fn run_hooks(
    state: &FrontState,
    request: &RecordedRequest,
    status: StatusCode,
    body: &Bytes,
) {
    let hooks: Vec<ExchangeHook> = state
        .hooks
        .lock()
        .iter()
        .filter(|(matcher, _)| matcher(request))
        .map(|(_, hook)| hook.clone())
        .collect();
    for hook in hooks {
        hook(Exchange {
            request: request.clone(),
            status: status.as_u16(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
        })
        .await;
    }
}

/// Stripe's Transfer object for a created transfer, or a queued error.
fn transfer_answer(state: &FrontState, body: &str) -> (StatusCode, Bytes) {
    if let Some((status, error)) = state.queued_transfer_errors.lock().pop() {
        return (status, Bytes::from(error));
    }
    let count = state.requests.lock().len();
    let amount: i64 = form_value(body, "amount")
        .and_then(|amount| amount.parse().ok())
        .unwrap_or(0);
    let transfer_id = format!("tr_front{count:06}");
    let transfer = serde_json::json!({
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "balance_transaction": format!("txn_front{count:06}"),
        "created": 1_763_700_000,
        "currency": form_field(body, "currency").unwrap_or_else(|| "usd".into()),
        "description": null,
        "destination": form_field(body, "destination"),
        "destination_payment": format!("py_front{count:06}"),
        "livemode": false,
        "metadata": form_metadata(body),
        "reversals": {
            "object": "list",
            "data": [],
            "has_more": false,
            "total_count": 0,
            "url": format!("/v1/transfers/{transfer_id}/reversals"),
        },
        "reversed": false,
        "source_transaction": null,
        "source_type": "card",
        "transfer_group": form_field(body, "transfer_group"),
    });
    state.transfers.lock().push(transfer.clone());
    (StatusCode::OK, Bytes::from(transfer.to_string()))
}

/// Stripe's Account object for a new connected account (localstripe has no Connect): onboarding
/// not done, so transfers are inactive and payouts disabled until `account.updated` says so.
fn account_answer(state: &FrontState, body: &str) -> (StatusCode, Bytes) {
    let count = state.requests.lock().len();
    let account = serde_json::json!({
        "id": format!("acct_front{count:06}"),
        "object": "account",
        "business_type": null,
        "capabilities": { "transfers": "inactive" },
        "charges_enabled": false,
        "controller": { "type": "application", "is_controller": true },
        "country": form_field(body, "country").unwrap_or_else(|| "US".into()),
        "created": 1_763_700_000,
        "default_currency": "usd",
        "details_submitted": false,
        "email": form_field(body, "email"),
        "metadata": form_metadata(body),
        "payouts_enabled": false,
        "requirements": {
            "currently_due": ["external_account", "tos_acceptance.date"],
            "disabled_reason": "requirements.past_due",
        },
        "type": "express",
    });
    (StatusCode::OK, Bytes::from(account.to_string()))
}

/// Stripe's AccountLink object: a single-use onboarding URL for the account.
fn account_link_answer(state: &FrontState, body: &str) -> (StatusCode, Bytes) {
    let count = state.requests.lock().len();
    let Some(account) = form_field(body, "account") else {
        let error = serde_json::json!({ "error": {
            "type": "invalid_request_error",
            "message": "Missing required param: account.",
            "param": "account",
        }});
        return (StatusCode::BAD_REQUEST, Bytes::from(error.to_string()));
    };
    let link = serde_json::json!({
        "object": "account_link",
        "created": 1_763_700_000,
        "expires_at": 1_763_700_300,
        "url": format!("https://connect.stripe.com/setup/e/{account}/front{count:06}"),
    });
    (StatusCode::OK, Bytes::from(link.to_string()))
}

/// Sends the request on to localstripe, without `transfer_group` on a PaymentIntent creation.
async fn forward(
    state: &FrontState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    path: &str,
    body: &str,
) -> (StatusCode, Bytes) {
    let Some(upstream) = &state.upstream else {
        let error = serde_json::json!({ "error": {
            "type": "invalid_request_error",
            "message": format!("Unrecognized request URL ({method}: {path})."),
        }});
        return (StatusCode::NOT_FOUND, Bytes::from(error.to_string()));
    };
    let body = if path == "/v1/payment_intents" {
        body.split('&')
            .filter(|pair| !pair.starts_with("transfer_group="))
            .collect::<Vec<_>>()
            .join("&")
    } else {
        body.to_owned()
    };
    let target = format!(
        "{upstream}{}",
        uri.path_and_query().map_or(path, |value| value.as_str())
    );
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).expect("an HTTP method");
    let mut request = state.http.request(method, target).body(body);
    for name in ["authorization", "content-type", "stripe-version"] {
        if let Some(value) = headers.get(name).and_then(|value| value.to_str().ok()) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).expect("an HTTP status");
            (status, response.bytes().await.unwrap_or_default())
        }
        Err(error) => {
            let error = serde_json::json!({ "error": {
                "type": "api_error",
                "message": format!("localstripe unreachable: {error}"),
            }});
            (StatusCode::BAD_GATEWAY, Bytes::from(error.to_string()))
        }
    }
}
