//! Applying a Stripe event to the ledger. The event is a second, independent report of a
//! provider call escrow made itself, so it may arrive before, after, or instead of escrow's own
//! write of the answer (the write may be the thing that failed). Each event is therefore applied
//! through the same ledger steps and the same compare-and-set as the normal path, and only when
//! the stored state still needs it: a step already taken is "no change", never a second movement.
//!
//! Escrows are found by our ids in the Stripe object's metadata first (the write that stores a
//! Stripe id may be the one that failed), then by the stored Stripe id; an object that matches
//! neither, or an escrow that does not run on Stripe, is not ours. A PaymentIntent also carries its
//! funding attempt, so a late event of an earlier, abandoned attempt changes nothing.
//!
//! | event                                        | ledger step                                  |
//! |----------------------------------------------|----------------------------------------------|
//! | `payment_intent.amount_capturable_updated`   | pending → authorized                         |
//! | `payment_intent.succeeded`                   | pending/authorized → captured (`latest_charge`)|
//! | `payment_intent.payment_failed`              | pending/authorized → failed                  |
//! | `payment_intent.canceled`                    | pending/authorized → expired                 |
//! | `refund.*`, `charge.refunded`                | pending refund → succeeded / failed          |
//! | `transfer.created`, `transfer.updated`       | processing payout → paid (tester credited)   |
//! | `transfer.reversed`                          | event recorded, payout stays paid (below)    |
//!
//! Two reports are not applied and are recorded as `needs_attention` for an operator instead,
//! with an error in the log: a refund Stripe fails after the ledger recorded it succeeded (the
//! client's money did not come back), and a transfer reversal. Escrow never reverses transfers
//! itself, so a reversal is an operator's act on Stripe; the payout stays paid and the tester's
//! totals unchanged (that money left escrow for good), and the escrow's log gets a
//! `transfer_reversed` event with the amount, so the history shows it.

use bson::oid::ObjectId;
use bson::{doc, Document};
use marketplace::MarketplaceService;

use crate::error::EscrowError;
use crate::ledger::{EscrowActor, EscrowTransaction, TransferConfirmation};
use crate::lifecycle::{EscrowStatus, RefundStatus};
use crate::provider::ProviderName;
use crate::service::EscrowService;

use super::event::{
    PaymentIntentFacts, ProviderEventKind, ProviderRefundStatus, RefundFacts, TransferFacts,
};
use super::{AccountUpdateRecorded, PayoutAccountUpdates, WebhookOutcome};

/// Who the ledger says acted.
const ACTOR: EscrowActor = EscrowActor::Platform("stripe_webhook");

/// An outcome and, when useful, a sentence for the record.
pub(crate) type Applied = (WebhookOutcome, Option<String>);

fn outcome(outcome: WebhookOutcome) -> Result<Applied, EscrowError> {
    Ok((outcome, None))
}

fn attention(detail: String) -> Result<Applied, EscrowError> {
    Ok((WebhookOutcome::NeedsAttention, Some(detail)))
}

