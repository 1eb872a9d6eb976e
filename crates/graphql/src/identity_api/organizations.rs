//! Organizations and partner API keys: create, the organization query with its members
//! connection, invitations (sent, accepted or declined by the invitee, revoked), membership
//! changes, and API keys (created with their secret shown once, listed, revoked).

use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;

use super::types::User;
use crate::error::{ApiError, ApiResult};
use crate::loaders::load_user;
use crate::relay::{connection_from_list, page_request, GlobalId, ListConnection, NodeType};
use crate::scalars::DateTime;
use crate::viewer::{viewer, Authenticated, HasRole, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// A member's role within an organization.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::OrganizationRole")]
pub enum OrganizationRole {
    /// Full control, including ownership changes.
    Owner,
    /// Manages members (except owners) and API keys.
    Admin,
    /// Uses the organization's projects.
    Member,
}

/// Billing plan; decides the limits.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::OrganizationPlan")]
pub enum OrganizationPlan {
    /// Small teams.
    Team,
    /// Large companies.
    Enterprise,
}

/// Organization status.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::OrganizationStatus")]
pub enum OrganizationStatus {
    /// In good standing.
    Active,
    /// Blocked by the platform; its API keys stop working.
    Suspended,
    /// On a trial.
    #[graphql(
        deprecation = "Trials are not offered: no organization is ever in this state and `suspendOrganization`/`reactivateOrganization` never set it."
    )]
    Trial,
}

/// What a partner API key may do.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::ApiKeyScope")]
pub enum ApiKeyScope {
    /// Queries only; every mutation is refused.
    Read,
    /// Queries and mutations.
    ReadWrite,
    /// Queries and schema introspection (`__schema`, `__type`), for code generators; every
    /// mutation is refused. In production only such keys may introspect (unless configured
    /// otherwise).
    Introspect,
}

/// The plan's limits. Members are enforced now; projects and jobs by the marketplace.
#[derive(SimpleObject)]
pub struct OrganizationLimits {
    /// Most members.
    pub max_members: i64,
    /// Most jobs open at once.
    pub max_concurrent_jobs: i64,
    /// Most projects.
    pub max_projects: i64,
}

/// Usage counters; `memberCount` always equals the number of members.
#[derive(SimpleObject)]
pub struct OrganizationUsage {
    /// Current members.
    pub member_count: i64,
    /// Jobs open, in progress or in review (counted against `maxConcurrentJobs`).
    pub active_jobs_count: i64,
    /// Active and draft projects (counted against `maxProjects`).
    pub projects_count: i64,
}

/// One membership.
pub struct OrganizationMember(identity::OrganizationMember);

/// One membership of an organization.
#[Object]
impl OrganizationMember {
    /// The member's role.
    async fn role(&self) -> OrganizationRole {
        self.0.role.into()
    }
    /// When they joined.
    async fn joined_at(&self) -> DateTime {
        self.0.joined_at.into()
    }
    /// The member's e-mail address (members of one organization see each other's).
    async fn email(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        Ok(load_user(ctx, self.0.user_id)
            .await?
            .map(|user| user.email.clone()))
    }
    /// The member.
    async fn user(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.user_id).await?.map(User::new))
    }
}

/// A team of clients sharing projects, plan limits and API keys.
pub struct Organization(pub identity::Organization);

