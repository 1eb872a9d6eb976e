//! The escrow transaction as stored in `escrow_transactions` (seed section 5) and every money
//! step on it as a pure function. The service loads a document, applies one step here, checks
//! [`check_invariant`], and writes the result by compare-and-set on `version`; so all the money
//! logic is plain Rust, tested without a database.
//!
//! **Ledger.** Cents captured from the client are always in exactly one bucket:
//! `paid_to_testers_usd` (transferred), `held_for_testers_usd` (owed to testers: held, frozen,
//! being transferred or failed), `platform_fee_usd` (the platform's commission on approved seats),
//! `refunded_usd` (back with the client) or `in_escrow_usd` (not released yet; pending refunds are
//! earmarked inside it until the provider confirms them). Each step moves cents between buckets,
//! never in or out, so `captured = paid + held + fees + refunded + in escrow` holds after every
//! step. **Payouts** are embedded in the escrow document (the seed's `payouts` array): a job has at
//! most `max_testers` of them, and keeping them in the document that holds the counters makes
//! every money step one atomic single-document update. **Events** are only ever appended.
//!
//! Stored names are the seed's: amounts end in `_usd` but hold integer cents, so the Rust fields
//! are named `*_cents` and renamed for serde; `stripe_*_id` fields hold
//! the ids of whichever provider `provider` names. The seed's `platform_fee_percentage` is stored
//! as `platform_fee_basis_points` (1500 = 15%) so fractional percentages stay exact.

use std::collections::HashSet;

use bson::oid::ObjectId;
use bson::DateTime;
use marketplace::PaymentSource;
use serde::{Deserialize, Serialize};

use crate::error::EscrowError;
use crate::fee::FeeSplit;
use crate::lifecycle::{
    derived_funded_status, escrow_transition_allowed, payout_transition, EscrowAction,
    EscrowStatus, PayoutAction, PayoutStatus, RefundStatus,
};

/// Who caused a ledger event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscrowActor {
    /// A user (client, admin, tester) acting through the API.
    User(ObjectId),
    /// The platform itself; the text names the process (`auto_approval`, `payout_release`,
    /// `reconcile`, ...).
    Platform(&'static str),
}

/// The kind of a ledger event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscrowEventType {
    /// The escrow was created for a published job.
    Created,
    /// The provider authorized the client's payment.
    Authorized,
    /// The provider captured it: the money is held.
    Captured,
    /// An approved seat's pay left escrow for its payout.
    Released,
    /// Money went back to the client.
    Refunded,
    /// The provider declined the payment.
    Failed,
    /// The authorization lapsed.
    Expired,
    /// Funding started over after a decline or lapse.
    FundingRetried,
    /// A payout was set aside for its dispute window.
    PayoutHeld,
    /// A dispute froze a payout.
    PayoutFrozen,
    /// A dispute ended in the tester's favour.
    PayoutUnfrozen,
    /// The client (or an admin) gave up the rest of the dispute window: the payout is due now.
    PayoutWindowWaived,
    /// A transfer to the tester was requested.
    PayoutProcessing,
    /// The tester was paid.
    PayoutPaid,
    /// A transfer failed.
    PayoutFailed,
    /// A payout was taken back; its money goes back to the client.
    PayoutReversed,
    /// A refund was requested from the provider.
    RefundRequested,
    /// The provider refused a refund; the money is available in escrow again.
    RefundFailed,
    /// The provider reports a paid payout's transfer reversed (money pulled back from the
    /// tester's account, an operator's act outside escrow). Recorded for the operator; it moves
    /// no ledger bucket and the payout stays paid.
    TransferReversed,
    /// A stored kind this version does not know (written by a newer version). Never written;
    /// kept so that one such entry reads as a value instead of failing the whole escrow.
    #[serde(other)]
    Other,
}

/// One entry of the append-only event log (the seed's `events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowEvent {
    /// What happened.
    pub event_type: EscrowEventType,
    /// The cents it concerned.
    #[serde(rename = "amount_usd")]
    pub amount_cents: i64,
    /// When.
    pub timestamp: DateTime,
    /// A sentence for humans.
    pub notes: String,
    /// The user who caused it, when a user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performed_by: Option<ObjectId>,
    /// The platform process that caused it, when no user did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performed_by_process: Option<String>,
    /// The submission concerned, for payout events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_id: Option<ObjectId>,
    /// The refund concerned, for refund events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<ObjectId>,
}

/// A tester's payout for one approved submission (an element of the seed's `payouts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// Our payout id (provider idempotency keys derive from it).
    pub payout_id: ObjectId,
    /// The tester.
    pub tester_id: ObjectId,
    /// The approved submission; one payout per submission.
    pub submission_id: ObjectId,
    /// The seat's pay before the fee, in cents.
    #[serde(rename = "amount_usd")]
    pub amount_cents: i64,
    /// The platform's commission, in cents.
    #[serde(rename = "platform_fee_usd")]
    pub platform_fee_cents: i64,
    /// What the tester receives, in cents.
    #[serde(rename = "tester_payout_usd")]
    pub tester_payout_cents: i64,
    /// The provider's transfer id once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_transfer_id: Option<String>,
    /// Lifecycle status.
    pub status: PayoutStatus,
    /// Transfers requested so far; the current attempt's provider key uses this number.
    pub transfer_attempts: i32,
    /// End of the dispute window: not transferred before.
    pub release_after: DateTime,
    /// The dispute that froze it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen_by_dispute_id: Option<ObjectId>,
    /// The provider's reason for the last failed transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Created (approval).
    pub created_at: DateTime,
    /// Last changed.
    pub updated_at: DateTime,
    /// Paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime>,
}

/// Money going back to the client (an element of `refunds`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Our refund id (the provider idempotency key derives from it).
    pub refund_id: ObjectId,
    /// Cents.
    #[serde(rename = "amount_usd")]
    pub amount_cents: i64,
    /// Why (cancelled job, unused seats, reversed payout, explicit refund).
    pub reason: String,
    /// The idempotency key of the request that asked for it, when one did; a repeat of that
    /// request finds this refund instead of making another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_key: Option<String>,
    /// Lifecycle status.
    pub status: RefundStatus,
    /// The provider's refund id once confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_refund_id: Option<String>,
    /// The provider's reason when it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Requested.
    pub created_at: DateTime,
    /// Confirmed or refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime>,
}

