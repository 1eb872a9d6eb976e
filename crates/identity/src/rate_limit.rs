//! Request budgets: how many attempts of one kind (a login guess, a second-factor code, a
//! registration, a reset e-mail) one key may make per window. A budget is one `rate_limits`
//! document per key (`_id`) holding the window's start and the count of reserved attempts.
//!
//! An attempt is *reserved* before any work is done (before argon2 runs, before a code is checked,
//! before an e-mail is queued) by one conditional `$inc`, so a hundred concurrent requests cannot
//! all pass a check made before any of them is counted: at most `limit` reservations succeed per
//! window, whatever the interleaving. An attempt that turns out not to be a failure gives its slot
//! back ([`IdentityService::release_attempt`]). Windows are fixed (they start with the first
//! attempt after the previous one ended); time comes from the service clock, so tests cross
//! windows without sleeping.

use std::time::Duration;

use bson::{doc, DateTime};
use foundation::clock::{add_duration, subtract_duration};
use mongodb::options::ReturnDocument;

use crate::error::IdentityError;
use crate::service::IdentityService;

/// One budget: a key and how many attempts it may reserve per window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// What is limited, e.g. `login:<email>|<address>`.
    pub key: String,
    /// Attempts per window.
    pub limit: u64,
    /// Length of a window.
    pub window: Duration,
}

/// A reserved attempt; hand it back with [`IdentityService::release_attempt`] when the attempt
/// did not count (a successful login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    key: String,
    window_start: DateTime,
}

/// The address used in keys when the transport did not give one (in-process callers).
pub(crate) fn address_or_unknown(ip: Option<&str>) -> &str {
    ip.unwrap_or("unknown")
}

/// Seconds from `now` until a window that started at `window_start` ends, at least 1 (a client
/// told to retry after 0 seconds would retry at once and be refused again).
pub fn retry_after_seconds(window_start: DateTime, window: Duration, now: DateTime) -> u64 {
    let free_at = add_duration(window_start, window).timestamp_millis();
    let remaining_millis = free_at.saturating_sub(now.timestamp_millis()).max(0);
    u64::try_from((remaining_millis + 999) / 1_000)
        .unwrap_or(u64::MAX)
        .max(1)
}

/// How many times a reservation re-reads after losing a race to create or renew the window.
const RESERVE_RETRIES: usize = 4;

impl IdentityService {
    /// Reserves one attempt of `budget`, or `RateLimited` (with the seconds until the window ends)
    /// when the window's attempts are all taken.
    pub(crate) async fn reserve_attempt(
        &self,
        budget: &Budget,
    ) -> Result<Reservation, IdentityError> {
        let limit = i64::try_from(budget.limit).unwrap_or(i64::MAX);
        for _ in 0..RESERVE_RETRIES {
            let now = self.now();
            let window_open_after = subtract_duration(now, budget.window);
            // The common case: the window is open and has room.
            let counted = self
                .rate_limits
                .find_one_and_update(
                    doc! { "_id": &budget.key, "window_start": { "$gt": window_open_after }, "count": { "$lt": limit } },
                    doc! { "$inc": { "count": 1_i64 } },
                )
                .return_document(ReturnDocument::After)
                .await?;
            if let Some(document) = counted {
                let window_start = document
                    .get_datetime("window_start")
                    .copied()
                    .unwrap_or(now);
                return Ok(Reservation {
                    key: budget.key.clone(),
                    window_start,
                });
            }
            // The window ended: start a new one with this attempt. Only one racer matches.
            let renewed = self
                .rate_limits
                .update_one(
                    doc! { "_id": &budget.key, "window_start": { "$lte": window_open_after } },
                    doc! { "$set": { "window_start": now, "count": 1_i64 } },
                )
                .await?;
            if renewed.matched_count == 1 {
                return Ok(Reservation {
                    key: budget.key.clone(),
                    window_start: now,
                });
            }
            // No window yet: create it. A duplicate key means another request just did.
            match self
                .rate_limits
                .insert_one(doc! { "_id": &budget.key, "window_start": now, "count": 1_i64 })
                .await
            {
                Ok(_) => {
                    return Ok(Reservation {
                        key: budget.key.clone(),
                        window_start: now,
                    })
                }
                Err(error) if foundation::collection::is_duplicate_key(&error) => {}
                Err(error) => return Err(error.into()),
            }
            let Some(current) = self
                .rate_limits
                .find_one(doc! { "_id": &budget.key })
                .await?
            else {
                continue;
            };
            let window_start = current.get_datetime("window_start").copied().unwrap_or(now);
            let count = current
                .get_i64("count")
                .or_else(|_| current.get_i32("count").map(i64::from))
                .unwrap_or(0);
            if window_start > window_open_after && count >= limit {
                tracing::info!(budget = %budget_kind(&budget.key), "attempt refused: budget spent");
                return Err(IdentityError::RateLimited {
                    retry_after_secs: retry_after_seconds(window_start, budget.window, now),
                });
            }
        }
        // Every retry lost a race against requests that kept the window changing; refusing is
        // the safe answer and the client may retry at once.
        Err(IdentityError::RateLimited {
            retry_after_secs: 1,
        })
    }

