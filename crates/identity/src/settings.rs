//! Typed settings of the identity service. The gateway builds them from its configuration; this
//! crate never reads the environment.

use std::time::Duration;

use crate::error::IdentityError;
use crate::organization::{OrganizationLimits, OrganizationPlan};

/// Everything the identity service needs to be configured with.
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// HMAC secret signing access tokens (HS256); at least 32 bytes.
    pub jwt_secret: String,
    /// `iss` claim written into and required from access tokens.
    pub jwt_issuer: String,
    /// Lifetime of an access token (15 minutes).
    pub access_token_ttl: Duration,
    /// `aud` claim written into and required from access tokens: a token minted for this API
    /// is refused by any other service sharing the secret, and theirs here.
    pub jwt_audience: String,
    /// Lifetime of a refresh token from its last rotation (7 days).
    pub refresh_token_ttl: Duration,
    /// Absolute lifetime of a session from its login (30 days): rotation never extends it past
    /// this, so a stolen refresh token cannot be kept alive forever.
    pub session_max_lifetime: Duration,
    /// Lifetime of an email verification link (24 hours).
    pub email_verification_ttl: Duration,
    /// Lifetime of a password reset link (1 hour).
    pub password_reset_ttl: Duration,
    /// Failed-login and second-factor throttling limits.
    pub login_throttle: LoginThrottleSettings,
    /// Limits of the anonymous account requests (registration, password reset).
    pub account_requests: AccountRequestLimits,
    /// Issuer shown by authenticator apps next to the account (`otpauth://` URL).
    pub totp_issuer: String,
    /// AES-256-GCM key encrypting TOTP secrets at rest.
    pub totp_encryption_key: [u8; 32],
    /// Base URL of the web front end, used to build links in verification and reset emails.
    pub public_base_url: String,
    /// Argon2id cost parameters.
    pub password_hashing: PasswordHashingSettings,
    /// Most argon2 computations running at once; each holds `memory_kib` of memory, so this caps
    /// the memory password hashing can take.
    pub max_concurrent_password_hashes: usize,
    /// How long a request waits for a hashing slot before it is refused with `RateLimited`.
    pub password_hash_wait: Duration,
    /// Limits of each organization plan.
    pub plan_limits: PlanLimitsTable,
}

/// How many failed guesses are evaluated before further attempts are refused for the window.
/// Every attempt is reserved before it is evaluated (`rate_limit`), so these are hard limits
/// even under concurrency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottleSettings {
    /// Failed logins per (account, client address) pair: an attacker elsewhere spends their own
    /// pair's budget and cannot lock the owner out.
    pub max_failures_per_account_and_address: u64,
    /// Failed logins per client address, across all accounts.
    pub max_failures_per_address: u64,
    /// Wrong second-factor codes per account, counted on every path (login, confirming,
    /// disabling).
    pub max_second_factor_failures: u64,
    /// The window over which failures are counted.
    pub window: Duration,
}

impl Default for LoginThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures_per_account_and_address: 5,
            max_failures_per_address: 20,
            max_second_factor_failures: 5,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Limits of `register` and `requestPasswordReset`, per client address and per target address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRequestLimits {
    /// Registrations per client address.
    pub registrations_per_address: u64,
    /// Registration attempts per e-mail address registered.
    pub registrations_per_email: u64,
    /// Reset requests per client address.
    pub password_resets_per_address: u64,
    /// Reset e-mails per target e-mail address.
    pub password_resets_per_email: u64,
    /// The window over which they are counted.
    pub window: Duration,
}

impl Default for AccountRequestLimits {
    fn default() -> Self {
        Self {
            registrations_per_address: 10,
            registrations_per_email: 3,
            password_resets_per_address: 10,
            password_resets_per_email: 3,
            window: Duration::from_secs(60 * 60),
        }
    }
}

/// Argon2id cost parameters; the defaults are OWASP's recommended minimum (19 MiB, 2 passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashingSettings {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub parallelism: u32,
}

impl Default for PasswordHashingSettings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The limits that come with each organization plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimitsTable {
    /// Limits of the `team` plan.
    pub team: OrganizationLimits,
    /// Limits of the `enterprise` plan.
    pub enterprise: OrganizationLimits,
}

impl PlanLimitsTable {
    /// The limits of `plan`.
    pub fn limits_for(&self, plan: OrganizationPlan) -> OrganizationLimits {
        match plan {
            OrganizationPlan::Team => self.team,
            OrganizationPlan::Enterprise => self.enterprise,
        }
    }
}

impl Default for PlanLimitsTable {
    fn default() -> Self {
        Self {
            team: OrganizationLimits {
                max_members: 20,
                max_concurrent_jobs: 10,
                max_projects: 50,
            },
            enterprise: OrganizationLimits {
                max_members: 500,
                max_concurrent_jobs: 200,
                max_projects: 1_000,
            },
        }
    }
}

impl IdentitySettings {
    /// Settings with the given secrets and the documented defaults for everything else.
    pub fn new(jwt_secret: impl Into<String>, totp_encryption_key: [u8; 32]) -> Self {
        Self {
            jwt_secret: jwt_secret.into(),
            jwt_issuer: "peertest-hub".to_owned(),
            access_token_ttl: Duration::from_secs(15 * 60),
            jwt_audience: "peertest-hub/graphql".to_owned(),
            refresh_token_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            session_max_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            email_verification_ttl: Duration::from_secs(24 * 60 * 60),
            password_reset_ttl: Duration::from_secs(60 * 60),
            login_throttle: LoginThrottleSettings::default(),
            account_requests: AccountRequestLimits::default(),
            totp_issuer: "PeerTest Hub".to_owned(),
            totp_encryption_key,
            public_base_url: "http://localhost:8080".to_owned(),
            password_hashing: PasswordHashingSettings::default(),
            max_concurrent_password_hashes: 4,
            password_hash_wait: Duration::from_secs(2),
            plan_limits: PlanLimitsTable::default(),
        }
    }

    /// Refuses settings the service cannot run safely with.
    pub fn validate(&self) -> Result<(), IdentityError> {
        if self.jwt_secret.len() < 32 {
            return Err(IdentityError::InvalidSettings(
                "jwt_secret must be at least 32 bytes".into(),
            ));
        }
        if self.access_token_ttl.is_zero() || self.refresh_token_ttl.is_zero() {
            return Err(IdentityError::InvalidSettings(
                "token lifetimes must be positive".into(),
            ));
        }
        if self.session_max_lifetime.is_zero() {
            return Err(IdentityError::InvalidSettings(
                "the session lifetime must be positive".into(),
            ));
        }
        if self.login_throttle.window.is_zero() || self.account_requests.window.is_zero() {
            return Err(IdentityError::InvalidSettings(
                "throttle windows must be positive".into(),
            ));
        }
        if self.max_concurrent_password_hashes == 0 {
            return Err(IdentityError::InvalidSettings(
                "at least one password hash must be allowed at a time".into(),
            ));
        }
        Ok(())
    }
}