/// An escrow transaction as stored in `escrow_transactions`: one per job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowTransaction {
    /// The escrow id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The job funded (unique).
    pub job_id: ObjectId,
    /// The paying client.
    pub client_id: ObjectId,
    /// Which provider moves the money (`SANDBOX`, `STRIPE`).
    pub provider: String,
    /// The job's whole budget in cents: what funding captures.
    #[serde(rename = "amount_usd")]
    pub amount_cents: i64,
    /// One seat's pay in cents, fixed at publication.
    #[serde(rename = "budget_per_tester_usd")]
    pub budget_per_tester_cents: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// The provider's payment id (PaymentIntent).
    #[serde(default)]
    pub stripe_payment_intent_id: Option<String>,
    /// The provider's charge id.
    #[serde(default)]
    pub stripe_charge_id: Option<String>,
    /// The paying customer the current funding attempt charges (the payer's own, never the
    /// platform's); absent on escrows funded before clients paid with their own methods.
    #[serde(default)]
    pub stripe_customer_id: Option<String>,
    /// The payment method saved on that customer that the current funding attempt charges.
    #[serde(default)]
    pub stripe_payment_method_id: Option<String>,
    /// Lifecycle status.
    pub status: EscrowStatus,
    /// Funding attempts started (a declined payment may be retried with a new attempt).
    pub funding_attempt: i32,
    /// Cents captured from the client.
    #[serde(rename = "captured_usd")]
    pub captured_cents: i64,
    /// Cents not released yet (pending refunds included).
    #[serde(rename = "in_escrow_usd")]
    pub in_escrow_cents: i64,
    /// Cents owed to testers and not transferred yet.
    #[serde(rename = "held_for_testers_usd")]
    pub held_for_testers_cents: i64,
    /// Cents transferred to testers.
    #[serde(rename = "paid_to_testers_usd")]
    pub paid_to_testers_cents: i64,
    /// Cents the platform kept as commission.
    #[serde(rename = "platform_fee_usd")]
    pub platform_fee_cents: i64,
    /// Cents returned to the client.
    #[serde(rename = "refunded_usd")]
    pub refunded_cents: i64,
    /// The provider's processing fee, paid by the platform from its fees (0 on the sandbox);
    /// informational, not part of the escrow ledger.
    #[serde(rename = "stripe_fee_usd")]
    pub stripe_fee_cents: i64,
    /// The commission rate at publication, in basis points.
    pub platform_fee_basis_points: i64,
    /// Append-only log.
    pub events: Vec<EscrowEvent>,
    /// One per approved submission.
    pub payouts: Vec<Payout>,
    /// Refunds to the client.
    pub refunds: Vec<Refund>,
    /// Created.
    pub created_at: DateTime,
    /// Last changed.
    pub updated_at: DateTime,
    /// When the authorization lapses if it is not captured.
    pub expires_at: DateTime,
    /// Set when the provider reported something no automatic step settles (a refund failed
    /// after it was recorded, a transfer reversed, a capture of an abandoned attempt); an
    /// operator must look. Cleared by an operator in the store: the API does not clear it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_attention: Option<Attention>,
    /// Optimistic concurrency: every write requires the version it read and increments it.
    pub version: i64,
}

/// Why an escrow needs an operator, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attention {
    /// The latest report, in words.
    pub reason: String,
    /// When it was first flagged.
    pub since: DateTime,
    /// When the latest report arrived.
    pub last_reported_at: DateTime,
}

/// What a provider's report of a transfer meant for its payout ([`EscrowTransaction`]'s
/// `confirm_transfer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransferConfirmation {
    /// The processing payout is now paid.
    Settled(Payout),
    /// It was already paid by that transfer.
    AlreadyPaid,
    /// The ledger disagrees with the provider; nothing changed. Says how.
    Conflict(String),
}

/// What a new escrow is made from.
#[derive(Debug, Clone)]
pub(crate) struct NewEscrow {
    pub job_id: ObjectId,
    pub client_id: ObjectId,
    pub provider: &'static str,
    pub amount: i64,
    pub budget_per_tester: i64,
    pub currency: String,
    pub platform_fee_basis_points: i64,
    pub customer_id: String,
    pub payment_method_id: String,
    pub expires_at: DateTime,
}

impl EscrowTransaction {
    /// A pending escrow with its `created` event.
    pub(crate) fn new(input: NewEscrow, now: DateTime, actor: EscrowActor) -> Self {
        let mut escrow = Self {
            id: ObjectId::new(),
            job_id: input.job_id,
            client_id: input.client_id,
            provider: input.provider.into(),
            amount_cents: input.amount,
            budget_per_tester_cents: input.budget_per_tester,
            currency: input.currency,
            stripe_payment_intent_id: None,
            stripe_charge_id: None,
            stripe_customer_id: Some(input.customer_id),
            stripe_payment_method_id: Some(input.payment_method_id),
            status: EscrowStatus::Pending,
            funding_attempt: 1,
            captured_cents: 0,
            in_escrow_cents: 0,
            held_for_testers_cents: 0,
            paid_to_testers_cents: 0,
            platform_fee_cents: 0,
            refunded_cents: 0,
            stripe_fee_cents: 0,
            platform_fee_basis_points: input.platform_fee_basis_points,
            events: Vec::new(),
            payouts: Vec::new(),
            refunds: Vec::new(),
            created_at: now,
            updated_at: now,
            expires_at: input.expires_at,
            needs_attention: None,
            version: 0,
        };
        escrow.record(
            EscrowEventType::Created,
            input.amount,
            now,
            actor,
            "Escrow transaction created for job",
        );
        escrow
    }

    /// Cents in escrow that are neither released nor earmarked for a pending refund.
    pub fn available_cents(&self) -> i64 {
        self.in_escrow_cents - self.pending_refunds_cents()
    }

