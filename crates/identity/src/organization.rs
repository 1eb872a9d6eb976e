//! Organizations (seed section 11): creation (the creator becomes owner), membership with roles
//! owner/admin/member, plan limits and usage counters. Nobody is added directly: people join by
//! accepting an invitation (`invitation`).
//!
//! Membership lives in the organization document as a `members` array, and `usage.member_count` is
//! written from that same array in the same single-document update, guarded by a compare-and-set on
//! `version`; so the counter always equals the number of members, and the member limit cannot be
//! overshot by racing requests. The user's `organization_id`/`organization_role` (seed fields) mirror
//! the membership; a user belongs to at most one organization, which is claimed on the user document
//! first (conditional on it being free) and released again if the organization update fails.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::authorization::{self, can_manage_org, can_manage_owners, can_view_org};
use crate::error::IdentityError;
use crate::principal::Principal;
use crate::service::IdentityService;

/// How many times a membership change re-reads and retries after losing a version race.
const MEMBERSHIP_RETRIES: usize = 8;

/// A member's role within an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationRole {
    /// Full control, including ownership changes.
    Owner,
    /// Manages members (except owners) and API keys.
    Admin,
    /// Uses the organization's projects.
    Member,
}

impl OrganizationRole {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationRole::Owner => "owner",
            OrganizationRole::Admin => "admin",
            OrganizationRole::Member => "member",
        }
    }
}

/// Billing plan; decides the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationPlan {
    /// Small teams.
    Team,
    /// Large companies.
    Enterprise,
}

/// Organization status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationStatus {
    /// In good standing.
    Active,
    /// Blocked by the platform; its API keys stop working.
    Suspended,
    /// On a trial until `trial_ends_at`.
    Trial,
}

/// Organization-wide settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationSettings {
    /// Jobs need an owner/admin approval before publishing.
    pub require_approval_for_jobs: bool,
    /// `organization` or `public`.
    pub default_project_visibility: String,
    /// Whether testers outside the organization may take its jobs.
    pub allow_external_testers: bool,
    /// Custom branding enabled.
    pub custom_branding: bool,
}

impl Default for OrganizationSettings {
    fn default() -> Self {
        Self {
            // Only owners and admins publish until an owner opens it to every member.
            require_approval_for_jobs: true,
            default_project_visibility: "organization".to_owned(),
            allow_external_testers: true,
            custom_branding: false,
        }
    }
}

/// Plan limits. Members are enforced here; jobs and projects by the marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationLimits {
    /// Most members the organization may have.
    pub max_members: i64,
    /// Most jobs open at once.
    pub max_concurrent_jobs: i64,
    /// Most projects.
    pub max_projects: i64,
}

/// Usage counters; `member_count` always equals `members.len()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationUsage {
    /// Current members.
    pub member_count: i64,
    /// Jobs currently open (maintained by the marketplace).
    pub active_jobs_count: i64,
    /// Projects (maintained by the marketplace).
    pub projects_count: i64,
}

/// One membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationMember {
    /// The member.
    pub user_id: ObjectId,
    /// Their role.
    pub role: OrganizationRole,
    /// When they joined.
    pub joined_at: DateTime,
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// Display name.
    pub name: String,
    /// Unique URL identifier.
    pub slug: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Industry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// `1-10`, `11-50`, `51-200`, `201-1000` or `1000+`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Plan.
    pub plan: OrganizationPlan,
    /// Billing address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_email: Option<String>,
    /// Payment provider customer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
    /// Settings.
    #[serde(default)]
    pub settings: OrganizationSettings,
    /// Plan limits.
    pub limits: OrganizationLimits,
    /// Usage counters.
    pub usage: OrganizationUsage,
    /// Status.
    pub status: OrganizationStatus,
    /// End of the trial, for `trial` organizations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_ends_at: Option<DateTime>,
    /// The creator (first owner).
    pub created_by_id: ObjectId,
    /// Creation time.
    pub created_at: DateTime,
    /// Last modification.
    pub updated_at: DateTime,
    /// Members with their roles.
    #[serde(default)]
    pub members: Vec<OrganizationMember>,
    /// Optimistic concurrency version.
    #[serde(default)]
    pub version: i64,
}

