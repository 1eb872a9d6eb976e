//! How identity's errors take part in `foundation`'s transactions (accepting an invitation
//! changes the invitation, the user and the organization together): a driver error labelled
//! transient (a write conflict with a racing membership change) runs the steps again.

use foundation::transaction_retry::{is_transient_driver_error, TransactionError};

use crate::error::IdentityError;

impl TransactionError for IdentityError {
    fn is_transient(&self) -> bool {
        matches!(self, IdentityError::Database(error) if is_transient_driver_error(error))
    }
}
