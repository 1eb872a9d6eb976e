//! A Stripe event (`{"id": "evt_…", "type": "…", "data": {"object": {…}}}`) read into the typed
//! [`ProviderEvent`]: only the event types escrow acts on, and of their objects only the fields it
//! uses. Every other type is [`ProviderEventKind::Ignored`] (acknowledged, nothing changes); a
//! handled type whose object lacks what escrow needs is [`ProviderEventKind::Unusable`]
//! (acknowledged and recorded for an operator, since a redelivery would carry the same object).
//!
//! Our own ids travel in the objects' `metadata`, set by [`crate::StripeProvider`]: PaymentIntents
//! carry `escrow_id` and `funding_attempt`, refunds `escrow_id` and `refund_id`, transfers
//! `payout_id`. A metadata id that is not an ObjectId is treated as absent (the object is then
//! not ours unless its Stripe id is stored).

use bson::oid::ObjectId;
use serde_json::Value;
use thiserror::Error;

/// The payload is not a Stripe event. Answered 400; nothing is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unreadable event: {0}")]
pub struct EventParseError(String);

/// One Stripe event, as far as escrow (and the connected-account status) cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEvent {
    /// Stripe's event id (`evt_…`): deliveries are deduplicated on it.
    pub id: String,
    /// Stripe's event type (`payment_intent.succeeded`, …), as sent.
    pub event_type: String,
    /// What it means for us.
    pub kind: ProviderEventKind,
}

/// What an event says, in escrow's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderEventKind {
    /// `payment_intent.amount_capturable_updated` with status `requires_capture`: authorized.
    PaymentAuthorized(PaymentIntentFacts),
    /// `payment_intent.succeeded`: captured, with the PaymentIntent's `latest_charge`.
    PaymentCaptured {
        /// The PaymentIntent.
        intent: PaymentIntentFacts,
        /// The charge that captured it.
        charge_id: String,
    },
    /// `payment_intent.payment_failed`: declined.
    PaymentFailed {
        /// The PaymentIntent.
        intent: PaymentIntentFacts,
        /// Stripe's decline code or message.
        reason: String,
    },
    /// `payment_intent.canceled`: the authorization is gone (cancelled, or lapsed uncaptured).
    PaymentCanceled(PaymentIntentFacts),
    /// `refund.created`, `refund.updated`, `refund.failed` (one refund) or `charge.refunded`
    /// (the charge's refunds, when the event includes them).
    Refunds(Vec<RefundFacts>),
    /// `transfer.created` or `transfer.updated`: the transfer exists, so the payout is paid.
    TransferCreated(TransferFacts),
    /// `transfer.reversed`: money was pulled back from the tester's account.
    TransferReversed {
        /// The transfer.
        transfer: TransferFacts,
        /// Cents reversed so far (`amount_reversed`).
        amount_reversed: i64,
    },
    /// `account.updated`: a connected account's ability to receive transfers changed.
    AccountUpdated(ConnectedAccountUpdate),
    /// A type escrow handles, without the fields it needs.
    Unusable {
        /// What is missing.
        reason: String,
    },
    /// Any other type: acknowledged, nothing changes.
    Ignored,
}

/// The PaymentIntent fields escrow uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntentFacts {
    /// `pi_…`.
    pub payment_intent_id: String,
    /// `metadata.escrow_id`.
    pub escrow_id: Option<ObjectId>,
    /// `metadata.funding_attempt`: which funding attempt of the escrow created it.
    pub funding_attempt: Option<i32>,
}

/// Where Stripe says a refund is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRefundStatus {
    /// `pending` or `requires_action`: not final.
    Pending,
    /// `succeeded`.
    Succeeded,
    /// `failed` or `canceled`.
    Failed,
}

/// The refund fields escrow uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFacts {
    /// `re_…`.
    pub provider_refund_id: String,
    /// Its status.
    pub status: ProviderRefundStatus,
    /// `failure_reason`, when failed.
    pub failure_reason: Option<String>,
    /// `metadata.refund_id`: our refund.
    pub refund_id: Option<ObjectId>,
    /// `metadata.escrow_id`.
    pub escrow_id: Option<ObjectId>,
}

/// The transfer fields escrow uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFacts {
    /// `tr_…`.
    pub transfer_id: String,
    /// `metadata.payout_id`: our payout.
    pub payout_id: Option<ObjectId>,
}

/// A connected account's facts that decide whether it may receive transfers; identity turns
/// them into the tester's `stripe_connect_status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccountUpdate {
    /// `acct_…`.
    pub account_id: String,
    /// `payouts_enabled`.
    pub payouts_enabled: bool,
    /// `capabilities.transfers` (`active`, `inactive`, `pending`), when present.
    pub transfers_capability: Option<String>,
    /// `requirements.disabled_reason`, when the account is disabled.
    pub disabled_reason: Option<String>,
}