impl Organization {
    /// The membership of `user_id`, if any.
    pub fn member(&self, user_id: ObjectId) -> Option<&OrganizationMember> {
        self.members.iter().find(|member| member.user_id == user_id)
    }

    fn owner_count(&self) -> usize {
        self.members
            .iter()
            .filter(|member| member.role == OrganizationRole::Owner)
            .count()
    }
}

/// A change to an organization's name or settings; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct OrganizationUpdate {
    /// New display name, 1 to 200 characters.
    pub name: Option<String>,
    /// Whether only owners and admins may publish the organization's jobs (members draft them).
    pub require_approval_for_jobs: Option<bool>,
    /// Whether the organization's jobs may be public (any qualified tester may claim); when
    /// false, only invited testers may.
    pub allow_external_testers: Option<bool>,
}

/// Input to create an organization.
#[derive(Debug, Clone)]
pub struct CreateOrganizationInput {
    /// Display name (1 to 200 characters).
    pub name: String,
    /// Unique slug: lower-case letters, digits and dashes, 1 to 63 characters.
    pub slug: String,
    /// Description.
    pub description: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Company size.
    pub size: Option<String>,
    /// Plan (decides the limits).
    pub plan: OrganizationPlan,
    /// Billing address.
    pub billing_email: Option<String>,
}

const SIZES: [&str; 5] = ["1-10", "11-50", "51-200", "201-1000", "1000+"];

/// Checks a slug: 1 to 63 lower-case letters, digits and dashes, not starting or ending with a dash.
pub fn check_slug(slug: &str) -> Result<(), IdentityError> {
    let valid = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput {
            field: "slug",
            reason: "use 1 to 63 lower-case letters, digits and dashes, not starting or ending with a dash".into(),
        })
    }
}

fn check_create_input(input: &CreateOrganizationInput) -> Result<(), IdentityError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(IdentityError::InvalidInput {
            field: "name",
            reason: "must be 1 to 200 characters".into(),
        });
    }
    check_slug(&input.slug)?;
    if let Some(size) = &input.size {
        if !SIZES.contains(&size.as_str()) {
            return Err(IdentityError::InvalidInput {
                field: "size",
                reason: format!("must be one of {}", SIZES.join(", ")),
            });
        }
    }
    for (field, value) in [
        ("description", &input.description),
        ("website", &input.website),
        ("industry", &input.industry),
    ] {
        if value
            .as_ref()
            .is_some_and(|text| text.chars().count() > 2_000)
        {
            return Err(IdentityError::InvalidInput {
                field,
                reason: "at most 2000 characters".into(),
            });
        }
    }
    Ok(())
}

impl IdentityService {
    /// The ids of `organization_id`'s owners and admins: who hears about its jobs' submissions.
    pub async fn organization_manager_ids(
        &self,
        organization_id: ObjectId,
    ) -> Result<Vec<ObjectId>, IdentityError> {
        let managers: Vec<Document> = self
            .users
            .find(doc! {
                "organization_id": organization_id,
                "organization_role": { "$in": [
                    OrganizationRole::Owner.as_str(),
                    OrganizationRole::Admin.as_str(),
                ]},
            })
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(managers
            .iter()
            .filter_map(|manager| manager.get_object_id("_id").ok())
            .collect())
    }

    /// One organization by id, without authorization (for other domains and dataloaders).
    pub async fn organization(&self, id: ObjectId) -> Result<Option<Organization>, IdentityError> {
        let found = self.organizations.find_one(doc! { "_id": id }).await?;
        found
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .transpose()
    }

