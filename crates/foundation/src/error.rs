//! Error types of the foundation crate, one enum per concern, named after what went wrong.

use thiserror::Error;

/// An identifier supplied from outside could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The text is not 24 hexadecimal digits, so it cannot name a MongoDB ObjectId.
    #[error("`{value}` is not a valid id")]
    MalformedObjectId {
        /// The text that was supplied, kept so the caller can point at the offending input.
        value: String,
    },
}

/// Money arithmetic that would give a wrong answer is refused instead.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Two amounts in different currencies cannot be added or compared.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// Currency of the left operand.
        left: String,
        /// Currency of the right operand.
        right: String,
    },
    /// The result does not fit in 64 bits of minor units.
    #[error("money amount overflow")]
    Overflow,
    /// A currency code must be three upper-case ASCII letters (ISO 4217).
    #[error("`{code}` is not an ISO 4217 currency code")]
    InvalidCurrency {
        /// The code that was supplied.
        code: String,
    },
}

/// A pagination request that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaginationError {
    /// `first` and `last` were both given; a page is read in one direction only.
    #[error("`first` and `last` cannot be combined")]
    FirstAndLast,
    /// `after` only makes sense with forward paging and `before` with backward paging.
    #[error("`{cursor}` cannot be combined with `{count}`")]
    CursorAgainstDirection {
        /// The cursor argument name.
        cursor: &'static str,
        /// The count argument name.
        count: &'static str,
    },
    /// A page size must be between 0 and the maximum.
    #[error("`{argument}` must be between 0 and {max}, got {value}")]
    PageSizeOutOfRange {
        /// The argument name (`first` or `last`).
        argument: &'static str,
        /// The value given.
        value: i64,
        /// The largest page size served.
        max: i64,
    },
    /// The cursor was not produced by this server (or was tampered with).
    #[error("malformed cursor")]
    MalformedCursor,
}

/// Creating a collection, its validator or its indexes failed.
#[derive(Debug, Error)]
pub enum CollectionError {
    /// The database refused the operation; the driver's error says why.
    #[error("could not prepare collection `{collection}`: {source}")]
    Database {
        /// The collection being prepared.
        collection: String,
        /// The driver's error.
        #[source]
        source: mongodb::error::Error,
    },
}

/// How a domain error reaches a client, whatever the domain: every domain crate's error enum
/// has a `category()` into this one set, and the transport maps each category to one stable code
/// (the GraphQL layer to `extensions.code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// Not authenticated or the credentials are invalid (UNAUTHENTICATED).
    Unauthenticated,
    /// Authenticated but not allowed (FORBIDDEN).
    Forbidden,
    /// The thing does not exist or is not visible (NOT_FOUND).
    NotFound,
    /// The input is invalid; the domain error names the field (BAD_USER_INPUT).
    BadUserInput,
    /// The request conflicts with the current state (CONFLICT).
    Conflict,
    /// Something the caller must do first is missing; doing it and retrying succeeds
    /// (FAILED_PRECONDITION).
    FailedPrecondition,
    /// A limit per period was reached; retrying later may succeed (RATE_LIMITED).
    RateLimited,
    /// A service the operation depends on (a payment or AI provider) failed or did not answer;
    /// neither the client's fault nor a bug (SERVICE_UNAVAILABLE).
    Unavailable,
    /// A server-side failure (INTERNAL).
    Internal,
}
