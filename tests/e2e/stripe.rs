//! The gateway over Stripe for end-to-end tests: localstripe behind the `stripe-fake` front as
//! the Stripe API, a manual clock for escrow's time, the embedded store with MongoDB's test
//! commands (so a test can make the gateway's next write fail), and Stripe-signed webhook
//! deliveries.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bson::oid::ObjectId;
use bson::{doc, Document};
use foundation::{Clock, ManualClock};
use serde_json::Value;
use stripe_fake::{connected_account, AccountState, Localstripe, StripeFront, WebhookSigner};

use crate::harness::{TestGateway, DEMO_PASSWORD};

/// The webhook endpoint's signing secret in these tests.
pub const WEBHOOK_SECRET: &str = "whsec_e2e_signing_secret";

/// The gateway's driver names itself so in its handshake; fail points aim at it alone.
const GATEWAY_APP_NAME: &str = "peertest-gateway";

/// Long enough that the background work never runs during a test after its first tick at
/// start-up: tests run it themselves, so it cannot repair (or mask) anything behind their back.
pub const NEVER: u64 = 365 * 86_400;

/// The same for the notification worker (its longest interval, an hour): its writes would
/// otherwise take the fail points armed for the gateway's next write.
pub const NOTIFICATIONS_NEVER: u64 = 3_600_000;

/// A dispute window and a minute: payouts approved before are due.
pub const PAST_THE_DISPUTE_WINDOW: Duration = Duration::from_secs(3 * 86_400 + 60);

/// A gateway on Stripe (or on the sandbox), its clock, and Stripe's side.
pub struct World {
    pub gateway: TestGateway,
    pub clock: Arc<ManualClock>,
    pub signer: WebhookSigner,
    pub stripe: Option<StripeSide>,
}

/// localstripe and the front the gateway's Stripe provider talks to.
pub struct StripeSide {
    pub front: StripeFront,
    _localstripe: Localstripe,
}

impl World {
    /// The gateway on the sandbox provider, with the webhook endpoint configured.
    pub async fn sandbox() -> World {
        let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
        let gateway = TestGateway::start_with_clock(clock.clone(), |config| {
            config.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
            config.embedded_test_commands = true;
            config.escrow_work_interval_seconds = NEVER;
            config.notification_work_interval_milliseconds = NOTIFICATIONS_NEVER;
        })
        .await;
        World {
            gateway,
            clock,
            signer: WebhookSigner::new(WEBHOOK_SECRET),
            stripe: None,
        }
    }

    /// The gateway on the Stripe provider, through the front to localstripe.
    pub async fn stripe() -> World {
        let localstripe = Localstripe::start();
        let front = StripeFront::start(Some(localstripe.url())).await;
        let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
        let front_url = front.url();
        let gateway = TestGateway::start_with_clock(clock.clone(), |config| {
            config.stripe_secret_key = Some("sk_test_e2e".into());
            config.stripe_api_base = front_url;
            config.stripe_webhook_secret = Some(WEBHOOK_SECRET.into());
            config.embedded_test_commands = true;
            config.escrow_work_interval_seconds = NEVER;
            config.notification_work_interval_milliseconds = NOTIFICATIONS_NEVER;
        })
        .await;
        let world = World {
            gateway,
            clock,
            signer: WebhookSigner::new(WEBHOOK_SECRET),
            stripe: Some(StripeSide {
                front,
                _localstripe: localstripe,
            }),
        };
        // The demo clients save a card the way a client does, so the money flows can publish.
        for email in ["john.doe@techcorp.com", "maria.garcia@shoplane.io"] {
            let (token, _) = world.gateway.login(email, DEMO_PASSWORD).await;
            world.save_card(&token, "pm_card_visa").await;
        }
        world
    }

    /// Saves `test_card` as the payment method of the client signed in with `token`, through
    /// the whole flow: `createPaymentSetupIntent`, the browser's confirmation at Stripe with the
    /// `clientSecret` (what Stripe.js does), then `savePaymentMethod`. Returns
    /// `(setupIntentId, paymentMethodId)`.
    pub async fn save_card(&self, token: &str, test_card: &str) -> (String, String) {
        let intent = self
            .gateway
            .ok(
                Some(token),
                crate::payment_methods::CREATE_SETUP_INTENT,
                serde_json::json!({}),
            )
            .await;
        let intent = &intent["createPaymentSetupIntent"];
        assert_eq!(intent["status"], "requires_payment_method", "{intent}");
        let id = intent["setupIntentId"].as_str().expect("an id").to_string();
        let secret = intent["clientSecret"].as_str().expect("a secret");
        let confirmed = self
            .front()
            .confirm_setup_intent_in_browser(&id, secret, test_card)
            .await;
        assert_eq!(confirmed["status"], "succeeded", "{confirmed}");
        let saved = self
            .gateway
            .ok(
                Some(token),
                crate::payment_methods::SAVE_PAYMENT_METHOD,
                serde_json::json!({ "input": { "setupIntentId": &id } }),
            )
            .await;
        let method = saved["savePaymentMethod"]["paymentMethodId"]
            .as_str()
            .expect("a payment method id")
            .to_string();
        assert_eq!(confirmed["payment_method"], method.as_str());
        (id, method)
    }

