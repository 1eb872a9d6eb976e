//! How marketplace's errors take part in `foundation`'s transactions, and the service's shortcut
//! to run one: a driver error labelled transient (a write conflict between racing changes of the
//! same job) runs the steps again from the first.

use std::future::Future;

use foundation::transaction_retry::{is_transient_driver_error, TransactionError};
use mongodb::ClientSession;

use crate::error::MarketplaceError;
use crate::service::MarketplaceService;

impl TransactionError for MarketplaceError {
    fn is_transient(&self) -> bool {
        matches!(self, MarketplaceError::Database(error) if is_transient_driver_error(error))
    }
}

impl MarketplaceService {
    /// Runs `steps` in a transaction on this service's client (see
    /// [`foundation::transaction_retry::in_transaction`]).
    pub(crate) async fn in_transaction<T, Steps, Attempt>(
        &self,
        steps: Steps,
    ) -> Result<T, MarketplaceError>
    where
        Steps: FnMut(ClientSession) -> Attempt,
        Attempt: Future<Output = (ClientSession, Result<T, MarketplaceError>)>,
    {
        foundation::transaction_retry::in_transaction(&self.client, steps).await
    }
}
