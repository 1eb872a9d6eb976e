//! Stripe webhooks: Stripe's own report of what happened to the payments, refunds and transfers
//! escrow asked for, and to testers' connected accounts. They repair what a crash between a
//! provider call and escrow's write of its answer left behind, without waiting for `reconcile`,
//! and they are the only source of an account's status changes.
//!
//! [`EscrowService::receive_webhook`] takes one delivery (raw body and `Stripe-Signature`):
//!
//! 1. **Verify** the signature ([`verify_signature`], `signature.rs`); a missing, malformed, stale
//!    or foreign signature is refused and nothing is read or written.
//! 2. **Parse** the event into a [`ProviderEvent`] (`event.rs`); a payload that is not an event is
//!    refused likewise. Unknown event types are accepted and ignored.
//! 3. **Claim** it in the inbox, `stripe_webhook_events` (`inbox.rs`), so each event is processed
//!    once however often and however concurrently it is delivered; a processed event's redelivery
//!    answers [`WebhookReceipt::Duplicate`].
//! 4. **Apply** it (`apply.rs`) through the ledger's own steps by compare-and-set, so the event
//!    and escrow's normal path can arrive in any order and money still moves once;
//!    `account.updated` goes to the [`PayoutAccountUpdates`] seam (identity, wired by the
//!    gateway).
//! 5. **Record** the outcome; a failure is recorded too and returned, so the caller answers 5xx,
//!    Stripe delivers again and that delivery processes the event.
//!
//! **Is not** an HTTP handler: the gateway owns the route, the body limit and the status codes.

mod apply;
mod event;
mod inbox;
mod signature;

use std::fmt::Debug;

use futures_util::future::BoxFuture;
use marketplace::MarketplaceService;
use thiserror::Error;

use crate::error::EscrowError;
use crate::service::EscrowService;

pub use event::{
    ConnectedAccountUpdate, EventParseError, PaymentIntentFacts, ProviderEvent, ProviderEventKind,
    ProviderRefundStatus, RefundFacts, TransferFacts,
};
pub(crate) use inbox::spec as inbox_spec;
pub use inbox::STRIPE_WEBHOOK_EVENTS;
pub use signature::{verify_signature, SignatureError, WebhookSecret, SIGNATURE_TOLERANCE};

/// What processing an event did, as stored in the inbox's `outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Our stored state changed.
    Applied,
    /// It concerned our state, which already said so (escrow's own write came first).
    NoChange,
    /// Not about anything of ours (another integration's object, or a sandbox escrow).
    NotOurs,
    /// An event type escrow does not act on.
    Ignored,
    /// Stripe and the ledger disagree in a way no automatic step settles; recorded with a detail
    /// and logged as an error for an operator.
    NeedsAttention,
}

impl WebhookOutcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Applied => "applied",
            WebhookOutcome::NoChange => "no_change",
            WebhookOutcome::NotOurs => "not_ours",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::NeedsAttention => "needs_attention",
        }
    }

    /// Which outcome wins when one event (a charge's refunds) has several.
    fn weight(self) -> u8 {
        match self {
            WebhookOutcome::Ignored => 0,
            WebhookOutcome::NotOurs => 1,
            WebhookOutcome::NoChange => 2,
            WebhookOutcome::Applied => 3,
            WebhookOutcome::NeedsAttention => 4,
        }
    }
}

/// What a connected account's update changed on its tester.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountUpdateRecorded {
    /// The tester's stored status changed.
    Changed,
    /// The tester's stored status already was that.
    Unchanged,
    /// No tester has this account.
    UnknownAccount,
}

/// Where `account.updated` goes: the owner of testers' connected-account status (identity; the
/// gateway adapts it, since escrow does not depend on identity).
pub trait PayoutAccountUpdates: Send + Sync + Debug {
    /// Records the account's new facts on the tester it belongs to.
    /// [`EscrowError::AccountUpdateFailed`] when that write failed (the event is redelivered).
    fn record_account_update<'a>(
        &'a self,
        update: &'a ConnectedAccountUpdate,
    ) -> BoxFuture<'a, Result<AccountUpdateRecorded, EscrowError>>;
}