/// Which payment step an event asks for.
#[derive(Clone, Copy)]
enum PaymentStep<'a> {
    Authorize,
    Capture(&'a str),
    Fail(&'a str),
    Cancel,
}

impl EscrowService {
    /// Applies one event's meaning (see the module docs).
    pub(crate) async fn apply_provider_event(
        &self,
        marketplace: &MarketplaceService,
        accounts: &dyn PayoutAccountUpdates,
        kind: &ProviderEventKind,
    ) -> Result<Applied, EscrowError> {
        match kind {
            ProviderEventKind::PaymentAuthorized(intent) => {
                self.apply_payment(marketplace, intent, PaymentStep::Authorize)
                    .await
            }
            ProviderEventKind::PaymentCaptured { intent, charge_id } => {
                self.apply_payment(marketplace, intent, PaymentStep::Capture(charge_id))
                    .await
            }
            ProviderEventKind::PaymentFailed { intent, reason } => {
                self.apply_payment(marketplace, intent, PaymentStep::Fail(reason))
                    .await
            }
            ProviderEventKind::PaymentCanceled(intent) => {
                self.apply_payment(marketplace, intent, PaymentStep::Cancel)
                    .await
            }
            ProviderEventKind::Refunds(refunds) => {
                let mut combined: Applied = (WebhookOutcome::NotOurs, None);
                for refund in refunds {
                    let applied = self.apply_refund(marketplace, refund).await?;
                    if applied.0.weight() > combined.0.weight() {
                        combined = applied;
                    }
                }
                Ok(combined)
            }
            ProviderEventKind::TransferCreated(transfer) => {
                self.apply_transfer(marketplace, transfer).await
            }
            ProviderEventKind::TransferReversed {
                transfer,
                amount_reversed,
            } => {
                self.apply_reversal(marketplace, transfer, *amount_reversed)
                    .await
            }
            ProviderEventKind::AccountUpdated(update) => {
                match accounts.record_account_update(update).await? {
                    AccountUpdateRecorded::Changed => outcome(WebhookOutcome::Applied),
                    AccountUpdateRecorded::Unchanged => outcome(WebhookOutcome::NoChange),
                    AccountUpdateRecorded::UnknownAccount => outcome(WebhookOutcome::NotOurs),
                }
            }
            ProviderEventKind::Unusable { reason } => attention(reason.clone()),
            ProviderEventKind::Ignored => outcome(WebhookOutcome::Ignored),
        }
    }

    /// The Stripe escrow matching `filter`, if any.
    async fn stripe_escrow(
        &self,
        filter: Document,
    ) -> Result<Option<EscrowTransaction>, EscrowError> {
        let escrow = self.escrows.find_one(filter).await?;
        Ok(escrow.filter(|escrow| escrow.provider == ProviderName::Stripe.as_str()))
    }

    async fn apply_payment(
        &self,
        marketplace: &MarketplaceService,
        intent: &PaymentIntentFacts,
        step: PaymentStep<'_>,
    ) -> Result<Applied, EscrowError> {
        let filter = match intent.escrow_id {
            Some(escrow_id) => doc! { "_id": escrow_id },
            None => doc! { "stripe_payment_intent_id": &intent.payment_intent_id },
        };
        let Some(escrow) = self.stripe_escrow(filter).await? else {
            return outcome(WebhookOutcome::NotOurs);
        };
        let (_, applied) = self
            .change(marketplace, escrow.job_id, |escrow, now| {
                if !same_funding_attempt(escrow, intent) {
                    return Ok((
                        WebhookOutcome::NoChange,
                        Some("an earlier funding attempt's payment".to_owned()),
                    ));
                }
                let payment_id = intent.payment_intent_id.clone();
                let status = escrow.status;
                match (step, status) {
                    (PaymentStep::Authorize, EscrowStatus::Pending) => {
                        escrow.authorize(payment_id, now, ACTOR)?;
                    }
                    (PaymentStep::Capture(charge_id), EscrowStatus::Pending) => {
                        escrow.authorize(payment_id, now, ACTOR)?;
                        escrow.capture(charge_id.to_owned(), now, ACTOR)?;
                    }
                    (PaymentStep::Capture(charge_id), EscrowStatus::Authorized) => {
                        escrow.capture(charge_id.to_owned(), now, ACTOR)?;
                    }
                    (
                        PaymentStep::Capture(_),
                        EscrowStatus::Failed | EscrowStatus::Expired,
                    ) => {
                        let detail = format!(
                            "Stripe captured {payment_id} for a funding attempt the ledger records as {}",
                            status.as_str()
                        );
                        escrow.flag_attention(detail.clone(), now);
                        return Ok((WebhookOutcome::NeedsAttention, Some(detail)));
                    }
                    (
                        PaymentStep::Fail(reason),
                        EscrowStatus::Pending | EscrowStatus::Authorized,
                    ) => {
                        escrow.fail(reason, now, ACTOR)?;
                    }
                    (PaymentStep::Cancel, EscrowStatus::Pending | EscrowStatus::Authorized) => {
                        escrow.expire(now, ACTOR)?;
                    }
                    _ => return Ok((WebhookOutcome::NoChange, None)),
                }
                Ok((WebhookOutcome::Applied, None))
            })
            .await?;
        Ok(applied)
    }

    async fn apply_refund(
        &self,
        marketplace: &MarketplaceService,
        refund: &RefundFacts,
    ) -> Result<Applied, EscrowError> {
        let filter = match (refund.escrow_id, refund.refund_id) {
            (Some(escrow_id), _) => doc! { "_id": escrow_id },
            (None, Some(refund_id)) => doc! { "refunds.refund_id": refund_id },
            (None, None) => doc! { "refunds.stripe_refund_id": &refund.provider_refund_id },
        };
        let Some(escrow) = self.stripe_escrow(filter).await? else {
            return outcome(WebhookOutcome::NotOurs);
        };
        let Some(refund_id) = escrow
            .refunds
            .iter()
            .find(|stored| {
                Some(stored.refund_id) == refund.refund_id
                    || stored.stripe_refund_id.as_deref() == Some(&refund.provider_refund_id)
            })
            .map(|stored| stored.refund_id)
        else {
            return outcome(WebhookOutcome::NotOurs);
        };
        let (_, applied) = self
            .change(marketplace, escrow.job_id, |escrow, now| {
                let stored = escrow
                    .refund(refund_id)
                    .ok_or(EscrowError::RefundNotFound)?
                    .clone();
                let provider_id = refund.provider_refund_id.clone();
                match (refund.status, stored.status) {
                    (ProviderRefundStatus::Succeeded, RefundStatus::Pending) => {
                        escrow.settle_refund(refund_id, provider_id, now, ACTOR)?;
                        Ok((WebhookOutcome::Applied, None))
                    }
                    (ProviderRefundStatus::Failed, RefundStatus::Pending) => {
                        let reason = refund
                            .failure_reason
                            .clone()
                            .unwrap_or_else(|| "refused by Stripe".to_owned());
                        escrow.fail_refund(refund_id, &reason, now, ACTOR)?;
                        Ok((WebhookOutcome::Applied, None))
                    }
                    (ProviderRefundStatus::Failed, RefundStatus::Succeeded) => {
                        let detail = format!(
                            "Stripe reports refund {provider_id} failed ({}), but the ledger recorded refund {} as returned to the client",
                            refund.failure_reason.as_deref().unwrap_or("no reason given"),
                            refund_id.to_hex()
                        );
                        escrow.flag_attention(detail.clone(), now);
                        Ok((WebhookOutcome::NeedsAttention, Some(detail)))
                    }
                    (ProviderRefundStatus::Succeeded, RefundStatus::Failed) => {
                        let detail = format!(
                            "Stripe reports refund {provider_id} succeeded, but the ledger recorded refund {} as refused",
                            refund_id.to_hex()
                        );
                        escrow.flag_attention(detail.clone(), now);
                        Ok((WebhookOutcome::NeedsAttention, Some(detail)))
                    }
                    _ => Ok((WebhookOutcome::NoChange, None)),
                }
            })
            .await?;
        Ok(applied)
    }

    /// The escrow and payout id a transfer belongs to.
    async fn transfer_payout_of(
        &self,
        transfer: &TransferFacts,
    ) -> Result<Option<(EscrowTransaction, ObjectId)>, EscrowError> {
        let filter = match transfer.payout_id {
            Some(payout_id) => doc! { "payouts.payout_id": payout_id },
            None => doc! { "payouts.stripe_transfer_id": &transfer.transfer_id },
        };
        let Some(escrow) = self.stripe_escrow(filter).await? else {
            return Ok(None);
        };
        let payout_id = escrow
            .payouts
            .iter()
            .find(|payout| {
                Some(payout.payout_id) == transfer.payout_id
                    || payout.stripe_transfer_id.as_deref() == Some(&transfer.transfer_id)
            })
            .map(|payout| payout.payout_id);
        Ok(payout_id.map(|payout_id| (escrow, payout_id)))
    }

    async fn apply_transfer(
        &self,
        marketplace: &MarketplaceService,
        transfer: &TransferFacts,
    ) -> Result<Applied, EscrowError> {
        let Some((escrow, payout_id)) = self.transfer_payout_of(transfer).await? else {
            return outcome(WebhookOutcome::NotOurs);
        };
        let (_, confirmation) = self
            .change(marketplace, escrow.job_id, |escrow, now| {
                escrow.confirm_transfer(payout_id, &transfer.transfer_id, now, ACTOR)
            })
            .await?;
        match confirmation {
            TransferConfirmation::Settled(_) => outcome(WebhookOutcome::Applied),
            TransferConfirmation::AlreadyPaid => outcome(WebhookOutcome::NoChange),
            TransferConfirmation::Conflict(detail) => attention(detail),
        }
    }

    async fn apply_reversal(
        &self,
        marketplace: &MarketplaceService,
        transfer: &TransferFacts,
        amount_reversed: i64,
    ) -> Result<Applied, EscrowError> {
        let Some((escrow, payout_id)) = self.transfer_payout_of(transfer).await? else {
            return outcome(WebhookOutcome::NotOurs);
        };
        let detail = format!(
            "transfer {} of payout {} reversed by {amount_reversed} cents in all; the payout stays paid",
            transfer.transfer_id,
            payout_id.to_hex()
        );
        self.change(marketplace, escrow.job_id, |escrow, now| {
            let recorded = escrow.record_transfer_reversal(
                payout_id,
                &transfer.transfer_id,
                amount_reversed,
                now,
                ACTOR,
            )?;
            escrow.flag_attention(detail.clone(), now);
            Ok(recorded)
        })
        .await?;
        attention(detail)
    }
}

/// Whether the event's PaymentIntent is the escrow's current funding attempt's: the attempt in
/// its metadata is the current one, and a stored PaymentIntent id is the same. Without attempt
/// metadata only the stored id can say so.
fn same_funding_attempt(escrow: &EscrowTransaction, intent: &PaymentIntentFacts) -> bool {
    let attempt_matches = intent
        .funding_attempt
        .is_none_or(|attempt| attempt == escrow.funding_attempt);
    let id_matches = match &escrow.stripe_payment_intent_id {
        Some(stored) => *stored == intent.payment_intent_id,
        None => intent.funding_attempt.is_some(),
    };
    attempt_matches && id_matches
}
