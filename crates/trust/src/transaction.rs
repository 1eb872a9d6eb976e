//! How trust's errors take part in `foundation`'s transactions: a driver error labelled transient
//! (a write conflict with a racing reveal: reveals of many ratings of one user all touch that
//! user's totals) runs the steps again.

use foundation::transaction_retry::{is_transient_driver_error, TransactionError};

use crate::error::TrustError;

impl TransactionError for TrustError {
    fn is_transient(&self) -> bool {
        match self {
            TrustError::Database(error) => is_transient_driver_error(error),
            // A racing escrow writer or a write conflict inside escrow's step.
            TrustError::Escrow(error) => error.is_transient(),
            TrustError::Marketplace(error) => error.is_transient(),
            _ => false,
        }
    }
}
