//! The payment provider seam: everything escrow asks of a payment service, behind one object-safe
//! trait. Every request carries an idempotency key derived from our own ids
//! ([`ProviderKeys`]), so repeating a call after a crash or a timeout returns the first answer
//! and moves no money twice.
//!
//! The shape follows what a Stripe implementation needs: `authorize` creates and confirms a
//! PaymentIntent with manual capture on the payer's own customer and saved payment method, `capture` captures it, `cancel_authorization` cancels it,
//! `refund` refunds (part of) the charge, and `transfer` makes a Connect transfer to the tester's
//! connected account with `transfer_group` set to the job. A provider resolves a tester's
//! connected account itself (a Stripe provider is built with a lookup), so the trait carries our
//! tester id, not an account id.

use std::fmt::Debug;

use bson::oid::ObjectId;
use foundation::Money;
use futures_util::future::BoxFuture;
use thiserror::Error;

/// Which provider moved the money; stored on the escrow as `provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderName {
    /// The deterministic in-process provider of the embedded setup.
    Sandbox,
    /// Stripe (PaymentIntents and Connect).
    Stripe,
}

impl ProviderName {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Sandbox => "SANDBOX",
            ProviderName::Stripe => "STRIPE",
        }
    }
}

/// Authorize the client's payment for a job's whole budget (capture later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// Derived from the escrow id and funding attempt.
    pub idempotency_key: String,
    /// Our escrow transaction.
    pub escrow_id: ObjectId,
    /// The escrow's funding attempt this payment belongs to (a provider's report of an earlier,
    /// abandoned attempt must not fund the escrow).
    pub funding_attempt: i32,
    /// The job funded.
    pub job_id: ObjectId,
    /// The job's client (kept in the payment's metadata).
    pub client_id: ObjectId,
    /// The paying customer at the provider (the payer's `client_data.stripe_customer_id`).
    pub customer_id: String,
    /// The payment method saved on that customer, charged off-session.
    pub payment_method_id: String,
    /// The amount.
    pub amount: Money,
    /// Groups the payment with the job's transfers (`job_<id>`).
    pub transfer_group: String,
}

/// A successful authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The provider's payment id (a Stripe PaymentIntent id); stored as
    /// `stripe_payment_intent_id`.
    pub payment_id: String,
}

/// Capture an authorized payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRequest {
    /// Derived from the escrow id and funding attempt.
    pub idempotency_key: String,
    /// The authorized payment.
    pub payment_id: String,
    /// The amount to capture.
    pub amount: Money,
}

/// A successful capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The provider's charge id; stored as `stripe_charge_id`.
    pub charge_id: String,
}

/// Release an authorization that will not be captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelAuthorizationRequest {
    /// Derived from the escrow id and funding attempt.
    pub idempotency_key: String,
    /// The authorized payment.
    pub payment_id: String,
}

/// Return captured money to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// Derived from our refund id.
    pub idempotency_key: String,
    /// Our refund (a provider's later report of it names it).
    pub refund_id: ObjectId,
    /// The escrow it comes out of.
    pub escrow_id: ObjectId,
    /// The job.
    pub job_id: ObjectId,
    /// The captured payment.
    pub payment_id: String,
    /// The amount.
    pub amount: Money,
    /// Why, for the provider's records.
    pub reason: String,
}

/// A refund the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    /// The provider's refund id; stored as `stripe_refund_id`.
    pub refund_id: String,
}

/// Pay a tester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// Derived from our payout id and attempt.
    pub idempotency_key: String,
    /// Our payout.
    pub payout_id: ObjectId,
    /// The tester paid (the provider maps it to the connected account).
    pub tester_id: ObjectId,
    /// What the tester receives.
    pub amount: Money,
    /// The job's group (`job_<id>`), shared with the payment.
    pub transfer_group: String,
}

/// A transfer the provider made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The provider's transfer id; stored as `stripe_transfer_id`.
    pub transfer_id: String,
}

/// Why a provider call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProviderError {
    /// A definite refusal: nothing happened, and the same request will be refused again.
    #[error("declined: {reason}")]
    Declined {
        /// The provider's reason.
        reason: String,
    },
    /// No definite answer (network, timeout, outage): the call may or may not have happened.
    /// Retrying with the same idempotency key is always safe.
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
    /// The recipient cannot receive money yet (a tester without a verified connected account):
    /// nothing was sent; the same request is asked again later, and the payout stays held.
    #[error("recipient not ready: {reason}")]
    RecipientNotReady {
        /// Why.
        reason: String,
    },
    /// The key was used before with different parameters.
    #[error("idempotency key `{key}` reused with different parameters")]
    IdempotencyMismatch {
        /// The key.
        key: String,
    },
}

/// A payment service. Object safe: escrow holds an `Arc<dyn PaymentProvider>`.
pub trait PaymentProvider: Send + Sync + Debug {
    /// Which provider this is.
    fn name(&self) -> ProviderName;
    /// Authorizes the client's payment without capturing it.
    fn authorize(
        &self,
        request: AuthorizeRequest,
    ) -> BoxFuture<'_, Result<Authorization, ProviderError>>;
    /// Captures an authorized payment.
    fn capture(&self, request: CaptureRequest) -> BoxFuture<'_, Result<Capture, ProviderError>>;
    /// Cancels an authorization.
    fn cancel_authorization(
        &self,
        request: CancelAuthorizationRequest,
    ) -> BoxFuture<'_, Result<(), ProviderError>>;
    /// Refunds captured money to the client.
    fn refund(
        &self,
        request: RefundRequest,
    ) -> BoxFuture<'_, Result<ProviderRefund, ProviderError>>;
    /// Transfers a payout to a tester.
    fn transfer(&self, request: TransferRequest) -> BoxFuture<'_, Result<Transfer, ProviderError>>;
}

/// The idempotency keys escrow sends to providers, all derived from our own ids so that a retry
/// (after a crash, a timeout or from `reconcile`) sends the same key.
pub struct ProviderKeys;

impl ProviderKeys {
    /// Authorizing funding attempt `attempt` of an escrow.
    pub fn authorize(escrow_id: ObjectId, attempt: i32) -> String {
        format!("escrow:{}:authorize:{attempt}", escrow_id.to_hex())
    }

    /// Capturing funding attempt `attempt` of an escrow.
    pub fn capture(escrow_id: ObjectId, attempt: i32) -> String {
        format!("escrow:{}:capture:{attempt}", escrow_id.to_hex())
    }

    /// Cancelling funding attempt `attempt` of an escrow.
    pub fn cancel(escrow_id: ObjectId, attempt: i32) -> String {
        format!("escrow:{}:cancel:{attempt}", escrow_id.to_hex())
    }

    /// Transfer attempt `attempt` of a payout.
    pub fn transfer(payout_id: ObjectId, attempt: i32) -> String {
        format!("payout:{}:transfer:{attempt}", payout_id.to_hex())
    }

    /// A refund.
    pub fn refund(refund_id: ObjectId) -> String {
        format!("refund:{}", refund_id.to_hex())
    }

    /// The transfer group of a job's payment and payouts.
    pub fn transfer_group(job_id: ObjectId) -> String {
        format!("job_{}", job_id.to_hex())
    }
}
