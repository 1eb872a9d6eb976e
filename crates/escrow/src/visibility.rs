//! Who may read which money. Money steps are authorized where they happen (the use cases);
//! these are the read rules, the same on every path that reaches a job's escrow or a
//! submission's payout, so the GraphQL layer asks here instead of deciding itself.
//!
//! | money | visible to |
//! |-------|------------|
//! | a job's escrow (and its status) | the job's client, their organization's owners and admins, platform admins |
//! | a submission's payout | those, and the tester it pays |
//!
//! Organization members who manage the job without administering it see the job, not its money.

use bson::oid::ObjectId;
use marketplace::{Actor, Job};

/// Whether `actor` may read the escrow of `job`.
pub fn escrow_visible(actor: &Actor, job: &Job) -> bool {
    money_of_owner_visible(actor, job.client_id, job.organization_id)
}

/// Whether `actor` may read the payout of a submission by `tester_id` on `job`.
pub fn payout_visible(actor: &Actor, tester_id: ObjectId, job: &Job) -> bool {
    actor.user_id == tester_id || escrow_visible(actor, job)
}

/// Whether `actor` may read the money of what `client_id` (and `organization_id`) owns.
fn money_of_owner_visible(
    actor: &Actor,
    client_id: ObjectId,
    organization_id: Option<ObjectId>,
) -> bool {
    actor.administers(client_id, organization_id)
}

#[cfg(test)]
mod tests {
    use marketplace::{ActorRole, OrgRole};

    use super::*;

    fn actor(role: ActorRole, organization: Option<(ObjectId, OrgRole)>) -> Actor {
        Actor {
            user_id: ObjectId::new(),
            role,
            organization,
            organization_rules: Default::default(),
        }
    }

    #[test]
    fn money_is_read_by_those_who_administer_the_job_and_a_payout_by_its_tester() {
        let organization = ObjectId::new();
        let client = actor(ActorRole::Client, Some((organization, OrgRole::Owner)));
        let member = actor(ActorRole::Client, Some((organization, OrgRole::Member)));
        let org_admin = actor(ActorRole::Client, Some((organization, OrgRole::Admin)));
        let platform_admin = actor(ActorRole::Admin, None);
        let tester = actor(ActorRole::Tester, None);
        let stranger = actor(ActorRole::Client, None);
        for (who, sees) in [
            (&client, true),
            (&org_admin, true),
            (&platform_admin, true),
            (&member, false),
            (&tester, false),
            (&stranger, false),
        ] {
            assert_eq!(
                money_of_owner_visible(who, client.user_id, Some(organization)),
                sees,
                "{:?}",
                who.role
            );
        }
    }
}
