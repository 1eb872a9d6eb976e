//! Users (seed section 1): the stored shape, registration, profile updates, batch loading and the
//! admin-only suspend/reactivate operations.
//!
//! Registration decision: a self-registered account starts as `pending_verification` with
//! `email_verified: false`. It may log in (so it can resend its verification email and fill in its
//! profile); verifying the email moves it to `active`. Other domains gate money-moving actions on
//! `status == active`. Accounts created by [`IdentityService::provision_user`] (seeding, admins) start
//! `active` and verified.
//!
//! Money fields of `tester_data` keep the seed's stored names (`hourly_rate_usd`,
//! `total_earned_usd`) but hold integer US cents, per the workspace rule that money is never a
//! float; their Rust names say so (`hourly_rate_cents`, `total_earned_cents`).

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::authorization;
use crate::error::IdentityError;
use crate::organization::OrganizationRole;
use crate::outbox::OutboxKind;
use crate::password;
use crate::principal::Principal;
use crate::rate_limit::{address_or_unknown, Budget};
use crate::service::IdentityService;
use crate::session::ClientInfo;

/// A platform role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Posts jobs and pays for them.
    Client,
    /// Claims jobs and gets paid.
    Tester,
    /// Operates the platform.
    Admin,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Tester => "tester",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "client" => Some(Role::Client),
            "tester" => Some(Role::Tester),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// The roles a person may choose when registering themselves (never admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationRole {
    /// Register as a client.
    Client,
    /// Register as a tester.
    Tester,
}

impl From<RegistrationRole> for Role {
    fn from(value: RegistrationRole) -> Self {
        match value {
            RegistrationRole::Client => Role::Client,
            RegistrationRole::Tester => Role::Tester,
        }
    }
}

/// Account status; the seed's three values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Verified and in good standing.
    Active,
    /// Blocked by an admin: cannot log in, tokens rejected.
    Suspended,
    /// Registered, email not verified yet.
    PendingVerification,
}

impl UserStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
            UserStatus::PendingVerification => "pending_verification",
        }
    }
}

/// Public profile information.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Short biography.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// Avatar image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// IANA time zone, e.g. `Europe/London`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Preferred language tag, e.g. `en`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// ISO country code, e.g. `GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Client-specific data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientData {
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Company website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_website: Option<String>,
    /// Industry, e.g. `SaaS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// One of `1-10`, `11-50`, `51-200`, `201+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_size: Option<String>,
    /// `starter`, `pro` or `team`; changed by billing, not by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_tier: Option<MembershipTier>,
    /// Payment provider customer id; recorded once, the first time the client pays
    /// (`IdentityService::attach_stripe_customer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
    /// The payment method saved on that customer that job budgets are charged to; recorded only
    /// after the provider confirmed it was set up for that customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_payment_method_id: Option<String>,
}

/// A client's plan outside any organization (seed `client_data.membership_tier`), and what it
/// allows: an organization's limits come from the organization instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipTier {
    /// The free plan every new client starts on (`starter`).
    Starter,
    /// `pro`.
    Pro,
    /// `team`.
    Team,
    /// A stored value this version does not know; allowed what `starter` is.
    #[serde(other)]
    Other,
}

impl MembershipTier {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipTier::Starter => "starter",
            MembershipTier::Pro => "pro",
            MembershipTier::Team => "team",
            MembershipTier::Other => "other",
        }
    }

    /// How many projects, and how many jobs running at once, a client on this plan may have.
    pub fn limits(self) -> (u32, u32) {
        match self {
            MembershipTier::Starter | MembershipTier::Other => (3, 2),
            MembershipTier::Pro => (20, 10),
            MembershipTier::Team => (50, 25),
        }
    }

    /// Whether the plan includes premium AI test templates.
    pub fn premium_templates(self) -> bool {
        matches!(self, MembershipTier::Pro | MembershipTier::Team)
    }
}

/// How experienced a tester says they are (seed spelling in MongoDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperienceLevel {
    /// New to testing (`beginner`).
    Beginner,
    /// Some track record (`intermediate`).
    Intermediate,
    /// Proven track record (`expert`).
    Expert,
    /// A stored value this version does not know; never accepted as input. Kept so that one
    /// odd document reads as a value instead of failing the whole user.
    #[serde(other)]
    Other,
}

impl ExperienceLevel {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperienceLevel::Beginner => "beginner",
            ExperienceLevel::Intermediate => "intermediate",
            ExperienceLevel::Expert => "expert",
            ExperienceLevel::Other => "other",
        }
    }
}

/// When a tester can work (seed spelling in MongoDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Availability {
    /// `full-time`.
    FullTime,
    /// `part-time`.
    PartTime,
    /// `weekends`.
    Weekends,
    /// A stored value this version does not know; never accepted as input.
    #[serde(other)]
    Other,
}

