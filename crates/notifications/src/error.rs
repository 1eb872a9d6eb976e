//! The notifications domain's errors, named after what went wrong.

use foundation::ErrorCategory;
use thiserror::Error;

/// Why a notifications operation did not happen.
#[derive(Debug, Error)]
pub enum NotificationError {
    /// No notification with this id belongs to the caller (someone else's reads the same).
    #[error("notification not found")]
    NotificationNotFound,
    /// Only a signed-in user reads and changes their own notifications (never an API key).
    #[error("only the recipient may {action}")]
    NotRecipient {
        /// What was attempted.
        action: &'static str,
    },
    /// An input failed validation; `field` names it.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The input field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The recipients of an event could not be resolved (the event is retried).
    #[error("resolving recipients failed: {0}")]
    RecipientsUnavailable(String),
    /// A database operation failed.
    #[error("database error: {0}")]
    Database(#[from] mongodb::error::Error),
    /// A stored document could not be read or written.
    #[error("stored notification unreadable: {0}")]
    Corrupt(String),
}

impl NotificationError {
    /// The category the GraphQL layer maps to an `extensions.code`.
    pub fn category(&self) -> ErrorCategory {
        match self {
            NotificationError::NotificationNotFound => ErrorCategory::NotFound,
            NotificationError::NotRecipient { .. } => ErrorCategory::Forbidden,
            NotificationError::InvalidInput { .. } => ErrorCategory::BadUserInput,
            NotificationError::RecipientsUnavailable(_)
            | NotificationError::Database(_)
            | NotificationError::Corrupt(_) => ErrorCategory::Internal,
        }
    }
}

impl From<bson::de::Error> for NotificationError {
    fn from(error: bson::de::Error) -> Self {
        NotificationError::Corrupt(error.to_string())
    }
}

impl From<bson::ser::Error> for NotificationError {
    fn from(error: bson::ser::Error) -> Self {
        NotificationError::Corrupt(error.to_string())
    }
}
