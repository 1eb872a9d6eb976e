//! `POST /webhooks/stripe`: Stripe's webhook endpoint. It reads the raw body (Stripe signs the
//! bytes, so it must not be parsed first), hands it with the `Stripe-Signature` header to
//! [`escrow::EscrowService::receive_webhook`], and turns the answer into the status codes Stripe
//! acts on: 2xx when the event was processed or was a duplicate (Stripe stops), 400 when the
//! signature or the body is refused (nothing was changed), 409 while another delivery of the same
//! event is processing, 5xx when processing failed (Stripe delivers again, and that delivery
//! processes it), 404 when no webhook secret is configured. The secret, the signature and the
//! body are never logged.
//!
//! It also adapts identity to escrow's [`escrow::PayoutAccountUpdates`] seam, since escrow does
//! not depend on identity: `account.updated` becomes
//! [`identity::IdentityService::record_payout_account_status`].
//!
//! **Is not** where events are understood: that is escrow's `webhooks` module.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use escrow::{
    AccountUpdateRecorded, ConnectedAccountUpdate, EscrowError, PayoutAccountUpdates, WebhookError,
    WebhookReceipt, WebhookSecret,
};
use futures_util::future::BoxFuture;
use identity::{PayoutAccountRecorded, PayoutAccountStatus};
use serde_json::json;

use crate::http::AppState;

/// Largest webhook body accepted; Stripe's events are far smaller.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 512 * 1024;

/// The endpoint's configuration: present only when `STRIPE_WEBHOOK_SECRET` is set.
#[derive(Debug, Clone)]
pub struct StripeWebhooks {
    /// The signing secret.
    pub secret: WebhookSecret,
    /// Where `account.updated` is recorded.
    pub accounts: IdentityPayoutAccounts,
}

/// Escrow's account-update seam over identity.
#[derive(Debug, Clone)]
pub struct IdentityPayoutAccounts(pub identity::IdentityService);

impl PayoutAccountUpdates for IdentityPayoutAccounts {
    fn record_account_update<'a>(
        &'a self,
        update: &'a ConnectedAccountUpdate,
    ) -> BoxFuture<'a, Result<AccountUpdateRecorded, EscrowError>> {
        Box::pin(async move {
            let status = PayoutAccountStatus::from_account(
                update.payouts_enabled,
                update.transfers_capability.as_deref(),
                update.disabled_reason.as_deref(),
            );
            let recorded = self
                .0
                .record_payout_account_status(&update.account_id, status)
                .await
                .map_err(|error| EscrowError::AccountUpdateFailed(error.to_string()))?;
            Ok(match recorded {
                PayoutAccountRecorded::Changed => AccountUpdateRecorded::Changed,
                PayoutAccountRecorded::Unchanged => AccountUpdateRecorded::Unchanged,
                PayoutAccountRecorded::UnknownAccount => AccountUpdateRecorded::UnknownAccount,
            })
        })
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// The handler (see the module docs).
pub async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(webhooks) = &state.stripe_webhooks else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({ "error": "no Stripe webhook endpoint is configured (STRIPE_WEBHOOK_SECRET)" }),
        );
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok());
    let services = &state.services;
    let received = services
        .escrow()
        .receive_webhook(
            services.marketplace(),
            &webhooks.accounts,
            &webhooks.secret,
            signature,
            &body,
        )
        .await;
    match received {
        Ok(WebhookReceipt::Processed {
            event_id, outcome, ..
        }) => answer(
            StatusCode::OK,
            json!({ "received": true, "eventId": event_id, "outcome": outcome.as_str() }),
        ),
        Ok(WebhookReceipt::Duplicate { event_id }) => answer(
            StatusCode::OK,
            json!({ "received": true, "eventId": event_id, "duplicate": true }),
        ),
        Err(error @ (WebhookError::Signature(_) | WebhookError::Unreadable(_))) => {
            tracing::warn!(%error, "webhook delivery refused");
            answer(
                StatusCode::BAD_REQUEST,
                json!({ "error": error.to_string() }),
            )
        }
        Err(error @ WebhookError::Busy { .. }) => {
            answer(StatusCode::CONFLICT, json!({ "error": error.to_string() }))
        }
        Err(WebhookError::Failed { event_id, source }) => {
            tracing::error!(%event_id, error = %source, "webhook event processing failed");
            let status = match source {
                EscrowError::Database(_)
                | EscrowError::Contended
                | EscrowError::AccountUpdateFailed(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            answer(
                status,
                json!({ "error": "processing the event failed; deliver it again", "eventId": event_id }),
            )
        }
    }
}