impl Availability {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::FullTime => "full-time",
            Availability::PartTime => "part-time",
            Availability::Weekends => "weekends",
            Availability::Other => "other",
        }
    }
}

/// Where a tester's qualification stands (seed spelling in MongoDB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualificationStatus {
    /// Not yet assessed (`pending`).
    Pending,
    /// May claim jobs (`qualified`).
    Qualified,
    /// Failed the assessment (`rejected`).
    Rejected,
    /// A stored value this version does not know; never accepted as input and never qualifies.
    #[serde(other)]
    Other,
}

impl QualificationStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            QualificationStatus::Pending => "pending",
            QualificationStatus::Qualified => "qualified",
            QualificationStatus::Rejected => "rejected",
            QualificationStatus::Other => "other",
        }
    }
}

/// Reads a user's `organization_role`; a spelling this version does not know is no role (it
/// must never grant more than membership), so an odd document still reads.
fn known_organization_role<'de, D>(deserializer: D) -> Result<Option<OrganizationRole>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let stored = Option::<String>::deserialize(deserializer)?;
    Ok(match stored.as_deref() {
        Some("owner") => Some(OrganizationRole::Owner),
        Some("admin") => Some(OrganizationRole::Admin),
        Some("member") => Some(OrganizationRole::Member),
        _ => None,
    })
}

/// Tester-specific data. Totals and qualification are maintained by other domains.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TesterData {
    /// e.g. `web`, `mobile`, `api`, `accessibility`.
    #[serde(default)]
    pub specializations: Vec<String>,
    /// Experience level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experience_level: Option<ExperienceLevel>,
    /// Devices the tester owns.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Browsers the tester uses.
    #[serde(default)]
    pub browsers: Vec<String>,
    /// Hourly rate in US cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "hourly_rate_usd")]
    pub hourly_rate_cents: Option<i64>,
    /// Availability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<Availability>,
    /// Qualification outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_status: Option<QualificationStatus>,
    /// 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_score: Option<f64>,
    /// When a qualification from a test ends (trust writes it; none: an admin's does not end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_expires_at: Option<DateTime>,
    /// The admin who last set the qualification by hand (`setTesterQualification`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_set_by: Option<ObjectId>,
    /// When they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualification_set_at: Option<DateTime>,
    /// Payout account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_connect_id: Option<String>,
    /// `pending`, `verified` or `restricted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_connect_status: Option<String>,
    /// Lifetime earnings in US cents.
    #[serde(default)]
    #[serde(rename = "total_earned_usd")]
    pub total_earned_cents: i64,
    /// Completed jobs.
    #[serde(default)]
    pub total_jobs_completed: i64,
    /// 0 to 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_rating: Option<f64>,
    /// 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
}

/// Which emails and in-app notifications the user wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPreferences {
    /// New job posted that matches the tester.
    pub email_new_job: bool,
    /// Assigned to a job.
    pub email_job_assigned: bool,
    /// A submission arrived (clients).
    pub email_submission_received: bool,
    /// A payment arrived.
    pub email_payment_received: bool,
    /// A rating was received.
    pub email_rating_received: bool,
    /// In-app notifications at all.
    pub in_app_notifications: bool,
}

impl Default for NotificationPreferences {
    fn default() -> Self {
        Self {
            email_new_job: true,
            email_job_assigned: true,
            email_submission_received: true,
            email_payment_received: true,
            email_rating_received: true,
            in_app_notifications: true,
        }
    }
}

/// A user as other code sees it: everything except secrets (password hash, tokens, TOTP secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Normalized (trimmed, lower-case) email; unique.
    pub email: String,
    /// Display name.
    pub full_name: String,
    /// Platform role.
    pub role: Role,
    /// Account status.
    pub status: UserStatus,
    /// Public profile.
    #[serde(default)]
    pub profile: Profile,
    /// Present for clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_data: Option<ClientData>,
    /// Present for testers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tester_data: Option<TesterData>,
    /// The organization the user belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<ObjectId>,
    /// The role within that organization. A stored spelling this version does not know reads
    /// as no role, which grants nothing.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "known_organization_role"
    )]
    pub organization_role: Option<OrganizationRole>,
    /// Whether the email address was confirmed.
    #[serde(default)]
    pub email_verified: bool,
    /// Whether logins require a TOTP or recovery code.
    #[serde(default)]
    pub two_factor_enabled: bool,
    /// Notification choices.
    #[serde(default)]
    pub notification_preferences: NotificationPreferences,
    /// Creation time.
    pub created_at: DateTime,
    /// Last modification time.
    pub updated_at: DateTime,
    /// Last successful login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<DateTime>,
    /// Number of successful logins.
    #[serde(default)]
    pub login_count: i64,
    /// Optimistic concurrency version, incremented by every update.
    #[serde(default)]
    pub version: i64,
    /// Set when the account was erased (soft delete): personal data removed, login impossible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime>,
}