    /// Stops the gateway gracefully.
    pub async fn stop(self) {
        self.gateway.stop().await;
    }

    /// The front (Stripe worlds only).
    pub fn front(&self) -> &StripeFront {
        &self.stripe.as_ref().expect("a Stripe world").front
    }

    /// The clock's time in unix seconds, as Stripe stamps signatures.
    pub fn unix_now(&self) -> i64 {
        self.clock.now().timestamp_millis() / 1_000
    }

    /// A `type` event about `object`, as Stripe would send it now.
    pub fn event(&self, event_type: &str, object: Value) -> Value {
        WebhookSigner::event(event_type, object, self.unix_now())
    }

    /// Delivers `event` signed with the endpoint's secret at the clock's time.
    pub async fn deliver(&self, event: &Value) -> (u16, Value) {
        let payload = event.to_string();
        let signature = self.signer.signature(&payload, self.unix_now());
        self.gateway
            .deliver_webhook(&payload, Some(&signature))
            .await
    }

    /// Makes the gateway's next `command` (e.g. `update`) fail with MongoDB error 50, once.
    pub async fn fail_next(&self, command: &str) {
        arm_fail_point(&self.gateway.database.client().clone(), command).await;
    }

    /// Gives `tester` a Stripe connected account in `status` as onboarding stores it, and
    /// returns its id.
    pub async fn connect_account(&self, email: &str, status: &str) -> String {
        let account_id = format!("acct_{}", email.split('@').next().unwrap_or("tester"));
        let account_id = account_id.replace('.', "_");
        self.gateway
            .database
            .collection::<Document>("users")
            .update_one(
                doc! { "email": email },
                doc! { "$set": {
                    "tester_data.stripe_connect_id": &account_id,
                    "tester_data.stripe_connect_status": status,
                }},
            )
            .await
            .expect("the tester is updated");
        account_id
    }

    /// Delivers `account.updated` for `account_id` in `state` and expects it applied.
    pub async fn account_updated(&self, account_id: &str, state: AccountState) {
        let event = self.event("account.updated", connected_account(account_id, state));
        let (status, body) = self.deliver(&event).await;
        assert_eq!(
            (status, &body["outcome"]),
            (200, &Value::from("applied")),
            "{body}"
        );
    }

    /// The stored escrow of a job (by its global id).
    pub async fn escrow_document(&self, job: &str) -> Document {
        self.gateway
            .database
            .collection::<Document>("escrow_transactions")
            .find_one(doc! { "job_id": object_id(job) })
            .await
            .expect("escrow read")
            .expect("the job has an escrow")
    }

    /// The tester's totals (see [`TestGateway::tester_totals`]).
    pub async fn tester_totals(&self, email: &str) -> (i64, i64) {
        self.gateway.tester_totals(email).await
    }

    /// The stored `payout_status` of a submission (by its global id).
    pub async fn submission_payout_status(&self, submission: &str) -> Option<String> {
        self.gateway
            .database
            .collection::<Document>("submissions")
            .find_one(doc! { "_id": object_id(submission) })
            .await
            .expect("submission read")
            .and_then(|submission| submission.get_str("payout_status").ok().map(str::to_owned))
    }
}

/// Arms MongoDB's `failCommand` fail point for the gateway's next `command`, once, through
/// `client` (the test's own driver: its commands are not aimed at).
pub async fn arm_fail_point(client: &mongodb::Client, command: &str) {
    client
        .database("admin")
        .run_command(doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": {
                "failCommands": [command],
                "errorCode": 50,
                "errmsg": "injected by the test: the write after the provider call is lost",
                "appName": GATEWAY_APP_NAME,
            },
        })
        .await
        .expect("the embedded store runs test commands");
}

/// The ObjectId inside a Relay global id (`base64("<Type>:<hex>")`).
pub fn object_id(global_id: &str) -> ObjectId {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(global_id)
        .expect("a base64 global id");
    let text = String::from_utf8(decoded).expect("UTF-8");
    let (_, hex) = text.split_once(':').expect("Type:hex");
    ObjectId::parse_str(hex).expect("an ObjectId")
}