/// A team of clients sharing projects, plan limits and API keys.
#[Object]
impl Organization {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Organization, self.0.id)
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Unique URL identifier.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// Description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Website.
    async fn website(&self) -> Option<&str> {
        self.0.website.as_deref()
    }
    /// Industry.
    async fn industry(&self) -> Option<&str> {
        self.0.industry.as_deref()
    }
    /// Company size.
    async fn size(&self) -> Option<&str> {
        self.0.size.as_deref()
    }
    /// Plan.
    async fn plan(&self) -> OrganizationPlan {
        self.0.plan.into()
    }
    /// Status.
    async fn status(&self) -> OrganizationStatus {
        self.0.status.into()
    }
    /// Plan limits.
    async fn limits(&self) -> OrganizationLimits {
        let limits = self.0.limits;
        OrganizationLimits {
            max_members: limits.max_members,
            max_concurrent_jobs: limits.max_concurrent_jobs,
            max_projects: limits.max_projects,
        }
    }
    /// Settings the marketplace enforces on the organization's jobs.
    async fn settings(&self) -> OrganizationSettings {
        OrganizationSettings {
            require_approval_for_jobs: self.0.settings.require_approval_for_jobs,
            allow_external_testers: self.0.settings.allow_external_testers,
        }
    }
    /// Usage counters: members from the organization, projects and running jobs from the
    /// marketplace's counters behind the plan limits.
    async fn usage(&self, ctx: &Context<'_>) -> ApiResult<OrganizationUsage> {
        let counted = crate::loaders::load(
            ctx,
            crate::loaders::OrganizationUsageLoader(services(ctx).clone()),
            self.0.id,
        )
        .await?
        .unwrap_or(marketplace::OrganizationUsageCounts {
            projects_count: 0,
            active_jobs_count: 0,
        });
        Ok(OrganizationUsage {
            member_count: self.0.usage.member_count,
            active_jobs_count: counted.active_jobs_count,
            projects_count: counted.projects_count,
        })
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// The projects made for this organization, newest first. Its members (and API keys) and
    /// platform admins only; anyone else gets `FORBIDDEN`.
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<crate::marketplace_api::types::Project>> {
        crate::marketplace_api::projects::projects_of_organization(
            ctx, self.0.id, first, after, last, before,
        )
        .await
    }
    /// The jobs made for this organization, drafts included, newest first. Its members (and API
    /// keys) and platform admins only; anyone else gets `FORBIDDEN`.
    #[graphql(complexity = "crate::relay::page_cost(first, last, child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<crate::marketplace_api::types::Job>> {
        crate::marketplace_api::jobs::jobs_of_organization(
            ctx, self.0.id, first, after, last, before,
        )
        .await
    }
    /// The viewer's role here, if the viewer is a member.
    async fn viewer_role(&self, ctx: &Context<'_>) -> Option<OrganizationRole> {
        let user = viewer(ctx).user().ok()?;
        self.0.member(user.user_id).map(|member| member.role.into())
    }
    /// Members, in the order they joined.
    async fn members(
        &self,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<OrganizationMember>> {
        connection_from_list(
            &page_request(first, after, last, before),
            self.0.members.clone(),
            OrganizationMember,
        )
    }
    /// The organization's API keys, newest first. Owners and admins only.
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<ApiKey>> {
        let principal = viewer(ctx).principal()?;
        let keys = services(ctx)
            .identity()
            .list_api_keys(principal, self.0.id)
            .await?;
        connection_from_list(&page_request(first, after, last, before), keys, ApiKey)
    }
    /// Pending, unexpired invitations, newest first. Owners and admins only (`FORBIDDEN` for
    /// others).
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<ListConnection<OrganizationInvitation>> {
        let principal = viewer(ctx).principal()?;
        let invitations = services(ctx)
            .identity()
            .pending_organization_invitations(principal, self.0.id)
            .await?;
        connection_from_list(
            &page_request(first, after, last, before),
            invitations,
            OrganizationInvitation,
        )
    }
}

/// Where an invitation is in its life.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::InvitationStatus")]
pub enum InvitationStatus {
    /// Sent, not yet answered (see `expiresAt`).
    Pending,
    /// The invitee accepted and became a member.
    Accepted,
    /// The invitee declined.
    Declined,
    /// An owner or admin withdrew it.
    Revoked,
}

/// An invitation to join an organization, as its organization's owners and admins and the
/// invitee see it. It names an address, never an account: whether the address has one is not
/// shown.
pub struct OrganizationInvitation(pub identity::OrganizationInvitation);

