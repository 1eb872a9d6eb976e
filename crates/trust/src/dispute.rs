//! Disputes (seed section 6): the tester may dispute the rejection of their submission, the
//! job's client (or an owner or admin of its organization) an approved submission whose payout is
//! still held inside the dispute window. One open dispute per submission (a unique partial index
//! on `submission_id` over the active ones), and a submission is disputed once.
//!
//! **Lifecycle.** [`DisputeStatus`] plus [`DISPUTE_TRANSITIONS`]: open → under_review (an admin
//! takes it) → resolved → closed, and open → closed when the raiser withdraws. Each transition is
//! one compare-and-set on the current status.
//!
//! **Money follows the decision, in the same transaction.** Opening freezes the disputed money
//! through escrow (`open_dispute_in`); resolving settles it (`settle_dispute_in`): the dispute's
//! compare-and-set, the ledger step and the `dispute_update` event commit together or not at
//! all, so a resolution moves money once. A refund's provider call follows the commit.
//! [`settlement_for`] maps each resolution to its money.

use std::collections::HashMap;

use bson::oid::ObjectId;
use bson::{doc, DateTime};
use escrow::{DisputeSettlement, EscrowActor, EscrowService};
use foundation::events::{DomainEvent, DomainEventKind};
use foundation::transaction_retry::in_transaction;
use marketplace::{Actor, ActorRole, MarketplaceService, OrgRole, SubmissionStatus};
use mongodb::error::{ErrorKind, WriteFailure};
use serde::{Deserialize, Serialize};

use crate::error::TrustError;
use crate::service::TrustService;

/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;
/// Most evidence items per dispute.
pub const MAX_EVIDENCE: usize = 10;
/// Longest evidence or attachment URL, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest evidence description, in characters.
pub const MAX_EVIDENCE_DESCRIPTION_CHARS: usize = 1_000;
/// Most messages per dispute.
pub const MAX_MESSAGES: usize = 200;
/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;
/// Most attachments per message.
pub const MAX_ATTACHMENTS: usize = 5;
/// Longest resolution text, in characters.
pub const MAX_RESOLUTION_CHARS: usize = 2_000;

/// Where a dispute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// Raised, waiting for an admin.
    Open,
    /// An admin took it.
    UnderReview,
    /// Decided; its money moved.
    Resolved,
    /// Finished: closed by an admin after the resolution, or withdrawn by the raiser.
    Closed,
}

impl DisputeStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Resolved => "resolved",
            DisputeStatus::Closed => "closed",
        }
    }

    /// Whether the dispute still blocks another on its submission (and its money is frozen).
    pub fn is_active(self) -> bool {
        matches!(self, DisputeStatus::Open | DisputeStatus::UnderReview)
    }
}

/// What moves a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeAction {
    /// A platform admin takes it.
    Assign,
    /// The assigned admin decides it.
    Resolve,
    /// An admin closes a resolved dispute.
    Close,
    /// The raiser withdraws it before an admin took it.
    Withdraw,
}

/// Every allowed transition: (from, action, to).
pub const DISPUTE_TRANSITIONS: &[(DisputeStatus, DisputeAction, DisputeStatus)] = &[
    (
        DisputeStatus::Open,
        DisputeAction::Assign,
        DisputeStatus::UnderReview,
    ),
    (
        DisputeStatus::Open,
        DisputeAction::Withdraw,
        DisputeStatus::Closed,
    ),
    (
        DisputeStatus::UnderReview,
        DisputeAction::Resolve,
        DisputeStatus::Resolved,
    ),
    (
        DisputeStatus::Resolved,
        DisputeAction::Close,
        DisputeStatus::Closed,
    ),
];

/// Where `action` takes a dispute in `from`, if the table allows it.
pub fn dispute_transition(from: DisputeStatus, action: DisputeAction) -> Option<DisputeStatus> {
    DISPUTE_TRANSITIONS
        .iter()
        .find(|(status, allowed, _)| *status == from && *allowed == action)
        .map(|(_, _, to)| *to)
}

/// Which side raised a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaisedByRole {
    /// The job's client (or its organization) disputes an approved submission.
    Client,
    /// The submission's tester disputes its rejection.
    Tester,
}

/// Why (the seed's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeReason {
    /// The work was not finished.
    IncompleteWork,
    /// The rejection was unfair.
    UnfairRejection,
    /// Something about the payment.
    PaymentIssue,
    /// The work's quality.
    QualityIssue,
    /// Anything else; also how a stored reason this version does not know reads.
    #[serde(other)]
    Other,
}

