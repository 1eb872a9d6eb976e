//! Who may read which marketplace object. Changes are authorized where they happen; these are
//! the read rules, the same on every path that reaches an object, so the GraphQL layer asks here
//! instead of deciding itself.

use bson::oid::ObjectId;

use crate::actor::{Actor, ActorRole};
use crate::job::Job;
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
