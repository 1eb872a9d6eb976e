//! Organization invitations (GitHub's model): owners and admins invite an e-mail address, the
//! person behind it accepts or declines, and only an acceptance makes them a member.
//!
//! Inviting never looks the address up: the invitation and its e-mail are the same work, and the
//! answer the same shape, whether or not the address has an account, so invitations cannot probe
//! addresses. One pending invitation exists per (organization, address) — a unique partial index
//! decides it — and inviting again refreshes it (new token, new expiry) instead of adding one.
//! Only the token's SHA-256 is stored; the token itself travels sealed in the outbox e-mail.
//! Each organization may send [`INVITATIONS_PER_ORGANIZATION_PER_DAY`] invitations, reserved in
//! `rate_limits` before anything is written, so invitations cannot be used to spam.
//!
//! The lifecycle is [`InvitationStatus`] plus [`INVITATION_TRANSITIONS`], applied by
//! compare-and-set on the stored status. Accepting moves the invitation to `accepted`, claims the
//! user for the organization and appends the membership in one transaction, so either all three
//! happen or none does.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use foundation::clock::add_duration;
use foundation::secret::{generate_token, hash_token};
use futures_util::TryStreamExt;
use mongodb::options::{FindOptions, ReturnDocument};
use mongodb::ClientSession;
use serde::{Deserialize, Serialize};

use crate::authorization::{self, can_manage_org, can_manage_owners, can_view_org};
use crate::error::IdentityError;
use crate::organization::{Organization, OrganizationMember, OrganizationRole};
use crate::outbox::OutboxKind;
use crate::principal::Principal;
use crate::rate_limit::Budget;
use crate::service::IdentityService;
use crate::user::{normalize_email, User};
use foundation::transaction_retry::in_transaction;

/// How long an invitation can be accepted (GitHub: 7 days).
pub const INVITATION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Invitations (new or refreshed) one organization may send per [`INVITATION_WINDOW`]: enough for
/// onboarding a team, too few to use the platform's mail to spam or probe addresses.
pub const INVITATIONS_PER_ORGANIZATION_PER_DAY: u64 = 50;
/// The window of [`INVITATIONS_PER_ORGANIZATION_PER_DAY`].
pub const INVITATION_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// Longest token accepted; real tokens are far shorter, so anything longer is not one.
const MAX_TOKEN_CHARS: usize = 128;
/// Most invitations one list returns. An organization can have at most
/// 7 × [`INVITATIONS_PER_ORGANIZATION_PER_DAY`] live pending invitations.
const MAX_LISTED_INVITATIONS: i64 = 500;
/// How often an invitation upsert is tried again after losing the race to create it.
const UPSERT_RETRIES: usize = 3;

/// Where an invitation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Sent, not yet answered (it may still have expired: see `expires_at`).
    Pending,
    /// The invitee accepted and became a member.
    Accepted,
    /// The invitee declined.
    Declined,
    /// An owner or admin withdrew it.
    Revoked,
}

impl InvitationStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Declined => "declined",
            InvitationStatus::Revoked => "revoked",
        }
    }
}

/// Every allowed status change; anything else is refused. Only a pending invitation moves.
pub const INVITATION_TRANSITIONS: [(InvitationStatus, InvitationStatus); 3] = [
    (InvitationStatus::Pending, InvitationStatus::Accepted),
    (InvitationStatus::Pending, InvitationStatus::Declined),
    (InvitationStatus::Pending, InvitationStatus::Revoked),
];

/// An invitation to join an organization. The token is never part of it (only its hash is
/// stored, and only in the database document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationInvitation {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The organization.
    pub organization_id: ObjectId,
    /// The organization's name when the invitation was (last) sent; the invitee cannot read the
    /// organization itself before joining.
    pub organization_name: String,
    /// The invited address, normalized (lower-case).
    pub email: String,
    /// The role the invitee gets on accepting.
    pub role: OrganizationRole,
    /// Where it is in its life.
    pub status: InvitationStatus,
    /// Who (last) sent it.
    pub invited_by_id: ObjectId,
    /// Their display name when they sent it.
    pub invited_by_name: String,
    /// When it was first sent.
    pub created_at: DateTime,
    /// When it was last sent or changed.
    pub updated_at: DateTime,
    /// When it can no longer be accepted.
    pub expires_at: DateTime,
    /// When the invitee answered or an admin revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responded_at: Option<DateTime>,
    /// Who accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by_id: Option<ObjectId>,
}

