//! The identity domain of PeerTest Hub: accounts, sessions and tokens, email verification and
//! password reset, TOTP two-factor authentication, organizations and partner API keys.
//!
//! [`IdentityService`] is the only entry point and the only code that touches the collections this
//! crate owns (`users`, `organizations`, `organization_invitations`, `sessions`, `api_keys`,
//! `outbox`, `rate_limits`; see
//! [`IdentityService::collections`]). It knows nothing about GraphQL or HTTP: callers pass typed
//! inputs and an authenticated [`Principal`], and get typed values or an [`IdentityError`] back.
//! Authorization decisions are plain functions in [`authorization`]; how much of a user others
//! may read is decided in [`visibility`]; joining an organization goes through an
//! [`invitation`] the invitee accepts. A tester's Stripe Connect
//! payout account status is recorded in [`payout_account`].

pub mod access_token;
pub mod api_key;
pub mod authorization;
pub mod collections;
pub mod directory;
pub mod error;
pub mod invitation;
pub mod notification_switches;
pub mod organization;
pub mod outbox;
pub mod password;
pub mod payment_method;
pub mod payout_account;
pub mod principal;
pub mod privacy;
pub mod rate_limit;
pub mod recovery;
pub mod secret_box;
pub mod service;
pub mod session;
pub mod settings;
pub mod totp;
mod transaction;
pub mod two_factor;
pub mod user;
pub mod visibility;

pub use api_key::{ApiKey, ApiKeyScope, CreatedApiKey, API_KEY_PREFIX};
pub use directory::{DirectoryPage, OrganizationFilter, UserFilter};
pub use error::{ErrorCategory, IdentityError};
pub use invitation::{
    InvitationReference, InvitationStatus, InviteMemberInput, OrganizationInvitation,
};
pub use organization::{
    CreateOrganizationInput, Organization, OrganizationLimits, OrganizationMember,
    OrganizationPlan, OrganizationRole, OrganizationSettings, OrganizationStatus,
    OrganizationUpdate, OrganizationUsage,
};
pub use outbox::{ClaimedOutboxMessage, OutboxKind, OutboxMessage, OutboxRetry};
pub use payout_account::{PayoutAccountRecorded, PayoutAccountStatus};
pub use principal::{ApiKeyPrincipal, Principal, UserPrincipal};
pub use privacy::{ErasureBlockers, UserDataExport};
pub use service::IdentityService;
pub use session::{AuthTokens, Authentication, ClientInfo, LoginInput, SecondFactor, Session};
pub use settings::{
    AccountRequestLimits, IdentitySettings, LoginThrottleSettings, PasswordHashingSettings,
    PlanLimitsTable,
};
pub use two_factor::TwoFactorEnrollment;
pub use user::{
    Availability, ClientData, ClientDataUpdate, ExperienceLevel, MembershipTier,
    NotificationPreferences, Profile, ProfileUpdate, ProvisionUserInput, QualificationStatus,
    RegisterInput, RegistrationRole, Role, TesterData, TesterDataUpdate, User, UserStatus,
};
