//! Accounts and sessions: register, login, refresh, logout, `me`, profile updates, the session
//! list, e-mail verification, password reset and the admin's suspend/reactivate.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::types::{AuthPayload, RegistrationRole, Session, User};
use crate::error::ApiResult;
use crate::relay::{connection_from_list, page_request, GlobalId, ListConnection, NodeType};
use crate::viewer::{viewer, HasRole, RequestMeta, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// The client facts of the request, for the session record and login throttling.
fn client_info(ctx: &Context<'_>, device: Option<String>) -> identity::ClientInfo {
    let meta = ctx.data_opt::<RequestMeta>();
    identity::ClientInfo {
        device,
        user_agent: meta.and_then(|meta| meta.user_agent.clone()),
        ip: meta.map(|meta| meta.client_ip.to_string()),
    }
}

/// Profile fields; each one given is written, the others are kept.
#[derive(InputObject, Default)]
pub struct ProfileInput {
    /// Short biography.
    pub bio: Option<String>,
    /// Avatar image URL.
    pub avatar_url: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Preferred language tag.
    pub preferred_language: Option<String>,
    /// ISO country code.
    pub country: Option<String>,
}

impl From<ProfileInput> for identity::Profile {
    fn from(input: ProfileInput) -> Self {
        identity::Profile {
            bio: input.bio,
            avatar_url: input.avatar_url,
            timezone: input.timezone,
            preferred_language: input.preferred_language,
            country: input.country,
        }
    }
}

/// Client fields a client may edit.
#[derive(InputObject, Default)]
pub struct ClientDataInput {
    /// Company name.
    pub company_name: Option<String>,
    /// Company website.
    pub company_website: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// `1-10`, `11-50`, `51-200` or `201+`.
    pub team_size: Option<String>,
}

impl From<ClientDataInput> for identity::ClientDataUpdate {
    fn from(input: ClientDataInput) -> Self {
        identity::ClientDataUpdate {
            company_name: input.company_name,
            company_website: input.company_website,
            industry: input.industry,
            team_size: input.team_size,
        }
    }
}

/// Tester fields a tester may edit; lists replace the stored lists.
#[derive(InputObject, Default)]
pub struct TesterDataInput {
    /// Specializations, e.g. `web`, `mobile`.
    pub specializations: Option<Vec<String>>,
    /// Experience level.
    pub experience_level: Option<ExperienceLevel>,
    /// Devices owned.
    pub devices: Option<Vec<String>>,
    /// Browsers used.
    pub browsers: Option<Vec<String>>,
    /// Hourly rate in US cents.
    pub hourly_rate_usd_cents: Option<i64>,
    /// Availability.
    pub availability: Option<Availability>,
}

impl From<TesterDataInput> for identity::TesterDataUpdate {
    fn from(input: TesterDataInput) -> Self {
        identity::TesterDataUpdate {
            specializations: input.specializations,
            experience_level: input.experience_level.map(Into::into),
            devices: input.devices,
            browsers: input.browsers,
            hourly_rate_cents: input.hourly_rate_usd_cents,
            availability: input.availability.map(Into::into),
        }
    }
}

/// Input of `register`.
#[derive(InputObject)]
pub struct RegisterInput {
    /// E-mail address; trimmed and lower-cased.
    pub email: String,
    /// Password: at least 10 characters with a letter and a digit, not the e-mail address.
    pub password: String,
    /// Display name.
    pub full_name: String,
    /// Client or tester.
    pub role: RegistrationRole,
    /// Optional profile.
    pub profile: Option<ProfileInput>,
    /// Optional client fields (clients only).
    pub client_data: Option<ClientDataInput>,
    /// Optional tester fields (testers only).
    pub tester_data: Option<TesterDataInput>,
}

/// Result of `register`.
#[derive(SimpleObject)]
pub struct RegisterPayload {
    /// The new account, pending e-mail verification.
    pub user: User,
}

/// Input of `login`.
#[derive(InputObject)]
pub struct LoginInput {
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
    /// The 6-digit authenticator code, when two-factor authentication is on.
    pub totp_code: Option<String>,
    /// A one-time recovery code instead of `totpCode`.
    pub recovery_code: Option<String>,
    /// A label for the session list, e.g. "Sarah's iPhone".
    pub device_name: Option<String>,
}

/// Input of `refresh`.
#[derive(InputObject)]
pub struct RefreshInput {
    /// The refresh token from `login` or the previous `refresh`; it is consumed.
    pub refresh_token: String,
}

/// Input of mutations that need nothing but the caller.
#[derive(InputObject, Default)]
pub struct EmptyInput {
    /// Echoed back unchanged, for clients that correlate mutations.
    #[graphql(
        deprecation = "No payload carries clientMutationId (see ARCHITECTURE.md); correlate requests on the client."
    )]
    pub client_mutation_id: Option<String>,
}

