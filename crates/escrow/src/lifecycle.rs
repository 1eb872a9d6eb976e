//! The escrow, payout and refund lifecycles, each an enum plus one transition table. The ledger
//! applies a step only when its table allows it, and the service writes the result by
//! compare-and-set on the document's `version`, so two racing steps cannot both win.
//!
//! An escrow's status after capture follows its ledger: `captured` while nothing left it,
//! `partially_released` / `partially_refunded` while some money remains, `released` once the
//! escrow is empty and something went to testers, `refunded` once everything went back to the
//! client ([`derived_funded_status`]). The table says which of those moves each action may make.

use serde::{Deserialize, Serialize};

/// Where an escrow transaction is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscrowStatus {
    /// Created for a job; the provider has not authorized the payment yet.
    Pending,
    /// The client's payment is authorized, not captured.
    Authorized,
    /// The whole budget is captured and held; nothing has left.
    Captured,
    /// Some money went to testers; some is still held.
    PartiallyReleased,
    /// The escrow is empty and money went to testers (the rest, if any, was refunded).
    Released,
    /// Some money went back to the client; some is still held.
    PartiallyRefunded,
    /// Everything went back to the client.
    Refunded,
    /// The provider declined the payment.
    Failed,
    /// The authorization lapsed before capture.
    Expired,
}

impl EscrowStatus {
    /// The job's `escrow_status` (seed section 3: "pending" | "reserved" | "held" | "released" |
    /// "refunded") that this escrow status means: unfunded escrows are `pending`, an
    /// authorization is `reserved`, captured money not yet all paid out or refunded is `held`.
    pub fn job_escrow_status(self) -> marketplace::JobEscrowStatus {
        use marketplace::JobEscrowStatus;
        match self {
            EscrowStatus::Pending | EscrowStatus::Failed | EscrowStatus::Expired => {
                JobEscrowStatus::Pending
            }
            EscrowStatus::Authorized => JobEscrowStatus::Reserved,
            EscrowStatus::Captured
            | EscrowStatus::PartiallyReleased
            | EscrowStatus::PartiallyRefunded => JobEscrowStatus::Held,
            EscrowStatus::Released => JobEscrowStatus::Released,
            EscrowStatus::Refunded => JobEscrowStatus::Refunded,
        }
    }

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EscrowStatus::Pending => "pending",
            EscrowStatus::Authorized => "authorized",
            EscrowStatus::Captured => "captured",
            EscrowStatus::PartiallyReleased => "partially_released",
            EscrowStatus::Released => "released",
            EscrowStatus::PartiallyRefunded => "partially_refunded",
            EscrowStatus::Refunded => "refunded",
            EscrowStatus::Failed => "failed",
            EscrowStatus::Expired => "expired",
        }
    }

    /// Whether the money was captured (the ledger's counters are live).
    pub fn is_funded(self) -> bool {
        matches!(
            self,
            EscrowStatus::Captured
                | EscrowStatus::PartiallyReleased
                | EscrowStatus::Released
                | EscrowStatus::PartiallyRefunded
                | EscrowStatus::Refunded
        )
    }

    /// Every status, for queries and tests.
    pub const ALL: [EscrowStatus; 9] = [
        EscrowStatus::Pending,
        EscrowStatus::Authorized,
        EscrowStatus::Captured,
        EscrowStatus::PartiallyReleased,
        EscrowStatus::Released,
        EscrowStatus::PartiallyRefunded,
        EscrowStatus::Refunded,
        EscrowStatus::Failed,
        EscrowStatus::Expired,
    ];
}

/// A step on an escrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscrowAction {
    /// The provider authorized the payment.
    Authorize,
    /// The provider captured it.
    Capture,
    /// The provider declined it.
    Fail,
    /// The authorization lapsed.
    Expire,
    /// Start over with a new payment after a decline or a lapse.
    Retry,
    /// Money left the escrow for a tester's payout.
    Release,
    /// Money went back to the client.
    Refund,
    /// A payout was reversed: its money came back into escrow (to be refunded).
    Reverse,
}

impl EscrowAction {
    /// The action in words, for errors.
    pub fn as_str(self) -> &'static str {
        match self {
            EscrowAction::Authorize => "authorize",
            EscrowAction::Capture => "capture",
            EscrowAction::Fail => "fail",
            EscrowAction::Expire => "expire",
            EscrowAction::Retry => "retry",
            EscrowAction::Release => "release",
            EscrowAction::Refund => "refund",
            EscrowAction::Reverse => "reverse a payout",
        }
    }
}

use EscrowAction as EA;
use EscrowStatus as ES;

