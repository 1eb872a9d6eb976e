//! Who the marketplace sees: the request's [`Viewer`](crate::Viewer) turned into a marketplace
//! [`Actor`], a tester's [`TesterProfile`] and the owner's [`OrganizationLimits`], all built from
//! identity records loaded through the request's user loader (so they cost no extra command when
//! the same request already loaded the user).

use async_graphql::Context;
use bson::oid::ObjectId;
use marketplace::{
    Actor, ActorRole, ExperienceLevel, OrgRole, OrganizationLimits, OrganizationRules,
    PayerStanding, PaymentSource, TesterProfile,
};

use crate::error::{ApiError, ApiResult};
use crate::loaders::load_user;
use crate::viewer::viewer;
use crate::Services;

/// The caller as the marketplace sees it.
///
/// A signed-in user acts as themself, with their organization and role in it. A partner API key
/// acts as a member of its organization with no user of its own (its id never matches a client),
/// so it may read what the organization owns; creating things needs a signed-in user.
pub async fn actor(ctx: &Context<'_>) -> ApiResult<Actor> {
    match viewer(ctx).principal()? {
        identity::Principal::User(user) => {
            let record = require_user(ctx, user.user_id).await?;
            let mut actor = actor_of(&record);
            if let Some((organization_id, _)) = actor.organization {
                // Boxed: `actor` is awaited inside most resolvers, so its future stays small.
                actor.organization_rules =
                    Box::pin(organization_rules(ctx, organization_id)).await?;
            }
            Ok(actor)
        }
        identity::Principal::ApiKey(key) => Ok(Actor {
            user_id: key.api_key_id,
            role: ActorRole::Client,
            organization: Some((key.organization_id, OrgRole::Member)),
            organization_rules: Box::pin(organization_rules(ctx, key.organization_id)).await?,
        }),
    }
}

/// The marketplace's view of an organization's settings and standing (identity's
/// `require_approval_for_jobs`, `allow_external_testers` and status).
async fn organization_rules(
    ctx: &Context<'_>,
    organization_id: ObjectId,
) -> ApiResult<OrganizationRules> {
    let services = ctx.data_unchecked::<Services>();
    let loader = crate::loaders::OrganizationLoader(services.clone());
    Ok(
        match crate::loaders::load(ctx, loader, organization_id).await? {
            Some(organization) => OrganizationRules {
                members_may_publish: !organization.settings.require_approval_for_jobs,
                external_testers_allowed: organization.settings.allow_external_testers,
                suspended: organization.status == identity::OrganizationStatus::Suspended,
            },
            None => OrganizationRules::default(),
        },
    )
}

/// The marketplace actor for an identity user record, with default organization rules (the
/// caller fills them in from the organization).
pub fn actor_of(user: &identity::User) -> Actor {
    let role = match user.role {
        identity::Role::Client => ActorRole::Client,
        identity::Role::Tester => ActorRole::Tester,
        identity::Role::Admin => ActorRole::Admin,
    };
    let organization = user.organization_id.map(|id| {
        let role = match user.organization_role {
            Some(identity::OrganizationRole::Owner) => OrgRole::Owner,
            Some(identity::OrganizationRole::Admin) => OrgRole::Admin,
            Some(identity::OrganizationRole::Member) | None => OrgRole::Member,
        };
        (id, role)
    });
    Actor {
        user_id: user.id,
        role,
        organization,
        organization_rules: OrganizationRules::default(),
    }
}

/// The signed-in tester's qualifications; FORBIDDEN for anyone else.
pub async fn tester_profile(ctx: &Context<'_>) -> ApiResult<TesterProfile> {
    let user = viewer(ctx).user()?;
    let record = require_user(ctx, user.user_id).await?;
    tester_profile_of(&record)
        .ok_or_else(|| ApiError::Forbidden("only testers may do this".to_string()))
}

/// A tester's profile from their identity record; `None` for non-testers.
///
/// Identity keeps devices and browsers but no operating systems; a tester's systems are read off
/// their devices (an "iPhone" runs iOS, a "Windows 11 PC" Windows), which is what the seed's
/// device names carry.
pub fn tester_profile_of(user: &identity::User) -> Option<TesterProfile> {
    if user.role != identity::Role::Tester {
        return None;
    }
    let data = user.tester_data.clone().unwrap_or_default();
    let experience_level = match data.experience_level {
        Some(identity::ExperienceLevel::Expert) => ExperienceLevel::Expert,
        Some(identity::ExperienceLevel::Intermediate) => ExperienceLevel::Intermediate,
        Some(identity::ExperienceLevel::Beginner | identity::ExperienceLevel::Other) | None => {
            ExperienceLevel::Beginner
        }
    };
    let os = TesterProfile::operating_systems_of(&data.devices);
    Some(TesterProfile {
        tester_id: user.id,
        experience_level,
        qualified: data.qualification_status == Some(identity::QualificationStatus::Qualified),
        qualification_expires_at: data.qualification_expires_at,
        devices: data.devices,
        browsers: data.browsers,
        os,
    })
}