impl ProviderEvent {
    /// Reads a webhook payload (already verified as Stripe's).
    pub fn parse(payload: &[u8]) -> Result<Self, EventParseError> {
        let event: Value = serde_json::from_slice(payload)
            .map_err(|error| EventParseError(format!("not JSON: {error}")))?;
        let id = text(&event, "id")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| EventParseError("no event id".into()))?;
        let event_type = text(&event, "type")
            .filter(|event_type| !event_type.is_empty())
            .ok_or_else(|| EventParseError("no event type".into()))?;
        let object = event
            .get("data")
            .and_then(|data| data.get("object"))
            .filter(|object| object.is_object())
            .ok_or_else(|| EventParseError("no data.object".into()))?;
        let kind = match kind(event_type, object) {
            Ok(kind) => kind,
            Err(missing) => ProviderEventKind::Unusable {
                reason: format!("{event_type} without {missing}"),
            },
        };
        Ok(Self {
            id: id.to_owned(),
            event_type: event_type.to_owned(),
            kind,
        })
    }
}

/// The meaning of `object` for `event_type`; `Err` names a missing field.
fn kind(event_type: &str, object: &Value) -> Result<ProviderEventKind, &'static str> {
    Ok(match event_type {
        "payment_intent.amount_capturable_updated" => {
            if text(object, "status") == Some("requires_capture") {
                ProviderEventKind::PaymentAuthorized(intent(object)?)
            } else {
                ProviderEventKind::Ignored
            }
        }
        "payment_intent.succeeded" => ProviderEventKind::PaymentCaptured {
            intent: intent(object)?,
            charge_id: latest_charge(object).ok_or("latest_charge")?,
        },
        "payment_intent.payment_failed" => ProviderEventKind::PaymentFailed {
            intent: intent(object)?,
            reason: payment_error(object).unwrap_or_else(|| "the payment failed".into()),
        },
        "payment_intent.canceled" => ProviderEventKind::PaymentCanceled(intent(object)?),
        "refund.created" | "refund.updated" | "refund.failed" => {
            ProviderEventKind::Refunds(vec![refund(object)?])
        }
        "charge.refunded" => {
            // Since API version 2022-11-15 a charge no longer embeds its refunds; the refunds'
            // own events carry them then.
            let refunds = object
                .get("refunds")
                .and_then(|refunds| refunds.get("data"))
                .and_then(Value::as_array)
                .map(|refunds| refunds.iter().map(refund).collect::<Result<Vec<_>, _>>())
                .transpose()?
                .unwrap_or_default();
            ProviderEventKind::Refunds(refunds)
        }
        "transfer.created" | "transfer.updated" => {
            ProviderEventKind::TransferCreated(transfer(object)?)
        }
        "transfer.reversed" => ProviderEventKind::TransferReversed {
            transfer: transfer(object)?,
            amount_reversed: object
                .get("amount_reversed")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        },
        "account.updated" => ProviderEventKind::AccountUpdated(ConnectedAccountUpdate {
            account_id: text(object, "id").ok_or("id")?.to_owned(),
            payouts_enabled: object
                .get("payouts_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            transfers_capability: object
                .get("capabilities")
                .and_then(|capabilities| text(capabilities, "transfers"))
                .map(str::to_owned),
            disabled_reason: object
                .get("requirements")
                .and_then(|requirements| text(requirements, "disabled_reason"))
                .map(str::to_owned),
        }),
        _ => ProviderEventKind::Ignored,
    })
}

fn text<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

fn metadata_id(object: &Value, name: &str) -> Option<ObjectId> {
    object
        .get("metadata")
        .and_then(|metadata| text(metadata, name))
        .and_then(|id| ObjectId::parse_str(id).ok())
}

fn intent(object: &Value) -> Result<PaymentIntentFacts, &'static str> {
    Ok(PaymentIntentFacts {
        payment_intent_id: text(object, "id").ok_or("id")?.to_owned(),
        escrow_id: metadata_id(object, "escrow_id"),
        funding_attempt: object
            .get("metadata")
            .and_then(|metadata| text(metadata, "funding_attempt"))
            .and_then(|attempt| attempt.parse().ok()),
    })
}

/// `latest_charge` as an id or an expanded object; before API version 2022-11-15, the first of
/// `charges.data`.
fn latest_charge(object: &Value) -> Option<String> {
    match object.get("latest_charge") {
        Some(Value::String(id)) => Some(id.clone()),
        Some(expanded @ Value::Object(_)) => text(expanded, "id").map(str::to_owned),
        _ => object
            .get("charges")
            .and_then(|charges| charges.get("data"))
            .and_then(|charges| charges.get(0))
            .and_then(|charge| text(charge, "id"))
            .map(str::to_owned),
    }
}

fn payment_error(object: &Value) -> Option<String> {
    let error = object.get("last_payment_error")?;
    text(error, "decline_code")
        .or_else(|| text(error, "code"))
        .or_else(|| text(error, "message"))
        .map(str::to_owned)
}

