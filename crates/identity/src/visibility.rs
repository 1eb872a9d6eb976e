//! How much of a user another caller may read. Every path that shows a user to someone else
//! (`node(id:)`, a submission's tester, a job's client, an organization's members) applies the
//! same rule, so the GraphQL layer asks here instead of deciding field by field.
//!
//! | caller                                   | sees                       | may find by id |
//! |------------------------------------------|----------------------------|----------------|
//! | the user themself, platform admins       | [`UserView::Personal`]     | yes            |
//! | owners and admins of the user's org      | [`UserView::Organization`] | yes            |
//! | other members and API keys of that org   | [`UserView::Public`]       | yes            |
//! | anyone else                              | [`UserView::Public`]       | no             |
//!
//! "May find by id" decides `node(id:)`: to anyone else a user id answers exactly like an id
//! that names nobody, so ids cannot be enumerated. They still see a user's public profile where
//! an object they may see names that user (a submission's tester, a job's client).

use bson::oid::ObjectId;

use crate::organization::OrganizationRole;
use crate::principal::Principal;
use crate::user::{Role, User};

/// How much of a user a caller may read; each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserView {
    /// Display name, role, profile and public tester reputation (experience level,
    /// specializations, completed jobs, average rating).
    Public,
    /// Also the account's status, e-mail address and its confirmation, company details and
    /// organization role: what an organization's owners and admins need to run it.
    Organization,
    /// Everything: equipment, rate, availability, qualification, earnings, payout account,
    /// sign-in details and notification choices.
    Personal,
}

/// Who is reading: the principal and, for a signed-in user, their own record (for their
/// organization and role in it).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The authenticated caller.
    pub principal: &'a Principal,
    /// The caller's own record, when the caller is a user.
    pub record: Option<&'a User>,
}

impl Reader<'_> {
    fn organization(&self) -> Option<ObjectId> {
        match self.principal {
            Principal::ApiKey(key) => Some(key.organization_id),
            Principal::User(_) => self.record.and_then(|record| record.organization_id),
        }
    }

    fn administers_organization(&self) -> bool {
        matches!(self.principal, Principal::User(_))
            && self
                .record
                .and_then(|record| record.organization_role)
                .is_some_and(|role| {
                    matches!(role, OrganizationRole::Owner | OrganizationRole::Admin)
                })
    }
}

/// How much of `user` the `reader` may read.
pub fn user_view(reader: Reader<'_>, user: &User) -> UserView {
    if reader.principal.user_id() == Some(user.id) || reader.principal.role() == Some(Role::Admin) {
        return UserView::Personal;
    }
    let same_organization =
        user.organization_id.is_some() && reader.organization() == user.organization_id;
    if same_organization && reader.administers_organization() {
        UserView::Organization
    } else {
        UserView::Public
    }
}

/// Whether `reader` may fetch `user` by id alone (`node(id:)`): themself, admins and their own
/// organization. Anyone else gets the answer an unknown id gets.
pub fn user_findable(reader: Reader<'_>, user: &User) -> bool {
    user_view(reader, user) > UserView::Public
        || (user.organization_id.is_some() && reader.organization() == user.organization_id)
}

#[cfg(test)]
mod tests {
    use bson::{doc, DateTime};

    use super::*;
    use crate::principal::{ApiKeyPrincipal, UserPrincipal};
    use crate::ApiKeyScope;

    fn user(role: &str, organization: Option<(ObjectId, &str)>) -> User {
        let mut document = doc! {
            "_id": ObjectId::new(),
            "email": format!("{}@example.com", ObjectId::new()),
            "full_name": "Someone",
            "role": role,
            "status": "active",
            "created_at": DateTime::from_millis(0),
            "updated_at": DateTime::from_millis(0),
        };
        if let Some((id, org_role)) = organization {
            document.insert("organization_id", id);
            document.insert("organization_role", org_role);
        }
        bson::from_document(document).expect("a user document")
    }

    fn principal_of(user: &User) -> Principal {
        Principal::User(UserPrincipal {
            user_id: user.id,
            role: user.role,
            session_id: ObjectId::new(),
        })
    }

    fn view(reader: &User, target: &User) -> (UserView, bool) {
        let principal = principal_of(reader);
        let reader = Reader {
            principal: &principal,
            record: Some(reader),
        };
        (user_view(reader, target), user_findable(reader, target))
    }

    #[test]
    fn strangers_get_the_public_view_and_cannot_find_the_user() {
        let tester = user("tester", None);
        assert_eq!(
            view(&user("tester", None), &tester),
            (UserView::Public, false)
        );
        assert_eq!(
            view(&user("client", None), &tester),
            (UserView::Public, false)
        );
        assert_eq!(view(&tester, &tester), (UserView::Personal, true));
        assert_eq!(
            view(&user("admin", None), &tester),
            (UserView::Personal, true)
        );
    }

    #[test]
    fn organization_admins_see_more_than_members_and_both_find_each_other() {
        let organization = ObjectId::new();
        let member = user("client", Some((organization, "member")));
        let admin = user("client", Some((organization, "admin")));
        let owner = user("client", Some((organization, "owner")));
        assert_eq!(view(&member, &owner), (UserView::Public, true));
        assert_eq!(view(&admin, &member), (UserView::Organization, true));
        assert_eq!(view(&owner, &admin), (UserView::Organization, true));
        let outsider = user("client", Some((ObjectId::new(), "owner")));
        assert_eq!(view(&outsider, &member), (UserView::Public, false));
        let key = Principal::ApiKey(ApiKeyPrincipal {
            api_key_id: ObjectId::new(),
            organization_id: organization,
            scope: ApiKeyScope::ReadWrite,
            plan: crate::organization::OrganizationPlan::Team,
        });
        let reader = Reader {
            principal: &key,
            record: None,
        };
        assert_eq!(user_view(reader, &member), UserView::Public);
        assert!(user_findable(reader, &member));
    }
}