/// An invitation to join an organization. It names an address, never an account.
#[Object]
impl OrganizationInvitation {
    /// Global ID.
    async fn id(&self) -> ID {
        GlobalId::encode(NodeType::OrganizationInvitation, self.0.id)
    }
    /// The invited address (normalized).
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// The role the invitee gets on accepting.
    async fn role(&self) -> OrganizationRole {
        self.0.role.into()
    }
    /// Where it is in its life.
    async fn status(&self) -> InvitationStatus {
        self.0.status.into()
    }
    /// The organization's name (the invitee cannot read the organization before joining).
    async fn organization_name(&self) -> &str {
        &self.0.organization_name
    }
    /// Display name of whoever sent it last.
    async fn invited_by_name(&self) -> &str {
        &self.0.invited_by_name
    }
    /// When it was first sent.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When it can no longer be accepted.
    async fn expires_at(&self) -> DateTime {
        self.0.expires_at.into()
    }
}

/// The organization `id` if the viewer may see it; `None` (not an error) otherwise, so that a
/// user's `organization` field does not fail for outsiders.
pub async fn visible_organization(
    ctx: &Context<'_>,
    organization_id: ObjectId,
) -> ApiResult<Option<Organization>> {
    let Ok(principal) = viewer(ctx).principal() else {
        return Ok(None);
    };
    match services(ctx)
        .identity()
        .organization_for(principal, organization_id)
        .await
    {
        Ok(organization) => Ok(Some(Organization(organization))),
        Err(identity::IdentityError::OrganizationNotFound) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// A partner API key as listed: never its secret.
pub struct ApiKey(pub identity::ApiKey);

/// A partner API key as listed: never its secret.
#[Object]
impl ApiKey {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::ApiKey, self.0.id)
    }
    /// Label chosen by its creator.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The first characters of the key, to recognise it.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    /// What the key may do.
    async fn scope(&self) -> ApiKeyScope {
        self.0.scope.into()
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// Last successful use.
    async fn last_used_at(&self) -> Option<DateTime> {
        self.0.last_used_at.map(Into::into)
    }
    /// When it was revoked; a revoked key no longer authenticates.
    async fn revoked_at(&self) -> Option<DateTime> {
        self.0.revoked_at.map(Into::into)
    }
    /// When it stops authenticating on its own; null: never.
    async fn expires_at(&self) -> Option<DateTime> {
        self.0.expires_at.map(Into::into)
    }
    /// Who created it. The key only works while they can still manage the organization and are
    /// not suspended.
    async fn created_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(crate::loaders::load_user(ctx, self.0.created_by_id)
            .await?
            .map(User::new))
    }
}

/// Input of `createOrganization`.
#[derive(InputObject)]
pub struct CreateOrganizationInput {
    /// Display name.
    pub name: String,
    /// Unique slug: lower-case letters, digits and dashes.
    pub slug: String,
    /// Description.
    pub description: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// `1-10`, `11-50`, `51-200`, `201-1000` or `1000+`.
    pub size: Option<String>,
    /// Plan; `TEAM` when omitted.
    pub plan: Option<OrganizationPlan>,
    /// Billing e-mail address.
    pub billing_email: Option<String>,
}

/// Settings the marketplace enforces on an organization's jobs.
#[derive(SimpleObject)]
pub struct OrganizationSettings {
    /// Only owners and admins publish the organization's jobs; members write drafts. When
    /// false, any member may publish (paying with their own saved card).
    pub require_approval_for_jobs: bool,
    /// The organization's jobs may be `PUBLIC`. When false every job must be `PRIVATE` or
    /// `INVITED_ONLY` (creating or publishing a public one is `BAD_USER_INPUT` on `visibility`),
    /// so only invited testers may claim; jobs already open keep their visibility.
    pub allow_external_testers: bool,
}

/// Settings to change; each one left out is kept.
#[derive(InputObject, Default)]
pub struct OrganizationSettingsInput {
    /// See `OrganizationSettings.requireApprovalForJobs`.
    pub require_approval_for_jobs: Option<bool>,
    /// See `OrganizationSettings.allowExternalTesters`.
    pub allow_external_testers: Option<bool>,
}