/// A delivery that was accepted (answered 2xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookReceipt {
    /// This delivery processed the event.
    Processed {
        /// Stripe's event id.
        event_id: String,
        /// Its type.
        event_type: String,
        /// What it did.
        outcome: WebhookOutcome,
    },
    /// An earlier delivery processed it; nothing was done.
    Duplicate {
        /// Stripe's event id.
        event_id: String,
    },
}

/// A delivery that was not accepted.
#[derive(Debug, Error)]
pub enum WebhookError {
    /// The signature is missing, malformed, stale or not ours. Nothing was read or written;
    /// answered 400.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Genuine signature, but not an event. Nothing was written; answered 400.
    #[error(transparent)]
    Unreadable(#[from] EventParseError),
    /// Another delivery of the same event is being processed right now; answered with a
    /// retryable status so Stripe tries again.
    #[error("event {event_id} is being processed by another delivery")]
    Busy {
        /// Stripe's event id.
        event_id: String,
    },
    /// Processing failed and was recorded as failed; answered 5xx so Stripe delivers again.
    #[error("processing event {event_id} failed: {source}")]
    Failed {
        /// Stripe's event id.
        event_id: String,
        /// Why.
        source: EscrowError,
    },
}

impl EscrowService {
    /// Receives one webhook delivery: `payload` is the raw body, `signature` the
    /// `Stripe-Signature` header (see the module docs). Time is the service's clock.
    pub async fn receive_webhook(
        &self,
        marketplace: &MarketplaceService,
        accounts: &dyn PayoutAccountUpdates,
        secret: &WebhookSecret,
        signature: Option<&str>,
        payload: &[u8],
    ) -> Result<WebhookReceipt, WebhookError> {
        verify_signature(secret, signature, payload, self.now(), SIGNATURE_TOLERANCE)?;
        let event = ProviderEvent::parse(payload)?;
        self.process_provider_event(marketplace, accounts, &event)
            .await
    }

    /// Processes a verified event at most once (steps 3 to 5 of the module docs).
    pub async fn process_provider_event(
        &self,
        marketplace: &MarketplaceService,
        accounts: &dyn PayoutAccountUpdates,
        event: &ProviderEvent,
    ) -> Result<WebhookReceipt, WebhookError> {
        let failed = |source: EscrowError| WebhookError::Failed {
            event_id: event.id.clone(),
            source,
        };
        match self
            .claim_webhook_event(&event.id, &event.event_type)
            .await
            .map_err(failed)?
        {
            inbox::Claim::Claimed => {}
            inbox::Claim::AlreadyProcessed { outcome } => {
                tracing::info!(event_id = %event.id, event_type = %event.event_type, %outcome, "webhook event already processed");
                return Ok(WebhookReceipt::Duplicate {
                    event_id: event.id.clone(),
                });
            }
            inbox::Claim::Busy => {
                return Err(WebhookError::Busy {
                    event_id: event.id.clone(),
                })
            }
        }
        match self
            .apply_provider_event(marketplace, accounts, &event.kind)
            .await
        {
            Ok((outcome, detail)) => {
                if outcome == WebhookOutcome::NeedsAttention {
                    tracing::error!(event_id = %event.id, event_type = %event.event_type, detail = detail.as_deref().unwrap_or_default(), "webhook event needs an operator's attention");
                } else {
                    tracing::info!(event_id = %event.id, event_type = %event.event_type, outcome = outcome.as_str(), "webhook event processed");
                }
                self.finish_webhook_event(&event.id, outcome.as_str(), detail.as_deref())
                    .await
                    .map_err(failed)?;
                Ok(WebhookReceipt::Processed {
                    event_id: event.id.clone(),
                    event_type: event.event_type.clone(),
                    outcome,
                })
            }
            Err(error) => {
                tracing::warn!(event_id = %event.id, event_type = %event.event_type, %error, "webhook event failed; Stripe will deliver it again");
                if let Err(recording) = self.fail_webhook_event(&event.id, &error.to_string()).await
                {
                    tracing::warn!(event_id = %event.id, error = %recording, "could not record the failure; the claim's lease expires instead");
                }
                Err(failed(error))
            }
        }
    }
}