/// Self-registration input.
#[derive(Debug, Clone)]
pub struct RegisterInput {
    /// Email; normalized by trimming and lower-casing.
    pub email: String,
    /// Plain password, checked against the policy and hashed with argon2id.
    pub password: String,
    /// Display name (1 to 200 characters).
    pub full_name: String,
    /// Client or tester.
    pub role: RegistrationRole,
    /// Optional initial profile.
    pub profile: Option<Profile>,
    /// Optional client fields (only for clients).
    pub client_data: Option<ClientDataUpdate>,
    /// Optional tester fields (only for testers).
    pub tester_data: Option<TesterDataUpdate>,
}

/// Trusted account creation (demo data, admin bootstrap): any role, active and verified, no email.
#[derive(Debug, Clone)]
pub struct ProvisionUserInput {
    /// Email; normalized.
    pub email: String,
    /// Plain password (policy enforced).
    pub password: String,
    /// Display name.
    pub full_name: String,
    /// Any role, including admin.
    pub role: Role,
    /// Optional initial profile.
    pub profile: Option<Profile>,
    /// Optional client fields.
    pub client_data: Option<ClientDataUpdate>,
    /// Optional tester fields.
    pub tester_data: Option<TesterDataUpdate>,
}

/// The client fields a client may edit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientDataUpdate {
    /// New company name.
    pub company_name: Option<String>,
    /// New company website.
    pub company_website: Option<String>,
    /// New industry.
    pub industry: Option<String>,
    /// New team size (`1-10`, `11-50`, `51-200`, `201+`).
    pub team_size: Option<String>,
}

/// The tester fields a tester may edit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TesterDataUpdate {
    /// New specializations (replaces the list).
    pub specializations: Option<Vec<String>>,
    /// New experience level (`Other` is refused).
    pub experience_level: Option<ExperienceLevel>,
    /// New device list.
    pub devices: Option<Vec<String>>,
    /// New browser list.
    pub browsers: Option<Vec<String>>,
    /// New hourly rate in US cents (0 to 100 000 00).
    pub hourly_rate_cents: Option<i64>,
    /// New availability (`Other` is refused).
    pub availability: Option<Availability>,
}

/// A profile update; fields left `None` are unchanged. Role, status and totals are not editable.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    /// When given, the update only applies if the stored `version` still equals it.
    pub expected_version: Option<i64>,
    /// New display name.
    pub full_name: Option<String>,
    /// Profile fields to set (each `Some` field is written).
    pub profile: Option<Profile>,
    /// Client fields to set (clients only).
    pub client_data: Option<ClientDataUpdate>,
    /// Tester fields to set (testers only).
    pub tester_data: Option<TesterDataUpdate>,
    /// Replacement notification preferences.
    pub notification_preferences: Option<NotificationPreferences>,
}

const TEAM_SIZES: [&str; 4] = ["1-10", "11-50", "51-200", "201+"];
const MAX_TEXT_LENGTH: usize = 2_000;
const MAX_LIST_LENGTH: usize = 50;

/// Trims and lower-cases an email, then checks it against the seed validator's pattern
/// `^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`, so the database validator never rejects it.
pub fn normalize_email(email: &str) -> Result<String, IdentityError> {
    let normalized = email.trim().to_lowercase();
    let invalid = || IdentityError::InvalidEmail {
        email: email.to_owned(),
    };
    if normalized.len() > 254 {
        return Err(invalid());
    }
    let (local, domain) = normalized.split_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._%+-".contains(&byte));
    let (host, top_level) = domain.rsplit_once('.').ok_or_else(invalid)?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-".contains(&byte));
    let top_level_ok =
        top_level.len() >= 2 && top_level.bytes().all(|byte| byte.is_ascii_alphabetic());
    if local_ok && host_ok && top_level_ok {
        Ok(normalized)
    } else {
        Err(invalid())
    }
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), IdentityError> {
    if value.chars().count() > max {
        return Err(IdentityError::InvalidInput {
            field,
            reason: format!("at most {max} characters"),
        });
    }
    Ok(())
}

fn check_choice(field: &'static str, value: &str, choices: &[&str]) -> Result<(), IdentityError> {
    if choices.contains(&value) {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput {
            field,
            reason: format!("must be one of {}", choices.join(", ")),
        })
    }
}

