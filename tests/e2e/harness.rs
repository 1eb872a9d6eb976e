//! The end-to-end harness: a real gateway on `127.0.0.1:0` over the embedded store in a temporary
//! directory, a small GraphQL client, and direct driver access for observing side effects.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gateway::{Config, RunningGateway};
use serde_json::{json, Value};

/// The demo accounts' password.
pub const DEMO_PASSWORD: &str = gateway::demo::DEMO_PASSWORD;

/// A password that satisfies the policy, for accounts the tests register.
pub const STRONG_PASSWORD: &str = "Correct-Horse-Battery-9";

/// The document `TestGateway::login` sends.
pub const LOGIN_DOCUMENT: &str =
    "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }";

/// A running gateway plus what the tests need around it.
pub struct TestGateway {
    running: Option<RunningGateway>,
    _data_dir: tempfile::TempDir,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub base_url: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The database, through the official driver, for reading side effects.
    pub database: mongodb::Database,
    /// Numbers the simulated client addresses of [`TestGateway::register`].
    next_client: AtomicU32,
    /// This gateway's entry in the [`watchdog`]'s list.
    watched: u64,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        watchdog::forget(self.watched);
    }
}

/// Ends the whole run, naming the test, when one test's gateway has run for
/// [`watchdog::LIMIT`]: a test waiting forever (a lost event, a stuck shutdown) becomes a failure
/// that says where, instead of a run the CI machine kills without a word. No test comes near it
/// (the slowest take tens of seconds).
mod watchdog {
    use std::collections::HashMap;
    use std::sync::{Mutex, Once};
    use std::time::{Duration, Instant};

    pub const LIMIT: Duration = Duration::from_secs(10 * 60);

    static RUNNING: Mutex<Option<HashMap<u64, (String, Instant)>>> = Mutex::new(None);
    static STARTED: Once = Once::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

    /// Records a gateway started by the current test; returns its entry.
    pub fn watch() -> u64 {
        STARTED.call_once(|| {
            std::thread::spawn(|| loop {
                std::thread::sleep(Duration::from_secs(10));
                let overdue = RUNNING.lock().ok().and_then(|running| {
                    running.as_ref()?.values().find_map(|(test, since)| {
                        (since.elapsed() > LIMIT).then(|| (test.clone(), since.elapsed()))
                    })
                });
                if let Some((test, elapsed)) = overdue {
                    eprintln!(
                        "e2e watchdog: {test} has run for {} s (limit {} s); ending the run",
                        elapsed.as_secs(),
                        LIMIT.as_secs()
                    );
                    std::process::exit(101);
                }
            });
        });
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let test = std::thread::current()
            .name()
            .unwrap_or("an unnamed test")
            .to_string();
        if let Ok(mut running) = RUNNING.lock() {
            running
                .get_or_insert_with(HashMap::new)
                .insert(id, (test, Instant::now()));
        }
        id
    }

    /// The gateway's test is over.
    pub fn forget(id: u64) {
        if let Ok(mut running) = RUNNING.lock() {
            if let Some(running) = running.as_mut() {
                running.remove(&id);
            }
        }
    }
}

impl TestGateway {
    /// Starts a gateway with demo data on a fresh embedded store.
    pub async fn start() -> TestGateway {
        Self::start_with(|_| {}).await
    }