/// Input of `updateOrganization`.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// New display name, 1 to 200 characters.
    pub name: Option<String>,
    /// Settings to change.
    pub settings: Option<OrganizationSettingsInput>,
}

/// Input of `suspendOrganization` and `reactivateOrganization`.
#[derive(InputObject)]
pub struct OrganizationIdInput {
    /// The organization's global ID.
    pub organization_id: ID,
}

/// Result of the organization mutations.
#[derive(SimpleObject)]
pub struct OrganizationPayload {
    /// The organization after the change.
    pub organization: Organization,
}

/// Input of the deprecated `addOrganizationMember`: an e-mail address to invite. `userId` is
/// refused (adding someone by id, without their consent, is what it no longer does).
#[derive(InputObject)]
pub struct AddOrganizationMemberInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// Refused with `BAD_USER_INPUT`: invite by `email` instead.
    pub user_id: Option<ID>,
    /// The address to invite.
    pub email: Option<String>,
    /// The role they get on accepting; `MEMBER` when omitted.
    pub role: Option<OrganizationRole>,
}

/// Input of `inviteOrganizationMember`.
#[derive(InputObject)]
pub struct InviteOrganizationMemberInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// The address to invite (at most 254 characters).
    pub email: String,
    /// The role they get on accepting; `MEMBER` when omitted. `OWNER` needs an owner.
    pub role: Option<OrganizationRole>,
}

/// Result of the invitation mutations.
#[derive(SimpleObject)]
pub struct OrganizationInvitationPayload {
    /// The invitation after the change.
    pub invitation: OrganizationInvitation,
}

/// Input of `acceptOrganizationInvitation`.
#[derive(InputObject)]
pub struct AcceptOrganizationInvitationInput {
    /// The token from the invitation e-mail's link.
    pub token: String,
}

/// Input of `declineOrganizationInvitation`: the e-mail's token or the invitation's ID (as
/// listed in `me.organizationInvitations`), exactly one.
#[derive(InputObject)]
pub struct DeclineOrganizationInvitationInput {
    /// The token from the invitation e-mail's link.
    pub token: Option<String>,
    /// The invitation's global ID.
    pub invitation_id: Option<ID>,
}

/// Input of `revokeOrganizationInvitation`.
#[derive(InputObject)]
pub struct RevokeOrganizationInvitationInput {
    /// The invitation's global ID.
    pub invitation_id: ID,
}

/// Input of `removeOrganizationMember`.
#[derive(InputObject)]
pub struct RemoveOrganizationMemberInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// The member's user global ID.
    pub user_id: ID,
}

/// Input of `changeOrganizationMemberRole`.
#[derive(InputObject)]
pub struct ChangeOrganizationMemberRoleInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// The member's user global ID.
    pub user_id: ID,
    /// The new role.
    pub role: OrganizationRole,
}

/// Input of `createApiKey`.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// The organization the key acts for.
    pub organization_id: ID,
    /// A label, e.g. "CI pipeline".
    pub name: String,
    /// What the key may do.
    pub scope: ApiKeyScope,
    /// When the key stops working; at most 366 days ahead. Omitted: it works until revoked.
    pub expires_at: Option<DateTime>,
}

/// Result of `createApiKey`.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CreateApiKeyPayload {
    /// The stored key.
    pub api_key: ApiKey,
    #[graphql(skip)]
    raw_key: String,
}

#[ComplexObject]
impl CreateApiKeyPayload {
    /// The secret to send as `Authorization: Bearer <secret>`. Shown this once only; only its
    /// hash is stored.
    async fn secret(&self) -> &str {
        &self.raw_key
    }
}

/// Input of `revokeApiKey`.
#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    /// The key's global ID.
    pub api_key_id: ID,
}

/// Result of `revokeApiKey`.
#[derive(SimpleObject)]
pub struct ApiKeyPayload {
    /// The key after the change.
    pub api_key: ApiKey,
}