/// Result of a mutation whose only outcome is success.
#[derive(SimpleObject)]
pub struct SuccessPayload {
    /// Always true; failures are errors.
    pub ok: bool,
    /// The `clientMutationId` given in the input.
    #[graphql(
        deprecation = "No payload carries clientMutationId (see ARCHITECTURE.md); correlate requests on the client."
    )]
    pub client_mutation_id: Option<String>,
}

impl SuccessPayload {
    fn done(client_mutation_id: Option<String>) -> Self {
        SuccessPayload {
            ok: true,
            client_mutation_id,
        }
    }
}

/// Input of `updateProfile`.
#[derive(InputObject, Default)]
pub struct UpdateProfileInput {
    /// New display name.
    pub full_name: Option<String>,
    /// Profile fields to set.
    pub profile: Option<ProfileInput>,
    /// Client fields to set (clients only).
    pub client_data: Option<ClientDataInput>,
    /// Tester fields to set (testers only).
    pub tester_data: Option<TesterDataInput>,
    /// Replacement notification preferences.
    pub notification_preferences: Option<NotificationPreferencesInput>,
}

/// Every notification preference.
#[derive(InputObject)]
pub struct NotificationPreferencesInput {
    /// A new job matching the tester was posted.
    pub email_new_job: bool,
    /// Assigned to a job.
    pub email_job_assigned: bool,
    /// A submission arrived.
    pub email_submission_received: bool,
    /// A payment arrived.
    pub email_payment_received: bool,
    /// A rating was received.
    pub email_rating_received: bool,
    /// In-app notifications at all.
    pub in_app_notifications: bool,
}

/// Result of mutations that change one user.
#[derive(SimpleObject)]
pub struct UserPayload {
    /// The user after the change.
    pub user: User,
}

/// Input of `revokeSession`.
#[derive(InputObject)]
pub struct RevokeSessionInput {
    /// The session's global ID (from `sessions`).
    pub session_id: ID,
}

/// Input of `verifyEmail`.
#[derive(InputObject)]
pub struct VerifyEmailInput {
    /// The token from the verification link.
    pub token: String,
}

/// Input of `requestPasswordReset`.
#[derive(InputObject)]
pub struct RequestPasswordResetInput {
    /// The account's e-mail address. The answer is the same whether or not it exists.
    pub email: String,
}

/// Input of `resetPassword`.
#[derive(InputObject)]
pub struct ResetPasswordInput {
    /// The token from the reset link.
    pub token: String,
    /// The new password (same policy as registration).
    pub new_password: String,
}

/// Input of `suspendUser` and `reactivateUser`.
#[derive(InputObject)]
pub struct UserIdInput {
    /// The user's global ID.
    pub user_id: ID,
}

/// A tester's qualification outcome.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::QualificationStatus")]
pub enum QualificationStatus {
    /// Not yet assessed.
    Pending,
    /// May claim jobs.
    Qualified,
    /// Failed the assessment.
    Rejected,
    /// A stored value this API version does not know; never qualifies. Refused as input
    /// (`BAD_USER_INPUT`).
    Other,
}

/// How experienced a tester says they are.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::ExperienceLevel")]
pub enum ExperienceLevel {
    /// New to testing.
    Beginner,
    /// Some track record.
    Intermediate,
    /// Proven track record.
    Expert,
    /// A stored value this API version does not know. Refused as input (`BAD_USER_INPUT`).
    Other,
}

