//! Multi-document transactions with MongoDB's retry rules, for the identity operations that must
//! change several documents together (accepting an invitation: the invitation, the user and the
//! organization). A transient error (a write conflict with a racing membership change) runs the
//! steps again from the first, paced by `foundation::transaction_retry`; a commit whose outcome
//! is unknown is committed again.

use std::future::Future;

use foundation::transaction_retry::{back_off, MAX_TRANSACTION_ATTEMPTS};
use mongodb::{Client, ClientSession};

use crate::error::IdentityError;

const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
const UNKNOWN_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";

fn is_transient(error: &IdentityError) -> bool {
    matches!(error, IdentityError::Database(error) if error.contains_label(TRANSIENT_TRANSACTION_ERROR))
}

/// Runs `steps` inside a transaction and commits it, running them again on transient errors.
/// An error aborts the transaction: nothing the steps wrote is kept.
pub(crate) async fn in_transaction<T, Steps, Attempt>(
    client: &Client,
    mut steps: Steps,
) -> Result<T, IdentityError>
where
    Steps: FnMut(ClientSession) -> Attempt,
    Attempt: Future<Output = (ClientSession, Result<T, IdentityError>)>,
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
                // The abort's own failure changes nothing: the transaction is not committed.
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

async fn commit(session: &mut ClientSession) -> Result<(), IdentityError> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(error) if error.contains_label(UNKNOWN_COMMIT_RESULT) => {}
            Err(error) => return Err(error.into()),
        }
    }
}
