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
    /// Lifetime of a refresh token family from its last rotation (7 days).
    pub refresh_token_ttl: Duration,
    /// Lifetime of an email verification link (24 hours).
    pub email_verification_ttl: Duration,
    /// Lifetime of a password reset link (1 hour).
    pub password_reset_ttl: Duration,
    /// Failed-login throttling limits.
    pub login_throttle: LoginThrottleSettings,
    /// Issuer shown by authenticator apps next to the account (`otpauth://` URL).
    pub totp_issuer: String,
    /// AES-256-GCM key encrypting TOTP secrets at rest.
    pub totp_encryption_key: [u8; 32],
    /// Base URL of the web front end, used to build links in verification and reset emails.
    pub public_base_url: String,
    /// Argon2id cost parameters.
    pub password_hashing: PasswordHashingSettings,
    /// Limits of each organization plan.
    pub plan_limits: PlanLimitsTable,
}

/// How many failed logins are tolerated before further attempts are refused for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginThrottleSettings {
    /// Failures per account (normalized email) within the window before refusing.
    pub max_failures_per_account: u64,
    /// Failures per client address within the window before refusing.
    pub max_failures_per_address: u64,
    /// The sliding window over which failures are counted.
    pub window: Duration,
}

impl Default for LoginThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
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
            refresh_token_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            email_verification_ttl: Duration::from_secs(24 * 60 * 60),
            password_reset_ttl: Duration::from_secs(60 * 60),
            login_throttle: LoginThrottleSettings::default(),
            totp_issuer: "PeerTest Hub".to_owned(),
            totp_encryption_key,
            public_base_url: "http://localhost:8080".to_owned(),
            password_hashing: PasswordHashingSettings::default(),
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
        if self.login_throttle.window.is_zero() {
            return Err(IdentityError::InvalidSettings(
                "login throttle window must be positive".into(),
            ));
        }
        Ok(())
    }
}
