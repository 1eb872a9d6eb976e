//! [`StripeProvider`]: the [`PaymentProvider`] that moves real money through Stripe, with
//! async-stripe's request builders and client.
//!
//! | escrow call            | Stripe request                                                  |
//! |------------------------|-----------------------------------------------------------------|
//! | `authorize`            | `POST /v1/payment_intents` (`capture_method=manual`, `confirm`, |
//! |                        | `customer`, `payment_method`, `off_session`)                    |
//! | `capture`              | `POST /v1/payment_intents/{id}/capture` (`amount_to_capture`)   |
//! | `cancel_authorization` | `POST /v1/payment_intents/{id}/cancel`                          |
//! | `refund`               | `POST /v1/refunds` (`payment_intent`, `amount`)                 |
//! | `transfer`             | `POST /v1/transfers` (`destination`, `transfer_group`)          |
//!
//! Every object escrow creates carries our ids in its `metadata`, so a webhook about it can be
//! matched even when escrow's own write of Stripe's answer was lost: PaymentIntents `escrow_id`,
//! `funding_attempt`, `job_id`, `client_id`; refunds `refund_id`, `escrow_id`, `job_id`, `reason`;
//! transfers `payout_id`, `tester_id`.
//!
//! Every request carries the `Idempotency-Key` escrow derived from its own ids
//! ([`crate::ProviderKeys`]), so a retry after a crash or a timeout gets Stripe's first answer and
//! moves no money twice. Responses are read as plain JSON and only the fields escrow uses (`id`,
//! `status`, `latest_charge`, `last_payment_error`, a refund's `failure_reason`) are looked at:
//! a new field, or one Stripe leaves out, cannot turn a payment that happened into an error.
//!
//! Errors keep the provider seam's promise: a card decline or a request Stripe refuses for good
//! is [`ProviderError::Declined`]; a key reused with other parameters (`idempotency_error`) is
//! [`ProviderError::IdempotencyMismatch`]; a network failure, a timeout, a rate limit, a lock
//! conflict, Stripe's own failures, refused credentials and unreadable answers are
//! [`ProviderError::Unavailable`], since the call may or may not have happened and a retry with
//! the same key is safe.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use miniserde::json::Value;
use stripe::{
    ApiErrorsType, Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError,
    StripeRequest,
};
use stripe_connect::transfer::CreateTransfer;
use stripe_core::payment_intent::{
    CancelPaymentIntent, CapturePaymentIntent, CreatePaymentIntent, CreatePaymentIntentOffSession,
};
use stripe_core::refund::CreateRefund;
use stripe_core::PaymentIntentCaptureMethod;

use foundation::Money;

use crate::connected_accounts::ConnectedAccounts;
use crate::error::EscrowError;
use crate::provider::{
    Authorization, AuthorizeRequest, CancelAuthorizationRequest, Capture, CaptureRequest,
    PaymentProvider, ProviderError, ProviderName, ProviderRefund, RefundRequest, Transfer,
    TransferRequest,
};

/// Stripe's API, where requests go unless the settings say otherwise.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com/";

/// A Stripe secret API key. Its `Debug` never shows the key, so it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeSecretKey(String);

impl StripeSecretKey {
    /// Wraps a key (`sk_live_…`, `sk_test_…` or a restricted `rk_…`).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
}

impl fmt::Debug for StripeSecretKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("StripeSecretKey(<redacted>)")
    }
}

/// Settings of the Stripe provider. The gateway builds them from its configuration; when a key
/// is configured the gateway uses [`StripeProvider`], never the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSettings {
    /// The secret API key.
    pub secret_key: StripeSecretKey,
    /// Where the API is ([`STRIPE_API_BASE`]); tests point it at a local fake.
    pub api_base: String,
    /// How long one request may take before it counts as unavailable (and is retried later
    /// with the same key).
    pub request_timeout: Duration,
}

