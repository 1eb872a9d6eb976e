//! Why an e-mail could not be built or sent.

/// Why an e-mail could not be built or sent. Delivery failures say whether trying again can help,
/// which is what the retry policy needs.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The settings cannot make a transport (bad sender address, unusable SMTP host).
    #[error("e-mail settings are not usable: {0}")]
    InvalidSettings(String),
    /// The recipient address is not an e-mail address; no attempt can succeed.
    #[error("the recipient address is not valid: {0}")]
    InvalidRecipient(String),
    /// A notification link is not a path inside the application (`/jobs/...`).
    #[error("a notification link must be a path starting with '/', got {0:?}")]
    InvalidLink(String),
    /// The server refused the message for good (a 5xx reply: unknown mailbox, rejected content).
    #[error("the SMTP server refused the message: {0}")]
    Rejected(String),
    /// The server could not be reached or answered with a temporary failure; a later attempt may
    /// succeed.
    #[error("the SMTP server is unavailable: {0}")]
    Unavailable(String),
    /// A template or message could not be assembled (a bug, not an input problem).
    #[error("the message could not be built: {0}")]
    Build(String),
    /// Identity's outbox could not be read or updated.
    #[error(transparent)]
    Outbox(#[from] identity::IdentityError),
}

impl EmailError {
    /// Whether a later attempt of the same message may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, EmailError::Unavailable(_) | EmailError::Outbox(_))
    }
}
