//! The one mapping from failures to what a GraphQL client sees: a message and a stable
//! `extensions.code`.
//!
//! Every resolver returns [`ApiError`]; domain crates' errors convert into it (see the `From`
//! impls next to each domain's resolvers). Internal failures are logged with their detail inside
//! the request's span (which carries the request id) and reach the client only as
//! "Internal server error".

use async_graphql::ErrorExtensions;

/// The stable machine-readable codes clients switch on. Their spelling is public API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No valid credentials were presented, or they expired or were revoked.
    Unauthenticated,
    /// The caller is known but may not do this.
    Forbidden,
    /// The object does not exist, or the caller may not know it exists.
    NotFound,
    /// An argument is invalid; `extensions.field` names it.
    BadUserInput,
    /// The request conflicts with the current state (duplicate email, used token...).
    Conflict,
    /// Something must be set up first (a saved payment method before publishing); doing it and
    /// retrying succeeds.
    FailedPrecondition,
    /// Too many attempts; retry later.
    RateLimited,
    /// A service the request depends on (the AI provider, the payment provider) failed or timed
    /// out; nothing was changed, and retrying later may succeed.
    ServiceUnavailable,
    /// The server failed; the detail is in the logs under the request id.
    Internal,
    /// The document itself could not be parsed or validated against the schema.
    GraphqlValidationFailed,
}

impl ErrorCode {
    /// The code as it appears in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::FailedPrecondition => "FAILED_PRECONDITION",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
        }
    }
}

/// The message every masked internal error shows.
pub const INTERNAL_MESSAGE: &str = "Internal server error";

/// A failure as the API reports it. Each variant's doc says what the client sees.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// `UNAUTHENTICATED` with this message.
    #[error("{0}")]
    Unauthenticated(String),
    /// `FORBIDDEN` with this message.
    #[error("{0}")]
    Forbidden(String),
    /// `NOT_FOUND` with this message.
    #[error("{0}")]
    NotFound(String),
    /// `BAD_USER_INPUT` with this message and `extensions.field` set to the input field's
    /// camelCase name.
    #[error("{message}")]
    BadUserInput {
        /// The offending input field, as the client spelled it.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// `CONFLICT` with this message.
    #[error("{0}")]
    Conflict(String),
    /// `FAILED_PRECONDITION` with this message, which says what to set up first.
    #[error("{0}")]
    FailedPrecondition(String),
    /// `RATE_LIMITED` with this message and, when known, `extensions.retryAfterSeconds`.
    #[error("{message}")]
    RateLimited {
        /// What was throttled.
        message: String,
        /// Seconds until the next attempt may succeed.
        retry_after_seconds: Option<u64>,
    },
    /// `SERVICE_UNAVAILABLE` with this message.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// `INTERNAL` with the generic message; the detail is only logged.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A `BAD_USER_INPUT` error about `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadUserInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthenticated(_) => ErrorCode::Unauthenticated,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::BadUserInput { .. } => ErrorCode::BadUserInput,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::ServiceUnavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        let message = match &error {
            ApiError::Internal(detail) => {
                tracing::error!(detail = %detail, "internal error while resolving a request");
                INTERNAL_MESSAGE.to_string()
            }
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, extensions| {
            extensions.set("code", code.as_str());
            match &error {
                ApiError::BadUserInput { field, .. } => extensions.set("field", field.as_str()),
                ApiError::RateLimited {
                    retry_after_seconds: Some(seconds),
                    ..
                } => extensions.set("retryAfterSeconds", *seconds),
                _ => {}
            }
        })
    }
}

