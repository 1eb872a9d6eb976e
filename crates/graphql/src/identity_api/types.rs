//! The identity domain's output types: users with their profiles, sessions, organizations and
//! API keys, as GraphQL objects over identity's records.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, Object, SimpleObject, ID};

use identity::visibility::{user_view, Reader, UserView};

use crate::error::ApiResult;
use crate::loaders::load_user;
use crate::relay::{GlobalId, ListConnection, NodeType};
use crate::scalars::DateTime;
use crate::viewer::viewer;
use crate::Services;

/// A platform role.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::Role")]
pub enum Role {
    /// Posts testing jobs and pays for them.
    Client,
    /// Takes jobs and submits results.
    Tester,
    /// Operates the marketplace.
    Admin,
}

/// The role a person may choose when registering.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::RegistrationRole")]
pub enum RegistrationRole {
    /// Register as a client.
    Client,
    /// Register as a tester.
    Tester,
}

/// Account status.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::UserStatus")]
pub enum UserStatus {
    /// Verified and in good standing.
    Active,
    /// Blocked by an admin: cannot log in, tokens are refused.
    Suspended,
    /// Registered; the email address is not verified yet.
    PendingVerification,
}

/// Public profile information.
#[derive(SimpleObject)]
pub struct Profile {
    /// Short biography.
    pub bio: Option<String>,
    /// Avatar image URL.
    pub avatar_url: Option<String>,
    /// IANA time zone, e.g. `Europe/London`.
    pub timezone: Option<String>,
    /// Preferred language tag, e.g. `en`.
    pub preferred_language: Option<String>,
    /// ISO country code, e.g. `GB`.
    pub country: Option<String>,
}

impl From<identity::Profile> for Profile {
    fn from(profile: identity::Profile) -> Self {
        Profile {
            bio: profile.bio,
            avatar_url: profile.avatar_url,
            timezone: profile.timezone,
            preferred_language: profile.preferred_language,
            country: profile.country,
        }
    }
}

/// What a client tells about their company.
#[derive(SimpleObject)]
pub struct ClientData {
    /// Company name.
    pub company_name: Option<String>,
    /// Company website.
    pub company_website: Option<String>,
    /// Industry, e.g. `SaaS`.
    pub industry: Option<String>,
    /// `1-10`, `11-50`, `51-200` or `201+`.
    pub team_size: Option<String>,
    /// `starter`, `pro` or `team`.
    pub membership_tier: Option<String>,
}

impl From<identity::ClientData> for ClientData {
    fn from(data: identity::ClientData) -> Self {
        ClientData {
            company_name: data.company_name,
            company_website: data.company_website,
            industry: data.industry,
            team_size: data.team_size,
            membership_tier: data.membership_tier.map(|tier| tier.as_str().to_owned()),
        }
    }
}

/// What a tester tells about their skills and equipment, plus totals other domains maintain.
/// The public tester reputation (specializations, experience level, completed jobs, average
/// rating, success rate) is visible to everyone who sees the tester; the other fields are `null` for everyone
/// but the tester themself and admins.
#[derive(SimpleObject)]
pub struct TesterData {
    /// e.g. `web`, `mobile`, `api`, `accessibility`.
    pub specializations: Vec<String>,
    /// Experience level.
    pub experience_level: Option<super::accounts::ExperienceLevel>,
    /// Devices the tester owns. Private.
    pub devices: Option<Vec<String>>,
    /// Browsers the tester uses. Private.
    pub browsers: Option<Vec<String>>,
    /// Hourly rate in US cents. Private.
    pub hourly_rate_usd_cents: Option<i64>,
    /// When the tester can work. Private.
    pub availability: Option<super::accounts::Availability>,
    /// Qualification outcome. Private.
    pub qualification_status: Option<super::accounts::QualificationStatus>,
    /// Qualification score, 0 to 100: the last evaluated qualification test's total, or what an
    /// admin recorded. Private.
    pub qualification_score: Option<f64>,
    /// When the qualification a passed test gave ends: from then on no new job can be claimed
    /// (seats already held are kept) until a recertification passes. `null` when it does not
    /// end (set by an admin) or there is none. Private.
    pub qualification_expires_at: Option<crate::scalars::DateTime>,
    /// Lifetime earnings in US cents. Private.
    pub total_earned_usd_cents: Option<i64>,
    /// Completed jobs.
    pub total_jobs_completed: i64,
    /// Average of the revealed ratings received, 1 to 5 (`null` before the first).
    pub average_rating: Option<f64>,
    /// Approved share of the tester's reviewed submissions, 0 to 100, as of the last revealed
    /// rating (`null` before the first).
    pub success_rate: Option<f64>,
}