/// The escrow lifecycle: every allowed (from, action, to). Nothing else is allowed.
pub const ESCROW_TRANSITIONS: &[(EscrowStatus, EscrowAction, EscrowStatus)] = &[
    (ES::Pending, EA::Authorize, ES::Authorized),
    (ES::Pending, EA::Fail, ES::Failed),
    (ES::Pending, EA::Expire, ES::Expired),
    (ES::Authorized, EA::Capture, ES::Captured),
    (ES::Authorized, EA::Fail, ES::Failed),
    (ES::Authorized, EA::Expire, ES::Expired),
    (ES::Failed, EA::Retry, ES::Pending),
    (ES::Expired, EA::Retry, ES::Pending),
    (ES::Captured, EA::Release, ES::PartiallyReleased),
    (ES::Captured, EA::Release, ES::Released),
    (ES::PartiallyReleased, EA::Release, ES::PartiallyReleased),
    (ES::PartiallyReleased, EA::Release, ES::Released),
    (ES::PartiallyRefunded, EA::Release, ES::PartiallyRefunded),
    (ES::PartiallyRefunded, EA::Release, ES::Released),
    (ES::Captured, EA::Refund, ES::PartiallyRefunded),
    (ES::Captured, EA::Refund, ES::Refunded),
    (ES::PartiallyReleased, EA::Refund, ES::PartiallyRefunded),
    (ES::PartiallyReleased, EA::Refund, ES::Released),
    (ES::PartiallyRefunded, EA::Refund, ES::PartiallyRefunded),
    (ES::PartiallyRefunded, EA::Refund, ES::Refunded),
    (ES::PartiallyRefunded, EA::Refund, ES::Released),
    (ES::PartiallyReleased, EA::Reverse, ES::Captured),
    (ES::PartiallyReleased, EA::Reverse, ES::PartiallyReleased),
    (ES::PartiallyRefunded, EA::Reverse, ES::PartiallyRefunded),
    (ES::Released, EA::Reverse, ES::Captured),
    (ES::Released, EA::Reverse, ES::PartiallyReleased),
    (ES::Released, EA::Reverse, ES::PartiallyRefunded),
];

/// Whether the table allows `from` → `to` by `action`.
pub fn escrow_transition_allowed(
    from: EscrowStatus,
    action: EscrowAction,
    to: EscrowStatus,
) -> bool {
    ESCROW_TRANSITIONS.contains(&(from, action, to))
}

/// The status a funded escrow has for its ledger: `captured` cents taken from the client,
/// `in_escrow` still held (pending refunds included) and `refunded` returned.
pub fn derived_funded_status(captured: i64, in_escrow: i64, refunded: i64) -> EscrowStatus {
    if in_escrow == captured {
        EscrowStatus::Captured
    } else if in_escrow > 0 && refunded > 0 {
        EscrowStatus::PartiallyRefunded
    } else if in_escrow > 0 {
        EscrowStatus::PartiallyReleased
    } else if refunded == captured {
        EscrowStatus::Refunded
    } else {
        EscrowStatus::Released
    }
}

/// Where a tester's payout is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Owed, not yet set aside (only ever seen inside one ledger step).
    Pending,
    /// Set aside for the tester during the dispute window.
    Held,
    /// A dispute froze it; it moves only when the dispute is decided.
    Frozen,
    /// The transfer to the tester's connected account was requested.
    Processing,
    /// Transferred to the tester.
    Paid,
    /// The transfer failed; it will be retried.
    Failed,
    /// Taken back after a dispute; its money went back to the client.
    Reversed,
}

impl PayoutStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Pending => "pending",
            PayoutStatus::Held => "held",
            PayoutStatus::Frozen => "frozen",
            PayoutStatus::Processing => "processing",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
            PayoutStatus::Reversed => "reversed",
        }
    }

    /// Whether the tester's share is still the platform's to hand over (held, frozen, being
    /// transferred or failed).
    pub fn is_owed(self) -> bool {
        matches!(
            self,
            PayoutStatus::Pending
                | PayoutStatus::Held
                | PayoutStatus::Frozen
                | PayoutStatus::Processing
                | PayoutStatus::Failed
        )
    }
}

/// A step on a payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutAction {
    /// Set the money aside for the dispute window.
    Hold,
    /// A dispute was opened.
    Freeze,
    /// The dispute ended in the tester's favour.
    Unfreeze,
    /// Ask the provider to transfer.
    Transfer,
    /// The provider confirmed the transfer.
    Settle,
    /// The provider refused the transfer.
    Fail,
    /// Try a failed transfer again.
    Retry,
    /// The tester cannot receive transfers yet (no verified connected account): nothing was
    /// sent, the payout waits held for the next sweep.
    Defer,
    /// The dispute ended in the client's favour.
    Reverse,
}