fn refund(object: &Value) -> Result<RefundFacts, &'static str> {
    let status = match text(object, "status").ok_or("status")? {
        "succeeded" => ProviderRefundStatus::Succeeded,
        "failed" | "canceled" => ProviderRefundStatus::Failed,
        _ => ProviderRefundStatus::Pending,
    };
    Ok(RefundFacts {
        provider_refund_id: text(object, "id").ok_or("id")?.to_owned(),
        status,
        failure_reason: text(object, "failure_reason").map(str::to_owned),
        refund_id: metadata_id(object, "refund_id"),
        escrow_id: metadata_id(object, "escrow_id"),
    })
}

fn transfer(object: &Value) -> Result<TransferFacts, &'static str> {
    Ok(TransferFacts {
        transfer_id: text(object, "id").ok_or("id")?.to_owned(),
        payout_id: metadata_id(object, "payout_id"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(event_type: &str, object: Value) -> ProviderEventKind {
        let payload = serde_json::json!({
            "id": "evt_1", "object": "event", "type": event_type, "data": { "object": object },
        });
        ProviderEvent::parse(payload.to_string().as_bytes())
            .unwrap()
            .kind
    }

    #[test]
    fn a_succeeded_payment_intent_is_a_capture_with_its_latest_charge_and_our_ids() {
        let escrow_id = ObjectId::new();
        let kind = parse(
            "payment_intent.succeeded",
            serde_json::json!({ "id": "pi_1", "latest_charge": { "id": "ch_1" },
                "metadata": { "escrow_id": escrow_id.to_hex(), "funding_attempt": "2" } }),
        );
        assert_eq!(
            kind,
            ProviderEventKind::PaymentCaptured {
                intent: PaymentIntentFacts {
                    payment_intent_id: "pi_1".into(),
                    escrow_id: Some(escrow_id),
                    funding_attempt: Some(2),
                },
                charge_id: "ch_1".into(),
            }
        );
        let without_charge = parse(
            "payment_intent.succeeded",
            serde_json::json!({ "id": "pi_1" }),
        );
        assert!(matches!(without_charge, ProviderEventKind::Unusable { .. }));
    }

    #[test]
    fn refunds_transfers_and_accounts_keep_only_the_fields_escrow_uses() {
        let refund_id = ObjectId::new();
        let kind = parse(
            "refund.failed",
            serde_json::json!({ "id": "re_1", "status": "failed", "failure_reason": "expired_or_canceled_card",
                "metadata": { "refund_id": refund_id.to_hex(), "escrow_id": "not-an-id" } }),
        );
        assert_eq!(
            kind,
            ProviderEventKind::Refunds(vec![RefundFacts {
                provider_refund_id: "re_1".into(),
                status: ProviderRefundStatus::Failed,
                failure_reason: Some("expired_or_canceled_card".into()),
                refund_id: Some(refund_id),
                escrow_id: None,
            }])
        );
        let charge = parse(
            "charge.refunded",
            serde_json::json!({ "id": "ch_1", "refunds": { "data": [
                { "id": "re_2", "status": "succeeded", "metadata": {} } ] } }),
        );
        assert!(
            matches!(charge, ProviderEventKind::Refunds(ref refunds) if refunds.len() == 1 && refunds[0].status == ProviderRefundStatus::Succeeded)
        );
        let payout_id = ObjectId::new();
        assert_eq!(
            parse(
                "transfer.reversed",
                serde_json::json!({ "id": "tr_1", "amount_reversed": 500,
                    "metadata": { "payout_id": payout_id.to_hex() } }),
            ),
            ProviderEventKind::TransferReversed {
                transfer: TransferFacts {
                    transfer_id: "tr_1".into(),
                    payout_id: Some(payout_id)
                },
                amount_reversed: 500,
            }
        );
        assert_eq!(
            parse(
                "account.updated",
                serde_json::json!({ "id": "acct_1", "payouts_enabled": true,
                    "capabilities": { "transfers": "active" }, "requirements": { "disabled_reason": null } }),
            ),
            ProviderEventKind::AccountUpdated(ConnectedAccountUpdate {
                account_id: "acct_1".into(),
                payouts_enabled: true,
                transfers_capability: Some("active".into()),
                disabled_reason: None,
            })
        );
    }

    #[test]
    fn unknown_types_are_ignored_and_non_events_are_refused() {
        assert_eq!(
            parse("customer.created", serde_json::json!({ "id": "cus_1" })),
            ProviderEventKind::Ignored
        );
        assert_eq!(
            parse(
                "payment_intent.amount_capturable_updated",
                serde_json::json!({ "id": "pi_1", "status": "succeeded" })
            ),
            ProviderEventKind::Ignored
        );
        for payload in [
            "not json",
            r#"{"type":"x","data":{"object":{}}}"#,
            r#"{"id":"evt_1","data":{"object":{}}}"#,
            r#"{"id":"evt_1","type":"x"}"#,
        ] {
            assert!(
                ProviderEvent::parse(payload.as_bytes()).is_err(),
                "{payload}"
            );
        }
    }
}