/// Input to invite someone.
#[derive(Debug, Clone)]
pub struct InviteMemberInput {
    /// The organization.
    pub organization_id: ObjectId,
    /// The address to invite.
    pub email: String,
    /// The role they get on accepting.
    pub role: OrganizationRole,
}

/// How the invitee names the invitation they answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationReference {
    /// The token from the invitation e-mail.
    Token(String),
    /// The invitation's id, as listed to the invitee.
    Id(ObjectId),
}

/// Whether `from → to` is in [`INVITATION_TRANSITIONS`].
pub fn can_transition(from: InvitationStatus, to: InvitationStatus) -> bool {
    INVITATION_TRANSITIONS.contains(&(from, to))
}

/// Why an invitation in this state cannot move to `to` at `now`, if it cannot.
pub fn check_transition(
    invitation: &OrganizationInvitation,
    to: InvitationStatus,
    now: DateTime,
) -> Result<(), IdentityError> {
    match invitation.status {
        InvitationStatus::Revoked => return Err(IdentityError::InvitationRevoked),
        InvitationStatus::Accepted | InvitationStatus::Declined => {
            return Err(IdentityError::InvitationAlreadyAnswered)
        }
        InvitationStatus::Pending => {}
    }
    // A revoke may clean up an expired invitation; the invitee can no longer answer one.
    if to != InvitationStatus::Revoked && invitation.expires_at <= now {
        return Err(IdentityError::InvitationExpired);
    }
    if can_transition(invitation.status, to) {
        Ok(())
    } else {
        Err(IdentityError::InvitationAlreadyAnswered)
    }
}

/// Whether `user` is the person an invitation is addressed to: the same address, confirmed.
/// An unconfirmed address proves nothing (anyone can register any address).
pub fn is_addressed_to(invitation: &OrganizationInvitation, user: &User) -> bool {
    user.email_verified && user.deleted_at.is_none() && user.email == invitation.email
}

fn check_token(token: &str) -> Result<String, IdentityError> {
    let token = token.trim();
    if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS {
        return Err(IdentityError::InvalidInput {
            field: "token",
            reason: format!(
                "give the token from the invitation e-mail (at most {MAX_TOKEN_CHARS} characters)"
            ),
        });
    }
    Ok(hash_token(token))
}

impl IdentityService {
    /// Invites `input.email` to the organization. Owners and admins (and platform admins) only;
    /// inviting an owner needs an owner; API keys are refused (membership needs a person).
    ///
    /// The address is never looked up: the same invitation, e-mail and answer whether or not an
    /// account uses it. A pending invitation to the same address is refreshed (new token and
    /// expiry; the old link stops working). `RateLimited` past the organization's daily budget,
    /// with nothing stored.
    pub async fn invite_organization_member(
        &self,
        actor: &Principal,
        input: InviteMemberInput,
    ) -> Result<OrganizationInvitation, IdentityError> {
        actor.require_write()?;
        let inviter_id = actor.require_user()?.user_id;
        let email = normalize_email(&input.email)?;
        let organization = self.require_organization(input.organization_id).await?;
        authorization::require(
            can_manage_org(actor, &organization),
            "invite organization members",
        )?;
        if input.role == OrganizationRole::Owner {
            authorization::require(can_manage_owners(actor, &organization), "invite owners")?;
        }
        let inviter = self.require_user(inviter_id).await?;
        self.reserve_attempt(&Budget {
            key: format!("invite-org:{}", organization.id),
            limit: INVITATIONS_PER_ORGANIZATION_PER_DAY,
            window: INVITATION_WINDOW,
        })
        .await?;
        let token = generate_token();
        let now = self.now();
        let expires_at = add_duration(now, INVITATION_TTL);
        let invitation = self
            .upsert_pending_invitation(&organization, &email, input.role, &inviter, &token, now)
            .await?;
        self.enqueue_email_to_address(
            OutboxKind::OrganizationInvitation,
            &email,
            &token,
            expires_at,
        )
        .await?;
        tracing::info!(organization_id = %organization.id, invitation_id = %invitation.id, "organization invitation sent");
        Ok(invitation)
    }

