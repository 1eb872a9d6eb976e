//! Injectable time: every component asks a [`Clock`] instead of the system, so tests can move time.

use std::fmt::Debug;
use std::time::Duration;

use bson::DateTime;
use parking_lot::Mutex;

/// A source of the current UTC time. Services hold an `Arc<dyn Clock>` so that expiry, throttling
/// windows and timestamps can be tested without sleeping.
pub trait Clock: Send + Sync + Debug {
    /// The current instant, in UTC with millisecond precision (what MongoDB stores).
    fn now(&self) -> DateTime;
}

/// The real clock, reading the operating system's time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime {
        DateTime::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// A clock stopped at the given milliseconds since the Unix epoch.
    pub fn at_millis(millis: i64) -> Self {
        Self::new(DateTime::from_millis(millis))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        *now = DateTime::from_millis(now.timestamp_millis().saturating_add(millis));
    }

    /// Sets the clock to `instant`.
    pub fn set(&self, instant: DateTime) {
        *self.now.lock() = instant;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime {
        *self.now.lock()
    }
}

/// `instant` moved forward by `by`, saturating instead of overflowing.
pub fn add_duration(instant: DateTime, by: Duration) -> DateTime {
    let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(instant.timestamp_millis().saturating_add(millis))
}

/// `instant` moved back by `by`, saturating instead of overflowing.
pub fn subtract_duration(instant: DateTime, by: Duration) -> DateTime {
    let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
    DateTime::from_millis(instant.timestamp_millis().saturating_sub(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::at_millis(1_000);
        assert_eq!(clock.now().timestamp_millis(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now().timestamp_millis(), 3_000);
        clock.set(DateTime::from_millis(10));
        assert_eq!(clock.now().timestamp_millis(), 10);
    }

    #[test]
    fn durations_add_and_subtract_in_milliseconds() {
        let start = DateTime::from_millis(60_000);
        assert_eq!(
            add_duration(start, Duration::from_secs(1)).timestamp_millis(),
            61_000
        );
        assert_eq!(
            subtract_duration(start, Duration::from_secs(60)).timestamp_millis(),
            0
        );
    }
}