/// Refuses the `Other` variant of a closed set as input (`is_other`): it only reports stored
/// values this version does not know.
fn check_known(field: &'static str, is_other: bool) -> Result<(), IdentityError> {
    if is_other {
        return Err(IdentityError::InvalidInput {
            field,
            reason: "OTHER only reports stored values this version does not know".into(),
        });
    }
    Ok(())
}

fn check_list(field: &'static str, values: &[String]) -> Result<(), IdentityError> {
    if values.len() > MAX_LIST_LENGTH {
        return Err(IdentityError::InvalidInput {
            field,
            reason: format!("at most {MAX_LIST_LENGTH} entries"),
        });
    }
    values.iter().try_for_each(|value| {
        if value.trim().is_empty() {
            return Err(IdentityError::InvalidInput {
                field,
                reason: "entries must not be blank".into(),
            });
        }
        check_text(field, value, 200)
    })
}

/// A link shown to other people: empty (clears it) or a link with one of `schemes`, a host and
/// no spaces or control characters, so `javascript:` and the like never reach a browser.
fn check_link(field: &'static str, value: &str, schemes: &[&str]) -> Result<(), IdentityError> {
    if value.is_empty() {
        return Ok(());
    }
    let rest = schemes.iter().find_map(|scheme| value.strip_prefix(scheme));
    let host = rest.and_then(|rest| rest.split(['/', '?', '#']).next());
    if host.is_none_or(str::is_empty) || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(IdentityError::InvalidInput {
            field,
            reason: format!("must be a {} link with a host", schemes.join(" or ")),
        });
    }
    Ok(())
}

fn check_full_name(full_name: &str) -> Result<String, IdentityError> {
    let trimmed = full_name.trim();
    if trimmed.is_empty() {
        return Err(IdentityError::InvalidInput {
            field: "full_name",
            reason: "must not be empty".into(),
        });
    }
    check_text("full_name", trimmed, 200)?;
    Ok(trimmed.to_owned())
}

fn check_profile(profile: &Profile) -> Result<(), IdentityError> {
    let fields = [
        ("profile.bio", &profile.bio, MAX_TEXT_LENGTH),
        ("profile.avatar_url", &profile.avatar_url, 2_000),
        ("profile.timezone", &profile.timezone, 64),
        (
            "profile.preferred_language",
            &profile.preferred_language,
            35,
        ),
        ("profile.country", &profile.country, 2),
    ];
    fields
        .into_iter()
        .try_for_each(|(field, value, max)| match value {
            Some(value) => check_text(field, value, max),
            None => Ok(()),
        })?;
    match &profile.avatar_url {
        Some(url) => check_link("profile.avatar_url", url, &["https://"]),
        None => Ok(()),
    }
}

fn check_client_data(update: &ClientDataUpdate) -> Result<(), IdentityError> {
    for (field, value) in [
        ("client_data.company_name", &update.company_name),
        ("client_data.company_website", &update.company_website),
        ("client_data.industry", &update.industry),
    ] {
        if let Some(value) = value {
            check_text(field, value, 200)?;
        }
    }
    if let Some(website) = &update.company_website {
        check_link(
            "client_data.company_website",
            website,
            &["https://", "http://"],
        )?;
    }
    if let Some(team_size) = &update.team_size {
        check_choice("client_data.team_size", team_size, &TEAM_SIZES)?;
    }
    Ok(())
}

fn check_tester_data(update: &TesterDataUpdate) -> Result<(), IdentityError> {
    for (field, values) in [
        ("tester_data.specializations", &update.specializations),
        ("tester_data.devices", &update.devices),
        ("tester_data.browsers", &update.browsers),
    ] {
        if let Some(values) = values {
            check_list(field, values)?;
        }
    }
    check_known(
        "tester_data.experience_level",
        update.experience_level == Some(ExperienceLevel::Other),
    )?;
    check_known(
        "tester_data.availability",
        update.availability == Some(Availability::Other),
    )?;
    if let Some(rate) = update.hourly_rate_cents {
        if !(0..=10_000_000).contains(&rate) {
            return Err(IdentityError::InvalidInput {
                field: "tester_data.hourly_rate_usd",
                reason: "must be between 0 and 10000000 cents".into(),
            });
        }
    }
    Ok(())
}

/// `$set` entries for the editable client fields.
fn client_data_sets(update: &ClientDataUpdate, sets: &mut Document) {
    let fields = [
        ("client_data.company_name", &update.company_name),
        ("client_data.company_website", &update.company_website),
        ("client_data.industry", &update.industry),
        ("client_data.team_size", &update.team_size),
    ];
    for (path, value) in fields {
        if let Some(value) = value {
            sets.insert(path, value.clone());
        }
    }
}