    /// Starts a gateway with demo data on a fresh embedded store, letting `adjust` change the
    /// configuration first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestGateway {
        Self::start_with_clock(Arc::new(foundation::SystemClock), adjust).await
    }

    /// [`TestGateway::start_with`], with `clock` as escrow's and the marketplace's time
    /// (`gateway::start_with_clock`), so a test can move past dispute windows.
    pub async fn start_with_clock(
        clock: Arc<dyn foundation::Clock>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestGateway {
        Self::start_with_clocks(clock, Arc::new(foundation::SystemClock), adjust).await
    }

    /// [`TestGateway::start_with_clock`], with `identity_clock` as identity's time as well
    /// (`gateway::start_with_clocks`), so a test can cross throttling windows and session ends.
    pub async fn start_with_clocks(
        clock: Arc<dyn foundation::Clock>,
        identity_clock: Arc<dyn foundation::Clock>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestGateway {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let mut config = Config::defaults();
        config.bind_addr = "127.0.0.1:0".parse().expect("address");
        config.data_dir = data_dir.path().to_path_buf();
        config.demo_data = true;
        config.shutdown_grace_seconds = 5;
        // The test client stands in for many people: `register` names a distinct address in
        // `x-forwarded-for`, which the gateway believes from loopback only. Requests without the
        // header come from 127.0.0.1, one address, as an attacker's would.
        config.trusted_proxies = vec!["127.0.0.1".parse().expect("address")];
        // The e-mail worker would take messages out of the outbox that tests read links from;
        // the e-mail tests run it themselves (`deliver_due_emails`).
        config.email_delivery_interval_seconds = 365 * 86_400;
        adjust(&mut config);
        let running = gateway::start_with_clocks(config, clock, identity_clock)
            .await
            .expect("gateway starts");
        let base_url = format!("http://{}", running.local_addr());
        let client = mongodb::Client::with_uri_str(running.mongodb_uri())
            .await
            .expect("driver connects to the embedded store");
        let database = client.database("peertest_hub");
        TestGateway {
            running: Some(running),
            _data_dir: data_dir,
            base_url,
            // Generous: the gateway's own request timeout answers a slow request; this one only
            // turns a hung connection into a failure, and a loaded CI machine can stall for tens
            // of seconds (a check once failed when one request outlived 30 s there).
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(180))
                .build()
                .expect("HTTP client"),
            database,
            next_client: AtomicU32::new(1),
            watched: watchdog::watch(),
        }
    }

    /// Stops the gateway gracefully.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    fn running(&self) -> &RunningGateway {
        self.running.as_ref().expect("the gateway is running")
    }

    /// Turns every recorded domain event into notifications now, waiting for any the
    /// background worker holds under its lease to finish; returns how many this call's passes
    /// created. Panics when an event is still pending after 30 s (a delivery that keeps
    /// failing).
    pub async fn deliver_notifications(&self) -> usize {
        let events = self.database.collection::<bson::Document>("domain_events");
        let mut created = 0;
        for _ in 0..600 {
            created += self.deliver_notifications_once().await;
            let pending = events
                .count_documents(bson::doc! { "processed_at": null })
                .await
                .expect("pending events are counted");
            if pending == 0 {
                return created;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("domain events are still pending after 30 s");
    }

    /// One pass of the notification worker (the interval runs it too); returns how many
    /// notifications it created.
    pub async fn deliver_notifications_once(&self) -> usize {
        self.running()
            .deliver_notifications()
            .await
            .expect("notifications are delivered")
    }

    /// Records the deadline reminders that are due (the background work does it too); returns
    /// how many jobs were reminded about.
    pub async fn record_deadline_reminders(&self) -> usize {
        self.running()
            .record_deadline_reminders()
            .await
            .expect("reminders are recorded")
    }

    /// Runs the escrow's background work once (auto-approvals, due transfers, reconcile).
    pub async fn run_escrow_due_work(&self) -> escrow::DueWorkReport {
        self.running()
            .run_escrow_due_work()
            .await
            .expect("escrow due work runs")
    }

    /// Runs the e-mail delivery worker once (one batch of due outbox messages).
    pub async fn deliver_due_emails(&self) -> notifications::email::DeliveryReport {
        self.running()
            .deliver_due_emails()
            .await
            .expect("e-mail delivery runs")
    }

    /// The connection string of the gateway's store, for a second instance on the same data.
    pub fn mongodb_uri(&self) -> String {
        self.running().mongodb_uri().to_string()
    }

    /// Reveals the ratings whose 14-day window closed (by the gateway's clock); returns how many.
    pub async fn reveal_due_ratings(&self) -> usize {
        self.running()
            .reveal_due_ratings()
            .await
            .expect("the reveal sweep runs")
    }

    /// Transfers the due payouts only (no reconcile); returns how many were paid.
    pub async fn release_due_payouts(&self) -> usize {
        self.running()
            .release_due_payouts()
            .await
            .expect("the due sweep runs")
            .len()
    }

    /// POSTs `payload` to `/webhooks/stripe` with `signature` as `Stripe-Signature` (none when
    /// `None`); returns the status and the JSON answer.
    pub async fn deliver_webhook(&self, payload: &str, signature: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/webhooks/stripe", self.base_url))
            .header("content-type", "application/json")
            .body(payload.to_owned());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        let response = request
            .send()
            .await
            .expect("the webhook reaches the gateway");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Sends a GraphQL request with an optional bearer credential and returns the JSON body.
    /// The gateway's `/metrics` text (open: tests run in development).
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base_url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn graphql(&self, bearer: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base_url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request reaches the gateway");
        response.json().await.expect("GraphQL responses are JSON")
    }

    /// Sends a GraphQL request with extra headers (an `Idempotency-Key`, say).
    pub async fn graphql_with_headers(
        &self,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        query: &str,
        variables: Value,
    ) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base_url))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request reaches the gateway");
        response.json().await.expect("GraphQL responses are JSON")
    }

    /// Runs a mutation that takes one `input` and returns its payload, failing the test on error.
    pub async fn ok(&self, bearer: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.graphql(bearer, query, variables).await;
        assert!(
            body.get("errors").is_none(),
            "unexpected errors for {query}: {body}"
        );
        body["data"].clone()
    }

    /// `tester_data.total_earned_usd` and `total_jobs_completed` of the user with `email`, read
    /// through the driver.
    pub async fn tester_totals(&self, email: &str) -> (i64, i64) {
        let user = self
            .database
            .collection::<bson::Document>("users")
            .find_one(bson::doc! { "email": email })
            .await
            .expect("user read")
            .expect("the user exists");
        let data = user.get_document("tester_data").expect("tester data");
        let number = |name: &str| {
            data.get_i64(name)
                .or_else(|_| data.get_i32(name).map(i64::from))
                .unwrap_or(0)
        };
        (number("total_earned_usd"), number("total_jobs_completed"))
    }

    /// Logs in and returns `(accessToken, refreshToken)`.
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let data = self
            .ok(
                None,
                LOGIN_DOCUMENT,
                json!({ "input": { "email": email, "password": password } }),
            )
            .await;
        (
            data["login"]["accessToken"]
                .as_str()
                .expect("access token")
                .to_string(),
            data["login"]["refreshToken"]
                .as_str()
                .expect("refresh token")
                .to_string(),
        )
    }

    /// Verifies `email`'s address through the real flow: the token from the verification e-mail
    /// in the outbox, sent to `verifyEmail`. The account becomes active.
    pub async fn verify_email(&self, email: &str) {
        let token = self.outbox_token(email, "email_verification").await;
        self.ok(
            None,
            "mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { user { id } } }",
            json!({ "input": { "token": token } }),
        )
        .await;
    }

    /// Saves a payment method for the client signed in with `token` on the sandbox provider,
    /// through the client's own steps: `createPaymentSetupIntent` (the sandbox's SetupIntent is
    /// already succeeded, so no browser step) and `savePaymentMethod`. Returns the method's id.
    pub async fn save_sandbox_card(&self, token: &str) -> String {
        let intent = self
            .ok(
                Some(token),
                crate::payment_methods::CREATE_SETUP_INTENT,
                json!({}),
            )
            .await;
        let setup_intent = &intent["createPaymentSetupIntent"];
        assert_eq!(setup_intent["status"], "succeeded", "{intent}");
        let saved = self
            .ok(
                Some(token),
                crate::payment_methods::SAVE_PAYMENT_METHOD,
                json!({ "input": { "setupIntentId": setup_intent["setupIntentId"] } }),
            )
            .await;
        saved["savePaymentMethod"]["paymentMethodId"]
            .as_str()
            .expect("a payment method id")
            .to_string()
    }

    /// Registers an account, verifies its e-mail address ([`TestGateway::verify_email`]) and
    /// returns its access token: an active account, as money steps need.
    pub async fn register_verified(&self, email: &str, role: &str) -> String {
        let token = self.register(email, role).await;
        self.verify_email(email).await;
        token
    }

    /// Registers an account from an address of its own (registrations are limited per address)
    /// and returns its access token.
    pub async fn register(&self, email: &str, role: &str) -> String {
        let number = self.next_client.fetch_add(1, Ordering::Relaxed);
        let address = format!(
            "10.{}.{}.{}",
            number >> 16 & 255,
            number >> 8 & 255,
            number & 255
        );
        let body = self
            .graphql_with_headers(
                None,
                &[("x-forwarded-for", &address)],
                "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
                json!({ "input": { "email": email, "password": STRONG_PASSWORD, "fullName": "Test Person", "role": role } }),
            )
            .await;
        assert!(body.get("errors").is_none(), "registration failed: {body}");
        self.login(email, STRONG_PASSWORD).await.0
    }

    /// The newest pending e-mail of `kind` (`email_verification`, `password_reset`, ...) to
    /// `email`, as the delivery worker will get it (subject, body, link). Reset e-mails are
    /// queued after the answer, so this waits for one to appear.
    pub async fn outbox_message(&self, email: &str, kind: &str) -> identity::OutboxMessage {
        let kind: identity::OutboxKind =
            serde_json::from_value(json!(kind)).expect("an outbox kind");
        for _ in 0..200 {
            let messages = self
                .running()
                .pending_outbox_messages()
                .await
                .expect("the outbox is readable");
            if let Some(message) = messages
                .into_iter()
                .rfind(|message| message.to == email && message.kind == kind)
            {
                return message;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {kind:?} e-mail to {email} was queued");
    }

    /// Makes the account `member_email` (signed in as `member`) a member of `organization_id`
    /// the way people join: `inviter` invites the address with `role`, the member confirms the
    /// address if it is not yet confirmed, and accepts with the token from the invitation
    /// e-mail. Returns the data of `acceptOrganizationInvitation`.
    pub async fn join_organization(
        &self,
        inviter: &str,
        organization_id: &str,
        member: &str,
        member_email: &str,
        role: &str,
    ) -> Value {
        self.ok(
            Some(inviter),
            "mutation($input: InviteOrganizationMemberInput!) { inviteOrganizationMember(input: $input) { invitation { id } } }",
            json!({ "input": { "organizationId": organization_id, "email": member_email, "role": role } }),
        )
        .await;
        let confirmed = self
            .ok(Some(member), "{ me { emailVerified } }", json!({}))
            .await;
        if confirmed["me"]["emailVerified"] != json!(true) {
            self.verify_email(member_email).await;
        }
        let token = self
            .outbox_token(member_email, "organization_invitation")
            .await;
        // The e-mail is delivered: a later invitation to the address is then the newest.
        self.database
            .collection::<bson::Document>("outbox")
            .delete_many(bson::doc! { "to": member_email, "kind": "organization_invitation" })
            .await
            .expect("the outbox is writable");
        self.ok(
            Some(member),
            "mutation($input: AcceptOrganizationInvitationInput!) { acceptOrganizationInvitation(input: $input) { organization { id usage { memberCount } } } }",
            json!({ "input": { "token": token } }),
        )
        .await
    }

    /// The token in the link of the newest pending e-mail of `kind` to `email`.
    pub async fn outbox_token(&self, email: &str, kind: &str) -> String {
        let link = self
            .outbox_message(email, kind)
            .await
            .link
            .expect("the e-mail carries a link");
        link.split_once("token=")
            .expect("the link carries a token")
            .1
            .to_string()
    }
}

/// The `extensions.code` of the first error, or `"OK"` when the response has no error.
pub fn outcome(body: &Value) -> String {
    match body.get("errors").and_then(|errors| errors.get(0)) {
        Some(error) => error["extensions"]["code"]
            .as_str()
            .unwrap_or("NO_CODE")
            .to_string(),
        None => "OK".to_string(),
    }
}

/// A table cell's outcome: [`outcome`], except that an answer without errors whose only root
/// field is `null` (what `node(id:)` answers for an id the caller may not see) is `"NULL"`.
pub fn table_outcome(body: &Value) -> String {
    let code = outcome(body);
    let null_root = body["data"]
        .as_object()
        .is_some_and(|data| data.len() == 1 && data.values().all(Value::is_null));
    if code == "OK" && null_root {
        "NULL".to_string()
    } else {
        code
    }
}

/// One row of an authorization table: an operation, its variables per caller column, and the
/// outcome code each caller must get.
pub struct Row {
    operation: &'static str,
    query: &'static str,
    variables: Box<dyn Fn(usize) -> Value>,
    expected: [&'static str; 7],
}

/// A row of an authorization table with seven caller columns.
pub fn row(
    operation: &'static str,
    query: &'static str,
    variables: impl Fn(usize) -> Value + 'static,
    expected: [&'static str; 7],
) -> Row {
    Row {
        operation,
        query,
        variables: Box::new(variables),
        expected,
    }
}

/// Runs every row as every caller, in order, and fails listing every cell whose outcome differs.
pub async fn check_table(
    gateway: &TestGateway,
    callers: [&str; 7],
    credentials: &[Option<String>; 7],
    rows: &[Row],
) {
    let mut mismatches = Vec::new();
    for row in rows {
        for (column, caller) in callers.iter().enumerate() {
            let body = gateway
                .graphql(
                    credentials[column].as_deref(),
                    row.query,
                    (row.variables)(column),
                )
                .await;
            let actual = table_outcome(&body);
            if actual != row.expected[column] {
                mismatches.push(format!(
                    "{} as {caller}: expected {}, got {actual} ({})",
                    row.operation,
                    row.expected[column],
                    body.get("errors").cloned().unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cells differ:\n{}",
        mismatches.len(),
        rows.len() * callers.len(),
        mismatches.join("\n")
    );
}