/// The project and concurrent-job limits that apply to what `actor` creates: their
/// organization's plan limits, or for an individual client the limits of their membership tier.
pub async fn limits_for(ctx: &Context<'_>, actor: &Actor) -> ApiResult<OrganizationLimits> {
    limits_of_owner(ctx, actor.organization.map(|(id, _)| id), actor.user_id).await
}

/// The limits of whoever owns something: its organization's plan limits, or for an individual
/// client the limits of their membership tier (an admin acting on a client's job is held to the
/// client's limits, not their own).
pub async fn limits_of_owner(
    ctx: &Context<'_>,
    organization_id: Option<ObjectId>,
    client_id: ObjectId,
) -> ApiResult<OrganizationLimits> {
    let services = ctx.data_unchecked::<Services>();
    if let Some(organization_id) = organization_id {
        if let Some(organization) = services.identity().organization(organization_id).await? {
            let limits = organization.limits;
            return Ok(OrganizationLimits {
                max_projects: u32::try_from(limits.max_projects.max(0)).unwrap_or(u32::MAX),
                max_concurrent_jobs: u32::try_from(limits.max_concurrent_jobs.max(0))
                    .unwrap_or(u32::MAX),
            });
        }
    }
    let tier = load_user(ctx, client_id)
        .await?
        .and_then(|user| user.client_data.as_ref()?.membership_tier);
    let (max_projects, max_concurrent_jobs) =
        tier.unwrap_or(identity::MembershipTier::Starter).limits();
    Ok(OrganizationLimits {
        max_projects,
        max_concurrent_jobs,
    })
}

/// Whether the caller's account is active and its e-mail verified; a partner API key has no
/// account of its own, so it never is.
async fn caller_verified(ctx: &Context<'_>) -> ApiResult<bool> {
    match viewer(ctx).principal()? {
        identity::Principal::User(user) => {
            let record = require_user(ctx, user.user_id).await?;
            Ok(record.email_verified && record.status == identity::UserStatus::Active)
        }
        identity::Principal::ApiKey(_) => Ok(false),
    }
}

/// What the marketplace's money rules need to know about a money step on something owned by
/// `client_id` (and `organization_id`): whether the caller may move money, and when the paying
/// account (the organization, or the client) was created.
pub async fn payer_standing(
    ctx: &Context<'_>,
    organization_id: Option<ObjectId>,
    client_id: ObjectId,
) -> ApiResult<PayerStanding> {
    let caller_verified = caller_verified(ctx).await?;
    let services = ctx.data_unchecked::<Services>();
    let organization_created = match organization_id {
        Some(id) => services
            .identity()
            .organization(id)
            .await?
            .map(|organization| organization.created_at),
        None => None,
    };
    let account_created_at = match organization_created {
        Some(created) => created,
        None => {
            load_user(ctx, client_id)
                .await?
                .ok_or_else(|| ApiError::NotFound("job not found".into()))?
                .created_at
        }
    };
    Ok(PayerStanding {
        caller_verified,
        account_created_at,
    })
}

/// The caller's standing for a money step that reserves nothing (approve, release, refund); the
/// domain call refuses it unless the caller is active and verified.
pub async fn caller_standing(ctx: &Context<'_>) -> ApiResult<PayerStanding> {
    Ok(PayerStanding::of_caller(caller_verified(ctx).await?))
}

/// What publishing a job owned by `client_id` charges, by the "Money and accounts" policy: the
/// publishing client's own saved payment method (for an organization's job, the owner or admin
/// who publishes it, so nobody spends another member's card); when a platform admin publishes
/// for a client, the job's client's. `None` when that user has not saved one.
pub async fn payment_source(
    ctx: &Context<'_>,
    actor: &Actor,
    client_id: ObjectId,
) -> ApiResult<Option<PaymentSource>> {
    let payer_id = if actor.role == ActorRole::Admin {
        client_id
    } else {
        actor.user_id
    };
    let Some(payer) = load_user(ctx, payer_id).await? else {
        return Ok(None);
    };
    let data = payer.client_data.clone().unwrap_or_default();
    Ok(
        match (data.stripe_customer_id, data.default_payment_method_id) {
            (Some(customer_id), Some(payment_method_id)) => Some(PaymentSource {
                payer_id,
                customer_id,
                payment_method_id,
            }),
            _ => None,
        },
    )
}

/// Whether the signed-in client may use premium templates (the marketplace's rule,
/// [`Actor::may_use_premium_templates`]); the membership tier is read only when it decides.
pub async fn premium_allowed(ctx: &Context<'_>, actor: &Actor) -> ApiResult<bool> {
    if actor.may_use_premium_templates(false) {
        return Ok(true);
    }
    let user = require_user(ctx, actor.user_id).await?;
    let tier_includes_premium = user
        .client_data
        .as_ref()
        .and_then(|data| data.membership_tier)
        .is_some_and(identity::MembershipTier::premium_templates);
    Ok(actor.may_use_premium_templates(tier_includes_premium))
}

async fn require_user(
    ctx: &Context<'_>,
    user_id: ObjectId,
) -> ApiResult<std::sync::Arc<identity::User>> {
    load_user(ctx, user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthenticated("the signed-in account no longer exists".into()))
}