/// How urgent (the seed's priorities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputePriority {
    /// Low.
    Low,
    /// Medium (the default).
    Medium,
    /// High.
    High,
}

impl DisputePriority {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputePriority::Low => "low",
            DisputePriority::Medium => "medium",
            DisputePriority::High => "high",
        }
    }
}

/// What evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceType {
    /// An image.
    Screenshot,
    /// A message exchanged outside the platform.
    Message,
    /// A document.
    Document,
}

/// How a dispute was decided (the seed's `resolution_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionType {
    /// The seat's pay goes back to the client.
    Refund,
    /// The tester is paid.
    PaymentReleased,
    /// The seat is split: `refund_cents` to the client, the rest (minus the fee) to the tester.
    PartialRefund,
    /// The review stands: an approval is paid, a rejection's seat goes back to the client.
    NoAction,
}

/// One piece of evidence (a link; uploads are not part of this issue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What it is.
    #[serde(rename = "type")]
    pub evidence_type: EvidenceType,
    /// An `https` URL.
    pub url: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// When it was added.
    pub uploaded_at: DateTime,
}

/// One message between the parties and the assigned admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeMessage {
    /// Who wrote it.
    pub from_id: ObjectId,
    /// The text.
    pub message: String,
    /// `https` URLs.
    #[serde(default)]
    pub attachments: Vec<String>,
    /// When.
    pub timestamp: DateTime,
}

/// One stored dispute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// Id.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The disputed submission.
    pub submission_id: ObjectId,
    /// Its job.
    pub job_id: ObjectId,
    /// Who raised it.
    pub raised_by_id: ObjectId,
    /// Which side raised it.
    pub raised_by_role: RaisedByRole,
    /// The other party (the job's client, or the submission's tester).
    pub respondent_id: ObjectId,
    /// The job's client.
    pub client_id: ObjectId,
    /// The submission's tester.
    pub tester_id: ObjectId,
    /// The job's organization; its owners and admins are on the client's side.
    #[serde(default)]
    pub organization_id: Option<ObjectId>,
    /// The job's title when it was raised (for notifications).
    #[serde(default)]
    pub job_title: String,
    /// Why.
    pub reason: DisputeReason,
    /// The raiser's account.
    pub description: String,
    /// Links backing it.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Where it is.
    pub status: DisputeStatus,
    /// How urgent.
    pub priority: DisputePriority,
    /// True while open or under review: the unique partial index keeps one such per submission.
    pub is_active: bool,
    /// The admin handling it.
    #[serde(default)]
    pub assigned_admin_id: Option<ObjectId>,
    /// The decision's text.
    #[serde(default)]
    pub resolution: Option<String>,
    /// How it was decided.
    #[serde(default)]
    pub resolution_type: Option<ResolutionType>,
    /// Whom the decision favours (none for a split).
    #[serde(default)]
    pub resolved_in_favor_of: Option<ObjectId>,
    /// Cents refunded to the client by the decision (the whole seat for a refund).
    #[serde(default)]
    pub refund_cents: Option<i64>,
    /// Cents the tester receives by the decision (after the platform fee).
    #[serde(default)]
    pub tester_payout_cents: Option<i64>,
    /// Messages, oldest first.
    #[serde(default)]
    pub messages: Vec<DisputeMessage>,
    /// Raised.
    pub created_at: DateTime,
    /// Last changed.
    pub updated_at: DateTime,
    /// Decided.
    #[serde(default)]
    pub resolved_at: Option<DateTime>,
    /// Closed or withdrawn.
    #[serde(default)]
    pub closed_at: Option<DateTime>,
}

/// What a raiser submits.
#[derive(Debug, Clone)]
pub struct NewDispute {
    /// Why.
    pub reason: DisputeReason,
    /// 1 to [`MAX_DESCRIPTION_CHARS`] characters.
    pub description: String,
    /// At most [`MAX_EVIDENCE`] items.
    pub evidence: Vec<EvidenceInput>,
    /// How urgent (medium when not said).
    pub priority: DisputePriority,
}

/// One evidence item as submitted.
#[derive(Debug, Clone)]
pub struct EvidenceInput {
    /// What it is.
    pub evidence_type: EvidenceType,
    /// An `https` URL of at most [`MAX_URL_CHARS`].
    pub url: String,
    /// At most [`MAX_EVIDENCE_DESCRIPTION_CHARS`].
    pub description: String,
}

/// The admin's decision.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// How.
    pub resolution_type: ResolutionType,
    /// 1 to [`MAX_RESOLUTION_CHARS`] characters, shown to both parties.
    pub text: String,
    /// For [`ResolutionType::PartialRefund`] only: cents back to the client.
    pub refund_cents: Option<i64>,
}

