//! Multi-document transactions with MongoDB's retry rules: a transient error (a write conflict
//! with a racing reveal) runs the steps again from the first, and a commit whose outcome is
//! unknown is committed again. Reveals of many ratings of one user all touch that user's totals,
//! so a racer may lose many rounds: attempts are bounded high and spaced by a short, growing
//! pause so racers do not keep colliding in lockstep.

use std::future::Future;

use foundation::transaction_retry::{back_off, MAX_TRANSACTION_ATTEMPTS};
use mongodb::{Client, ClientSession};

use crate::error::TrustError;

const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
const UNKNOWN_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";

fn is_transient(error: &TrustError) -> bool {
    matches!(error, TrustError::Database(error) if error.contains_label(TRANSIENT_TRANSACTION_ERROR))
}

/// Runs `steps` inside a transaction and commits it, running them again on transient errors.
/// An error aborts the transaction: nothing the steps wrote is kept.
pub(crate) async fn in_transaction<T, Steps, Attempt>(
    client: &Client,
    mut steps: Steps,
) -> Result<T, TrustError>
where
    Steps: FnMut(ClientSession) -> Attempt,
    Attempt: Future<Output = (ClientSession, Result<T, TrustError>)>,
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
                Err(error) => error,
            },
            Err(error) => {
                let _ = session.abort_transaction().await;
                error
            }
        };
        if !(is_transient(&error) && attempt < MAX_TRANSACTION_ATTEMPTS) {
            return Err(error);
        }
        back_off(attempt).await;
    }
}

async fn commit(session: &mut ClientSession) -> Result<(), TrustError> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(error) if error.contains_label(UNKNOWN_COMMIT_RESULT) => {}
            Err(error) => return Err(error.into()),
        }
    }
}
