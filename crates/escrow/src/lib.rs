//! The escrow domain: money held for a job, released to testers or refunded to the client.
//!
//! **Owns** the `escrow_transactions` collection (seed section 5: one escrow per job, with its
//! embedded `payouts`, `refunds` and append-only `events`), `escrow_idempotency_keys` (answers
//! of money-moving requests, expired by TTL) and `stripe_webhook_events` (the webhook inbox:
//! each Stripe event processed once), with their indexes and validators
//! ([`EscrowService::collections`]); the escrow, payout and refund lifecycles, each an enum plus
//! one transition table ([`ESCROW_TRANSITIONS`], [`PAYOUT_TRANSITIONS`], [`REFUND_TRANSITIONS`]);
//! the platform fee ([`split_payout`], rounding documented there); and the [`PaymentProvider`]
//! seam with its [`Sandbox`] implementation (embedded setup and tests) and its
//! [`StripeProvider`] implementation (PaymentIntents with manual capture, refunds and Connect
//! transfers through async-stripe; used whenever Stripe keys are configured), which finds a
//! tester's connected account through the [`ConnectedAccounts`] seam. A tester whose account
//! cannot receive transfers yet is not paid: the payout stays held for a later sweep.
//!
//! **How money moves.** Publishing a job captures its whole budget into escrow ([`JobFunding`]
//! implementation; capture timing argued in `funding.rs`). Approving a submission releases one
//! seat's pay: the platform keeps its fee, the tester's share is held for the dispute window, then
//! transferred ([`EscrowService::release_due_payouts`]). Cancelling a job refunds every unreleased
//! cent; completing one refunds the seats nobody will be paid for ([`EscrowService::settle_job`]),
//! except a rejected seat its tester may still dispute, refunded once its window passed. A
//! dispute's money (freeze, pay, refund, split) is stepped by the trust crate inside its own
//! transaction (`dispute.rs`).
//! Every step is a pure function on [`EscrowTransaction`] (`ledger.rs`), checked by
//! [`check_invariant`] (`captured = paid + held + fees + refunded + in escrow`) and written by
//! compare-and-set on the document's `version`. Payouts are embedded in the escrow document (the
//! seed's `payouts`): at most one per seat, and keeping them beside the counters makes each money
//! step one atomic document update.
//!
//! **Idempotency.** Every money-moving operation takes an [`IdempotencyKey`]: a repeat returns the
//! first answer and does nothing, the same key with other arguments is refused. Every provider
//! call carries a key derived from our ids ([`ProviderKeys`]).
//!
//! **Crash safety.** Intent is written before each provider call and the answer after it, so a
//! crash leaves a recognisable state (`pending` escrow, `processing` payout, `pending` refund);
//! [`EscrowService::reconcile`] finishes it with the same provider keys, and also repairs what a
//! lost marketplace hook left behind (approved submissions without a payout, closed jobs not
//! refunded). [`EscrowService::run_due_work`] is the background job (auto-approval, due transfers,
//! reconcile). Stripe's webhooks ([`EscrowService::receive_webhook`], `webhooks/`) repair the same
//! crashes sooner: a verified event is applied once, through the same ledger steps, found by the
//! ids escrow put in the Stripe objects' metadata; `account.updated` goes to the
//! [`PayoutAccountUpdates`] seam.
//!
//! **Is not**: a marketplace. It depends on `marketplace` (a documented link): it implements
//! marketplace's [`JobFunding`] and [`JobSettlement`] seams and reads jobs and submissions through
//! marketplace's API, never its collections. It writes a submission's `payout_*` fields through
//! [`marketplace::MarketplaceService::record_submission_payout`] in its own transaction, and
//! tester totals on identity's `users` only through the [`TesterEarnings`] seam (and reads the
//! tester's connected account there only through [`ConnectedAccounts`]). It knows nothing
//! of GraphQL or HTTP.
//!
//! [`JobFunding`]: marketplace::JobFunding
//! [`JobSettlement`]: marketplace::JobSettlement

mod collections;
mod connected_accounts;
mod dispute;
mod earnings;
mod error;
mod fee;
mod funding;
mod idempotency;
mod ledger;
mod lifecycle;
mod payment_methods;
mod payout;
mod payout_accounts;
mod provider;
mod reconcile;
mod refund;
mod sandbox;
mod service;
mod settings;
mod stripe_provider;
mod use_cases;
pub mod visibility;
mod webhooks;

pub use collections::{ESCROW_IDEMPOTENCY_KEYS, ESCROW_TRANSACTIONS};
pub use connected_accounts::{ConnectedAccounts, UsersConnectedAccounts, CONNECT_STATUS_VERIFIED};
pub use dispute::{DisputeMoney, DisputeSettlement};
pub use earnings::{TesterEarnings, UsersTesterTotals};
pub use error::EscrowError;
pub use fee::{split_payout, FeeSplit};
pub use idempotency::IdempotencyKey;
pub use ledger::{
    check_invariant, Attention, EscrowActor, EscrowEvent, EscrowEventType, EscrowTransaction,
    Payout, Refund,
};
pub use lifecycle::{
    derived_funded_status, escrow_transition_allowed, payout_transition, EscrowAction,
    EscrowStatus, PayoutAction, PayoutStatus, RefundStatus, ESCROW_TRANSITIONS, PAYOUT_TRANSITIONS,
    REFUND_TRANSITIONS,
};
pub use payment_methods::{
    customer_key, CreateCustomerRequest, PaymentMethods, SetupIntent, SetupIntentRefusal,
    MAX_SETUP_INTENT_ID_LENGTH,
};
pub use payout_accounts::{
    payout_account_key, CreatePayoutAccountRequest, OnboardingLinkRequest, PayoutAccount,
    PayoutAccounts,
};
pub use provider::{
    Authorization, AuthorizeRequest, CancelAuthorizationRequest, Capture, CaptureRequest,
    PaymentProvider, ProviderError, ProviderKeys, ProviderName, ProviderRefund, RefundRequest,
    Transfer, TransferRequest,
};
pub use reconcile::{DueWorkReport, ReconcileProblem, ReconcileReport};
pub use refund::JobSettlementSummary;
pub use sandbox::{Sandbox, SandboxMovement, SandboxMovementKind};
pub use service::EscrowService;
pub use settings::EscrowSettings;
pub use stripe_provider::{StripeProvider, StripeSecretKey, StripeSettings, STRIPE_API_BASE};
pub use webhooks::{
    verify_signature, AccountUpdateRecorded, ConnectedAccountUpdate, EventParseError,
    PaymentIntentFacts, PayoutAccountUpdates, ProviderEvent, ProviderEventKind,
    ProviderRefundStatus, RefundFacts, SignatureError, TransferFacts, WebhookError, WebhookOutcome,
    WebhookReceipt, WebhookSecret, SIGNATURE_TOLERANCE, STRIPE_WEBHOOK_EVENTS,
};
