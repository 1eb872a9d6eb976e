//! Who may read which marketplace object. Changes are authorized where they happen; these are
//! the read rules, the same on every path that reaches an object (top-level queries, `node`,
//! nested fields alike), so the GraphQL layer asks here instead of deciding itself.
//!
//! | object      | visible to |
//! |-------------|------------|
//! | project     | its client, members of its organization, admins; testers only through a job they see |
//! | job         | its client, members of its organization, admins; testers seated on it, invited to it, or (when OPEN and PUBLIC) any tester |
//! | submission  | its tester; a handed-in one also the job's client, organization members and admins; a draft only its tester and admins |
//! | who holds a seat | the tester themself and whoever manages the job |
//! | an organization's projects and jobs | its members (and API keys) and admins |
//! | a tester's submissions (`User.submissions`) | the tester and admins |
//!
//! Objects a caller may not see are `NOT_FOUND` (their existence is not revealed).

use bson::oid::ObjectId;

use crate::actor::{Actor, ActorRole};
use crate::job::{Job, JobStatus, Visibility};
use crate::project::Project;
use crate::submission::{Submission, SubmissionStatus};

/// Whether `actor` may read `submission` of `job`: its tester always; a draft nobody else but a
/// platform admin (a draft is the tester's unfinished work, not yet handed to the client); a
/// handed-in submission whoever manages the job, except testers.
pub fn submission_visible(actor: &Actor, submission: &Submission, job: &Job) -> bool {
    if submission.tester_id == actor.user_id {
        return true;
    }
    if submission.status == SubmissionStatus::Draft {
        return actor.role == ActorRole::Admin;
    }
    actor.role != ActorRole::Tester && actor.manages(job.client_id, job.organization_id)
}

/// Whether `actor` may see that `tester_id` holds a seat on `job`: the tester themself, and
/// whoever manages the job (its client, their organization, admins). Another tester never sees
/// whom a job seated, so claims cannot be watched.
pub fn seat_visible(actor: &Actor, tester_id: ObjectId, job: &Job) -> bool {
    actor.user_id == tester_id
        || (actor.role != ActorRole::Tester && actor.manages(job.client_id, job.organization_id))
}

/// Whether `actor` may read the project's credential audit trail and its withdrawn seats: the
/// project's client, a current owner or admin of its organization, and platform admins.
pub fn credential_reads_visible(actor: &Actor, project: &Project) -> bool {
    actor.administers(project.client_id, project.organization_id)
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
    actor.manages(project.client_id, project.organization_id)
}

/// Whether `actor` may see the job.
pub fn job_visible(actor: &Actor, job: &Job) -> bool {
    if actor.manages(job.client_id, job.organization_id) {
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
    use crate::actor::OrgRole;

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
        assert!(member.manages(client, Some(organization)));
        assert!(!member.administers(client, Some(organization)));
        member.organization = Some((organization, OrgRole::Admin));
        assert!(member.administers(client, Some(organization)));
        let outsider = actor(ActorRole::Client);
        assert!(!outsider.manages(client, Some(organization)));
        assert!(actor(ActorRole::Admin).manages(client, None));
    }
}