/// When a tester can work.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::Availability")]
pub enum Availability {
    /// Full time.
    FullTime,
    /// Part time.
    PartTime,
    /// Weekends only.
    Weekends,
    /// A stored value this API version does not know. Refused as input (`BAD_USER_INPUT`).
    Other,
}

/// Input of `setTesterQualification`.
#[derive(InputObject)]
pub struct SetTesterQualificationInput {
    /// The tester.
    pub user_id: ID,
    /// The outcome.
    pub status: QualificationStatus,
    /// Score from 0 to 100.
    pub score: Option<f64>,
}

/// Account queries.
#[derive(Default)]
pub struct AccountQuery;

/// Account queries.
#[Object]
impl AccountQuery {
    /// The signed-in user.
    #[graphql(guard = "SignedInUser")]
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let user = viewer(ctx).user()?;
        // Through the request's loader, so later fields that need the caller (their projects,
        // their marketplace role) reuse this read.
        crate::loaders::load_user(ctx, user.user_id)
            .await?
            .map(User::new)
            .ok_or_else(|| identity::IdentityError::UserNotFound.into())
    }

    /// The signed-in user's live sessions, most recently used first.
    #[graphql(guard = "SignedInUser")]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<Session>> {
        let principal = viewer(ctx).principal()?;
        let sessions = services(ctx).identity().list_sessions(principal).await?;
        connection_from_list(
            &page_request(first, after, last, before),
            sessions,
            Session::from,
        )
    }
}

/// Account mutations.
#[derive(Default)]
pub struct AccountMutation;

