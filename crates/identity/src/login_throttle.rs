//! Failed-login throttling. Each failure is one `login_attempts` document keyed by account
//! (`account:<email>`) and by client address (`ip:<address>`); a login is refused while either key
//! has reached its limit within the sliding window. Time comes from the service clock, so tests
//! move through the window without sleeping.

use bson::{doc, DateTime};
use foundation::clock::{add_duration, subtract_duration};
use mongodb::options::FindOneOptions;

use crate::error::IdentityError;
use crate::service::IdentityService;

fn account_key(email: &str) -> String {
    format!("account:{email}")
}

fn address_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Seconds from `now` until `oldest + window`, at least 1 (a client told to retry after 0 seconds
/// would retry at once and be refused again).
pub fn retry_after_seconds(
    oldest_failure: DateTime,
    window: std::time::Duration,
    now: DateTime,
) -> u64 {
    let free_at = add_duration(oldest_failure, window).timestamp_millis();
    let remaining_millis = free_at.saturating_sub(now.timestamp_millis()).max(0);
    u64::try_from((remaining_millis + 999) / 1_000)
        .unwrap_or(u64::MAX)
        .max(1)
}

impl IdentityService {
    /// `RateLimited` when the account or the address has too many recent failures.
    pub(crate) async fn check_login_allowed(
        &self,
        email: &str,
        ip: Option<&str>,
    ) -> Result<(), IdentityError> {
        let limits = self.settings.login_throttle;
        self.check_key(&account_key(email), limits.max_failures_per_account)
            .await?;
        if let Some(ip) = ip {
            self.check_key(&address_key(ip), limits.max_failures_per_address)
                .await?;
        }
        Ok(())
    }

    async fn check_key(&self, key: &str, limit: u64) -> Result<(), IdentityError> {
        let now = self.now();
        let window = self.settings.login_throttle.window;
        let filter = doc! { "key": key, "at": { "$gt": subtract_duration(now, window) } };
        let failures = self.login_attempts.count_documents(filter.clone()).await?;
        if failures < limit {
            return Ok(());
        }
        // The window frees up when enough of the oldest failures have aged out; the oldest of the
        // most recent `limit` failures decides that.
        let skip = failures.saturating_sub(limit);
        let options = FindOneOptions::builder()
            .sort(doc! { "at": 1 })
            .skip(skip)
            .build();
        let oldest = self
            .login_attempts
            .find_one(filter)
            .with_options(options)
            .await?;
        let oldest_at = oldest
            .and_then(|document| document.get_datetime("at").ok().copied())
            .unwrap_or(now);
        Err(IdentityError::RateLimited {
            retry_after_secs: retry_after_seconds(oldest_at, window, now),
        })
    }

    /// Records one failed login against the account and the address.
    pub(crate) async fn record_login_failure(
        &self,
        email: &str,
        ip: Option<&str>,
    ) -> Result<(), IdentityError> {
        let now = self.now();
        let mut records = vec![doc! { "key": account_key(email), "at": now }];
        if let Some(ip) = ip {
            records.push(doc! { "key": address_key(ip), "at": now });
        }
        self.login_attempts.insert_many(records).await?;
        tracing::info!(failures_recorded = true, "login failed");
        Ok(())
    }

    /// A successful login forgives the account's failures (not the address's: one good password
    /// must not reset an attacker's budget against other accounts).
    pub(crate) async fn clear_login_failures(&self, email: &str) -> Result<(), IdentityError> {
        self.login_attempts
            .delete_many(doc! { "key": account_key(email) })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn retry_after_counts_whole_seconds_until_the_oldest_failure_leaves_the_window() {
        let window = Duration::from_secs(900);
        let oldest = DateTime::from_millis(1_000_000);
        assert_eq!(
            retry_after_seconds(oldest, window, DateTime::from_millis(1_000_000)),
            900
        );
        assert_eq!(
            retry_after_seconds(oldest, window, DateTime::from_millis(1_000_500)),
            900
        );
        assert_eq!(
            retry_after_seconds(oldest, window, DateTime::from_millis(1_899_000)),
            1
        );
        assert_eq!(
            retry_after_seconds(oldest, window, DateTime::from_millis(2_000_000)),
            1
        );
    }
}
