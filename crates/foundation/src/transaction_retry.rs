//! Multi-document transactions with the retry rules MongoDB prescribes, for every domain crate:
//! a transaction that fails with a transient error (a write conflict with a racing request) runs
//! again from its first step, and a commit whose outcome is unknown is committed again.
//!
//! MongoDB reports a conflict at the write (`WriteConflict` with the `TransientTransactionError`
//! label) while the winner may still be running, so a loser that retried at once would spend its
//! attempts before the winner commits: [`back_off`] waits a little, more after each lost race.

use std::future::Future;
use std::time::Duration;

use mongodb::{Client, ClientSession};
use rand::Rng;

/// How often a transaction runs before its write conflict is reported. With [`back_off`] this
/// outlasts a few hundred racers on one document (several seconds), the way drivers'
/// `withTransaction` retries for a bounded time.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 200;

/// How often a commit whose outcome is unknown is sent again before its error is reported.
const MAX_COMMIT_ATTEMPTS: u32 = 10;

const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
const UNKNOWN_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";

/// Waits a little before attempt `attempt + 1`, more after each lost race (up to 32 ms), with
/// jitter so racing writers spread out instead of colliding again.
pub async fn back_off(attempt: u32) {
    let ceiling = 1_u64 << attempt.min(5);
    let millis = rand::rng().random_range(0..=ceiling);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// A domain error a transaction can fail with: it carries the driver's errors, and it says when
/// the whole transaction should run again.
pub trait TransactionError: From<mongodb::error::Error> {
    /// Whether running the transaction again from its first step may succeed (a write conflict,
    /// or a compare-and-set that lost to a writer that committed meanwhile).
    fn is_transient(&self) -> bool;
}

/// Whether the driver labelled `error` as worth running the whole transaction again.
pub fn is_transient_driver_error(error: &mongodb::error::Error) -> bool {
    error.contains_label(TRANSIENT_TRANSACTION_ERROR)
}

/// Runs `steps` inside a transaction on a new session of `client` and commits it, running them
/// again (after [`back_off`]) while they fail with a transient error, at most
/// [`MAX_TRANSACTION_ATTEMPTS`] times.
///
/// `steps` receives the session and hands it back with its outcome (owning the session keeps the
/// steps free to borrow anything else). An error aborts the transaction: nothing the steps wrote
/// is kept.
pub async fn in_transaction<T, E, Steps, Attempt>(client: &Client, mut steps: Steps) -> Result<T, E>
where
    E: TransactionError,
    Steps: FnMut(ClientSession) -> Attempt,
    Attempt: Future<Output = (ClientSession, Result<T, E>)>,
{
    let mut session = client.start_session().await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        session.start_transaction().await?;
        let (returned, outcome) = steps(session).await;
        session = returned;
        let error = match outcome {
            Ok(value) => match commit(&mut session).await {
                Ok(()) => return Ok(value),
                Err(error) => E::from(error),
            },
            Err(error) => {
                let _ = session.abort_transaction().await;
                error
            }
        };
        if !(error.is_transient() && attempt < MAX_TRANSACTION_ATTEMPTS) {
            return Err(error);
        }
        back_off(attempt).await;
    }
}

async fn commit(session: &mut ClientSession) -> Result<(), mongodb::error::Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match session.commit_transaction().await {
            Err(error)
                if error.contains_label(UNKNOWN_COMMIT_RESULT) && attempt < MAX_COMMIT_ATTEMPTS => {
            }
            outcome => return outcome,
        }
    }
}
