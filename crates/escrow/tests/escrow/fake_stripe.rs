//! Local stand-ins for Stripe, on loopback only: [`Localstripe`] runs the localstripe fake (a
//! stateful Stripe server from PyPI, installed by `cargo xtask venv`/`test`), and [`StripeFront`]
//! is a small HTTP server the provider talks to. The front
//!
//! - answers `POST /v1/transfers` itself with Stripe's documented Transfer object (localstripe has
//!   no Connect), or with an error a test queued;
//! - keeps Stripe's documented idempotency rules, which localstripe does not implement: a repeated
//!   key with the same request gets the first answer (and `Idempotent-Replayed: true`) without
//!   reaching localstripe; the same key with another request gets a 400 `idempotency_error`;
//! - forwards everything else to localstripe, taking `transfer_group` out of PaymentIntent
//!   creations first (Stripe accepts it, localstripe refuses it);
//! - records every request, so tests can check paths, keys and parameters.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use parking_lot::Mutex;

/// Where the venv `cargo xtask` builds keeps a Python that can run localstripe.
const LOCALSTRIPE_PYTHON: &str = "LOCALSTRIPE_PYTHON";

/// Starts localstripe's aiohttp app bound to 127.0.0.1 only (its own command line listens on every
/// interface) with an empty store kept in memory only (it otherwise rewrites one shared file in
/// `/tmp` on every change, which parallel tests would fight over).
const LOCALSTRIPE_BOOTSTRAP: &str = "import sys\n\
from aiohttp import web\n\
from localstripe.resources import store\n\
from localstripe.server import app\n\
store.dump_to_disk = lambda: None\n\
web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None, access_log=None)\n";

/// A running localstripe, stopped when dropped.
pub struct Localstripe {
    child: Child,
    pub address: SocketAddr,
}

impl Localstripe {
    /// Starts localstripe on a free loopback port and waits until it answers. Panics with what to
    /// do when it cannot: these tests never skip.
    pub fn start() -> Self {
        let python = localstripe_python();
        let port = StdTcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(&python)
            .args(["-c", LOCALSTRIPE_BOOTSTRAP])
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start localstripe with {}: {error}",
                    python.display()
                )
            });
        let mut localstripe = Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(localstripe.address).is_err() {
            if let Ok(Some(status)) = localstripe.child.try_wait() {
                panic!(
                    "localstripe exited ({status}) before listening; is it installed in the \
                     venv? Run `cargo xtask venv`"
                );
            }
            assert!(
                Instant::now() < deadline,
                "localstripe did not listen on {} within 30 s",
                localstripe.address
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        localstripe
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Localstripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `LOCALSTRIPE_PYTHON` (set by `cargo xtask test`), else the venv `cargo xtask venv` made in the
/// workspace's `target/`.
fn localstripe_python() -> PathBuf {
    if let Some(python) = std::env::var_os(LOCALSTRIPE_PYTHON) {
        return PathBuf::from(python);
    }
    let venv_python =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/pymongo-venv/bin/python");
    assert!(
        venv_python.exists(),
        "localstripe is not installed: run `cargo xtask venv` (or `cargo xtask test`, which CI \
         runs), or set {LOCALSTRIPE_PYTHON} to a Python that has localstripe==1.15.10; {} does \
         not exist",
        venv_python.display()
    );
    venv_python
}

/// One request the front received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
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
}

fn form_value<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
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
    queued_transfer_errors: Mutex<Vec<(StatusCode, String)>>,
    http: reqwest::Client,
}

/// The front described in the module docs, listening on `127.0.0.1:<free port>`.
#[derive(Clone)]
pub struct StripeFront {
    state: Arc<FrontState>,
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
        let address = listener.local_addr().unwrap();
        let router = Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Self { state, address }
    }

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

    /// The next transfer creation is answered with `status` and Stripe error JSON `body`.
    pub fn fail_next_transfer(&self, status: u16, body: &str) {
        self.state
            .queued_transfer_errors
            .lock()
            .push((StatusCode::from_u16(status).unwrap(), body.to_owned()));
    }

    /// GETs `path` from localstripe (to look at its state), as JSON.
    pub async fn upstream_json(&self, path: &str) -> serde_json::Value {
        let upstream = self
            .state
            .upstream
            .as_ref()
            .expect("a localstripe upstream");
        self.state
            .http
            .get(format!("{upstream}{path}"))
            .basic_auth("sk_test_escrow", Some(""))
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
    state.requests.lock().push(RecordedRequest {
        method: method.to_string(),
        path: path.clone(),
        idempotency_key: idempotency_key.clone(),
        body: body_text.clone(),
    });

    // Stripe compares parameters, not bytes: form pairs in any order are the same request.
    let mut parameters: Vec<&str> = body_text.split('&').collect();
    parameters.sort_unstable();
    let fingerprint = format!("{method} {uri} {}", parameters.join("&"));
    let is_post = method == Method::POST;
    if let Some(key) = idempotency_key.as_ref().filter(|_| is_post) {
        if let Some(stored) = state.answers.lock().get(key).cloned() {
            if stored.fingerprint == fingerprint {
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
    json_response(status, answer_body, false)
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
        "currency": form_value(body, "currency").unwrap_or("usd"),
        "description": null,
        "destination": form_value(body, "destination"),
        "destination_payment": format!("py_front{count:06}"),
        "livemode": false,
        "metadata": {},
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
        "transfer_group": form_value(body, "transfer_group"),
    });
    (StatusCode::OK, Bytes::from(transfer.to_string()))
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
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
    let mut request = state.http.request(method, target).body(body);
    for name in ["authorization", "content-type", "stripe-version"] {
        if let Some(value) = headers.get(name).and_then(|value| value.to_str().ok()) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
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
