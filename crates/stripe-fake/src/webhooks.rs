//! [`WebhookSigner`]: Stripe's event envelope and `Stripe-Signature` header, built the way Stripe
//! documents them, so tests deliver webhooks as Stripe would (and can get them wrong on purpose).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

/// Builds and signs events for one webhook endpoint's secret.
#[derive(Debug, Clone)]
pub struct WebhookSigner {
    secret: String,
}

impl WebhookSigner {
    /// A signer with the endpoint's signing secret (`whsec_…`).
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// An event of `event_type` about `object`, with a fresh `evt_…` id, created at `created`
    /// (unix seconds), in Stripe's envelope.
    pub fn event(event_type: &str, object: Value, created: i64) -> Value {
        let sequence = NEXT_EVENT.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        json!({
            "id": format!("evt_fake{sequence:08}{nanos:09}"),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": created,
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": event_type,
        })
    }

    /// The `Stripe-Signature` header for `payload` signed at `timestamp` (unix seconds):
    /// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<payload>")>`.
    pub fn signature(&self, payload: &str, timestamp: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(format!("{timestamp}.{payload}").as_bytes());
        format!(
            "t={timestamp},v1={}",
            hex::encode(mac.finalize().into_bytes())
        )
    }
}

/// How a connected account looks to Stripe in [`connected_account`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    /// Onboarding not finished: transfers capability `pending`, payouts disabled.
    Pending,
    /// Transfers `active`, payouts enabled, nothing disabled.
    Verified,
    /// Disabled by Stripe (`requirements.past_due`).
    Restricted,
}

/// A Connect Account object with the fields `account.updated` handling reads.
pub fn connected_account(account_id: &str, state: AccountState) -> Value {
    let (transfers, payouts_enabled, disabled_reason) = match state {
        AccountState::Pending => ("pending", false, Value::Null),
        AccountState::Verified => ("active", true, Value::Null),
        AccountState::Restricted => ("inactive", false, json!("requirements.past_due")),
    };
    json!({
        "id": account_id,
        "object": "account",
        "type": "express",
        "charges_enabled": payouts_enabled,
        "payouts_enabled": payouts_enabled,
        "details_submitted": state != AccountState::Pending,
        "capabilities": { "transfers": transfers },
        "requirements": {
            "currently_due": [],
            "past_due": [],
            "disabled_reason": disabled_reason,
        },
        "metadata": {},
    })
}