/// `$set` entries for the editable tester fields.
fn tester_data_sets(update: &TesterDataUpdate, sets: &mut Document) {
    for (path, value) in [
        ("tester_data.specializations", &update.specializations),
        ("tester_data.devices", &update.devices),
        ("tester_data.browsers", &update.browsers),
    ] {
        if let Some(value) = value {
            sets.insert(path, value.clone());
        }
    }
    if let Some(level) = update.experience_level {
        sets.insert("tester_data.experience_level", level.as_str());
    }
    if let Some(availability) = update.availability {
        sets.insert("tester_data.availability", availability.as_str());
    }
    if let Some(rate) = update.hourly_rate_cents {
        sets.insert("tester_data.hourly_rate_usd", rate);
    }
}

fn profile_sets(profile: &Profile, sets: &mut Document) {
    for (path, value) in [
        ("profile.bio", &profile.bio),
        ("profile.avatar_url", &profile.avatar_url),
        ("profile.timezone", &profile.timezone),
        ("profile.preferred_language", &profile.preferred_language),
        ("profile.country", &profile.country),
    ] {
        if let Some(value) = value {
            sets.insert(path, value.clone());
        }
    }
}

/// The initial role-specific data of a new account.
fn initial_role_data(
    role: Role,
    client_update: Option<&ClientDataUpdate>,
    tester_update: Option<&TesterDataUpdate>,
) -> Result<(Option<ClientData>, Option<TesterData>), IdentityError> {
    match role {
        Role::Client => {
            if tester_update.is_some() {
                return Err(IdentityError::InvalidInput {
                    field: "tester_data",
                    reason: "only for testers".into(),
                });
            }
            let update = client_update.cloned().unwrap_or_default();
            check_client_data(&update)?;
            Ok((
                Some(ClientData {
                    company_name: update.company_name,
                    company_website: update.company_website,
                    industry: update.industry,
                    team_size: update.team_size,
                    membership_tier: Some(MembershipTier::Starter),
                    stripe_customer_id: None,
                    default_payment_method_id: None,
                }),
                None,
            ))
        }
        Role::Tester => {
            if client_update.is_some() {
                return Err(IdentityError::InvalidInput {
                    field: "client_data",
                    reason: "only for clients".into(),
                });
            }
            let update = tester_update.cloned().unwrap_or_default();
            check_tester_data(&update)?;
            Ok((
                None,
                Some(TesterData {
                    specializations: update.specializations.unwrap_or_default(),
                    experience_level: update.experience_level,
                    devices: update.devices.unwrap_or_default(),
                    browsers: update.browsers.unwrap_or_default(),
                    hourly_rate_cents: update.hourly_rate_cents,
                    availability: update.availability,
                    qualification_status: Some(QualificationStatus::Pending),
                    qualification_score: None,
                    qualification_expires_at: None,
                    qualification_set_by: None,
                    qualification_set_at: None,
                    stripe_connect_id: None,
                    stripe_connect_status: None,
                    total_earned_cents: 0,
                    total_jobs_completed: 0,
                    average_rating: None,
                    success_rate: None,
                }),
            ))
        }
        Role::Admin => {
            if client_update.is_some() || tester_update.is_some() {
                return Err(IdentityError::InvalidInput {
                    field: "role",
                    reason: "admins have no role data".into(),
                });
            }
            Ok((None, None))
        }
    }
}

/// Everything needed to insert a new account.
struct NewAccount<'a> {
    email: &'a str,
    password: &'a str,
    full_name: &'a str,
    role: Role,
    profile: Option<&'a Profile>,
    client_data: Option<&'a ClientDataUpdate>,
    tester_data: Option<&'a TesterDataUpdate>,
    verified: bool,
}

impl IdentityService {
    /// Registers a client or tester. The email is normalized; a duplicate gives `EmailTaken`
    /// (decided by the unique index, so two racing registrations cannot both succeed). The account
    /// starts `pending_verification` and a verification email is put in the outbox.
    ///
    /// Limited per client address and per e-mail address (`account_requests`), reserved before
    /// the password is hashed; only malformed input gives its reservation back.
    pub async fn register(
        &self,
        input: RegisterInput,
        client: &ClientInfo,
    ) -> Result<User, IdentityError> {
        let email = normalize_email(&input.email)?;
        let limits = self.settings.account_requests;
        let address = address_or_unknown(client.ip.as_deref());
        let from_address = self
            .reserve_attempt(&Budget {
                key: format!("register-address:{address}"),
                limit: limits.registrations_per_address,
                window: limits.window,
            })
            .await?;
        let for_email = match self
            .reserve_attempt(&Budget {
                key: format!("register-email:{email}"),
                limit: limits.registrations_per_email,
                window: limits.window,
            })
            .await
        {
            Ok(reservation) => reservation,
            Err(error) => {
                self.release_attempt(&from_address).await?;
                return Err(error);
            }
        };
        let outcome = self.register_unthrottled(input).await;
        if let Err(error) = &outcome {
            if matches!(
                error.category(),
                crate::ErrorCategory::BadUserInput | crate::ErrorCategory::Internal
            ) {
                self.release_attempt(&from_address).await?;
                self.release_attempt(&for_email).await?;
            }
        }
        outcome
    }

