//! How a transaction that lost a write conflict is run again: MongoDB reports the conflict at the
//! write (`WriteConflict` with the `TransientTransactionError` label) while the winner may still be
//! running, so a loser that retried at once would spend its attempts before the winner commits.
//! [`in_transaction`] is the retry loop for crates that do not have their own yet.

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

/// An error a transaction's steps can fail with, telling whether it is the driver's (whose
/// `TransientTransactionError` label means "run the transaction again").
pub trait TransactionError: From<mongodb::error::Error> {
    /// The driver's error inside, if this is one.
    fn database_error(&self) -> Option<&mongodb::error::Error>;
}

/// Runs `steps` inside a transaction on `client` and commits it, running them again (paced by
/// [`back_off`], at most [`MAX_TRANSACTION_ATTEMPTS`] times) when a write conflict made the
/// attempt transient, and committing again while the commit's outcome is unknown. `steps`
/// receives the session and hands it back with its outcome; an error aborts the transaction.
pub async fn in_transaction<T, E, Steps, Attempt>(
    client: &mongodb::Client,
    mut steps: Steps,
) -> Result<T, E>
where
    E: TransactionError,
    Steps: FnMut(mongodb::ClientSession) -> Attempt,
    Attempt: std::future::Future<Output = (mongodb::ClientSession, Result<T, E>)>,
{
    const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
    const UNKNOWN_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";
    let mut session = client.start_session().await?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        session.start_transaction().await?;
        let (returned, outcome) = steps(session).await;
        session = returned;
        let error: E = match outcome {
            Ok(value) => loop {
                match session.commit_transaction().await {
                    Ok(()) => return Ok(value),
                    Err(error) if error.contains_label(UNKNOWN_COMMIT_RESULT) => {}
                    Err(error) => break error.into(),
                }
            },
            Err(error) => {
                // The abort's own failure changes nothing: the transaction is not committed.
                let _ = session.abort_transaction().await;
                error
            }
        };
        let transient = error
            .database_error()
            .is_some_and(|error| error.contains_label(TRANSIENT_TRANSACTION_ERROR));
        if !(transient && attempt < MAX_TRANSACTION_ATTEMPTS) {
            return Err(error);
        }
        back_off(attempt).await;
    }
}
