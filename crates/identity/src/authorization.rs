//! Authorization decisions as plain functions of a [`Principal`] and the resource, so every rule
//! is in one place, readable and unit-tested. Operations call them and turn `false` into
//! [`IdentityError::Forbidden`] with [`require`].

use crate::error::IdentityError;
use crate::organization::{Organization, OrganizationRole};
use crate::principal::Principal;
use crate::user::Role;

/// Turns a decision into `Ok` or `Forbidden { action }`.
pub fn require(allowed: bool, action: &'static str) -> Result<(), IdentityError> {
    if allowed {
        Ok(())
    } else {
        Err(IdentityError::Forbidden { action })
    }
}

/// Platform admins administer users (suspend, reactivate).
pub fn can_administer_users(principal: &Principal) -> bool {
    principal.role() == Some(Role::Admin)
}

/// The caller's role within `organization`, if the caller is a member user.
pub fn organization_role_of(
    principal: &Principal,
    organization: &Organization,
) -> Option<OrganizationRole> {
    let user_id = principal.user_id()?;
    organization
        .members
        .iter()
        .find(|member| member.user_id == user_id)
        .map(|member| member.role)
}

/// Members, platform admins and the organization's own API keys may see an organization.
pub fn can_view_org(principal: &Principal, organization: &Organization) -> bool {
    match principal {
        Principal::ApiKey(key) => key.organization_id == organization.id,
        Principal::User(user) => {
            user.role == Role::Admin || organization_role_of(principal, organization).is_some()
        }
    }
}

/// Owners and admins of the organization (and platform admins) manage its members and API keys.
/// API keys never manage organizations: key management needs a person.
pub fn can_manage_org(principal: &Principal, organization: &Organization) -> bool {
    match principal {
        Principal::ApiKey(_) => false,
        Principal::User(user) => {
            user.role == Role::Admin
                || matches!(
                    organization_role_of(principal, organization),
                    Some(OrganizationRole::Owner | OrganizationRole::Admin)
                )
        }
    }
}

/// Granting or taking away ownership is reserved to owners (and platform admins), so an org admin
/// cannot promote themselves or demote the owner.
pub fn can_manage_owners(principal: &Principal, organization: &Organization) -> bool {
    match principal {
        Principal::ApiKey(_) => false,
        Principal::User(user) => {
            user.role == Role::Admin
                || organization_role_of(principal, organization) == Some(OrganizationRole::Owner)
        }
    }
}

/// Clients and admins create organizations; testers work as individuals and API keys cannot.
pub fn can_create_org(principal: &Principal) -> bool {
    matches!(principal.role(), Some(Role::Client | Role::Admin))
}

#[cfg(test)]
mod tests {
    use bson::oid::ObjectId;
    use bson::DateTime;

    use super::*;
    use crate::api_key::ApiKeyScope;
    use crate::organization::{
        OrganizationLimits, OrganizationMember, OrganizationPlan, OrganizationSettings,
        OrganizationStatus, OrganizationUsage,
    };
    use crate::principal::{ApiKeyPrincipal, UserPrincipal};

    fn user(role: Role) -> (ObjectId, Principal) {
        let id = ObjectId::new();
        (
            id,
            Principal::User(UserPrincipal {
                user_id: id,
                role,
                session_id: ObjectId::new(),
            }),
        )
    }

    fn organization(members: &[(ObjectId, OrganizationRole)]) -> Organization {
        Organization {
            id: ObjectId::new(),
            name: "TechCorp QA".into(),
            slug: "techcorp-qa".into(),
            description: None,
            logo_url: None,
            website: None,
            industry: None,
            size: None,
            plan: OrganizationPlan::Team,
            billing_email: None,
            stripe_customer_id: None,
            settings: OrganizationSettings::default(),
            limits: OrganizationLimits {
                max_members: 20,
                max_concurrent_jobs: 10,
                max_projects: 50,
            },
            usage: OrganizationUsage {
                member_count: members.len() as i64,
                active_jobs_count: 0,
                projects_count: 0,
            },
            status: OrganizationStatus::Active,
            trial_ends_at: None,
            created_by_id: members.first().map(|member| member.0).unwrap_or_default(),
            created_at: DateTime::from_millis(0),
            updated_at: DateTime::from_millis(0),
            members: members
                .iter()
                .map(|&(user_id, role)| OrganizationMember {
                    user_id,
                    role,
                    joined_at: DateTime::from_millis(0),
                })
                .collect(),
            version: 1,
        }
    }

    #[test]
    fn management_is_for_owners_org_admins_and_platform_admins() {
        let (owner_id, owner) = user(Role::Client);
        let (admin_id, org_admin) = user(Role::Client);
        let (member_id, member) = user(Role::Client);
        let (_, outsider) = user(Role::Client);
        let (_, platform_admin) = user(Role::Admin);
        let org = organization(&[
            (owner_id, OrganizationRole::Owner),
            (admin_id, OrganizationRole::Admin),
            (member_id, OrganizationRole::Member),
        ]);
        let key = Principal::ApiKey(ApiKeyPrincipal {
            api_key_id: ObjectId::new(),
            organization_id: org.id,
            scope: ApiKeyScope::ReadWrite,
            plan: crate::organization::OrganizationPlan::Team,
        });
        let table = [
            (&owner, true, true, true),
            (&org_admin, true, false, true),
            (&member, false, false, true),
            (&outsider, false, false, false),
            (&platform_admin, true, true, true),
            (&key, false, false, true),
        ];
        for (principal, manage, owners, view) in table {
            assert_eq!(
                can_manage_org(principal, &org),
                manage,
                "{principal:?} manage"
            );
            assert_eq!(
                can_manage_owners(principal, &org),
                owners,
                "{principal:?} owners"
            );
            assert_eq!(can_view_org(principal, &org), view, "{principal:?} view");
        }
    }

    #[test]
    fn only_admins_administer_users_and_testers_cannot_create_orgs() {
        assert!(can_administer_users(&user(Role::Admin).1));
        assert!(!can_administer_users(&user(Role::Client).1));
        assert!(can_create_org(&user(Role::Client).1));
        assert!(!can_create_org(&user(Role::Tester).1));
        assert_eq!(require(false, "x").unwrap_err().reason(), "FORBIDDEN");
    }
}
