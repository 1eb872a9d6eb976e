//! Test-only stand-ins for Stripe, on loopback only, shared by escrow's provider tests and the
//! end-to-end tests of the gateway over Stripe.
//!
//! - [`Localstripe`] runs localstripe (a stateful Stripe fake from PyPI, pinned in
//!   `localstripe-requirements.txt` and installed by `cargo xtask venv`/`test`): PaymentIntents,
//!   charges and refunds.
//! - [`StripeFront`] is the HTTP server the provider under test talks to. It keeps Stripe's
//!   documented idempotency rules (localstripe ignores the header), answers Connect transfers
//!   itself (localstripe has no Connect), forwards everything else to localstripe, records every
//!   request, and runs a test's hook when a chosen request has been answered, before the answer
//!   leaves (to make the caller's next database write fail, for instance).
//! - [`WebhookSigner`] builds Stripe event envelopes and signs them with Stripe's documented
//!   `Stripe-Signature` scheme, so a test delivers webhooks exactly as Stripe would.
//!
//! **Is not** a dependency of any shipped crate: it panics with instructions when localstripe is
//! missing (these tests never skip), which only a test may do.

mod front;
mod localstripe;
mod webhooks;

pub use front::{Exchange, ExchangeHook, RecordedRequest, StripeFront};
pub use localstripe::{Localstripe, LOCALSTRIPE_PYTHON};
pub use webhooks::{connected_account, AccountState, WebhookSigner};