/// Account mutations.
#[Object]
impl AccountMutation {
    /// Creates a client or tester account and queues a verification e-mail. `RATE_LIMITED` past
    /// the limits per client address and per e-mail address.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> ApiResult<RegisterPayload> {
        let user = services(ctx)
            .identity()
            .register(
                identity::RegisterInput {
                    email: input.email,
                    password: input.password,
                    full_name: input.full_name,
                    role: input.role.into(),
                    profile: input.profile.map(Into::into),
                    client_data: input.client_data.map(Into::into),
                    tester_data: input.tester_data.map(Into::into),
                },
                &client_info(ctx, None),
            )
            .await?;
        Ok(RegisterPayload {
            user: User::own(user),
        })
    }

    /// Exchanges e-mail and password (and a second factor when enabled) for tokens.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> ApiResult<AuthPayload> {
        let second_factor = match (input.totp_code, input.recovery_code) {
            (Some(code), _) => Some(identity::SecondFactor::Totp(code)),
            (None, Some(code)) => Some(identity::SecondFactor::RecoveryCode(code)),
            (None, None) => None,
        };
        let tokens = services(ctx)
            .identity()
            .login(identity::LoginInput {
                email: input.email,
                password: input.password,
                second_factor,
                client: client_info(ctx, input.device_name),
            })
            .await?;
        Ok(AuthPayload { tokens })
    }

    /// Exchanges a refresh token for a new pair. Presenting a token that was already exchanged
    /// revokes the whole session (it was probably stolen).
    async fn refresh(&self, ctx: &Context<'_>, input: RefreshInput) -> ApiResult<AuthPayload> {
        let tokens = services(ctx)
            .identity()
            .refresh(&input.refresh_token, client_info(ctx, None))
            .await?;
        Ok(AuthPayload { tokens })
    }

    /// Ends the session of the access token used.
    #[graphql(guard = "SignedInUser")]
    async fn logout(&self, ctx: &Context<'_>, input: EmptyInput) -> ApiResult<SuccessPayload> {
        let principal = viewer(ctx).principal()?;
        services(ctx).identity().logout(principal).await?;
        Ok(SuccessPayload::done(input.client_mutation_id))
    }

    /// Changes the signed-in user's name, profile, role data or notification preferences.
    #[graphql(guard = "SignedInUser")]
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> ApiResult<UserPayload> {
        let principal = viewer(ctx).principal()?;
        let user = services(ctx)
            .identity()
            .update_profile(
                principal,
                identity::ProfileUpdate {
                    expected_version: None,
                    full_name: input.full_name,
                    profile: input.profile.map(Into::into),
                    client_data: input.client_data.map(Into::into),
                    tester_data: input.tester_data.map(Into::into),
                    notification_preferences: input.notification_preferences.map(|preferences| {
                        identity::NotificationPreferences {
                            email_new_job: preferences.email_new_job,
                            email_job_assigned: preferences.email_job_assigned,
                            email_submission_received: preferences.email_submission_received,
                            email_payment_received: preferences.email_payment_received,
                            email_rating_received: preferences.email_rating_received,
                            in_app_notifications: preferences.in_app_notifications,
                        }
                    }),
                },
            )
            .await?;
        Ok(UserPayload {
            user: User::new(user),
        })
    }

    /// Revokes one of the signed-in user's sessions (a lost phone, say).
    #[graphql(guard = "SignedInUser")]
    async fn revoke_session(
        &self,
        ctx: &Context<'_>,
        input: RevokeSessionInput,
    ) -> ApiResult<SuccessPayload> {
        let principal = viewer(ctx).principal()?;
        let session_id = GlobalId::decode_as(&input.session_id, NodeType::Session, "sessionId")?;
        services(ctx)
            .identity()
            .revoke_session(principal, session_id)
            .await?;
        Ok(SuccessPayload::done(None))
    }

    /// Confirms an e-mail address with the token from the verification e-mail.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        input: VerifyEmailInput,
    ) -> ApiResult<UserPayload> {
        let user = services(ctx).identity().verify_email(&input.token).await?;
        Ok(UserPayload {
            user: User::own(user),
        })
    }

    /// Queues a new verification e-mail for the signed-in user.
    #[graphql(guard = "SignedInUser")]
    async fn resend_verification_email(
        &self,
        ctx: &Context<'_>,
        input: EmptyInput,
    ) -> ApiResult<SuccessPayload> {
        let principal = viewer(ctx).principal()?;
        services(ctx)
            .identity()
            .resend_email_verification(principal)
            .await?;
        Ok(SuccessPayload::done(input.client_mutation_id))
    }

    /// Queues a password-reset e-mail. Answers the same, in the same time, whether or not the
    /// address exists. `RATE_LIMITED` past the limits per client address and per address.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        input: RequestPasswordResetInput,
    ) -> ApiResult<SuccessPayload> {
        services(ctx)
            .identity()
            .request_password_reset(&input.email, &client_info(ctx, None))
            .await?;
        Ok(SuccessPayload::done(None))
    }

    /// Sets a new password with the token from the reset e-mail; every session is revoked.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        input: ResetPasswordInput,
    ) -> ApiResult<SuccessPayload> {
        services(ctx)
            .identity()
            .reset_password(&input.token, &input.new_password)
            .await?;
        Ok(SuccessPayload::done(None))
    }

    /// Suspends a user: no login, existing tokens refused. Admins only.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn suspend_user(&self, ctx: &Context<'_>, input: UserIdInput) -> ApiResult<UserPayload> {
        let principal = viewer(ctx).principal()?;
        let user_id = GlobalId::decode_as(&input.user_id, NodeType::User, "userId")?;
        let user = services(ctx)
            .identity()
            .suspend_user(principal, user_id)
            .await?;
        Ok(UserPayload {
            user: User::new(user),
        })
    }

    /// Records a tester's qualification outcome; only QUALIFIED testers may claim jobs. Admins
    /// only.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn set_tester_qualification(
        &self,
        ctx: &Context<'_>,
        input: SetTesterQualificationInput,
    ) -> ApiResult<UserPayload> {
        let principal = viewer(ctx).principal()?;
        let user_id = GlobalId::decode_as(&input.user_id, NodeType::User, "userId")?;
        let status = input.status.into();
        let user = services(ctx)
            .identity()
            .set_tester_qualification(principal, user_id, status, input.score)
            .await?;
        Ok(UserPayload {
            user: User::new(user),
        })
    }

    /// Lifts a suspension. Admins only.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn reactivate_user(
        &self,
        ctx: &Context<'_>,
        input: UserIdInput,
    ) -> ApiResult<UserPayload> {
        let principal = viewer(ctx).principal()?;
        let user_id = GlobalId::decode_as(&input.user_id, NodeType::User, "userId")?;
        let user = services(ctx)
            .identity()
            .reactivate_user(principal, user_id)
            .await?;
        Ok(UserPayload {
            user: User::new(user),
        })
    }
}