    async fn upsert_pending_invitation(
        &self,
        organization: &Organization,
        email: &str,
        role: OrganizationRole,
        inviter: &User,
        token: &str,
        now: DateTime,
    ) -> Result<OrganizationInvitation, IdentityError> {
        let filter = doc! {
            "organization_id": organization.id,
            "email": email,
            "status": InvitationStatus::Pending.as_str(),
        };
        let update = doc! {
            "$set": {
                "organization_name": &organization.name,
                "role": role.as_str(),
                "token_hash": hash_token(token),
                "invited_by_id": inviter.id,
                "invited_by_name": &inviter.full_name,
                "expires_at": add_duration(now, INVITATION_TTL),
                "updated_at": now,
            },
            "$setOnInsert": { "created_at": now },
        };
        for _ in 0..UPSERT_RETRIES {
            match self
                .invitations
                .find_one_and_update(filter.clone(), update.clone())
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await
            {
                Ok(Some(document)) => return Ok(bson::from_document(document)?),
                Ok(None) => {
                    return Err(IdentityError::Internal(
                        "an upsert returned no document".into(),
                    ))
                }
                // A concurrent invite to the same address created it first; update that one.
                Err(error) if foundation::collection::is_duplicate_key(&error) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(IdentityError::VersionConflict)
    }

    /// The invitation `reference` names, if the caller is the person it is addressed to;
    /// `InvitationNotFound` otherwise — the same answer as for a token that names nothing, so a
    /// token in the wrong hands reveals nothing.
    async fn invitation_for_invitee(
        &self,
        user_id: ObjectId,
        reference: &InvitationReference,
    ) -> Result<(OrganizationInvitation, User), IdentityError> {
        let filter = match reference {
            InvitationReference::Token(token) => doc! { "token_hash": check_token(token)? },
            InvitationReference::Id(id) => doc! { "_id": id },
        };
        let user = self.require_user(user_id).await?;
        let invitation: OrganizationInvitation = self
            .invitations
            .find_one(filter)
            .await?
            .map(bson::from_document)
            .transpose()?
            .ok_or(IdentityError::InvitationNotFound)?;
        if is_addressed_to(&invitation, &user) {
            Ok((invitation, user))
        } else {
            Err(IdentityError::InvitationNotFound)
        }
    }

    /// Accepts an invitation by the token from its e-mail: the caller's confirmed address must be
    /// the invited one (`InvitationNotFound` otherwise). Moving the invitation to `accepted`,
    /// claiming the caller for the organization and adding the membership happen in one
    /// transaction; an expired, revoked or answered invitation, a caller already in an
    /// organization, or a full organization changes nothing.
    pub async fn accept_organization_invitation(
        &self,
        actor: &Principal,
        token: &str,
    ) -> Result<Organization, IdentityError> {
        actor.require_write()?;
        let user_id = actor.require_user()?.user_id;
        let (invitation, user) = self
            .invitation_for_invitee(user_id, &InvitationReference::Token(token.to_owned()))
            .await?;
        let now = self.now();
        check_transition(&invitation, InvitationStatus::Accepted, now)?;
        if user.organization_id.is_some() {
            return Err(IdentityError::AlreadyInOrganization);
        }
        let service = self.clone();
        in_transaction(self.users.client(), |mut session| {
            let service = service.clone();
            let invitation = invitation.clone();
            async move {
                let outcome = service
                    .accept_in_session(&mut session, &invitation, user_id, now)
                    .await;
                (session, outcome)
            }
        })
        .await?;
        tracing::info!(organization_id = %invitation.organization_id, invitation_id = %invitation.id, "organization invitation accepted");
        self.require_organization(invitation.organization_id).await
    }

    async fn accept_in_session(
        &self,
        session: &mut ClientSession,
        invitation: &OrganizationInvitation,
        user_id: ObjectId,
        now: DateTime,
    ) -> Result<(), IdentityError> {
        let moved = self
            .invitations
            .update_one(
                doc! { "_id": invitation.id, "status": InvitationStatus::Pending.as_str(), "expires_at": { "$gt": now } },
                doc! { "$set": {
                    "status": InvitationStatus::Accepted.as_str(),
                    "accepted_by_id": user_id,
                    "responded_at": now,
                    "updated_at": now,
                } },
            )
            .session(&mut *session)
            .await?;
        if moved.matched_count == 0 {
            return Err(self.why_not_pending(invitation.id, now).await);
        }
        let claimed = self
            .users
            .update_one(
                doc! { "_id": user_id, "organization_id": null },
                doc! { "$set": { "organization_id": invitation.organization_id, "organization_role": invitation.role.as_str(), "updated_at": now },
                       "$inc": { "version": 1_i64 } },
            )
            .session(&mut *session)
            .await?;
        if claimed.matched_count == 0 {
            return Err(IdentityError::AlreadyInOrganization);
        }
        let organization: Organization = self
            .organizations
            .find_one(doc! { "_id": invitation.organization_id })
            .session(&mut *session)
            .await?
            .map(bson::from_document)
            .transpose()?
            .ok_or(IdentityError::OrganizationNotFound)?;
        if organization.member(user_id).is_some() {
            return Err(IdentityError::AlreadyInOrganization);
        }
        let max_members = organization.limits.max_members;
        if organization.usage.member_count >= max_members {
            return Err(IdentityError::MemberLimitReached { max_members });
        }
        let member = OrganizationMember {
            user_id,
            role: invitation.role,
            joined_at: now,
        };
        // The list and its count move in one update, guarded by the version that was read, so
        // `member_count` stays the length of `members` and the limit holds under races.
        let added = self
            .organizations
            .update_one(
                doc! { "_id": organization.id, "version": organization.version },
                doc! {
                    "$push": { "members": bson::to_bson(&member)? },
                    "$inc": { "usage.member_count": 1_i64, "version": 1_i64 },
                    "$set": { "updated_at": now },
                },
            )
            .session(&mut *session)
            .await?;
        if added.matched_count == 0 {
            return Err(IdentityError::VersionConflict);
        }
        Ok(())
    }

    /// The error for an invitation that is no longer pending and unexpired.
    async fn why_not_pending(&self, id: ObjectId, now: DateTime) -> IdentityError {
        let current = match self.invitations.find_one(doc! { "_id": id }).await {
            Ok(Some(document)) => bson::from_document::<OrganizationInvitation>(document),
            Ok(None) => return IdentityError::InvitationNotFound,
            Err(error) => return error.into(),
        };
        match current {
            Ok(invitation) => check_transition(&invitation, InvitationStatus::Accepted, now)
                .err()
                .unwrap_or(IdentityError::VersionConflict),
            Err(error) => error.into(),
        }
    }

    /// Declines an invitation addressed to the caller (by the e-mail's token or by the id it is
    /// listed with). Nothing else changes.
    pub async fn decline_organization_invitation(
        &self,
        actor: &Principal,
        reference: InvitationReference,
    ) -> Result<OrganizationInvitation, IdentityError> {
        actor.require_write()?;
        let user_id = actor.require_user()?.user_id;
        let (invitation, _) = self.invitation_for_invitee(user_id, &reference).await?;
        self.move_invitation(&invitation, InvitationStatus::Declined)
            .await
    }

    /// Revokes a pending invitation (even an expired one). Owners and admins of its organization
    /// only; an owner invitation needs an owner. Others who cannot see the organization get
    /// `InvitationNotFound`.
    pub async fn revoke_organization_invitation(
        &self,
        actor: &Principal,
        invitation_id: ObjectId,
    ) -> Result<OrganizationInvitation, IdentityError> {
        actor.require_write()?;
        let invitation: OrganizationInvitation = self
            .invitations
            .find_one(doc! { "_id": invitation_id })
            .await?
            .map(bson::from_document)
            .transpose()?
            .ok_or(IdentityError::InvitationNotFound)?;
        let organization = self
            .organization(invitation.organization_id)
            .await?
            .filter(|organization| can_view_org(actor, organization))
            .ok_or(IdentityError::InvitationNotFound)?;
        authorization::require(
            can_manage_org(actor, &organization),
            "revoke organization invitations",
        )?;
        if invitation.role == OrganizationRole::Owner {
            authorization::require(
                can_manage_owners(actor, &organization),
                "revoke owner invitations",
            )?;
        }
        self.move_invitation(&invitation, InvitationStatus::Revoked)
            .await
    }

    /// Applies `to` by compare-and-set on the pending status (and, unless revoking, the expiry).
    async fn move_invitation(
        &self,
        invitation: &OrganizationInvitation,
        to: InvitationStatus,
    ) -> Result<OrganizationInvitation, IdentityError> {
        let now = self.now();
        check_transition(invitation, to, now)?;
        let mut filter =
            doc! { "_id": invitation.id, "status": InvitationStatus::Pending.as_str() };
        if to != InvitationStatus::Revoked {
            filter.insert("expires_at", doc! { "$gt": now });
        }
        let moved = self
            .invitations
            .find_one_and_update(
                filter,
                doc! { "$set": { "status": to.as_str(), "responded_at": now, "updated_at": now } },
            )
            .return_document(ReturnDocument::After)
            .await?;
        match moved {
            Some(document) => Ok(bson::from_document(document)?),
            None => Err(self.why_not_pending(invitation.id, now).await),
        }
    }

    /// The organization's pending, unexpired invitations, newest first. Owners and admins only.
    pub async fn pending_organization_invitations(
        &self,
        actor: &Principal,
        organization_id: ObjectId,
    ) -> Result<Vec<OrganizationInvitation>, IdentityError> {
        let organization = self.organization_for(actor, organization_id).await?;
        authorization::require(
            can_manage_org(actor, &organization),
            "list organization invitations",
        )?;
        self.pending_invitations(doc! { "organization_id": organization_id })
            .await
    }

    /// Pending, unexpired invitations addressed to the calling user's confirmed address, newest
    /// first; none while the address is unconfirmed.
    pub async fn my_organization_invitations(
        &self,
        actor: &Principal,
    ) -> Result<Vec<OrganizationInvitation>, IdentityError> {
        let user = self.require_user(actor.require_user()?.user_id).await?;
        if !user.email_verified || user.deleted_at.is_some() {
            return Ok(Vec::new());
        }
        self.pending_invitations(doc! { "email": &user.email })
            .await
    }

    /// Forgets what invitations hold about an erased user: invitations to their address (and
    /// their queued e-mails) are deleted, and their name on invitations they sent is replaced.
    pub(crate) async fn forget_invitations_of(&self, user: &User) -> Result<(), IdentityError> {
        self.invitations
            .delete_many(doc! { "email": &user.email })
            .await?;
        self.outbox
            .delete_many(doc! { "to": &user.email, "kind": "organization_invitation" })
            .await?;
        self.invitations
            .update_many(
                doc! { "invited_by_id": user.id },
                doc! { "$set": { "invited_by_name": "Erased user" } },
            )
            .await?;
        Ok(())
    }

    async fn pending_invitations(
        &self,
        mut filter: Document,
    ) -> Result<Vec<OrganizationInvitation>, IdentityError> {
        filter.insert("status", InvitationStatus::Pending.as_str());
        filter.insert("expires_at", doc! { "$gt": self.now() });
        let options = FindOptions::builder()
            .sort(doc! { "created_at": -1 })
            .limit(MAX_LISTED_INVITATIONS)
            .build();
        let documents: Vec<Document> = self
            .invitations
            .find(filter)
            .with_options(options)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(status: InvitationStatus, expires_at: DateTime) -> OrganizationInvitation {
        OrganizationInvitation {
            id: ObjectId::new(),
            organization_id: ObjectId::new(),
            organization_name: "TechCorp QA".into(),
            email: "dev@techcorp.io".into(),
            role: OrganizationRole::Member,
            status,
            invited_by_id: ObjectId::new(),
            invited_by_name: "Owner".into(),
            created_at: DateTime::from_millis(0),
            updated_at: DateTime::from_millis(0),
            expires_at,
            responded_at: None,
            accepted_by_id: None,
        }
    }

    #[test]
    fn only_a_pending_invitation_moves_and_never_back() {
        use InvitationStatus::*;
        for from in [Pending, Accepted, Declined, Revoked] {
            for to in [Pending, Accepted, Declined, Revoked] {
                assert_eq!(
                    can_transition(from, to),
                    from == Pending && to != Pending,
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn an_expired_invitation_can_be_revoked_but_not_answered() {
        let now = DateTime::from_millis(10_000);
        let expired = invitation(InvitationStatus::Pending, DateTime::from_millis(10_000));
        assert!(matches!(
            check_transition(&expired, InvitationStatus::Accepted, now),
            Err(IdentityError::InvitationExpired)
        ));
        assert!(matches!(
            check_transition(&expired, InvitationStatus::Declined, now),
            Err(IdentityError::InvitationExpired)
        ));
        assert!(check_transition(&expired, InvitationStatus::Revoked, now).is_ok());
        let live = invitation(InvitationStatus::Pending, DateTime::from_millis(10_001));
        assert!(check_transition(&live, InvitationStatus::Accepted, now).is_ok());
    }

    #[test]
    fn answered_and_revoked_invitations_say_why_they_cannot_be_used() {
        let now = DateTime::from_millis(0);
        let later = DateTime::from_millis(1_000);
        assert!(matches!(
            check_transition(
                &invitation(InvitationStatus::Revoked, later),
                InvitationStatus::Accepted,
                now
            ),
            Err(IdentityError::InvitationRevoked)
        ));
        for status in [InvitationStatus::Accepted, InvitationStatus::Declined] {
            assert!(matches!(
                check_transition(&invitation(status, later), InvitationStatus::Accepted, now),
                Err(IdentityError::InvitationAlreadyAnswered)
            ));
        }
    }

    #[test]
    fn tokens_are_bounded_and_stored_only_as_their_hash() {
        assert_eq!(check_token(" abc ").unwrap(), hash_token("abc"));
        assert_ne!(check_token("abc").unwrap(), "abc");
        for token in ["", "   ", &"x".repeat(MAX_TOKEN_CHARS + 1)] {
            assert_eq!(check_token(token).unwrap_err().field(), Some("token"));
        }
    }
}