    async fn register_unthrottled(&self, input: RegisterInput) -> Result<User, IdentityError> {
        let user = self
            .insert_account(NewAccount {
                email: &input.email,
                password: &input.password,
                full_name: &input.full_name,
                role: input.role.into(),
                profile: input.profile.as_ref(),
                client_data: input.client_data.as_ref(),
                tester_data: input.tester_data.as_ref(),
                verified: false,
            })
            .await?;
        self.issue_email_verification(&user).await?;
        Ok(user)
    }

    /// Creates an account for trusted callers (demo data, bootstrap admin): any role, `active`,
    /// email already verified, no outbox message. Never expose this to anonymous clients.
    pub async fn provision_user(&self, input: ProvisionUserInput) -> Result<User, IdentityError> {
        self.insert_account(NewAccount {
            email: &input.email,
            password: &input.password,
            full_name: &input.full_name,
            role: input.role,
            profile: input.profile.as_ref(),
            client_data: input.client_data.as_ref(),
            tester_data: input.tester_data.as_ref(),
            verified: true,
        })
        .await
    }

    async fn insert_account(&self, account: NewAccount<'_>) -> Result<User, IdentityError> {
        let email = normalize_email(account.email)?;
        let full_name = check_full_name(account.full_name)?;
        password::check_policy(account.password, &email)?;
        if let Some(profile) = account.profile {
            check_profile(profile)?;
        }
        let (client_data, tester_data) =
            initial_role_data(account.role, account.client_data, account.tester_data)?;
        let password_hash = self.hash_password(account.password).await?;
        let now = self.now();
        let user = User {
            id: ObjectId::new(),
            email,
            full_name,
            role: account.role,
            status: if account.verified {
                UserStatus::Active
            } else {
                UserStatus::PendingVerification
            },
            profile: account.profile.cloned().unwrap_or_default(),
            client_data,
            tester_data,
            organization_id: None,
            organization_role: None,
            email_verified: account.verified,
            two_factor_enabled: false,
            notification_preferences: NotificationPreferences::default(),
            created_at: now,
            updated_at: now,
            last_login: None,
            login_count: 0,
            version: 1,
            deleted_at: None,
        };
        let mut document = bson::to_document(&user)?;
        document.insert("password_hash", password_hash);
        match self.users.insert_one(document).await {
            Ok(_) => Ok(user),
            Err(error) if foundation::collection::is_duplicate_key(&error) => {
                Err(IdentityError::EmailTaken)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// One user by id, or `None`.
    pub async fn user(&self, id: ObjectId) -> Result<Option<User>, IdentityError> {
        let found = self.users.find_one(doc! { "_id": id }).await?;
        found
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .transpose()
    }

    /// A user by id, or `UserNotFound`.
    pub async fn require_user(&self, id: ObjectId) -> Result<User, IdentityError> {
        self.user(id).await?.ok_or(IdentityError::UserNotFound)
    }

    /// One user by email (normalized before lookup), or `None`.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, IdentityError> {
        let email = normalize_email(email)?;
        let found = self.users.find_one(doc! { "email": email }).await?;
        found
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .transpose()
    }

    /// Batch loading for dataloaders: one `$in` query. The result is in no particular order and
    /// omits ids that do not exist.
    pub async fn users_by_ids(&self, ids: &[ObjectId]) -> Result<Vec<User>, IdentityError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let documents: Vec<Document> = self
            .users
            .find(doc! { "_id": { "$in": ids.to_vec() } })
            // One reply for the whole batch, not a `find` plus `getMore`s.
            .batch_size(10_000)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .collect()
    }

    /// Active, qualified testers after `after` in `_id` order, at most `limit` (≤ 10,000): the
    /// pool a public job's announcement is matched against, page by page (the marketplace
    /// decides who qualifies for the job).
    pub async fn qualified_testers_page(
        &self,
        after: Option<ObjectId>,
        limit: i64,
    ) -> Result<Vec<User>, IdentityError> {
        let mut filter = doc! {
            "role": Role::Tester.as_str(),
            "status": UserStatus::Active.as_str(),
            "tester_data.qualification_status": QualificationStatus::Qualified.as_str(),
            "deleted_at": null,
        };
        if let Some(after) = after {
            filter.insert("_id", doc! { "$gt": after });
        }
        let documents: Vec<Document> = self
            .users
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(limit.clamp(1, 10_000))
            .batch_size(10_000)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .collect()
    }

    /// Updates the caller's own profile. Only `full_name`, `profile.*`, the editable
    /// `client_data`/`tester_data` fields and notification preferences can change.
    pub async fn update_profile(
        &self,
        actor: &Principal,
        update: ProfileUpdate,
    ) -> Result<User, IdentityError> {
        let user_id = actor.require_user()?.user_id;
        let current = self.require_user(user_id).await?;
        let mut sets = Document::new();
        if let Some(full_name) = &update.full_name {
            sets.insert("full_name", check_full_name(full_name)?);
        }
        if let Some(profile) = &update.profile {
            check_profile(profile)?;
            profile_sets(profile, &mut sets);
        }
        if let Some(client_update) = &update.client_data {
            if current.role != Role::Client {
                return Err(IdentityError::InvalidInput {
                    field: "client_data",
                    reason: "only for clients".into(),
                });
            }
            check_client_data(client_update)?;
            client_data_sets(client_update, &mut sets);
        }
        if let Some(tester_update) = &update.tester_data {
            if current.role != Role::Tester {
                return Err(IdentityError::InvalidInput {
                    field: "tester_data",
                    reason: "only for testers".into(),
                });
            }
            check_tester_data(tester_update)?;
            tester_data_sets(tester_update, &mut sets);
        }
        if let Some(preferences) = &update.notification_preferences {
            // Field by field: the per-type switches kept beside the seed's fields
            // (`notification_switches`) survive an update of the seed's ones.
            for (key, value) in bson::to_document(preferences)? {
                sets.insert(format!("notification_preferences.{key}"), value);
            }
        }
        sets.insert("updated_at", self.now());
        let mut filter = doc! { "_id": user_id };
        if let Some(version) = update.expected_version {
            filter.insert("version", version);
        }
        let result = self
            .users
            .update_one(filter, doc! { "$set": sets, "$inc": { "version": 1_i64 } })
            .await?;
        if result.matched_count == 0 {
            return Err(IdentityError::VersionConflict);
        }
        self.require_user(user_id).await
    }

    /// Admin only: suspends a user and revokes all of their sessions, so existing tokens stop
    /// working at once.
    pub async fn suspend_user(
        &self,
        actor: &Principal,
        user_id: ObjectId,
    ) -> Result<User, IdentityError> {
        authorization::require(authorization::can_administer_users(actor), "suspend users")?;
        if actor.user_id() == Some(user_id) {
            return Err(IdentityError::InvalidInput {
                field: "user_id",
                reason: "admins cannot suspend themselves".into(),
            });
        }
        let now = self.now();
        let service = self.clone();
        foundation::transaction_retry::in_transaction(self.users.client(), |mut session| {
            let service = service.clone();
            async move {
                let outcome = service.suspend_in_session(&mut session, user_id, now).await;
                (session, outcome)
            }
        })
        .await?;
        self.revoke_all_sessions(user_id, "suspended").await?;
        self.require_user(user_id).await
    }

    /// Moves the user to suspended and, when that changed their status, records
    /// `account_suspended` for them in the same transaction; suspending a suspended user changes
    /// nothing and tells nobody again.
    async fn suspend_in_session(
        &self,
        session: &mut mongodb::ClientSession,
        user_id: ObjectId,
        now: DateTime,
    ) -> Result<(), IdentityError> {
        let suspended = UserStatus::Suspended.as_str();
        let result = self
            .users
            .update_one(
                doc! { "_id": user_id, "status": { "$ne": suspended } },
                doc! { "$set": { "status": suspended, "suspended_at": now, "updated_at": now },
                "$inc": { "version": 1_i64 } },
            )
            .session(&mut *session)
            .await?;
        if result.matched_count == 1 {
            let event = foundation::events::DomainEvent::new(
                foundation::events::DomainEventKind::AccountSuspended,
                [user_id],
            );
            self.events.record(session, event, now).await?;
            return Ok(());
        }
        let exists = self
            .users
            .find_one(doc! { "_id": user_id })
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?;
        exists.map(|_| ()).ok_or(IdentityError::UserNotFound)
    }

    /// Admin only: records a tester's qualification outcome (`pending`, `qualified` or
    /// `rejected`, with an optional 0-100 score), overriding the qualification tests' outcome.
    pub async fn set_tester_qualification(
        &self,
        actor: &Principal,
        user_id: ObjectId,
        status: QualificationStatus,
        score: Option<f64>,
    ) -> Result<User, IdentityError> {
        authorization::require(
            authorization::can_administer_users(actor),
            "set tester qualifications",
        )?;
        check_known("status", status == QualificationStatus::Other)?;
        if let Some(score) = score {
            if !(0.0..=100.0).contains(&score) {
                return Err(IdentityError::InvalidInput {
                    field: "score",
                    reason: "must be between 0 and 100".into(),
                });
            }
        }
        let now = self.now();
        // The override records who made it, and a qualification an admin gives does not end
        // (a test's one-year term no longer applies).
        let mut set = doc! {
            "tester_data.qualification_status": status.as_str(),
            "tester_data.qualification_set_by": actor.user_id(),
            "tester_data.qualification_set_at": now,
            "updated_at": now,
        };
        if let Some(score) = score {
            set.insert("tester_data.qualification_score", score);
        }
        let result = self
            .users
            .update_one(
                doc! { "_id": user_id, "role": Role::Tester.as_str() },
                doc! {
                    "$set": set,
                    "$unset": { "tester_data.qualification_expires_at": "" },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        if result.matched_count == 0 {
            return Err(IdentityError::UserNotFound);
        }
        self.require_user(user_id).await
    }

    /// Admin only: lifts a suspension. The user returns to `active` if their email is verified and
    /// to `pending_verification` otherwise.
    pub async fn reactivate_user(
        &self,
        actor: &Principal,
        user_id: ObjectId,
    ) -> Result<User, IdentityError> {
        authorization::require(
            authorization::can_administer_users(actor),
            "reactivate users",
        )?;
        let user = self.require_user(user_id).await?;
        let status = if user.email_verified {
            UserStatus::Active
        } else {
            UserStatus::PendingVerification
        };
        self.users
            .update_one(
                doc! { "_id": user_id, "status": UserStatus::Suspended.as_str() },
                doc! { "$set": { "status": status.as_str(), "updated_at": self.now() },
                "$unset": { "suspended_at": "" }, "$inc": { "version": 1_i64 } },
            )
            .await?;
        self.require_user(user_id).await
    }

    /// Puts a fresh verification email for `user` in the outbox; replaces any previous token.
    pub(crate) async fn issue_email_verification(&self, user: &User) -> Result<(), IdentityError> {
        let token = foundation::secret::generate_token();
        let expires =
            foundation::clock::add_duration(self.now(), self.settings.email_verification_ttl);
        self.users
            .update_one(
                doc! { "_id": user.id },
                doc! { "$set": {
                    "email_verification_token": foundation::secret::hash_token(&token),
                    "email_verification_expires": expires,
                } },
            )
            .await?;
        self.enqueue_email(OutboxKind::EmailVerification, user, Some(&token), expires)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            normalize_email("  John.Doe@TechCorp.COM ").unwrap(),
            "john.doe@techcorp.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for email in [
            "",
            "no-at-sign",
            "a@b",
            "a@b.c",
            "@techcorp.com",
            "a b@techcorp.com",
            "a@tech corp.com",
            "a@x.c0m",
        ] {
            assert!(
                matches!(
                    normalize_email(email),
                    Err(IdentityError::InvalidEmail { .. })
                ),
                "{email} should be refused"
            );
        }
    }

    #[test]
    fn role_data_follows_the_role() {
        let (client, tester) = initial_role_data(Role::Client, None, None).unwrap();
        assert_eq!(
            client.unwrap().membership_tier,
            Some(MembershipTier::Starter)
        );
        assert!(tester.is_none());
        let (client, tester) = initial_role_data(Role::Tester, None, None).unwrap();
        assert!(client.is_none());
        assert_eq!(
            tester.unwrap().qualification_status,
            Some(QualificationStatus::Pending)
        );
        assert!(initial_role_data(Role::Client, None, Some(&TesterDataUpdate::default())).is_err());
    }

    #[test]
    fn tester_choices_are_checked() {
        let update = TesterDataUpdate {
            experience_level: Some(ExperienceLevel::Other),
            ..Default::default()
        };
        assert!(matches!(
            check_tester_data(&update),
            Err(IdentityError::InvalidInput {
                field: "tester_data.experience_level",
                ..
            })
        ));
    }

    #[test]
    fn a_plan_decides_an_individual_clients_limits_and_premium_templates() {
        assert_eq!(MembershipTier::Starter.limits(), (3, 2));
        assert_eq!(MembershipTier::Pro.limits(), (20, 10));
        assert_eq!(MembershipTier::Team.limits(), (50, 25));
        assert_eq!(
            MembershipTier::Other.limits(),
            MembershipTier::Starter.limits()
        );
        assert!(!MembershipTier::Starter.premium_templates());
        assert!(MembershipTier::Pro.premium_templates());
        let stored: MembershipTier = bson::from_bson(bson::Bson::from("platinum")).unwrap();
        assert_eq!(stored, MembershipTier::Other);
        assert!(!stored.premium_templates());
    }
}
