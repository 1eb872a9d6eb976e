//! When a failed e-mail is tried again: exponential backoff, then a final give-up.

use std::time::Duration;

/// Exponential backoff for failed deliveries: the first retry after `first_delay`, each next one
/// twice as late, capped at `max_delay`; after `max_attempts` attempts the message fails for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait after the first failed attempt.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s, 1 min, 2 min, ... capped at 1 h, ten attempts: about six hours of an SMTP outage
    /// before an e-mail is given up (a reset link has expired long before).
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(60 * 60),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// How long to wait after attempt number `attempt` (1 for the first) failed, or `None` when
    /// that was the last attempt.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts {
            return None;
        }
        let doublings = attempt - 1;
        let delay = 2_u32
            .checked_pow(doublings)
            .and_then(|factor| self.first_delay.checked_mul(factor))
            .unwrap_or(self.max_delay);
        Some(delay.min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_retry_waits_twice_as_long_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let delays: Vec<u64> = (1..10)
            .map(|attempt| policy.delay_after(attempt).expect("retried").as_secs())
            .collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn the_last_attempt_is_not_retried() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_after(10), None);
        assert_eq!(policy.delay_after(u32::MAX), None);
    }

    #[test]
    fn a_huge_attempt_count_is_capped_without_overflow() {
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            ..RetryPolicy::default()
        };
        assert_eq!(policy.delay_after(200), Some(policy.max_delay));
    }
}