impl StripeSettings {
    /// Settings for Stripe's own API with a 30-second request timeout.
    pub fn new(secret_key: StripeSecretKey) -> Self {
        Self {
            secret_key,
            api_base: STRIPE_API_BASE.to_owned(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The Stripe payment provider (identifies itself as `STRIPE`).
pub struct StripeProvider {
    client: Client,
    api_base: String,
    accounts: Arc<dyn ConnectedAccounts>,
}

impl fmt::Debug for StripeProvider {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client holds the key: it is left out on purpose.
        formatter
            .debug_struct("StripeProvider")
            .field("api_base", &self.api_base)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

impl StripeProvider {
    /// A provider talking to `settings.api_base`, paying testers to the accounts `accounts`
    /// resolves.
    pub fn new(
        settings: StripeSettings,
        accounts: Arc<dyn ConnectedAccounts>,
    ) -> Result<Self, EscrowError> {
        if settings.secret_key.0.is_empty() {
            return Err(EscrowError::InvalidSettings(
                "the Stripe secret key is empty".into(),
            ));
        }
        // async-stripe appends `v1/...` to the base, so it must end with a slash.
        let mut api_base = settings.api_base;
        if !api_base.ends_with('/') {
            api_base.push('/');
        }
        let client = ClientBuilder::new(settings.secret_key.0)
            .url(api_base.clone())
            .timeout(settings.request_timeout)
            .build()
            .map_err(|error| {
                EscrowError::InvalidSettings(format!("building the Stripe client: {error}"))
            })?;
        Ok(Self {
            client,
            api_base,
            accounts,
        })
    }

    /// Sends `request` once with `key` as its `Idempotency-Key` and returns Stripe's JSON.
    pub(crate) async fn send(
        &self,
        request: impl StripeRequest,
        key: &str,
    ) -> Result<Value, ProviderError> {
        let idempotency_key =
            IdempotencyKey::new(key).map_err(|error| ProviderError::Declined {
                reason: format!("unusable idempotency key: {error}"),
            })?;
        request
            .build()
            .customize::<Value>()
            .request_strategy(RequestStrategy::Idempotent(idempotency_key))
            .send(&self.client)
            .await
            .map_err(|error| provider_error(error, key))
    }

    /// Reads an object once (a GET changes nothing, so it carries no idempotency key).
    pub(crate) async fn get(&self, request: impl StripeRequest) -> Result<Value, ProviderError> {
        request
            .build()
            .customize::<Value>()
            .request_strategy(RequestStrategy::Once)
            .send(&self.client)
            .await
            .map_err(|error| provider_error(error, ""))
    }

    async fn authorize_payment(
        &self,
        request: AuthorizeRequest,
    ) -> Result<Authorization, ProviderError> {
        let amount = positive_minor_units(&request.amount)?;
        let create = CreatePaymentIntent::new(amount, stripe_currency(&request.amount))
            .capture_method(PaymentIntentCaptureMethod::Manual)
            .confirm(true)
            // The payer's own customer and the method they saved on it, charged while they are
            // not at the keyboard: never a platform-wide card.
            .customer(request.customer_id)
            .payment_method(request.payment_method_id)
            .off_session(CreatePaymentIntentOffSession::Bool(true))
            .transfer_group(request.transfer_group)
            .metadata(HashMap::from([
                ("escrow_id".to_owned(), request.escrow_id.to_hex()),
                (
                    "funding_attempt".to_owned(),
                    request.funding_attempt.to_string(),
                ),
                ("job_id".to_owned(), request.job_id.to_hex()),
                ("client_id".to_owned(), request.client_id.to_hex()),
            ]));
        let intent = self.send(create, &request.idempotency_key).await?;
        let payment_id = required_string(&intent, "id")?;
        match string_field(&intent, "status") {
            Some("requires_capture") => Ok(Authorization { payment_id }),
            Some("requires_action") => Err(ProviderError::Declined {
                reason: "the card requires the client's authentication".into(),
            }),
            Some("requires_payment_method" | "canceled") => Err(ProviderError::Declined {
                reason: last_payment_error(&intent)
                    .unwrap_or_else(|| "the payment method was refused".into()),
            }),
            status => Err(ProviderError::Unavailable {
                reason: format!(
                    "payment intent {payment_id} is `{}`, not yet authorized",
                    status.unwrap_or("unknown")
                ),
            }),
        }
    }

    async fn capture_payment(&self, request: CaptureRequest) -> Result<Capture, ProviderError> {
        let amount = positive_minor_units(&request.amount)?;
        let capture =
            CapturePaymentIntent::new(request.payment_id.as_str()).amount_to_capture(amount);
        let intent = self.send(capture, &request.idempotency_key).await?;
        if string_field(&intent, "status") != Some("succeeded") {
            return Err(ProviderError::Unavailable {
                reason: format!(
                    "payment intent {} is `{}` after capture",
                    request.payment_id,
                    string_field(&intent, "status").unwrap_or("unknown")
                ),
            });
        }
        let charge_id =
            expandable_id(&intent, "latest_charge").ok_or_else(|| ProviderError::Unavailable {
                reason: format!("payment intent {} has no charge", request.payment_id),
            })?;
        Ok(Capture { charge_id })
    }

    async fn cancel_payment(
        &self,
        request: CancelAuthorizationRequest,
    ) -> Result<(), ProviderError> {
        let cancel = CancelPaymentIntent::new(request.payment_id.as_str());
        let intent = self.send(cancel, &request.idempotency_key).await?;
        match string_field(&intent, "status") {
            Some("canceled") => Ok(()),
            status => Err(ProviderError::Unavailable {
                reason: format!(
                    "payment intent {} is `{}` after cancelling",
                    request.payment_id,
                    status.unwrap_or("unknown")
                ),
            }),
        }
    }

    async fn refund_payment(
        &self,
        request: RefundRequest,
    ) -> Result<ProviderRefund, ProviderError> {
        let amount = positive_minor_units(&request.amount)?;
        let create = CreateRefund::new()
            .payment_intent(request.payment_id)
            .amount(amount)
            .metadata(HashMap::from([
                ("reason".to_owned(), request.reason),
                ("refund_id".to_owned(), request.refund_id.to_hex()),
                ("escrow_id".to_owned(), request.escrow_id.to_hex()),
                ("job_id".to_owned(), request.job_id.to_hex()),
            ]));
        let refund = self.send(create, &request.idempotency_key).await?;
        let refund_id = required_string(&refund, "id")?;
        match string_field(&refund, "status") {
            Some("failed" | "canceled") => Err(ProviderError::Declined {
                reason: string_field(&refund, "failure_reason")
                    .map_or_else(|| format!("refund {refund_id} failed"), str::to_owned),
            }),
            _ => Ok(ProviderRefund { refund_id }),
        }
    }

    async fn transfer_payout(&self, request: TransferRequest) -> Result<Transfer, ProviderError> {
        let amount = positive_minor_units(&request.amount)?;
        let destination = self
            .accounts
            .transfer_destination(request.tester_id)
            .await?;
        let create = CreateTransfer::new(stripe_currency(&request.amount), destination)
            .amount(amount)
            .transfer_group(request.transfer_group)
            .metadata(HashMap::from([
                ("payout_id".to_owned(), request.payout_id.to_hex()),
                ("tester_id".to_owned(), request.tester_id.to_hex()),
            ]));
        let transfer = self.send(create, &request.idempotency_key).await?;
        Ok(Transfer {
            transfer_id: required_string(&transfer, "id")?,
        })
    }
}

impl PaymentProvider for StripeProvider {
    fn name(&self) -> ProviderName {
        ProviderName::Stripe
    }

    fn authorize(
        &self,
        request: AuthorizeRequest,
    ) -> BoxFuture<'_, Result<Authorization, ProviderError>> {
        Box::pin(self.authorize_payment(request))
    }

    fn capture(&self, request: CaptureRequest) -> BoxFuture<'_, Result<Capture, ProviderError>> {
        Box::pin(self.capture_payment(request))
    }

    fn cancel_authorization(
        &self,
        request: CancelAuthorizationRequest,
    ) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(self.cancel_payment(request))
    }

    fn refund(
        &self,
        request: RefundRequest,
    ) -> BoxFuture<'_, Result<ProviderRefund, ProviderError>> {
        Box::pin(self.refund_payment(request))
    }

    fn transfer(&self, request: TransferRequest) -> BoxFuture<'_, Result<Transfer, ProviderError>> {
        Box::pin(self.transfer_payout(request))
    }
}