/// The admin queue's filter.
#[derive(Debug, Clone, Default)]
pub struct DisputeQueueFilter {
    /// Only this status.
    pub status: Option<DisputeStatus>,
    /// Only this priority.
    pub priority: Option<DisputePriority>,
    /// Only those assigned to this admin.
    pub assigned_admin_id: Option<ObjectId>,
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<String, TrustError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > max {
        return Err(TrustError::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Checks that `url` is an absolute `https` URL with a host, without spaces or control
/// characters, at most [`MAX_URL_CHARS`] long; pure.
pub fn check_https_url(field: &'static str, url: &str) -> Result<(), TrustError> {
    let refuse = |reason: &str| Err(TrustError::invalid(field, reason.to_owned()));
    if url.chars().count() > MAX_URL_CHARS {
        return refuse("is longer than 2048 characters");
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return refuse("must be an https URL");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("must not contain spaces or control characters");
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return refuse("must name a host");
    }
    Ok(())
}

/// Checks a new dispute and returns its trimmed description; pure.
pub fn validate_new_dispute(input: &NewDispute) -> Result<String, TrustError> {
    let description = check_text("description", &input.description, MAX_DESCRIPTION_CHARS)?;
    if input.evidence.len() > MAX_EVIDENCE {
        return Err(TrustError::invalid(
            "evidence",
            format!("at most {MAX_EVIDENCE} items"),
        ));
    }
    for item in &input.evidence {
        check_https_url("evidence.url", &item.url)?;
        if item.description.chars().count() > MAX_EVIDENCE_DESCRIPTION_CHARS {
            return Err(TrustError::invalid(
                "evidence.description",
                format!("at most {MAX_EVIDENCE_DESCRIPTION_CHARS} characters"),
            ));
        }
    }
    Ok(description)
}

/// The money a resolution moves for a dispute raised by `raised_by`: `payment_released` pays
/// the tester, `refund` returns the whole seat to the client, `partial_refund` splits it, and
/// `no_action` lets the review stand (an approval is paid, a rejection's seat is refunded).
pub fn settlement_for(
    raised_by: RaisedByRole,
    resolution: &Resolution,
) -> Result<DisputeSettlement, TrustError> {
    match (resolution.resolution_type, resolution.refund_cents) {
        (ResolutionType::PartialRefund, Some(refund_cents)) => {
            Ok(DisputeSettlement::Split { refund_cents })
        }
        (ResolutionType::PartialRefund, None) => Err(TrustError::invalid(
            "refund_cents",
            "a partial refund names the cents refunded to the client",
        )),
        (_, Some(_)) => Err(TrustError::invalid(
            "refund_cents",
            "only a partial refund names cents",
        )),
        (ResolutionType::PaymentReleased, None) => Ok(DisputeSettlement::PayTester),
        (ResolutionType::Refund, None) => Ok(DisputeSettlement::RefundClient),
        (ResolutionType::NoAction, None) => Ok(match raised_by {
            RaisedByRole::Client => DisputeSettlement::PayTester,
            RaisedByRole::Tester => DisputeSettlement::RefundClient,
        }),
    }
}

/// Whether `actor` is on the client's side of `dispute`: the client, or an owner or admin of
/// the job's organization.
fn on_client_side(actor: &Actor, dispute: &Dispute) -> bool {
    actor.user_id == dispute.client_id
        || (actor.role != ActorRole::Tester
            && matches!(
                (actor.organization, dispute.organization_id),
                (Some((mine, OrgRole::Owner | OrgRole::Admin)), Some(theirs)) if mine == theirs
            ))
}

/// Who may see a dispute: its tester, its client's side, and platform admins. Anyone else is
/// told it does not exist.
pub fn dispute_visible_to(actor: &Actor, dispute: &Dispute) -> bool {
    actor.role == ActorRole::Admin
        || actor.user_id == dispute.tester_id
        || on_client_side(actor, dispute)
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    matches!(&*error.kind, ErrorKind::Write(WriteFailure::WriteError(write)) if write.code == 11000)
}

impl Dispute {
    /// The people a change is for: both parties, minus whoever made it (an admin's change goes to
    /// both).
    fn recipients_of_change_by(&self, actor_id: ObjectId) -> Vec<ObjectId> {
        [self.raised_by_id, self.respondent_id]
            .into_iter()
            .filter(|id| *id != actor_id)
            .collect()
    }

    fn event(&self, recipients: Vec<ObjectId>, what: &str) -> DomainEvent {
        DomainEvent::new(DomainEventKind::DisputeUpdate, recipients)
            .with_job(self.job_id)
            .with_submission(self.submission_id)
            .with_payload(doc! {
                "job_title": self.job_title.as_str(),
                "dispute_id": self.id,
                "status": self.status.as_str(),
                "change": what,
            })
    }
}

impl TrustService {
    /// Opens a dispute on a submission: its tester disputes a rejection, the job's client (or an
    /// owner or admin of its organization) an approved submission whose payout is still held.
    /// In one transaction the dispute is stored, the disputed money frozen through escrow and
    /// the other party told.
    pub async fn open_dispute(
        &self,
        marketplace: &MarketplaceService,
        escrow: &EscrowService,
        actor: &Actor,
        submission_id: ObjectId,
        input: NewDispute,
    ) -> Result<Dispute, TrustError> {
        let submission = marketplace.submission(actor, submission_id).await?;
        let job = marketplace.job(submission.job_id).await?;
        let client_side = actor.role != ActorRole::Tester
            && (actor.user_id == job.client_id
                || matches!(
                    (actor.organization, job.organization_id),
                    (Some((mine, OrgRole::Owner | OrgRole::Admin)), Some(theirs)) if mine == theirs
                ));
        let (raised_by_role, respondent_id) = if actor.user_id == submission.tester_id {
            if submission.status != SubmissionStatus::Rejected {
                return Err(TrustError::NotDisputable);
            }
            (RaisedByRole::Tester, job.client_id)
        } else if client_side {
            if submission.status != SubmissionStatus::Approved {
                return Err(TrustError::NotDisputable);
            }
            (RaisedByRole::Client, submission.tester_id)
        } else {
            return Err(TrustError::NotAParty);
        };
        let description = validate_new_dispute(&input)?;
        if self
            .disputes
            .find_one(doc! { "submission_id": submission_id })
            .await?
            .is_some()
        {
            return Err(TrustError::AlreadyDisputed);
        }
        let now = self.now();
        let dispute = Dispute {
            id: ObjectId::new(),
            submission_id,
            job_id: job.id,
            raised_by_id: actor.user_id,
            raised_by_role,
            respondent_id,
            client_id: job.client_id,
            tester_id: submission.tester_id,
            organization_id: job.organization_id,
            job_title: job.title.clone(),
            reason: input.reason,
            description,
            evidence: input
                .evidence
                .into_iter()
                .map(|item| Evidence {
                    evidence_type: item.evidence_type,
                    url: item.url,
                    description: item.description.trim().to_owned(),
                    uploaded_at: now,
                })
                .collect(),
            status: DisputeStatus::Open,
            priority: input.priority,
            is_active: true,
            assigned_admin_id: None,
            resolution: None,
            resolution_type: None,
            resolved_in_favor_of: None,
            refund_cents: None,
            tester_payout_cents: None,
            messages: Vec::new(),
            created_at: now,
            updated_at: now,
            resolved_at: None,
            closed_at: None,
        };
        let disputes = self.disputes.clone();
        let events = self.events.clone();
        let money_actor = EscrowActor::User(actor.user_id);
        let (dispute, submission) = (&dispute, &submission);
        in_transaction(&self.client, |mut session| {
            let disputes = disputes.clone();
            let events = events.clone();
            async move {
                let outcome = async {
                    match disputes.insert_one(dispute).session(&mut session).await {
                        Ok(_) => {}
                        Err(error) if is_duplicate_key(&error) => {
                            return Err(TrustError::AlreadyDisputed)
                        }
                        Err(error) => return Err(error.into()),
                    }
                    escrow
                        .open_dispute_in(
                            &mut session,
                            marketplace,
                            submission,
                            dispute.id,
                            money_actor,
                        )
                        .await?;
                    events
                        .record(
                            &mut session,
                            dispute.event(vec![dispute.respondent_id], "opened"),
                            now,
                        )
                        .await?;
                    Ok(())
                }
                .await;
                (session, outcome)
            }
        })
        .await?;
        Ok(dispute.clone())
    }

    /// A dispute the caller may see ([`dispute_visible_to`]), or `DisputeNotFound`.
    pub async fn visible_dispute(
        &self,
        actor: &Actor,
        dispute_id: ObjectId,
    ) -> Result<Dispute, TrustError> {
        match self.disputes.find_one(doc! { "_id": dispute_id }).await? {
            Some(dispute) if dispute_visible_to(actor, &dispute) => Ok(dispute),
            _ => Err(TrustError::DisputeNotFound),
        }
    }

    /// A platform admin takes an open dispute (open → under_review), or takes over one under
    /// review from another admin.
    pub async fn assign_dispute(
        &self,
        actor: &Actor,
        dispute_id: ObjectId,
    ) -> Result<Dispute, TrustError> {
        if actor.role != ActorRole::Admin {
            return Err(TrustError::DisputeNotFound);
        }
        let current = self.visible_dispute(actor, dispute_id).await?;
        if current.status == DisputeStatus::UnderReview {
            if current.assigned_admin_id == Some(actor.user_id) {
                return Ok(current);
            }
            let now = self.now();
            return self
                .disputes
                .find_one_and_update(
                    doc! { "_id": dispute_id, "status": DisputeStatus::UnderReview.as_str() },
                    doc! { "$set": { "assigned_admin_id": actor.user_id, "updated_at": now } },
                )
                .return_document(mongodb::options::ReturnDocument::After)
                .await?
                .ok_or(TrustError::DisputeTransitionRefused {
                    from: current.status.as_str(),
                });
        }
        self.transition(
            actor,
            current,
            DisputeAction::Assign,
            doc! {
                "assigned_admin_id": actor.user_id,
            },
            "assigned",
        )
        .await
    }

    /// An admin closes a resolved dispute (resolved → closed).
    pub async fn close_dispute(
        &self,
        actor: &Actor,
        dispute_id: ObjectId,
    ) -> Result<Dispute, TrustError> {
        if actor.role != ActorRole::Admin {
            return Err(TrustError::DisputeNotFound);
        }
        let current = self.visible_dispute(actor, dispute_id).await?;
        let now = self.now();
        self.transition(
            actor,
            current,
            DisputeAction::Close,
            doc! { "closed_at": now },
            "closed",
        )
        .await
    }

    /// A money-free transition by compare-and-set on the current status, with its event.
    async fn transition(
        &self,
        actor: &Actor,
        current: Dispute,
        action: DisputeAction,
        mut set: bson::Document,
        what: &'static str,
    ) -> Result<Dispute, TrustError> {
        let to = dispute_transition(current.status, action).ok_or(
            TrustError::DisputeTransitionRefused {
                from: current.status.as_str(),
            },
        )?;
        let now = self.now();
        set.insert("status", to.as_str());
        set.insert("is_active", to.is_active());
        set.insert("updated_at", now);
        let disputes = self.disputes.clone();
        let events = self.events.clone();
        let (current, set) = (&current, &set);
        let updated = in_transaction(&self.client, |mut session| {
            let disputes = disputes.clone();
            let events = events.clone();
            async move {
                let outcome: Result<Dispute, TrustError> = async {
                    let updated = disputes
                        .find_one_and_update(
                            doc! { "_id": current.id, "status": current.status.as_str() },
                            doc! { "$set": set.clone() },
                        )
                        .return_document(mongodb::options::ReturnDocument::After)
                        .session(&mut session)
                        .await?
                        .ok_or(TrustError::DisputeTransitionRefused {
                            from: current.status.as_str(),
                        })?;
                    let recipients = updated.recipients_of_change_by(actor.user_id);
                    events
                        .record(&mut session, updated.event(recipients, what), now)
                        .await?;
                    Ok(updated)
                }
                .await;
                (session, outcome)
            }
        })
        .await?;
        Ok(updated)
    }

    /// The raiser withdraws their open dispute (open → closed): the review stands, so the
    /// money goes where it was going (an approval's payout is held again, a rejection's seat
    /// goes back to the client), in the transaction of the change.
    pub async fn withdraw_dispute(
        &self,
        marketplace: &MarketplaceService,
        escrow: &EscrowService,
        actor: &Actor,
        dispute_id: ObjectId,
    ) -> Result<Dispute, TrustError> {
        let current = self.visible_dispute(actor, dispute_id).await?;
        if current.raised_by_id != actor.user_id {
            return Err(TrustError::NotTheRaiser);
        }
        let settlement = match current.raised_by_role {
            RaisedByRole::Client => DisputeSettlement::PayTester,
            RaisedByRole::Tester => DisputeSettlement::RefundClient,
        };
        let now = self.now();
        self.settle(
            marketplace,
            escrow,
            actor,
            current,
            DisputeAction::Withdraw,
            settlement,
            doc! { "closed_at": now },
            "withdrawn",
        )
        .await
    }

    /// The assigned admin decides a dispute under review (under_review → resolved); the money
    /// follows the decision in the same transaction ([`settlement_for`]).
    pub async fn resolve_dispute(
        &self,
        marketplace: &MarketplaceService,
        escrow: &EscrowService,
        actor: &Actor,
        dispute_id: ObjectId,
        resolution: Resolution,
    ) -> Result<Dispute, TrustError> {
        if actor.role != ActorRole::Admin {
            return Err(TrustError::DisputeNotFound);
        }
        let text = check_text("resolution", &resolution.text, MAX_RESOLUTION_CHARS)?;
        let current = self.visible_dispute(actor, dispute_id).await?;
        if current.status == DisputeStatus::UnderReview
            && current.assigned_admin_id != Some(actor.user_id)
        {
            return Err(TrustError::NotTheAssignedAdmin);
        }
        let settlement = settlement_for(current.raised_by_role, &resolution)?;
        let favoured = match settlement {
            DisputeSettlement::PayTester => Some(current.tester_id),
            DisputeSettlement::RefundClient => Some(current.client_id),
            DisputeSettlement::Split { .. } => None,
        };
        let now = self.now();
        let resolution_type = bson::to_bson(&resolution.resolution_type)?;
        self.settle(
            marketplace,
            escrow,
            actor,
            current,
            DisputeAction::Resolve,
            settlement,
            doc! {
                "resolution": text,
                "resolution_type": resolution_type,
                "resolved_in_favor_of": favoured,
                "resolved_at": now,
            },
            "resolved",
        )
        .await
    }

    /// A transition that moves the disputed money: the dispute's compare-and-set, escrow's
    /// settlement and the event in one transaction; then the refund's provider call.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        marketplace: &MarketplaceService,
        escrow: &EscrowService,
        actor: &Actor,
        current: Dispute,
        action: DisputeAction,
        settlement: DisputeSettlement,
        mut set: bson::Document,
        what: &'static str,
    ) -> Result<Dispute, TrustError> {
        let to = dispute_transition(current.status, action).ok_or(
            TrustError::DisputeTransitionRefused {
                from: current.status.as_str(),
            },
        )?;
        let now = self.now();
        set.insert("status", to.as_str());
        set.insert("is_active", to.is_active());
        set.insert("updated_at", now);
        let disputes = self.disputes.clone();
        let events = self.events.clone();
        let money_actor = EscrowActor::User(actor.user_id);
        let (current, set) = (&current, &set);
        let (updated, money) = in_transaction(&self.client, |mut session| {
            let disputes = disputes.clone();
            let events = events.clone();
            async move {
                let outcome = async {
                    let mut filter = doc! { "_id": current.id, "status": current.status.as_str() };
                    if action == DisputeAction::Resolve {
                        filter.insert("assigned_admin_id", actor.user_id);
                    }
                    let claimed = disputes
                        .update_one(filter, doc! { "$set": set.clone() })
                        .session(&mut session)
                        .await?;
                    if claimed.matched_count != 1 {
                        return Err(TrustError::DisputeTransitionRefused {
                            from: current.status.as_str(),
                        });
                    }
                    let money = escrow
                        .settle_dispute_in(
                            &mut session,
                            marketplace,
                            current.job_id,
                            current.submission_id,
                            settlement,
                            money_actor,
                        )
                        .await?;
                    let refunded = money
                        .refund
                        .as_ref()
                        .map_or(0, |refund| refund.amount_cents);
                    let paid = if money.payout.status == escrow::PayoutStatus::Reversed {
                        0
                    } else {
                        money.payout.tester_payout_cents
                    };
                    let updated = disputes
                        .find_one_and_update(
                            doc! { "_id": current.id },
                            doc! { "$set": {
                                "refund_cents": refunded,
                                "tester_payout_cents": paid,
                            }},
                        )
                        .return_document(mongodb::options::ReturnDocument::After)
                        .session(&mut session)
                        .await?
                        .ok_or_else(|| TrustError::Internal("a dispute vanished".into()))?;
                    let recipients = updated.recipients_of_change_by(actor.user_id);
                    events
                        .record(&mut session, updated.event(recipients, what), now)
                        .await?;
                    Ok((updated, money))
                }
                .await;
                (session, outcome)
            }
        })
        .await?;
        if let Some(refund) = &money.refund {
            if refund.status == escrow::RefundStatus::Pending {
                // Recorded and earmarked already: an outage leaves it pending for `reconcile`,
                // and the decision stands.
                if let Err(error) = escrow
                    .finish_dispute_refund(marketplace, money.job_id, refund.refund_id, money_actor)
                    .await
                {
                    tracing::warn!(
                        dispute_id = %updated.id,
                        refund_id = %refund.refund_id,
                        %error,
                        "dispute refund left pending for reconcile"
                    );
                }
            }
        }
        Ok(updated)
    }

    /// Posts a message on an open or reviewed dispute: its parties (the client's organization
    /// owners and admins too) and the assigned admin; at most [`MAX_MESSAGES`].
    pub async fn post_dispute_message(
        &self,
        actor: &Actor,
        dispute_id: ObjectId,
        message: String,
        attachments: Vec<String>,
    ) -> Result<Dispute, TrustError> {
        let message = check_text("message", &message, MAX_MESSAGE_CHARS)?;
        if attachments.len() > MAX_ATTACHMENTS {
            return Err(TrustError::invalid(
                "attachments",
                format!("at most {MAX_ATTACHMENTS} items"),
            ));
        }
        for attachment in &attachments {
            check_https_url("attachments", attachment)?;
        }
        let current = self.visible_dispute(actor, dispute_id).await?;
        if actor.role == ActorRole::Admin
            && current.assigned_admin_id != Some(actor.user_id)
            && actor.user_id != current.tester_id
            && actor.user_id != current.client_id
        {
            return Err(TrustError::NotTheAssignedAdmin);
        }
        if !current.status.is_active() {
            return Err(TrustError::DisputeTransitionRefused {
                from: current.status.as_str(),
            });
        }
        let now = self.now();
        let entry = bson::to_bson(&DisputeMessage {
            from_id: actor.user_id,
            message,
            attachments,
            timestamp: now,
        })?;
        let last_allowed = format!("messages.{}", MAX_MESSAGES - 1);
        let updated = self
            .disputes
            .find_one_and_update(
                doc! {
                    "_id": dispute_id,
                    "is_active": true,
                    last_allowed: { "$exists": false },
                },
                doc! { "$push": { "messages": entry }, "$set": { "updated_at": now } },
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        match updated {
            Some(dispute) => Ok(dispute),
            None if current.messages.len() >= MAX_MESSAGES => Err(TrustError::invalid(
                "message",
                format!("a dispute holds at most {MAX_MESSAGES} messages"),
            )),
            None => Err(TrustError::DisputeTransitionRefused {
                from: current.status.as_str(),
            }),
        }
    }

    /// Every dispute of each submission, oldest first; callers filter with
    /// [`dispute_visible_to`].
    pub async fn disputes_by_submission_ids(
        &self,
        submission_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<Dispute>>, TrustError> {
        let disputes = foundation::batch::find_batch(
            &self.disputes,
            doc! { "submission_id": { "$in": submission_ids } },
            Some(doc! { "created_at": 1, "_id": 1 }),
        )
        .await?;
        // A submission has one active dispute at a time; the closed ones before it are few.
        Ok(foundation::batch::group_by_parent(
            disputes,
            usize::MAX,
            |dispute| [dispute.submission_id],
        ))
    }

    /// The disputes a person raised or answers, oldest first: one keyset page of at most
    /// `limit` after `after`.
    pub async fn disputes_of_person(
        &self,
        user_id: ObjectId,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<foundation::KeysetPage<Dispute>, TrustError> {
        let theirs = doc! { "$or": [ { "raised_by_id": user_id }, { "respondent_id": user_id } ] };
        Ok(foundation::batch::keyset_page(
            &self.disputes,
            theirs,
            foundation::batch::IdOrder::OldestFirst,
            after,
            limit,
        )
        .await?)
    }

    /// The admins' queue, oldest first (by id: the order they were raised in), one keyset page
    /// after `after`.
    pub async fn dispute_queue(
        &self,
        filter: &DisputeQueueFilter,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<foundation::KeysetPage<Dispute>, TrustError> {
        let mut selected = doc! {};
        if let Some(status) = filter.status {
            selected.insert("status", status.as_str());
        }
        if let Some(priority) = filter.priority {
            selected.insert("priority", priority.as_str());
        }
        if let Some(admin) = filter.assigned_admin_id {
            selected.insert("assigned_admin_id", admin);
        }
        Ok(foundation::batch::keyset_page(
            &self.disputes,
            selected,
            foundation::batch::IdOrder::OldestFirst,
            after,
            limit,
        )
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [DisputeStatus; 4] = [
        DisputeStatus::Open,
        DisputeStatus::UnderReview,
        DisputeStatus::Resolved,
        DisputeStatus::Closed,
    ];
    const ACTIONS: [DisputeAction; 4] = [
        DisputeAction::Assign,
        DisputeAction::Resolve,
        DisputeAction::Close,
        DisputeAction::Withdraw,
    ];

    #[test]
    fn the_machine_runs_open_review_resolved_closed_or_open_withdrawn() {
        use DisputeAction::*;
        use DisputeStatus::*;
        assert_eq!(dispute_transition(Open, Assign), Some(UnderReview));
        assert_eq!(dispute_transition(UnderReview, Resolve), Some(Resolved));
        assert_eq!(dispute_transition(Resolved, Close), Some(Closed));
        assert_eq!(dispute_transition(Open, Withdraw), Some(Closed));
        // Nothing else: no resolving unassigned, no withdrawing under review, closed is final.
        assert_eq!(dispute_transition(Open, Resolve), None);
        assert_eq!(dispute_transition(UnderReview, Withdraw), None);
        assert_eq!(dispute_transition(Resolved, Resolve), None);
        for action in ACTIONS {
            assert_eq!(dispute_transition(Closed, action), None);
        }
        let allowed = ALL
            .iter()
            .flat_map(|from| ACTIONS.iter().map(move |action| (*from, *action)))
            .filter(|(from, action)| dispute_transition(*from, *action).is_some())
            .count();
        assert_eq!(allowed, DISPUTE_TRANSITIONS.len());
    }

    #[test]
    fn only_open_and_under_review_disputes_are_active() {
        let active: Vec<_> = ALL.into_iter().filter(|s| s.is_active()).collect();
        assert_eq!(
            active,
            vec![DisputeStatus::Open, DisputeStatus::UnderReview]
        );
    }

    fn resolution(resolution_type: ResolutionType, refund_cents: Option<i64>) -> Resolution {
        Resolution {
            resolution_type,
            text: "decided".into(),
            refund_cents,
        }
    }

    #[test]
    fn each_resolution_moves_the_money_it_names_and_no_action_lets_the_review_stand() {
        use RaisedByRole::*;
        use ResolutionType::*;
        for raised_by in [Client, Tester] {
            assert_eq!(
                settlement_for(raised_by, &resolution(PaymentReleased, None)).unwrap(),
                DisputeSettlement::PayTester
            );
            assert_eq!(
                settlement_for(raised_by, &resolution(Refund, None)).unwrap(),
                DisputeSettlement::RefundClient
            );
            assert_eq!(
                settlement_for(raised_by, &resolution(PartialRefund, Some(700))).unwrap(),
                DisputeSettlement::Split { refund_cents: 700 }
            );
        }
        assert_eq!(
            settlement_for(Client, &resolution(NoAction, None)).unwrap(),
            DisputeSettlement::PayTester
        );
        assert_eq!(
            settlement_for(Tester, &resolution(NoAction, None)).unwrap(),
            DisputeSettlement::RefundClient
        );
        for wrong in [
            resolution(PartialRefund, None),
            resolution(Refund, Some(1)),
            resolution(NoAction, Some(1)),
        ] {
            let error = settlement_for(Client, &wrong).expect_err("refused");
            assert_eq!(error.field(), Some("refund_cents"));
        }
    }

    #[test]
    fn evidence_urls_must_be_https_with_a_host_and_bounded() {
        for good in [
            "https://storage.example.com/a.png",
            "https://example.com",
            "https://user@example.com:8443/x?y#z",
        ] {
            assert!(check_https_url("evidence.url", good).is_ok(), "{good}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        for bad in [
            "http://example.com/a.png",
            "ftp://example.com",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "javascript:alert(1)",
            long.as_str(),
        ] {
            let error = check_https_url("evidence.url", bad).expect_err(bad);
            assert_eq!(error.field(), Some("evidence.url"));
        }
    }

    #[test]
    fn a_new_dispute_bounds_its_description_and_evidence() {
        let evidence = |url: &str| EvidenceInput {
            evidence_type: EvidenceType::Screenshot,
            url: url.into(),
            description: String::new(),
        };
        let dispute = |description: String, items: Vec<EvidenceInput>| NewDispute {
            reason: DisputeReason::UnfairRejection,
            description,
            evidence: items,
            priority: DisputePriority::Medium,
        };
        assert_eq!(
            validate_new_dispute(&dispute("  fair?  ".into(), vec![])).unwrap(),
            "fair?"
        );
        let cases = [
            (dispute(" ".into(), vec![]), "description"),
            (
                dispute("x".repeat(MAX_DESCRIPTION_CHARS + 1), vec![]),
                "description",
            ),
            (
                dispute(
                    "x".into(),
                    (0..=MAX_EVIDENCE)
                        .map(|_| evidence("https://example.com"))
                        .collect(),
                ),
                "evidence",
            ),
            (
                dispute("x".into(), vec![evidence("http://example.com")]),
                "evidence.url",
            ),
        ];
        for (input, field) in cases {
            assert_eq!(
                validate_new_dispute(&input).expect_err(field).field(),
                Some(field)
            );
        }
    }
}
