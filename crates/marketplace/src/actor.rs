//! Who is asking: the caller as the marketplace sees it ([`Actor`]) and a tester's qualifications
//! ([`TesterProfile`]). The GraphQL layer builds both from identity, so this crate does not depend
//! on identity.

use bson::oid::ObjectId;
use bson::DateTime;
use serde::{Deserialize, Serialize};

/// The platform role of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorRole {
    /// Posts projects and jobs and reviews submissions.
    Client,
    /// Claims jobs and submits results.
    Tester,
    /// Platform staff: may manage anything.
    Admin,
}

/// The caller's role inside an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgRole {
    /// Full control.
    Owner,
    /// Manages members and everything the organization owns.
    Admin,
    /// Uses the organization's projects and jobs.
    Member,
}

/// The authenticated caller of a marketplace operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The caller's user id.
    pub user_id: ObjectId,
    /// The caller's platform role.
    pub role: ActorRole,
    /// The caller's organization and role in it, when the caller belongs to one.
    pub organization: Option<(ObjectId, OrgRole)>,
    /// The rules of that organization (defaults without one).
    pub organization_rules: OrganizationRules,
}

/// An organization's settings and standing that decide what its members may do with its jobs.
/// Identity stores them; the caller passes them in with the [`Actor`], so the marketplace does
/// not depend on identity. They bind the organization's own members; platform admins act outside
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrganizationRules {
    /// Any member may publish the organization's jobs (identity's `require_approval_for_jobs`
    /// off); otherwise only owners and admins publish what members draft.
    pub members_may_publish: bool,
    /// The organization's jobs may be public (`allow_external_testers`); otherwise every job
    /// must be private or invited-only, so only invited testers may claim.
    pub external_testers_allowed: bool,
    /// The organization is suspended: its members create and publish no jobs.
    pub suspended: bool,
}

impl Default for OrganizationRules {
    /// The rules of a new organization, and of a client without one.
    fn default() -> Self {
        OrganizationRules {
            members_may_publish: false,
            external_testers_allowed: true,
            suspended: false,
        }
    }
}

impl Actor {
    /// Whether the caller may make jobs from premium templates: platform admins, members of an
    /// organization, and individual clients whose membership tier includes them
    /// (`tier_includes_premium`, identity's rule for the tier).
    pub fn may_use_premium_templates(&self, tier_includes_premium: bool) -> bool {
        self.role == ActorRole::Admin || self.organization.is_some() || tier_includes_premium
    }

    /// Whether the caller owns something created by `client_id` for `organization_id`.
    ///
    /// What an organization owns belongs to the organization, not to the member who created it
    /// (GitHub's rule for organization repositories): its creator keeps access only while they
    /// are still a member, so a removed member loses it on their next request. What a client
    /// owns without an organization stays theirs.
    fn owns(&self, client_id: ObjectId, organization_id: Option<ObjectId>) -> bool {
        self.user_id == client_id
            && match organization_id {
                None => true,
                Some(theirs) => self.organization.is_some_and(|(mine, _)| mine == theirs),
            }
    }

    /// Whether the caller may manage something owned by `client_id` (and, when set, by
    /// `organization_id`): its owner (for an organization's things, only while still a member),
    /// any current member of the owning organization, or an admin.
    pub fn manages(&self, client_id: ObjectId, organization_id: Option<ObjectId>) -> bool {
        if self.role == ActorRole::Admin || self.owns(client_id, organization_id) {
            return true;
        }
        matches!((self.organization, organization_id), (Some((mine, _)), Some(theirs)) if mine == theirs)
    }

    /// Whether the caller administers something owned by `client_id` (and `organization_id`):
    /// its owner (for an organization's things, only while still a member), a current owner or
    /// admin of the owning organization, or a platform admin.
    pub fn administers(&self, client_id: ObjectId, organization_id: Option<ObjectId>) -> bool {
        self.administers_by_role(client_id, organization_id)
    }