/// Spells a domain field path (`profile.avatar_url`) the way the GraphQL input names it
/// (`profile.avatarUrl`).
pub fn camel_case_field(field: &str) -> String {
    field
        .split('.')
        .map(|segment| {
            let mut out = String::with_capacity(segment.len());
            let mut upper_next = false;
            for character in segment.chars() {
                if character == '_' {
                    upper_next = true;
                } else if upper_next {
                    out.extend(character.to_uppercase());
                    upper_next = false;
                } else {
                    out.push(character);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl From<identity::IdentityError> for ApiError {
    fn from(error: identity::IdentityError) -> Self {
        if let identity::IdentityError::Database(database) = &error {
            if let Some(refused) = refused_by_validator(database) {
                return refused;
            }
        }
        let retry_after_seconds = match &error {
            identity::IdentityError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let field = error.field().unwrap_or("input");
        match ApiError::from_category(error.category(), error.to_string(), field) {
            ApiError::RateLimited { message, .. } => ApiError::RateLimited {
                message,
                retry_after_seconds,
            },
            other => other,
        }
    }
}

impl ApiError {
    /// The error of any domain by its category (`foundation::ErrorCategory`, shared by every
    /// domain crate), with `field` named when the input is at fault.
    fn from_category(category: foundation::ErrorCategory, message: String, field: &str) -> Self {
        use foundation::ErrorCategory;
        match category {
            ErrorCategory::Unauthenticated => ApiError::Unauthenticated(message),
            ErrorCategory::Forbidden => ApiError::Forbidden(message),
            ErrorCategory::NotFound => ApiError::NotFound(message),
            ErrorCategory::BadUserInput => ApiError::BadUserInput {
                field: camel_case_field(field),
                message,
            },
            ErrorCategory::Conflict => ApiError::Conflict(message),
            ErrorCategory::FailedPrecondition => ApiError::FailedPrecondition(message),
            ErrorCategory::Unavailable => ApiError::ServiceUnavailable(message),
            ErrorCategory::RateLimited => ApiError::RateLimited {
                message,
                retry_after_seconds: None,
            },
            ErrorCategory::Internal => ApiError::Internal(message),
        }
    }
}

/// A write the database's validator refused: the domain checks missed a bound. Reported as
/// bad input (the detail is logged), never as an internal error.
fn refused_by_validator(error: &mongodb::error::Error) -> Option<ApiError> {
    foundation::collection::is_validation_failure(error).then(|| {
        tracing::warn!(detail = %error, "a write was refused by a collection validator");
        ApiError::bad_input(
            "input",
            "a value is outside what the record allows (empty, too long or not one of the allowed values)",
        )
    })
}

impl From<marketplace::MarketplaceError> for ApiError {
    fn from(error: marketplace::MarketplaceError) -> Self {
        if let marketplace::MarketplaceError::Database(database) = &error {
            if let Some(refused) = refused_by_validator(database) {
                return refused;
            }
        }
        use marketplace::MarketplaceError;
        let field = match &error {
            MarketplaceError::InvalidInput { field, .. } => field,
            MarketplaceError::MissingTemplateVariable { .. } => "values",
            _ => "input",
        };
        ApiError::from_category(error.category(), error.to_string(), field)
    }
}

impl From<escrow::EscrowError> for ApiError {
    fn from(error: escrow::EscrowError) -> Self {
        // A use case's marketplace step refused: its own mapping (with the field it names).
        let error = match error {
            escrow::EscrowError::Marketplace(marketplace) => return marketplace.into(),
            error => error,
        };
        if let escrow::EscrowError::Database(database) = &error {
            if let Some(refused) = refused_by_validator(database) {
                return refused;
            }
        }
        if let escrow::EscrowError::ProviderUnavailable(detail) = &error {
            // The provider's own wording stays in the logs.
            tracing::warn!(%detail, "payment provider unavailable");
            return ApiError::ServiceUnavailable(
                "the payment provider did not answer; retry later with the same Idempotency-Key"
                    .to_string(),
            );
        }
        ApiError::from_category(error.category(), error.to_string(), "input")
    }
}

impl From<notifications::NotificationError> for ApiError {
    fn from(error: notifications::NotificationError) -> Self {
        let field = match &error {
            notifications::NotificationError::InvalidInput { field, .. } => field,
            _ => "id",
        };
        ApiError::from_category(error.category(), error.to_string(), field)
    }
}

impl From<trust::TrustError> for ApiError {
    fn from(error: trust::TrustError) -> Self {
        if let trust::TrustError::Database(database) = &error {
            if let Some(refused) = refused_by_validator(database) {
                return refused;
            }
        }
        let field = error.field().unwrap_or("input");
        ApiError::from_category(error.category(), error.to_string(), field)
    }
}

/// Result type of every resolver.
pub type ApiResult<T> = Result<T, ApiError>;

/// Gives every error of a finished response a code and the request id.
///
/// Errors raised by resolvers already carry a code; errors raised by async-graphql itself
/// (parse and validation failures, depth and complexity limits) get
/// `GRAPHQL_VALIDATION_FAILED`. Errors without a code that arise during execution are treated
/// as internal and masked.
pub fn finish_response(
    mut response: async_graphql::Response,
    request_id: &str,
) -> async_graphql::Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            // An argument that does not fit its type never gets here: validation refuses
            // literals (custom scalars check with their own `parse`), `crate::variables` coerces
            // variables, and `crate::arguments` refuses 64-bit integers given for an `Int`.
            let code = if error.path.is_empty() {
                ErrorCode::GraphqlValidationFailed
            } else {
                tracing::error!(detail = %error.message, "uncoded error while resolving a request");
                error.message = INTERNAL_MESSAGE.to_string();
                ErrorCode::Internal
            };
            extensions.set("code", code.as_str());
        }
        extensions.set("requestId", request_id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extensions_of(error: ApiError) -> (String, serde_json::Value) {
        let error: async_graphql::Error = error.into();
        let server = error.into_server_error(async_graphql::Pos::default());
        let extensions = serde_json::to_value(server.extensions).expect("extensions serialize");
        (server.message, extensions)
    }

    #[test]
    fn bad_user_input_names_the_field() {
        let (message, extensions) = extensions_of(ApiError::bad_input("email", "malformed"));
        assert_eq!(message, "malformed");
        assert_eq!(extensions["code"], "BAD_USER_INPUT");
        assert_eq!(extensions["field"], "email");
    }

    #[test]
    fn domain_field_paths_become_camel_case() {
        assert_eq!(camel_case_field("full_name"), "fullName");
        assert_eq!(camel_case_field("profile.avatar_url"), "profile.avatarUrl");
        assert_eq!(camel_case_field("email"), "email");
    }

    #[test]
    fn identity_errors_keep_their_category_and_field() {
        let error: ApiError = identity::IdentityError::WeakPassword {
            reason: "too short".into(),
        }
        .into();
        assert!(matches!(&error, ApiError::BadUserInput { field, .. } if field == "password"));
        let error: ApiError = identity::IdentityError::EmailTaken.into();
        assert_eq!(error.code(), ErrorCode::Conflict);
        let error: ApiError = identity::IdentityError::InsufficientScope.into();
        assert_eq!(error.code(), ErrorCode::Forbidden);
    }

    #[test]
    fn internal_errors_are_masked() {
        let (message, extensions) =
            extensions_of(ApiError::Internal("connection reset by 10.0.0.3".into()));
        assert_eq!(message, INTERNAL_MESSAGE);
        assert_eq!(extensions["code"], "INTERNAL");
    }

    #[test]
    fn finish_response_adds_request_id_and_codes_parse_errors() {
        let error = async_graphql::ServerError::new("Unknown field \"nope\"", None);
        let response = async_graphql::Response::from_errors(vec![error]);
        let response = finish_response(response, "req-1");
        let extensions = response.errors[0].extensions.as_ref().expect("extensions");
        assert_eq!(
            extensions.get("code"),
            Some(&async_graphql::Value::from("GRAPHQL_VALIDATION_FAILED"))
        );
        assert_eq!(
            extensions.get("requestId"),
            Some(&async_graphql::Value::from("req-1"))
        );
    }
}
