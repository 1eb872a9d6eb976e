//! The identity domain's errors. Each variant names a condition a client can act on; its doc says
//! what the client is told. [`IdentityError::category`] classifies them for transports (the
//! GraphQL layer maps a category to its stable `extensions.code`).

use thiserror::Error;

/// Everything an identity operation can fail with.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The email address is not a syntactically valid address. Client sees: bad input on `email`.
    #[error("`{email}` is not a valid email address")]
    InvalidEmail {
        /// The address as given.
        email: String,
    },
    /// The password does not meet the policy; `reason` says which rule failed.
    #[error("password too weak: {reason}")]
    WeakPassword {
        /// The failed rule in words a user understands.
        reason: String,
    },
    /// Another account already uses this (normalized) email address.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Email or password wrong; deliberately does not say which.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// A sensitive change re-checked the account's password and it was wrong; `field` names the
    /// input that held it. Client sees: bad input on that field (the session stays valid).
    #[error("{field} is not the account's password")]
    PasswordMismatch {
        /// The input field holding the password (snake_case domain name).
        field: &'static str,
    },
    /// The account is suspended: no login, and existing tokens stop working.
    #[error("account suspended")]
    AccountSuspended,
    /// The account has two-factor authentication and the login gave no code; ask for one.
    #[error("two-factor code required")]
    TwoFactorRequired,
    /// The TOTP or recovery code is wrong, expired or already used.
    #[error("invalid two-factor code")]
    InvalidTwoFactorCode,
    /// Two-factor authentication is already on; disable it before enrolling again.
    #[error("two-factor authentication is already enabled")]
    TwoFactorAlreadyEnabled,
    /// Two-factor authentication is not on (or enrolment was never started).
    #[error("two-factor authentication is not enabled")]
    TwoFactorNotEnabled,
    /// Too many failed logins for this account or client address; retry after the given seconds.
    #[error("too many attempts; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the oldest counted failure leaves the window.
        retry_after_secs: u64,
    },
    /// The refresh token is unknown, expired or its session was revoked.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// An already-rotated refresh token was presented: the token was probably stolen, so its
    /// whole family (session) has been revoked and the user must log in again.
    #[error("refresh token reused; session revoked")]
    RefreshTokenReused,
    /// The access token is malformed, badly signed or expired.
    #[error("invalid or expired access token")]
    InvalidAccessToken,
    /// The session behind the token was revoked (logout, password reset, suspension).
    #[error("session revoked")]
    SessionRevoked,
    /// The email verification link is unknown, expired or already used.
    #[error("invalid or expired email verification token")]
    InvalidEmailVerificationToken,
    /// The password reset link is unknown, expired or already used.
    #[error("invalid or expired password reset token")]
    InvalidPasswordResetToken,
    /// The API key is unknown or revoked.
    #[error("invalid API key")]
    InvalidApiKey,
    /// An API key tried something its scope does not allow (a read-only key mutating).
    #[error("API key scope does not allow this operation")]
    InsufficientScope,
    /// The caller is authenticated but may not do this; `action` names what was refused.
    #[error("not allowed to {action}")]
    Forbidden {
        /// The refused action, e.g. "manage organization members".
        action: &'static str,
    },
    /// No user with that id.
    #[error("user not found")]
    UserNotFound,
    /// No session with that id for this user.
    #[error("session not found")]
    SessionNotFound,
    /// No organization with that id.
    #[error("organization not found")]
    OrganizationNotFound,
    /// No API key with that id.
    #[error("API key not found")]
    ApiKeyNotFound,
    /// Another organization already uses this slug.
    #[error("organization slug already taken")]
    SlugTaken,
    /// The organization has as many members as its plan allows.
    #[error("organization member limit of {max_members} reached")]
    MemberLimitReached {
        /// The plan's member limit.
        max_members: i64,
    },
    /// The user already belongs to an organization (a user belongs to at most one).
    #[error("user already belongs to an organization")]
    AlreadyInOrganization,
    /// The user is not a member of this organization.
    #[error("user is not a member of this organization")]
    NotAMember,
    /// No invitation with that token or id is addressed to the caller (or it does not exist):
    /// one answer for both, so a token in the wrong hands reveals nothing.
    #[error("invitation not found")]
    InvitationNotFound,
    /// The invitation's seven days are over; ask for a new one.
    #[error("the invitation has expired; ask for a new one")]
    InvitationExpired,
    /// An owner or admin withdrew the invitation.
    #[error("the invitation was revoked")]
    InvitationRevoked,
    /// The invitation was already accepted or declined; it works once.
    #[error("the invitation was already answered")]
    InvitationAlreadyAnswered,
    /// The change would leave the organization without an owner.
    #[error("an organization must keep at least one owner")]
    LastOwner,
    /// The account cannot be erased while something in another domain still runs on it; each
    /// entry says what, and what to do first. Client sees: FAILED_PRECONDITION listing them.
    #[error("the account cannot be erased yet: {}", blockers.join("; "))]
    ErasureBlocked {
        /// What blocks the erasure, in words.
        blockers: Vec<String>,
    },
    /// The document changed since the caller read it (optimistic `version` check failed).
    #[error("the record was modified concurrently; reload and retry")]
    VersionConflict,
    /// A field failed validation; `field` names it for the client.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending input field (snake_case domain name).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The service was configured with unusable settings (a programming or deployment error).
    #[error("invalid identity settings: {0}")]
    InvalidSettings(String),
    /// A stored value could not be decoded or a cryptographic primitive failed. Internal.
    #[error("internal identity error: {0}")]
    Internal(String),
    /// The database failed. Internal: logged with detail, shown to clients as a generic message.
    #[error("database error: {0}")]
    Database(#[from] mongodb::error::Error),
    /// Creating collections or indexes failed at start-up. Internal.
    #[error(transparent)]
    Collection(#[from] foundation::CollectionError),
}

/// The categories every domain shares (defined once in `foundation`).
pub use foundation::ErrorCategory;

impl IdentityError {
    /// The category that decides the client-visible error code.
    pub fn category(&self) -> ErrorCategory {
        use IdentityError::*;
        match self {
            InvalidEmail { .. }
            | WeakPassword { .. }
            | InvalidInput { .. }
            | PasswordMismatch { .. }
            | InvalidTwoFactorCode
            | InvalidEmailVerificationToken
            | InvalidPasswordResetToken => ErrorCategory::BadUserInput,
            InvalidCredentials | TwoFactorRequired | InvalidRefreshToken | RefreshTokenReused
            | InvalidAccessToken | SessionRevoked | InvalidApiKey => ErrorCategory::Unauthenticated,
            AccountSuspended | InsufficientScope | Forbidden { .. } => ErrorCategory::Forbidden,
            UserNotFound | SessionNotFound | OrganizationNotFound | ApiKeyNotFound | NotAMember
            | InvitationNotFound => ErrorCategory::NotFound,
            EmailTaken
            | SlugTaken
            | MemberLimitReached { .. }
            | AlreadyInOrganization
            | LastOwner
            | InvitationExpired
            | InvitationRevoked
            | InvitationAlreadyAnswered
            | VersionConflict
            | TwoFactorAlreadyEnabled
            | TwoFactorNotEnabled => ErrorCategory::Conflict,
            ErasureBlocked { .. } => ErrorCategory::FailedPrecondition,
            RateLimited { .. } => ErrorCategory::RateLimited,
            InvalidSettings(_) | Internal(_) | Database(_) | Collection(_) => {
                ErrorCategory::Internal
            }
        }
    }

    /// The input field a bad-input error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            IdentityError::InvalidEmail { .. } => Some("email"),
            IdentityError::WeakPassword { .. } => Some("password"),
            IdentityError::InvalidInput { field, .. }
            | IdentityError::PasswordMismatch { field } => Some(field),
            IdentityError::InvalidTwoFactorCode => Some("code"),
            IdentityError::InvalidEmailVerificationToken
            | IdentityError::InvalidPasswordResetToken => Some("token"),
            _ => None,
        }
    }

    /// A short stable name of the variant (`EMAIL_TAKEN`), useful as a finer-grained code.
    pub fn reason(&self) -> &'static str {
        use IdentityError::*;
        match self {
            InvalidEmail { .. } => "INVALID_EMAIL",
            WeakPassword { .. } => "WEAK_PASSWORD",
            EmailTaken => "EMAIL_TAKEN",
            InvalidCredentials => "INVALID_CREDENTIALS",
            PasswordMismatch { .. } => "PASSWORD_MISMATCH",
            AccountSuspended => "ACCOUNT_SUSPENDED",
            TwoFactorRequired => "TWO_FACTOR_REQUIRED",
            InvalidTwoFactorCode => "INVALID_TWO_FACTOR_CODE",
            TwoFactorAlreadyEnabled => "TWO_FACTOR_ALREADY_ENABLED",
            TwoFactorNotEnabled => "TWO_FACTOR_NOT_ENABLED",
            RateLimited { .. } => "RATE_LIMITED",
            InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            InvalidAccessToken => "INVALID_ACCESS_TOKEN",
            SessionRevoked => "SESSION_REVOKED",
            InvalidEmailVerificationToken => "INVALID_EMAIL_VERIFICATION_TOKEN",
            InvalidPasswordResetToken => "INVALID_PASSWORD_RESET_TOKEN",
            InvalidApiKey => "INVALID_API_KEY",
            InsufficientScope => "INSUFFICIENT_SCOPE",
            Forbidden { .. } => "FORBIDDEN",
            UserNotFound => "USER_NOT_FOUND",
            SessionNotFound => "SESSION_NOT_FOUND",
            OrganizationNotFound => "ORGANIZATION_NOT_FOUND",
            ApiKeyNotFound => "API_KEY_NOT_FOUND",
            SlugTaken => "SLUG_TAKEN",
            MemberLimitReached { .. } => "MEMBER_LIMIT_REACHED",
            AlreadyInOrganization => "ALREADY_IN_ORGANIZATION",
            NotAMember => "NOT_A_MEMBER",
            LastOwner => "LAST_OWNER",
            InvitationNotFound => "INVITATION_NOT_FOUND",
            InvitationExpired => "INVITATION_EXPIRED",
            InvitationRevoked => "INVITATION_REVOKED",
            InvitationAlreadyAnswered => "INVITATION_ALREADY_ANSWERED",
            VersionConflict => "VERSION_CONFLICT",
            ErasureBlocked { .. } => "ERASURE_BLOCKED",
            InvalidInput { .. } => "INVALID_INPUT",
            InvalidSettings(_) | Internal(_) | Database(_) | Collection(_) => "INTERNAL",
        }
    }
}

impl From<bson::de::Error> for IdentityError {
    fn from(error: bson::de::Error) -> Self {
        IdentityError::Internal(format!("stored document could not be decoded: {error}"))
    }
}

impl From<bson::ser::Error> for IdentityError {
    fn from(error: bson::ser::Error) -> Self {
        IdentityError::Internal(format!("document could not be encoded: {error}"))
    }
}
