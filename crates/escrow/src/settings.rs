//! [`EscrowSettings`]: the typed settings the gateway hands escrow.

use std::time::Duration;

use foundation::Currency;

use crate::error::EscrowError;

const DAY: Duration = Duration::from_secs(86_400);

/// Settings of the escrow domain. The gateway reads them from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowSettings {
    /// The platform's commission on each payout, in basis points (1500 = 15%). Rounded down to
    /// the cent; the tester receives the rest (see [`crate::split_payout`]).
    pub platform_fee_basis_points: u32,
    /// How long an approved submission's payout is held before it is transferred, so a dispute
    /// can freeze it (default 3 days).
    pub dispute_window: Duration,
    /// How long after submission an unreviewed submission is approved automatically (default
    /// 10 days).
    pub auto_approve_after: Duration,
    /// How long a completed operation's idempotency key is remembered (default 24 hours, as
    /// payment providers do). After that a repeat is still harmless: every operation is also
    /// deduplicated by our own ids in the ledger.
    pub idempotency_key_ttl: Duration,
    /// How long a card authorization stays valid before capture (default 7 days); stored as the
    /// escrow's `expires_at`.
    pub authorization_validity: Duration,
    /// Transfers to a tester tried at most this often before the payout stays failed for an
    /// operator (default 5).
    pub max_transfer_attempts: u32,
    /// The currency of every job (US dollars today; job amounts are US cents).
    pub currency: Currency,
}

impl Default for EscrowSettings {
    fn default() -> Self {
        Self {
            platform_fee_basis_points: 1_500,
            dispute_window: 3 * DAY,
            auto_approve_after: 10 * DAY,
            idempotency_key_ttl: DAY,
            authorization_validity: 7 * DAY,
            max_transfer_attempts: 5,
            currency: Currency::usd(),
        }
    }
}

impl EscrowSettings {
    /// Refuses settings no marketplace could run with (a fee above 100%, no transfer attempt).
    pub fn validate(&self) -> Result<(), EscrowError> {
        if self.platform_fee_basis_points > 10_000 {
            return Err(EscrowError::InvalidSettings(
                "platform_fee_basis_points must be at most 10000".into(),
            ));
        }
        if self.max_transfer_attempts == 0 {
            return Err(EscrowError::InvalidSettings(
                "max_transfer_attempts must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