/// Sends an invitation as the viewer (shared by `inviteOrganizationMember` and the deprecated
/// `addOrganizationMember`, so both do exactly the same work).
async fn invite(
    ctx: &Context<'_>,
    organization_id: ObjectId,
    email: String,
    role: Option<OrganizationRole>,
) -> ApiResult<identity::OrganizationInvitation> {
    let principal = viewer(ctx).principal()?;
    Ok(services(ctx)
        .identity()
        .invite_organization_member(
            principal,
            identity::InviteMemberInput {
                organization_id,
                email,
                role: role.map_or(identity::OrganizationRole::Member, Into::into),
            },
        )
        .await?)
}

/// Organization queries.
#[derive(Default)]
pub struct OrganizationQuery;

/// Organization queries.
#[Object]
impl OrganizationQuery {
    /// An organization the viewer belongs to (or any, for admins; its own, for an API key).
    /// `NOT_FOUND` when it does not exist or is not visible.
    #[graphql(guard = "Authenticated")]
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Organization> {
        let principal = viewer(ctx).principal()?;
        let organization_id = GlobalId::decode_as(&id, NodeType::Organization, "id")?;
        let organization = services(ctx)
            .identity()
            .organization_for(principal, organization_id)
            .await?;
        Ok(Organization(organization))
    }
}

/// Organization and API key mutations.
#[derive(Default)]
pub struct OrganizationMutation;

/// Organization and API key mutations.
#[Object]
impl OrganizationMutation {
    /// Creates an organization; the caller becomes its owner. Clients and admins only.
    #[graphql(guard = "SignedInUser")]
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> ApiResult<OrganizationPayload> {
        let principal = viewer(ctx).principal()?;
        let organization = services(ctx)
            .identity()
            .create_organization(
                principal,
                identity::CreateOrganizationInput {
                    name: input.name,
                    slug: input.slug,
                    description: input.description,
                    website: input.website,
                    industry: input.industry,
                    size: input.size,
                    plan: input
                        .plan
                        .map_or(identity::OrganizationPlan::Team, Into::into),
                    billing_email: input.billing_email,
                },
            )
            .await?;
        Ok(OrganizationPayload {
            organization: Organization(organization),
        })
    }

    /// Changes an organization's name or settings. Owners and admins of the organization (and
    /// platform admins); API keys are refused. The settings are enforced on the organization's
    /// jobs from the next request on (see `OrganizationSettings`).
    #[graphql(guard = "SignedInUser")]
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> ApiResult<OrganizationPayload> {
        let principal = viewer(ctx).principal()?;
        let organization_id = GlobalId::decode_as(
            &input.organization_id,
            NodeType::Organization,
            "organizationId",
        )?;
        let settings = input.settings.unwrap_or_default();
        let organization = services(ctx)
            .identity()
            .update_organization(
                principal,
                organization_id,
                identity::OrganizationUpdate {
                    name: input.name,
                    require_approval_for_jobs: settings.require_approval_for_jobs,
                    allow_external_testers: settings.allow_external_testers,
                },
            )
            .await?;
        Ok(OrganizationPayload {
            organization: Organization(organization),
        })
    }

