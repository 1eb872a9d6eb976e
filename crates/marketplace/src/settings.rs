//! [`MarketplaceSettings`]: the typed settings the gateway hands the marketplace, with the money
//! limits ([`MoneyLimits`]) every publish is held to.

use std::time::Duration;

/// Settings of the marketplace domain. The gateway reads them from its configuration.
#[derive(Debug, Clone)]
pub struct MarketplaceSettings {
    /// AES-256-GCM key that encrypts project credentials at rest.
    pub credentials_encryption_key: [u8; 32],
    /// Keys credentials were sealed with before the last rotation: still opened, never used to
    /// seal; [`crate::MarketplaceService::reseal_credentials`] moves everything to the current key.
    pub previous_credentials_keys: Vec<[u8; 32]>,
    /// How much money one job, one account and one new account may put in escrow.
    pub money: MoneyLimits,
}

impl MarketplaceSettings {
    /// Settings with the given credentials key and the default money limits.
    pub fn new(credentials_encryption_key: [u8; 32]) -> Self {
        Self {
            credentials_encryption_key,
            previous_credentials_keys: Vec::new(),
            money: MoneyLimits::default(),
        }
    }
}

/// The limits on money a client can commit. A job is refused when it breaks one; the account
/// limits are taken in the same transaction as the publish that uses them, so concurrent
/// publishes cannot overrun them together. Amounts are US cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyLimits {
    /// Seats a job may have (default 100, as the schema documents).
    pub max_seats_per_job: i32,
    /// The most one job's total budget may be (default $50,000).
    pub max_job_budget_cents: i64,
    /// The most an account (an organization, or a client without one) may have committed at
    /// once: the total budgets of its published jobs not yet completed or cancelled (default
    /// $250,000).
    pub max_account_committed_cents: i64,
    /// Accounts younger than this are new (default 30 days).
    pub new_account_age: Duration,
    /// What a new account may fund per UTC day, summed over its publishes (default $10,000).
    pub new_account_daily_funding_cents: i64,
}

impl Default for MoneyLimits {
    fn default() -> Self {
        Self {
            max_seats_per_job: 100,
            max_job_budget_cents: 5_000_000,
            max_account_committed_cents: 25_000_000,
            new_account_age: Duration::from_secs(30 * 86_400),
            new_account_daily_funding_cents: 1_000_000,
        }
    }
}

impl MoneyLimits {
    /// Refuses limits no marketplace could run with (no seat, a negative amount, a job cap
    /// above the account cap).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_seats_per_job < 1 {
            return Err("max_seats_per_job must be at least 1".into());
        }
        if self.max_job_budget_cents < 1
            || self.max_account_committed_cents < 1
            || self.new_account_daily_funding_cents < 1
        {
            return Err("money limits must be positive".into());
        }
        if self.max_job_budget_cents > self.max_account_committed_cents {
            return Err("max_job_budget_cents cannot exceed max_account_committed_cents".into());
        }
        Ok(())
    }
}
