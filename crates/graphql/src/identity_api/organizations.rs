//! Organizations and partner API keys: create, the organization query with its members
//! connection, membership changes, and API keys (created with their secret shown once, listed,
//! revoked).

use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;

use super::types::User;
use crate::error::{ApiError, ApiResult};
use crate::loaders::load_user;
use crate::relay::{connection_from_list, page_request, GlobalId, ListConnection, NodeType};
use crate::scalars::DateTime;
use crate::viewer::{viewer, Authenticated, SignedInUser};
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
    /// Jobs currently open.
    pub active_jobs_count: i64,
    /// Projects.
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
        Ok(load_user(ctx, self.0.user_id).await?.map(|user| user.email))
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
    /// Usage counters.
    async fn usage(&self) -> OrganizationUsage {
        let usage = self.0.usage;
        OrganizationUsage {
            member_count: usage.member_count,
            active_jobs_count: usage.active_jobs_count,
            projects_count: usage.projects_count,
        }
    }
    /// When it was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
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
pub struct ApiKey(identity::ApiKey);

/// A partner API key as listed: never its secret.
#[Object]
impl ApiKey {
    /// Global ID.
    async fn id(&self) -> ID {
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

/// Result of the organization mutations.
#[derive(SimpleObject)]
pub struct OrganizationPayload {
    /// The organization after the change.
    pub organization: Organization,
}

/// Input of `addOrganizationMember`: the user by ID or by e-mail.
#[derive(InputObject)]
pub struct AddOrganizationMemberInput {
    /// The organization's global ID.
    pub organization_id: ID,
    /// The user's global ID (or give `email`).
    pub user_id: Option<ID>,
    /// The user's e-mail address (or give `userId`).
    pub email: Option<String>,
    /// Their role; `MEMBER` when omitted.
    pub role: Option<OrganizationRole>,
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

    /// Adds an existing user. Owners and admins only; granting ownership needs an owner.
    /// `CONFLICT` when the plan's member limit is reached.
    #[graphql(guard = "Authenticated")]
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
        let member = match (input.user_id, input.email) {
            (Some(user_id), _) => identity::MemberReference::UserId(GlobalId::decode_as(
                &user_id,
                NodeType::User,
                "userId",
            )?),
            (None, Some(email)) => identity::MemberReference::Email(email),
            (None, None) => return Err(ApiError::bad_input("userId", "give userId or email")),
        };
        let organization = services(ctx)
            .identity()
            .add_organization_member(
                principal,
                identity::AddMemberInput {
                    organization_id,
                    member,
                    role: input
                        .role
                        .map_or(identity::OrganizationRole::Member, Into::into),
                },
            )
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
