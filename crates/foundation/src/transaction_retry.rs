//! How a transaction that lost a write conflict is run again: MongoDB reports the conflict at the
//! write (`WriteConflict` with the `TransientTransactionError` label) while the winner may still be
//! running, so a loser that retried at once would spend its attempts before the winner commits.

use std::time::Duration;

use rand::Rng;

/// How often a transaction runs before its write conflict is reported. With [`back_off`] this
/// outlasts a few hundred racers on one document (several seconds), the way drivers'
/// `withTransaction` retries for a bounded time.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 200;

/// Waits a little before attempt `attempt + 1`, more after each lost race (up to 32 ms), with
/// jitter so racing writers spread out instead of colliding again.
pub async fn back_off(attempt: u32) {
    let ceiling = 1_u64 << attempt.min(5);
    let millis = rand::rng().random_range(0..=ceiling);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