impl TesterData {
    /// The tester's data as a caller with `view` may read it.
    fn as_seen(data: identity::TesterData, view: UserView) -> Self {
        let personal = view >= UserView::Personal;
        TesterData {
            specializations: data.specializations,
            experience_level: data.experience_level.map(Into::into),
            devices: personal.then_some(data.devices),
            browsers: personal.then_some(data.browsers),
            hourly_rate_usd_cents: data.hourly_rate_cents.filter(|_| personal),
            availability: data.availability.filter(|_| personal).map(Into::into),
            qualification_status: data
                .qualification_status
                .filter(|_| personal)
                .map(Into::into),
            total_earned_usd_cents: personal.then_some(data.total_earned_cents),
            qualification_score: data.qualification_score.filter(|_| personal),
            qualification_expires_at: data
                .qualification_expires_at
                .filter(|_| personal)
                .map(Into::into),
            total_jobs_completed: data.total_jobs_completed,
            average_rating: data.average_rating,
            success_rate: data.success_rate,
        }
    }
}

/// Which e-mails and in-app notifications the user wants.
#[derive(SimpleObject)]
pub struct NotificationPreferences {
    /// A new job matching the tester was posted.
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

impl From<identity::NotificationPreferences> for NotificationPreferences {
    fn from(preferences: identity::NotificationPreferences) -> Self {
        NotificationPreferences {
            email_new_job: preferences.email_new_job,
            email_job_assigned: preferences.email_job_assigned,
            email_submission_received: preferences.email_submission_received,
            email_payment_received: preferences.email_payment_received,
            email_rating_received: preferences.email_rating_received,
            in_app_notifications: preferences.in_app_notifications,
        }
    }
}

/// A person with an account: client, tester or admin.
pub struct User {
    record: Arc<identity::User>,
    /// Set when the payload is the caller's own account even though the request carried no
    /// token (the `user` of `login` and `register`).
    own_account: bool,
}

impl User {
    /// A user as the request's viewer sees it.
    pub fn new(record: impl Into<Arc<identity::User>>) -> Self {
        User {
            record: record.into(),
            own_account: false,
        }
    }

    /// The caller's own account, private fields included.
    pub fn own(record: impl Into<Arc<identity::User>>) -> Self {
        User {
            record: record.into(),
            own_account: true,
        }
    }

    /// How much of this user the viewer may read (identity's rule; the viewer's own record comes
    /// from the request's user loader, so a list of users costs no extra query).
    async fn view(&self, ctx: &Context<'_>) -> ApiResult<UserView> {
        if self.own_account {
            return Ok(UserView::Personal);
        }
        let Ok(principal) = viewer(ctx).principal() else {
            return Ok(UserView::Public);
        };
        let record = match principal.user_id() {
            Some(id) => load_user(ctx, id).await?,
            None => None,
        };
        Ok(user_view(
            Reader {
                principal,
                record: record.as_deref(),
            },
            &self.record,
        ))
    }