    /// Whether the caller may publish something owned by `client_id` (and `organization_id`):
    /// whoever administers it, and any member of the owning organization when its rules let
    /// members publish.
    pub fn may_publish(&self, client_id: ObjectId, organization_id: Option<ObjectId>) -> bool {
        self.administers(client_id, organization_id)
            || (self.organization_rules.members_may_publish
                && organization_id.is_some()
                && self.manages(client_id, organization_id))
    }

    /// The organization rules that bind the caller on something of `organization_id`: the
    /// caller's organization's, when it is the owning one and the caller is not a platform admin.
    pub fn rules_binding_on(&self, organization_id: Option<ObjectId>) -> Option<OrganizationRules> {
        match (self.role, self.organization, organization_id) {
            (ActorRole::Admin, _, _) => None,
            (_, Some((mine, _)), Some(theirs)) if mine == theirs => Some(self.organization_rules),
            _ => None,
        }
    }

    fn administers_by_role(&self, client_id: ObjectId, organization_id: Option<ObjectId>) -> bool {
        self.role == ActorRole::Admin
            || self.owns(client_id, organization_id)
            || matches!(
                (self.organization, organization_id),
                (Some((mine, OrgRole::Owner | OrgRole::Admin)), Some(theirs)) if mine == theirs
            )
    }
}

/// What identity knows about who pays for a money step; the caller passes it in, as it passes
/// organization limits, so the marketplace does not depend on identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerStanding {
    /// The caller's account is active (not pending, not suspended) and its e-mail verified.
    pub caller_verified: bool,
    /// When the paying account (the job's organization, or its client without one) was created;
    /// a young account has a daily funding limit ([`crate::MoneyLimits`]).
    pub account_created_at: bson::DateTime,
}

impl PayerStanding {
    /// The standing of a caller for a money step that reserves nothing against the account's
    /// limits (approve, release, refund), where the paying account's age does not matter.
    pub fn of_caller(caller_verified: bool) -> Self {
        Self {
            caller_verified,
            account_created_at: bson::DateTime::MIN,
        }
    }

    /// Refuses a money step (publish, approve, release, refund) by a caller whose account is not
    /// active and verified: a throwaway account must not be able to move money.
    pub fn require_verified(&self) -> Result<(), crate::MarketplaceError> {
        if self.caller_verified {
            Ok(())
        } else {
            Err(crate::MarketplaceError::AccountNotVerified)
        }
    }
}

/// A tester's experience level, ordered from least to most experienced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperienceLevel {
    /// New to testing.
    Beginner,
    /// Some track record.
    Intermediate,
    /// Proven track record.
    Expert,
}

impl ExperienceLevel {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperienceLevel::Beginner => "beginner",
            ExperienceLevel::Intermediate => "intermediate",
            ExperienceLevel::Expert => "expert",
        }
    }

    /// Every level up to and including this one.
    pub(crate) fn at_or_below(self) -> Vec<ExperienceLevel> {
        [
            ExperienceLevel::Beginner,
            ExperienceLevel::Intermediate,
            ExperienceLevel::Expert,
        ]
        .into_iter()
        .filter(|level| *level <= self)
        .collect()
    }
}

/// What a job needs to know about a tester to decide whether they may claim it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TesterProfile {
    /// The tester's user id.
    pub tester_id: ObjectId,
    /// The tester's level.
    pub experience_level: ExperienceLevel,
    /// Whether identity records the tester as qualified (a passed qualification test or an
    /// admin's decision); pending and rejected testers may not claim. The end is checked apart.
    pub qualified: bool,
    /// When a qualification from a test ends (none: it does not, like an admin's).
    pub qualification_expires_at: Option<DateTime>,
    /// Devices the tester owns.
    pub devices: Vec<String>,
    /// Browsers the tester uses.
    pub browsers: Vec<String>,
    /// Operating systems the tester uses.
    pub os: Vec<String>,
}

impl TesterProfile {
    /// Whether the tester is qualified at `now`: passed and not expired. An expired
    /// qualification stops new claims; seats already held are kept.
    pub fn is_qualified_at(&self, now: DateTime) -> bool {
        self.qualified
            && self
                .qualification_expires_at
                .is_none_or(|expires_at| expires_at > now)
    }