    /// Batch loading with one `$in` query; unordered, missing ids omitted.
    pub async fn organizations_by_ids(
        &self,
        ids: &[ObjectId],
    ) -> Result<Vec<Organization>, IdentityError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let documents: Vec<Document> = self
            .organizations
            .find(doc! { "_id": { "$in": ids.to_vec() } })
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .collect()
    }

    pub(crate) async fn require_organization(
        &self,
        id: ObjectId,
    ) -> Result<Organization, IdentityError> {
        self.organization(id)
            .await?
            .ok_or(IdentityError::OrganizationNotFound)
    }

    /// An organization the caller may see (members, platform admins, its own API keys); others get
    /// `OrganizationNotFound`, so existence is not revealed.
    pub async fn organization_for(
        &self,
        actor: &Principal,
        id: ObjectId,
    ) -> Result<Organization, IdentityError> {
        let organization = self.require_organization(id).await?;
        if can_view_org(actor, &organization) {
            Ok(organization)
        } else {
            Err(IdentityError::OrganizationNotFound)
        }
    }

    /// Creates an organization; the creator becomes its owner. `SlugTaken` when the slug is used
    /// (decided by the unique index); `AlreadyInOrganization` when the creator already belongs to one.
    pub async fn create_organization(
        &self,
        actor: &Principal,
        input: CreateOrganizationInput,
    ) -> Result<Organization, IdentityError> {
        actor.require_write()?;
        authorization::require(authorization::can_create_org(actor), "create organizations")?;
        let creator_id = actor.require_user()?.user_id;
        check_create_input(&input)?;
        let billing_email = input
            .billing_email
            .as_deref()
            .map(crate::user::normalize_email)
            .transpose()?;
        let now = self.now();
        let organization = Organization {
            id: ObjectId::new(),
            name: input.name.trim().to_owned(),
            slug: input.slug.clone(),
            description: input.description,
            logo_url: None,
            website: input.website,
            industry: input.industry,
            size: input.size,
            plan: input.plan,
            billing_email,
            stripe_customer_id: None,
            settings: OrganizationSettings::default(),
            limits: self.settings.plan_limits.limits_for(input.plan),
            usage: OrganizationUsage {
                member_count: 1,
                active_jobs_count: 0,
                projects_count: 0,
            },
            status: OrganizationStatus::Active,
            trial_ends_at: None,
            created_by_id: creator_id,
            created_at: now,
            updated_at: now,
            members: vec![OrganizationMember {
                user_id: creator_id,
                role: OrganizationRole::Owner,
                joined_at: now,
            }],
            version: 1,
        };
        self.claim_user_for(creator_id, organization.id, OrganizationRole::Owner)
            .await?;
        match self
            .organizations
            .insert_one(bson::to_document(&organization)?)
            .await
        {
            Ok(_) => Ok(organization),
            Err(error) => {
                self.release_user_from(creator_id, organization.id).await?;
                if foundation::collection::is_duplicate_key(&error) {
                    Err(IdentityError::SlugTaken)
                } else {
                    Err(error.into())
                }
            }
        }
    }

    /// Changes an organization's name or settings (owners and admins of the organization, and
    /// platform admins), by compare-and-set on its `version`, so two concurrent edits cannot
    /// silently overwrite each other (`VersionConflict`). A change that sets nothing is refused
    /// as bad input on `input`.
    pub async fn update_organization(
        &self,
        actor: &Principal,
        organization_id: ObjectId,
        update: OrganizationUpdate,
    ) -> Result<Organization, IdentityError> {
        actor.require_write()?;
        let organization = self.organization_for(actor, organization_id).await?;
        authorization::require(
            authorization::can_manage_org(actor, &organization),
            "change this organization",
        )?;
        let mut set = doc! {};
        if let Some(name) = &update.name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return Err(IdentityError::InvalidInput {
                    field: "name",
                    reason: "must be 1 to 200 characters".into(),
                });
            }
            set.insert("name", name);
        }
        if let Some(required) = update.require_approval_for_jobs {
            set.insert("settings.require_approval_for_jobs", required);
        }
        if let Some(allowed) = update.allow_external_testers {
            set.insert("settings.allow_external_testers", allowed);
        }
        if set.is_empty() {
            return Err(IdentityError::InvalidInput {
                field: "input",
                reason: "give a name or a setting to change".into(),
            });
        }
        set.insert("updated_at", self.now());
        self.write_organization_version(&organization, set).await
    }

    /// Suspends (`Suspended`) or reactivates (`Active`) an organization; platform admins only.
    /// While suspended its members cannot create or publish jobs and its API keys are refused.
    pub async fn set_organization_status(
        &self,
        actor: &Principal,
        organization_id: ObjectId,
        status: OrganizationStatus,
    ) -> Result<Organization, IdentityError> {
        actor.require_write()?;
        authorization::require(
            authorization::can_administer_users(actor),
            "suspend or reactivate organizations",
        )?;
        if status == OrganizationStatus::Trial {
            return Err(IdentityError::InvalidInput {
                field: "status",
                reason: "trials are not offered".into(),
            });
        }
        let organization = self.require_organization(organization_id).await?;
        let set = doc! { "status": bson::to_bson(&status)?, "updated_at": self.now() };
        self.write_organization_version(&organization, set).await
    }

    async fn write_organization_version(
        &self,
        organization: &Organization,
        set: Document,
    ) -> Result<Organization, IdentityError> {
        let written = self
            .organizations
            .update_one(
                doc! { "_id": organization.id, "version": organization.version },
                doc! { "$set": set, "$inc": { "version": 1_i64 } },
            )
            .await?;
        if written.matched_count == 0 {
            return Err(IdentityError::VersionConflict);
        }
        self.require_organization(organization.id).await
    }

    /// Sets the user's organization mirror if the user belongs to none yet.
    async fn claim_user_for(
        &self,
        user_id: ObjectId,
        organization_id: ObjectId,
        role: OrganizationRole,
    ) -> Result<(), IdentityError> {
        let result = self
            .users
            .update_one(
                doc! { "_id": user_id, "organization_id": null },
                doc! { "$set": { "organization_id": organization_id, "organization_role": role.as_str(), "updated_at": self.now() },
                       "$inc": { "version": 1_i64 } },
            )
            .await?;
        if result.matched_count == 1 {
            return Ok(());
        }
        match self.user(user_id).await? {
            None => Err(IdentityError::UserNotFound),
            Some(_) => Err(IdentityError::AlreadyInOrganization),
        }
    }

    /// Clears the user's organization mirror if it points at `organization_id`.
    async fn release_user_from(
        &self,
        user_id: ObjectId,
        organization_id: ObjectId,
    ) -> Result<(), IdentityError> {
        self.users
            .update_one(
                doc! { "_id": user_id, "organization_id": organization_id },
                doc! { "$unset": { "organization_id": "", "organization_role": "" },
                "$set": { "updated_at": self.now() }, "$inc": { "version": 1_i64 } },
            )
            .await?;
        Ok(())
    }

    /// Writes a new member list (and the member count computed from it) if the organization is
    /// still at `expected_version`. Returns whether it was applied.
    async fn write_members(
        &self,
        organization: &Organization,
        members: &[OrganizationMember],
        extra_filter: Document,
    ) -> Result<bool, IdentityError> {
        let mut filter = doc! { "_id": organization.id, "version": organization.version };
        filter.extend(extra_filter);
        let member_count = i64::try_from(members.len()).unwrap_or(i64::MAX);
        let result = self
            .organizations
            .update_one(
                filter,
                doc! {
                    "$set": { "members": bson::to_bson(members)?, "usage.member_count": member_count, "updated_at": self.now() },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        Ok(result.matched_count == 1)
    }

    /// Removes a member. Owners/admins manage members; anyone may leave; removing an owner needs an
    /// owner; the last owner can never be removed (`LastOwner`).
    pub async fn remove_organization_member(
        &self,
        actor: &Principal,
        organization_id: ObjectId,
        user_id: ObjectId,
    ) -> Result<Organization, IdentityError> {
        actor.require_write()?;
        let mut organization = self.require_organization(organization_id).await?;
        let leaving_self = actor.user_id() == Some(user_id);
        for _ in 0..MEMBERSHIP_RETRIES {
            // Authorization comes before the membership lookup, so an outsider learns nothing
            // about who belongs to the organization.
            if !leaving_self {
                authorization::require(
                    can_manage_org(actor, &organization),
                    "manage organization members",
                )?;
            }
            let target = organization
                .member(user_id)
                .ok_or(IdentityError::NotAMember)?
                .clone();
            if !leaving_self && target.role == OrganizationRole::Owner {
                authorization::require(can_manage_owners(actor, &organization), "remove owners")?;
            }
            if target.role == OrganizationRole::Owner && organization.owner_count() <= 1 {
                return Err(IdentityError::LastOwner);
            }
            let members: Vec<OrganizationMember> = organization
                .members
                .iter()
                .filter(|member| member.user_id != user_id)
                .cloned()
                .collect();
            if self
                .write_members(&organization, &members, Document::new())
                .await?
            {
                self.release_user_from(user_id, organization_id).await?;
                return self.require_organization(organization_id).await;
            }
            organization = self.require_organization(organization_id).await?;
        }
        Err(IdentityError::VersionConflict)
    }

    /// Changes a member's role. Owners/admins manage roles; making or unmaking an owner needs an
    /// owner; the last owner cannot be demoted (`LastOwner`).
    pub async fn change_organization_member_role(
        &self,
        actor: &Principal,
        organization_id: ObjectId,
        user_id: ObjectId,
        role: OrganizationRole,
    ) -> Result<Organization, IdentityError> {
        actor.require_write()?;
        let mut organization = self.require_organization(organization_id).await?;
        for _ in 0..MEMBERSHIP_RETRIES {
            authorization::require(
                can_manage_org(actor, &organization),
                "manage organization members",
            )?;
            let target = organization
                .member(user_id)
                .ok_or(IdentityError::NotAMember)?
                .clone();
            if target.role == role {
                return Ok(organization);
            }
            if target.role == OrganizationRole::Owner || role == OrganizationRole::Owner {
                authorization::require(
                    can_manage_owners(actor, &organization),
                    "change ownership",
                )?;
            }
            if target.role == OrganizationRole::Owner && organization.owner_count() <= 1 {
                return Err(IdentityError::LastOwner);
            }
            let members: Vec<OrganizationMember> = organization
                .members
                .iter()
                .map(|member| {
                    let mut member = member.clone();
                    if member.user_id == user_id {
                        member.role = role;
                    }
                    member
                })
                .collect();
            if self
                .write_members(&organization, &members, Document::new())
                .await?
            {
                self.users
                    .update_one(
                        doc! { "_id": user_id, "organization_id": organization_id },
                        doc! { "$set": { "organization_role": role.as_str(), "updated_at": self.now() },
                               "$inc": { "version": 1_i64 } },
                    )
                    .await?;
                return self.require_organization(organization_id).await;
            }
            organization = self.require_organization(organization_id).await?;
        }
        Err(IdentityError::VersionConflict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_words_joined_by_dashes() {
        assert!(check_slug("techcorp-qa").is_ok());
        assert!(check_slug("a").is_ok());
        for slug in ["", "-qa", "qa-", "TechCorp", "tech corp", &"a".repeat(64)] {
            assert!(check_slug(slug).is_err(), "{slug:?} should be refused");
        }
    }

    #[test]
    fn roles_and_plans_use_the_seed_spelling() {
        assert_eq!(
            bson::to_bson(&OrganizationRole::Owner).unwrap(),
            bson::Bson::String("owner".into())
        );
        assert_eq!(
            bson::to_bson(&OrganizationPlan::Enterprise).unwrap(),
            bson::Bson::String("enterprise".into())
        );
        assert_eq!(
            bson::to_bson(&OrganizationStatus::Trial).unwrap(),
            bson::Bson::String("trial".into())
        );
    }
}