    /// Whether the viewer may read fields of level `needed`.
    async fn sees(&self, ctx: &Context<'_>, needed: UserView) -> ApiResult<bool> {
        Ok(self.view(ctx).await? >= needed)
    }
}

/// A person with an account: client, tester or admin.
///
/// Others see a public profile: `id`, `fullName`, `role`, `profile`, `createdAt` and the public
/// tester reputation in `testerData`. Every other field is `null` (never an error) unless the
/// caller may read it: fields marked "Organization" for the user, their organization's owners and
/// admins, and platform admins; fields marked "Private" for the user and platform admins only.
#[Object]
impl User {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::User, self.record.id)
    }
    /// Normalized e-mail address. Organization (members see each other's through
    /// `Organization.members`).
    async fn email(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        Ok(self
            .sees(ctx, UserView::Organization)
            .await?
            .then_some(self.record.email.as_str()))
    }
    /// Display name.
    async fn full_name(&self) -> &str {
        &self.record.full_name
    }
    /// Platform role.
    async fn role(&self) -> Role {
        self.record.role.into()
    }
    /// Account status. Organization.
    async fn status(&self, ctx: &Context<'_>) -> ApiResult<Option<UserStatus>> {
        Ok(self
            .sees(ctx, UserView::Organization)
            .await?
            .then(|| self.record.status.into()))
    }
    /// Public profile.
    async fn profile(&self) -> Profile {
        self.record.profile.clone().into()
    }
    /// Company details (clients). Organization.
    async fn client_data(&self, ctx: &Context<'_>) -> ApiResult<Option<ClientData>> {
        if !self.sees(ctx, UserView::Organization).await? {
            return Ok(None);
        }
        Ok(self.record.client_data.clone().map(Into::into))
    }
    /// Skills, equipment and totals (testers): the public reputation for everyone, the rest
    /// private (see `TesterData`).
    async fn tester_data(&self, ctx: &Context<'_>) -> ApiResult<Option<TesterData>> {
        let view = self.view(ctx).await?;
        Ok(self
            .record
            .tester_data
            .clone()
            .map(|data| TesterData::as_seen(data, view)))
    }
    /// The account a tester's payouts are transferred to (`null` until connected). Private.
    async fn payout_account(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<crate::marketplace_api::money::PayoutAccountInfo>> {
        if !self.sees(ctx, UserView::Personal).await? {
            return Ok(None);
        }
        Ok(crate::marketplace_api::money::PayoutAccountInfo::of(
            &self.record,
        ))
    }
    /// Revealed public ratings this user received, newest first.
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn ratings(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<crate::trust_api::ratings::Rating>> {
        crate::trust_api::ratings::user_ratings(ctx, self.record.id, first, after, last, before)
            .await
    }
    /// Exact figures of every revealed rating this user received (public or not).
    async fn rating_summary(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<crate::trust_api::ratings::RatingSummary> {
        crate::trust_api::ratings::user_rating_summary(ctx, self.record.id).await
    }
    /// Pending, unexpired invitations to join an organization addressed to this user's
    /// confirmed e-mail address, newest first (empty while it is unconfirmed). Only for the
    /// user themself: `null` for everyone else, platform admins included.
    async fn organization_invitations(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<Vec<super::organizations::OrganizationInvitation>>> {
        let Ok(principal) = viewer(ctx).principal() else {
            return Ok(None);
        };
        if principal.user_id() != Some(self.record.id) {
            return Ok(None);
        }
        let invitations = ctx
            .data_unchecked::<crate::Services>()
            .identity()
            .my_organization_invitations(principal)
            .await?;
        Ok(Some(
            invitations
                .into_iter()
                .map(super::organizations::OrganizationInvitation)
                .collect(),
        ))
    }
    /// Role within the user's organization. Organization.
    async fn organization_role(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<super::organizations::OrganizationRole>> {
        if !self.sees(ctx, UserView::Organization).await? {
            return Ok(None);
        }
        Ok(self.record.organization_role.map(Into::into))
    }
    /// Whether the e-mail address was confirmed. Organization.
    async fn email_verified(&self, ctx: &Context<'_>) -> ApiResult<Option<bool>> {
        Ok(self
            .sees(ctx, UserView::Organization)
            .await?
            .then_some(self.record.email_verified))
    }
    /// Whether logins require a second factor. Private.
    async fn two_factor_enabled(&self, ctx: &Context<'_>) -> ApiResult<Option<bool>> {
        Ok(self
            .sees(ctx, UserView::Personal)
            .await?
            .then_some(self.record.two_factor_enabled))
    }
    /// Notification choices. Private.
    async fn notification_preferences(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<NotificationPreferences>> {
        Ok(self
            .sees(ctx, UserView::Personal)
            .await?
            .then(|| self.record.notification_preferences.into()))
    }
    /// This user's notifications, newest first (dismissed ones left out; `unreadOnly` for the
    /// unread ones). Only for the user themself: `null` for everyone else, platform admins and
    /// API keys included.
    #[graphql(complexity = "crate::relay::page_cost(first, None, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
    ) -> ApiResult<Option<crate::relay::ListConnection<crate::notifications_api::Notification>>>
    {
        let unread_only = unread_only.unwrap_or(false);
        crate::notifications_api::notifications_of(ctx, self.record.id, first, after, unread_only)
            .await
    }
    /// The disputes this user raised or answers, oldest first. Only for the user themself
    /// (`null` for anyone else, platform admins included: they use `disputes`).
    #[graphql(complexity = "crate::relay::page_cost(first, None, child_complexity)")]
    async fn disputes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Option<crate::relay::ListConnection<crate::trust_api::disputes::Dispute>>> {
        crate::trust_api::disputes::user_disputes(ctx, self.record.id, first, after).await
    }
    /// The qualification tests this user took, newest first. Only for the user themself
    /// (`null` for anyone else; platform admins use `qualificationTestsToEvaluate` and `node`).
    #[graphql(complexity = "crate::relay::page_cost(first, None, child_complexity)")]
    async fn qualification_tests(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<
        Option<crate::relay::ListConnection<crate::trust_api::qualifications::QualificationTest>>,
    > {
        crate::trust_api::qualifications::user_qualification_tests(
            ctx,
            self.record.id,
            first,
            after,
        )
        .await
    }
    /// How many of this user's notifications are unread. Only for the user themself.
    async fn unread_notification_count(&self, ctx: &Context<'_>) -> ApiResult<Option<u64>> {
        crate::notifications_api::unread_count_of(ctx, self.record.id).await
    }
    /// Every notification type on every channel with this user's choice (on unless turned
    /// off). Only for the user themself.
    async fn notification_settings(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<Vec<crate::notifications_api::NotificationPreference>>> {
        crate::notifications_api::settings_of(ctx, self.record.id).await
    }
    /// Last successful login. Private.
    async fn last_login(&self, ctx: &Context<'_>) -> ApiResult<Option<DateTime>> {
        if !self.sees(ctx, UserView::Personal).await? {
            return Ok(None);
        }
        Ok(self.record.last_login.map(Into::into))
    }
    /// Number of successful logins. Private.
    async fn login_count(&self, ctx: &Context<'_>) -> ApiResult<Option<i64>> {
        Ok(self
            .sees(ctx, UserView::Personal)
            .await?
            .then_some(self.record.login_count))
    }
    /// When the account was created.
    async fn created_at(&self) -> DateTime {
        self.record.created_at.into()
    }
    /// The projects this client owns, newest first, as far as the viewer may see them (the
    /// client themself, members of its organization, admins).
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<crate::relay::ListConnection<crate::marketplace_api::types::Project>> {
        crate::marketplace_api::projects::projects_of(
            ctx,
            self.record.id,
            first,
            after,
            last,
            before,
        )
        .await
    }
    /// The jobs this tester holds a seat on, newest first: all of them for the tester and admins,
    /// a client's own jobs for that client, none for other testers.
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn assigned_jobs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<crate::relay::ListConnection<crate::marketplace_api::types::Job>> {
        crate::marketplace_api::jobs::jobs_of_tester(
            ctx,
            self.record.id,
            first,
            after,
            last,
            before,
        )
        .await
    }
    /// The tester's own work: their submissions, drafts included, newest first. Private (the
    /// tester and platform admins; `null` for everyone else).
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn submissions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<Option<ListConnection<crate::marketplace_api::types::Submission>>> {
        crate::marketplace_api::submissions::submissions_of_tester(
            ctx,
            self.record.id,
            first,
            after,
            last,
            before,
        )
        .await
    }
    /// The organization the user belongs to, when the viewer may see it. Organization.
    async fn organization(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<super::organizations::Organization>> {
        let Some(organization_id) = self.record.organization_id else {
            return Ok(None);
        };
        if !self.sees(ctx, UserView::Organization).await? {
            return Ok(None);
        }
        super::organizations::visible_organization(ctx, organization_id).await
    }
}

/// One signed-in device: a refresh-token family.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Session {
    #[graphql(skip)]
    pub(crate) record: identity::Session,
    /// Device label given at login.
    pub device: Option<String>,
    /// User agent at the last use.
    pub user_agent: Option<String>,
    /// Client address at the last use.
    pub ip: Option<String>,
    /// Whether this is the session of the access token making the request.
    pub current: bool,
}

#[ComplexObject]
impl Session {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Session, self.record.id)
    }
    /// When the session logged in.
    async fn created_at(&self) -> DateTime {
        self.record.created_at.into()
    }
    /// Last login or refresh.
    async fn last_used_at(&self) -> DateTime {
        self.record.last_used_at.into()
    }
    /// When the session's refresh token expires.
    async fn expires_at(&self) -> DateTime {
        self.record.expires_at.into()
    }
}

impl From<identity::Session> for Session {
    fn from(record: identity::Session) -> Self {
        Session {
            device: record.device.clone(),
            user_agent: record.user_agent.clone(),
            ip: record.ip.clone(),
            current: record.current,
            record,
        }
    }
}

/// Tokens issued by `login` and `refresh`.
pub struct AuthPayload {
    pub(crate) tokens: identity::AuthTokens,
}

/// Tokens issued by `login` and `refresh`.
#[Object]
impl AuthPayload {
    /// Access token (JWT, 15 minutes) for `Authorization: Bearer`.
    async fn access_token(&self) -> &str {
        &self.tokens.access_token
    }
    /// When the access token expires.
    async fn access_token_expires_at(&self) -> DateTime {
        self.tokens.expires_at.into()
    }
    /// Opaque refresh token (7 days); single use: `refresh` exchanges it for a new pair.
    async fn refresh_token(&self) -> &str {
        &self.tokens.refresh_token
    }
    /// When the refresh token expires.
    async fn refresh_token_expires_at(&self) -> DateTime {
        self.tokens.refresh_expires_at.into()
    }
    /// The session the tokens belong to.
    async fn session_id(&self) -> ID {
        GlobalId::encode(NodeType::Session, self.tokens.session_id)
    }
    /// The signed-in user.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let services = ctx.data_unchecked::<Services>();
        Ok(User::own(
            services
                .identity()
                .require_user(self.tokens.user_id)
                .await?,
        ))
    }
}