    /// The operating systems a tester's devices imply, spelled as jobs require them (an
    /// "iPhone 14 Pro" runs iOS), each once, in the order of the devices. A device no rule
    /// recognizes implies none.
    pub fn operating_systems_of(devices: &[String]) -> Vec<String> {
        let mut systems: Vec<String> = Vec::new();
        for device in devices {
            if let Some(system) = operating_system_of(device) {
                if !systems.iter().any(|known| known == system) {
                    systems.push(system.to_owned());
                }
            }
        }
        systems
    }
}

/// The operating system a device name implies.
fn operating_system_of(device: &str) -> Option<&'static str> {
    let device = device.to_ascii_lowercase();
    let rules: &[(&[&str], &str)] = &[
        (&["iphone", "ipad"], "iOS"),
        (
            &["android", "galaxy", "pixel", "oneplus", "xiaomi"],
            "Android",
        ),
        (&["windows", "surface"], "Windows"),
        (
            &["macbook", "imac", "mac mini", "mac studio", "macos"],
            "macOS",
        ),
        (&["linux", "ubuntu", "fedora"], "Linux"),
        (&["chromebook"], "ChromeOS"),
    ];
    rules
        .iter()
        .find(|(needles, _)| needles.iter().any(|needle| device.contains(needle)))
        .map(|(_, system)| *system)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(organization: Option<(ObjectId, OrgRole)>) -> Actor {
        Actor {
            user_id: ObjectId::new(),
            role: ActorRole::Client,
            organization,
            organization_rules: OrganizationRules::default(),
        }
    }

    #[test]
    fn a_plain_member_publishes_only_when_the_organization_lets_members_publish() {
        let organization = ObjectId::new();
        let owner_id = ObjectId::new();
        let mut member = client(Some((organization, OrgRole::Member)));
        assert!(!member.may_publish(owner_id, Some(organization)));
        member.organization_rules.members_may_publish = true;
        assert!(member.may_publish(owner_id, Some(organization)));
        assert!(
            !member.may_publish(owner_id, Some(ObjectId::new())),
            "another organization's jobs stay out of reach"
        );
        assert!(!member.may_publish(owner_id, None));
    }

    #[test]
    fn organization_rules_bind_its_members_and_not_platform_admins() {
        let organization = ObjectId::new();
        let mut member = client(Some((organization, OrgRole::Member)));
        member.organization_rules.suspended = true;
        assert!(member
            .rules_binding_on(Some(organization))
            .is_some_and(|r| r.suspended));
        assert_eq!(member.rules_binding_on(None), None);
        member.role = ActorRole::Admin;
        assert_eq!(member.rules_binding_on(Some(organization)), None);
    }

    #[test]
    fn a_removed_member_no_longer_manages_the_organization_projects_they_created() {
        let organization = ObjectId::new();
        let mut creator = client(Some((organization, OrgRole::Member)));
        assert!(creator.manages(creator.user_id, Some(organization)));
        assert!(creator.administers(creator.user_id, Some(organization)));
        creator.organization = None;
        assert!(!creator.manages(creator.user_id, Some(organization)));
        assert!(!creator.administers(creator.user_id, Some(organization)));
        creator.organization = Some((ObjectId::new(), OrgRole::Owner));
        assert!(
            !creator.manages(creator.user_id, Some(organization)),
            "membership of another organization does not count"
        );
    }

    #[test]
    fn a_client_without_an_organization_keeps_what_they_own() {
        let owner = client(None);
        assert!(owner.manages(owner.user_id, None));
        assert!(owner.administers(owner.user_id, None));
        assert!(!client(None).manages(owner.user_id, None));
    }

    #[test]
    fn devices_imply_their_operating_systems_once_each() {
        let devices = ["iPhone 14 Pro", "iPad Air", "Pixel 8", "Toaster"].map(String::from);
        assert_eq!(
            TesterProfile::operating_systems_of(&devices),
            vec!["iOS".to_string(), "Android".to_string()]
        );
    }
}
