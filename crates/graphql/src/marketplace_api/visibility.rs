//! Who may see which marketplace object. The domain crate decides who may change things; these
//! rules decide what reads return, and they are applied on every path that reaches an object
//! (top-level queries, `node`, nested fields alike).
//!
//! | object      | visible to |
//! |-------------|------------|
//! | project     | its client, members of its organization, admins; testers only through a job they see |
//! | job         | its client, members of its organization, admins; testers seated on it, invited to it, or (when OPEN and PUBLIC) any tester |
//! | submission  | its tester; the job's client, organization members and admins |
//! | an organization's projects and jobs | its members (and API keys) and admins |
//! | a tester's submissions (`User.submissions`) | the tester and admins |
//!
//! Objects a caller may not see are `NOT_FOUND` (their existence is not revealed).

use bson::oid::ObjectId;
use marketplace::{Actor, ActorRole, Job, JobStatus, Project, Visibility};

/// Whether `actor` manages what `client_id` (and `organization_id`) owns: the client, any member
/// of the owning organization, or an admin (the marketplace's own rule).
pub fn manages(actor: &Actor, client_id: ObjectId, organization_id: Option<ObjectId>) -> bool {
    actor.manages(client_id, organization_id)
}

/// Whether `actor` administers what `client_id` owns: the client, an owner or admin of the
/// owning organization, or a platform admin (the marketplace's own rule).
pub fn administers(actor: &Actor, client_id: ObjectId, organization_id: Option<ObjectId>) -> bool {
    actor.administers(client_id, organization_id)
}

/// Whether `actor` may list what an organization owns (`Organization.projects` and `jobs`): its
/// current members (and its API keys, which act as members) and platform admins.
pub fn organization_listing_visible(actor: &Actor, organization_id: ObjectId) -> bool {
    actor.role == ActorRole::Admin
        || actor
            .organization
            .is_some_and(|(member_of, _)| member_of == organization_id)
}

/// Whether `actor` may list a tester's submissions (`User.submissions`, drafts included): the
/// tester themself and platform admins.
pub fn tester_work_visible(actor: &Actor, tester_id: ObjectId) -> bool {
    actor.role == ActorRole::Admin || actor.user_id == tester_id
}

/// Whether `actor` may see the project on its own (not through a job).
pub fn project_visible(actor: &Actor, project: &Project) -> bool {
    manages(actor, project.client_id, project.organization_id)
}

/// Whether `actor` may see the job.
pub fn job_visible(actor: &Actor, job: &Job) -> bool {
    if manages(actor, job.client_id, job.organization_id) {
        return true;
    }
    if actor.role != ActorRole::Tester {
        return false;
    }
    let seated = job
        .assigned_testers
        .iter()
        .any(|seat| seat.tester_id == actor.user_id);
    let invited = job.invited_tester_ids.contains(&actor.user_id);
    let listed = job.status == JobStatus::Open && job.visibility == Visibility::Public;
    seated || (job.status != JobStatus::Draft && invited) || listed
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketplace::OrgRole;

    fn actor(role: ActorRole) -> Actor {
        Actor {
            user_id: ObjectId::new(),
            role,
            organization: None,
            organization_rules: Default::default(),
        }
    }

    #[test]
    fn organization_roles_decide_administration_but_not_management() {
        let organization = ObjectId::new();
        let client = ObjectId::new();
        let mut member = actor(ActorRole::Client);
        member.organization = Some((organization, OrgRole::Member));
        assert!(manages(&member, client, Some(organization)));
        assert!(!administers(&member, client, Some(organization)));
        member.organization = Some((organization, OrgRole::Admin));
        assert!(administers(&member, client, Some(organization)));
        let outsider = actor(ActorRole::Client);
        assert!(!manages(&outsider, client, Some(organization)));
        assert!(manages(&actor(ActorRole::Admin), client, None));
    }
}