    /// Cents earmarked for refunds the provider has not confirmed.
    pub fn pending_refunds_cents(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|refund| refund.status == RefundStatus::Pending)
            .map(|refund| refund.amount_cents)
            .sum()
    }

    /// The payout of `submission_id`, if any.
    pub fn payout_for(&self, submission_id: ObjectId) -> Option<&Payout> {
        self.payouts
            .iter()
            .find(|payout| payout.submission_id == submission_id)
    }

    /// The refund with `refund_id`, if any.
    pub fn refund(&self, refund_id: ObjectId) -> Option<&Refund> {
        self.refunds
            .iter()
            .find(|refund| refund.refund_id == refund_id)
    }

    /// Flags the escrow for an operator with `reason` (keeping when it was first flagged).
    /// Moves no money, so the invariant is untouched.
    pub fn flag_attention(&mut self, reason: impl Into<String>, now: DateTime) {
        let since = self
            .needs_attention
            .as_ref()
            .map_or(now, |attention| attention.since);
        self.needs_attention = Some(Attention {
            reason: reason.into(),
            since,
            last_reported_at: now,
        });
        self.updated_at = now;
    }

    fn record(
        &mut self,
        event_type: EscrowEventType,
        amount: i64,
        now: DateTime,
        actor: EscrowActor,
        notes: impl Into<String>,
    ) -> &mut EscrowEvent {
        let (performed_by, performed_by_process) = match actor {
            EscrowActor::User(id) => (Some(id), None),
            EscrowActor::Platform(process) => (None, Some(process.to_owned())),
        };
        self.updated_at = now;
        self.events.push(EscrowEvent {
            event_type,
            amount_cents: amount,
            timestamp: now,
            notes: notes.into(),
            performed_by,
            performed_by_process,
            submission_id: None,
            refund_id: None,
        });
        self.events.last_mut().expect("just pushed")
    }

    fn step(&mut self, action: EscrowAction, to: EscrowStatus) -> Result<(), EscrowError> {
        if !escrow_transition_allowed(self.status, action, to) {
            return Err(EscrowError::InvalidEscrowTransition {
                from: self.status.as_str(),
                action: action.as_str(),
            });
        }
        self.status = to;
        Ok(())
    }

    /// Moves a funded escrow to the status its ledger now says, if the table allows it for
    /// `action`. A step that moved no cents keeps the status.
    fn follow_ledger(&mut self, action: EscrowAction, moved: i64) -> Result<(), EscrowError> {
        if moved == 0 {
            return Ok(());
        }
        let to = derived_funded_status(
            self.captured_cents,
            self.in_escrow_cents,
            self.refunded_cents,
        );
        self.step(action, to)
    }

    fn require_funded(&self, action: EscrowAction) -> Result<(), EscrowError> {
        if self.status.is_funded() {
            Ok(())
        } else {
            Err(EscrowError::InvalidEscrowTransition {
                from: self.status.as_str(),
                action: action.as_str(),
            })
        }
    }

    /// pending → authorized.
    pub(crate) fn authorize(
        &mut self,
        payment_id: String,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<(), EscrowError> {
        self.step(EscrowAction::Authorize, EscrowStatus::Authorized)?;
        self.stripe_payment_intent_id = Some(payment_id);
        self.record(
            EscrowEventType::Authorized,
            self.amount_cents,
            now,
            actor,
            format!("Payment authorized via {}", self.provider),
        );
        Ok(())
    }

    /// authorized → captured: the whole budget is in escrow.
    pub(crate) fn capture(
        &mut self,
        charge_id: String,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<(), EscrowError> {
        self.step(EscrowAction::Capture, EscrowStatus::Captured)?;
        self.stripe_charge_id = Some(charge_id);
        self.captured_cents = self.amount_cents;
        self.in_escrow_cents = self.amount_cents;
        self.record(
            EscrowEventType::Captured,
            self.amount_cents,
            now,
            actor,
            "Funds captured when job published",
        );
        Ok(())
    }

    /// pending | authorized → failed (the provider declined).
    pub(crate) fn fail(
        &mut self,
        reason: &str,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<(), EscrowError> {
        self.step(EscrowAction::Fail, EscrowStatus::Failed)?;
        self.record(
            EscrowEventType::Failed,
            self.amount_cents,
            now,
            actor,
            format!("Payment declined: {reason}"),
        );
        Ok(())
    }

    /// pending | authorized → expired (the authorization lapsed).
    pub(crate) fn expire(&mut self, now: DateTime, actor: EscrowActor) -> Result<(), EscrowError> {
        self.step(EscrowAction::Expire, EscrowStatus::Expired)?;
        self.record(
            EscrowEventType::Expired,
            self.amount_cents,
            now,
            actor,
            "Authorization expired before capture",
        );
        Ok(())
    }

    /// failed | expired → pending, as a new funding attempt (new provider keys).
    pub(crate) fn retry_funding(
        &mut self,
        source: &PaymentSource,
        expires_at: DateTime,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<(), EscrowError> {
        self.step(EscrowAction::Retry, EscrowStatus::Pending)?;
        self.funding_attempt += 1;
        self.stripe_payment_intent_id = None;
        self.stripe_charge_id = None;
        // A new attempt charges the method saved now (the client may have replaced a declined
        // card before publishing again).
        self.stripe_customer_id = Some(source.customer_id.clone());
        self.stripe_payment_method_id = Some(source.payment_method_id.clone());
        self.expires_at = expires_at;
        self.record(
            EscrowEventType::FundingRetried,
            self.amount_cents,
            now,
            actor,
            format!("Funding attempt {}", self.funding_attempt),
        );
        Ok(())
    }

    /// An approved seat's pay leaves escrow: the fee goes to the platform, the tester's share is
    /// held until `release_after`. A submission has at most one payout: asking again returns it.
    pub(crate) fn hold_payout(
        &mut self,
        submission_id: ObjectId,
        tester_id: ObjectId,
        split: FeeSplit,
        release_after: DateTime,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        if let Some(existing) = self.payout_for(submission_id) {
            return Ok(existing.clone());
        }
        self.require_funded(EscrowAction::Release)?;
        if split.gross != split.platform_fee + split.tester_payout || split.gross < 0 {
            return Err(EscrowError::InvalidAmount {
                reason: "the fee split does not add up".into(),
            });
        }
        let available = self.available_cents();
        if split.gross > available {
            return Err(EscrowError::InsufficientEscrow {
                available,
                requested: split.gross,
            });
        }
        let status = payout_transition(PayoutStatus::Pending, PayoutAction::Hold)
            .expect("the table holds a new payout");
        let payout = Payout {
            payout_id: ObjectId::new(),
            tester_id,
            submission_id,
            amount_cents: split.gross,
            platform_fee_cents: split.platform_fee,
            tester_payout_cents: split.tester_payout,
            stripe_transfer_id: None,
            status,
            transfer_attempts: 0,
            release_after,
            frozen_by_dispute_id: None,
            failure_reason: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
        };
        self.in_escrow_cents -= split.gross;
        self.held_for_testers_cents += split.tester_payout;
        self.platform_fee_cents += split.platform_fee;
        self.payouts.push(payout.clone());
        self.follow_ledger(EscrowAction::Release, split.gross)?;
        self.record(
            EscrowEventType::Released,
            split.gross,
            now,
            actor,
            format!(
                "Seat released for an approved submission: {} to the tester, {} platform fee",
                split.tester_payout, split.platform_fee
            ),
        )
        .submission_id = Some(submission_id);
        self.record(
            EscrowEventType::PayoutHeld,
            split.tester_payout,
            now,
            actor,
            "Payout held for the dispute window",
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    fn payout_mut(&mut self, submission_id: ObjectId) -> Result<&mut Payout, EscrowError> {
        self.payouts
            .iter_mut()
            .find(|payout| payout.submission_id == submission_id)
            .ok_or(EscrowError::PayoutNotFound)
    }

    fn move_payout(
        &mut self,
        submission_id: ObjectId,
        action: PayoutAction,
        now: DateTime,
    ) -> Result<Payout, EscrowError> {
        let payout = self.payout_mut(submission_id)?;
        let to = payout_transition(payout.status, action).ok_or(
            EscrowError::InvalidPayoutTransition {
                from: payout.status.as_str(),
                action: action.as_str(),
            },
        )?;
        payout.status = to;
        payout.updated_at = now;
        Ok(payout.clone())
    }

    /// held (dispute window over) or failed (attempts left) → processing, with a new attempt
    /// number. A processing payout is returned unchanged, so its transfer is asked again with
    /// the same key.
    pub(crate) fn begin_transfer(
        &mut self,
        submission_id: ObjectId,
        max_attempts: i32,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let current = self
            .payout_for(submission_id)
            .ok_or(EscrowError::PayoutNotFound)?
            .clone();
        let action = match current.status {
            PayoutStatus::Processing | PayoutStatus::Paid => return Ok(current),
            PayoutStatus::Held if current.release_after > now => {
                return Err(EscrowError::PayoutStillHeld)
            }
            PayoutStatus::Failed if current.transfer_attempts >= max_attempts => {
                return Err(EscrowError::InvalidPayoutTransition {
                    from: current.status.as_str(),
                    action: "be retried after its last attempt",
                })
            }
            PayoutStatus::Failed => PayoutAction::Retry,
            _ => PayoutAction::Transfer,
        };
        self.move_payout(submission_id, action, now)?;
        let payout = self.payout_mut(submission_id)?;
        payout.transfer_attempts += 1;
        let payout = payout.clone();
        self.record(
            EscrowEventType::PayoutProcessing,
            payout.tester_payout_cents,
            now,
            actor,
            format!("Transfer attempt {} requested", payout.transfer_attempts),
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    /// processing → paid, for transfer attempt `attempt`: the tester's share moves from held to
    /// paid. Any other state is returned unchanged (a late or repeated answer).
    pub(crate) fn settle_transfer(
        &mut self,
        submission_id: ObjectId,
        attempt: i32,
        transfer_id: String,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let current = self
            .payout_for(submission_id)
            .ok_or(EscrowError::PayoutNotFound)?
            .clone();
        if current.status != PayoutStatus::Processing || current.transfer_attempts != attempt {
            return Ok(current);
        }
        self.move_payout(submission_id, PayoutAction::Settle, now)?;
        let payout = self.payout_mut(submission_id)?;
        payout.stripe_transfer_id = Some(transfer_id);
        payout.completed_at = Some(now);
        payout.failure_reason = None;
        let payout = payout.clone();
        self.held_for_testers_cents -= payout.tester_payout_cents;
        self.paid_to_testers_cents += payout.tester_payout_cents;
        self.record(
            EscrowEventType::PayoutPaid,
            payout.tester_payout_cents,
            now,
            actor,
            "Payout transferred to the tester's connected account",
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    /// processing → failed for transfer attempt `attempt`; the money stays held for the tester.
    pub(crate) fn fail_transfer(
        &mut self,
        submission_id: ObjectId,
        attempt: i32,
        reason: &str,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let current = self
            .payout_for(submission_id)
            .ok_or(EscrowError::PayoutNotFound)?
            .clone();
        if current.status != PayoutStatus::Processing || current.transfer_attempts != attempt {
            return Ok(current);
        }
        self.move_payout(submission_id, PayoutAction::Fail, now)?;
        let payout = self.payout_mut(submission_id)?;
        payout.failure_reason = Some(reason.to_owned());
        let payout = payout.clone();
        self.record(
            EscrowEventType::PayoutFailed,
            payout.tester_payout_cents,
            now,
            actor,
            format!("Transfer failed: {reason}"),
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    /// processing → held, for transfer attempt `attempt`, when the tester cannot receive
    /// transfers yet. Nothing reached the provider, so the attempt is given back: the next sweep
    /// asks again with the same key.
    pub(crate) fn defer_transfer(
        &mut self,
        submission_id: ObjectId,
        attempt: i32,
        reason: &str,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let current = self
            .payout_for(submission_id)
            .ok_or(EscrowError::PayoutNotFound)?
            .clone();
        if current.status != PayoutStatus::Processing || current.transfer_attempts != attempt {
            return Ok(current);
        }
        self.move_payout(submission_id, PayoutAction::Defer, now)?;
        let payout = self.payout_mut(submission_id)?;
        payout.transfer_attempts -= 1;
        let payout = payout.clone();
        self.record(
            EscrowEventType::PayoutHeld,
            payout.tester_payout_cents,
            now,
            actor,
            format!("Transfer deferred: {reason}"),
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    /// The provider reports transfer `transfer_id` for payout `payout_id` (a webhook): a
    /// processing payout is paid, whatever its attempt, since a payout has at most one transfer
    /// that went through (a retry without an answer reuses its attempt's key; a new attempt only
    /// follows a definite refusal). A payout already paid by that transfer is unchanged; any other
    /// state is a conflict for an operator, and nothing changes.
    pub(crate) fn confirm_transfer(
        &mut self,
        payout_id: ObjectId,
        transfer_id: &str,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<TransferConfirmation, EscrowError> {
        let payout = self.payout_by_id(payout_id)?.clone();
        match payout.status {
            PayoutStatus::Processing => {
                let paid = self.settle_transfer(
                    payout.submission_id,
                    payout.transfer_attempts,
                    transfer_id.to_owned(),
                    now,
                    actor,
                )?;
                Ok(TransferConfirmation::Settled(paid))
            }
            PayoutStatus::Paid if payout.stripe_transfer_id.as_deref() == Some(transfer_id) => {
                Ok(TransferConfirmation::AlreadyPaid)
            }
            PayoutStatus::Paid => Ok(TransferConfirmation::Conflict(format!(
                "payout {} was paid by transfer {}, the provider reports another transfer {transfer_id}",
                payout_id.to_hex(),
                payout.stripe_transfer_id.as_deref().unwrap_or("(none)")
            ))),
            status => Ok(TransferConfirmation::Conflict(format!(
                "the provider reports transfer {transfer_id} for payout {}, which is {}",
                payout_id.to_hex(),
                status.as_str()
            ))),
        }
    }

    /// Appends a [`EscrowEventType::TransferReversed`] event for payout `payout_id`, with the
    /// cumulative `amount_reversed` the provider reports; the same amount recorded twice is
    /// recorded once.
    pub(crate) fn record_transfer_reversal(
        &mut self,
        payout_id: ObjectId,
        transfer_id: &str,
        amount_reversed: i64,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let payout = self.payout_by_id(payout_id)?.clone();
        let already = self.events.iter().any(|event| {
            event.event_type == EscrowEventType::TransferReversed
                && event.submission_id == Some(payout.submission_id)
                && event.amount_cents == amount_reversed
        });
        if !already {
            self.record(
                EscrowEventType::TransferReversed,
                amount_reversed,
                now,
                actor,
                format!(
                    "The provider reports transfer {transfer_id} reversed by {amount_reversed} cents in all; the payout stays paid for an operator to settle"
                ),
            )
            .submission_id = Some(payout.submission_id);
        }
        Ok(payout)
    }

    /// The payout with our id `payout_id`.
    pub fn payout_by_id(&self, payout_id: ObjectId) -> Result<&Payout, EscrowError> {
        self.payouts
            .iter()
            .find(|payout| payout.payout_id == payout_id)
            .ok_or(EscrowError::PayoutNotFound)
    }

    /// Ends a held payout's dispute window now, so the next transfer may go at once (the client
    /// waives their right to dispute it). A payout already transferring or paid is returned
    /// unchanged; a frozen one is refused (its dispute decides).
    pub(crate) fn waive_dispute_window(
        &mut self,
        submission_id: ObjectId,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        let payout = self
            .payout_for(submission_id)
            .ok_or(EscrowError::PayoutNotFound)?
            .clone();
        match payout.status {
            PayoutStatus::Held if payout.release_after > now => {}
            PayoutStatus::Frozen | PayoutStatus::Reversed => {
                return Err(EscrowError::InvalidPayoutTransition {
                    from: payout.status.as_str(),
                    action: "be released early",
                })
            }
            _ => return Ok(payout),
        }
        let payout = self.payout_mut(submission_id)?;
        payout.release_after = now;
        payout.updated_at = now;
        let payout = payout.clone();
        self.record(
            EscrowEventType::PayoutWindowWaived,
            payout.tester_payout_cents,
            now,
            actor,
            "Dispute window waived; released early",
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    /// held → frozen by a dispute. Freezing a payout already frozen by the same dispute returns
    /// it unchanged.
    pub(crate) fn freeze_payout(
        &mut self,
        submission_id: ObjectId,
        dispute_id: ObjectId,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        if let Some(payout) = self.payout_for(submission_id) {
            if payout.status == PayoutStatus::Frozen
                && payout.frozen_by_dispute_id == Some(dispute_id)
            {
                return Ok(payout.clone());
            }
        }
        self.move_payout(submission_id, PayoutAction::Freeze, now)?;
        let payout = self.payout_mut(submission_id)?;
        payout.frozen_by_dispute_id = Some(dispute_id);
        let payout = payout.clone();
        self.record(
            EscrowEventType::PayoutFrozen,
            payout.tester_payout_cents,
            now,
            actor,
            format!("Frozen by dispute {}", dispute_id.to_hex()),
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    /// frozen → held: the dispute ended for the tester; it is transferred by the next sweep if
    /// its window is over.
    pub(crate) fn unfreeze_payout(
        &mut self,
        submission_id: ObjectId,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        if let Some(payout) = self.payout_for(submission_id) {
            if payout.status == PayoutStatus::Held {
                return Ok(payout.clone());
            }
        }
        self.move_payout(submission_id, PayoutAction::Unfreeze, now)?;
        let payout = self.payout_mut(submission_id)?;
        payout.frozen_by_dispute_id = None;
        let payout = payout.clone();
        self.record(
            EscrowEventType::PayoutUnfrozen,
            payout.tester_payout_cents,
            now,
            actor,
            "Dispute resolved for the tester",
        )
        .submission_id = Some(submission_id);
        Ok(payout)
    }

    /// held | frozen → reversed: the seat's whole pay (fee included) comes back into escrow and
    /// a refund of it to the client is requested. Returns the refund.
    pub(crate) fn reverse_payout(
        &mut self,
        submission_id: ObjectId,
        refund_id: ObjectId,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Refund, EscrowError> {
        let request_key = format!("reversal:{}", submission_id.to_hex());
        if let Some(refund) = self
            .refunds
            .iter()
            .find(|refund| refund.request_key.as_deref() == Some(request_key.as_str()))
        {
            return Ok(refund.clone());
        }
        let payout = self.move_payout(submission_id, PayoutAction::Reverse, now)?;
        self.held_for_testers_cents -= payout.tester_payout_cents;
        self.platform_fee_cents -= payout.platform_fee_cents;
        self.in_escrow_cents += payout.amount_cents;
        self.follow_ledger(EscrowAction::Reverse, payout.amount_cents)?;
        self.record(
            EscrowEventType::PayoutReversed,
            payout.amount_cents,
            now,
            actor,
            "Payout reversed after a dispute; the seat's pay goes back to the client",
        )
        .submission_id = Some(submission_id);
        self.request_refund(
            refund_id,
            payout.amount_cents,
            "reversed payout".into(),
            Some(request_key),
            now,
            actor,
        )
    }

    /// A dispute of a rejection: the seat's pay leaves escrow into a payout for the tester
    /// (platform fee kept, as on an approval), frozen by `dispute_id` at once, so the money the
    /// dispute decides about can no longer be refunded with the job's unused seats. Its window
    /// is already over (`release_after` = now): once a resolution unfreezes it, it is due.
    /// Asking again for the same dispute returns the payout unchanged.
    pub(crate) fn hold_disputed_rejection(
        &mut self,
        submission_id: ObjectId,
        tester_id: ObjectId,
        split: FeeSplit,
        dispute_id: ObjectId,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Payout, EscrowError> {
        self.hold_payout(submission_id, tester_id, split, now, now, actor)?;
        self.freeze_payout(submission_id, dispute_id, now, actor)
    }

    /// A dispute split between the parties: of the frozen payout's seat pay (`amount_usd`),
    /// `refund_cents` go back to the client and the rest is the tester's, with the platform fee
    /// taken on the tester's part only, by the fee's rule at `basis_points` (rounded down, the
    /// fraction to the tester). So `refund + fee + tester = seat pay`, to the cent. The payout
    /// shrinks to the tester's part and is held again (due at once if its window is over); the
    /// refund is requested. Asking again returns the refund already requested.
    pub(crate) fn split_disputed_payout(
        &mut self,
        submission_id: ObjectId,
        refund_cents: i64,
        basis_points: u32,
        refund_id: ObjectId,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<(Payout, Refund), EscrowError> {
        let request_key = format!("dispute_split:{}", submission_id.to_hex());
        if let Some(refund) = self
            .refunds
            .iter()
            .find(|refund| refund.request_key.as_deref() == Some(request_key.as_str()))
        {
            let refund = refund.clone();
            let payout = self
                .payout_for(submission_id)
                .ok_or(EscrowError::PayoutNotFound)?
                .clone();
            return Ok((payout, refund));
        }
        let payout = self
            .payout_for(submission_id)
            .ok_or(EscrowError::PayoutNotFound)?
            .clone();
        if payout.status != PayoutStatus::Frozen {
            return Err(EscrowError::InvalidPayoutTransition {
                from: payout.status.as_str(),
                action: "be split",
            });
        }
        if refund_cents <= 0 || refund_cents >= payout.amount_cents {
            return Err(EscrowError::InvalidAmount {
                reason: format!(
                    "a split refunds between 1 and {} cents of this seat's {}",
                    payout.amount_cents - 1,
                    payout.amount_cents
                ),
            });
        }
        let kept = crate::fee::split_payout(payout.amount_cents - refund_cents, basis_points)?;
        let stored = self.payout_mut(submission_id)?;
        stored.amount_cents = kept.gross;
        stored.platform_fee_cents = kept.platform_fee;
        stored.tester_payout_cents = kept.tester_payout;
        stored.updated_at = now;
        self.held_for_testers_cents -= payout.tester_payout_cents - kept.tester_payout;
        self.platform_fee_cents -= payout.platform_fee_cents - kept.platform_fee;
        self.in_escrow_cents += refund_cents;
        self.follow_ledger(EscrowAction::Reverse, refund_cents)?;
        self.record(
            EscrowEventType::PayoutReversed,
            refund_cents,
            now,
            actor,
            format!(
                "Dispute split: {refund_cents} back to the client, {} to the tester, {} platform fee",
                kept.tester_payout, kept.platform_fee
            ),
        )
        .submission_id = Some(submission_id);
        let refund = self.request_refund(
            refund_id,
            refund_cents,
            "dispute split".into(),
            Some(request_key),
            now,
            actor,
        )?;
        let payout = self.unfreeze_payout(submission_id, now, actor)?;
        Ok((payout, refund))
    }

    /// Earmarks `amount` of the available escrow for a refund to the client (pending until the
    /// provider confirms). With a `request_key` already used, returns that refund instead.
    pub(crate) fn request_refund(
        &mut self,
        refund_id: ObjectId,
        amount: i64,
        reason: String,
        request_key: Option<String>,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Refund, EscrowError> {
        if let Some(key) = &request_key {
            if let Some(refund) = self
                .refunds
                .iter()
                .find(|refund| refund.request_key.as_ref() == Some(key))
            {
                return Ok(refund.clone());
            }
        }
        self.require_funded(EscrowAction::Refund)?;
        if amount <= 0 {
            return Err(EscrowError::InvalidAmount {
                reason: "a refund must be more than zero".into(),
            });
        }
        let available = self.available_cents();
        if amount > available {
            return Err(EscrowError::InsufficientEscrow {
                available,
                requested: amount,
            });
        }
        let refund = Refund {
            refund_id,
            amount_cents: amount,
            reason: reason.clone(),
            request_key,
            status: RefundStatus::Pending,
            stripe_refund_id: None,
            failure_reason: None,
            created_at: now,
            completed_at: None,
        };
        self.refunds.push(refund.clone());
        self.record(
            EscrowEventType::RefundRequested,
            amount,
            now,
            actor,
            format!("Refund requested: {reason}"),
        )
        .refund_id = Some(refund_id);
        Ok(refund)
    }

    fn refund_mut(&mut self, refund_id: ObjectId) -> Result<&mut Refund, EscrowError> {
        self.refunds
            .iter_mut()
            .find(|refund| refund.refund_id == refund_id)
            .ok_or(EscrowError::RefundNotFound)
    }

    /// pending → succeeded: the cents leave escrow for the client. A settled refund is returned
    /// unchanged.
    pub(crate) fn settle_refund(
        &mut self,
        refund_id: ObjectId,
        provider_refund_id: String,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Refund, EscrowError> {
        let refund = self.refund_mut(refund_id)?;
        if refund.status != RefundStatus::Pending {
            return Ok(refund.clone());
        }
        refund.status = RefundStatus::Succeeded;
        refund.stripe_refund_id = Some(provider_refund_id);
        refund.completed_at = Some(now);
        let refund = refund.clone();
        self.in_escrow_cents -= refund.amount_cents;
        self.refunded_cents += refund.amount_cents;
        self.follow_ledger(EscrowAction::Refund, refund.amount_cents)?;
        self.record(
            EscrowEventType::Refunded,
            refund.amount_cents,
            now,
            actor,
            format!("Refunded to the client: {}", refund.reason),
        )
        .refund_id = Some(refund_id);
        Ok(refund)
    }

    /// pending → failed: the earmark is lifted, the cents are available in escrow again.
    pub(crate) fn fail_refund(
        &mut self,
        refund_id: ObjectId,
        reason: &str,
        now: DateTime,
        actor: EscrowActor,
    ) -> Result<Refund, EscrowError> {
        let refund = self.refund_mut(refund_id)?;
        if refund.status != RefundStatus::Pending {
            return Ok(refund.clone());
        }
        refund.status = RefundStatus::Failed;
        refund.failure_reason = Some(reason.to_owned());
        refund.completed_at = Some(now);
        let refund = refund.clone();
        self.record(
            EscrowEventType::RefundFailed,
            refund.amount_cents,
            now,
            actor,
            format!("Refund refused: {reason}"),
        )
        .refund_id = Some(refund_id);
        Ok(refund)
    }
}

/// Checks that the escrow's money adds up: every counter is what its payouts, refunds and events
/// say, and `captured = paid + held + fees + refunded + in escrow`. Returns the first violation.
pub fn check_invariant(escrow: &EscrowTransaction) -> Result<(), String> {
    let counters = [
        ("captured_usd", escrow.captured_cents),
        ("in_escrow_usd", escrow.in_escrow_cents),
        ("held_for_testers_usd", escrow.held_for_testers_cents),
        ("paid_to_testers_usd", escrow.paid_to_testers_cents),
        ("platform_fee_usd", escrow.platform_fee_cents),
        ("refunded_usd", escrow.refunded_cents),
    ];
    if let Some((name, value)) = counters.iter().find(|(_, value)| *value < 0) {
        return Err(format!("{name} is negative: {value}"));
    }
    if !escrow.status.is_funded() {
        if counters.iter().any(|(_, value)| *value != 0)
            || !escrow.payouts.is_empty()
            || !escrow.refunds.is_empty()
        {
            return Err(format!(
                "an escrow in status {} holds money",
                escrow.status.as_str()
            ));
        }
        return Ok(());
    }
    if escrow.captured_cents != escrow.amount_cents {
        return Err(format!(
            "captured {} but the job's budget is {}",
            escrow.captured_cents, escrow.amount_cents
        ));
    }
    let accounted = escrow.paid_to_testers_cents
        + escrow.held_for_testers_cents
        + escrow.platform_fee_cents
        + escrow.refunded_cents
        + escrow.in_escrow_cents;
    if accounted != escrow.captured_cents {
        return Err(format!(
            "captured {} but paid {} + held {} + fees {} + refunded {} + in escrow {} = {}",
            escrow.captured_cents,
            escrow.paid_to_testers_cents,
            escrow.held_for_testers_cents,
            escrow.platform_fee_cents,
            escrow.refunded_cents,
            escrow.in_escrow_cents,
            accounted
        ));
    }
    let mut submissions = HashSet::new();
    let (mut held, mut paid, mut fees, mut released) = (0, 0, 0, 0);
    for payout in &escrow.payouts {
        if !submissions.insert(payout.submission_id) {
            return Err(format!(
                "submission {} has two payouts",
                payout.submission_id
            ));
        }
        if payout.platform_fee_cents + payout.tester_payout_cents != payout.amount_cents {
            return Err(format!("payout {} does not add up", payout.payout_id));
        }
        if payout.status.is_owed() {
            held += payout.tester_payout_cents;
        }
        if payout.status == PayoutStatus::Paid {
            paid += payout.tester_payout_cents;
        }
        if payout.status != PayoutStatus::Reversed {
            fees += payout.platform_fee_cents;
            released += payout.amount_cents;
        }
    }
    let refunds_total = |status: RefundStatus| -> i64 {
        escrow
            .refunds
            .iter()
            .filter(|refund| refund.status == status)
            .map(|refund| refund.amount_cents)
            .sum()
    };
    let checks = [
        ("held_for_testers_usd", escrow.held_for_testers_cents, held),
        ("paid_to_testers_usd", escrow.paid_to_testers_cents, paid),
        ("platform_fee_usd", escrow.platform_fee_cents, fees),
        (
            "refunded_usd",
            escrow.refunded_cents,
            refunds_total(RefundStatus::Succeeded),
        ),
    ];
    for (name, stored, computed) in checks {
        if stored != computed {
            return Err(format!("{name} is {stored} but the records say {computed}"));
        }
    }
    if refunds_total(RefundStatus::Pending) > escrow.in_escrow_cents {
        return Err("pending refunds exceed the money in escrow".into());
    }
    let events_total = |event_type: EscrowEventType| -> i64 {
        escrow
            .events
            .iter()
            .filter(|event| event.event_type == event_type)
            .map(|event| event.amount_cents)
            .sum()
    };
    let event_checks = [
        (
            "captured",
            events_total(EscrowEventType::Captured),
            escrow.captured_cents,
        ),
        (
            "released − reversed",
            events_total(EscrowEventType::Released) - events_total(EscrowEventType::PayoutReversed),
            released,
        ),
        (
            "refunded",
            events_total(EscrowEventType::Refunded),
            escrow.refunded_cents,
        ),
        ("paid", events_total(EscrowEventType::PayoutPaid), paid),
    ];
    for (name, logged, ledger) in event_checks {
        if logged != ledger {
            return Err(format!(
                "{name} events sum to {logged}, the ledger says {ledger}"
            ));
        }
    }
    if escrow.captured_cents > 0 {
        let derived = derived_funded_status(
            escrow.captured_cents,
            escrow.in_escrow_cents,
            escrow.refunded_cents,
        );
        if derived != escrow.status {
            return Err(format!(
                "status is {} but the ledger says {}",
                escrow.status.as_str(),
                derived.as_str()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fee::split_payout;

    const USER: EscrowActor = EscrowActor::Platform("test");

    fn at(millis: i64) -> DateTime {
        DateTime::from_millis(millis)
    }

    #[test]
    fn flagging_attention_keeps_the_first_time_and_the_latest_reason_and_moves_no_money() {
        let mut escrow = funded(2, 5_000);
        let before = escrow.clone();
        escrow.flag_attention("refund failed after success", DateTime::from_millis(1_000));
        escrow.flag_attention("transfer reversed", DateTime::from_millis(2_000));
        let attention = escrow.needs_attention.clone().expect("flagged");
        assert_eq!(attention.reason, "transfer reversed");
        assert_eq!(attention.since, DateTime::from_millis(1_000));
        assert_eq!(attention.last_reported_at, DateTime::from_millis(2_000));
        assert_eq!(escrow.in_escrow_cents, before.in_escrow_cents);
        assert_eq!(escrow.events, before.events);
        check_invariant(&escrow).expect("no money moved");
    }

    fn funded(seats: i64, per_seat: i64) -> EscrowTransaction {
        let mut escrow = EscrowTransaction::new(
            NewEscrow {
                job_id: ObjectId::new(),
                client_id: ObjectId::new(),
                provider: "SANDBOX",
                amount: seats * per_seat,
                budget_per_tester: per_seat,
                currency: "USD".into(),
                platform_fee_basis_points: 1_500,
                customer_id: "cus_1".into(),
                payment_method_id: "pm_1".into(),
                expires_at: at(1_000_000),
            },
            at(0),
            USER,
        );
        check_invariant(&escrow).unwrap();
        escrow.authorize("pi".into(), at(1), USER).unwrap();
        escrow.capture("ch".into(), at(2), USER).unwrap();
        check_invariant(&escrow).unwrap();
        escrow
    }

    fn approve(escrow: &mut EscrowTransaction, submission: ObjectId) -> Payout {
        let split = split_payout(escrow.budget_per_tester_cents, 1_500).unwrap();
        escrow
            .hold_payout(submission, ObjectId::new(), split, at(100), at(10), USER)
            .unwrap()
    }

    #[test]
    fn a_dispute_split_refunds_the_named_cents_and_takes_the_fee_on_the_testers_part_only() {
        // Seat of 3,333 cents at 15%: refund 1,111, the tester's part 2,222 pays a fee of
        // 333.3 rounded down to 333, and the tester gets 1,889: 1,111 + 333 + 1,889 = 3,333.
        let mut escrow = funded(2, 3_333);
        let (submission, dispute) = (ObjectId::new(), ObjectId::new());
        approve(&mut escrow, submission);
        escrow
            .freeze_payout(submission, dispute, at(20), USER)
            .unwrap();
        let (payout, refund) = escrow
            .split_disputed_payout(submission, 1_111, 1_500, ObjectId::new(), at(30), USER)
            .unwrap();
        assert_eq!(refund.amount_cents, 1_111);
        assert_eq!(
            (
                payout.amount_cents,
                payout.platform_fee_cents,
                payout.tester_payout_cents
            ),
            (2_222, 333, 1_889)
        );
        assert_eq!(payout.status, PayoutStatus::Held);
        assert_eq!(
            refund.amount_cents + payout.platform_fee_cents + payout.tester_payout_cents,
            3_333
        );
        check_invariant(&escrow).unwrap();
        let again = escrow
            .split_disputed_payout(submission, 1_111, 1_500, ObjectId::new(), at(40), USER)
            .unwrap();
        assert_eq!(again.1.refund_id, refund.refund_id);
        assert_eq!(escrow.refunds.len(), 1);
        let settled = escrow
            .settle_refund(refund.refund_id, "re_1".into(), at(50), USER)
            .unwrap();
        assert_eq!(settled.amount_cents, 1_111);
        assert_eq!(escrow.refunded_cents, 1_111);
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn a_dispute_split_must_leave_both_parties_something() {
        let mut escrow = funded(1, 1_000);
        let submission = ObjectId::new();
        approve(&mut escrow, submission);
        assert!(matches!(
            escrow.split_disputed_payout(submission, 500, 1_500, ObjectId::new(), at(20), USER),
            Err(EscrowError::InvalidPayoutTransition { from: "held", .. })
        ));
        escrow
            .freeze_payout(submission, ObjectId::new(), at(20), USER)
            .unwrap();
        for refund in [0, -1, 1_000, 1_001] {
            assert!(matches!(
                escrow.split_disputed_payout(
                    submission,
                    refund,
                    1_500,
                    ObjectId::new(),
                    at(30),
                    USER
                ),
                Err(EscrowError::InvalidAmount { .. })
            ));
        }
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn a_disputed_rejection_takes_the_seat_out_of_escrow_into_a_frozen_payout() {
        let mut escrow = funded(2, 2_000);
        let (submission, tester, dispute) = (ObjectId::new(), ObjectId::new(), ObjectId::new());
        let split = split_payout(2_000, 1_500).unwrap();
        let payout = escrow
            .hold_disputed_rejection(submission, tester, split, dispute, at(10), USER)
            .unwrap();
        assert_eq!(payout.status, PayoutStatus::Frozen);
        assert_eq!(payout.frozen_by_dispute_id, Some(dispute));
        assert_eq!(payout.release_after, at(10));
        assert_eq!(escrow.available_cents(), 2_000);
        let again = escrow
            .hold_disputed_rejection(submission, tester, split, dispute, at(11), USER)
            .unwrap();
        assert_eq!(again, payout);
        check_invariant(&escrow).unwrap();
        // No action: the rejection stands and the whole seat goes back to the client.
        let refund = escrow
            .reverse_payout(submission, ObjectId::new(), at(20), USER)
            .unwrap();
        assert_eq!(refund.amount_cents, 2_000);
        assert_eq!(
            (escrow.held_for_testers_cents, escrow.platform_fee_cents),
            (0, 0)
        );
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn a_three_seat_job_pays_two_testers_and_refunds_the_third_seat() {
        let mut escrow = funded(3, 2_500);
        assert_eq!(escrow.status, EscrowStatus::Captured);
        assert_eq!(escrow.in_escrow_cents, 7_500);
        let (first, second) = (ObjectId::new(), ObjectId::new());
        approve(&mut escrow, first);
        assert_eq!(escrow.status, EscrowStatus::PartiallyReleased);
        approve(&mut escrow, second);
        assert_eq!(
            (
                escrow.in_escrow_cents,
                escrow.held_for_testers_cents,
                escrow.platform_fee_cents
            ),
            (2_500, 4_250, 750)
        );
        let refund = escrow
            .request_refund(
                ObjectId::new(),
                2_500,
                "unused seat".into(),
                None,
                at(20),
                USER,
            )
            .unwrap();
        assert_eq!(escrow.available_cents(), 0);
        check_invariant(&escrow).unwrap();
        escrow
            .settle_refund(refund.refund_id, "re".into(), at(21), USER)
            .unwrap();
        assert_eq!(escrow.status, EscrowStatus::Released);
        for submission in [first, second] {
            let payout = escrow.begin_transfer(submission, 5, at(100), USER).unwrap();
            escrow
                .settle_transfer(
                    submission,
                    payout.transfer_attempts,
                    "tr".into(),
                    at(101),
                    USER,
                )
                .unwrap();
        }
        assert_eq!(
            (
                escrow.paid_to_testers_cents,
                escrow.held_for_testers_cents,
                escrow.platform_fee_cents,
                escrow.refunded_cents,
                escrow.in_escrow_cents
            ),
            (4_250, 0, 750, 2_500, 0)
        );
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn approving_twice_keeps_one_payout_and_overspending_is_refused() {
        let mut escrow = funded(1, 2_500);
        let submission = ObjectId::new();
        let first = approve(&mut escrow, submission);
        let again = approve(&mut escrow, submission);
        assert_eq!(first, again);
        assert_eq!(escrow.payouts.len(), 1);
        let split = split_payout(2_500, 1_500).unwrap();
        let error = escrow
            .hold_payout(ObjectId::new(), ObjectId::new(), split, at(1), at(1), USER)
            .unwrap_err();
        assert!(matches!(
            error,
            EscrowError::InsufficientEscrow {
                available: 0,
                requested: 2_500
            }
        ));
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn a_payout_is_not_transferred_inside_its_window_nor_while_frozen() {
        let mut escrow = funded(1, 2_500);
        let submission = ObjectId::new();
        approve(&mut escrow, submission);
        assert!(matches!(
            escrow.begin_transfer(submission, 5, at(99), USER),
            Err(EscrowError::PayoutStillHeld)
        ));
        escrow
            .freeze_payout(submission, ObjectId::new(), at(50), USER)
            .unwrap();
        assert!(matches!(
            escrow.begin_transfer(submission, 5, at(200), USER),
            Err(EscrowError::InvalidPayoutTransition { from: "frozen", .. })
        ));
        let refund = escrow
            .reverse_payout(submission, ObjectId::new(), at(60), USER)
            .unwrap();
        assert_eq!(refund.amount_cents, 2_500);
        assert_eq!(escrow.platform_fee_cents, 0);
        check_invariant(&escrow).unwrap();
        escrow
            .settle_refund(refund.refund_id, "re".into(), at(61), USER)
            .unwrap();
        assert_eq!(escrow.status, EscrowStatus::Refunded);
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn a_failed_transfer_keeps_the_money_held_and_is_retried_with_a_new_attempt() {
        let mut escrow = funded(1, 2_500);
        let submission = ObjectId::new();
        approve(&mut escrow, submission);
        let first = escrow.begin_transfer(submission, 2, at(100), USER).unwrap();
        escrow
            .fail_transfer(
                submission,
                first.transfer_attempts,
                "no account",
                at(101),
                USER,
            )
            .unwrap();
        assert_eq!(escrow.held_for_testers_cents, 2_125);
        let second = escrow.begin_transfer(submission, 2, at(102), USER).unwrap();
        assert_eq!(second.transfer_attempts, 2);
        // A late answer for attempt 1 changes nothing.
        escrow
            .settle_transfer(submission, 1, "late".into(), at(103), USER)
            .unwrap();
        assert_eq!(
            escrow.payout_for(submission).unwrap().status,
            PayoutStatus::Processing
        );
        escrow
            .fail_transfer(submission, 2, "no account", at(104), USER)
            .unwrap();
        assert!(escrow.begin_transfer(submission, 2, at(105), USER).is_err());
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn a_reported_transfer_pays_a_processing_payout_once_and_disagreements_change_nothing() {
        let mut escrow = funded(1, 2_500);
        let submission = ObjectId::new();
        let payout = approve(&mut escrow, submission);
        let held = escrow.clone();
        assert!(matches!(
            escrow.confirm_transfer(payout.payout_id, "tr_1", at(100), USER),
            Ok(TransferConfirmation::Conflict(_))
        ));
        assert_eq!(escrow, held);
        escrow.begin_transfer(submission, 5, at(100), USER).unwrap();
        let Ok(TransferConfirmation::Settled(paid)) =
            escrow.confirm_transfer(payout.payout_id, "tr_1", at(101), USER)
        else {
            panic!("a processing payout is settled by the provider's report");
        };
        assert_eq!(paid.status, PayoutStatus::Paid);
        assert_eq!(paid.stripe_transfer_id.as_deref(), Some("tr_1"));
        // Our own answer arriving afterwards, or the report again, changes nothing.
        let settled = escrow.clone();
        escrow
            .settle_transfer(submission, 1, "tr_1".into(), at(102), USER)
            .unwrap();
        assert!(matches!(
            escrow.confirm_transfer(payout.payout_id, "tr_1", at(103), USER),
            Ok(TransferConfirmation::AlreadyPaid)
        ));
        assert!(matches!(
            escrow.confirm_transfer(payout.payout_id, "tr_2", at(104), USER),
            Ok(TransferConfirmation::Conflict(_))
        ));
        assert_eq!(escrow, settled);
        assert_eq!(escrow.paid_to_testers_cents, 2_125);

        for _ in 0..2 {
            escrow
                .record_transfer_reversal(payout.payout_id, "tr_1", 500, at(105), USER)
                .unwrap();
        }
        let reversals = escrow
            .events
            .iter()
            .filter(|event| event.event_type == EscrowEventType::TransferReversed)
            .count();
        assert_eq!(reversals, 1);
        assert_eq!(escrow.paid_to_testers_cents, 2_125);
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn a_failed_refund_makes_its_money_available_again() {
        let mut escrow = funded(2, 1_000);
        let refund = escrow
            .request_refund(ObjectId::new(), 1_500, "goodwill".into(), None, at(5), USER)
            .unwrap();
        assert_eq!(escrow.available_cents(), 500);
        escrow
            .fail_refund(refund.refund_id, "card closed", at(6), USER)
            .unwrap();
        assert_eq!(escrow.available_cents(), 2_000);
        assert_eq!(escrow.status, EscrowStatus::Captured);
        check_invariant(&escrow).unwrap();
    }

    #[test]
    fn the_invariant_catches_created_or_destroyed_money() {
        let mut escrow = funded(2, 1_000);
        approve(&mut escrow, ObjectId::new());
        let mut minted = escrow.clone();
        minted.in_escrow_cents += 1;
        assert!(check_invariant(&minted).unwrap_err().contains("captured"));
        let mut lost_fee = escrow.clone();
        lost_fee.platform_fee_cents -= 1;
        lost_fee.held_for_testers_cents += 1;
        assert!(check_invariant(&lost_fee).is_err());
        let mut edited_event = escrow.clone();
        edited_event.events[2].amount_cents += 1;
        assert!(check_invariant(&edited_event).is_err());
    }

    #[test]
    fn a_declined_payment_can_start_a_new_attempt() {
        let mut escrow = funded(1, 100);
        assert!(escrow.fail("late", at(3), USER).is_err());
        let mut declined = EscrowTransaction::new(
            NewEscrow {
                job_id: ObjectId::new(),
                client_id: ObjectId::new(),
                provider: "SANDBOX",
                amount: 100,
                budget_per_tester: 100,
                currency: "USD".into(),
                platform_fee_basis_points: 1_500,
                customer_id: "cus_1".into(),
                payment_method_id: "pm_declined".into(),
                expires_at: at(10),
            },
            at(0),
            USER,
        );
        declined.fail("insufficient funds", at(1), USER).unwrap();
        let new_card = PaymentSource {
            payer_id: ObjectId::new(),
            customer_id: "cus_1".into(),
            payment_method_id: "pm_new".into(),
        };
        declined
            .retry_funding(&new_card, at(20), at(2), USER)
            .unwrap();
        assert_eq!(
            (declined.status, declined.funding_attempt),
            (EscrowStatus::Pending, 2)
        );
        assert_eq!(declined.stripe_payment_method_id.as_deref(), Some("pm_new"));
        check_invariant(&declined).unwrap();
    }
}