    /// Gives a reserved attempt back, if its window is still the current one.
    pub(crate) async fn release_attempt(
        &self,
        reservation: &Reservation,
    ) -> Result<(), IdentityError> {
        self.rate_limits
            .update_one(
                doc! { "_id": &reservation.key, "window_start": reservation.window_start, "count": { "$gt": 0_i64 } },
                doc! { "$inc": { "count": -1_i64 } },
            )
            .await?;
        Ok(())
    }

    /// Forgets the login failures of `email` from every address (the password was reset, or the
    /// account erased).
    pub(crate) async fn clear_login_budgets(&self, email: &str) -> Result<(), IdentityError> {
        let pattern = format!("^login:{}\\|", regex_escape(email));
        self.rate_limits
            .delete_many(doc! { "_id": { "$regex": pattern } })
            .await?;
        Ok(())
    }

    /// Forgets a budget entirely (a successful login forgives that account and address's
    /// failures; a password reset forgives the account's).
    pub(crate) async fn clear_budget(&self, key: &str) -> Result<(), IdentityError> {
        self.rate_limits.delete_one(doc! { "_id": key }).await?;
        Ok(())
    }
}

/// `text` with every regular-expression metacharacter escaped.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if "\\^$.|?*+()[]{}".contains(character) {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

/// The kind of a budget key (`login`, `reset-email`, ...), for logs that must not carry the
/// e-mail address or client address themselves.
fn budget_kind(key: &str) -> &str {
    key.split(':').next().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_whole_seconds_until_the_window_ends() {
        let window = Duration::from_secs(900);
        let start = DateTime::from_millis(1_000_000);
        assert_eq!(
            retry_after_seconds(start, window, DateTime::from_millis(1_000_000)),
            900
        );
        assert_eq!(
            retry_after_seconds(start, window, DateTime::from_millis(1_000_500)),
            900
        );
        assert_eq!(
            retry_after_seconds(start, window, DateTime::from_millis(1_899_000)),
            1
        );
        assert_eq!(
            retry_after_seconds(start, window, DateTime::from_millis(2_000_000)),
            1
        );
    }

    #[test]
    fn escaped_emails_match_only_themselves() {
        assert_eq!(regex_escape("a.b+c@x.io"), "a\\.b\\+c@x\\.io");
    }

    #[test]
    fn logs_name_the_kind_of_budget_never_the_address() {
        assert_eq!(budget_kind("login:a@b.co|203.0.113.7"), "login");
        assert_eq!(budget_kind("reset-email:a@b.co"), "reset-email");
    }
}