impl PayoutAction {
    /// The action in words, for errors.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutAction::Hold => "be held",
            PayoutAction::Freeze => "be frozen",
            PayoutAction::Unfreeze => "be unfrozen",
            PayoutAction::Transfer => "be transferred",
            PayoutAction::Settle => "be settled",
            PayoutAction::Fail => "fail",
            PayoutAction::Retry => "be retried",
            PayoutAction::Defer => "wait for the tester's payout account",
            PayoutAction::Reverse => "be reversed",
        }
    }
}

use PayoutAction as PA;
use PayoutStatus as PS;

/// The payout lifecycle: every allowed (from, action, to). Nothing else is allowed. Reversing a
/// paid transfer needs the provider's transfer reversal and is not offered yet.
pub const PAYOUT_TRANSITIONS: &[(PayoutStatus, PayoutAction, PayoutStatus)] = &[
    (PS::Pending, PA::Hold, PS::Held),
    (PS::Held, PA::Freeze, PS::Frozen),
    (PS::Frozen, PA::Unfreeze, PS::Held),
    (PS::Held, PA::Transfer, PS::Processing),
    (PS::Processing, PA::Settle, PS::Paid),
    (PS::Processing, PA::Fail, PS::Failed),
    (PS::Failed, PA::Retry, PS::Processing),
    (PS::Processing, PA::Defer, PS::Held),
    (PS::Held, PA::Reverse, PS::Reversed),
    (PS::Frozen, PA::Reverse, PS::Reversed),
];

/// The status `action` leads to from `from`, if the table allows it.
pub fn payout_transition(from: PayoutStatus, action: PayoutAction) -> Option<PayoutStatus> {
    PAYOUT_TRANSITIONS
        .iter()
        .find(|(source, step, _)| *source == from && *step == action)
        .map(|(_, _, target)| *target)
}

/// Where a refund to the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Recorded and earmarked; the provider has not confirmed it yet.
    Pending,
    /// The provider returned the money to the client.
    Succeeded,
    /// The provider refused; the money is available in escrow again.
    Failed,
}

impl RefundStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

/// The refund lifecycle: every allowed (from, to).
pub const REFUND_TRANSITIONS: &[(RefundStatus, RefundStatus)] = &[
    (RefundStatus::Pending, RefundStatus::Succeeded),
    (RefundStatus::Pending, RefundStatus::Failed),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funding_runs_pending_authorized_captured_and_a_decline_can_start_over() {
        assert!(escrow_transition_allowed(
            ES::Pending,
            EA::Authorize,
            ES::Authorized
        ));
        assert!(escrow_transition_allowed(
            ES::Authorized,
            EA::Capture,
            ES::Captured
        ));
        assert!(escrow_transition_allowed(
            ES::Authorized,
            EA::Fail,
            ES::Failed
        ));
        assert!(escrow_transition_allowed(
            ES::Failed,
            EA::Retry,
            ES::Pending
        ));
        assert!(!escrow_transition_allowed(
            ES::Pending,
            EA::Capture,
            ES::Captured
        ));
        assert!(!escrow_transition_allowed(
            ES::Refunded,
            EA::Release,
            ES::Released
        ));
    }

    #[test]
    fn the_derived_status_follows_the_ledger() {
        assert_eq!(derived_funded_status(7_500, 7_500, 0), ES::Captured);
        assert_eq!(
            derived_funded_status(7_500, 5_000, 0),
            ES::PartiallyReleased
        );
        assert_eq!(
            derived_funded_status(7_500, 2_500, 2_500),
            ES::PartiallyRefunded
        );
        assert_eq!(derived_funded_status(7_500, 0, 2_500), ES::Released);
        assert_eq!(derived_funded_status(7_500, 0, 7_500), ES::Refunded);
        assert_eq!(derived_funded_status(0, 0, 0), ES::Captured);
    }

    #[test]
    fn only_a_held_or_frozen_payout_can_be_reversed_and_a_frozen_one_cannot_be_transferred() {
        assert_eq!(payout_transition(PS::Held, PA::Freeze), Some(PS::Frozen));
        assert_eq!(payout_transition(PS::Frozen, PA::Transfer), None);
        assert_eq!(
            payout_transition(PS::Frozen, PA::Reverse),
            Some(PS::Reversed)
        );
        assert_eq!(payout_transition(PS::Paid, PA::Reverse), None);
        assert_eq!(
            payout_transition(PS::Failed, PA::Retry),
            Some(PS::Processing)
        );
        assert_eq!(payout_transition(PS::Paid, PA::Settle), None);
    }

    #[test]
    fn terminal_statuses_take_no_money_steps() {
        for action in [EA::Release, EA::Refund, EA::Capture, EA::Authorize] {
            for to in EscrowStatus::ALL {
                assert!(!escrow_transition_allowed(ES::Refunded, action, to));
            }
        }
    }
}