    /// Suspends an organization: its members can no longer create or publish jobs (jobs
    /// already running go on, so testers and their pay are not stranded) and its API keys are
    /// refused. Platform admins only.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn suspend_organization(
        &self,
        ctx: &Context<'_>,
        input: OrganizationIdInput,
    ) -> ApiResult<OrganizationPayload> {
        set_status(ctx, &input, identity::OrganizationStatus::Suspended).await
    }

    /// Lifts an organization's suspension. Platform admins only.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn reactivate_organization(
        &self,
        ctx: &Context<'_>,
        input: OrganizationIdInput,
    ) -> ApiResult<OrganizationPayload> {
        set_status(ctx, &input, identity::OrganizationStatus::Active).await
    }

    /// Invites an e-mail address to the organization; the person joins only when they accept.
    /// Owners and admins only; inviting an `OWNER` needs an owner; API keys are refused. The
    /// answer is the same whether or not the address has an account. Inviting a pending address
    /// again sends a fresh link (the old one stops working). At most 50 invitations per
    /// organization per day (`RATE_LIMITED`).
    #[graphql(guard = "Authenticated")]
    async fn invite_organization_member(
        &self,
        ctx: &Context<'_>,
        input: InviteOrganizationMemberInput,
    ) -> ApiResult<OrganizationInvitationPayload> {
        let organization_id = GlobalId::decode_as(
            &input.organization_id,
            NodeType::Organization,
            "organizationId",
        )?;
        let invitation = invite(ctx, organization_id, input.email, input.role).await?;
        Ok(OrganizationInvitationPayload {
            invitation: OrganizationInvitation(invitation),
        })
    }

    /// Accepts an invitation with the token from its e-mail and joins the organization. The
    /// caller's confirmed e-mail address must be the invited one (`NOT_FOUND` otherwise, as for
    /// an unknown token); an expired, revoked or already answered invitation is `CONFLICT`.
    #[graphql(guard = "SignedInUser")]
    async fn accept_organization_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptOrganizationInvitationInput,
    ) -> ApiResult<OrganizationPayload> {
        let principal = viewer(ctx).principal()?;
        let organization = services(ctx)
            .identity()
            .accept_organization_invitation(principal, &input.token)
            .await?;
        Ok(OrganizationPayload {
            organization: Organization(organization),
        })
    }

    /// Declines an invitation addressed to the caller's confirmed e-mail address.
    #[graphql(guard = "SignedInUser")]
    async fn decline_organization_invitation(
        &self,
        ctx: &Context<'_>,
        input: DeclineOrganizationInvitationInput,
    ) -> ApiResult<OrganizationInvitationPayload> {
        let principal = viewer(ctx).principal()?;
        let reference = match (input.token, input.invitation_id) {
            (Some(token), None) => identity::InvitationReference::Token(token),
            (None, Some(id)) => identity::InvitationReference::Id(GlobalId::decode_as(
                &id,
                NodeType::OrganizationInvitation,
                "invitationId",
            )?),
            _ => {
                return Err(ApiError::bad_input(
                    "invitationId",
                    "give exactly one of token and invitationId",
                ))
            }
        };
        let invitation = services(ctx)
            .identity()
            .decline_organization_invitation(principal, reference)
            .await?;
        Ok(OrganizationInvitationPayload {
            invitation: OrganizationInvitation(invitation),
        })
    }

    /// Revokes a pending invitation; its link stops working. Owners and admins only.
    #[graphql(guard = "Authenticated")]
    async fn revoke_organization_invitation(
        &self,
        ctx: &Context<'_>,
        input: RevokeOrganizationInvitationInput,
    ) -> ApiResult<OrganizationInvitationPayload> {
        let principal = viewer(ctx).principal()?;
        let invitation_id = GlobalId::decode_as(
            &input.invitation_id,
            NodeType::OrganizationInvitation,
            "invitationId",
        )?;
        let invitation = services(ctx)
            .identity()
            .revoke_organization_invitation(principal, invitation_id)
            .await?;
        Ok(OrganizationInvitationPayload {
            invitation: OrganizationInvitation(invitation),
        })
    }

    /// Invites `email` exactly like `inviteOrganizationMember` and returns the organization
    /// unchanged: nobody becomes a member without accepting. `userId` is refused.
    #[graphql(
        guard = "Authenticated",
        deprecation = "adds no one without consent any more: use inviteOrganizationMember; the invitee joins by accepting"
    )]
    async fn add_organization_member(
        &self,
        ctx: &Context<'_>,
        input: AddOrganizationMemberInput,
    ) -> ApiResult<OrganizationPayload> {
        let principal = viewer(ctx).principal()?;
        let organization_id = GlobalId::decode_as(
            &input.organization_id,
            NodeType::Organization,
            "organizationId",
        )?;
        if input.user_id.is_some() {
            return Err(ApiError::bad_input(
                "userId",
                "members can no longer be added by id: invite their e-mail address with inviteOrganizationMember",
            ));
        }
        let Some(email) = input.email else {
            return Err(ApiError::bad_input("email", "give the address to invite"));
        };
        invite(ctx, organization_id, email, input.role).await?;
        let organization = services(ctx)
            .identity()
            .organization_for(principal, organization_id)
            .await?;
        Ok(OrganizationPayload {
            organization: Organization(organization),
        })
    }

    /// Removes a member. Owners and admins only; the last owner cannot be removed.
    #[graphql(guard = "Authenticated")]
    async fn remove_organization_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveOrganizationMemberInput,
    ) -> ApiResult<OrganizationPayload> {
        let principal = viewer(ctx).principal()?;
        let organization_id = GlobalId::decode_as(
            &input.organization_id,
            NodeType::Organization,
            "organizationId",
        )?;
        let user_id = GlobalId::decode_as(&input.user_id, NodeType::User, "userId")?;
        let organization = services(ctx)
            .identity()
            .remove_organization_member(principal, organization_id, user_id)
            .await?;
        Ok(OrganizationPayload {
            organization: Organization(organization),
        })
    }

    /// Changes a member's role. Owners and admins only; ownership changes need an owner.
    #[graphql(guard = "Authenticated")]
    async fn change_organization_member_role(
        &self,
        ctx: &Context<'_>,
        input: ChangeOrganizationMemberRoleInput,
    ) -> ApiResult<OrganizationPayload> {
        let principal = viewer(ctx).principal()?;
        let organization_id = GlobalId::decode_as(
            &input.organization_id,
            NodeType::Organization,
            "organizationId",
        )?;
        let user_id = GlobalId::decode_as(&input.user_id, NodeType::User, "userId")?;
        let organization = services(ctx)
            .identity()
            .change_organization_member_role(principal, organization_id, user_id, input.role.into())
            .await?;
        Ok(OrganizationPayload {
            organization: Organization(organization),
        })
    }

    /// Creates an API key for an organization; the secret is in the payload, once. Owners and
    /// admins only.
    #[graphql(guard = "SignedInUser")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> ApiResult<CreateApiKeyPayload> {
        let principal = viewer(ctx).principal()?;
        let organization_id = GlobalId::decode_as(
            &input.organization_id,
            NodeType::Organization,
            "organizationId",
        )?;
        let created = services(ctx)
            .identity()
            .create_api_key(
                principal,
                organization_id,
                &input.name,
                input.scope.into(),
                input.expires_at.map(|at| at.0),
            )
            .await?;
        Ok(CreateApiKeyPayload {
            api_key: ApiKey(created.api_key),
            raw_key: created.raw_key,
        })
    }

    /// Revokes an API key. Owners and admins of its organization only.
    #[graphql(guard = "SignedInUser")]
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> ApiResult<ApiKeyPayload> {
        let principal = viewer(ctx).principal()?;
        let api_key_id = GlobalId::decode_as(&input.api_key_id, NodeType::ApiKey, "apiKeyId")?;
        let api_key = services(ctx)
            .identity()
            .revoke_api_key(principal, api_key_id)
            .await?;
        Ok(ApiKeyPayload {
            api_key: ApiKey(api_key),
        })
    }
}

async fn set_status(
    ctx: &Context<'_>,
    input: &OrganizationIdInput,
    status: identity::OrganizationStatus,
) -> ApiResult<OrganizationPayload> {
    let principal = viewer(ctx).principal()?;
    let organization_id = GlobalId::decode_as(
        &input.organization_id,
        NodeType::Organization,
        "organizationId",
    )?;
    let organization = services(ctx)
        .identity()
        .set_organization_status(principal, organization_id, status)
        .await?;
    Ok(OrganizationPayload {
        organization: Organization(organization),
    })
}