/// Stripe wants amounts above zero; anything else is refused before a request is made.
fn positive_minor_units(amount: &Money) -> Result<i64, ProviderError> {
    if amount.amount_minor <= 0 {
        return Err(ProviderError::Declined {
            reason: format!("Stripe moves only positive amounts, not {amount}"),
        });
    }
    Ok(amount.amount_minor)
}

/// Stripe spells currencies in lower case (`usd`).
fn stripe_currency(amount: &Money) -> stripe_types::Currency {
    let Ok(currency) = amount.currency.code().to_ascii_lowercase().parse();
    currency
}

pub(crate) fn string_field<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    match object {
        Value::Object(fields) => match fields.get(name) {
            Some(Value::String(text)) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn required_string(object: &Value, name: &str) -> Result<String, ProviderError> {
    string_field(object, name)
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::Unavailable {
            reason: format!("Stripe's answer has no `{name}`"),
        })
}

/// A field Stripe sends as an id, or as the object itself when expanded.
pub(crate) fn expandable_id(object: &Value, name: &str) -> Option<String> {
    match object {
        Value::Object(fields) => match fields.get(name) {
            Some(Value::String(id)) => Some(id.clone()),
            Some(expanded @ Value::Object(_)) => string_field(expanded, "id").map(str::to_owned),
            _ => None,
        },
        _ => None,
    }
}

fn last_payment_error(intent: &Value) -> Option<String> {
    let Value::Object(fields) = intent else {
        return None;
    };
    let error = fields.get("last_payment_error")?;
    string_field(error, "decline_code")
        .or_else(|| string_field(error, "code"))
        .or_else(|| string_field(error, "message"))
        .map(str::to_owned)
}

/// Classifies a failed request (see the module docs). `key` is the request's idempotency key.
fn provider_error(error: StripeError, key: &str) -> ProviderError {
    match error {
        StripeError::Stripe(api, status) => {
            let code = api.code.as_ref().map(|code| code.as_str().to_owned());
            let detail = [
                code.as_deref(),
                api.decline_code.as_deref(),
                api.message.as_deref(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
            let reason = format!("Stripe answered {status} {}: {detail}", api.type_.as_str());
            match (&api.type_, status) {
                (ApiErrorsType::IdempotencyError, _) => ProviderError::IdempotencyMismatch {
                    key: key.to_owned(),
                },
                (ApiErrorsType::CardError, _) => ProviderError::Declined { reason: detail },
                // 401/403: our credentials, 409: a concurrent request with the same key,
                // 429: rate limited, 5xx: Stripe's side. None is an answer about the payment.
                (_, 401 | 403 | 409 | 429) | (_, 500..) | (ApiErrorsType::ApiError, _) => {
                    ProviderError::Unavailable { reason }
                }
                _ => ProviderError::Declined { reason },
            }
        }
        StripeError::ClientError(detail) => ProviderError::Unavailable {
            reason: format!("could not reach Stripe: {detail}"),
        },
        StripeError::Timeout => ProviderError::Unavailable {
            reason: "Stripe did not answer in time".into(),
        },
        StripeError::JSONDeserialize(detail) => ProviderError::Unavailable {
            reason: format!("unreadable answer from Stripe: {detail}"),
        },
        StripeError::ConfigError(detail) => ProviderError::Unavailable {
            reason: format!("Stripe client misconfigured: {detail}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_key_never_shows_in_debug_output() {
        let settings = StripeSettings::new(StripeSecretKey::new("sk_test_secret123"));
        let shown = format!("{settings:?}");
        assert!(!shown.contains("sk_test_secret123"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn network_and_timeout_failures_are_unavailable() {
        assert!(matches!(
            provider_error(StripeError::ClientError("refused".into()), "k"),
            ProviderError::Unavailable { .. }
        ));
        assert!(matches!(
            provider_error(StripeError::Timeout, "k"),
            ProviderError::Unavailable { .. }
        ));
    }

    #[test]
    fn an_expanded_charge_and_a_charge_id_both_give_the_id() {
        let as_id: Value = miniserde::json::from_str(r#"{"latest_charge":"ch_1"}"#).unwrap();
        let expanded: Value =
            miniserde::json::from_str(r#"{"latest_charge":{"id":"ch_2","object":"charge"}}"#)
                .unwrap();
        assert_eq!(
            expandable_id(&as_id, "latest_charge").as_deref(),
            Some("ch_1")
        );
        assert_eq!(
            expandable_id(&expanded, "latest_charge").as_deref(),
            Some("ch_2")
        );
    }
}
