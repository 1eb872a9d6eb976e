//! Multi-document transactions with the retry rules MongoDB prescribes: a transaction that fails
//! with a transient error (a write conflict with a racing request) runs again from its first step,
//! and a commit whose outcome is unknown is committed again.

use std::future::Future;

use mongodb::ClientSession;

use crate::error::MarketplaceError;
use crate::service::MarketplaceService;

const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
const UNKNOWN_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";

use foundation::transaction_retry::{back_off, MAX_TRANSACTION_ATTEMPTS};

fn is_transient(error: &MarketplaceError) -> bool {
    matches!(error, MarketplaceError::Database(error) if error.contains_label(TRANSIENT_TRANSACTION_ERROR))
}

impl MarketplaceService {
    /// Runs `steps` inside a transaction and commits it, running them again on transient errors.
    ///
    /// `steps` receives the session and hands it back with its outcome (owning the session keeps
    /// the steps free to borrow anything else). An error aborts the transaction: nothing the
    /// steps wrote is kept.
    pub(crate) async fn in_transaction<T, Steps, Attempt>(
        &self,
        mut steps: Steps,
    ) -> Result<T, MarketplaceError>
    where
        Steps: FnMut(ClientSession) -> Attempt,
        Attempt: Future<Output = (ClientSession, Result<T, MarketplaceError>)>,
    {
        let mut session = self.client.start_session().await?;
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
}

async fn commit(session: &mut ClientSession) -> Result<(), MarketplaceError> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(error) if error.contains_label(UNKNOWN_COMMIT_RESULT) => {}
            Err(error) => return Err(error.into()),
        }
    }
}
