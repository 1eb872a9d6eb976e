//! Disputes: the `Dispute` node, `openDispute`, `withdrawDispute`, `postDisputeMessage`, the
//! admins' `assignDispute`, `resolveDispute` and `closeDispute`, the admins' queue `disputes`,
//! and the parties' `me.disputes` and `Submission.dispute`. Who may see a dispute is trust's rule
//! (`trust::dispute_visible_to`): a stranger, another tester or an API key gets `NOT_FOUND`
//! (`null` on the nested fields and `node`). Mutations that move money take idempotency keys.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;

use crate::error::{ApiError, ApiResult};
use crate::idempotency::once;
use crate::identity_api::types::User;
use crate::loaders::{load, load_user, DisputesBySubmissionLoader};
use crate::marketplace_api::access::actor;
use crate::marketplace_api::submissions::submission_id;
use crate::relay::{GlobalId, ListConnection, NodeType};
use crate::scalars::{Cents, DateTime};
use crate::viewer::{viewer, Authenticated, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Where a dispute is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::DisputeStatus")]
pub enum DisputeStatus {
    /// Raised, waiting for an admin.
    Open,
    /// An admin took it.
    UnderReview,
    /// Decided; its money moved.
    Resolved,
    /// Closed after the decision, or withdrawn by the raiser.
    Closed,
}

/// How urgent a dispute is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::DisputePriority")]
pub enum DisputePriority {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// Why a dispute was raised.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::DisputeReason")]
pub enum DisputeReason {
    /// The work was not finished.
    IncompleteWork,
    /// The rejection was unfair.
    UnfairRejection,
    /// Something about the payment.
    PaymentIssue,
    /// The work's quality.
    QualityIssue,
    /// Anything else.
    Other,
}

/// What a piece of evidence is.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::EvidenceType")]
pub enum EvidenceType {
    /// An image.
    Screenshot,
    /// A message exchanged elsewhere.
    Message,
    /// A document.
    Document,
}

/// How a dispute was decided.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::ResolutionType")]
pub enum ResolutionType {
    /// The whole seat's pay (fee included) goes back to the client.
    Refund,
    /// The tester is paid the seat's pay minus the platform fee.
    PaymentReleased,
    /// `refundCents` go back to the client; the rest, minus the platform fee on that rest
    /// (rounded down, the fraction of a cent to the tester), is the tester's.
    PartialRefund,
    /// The review stands: a disputed approval is paid, a disputed rejection's seat refunded.
    NoAction,
}

/// Which side raised a dispute.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "trust::RaisedByRole")]
pub enum DisputeSide {
    /// The job's client (or an owner or admin of its organization).
    Client,
    /// The submission's tester.
    Tester,
}

/// A link backing a dispute.
pub struct Evidence(trust::Evidence);

/// A link backing a dispute.
#[Object]
impl Evidence {
    /// What it is.
    async fn evidence_type(&self) -> EvidenceType {
        self.0.evidence_type.into()
    }
    /// An `https` URL.
    async fn url(&self) -> &str {
        &self.0.url
    }
    /// What it shows.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// When it was added.
    async fn uploaded_at(&self) -> DateTime {
        self.0.uploaded_at.into()
    }
}

/// A message between the parties and the assigned admin.
pub struct DisputeMessage(trust::DisputeMessage);

/// A message between the parties and the assigned admin.
#[Object]
impl DisputeMessage {
    /// Who wrote it.
    async fn from(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.from_id).await?.map(User::new))
    }
    /// The text.
    async fn message(&self) -> &str {
        &self.0.message
    }
    /// `https` links.
    async fn attachments(&self) -> &[String] {
        &self.0.attachments
    }
    /// When.
    async fn sent_at(&self) -> DateTime {
        self.0.timestamp.into()
    }
}

/// A disagreement about a reviewed submission, decided by a platform admin; the money follows
/// the decision. Seen by its tester, its client (and the client organization's owners and
/// admins) and platform admins only. Serializable so an idempotent mutation can store the
/// payload it answered.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Dispute(pub trust::Dispute);

/// A disagreement about a reviewed submission, decided by a platform admin; the money follows
/// the decision. Seen by its tester, its client (and the client organization's owners and
/// admins) and platform admins only.
#[Object]
impl Dispute {
    /// Global ID.
    pub async fn id(&self) -> ID {
        GlobalId::encode(NodeType::Dispute, self.0.id)
    }
    /// The disputed submission's ID.
    async fn submission_id(&self) -> ID {
        GlobalId::encode(NodeType::Submission, self.0.submission_id)
    }
    /// Its job's ID.
    async fn job_id(&self) -> ID {
        GlobalId::encode(NodeType::Job, self.0.job_id)
    }
    /// Who raised it.
    async fn raised_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.raised_by_id).await?.map(User::new))
    }
    /// Which side raised it.
    async fn raised_by_role(&self) -> DisputeSide {
        self.0.raised_by_role.into()
    }
    /// The other party.
    async fn respondent(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        Ok(load_user(ctx, self.0.respondent_id).await?.map(User::new))
    }
    /// Why.
    async fn reason(&self) -> DisputeReason {
        self.0.reason.into()
    }
    /// The raiser's account.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Links backing it.
    async fn evidence(&self) -> Vec<Evidence> {
        self.0.evidence.iter().cloned().map(Evidence).collect()
    }
    /// Where it is.
    async fn status(&self) -> DisputeStatus {
        self.0.status.into()
    }
    /// How urgent.
    async fn priority(&self) -> DisputePriority {
        self.0.priority.into()
    }
    /// The admin handling it.
    async fn assigned_admin(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        match self.0.assigned_admin_id {
            Some(id) => Ok(load_user(ctx, id).await?.map(User::new)),
            None => Ok(None),
        }
    }
    /// The decision's text.
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
    /// How it was decided.
    async fn resolution_type(&self) -> Option<ResolutionType> {
        self.0.resolution_type.map(Into::into)
    }
    /// Whom the decision favours (`null` for a split, or before the decision).
    async fn resolved_in_favor_of(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        match self.0.resolved_in_favor_of {
            Some(id) => Ok(load_user(ctx, id).await?.map(User::new)),
            None => Ok(None),
        }
    }
    /// Cents refunded to the client by the decision or withdrawal.
    async fn refund_cents(&self) -> Option<Cents> {
        self.0.refund_cents.map(Cents)
    }
    /// Cents the tester receives by the decision or withdrawal, after the platform fee.
    async fn tester_payout_cents(&self) -> Option<Cents> {
        self.0.tester_payout_cents.map(Cents)
    }
    /// Messages, oldest first.
    async fn messages(&self) -> Vec<DisputeMessage> {
        self.0
            .messages
            .iter()
            .cloned()
            .map(DisputeMessage)
            .collect()
    }
    /// Raised.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// Last changed.
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// Decided.
    async fn resolved_at(&self) -> Option<DateTime> {
        self.0.resolved_at.map(Into::into)
    }
    /// Closed or withdrawn.
    async fn closed_at(&self) -> Option<DateTime> {
        self.0.closed_at.map(Into::into)
    }
}

/// A dispute the caller may see, or `NOT_FOUND`.
pub async fn visible_dispute(ctx: &Context<'_>, id: ObjectId) -> ApiResult<Dispute> {
    let actor = actor(ctx).await?;
    Ok(Dispute(
        services(ctx).trust().visible_dispute(&actor, id).await?,
    ))
}

/// `Submission.dispute`: the submission's latest dispute the caller may see, or `null`.
pub async fn submission_dispute(
    ctx: &Context<'_>,
    submission: ObjectId,
) -> ApiResult<Option<Dispute>> {
    let actor = actor(ctx).await?;
    Ok(load(
        ctx,
        DisputesBySubmissionLoader(services(ctx).clone()),
        submission,
    )
    .await?
    .unwrap_or_default()
    .into_iter()
    .rfind(|dispute| trust::dispute_visible_to(&actor, dispute))
    .map(Dispute))
}

/// `User.disputes`: the disputes the user raised or answers, oldest first; `null` for anyone but
/// the user themself.
pub async fn user_disputes(
    ctx: &Context<'_>,
    user: ObjectId,
    first: Option<i32>,
    after: Option<String>,
) -> ApiResult<Option<ListConnection<Dispute>>> {
    if viewer(ctx).principal()?.user_id() != Some(user) {
        return Ok(None);
    }
    let limit = match first {
        None => foundation::pagination::DEFAULT_PAGE_SIZE,
        Some(first) if (0..=100).contains(&first) => i64::from(first),
        Some(_) => return Err(ApiError::bad_input("first", "must be between 0 and 100")),
    };
    let after_id = after
        .as_deref()
        .map(crate::relay::decode_id_cursor)
        .transpose()?;
    let page = services(ctx)
        .trust()
        .disputes_of_person(user, after_id, limit.unsigned_abs() as u32)
        .await?;
    Ok(Some(crate::relay::keyset_connection(
        after.is_some(),
        page,
        |dispute| dispute.id,
        Dispute,
    )))
}

fn dispute_id(id: &ID, field: &str) -> ApiResult<ObjectId> {
    GlobalId::decode_as(id, NodeType::Dispute, field)
}

/// Dispute queries.
#[derive(Default)]
pub struct DisputeQuery;

/// Dispute queries.
#[Object]
impl DisputeQuery {
    /// One dispute: its parties and platform admins; anyone else (API keys too) gets
    /// `NOT_FOUND`.
    #[graphql(guard = "Authenticated")]
    async fn dispute(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Dispute> {
        visible_dispute(ctx, dispute_id(&id, "id")?).await
    }

    /// The admins' queue, oldest first, filtered by status, priority and whether the caller
    /// is assigned. Platform admins only.
    #[graphql(
        guard = "crate::viewer::HasRole(identity::Role::Admin)",
        complexity = "crate::relay::page_cost(Some(first), None, child_complexity)"
    )]
    async fn disputes(
        &self,
        ctx: &Context<'_>,
        status: Option<DisputeStatus>,
        priority: Option<DisputePriority>,
        #[graphql(default = false)] assigned_to_me: bool,
        #[graphql(default = 20, validator(minimum = 0, maximum = 100))] first: i32,
        after: Option<String>,
    ) -> ApiResult<ListConnection<Dispute>> {
        let after_id = after
            .as_deref()
            .map(crate::relay::decode_id_cursor)
            .transpose()?;
        let assigned_admin_id = if assigned_to_me {
            Some(viewer(ctx).user()?.user_id)
        } else {
            None
        };
        let filter = trust::DisputeQueueFilter {
            status: status.map(Into::into),
            priority: priority.map(Into::into),
            assigned_admin_id,
        };
        let page = services(ctx)
            .trust()
            .dispute_queue(&filter, after_id, first.unsigned_abs())
            .await?;
        Ok(crate::relay::keyset_connection(
            after.is_some(),
            page,
            |dispute| dispute.id,
            Dispute,
        ))
    }
}

/// One evidence item.
#[derive(InputObject)]
pub struct EvidenceInput {
    /// What it is.
    pub evidence_type: EvidenceType,
    /// An `https` URL, at most 2,048 characters.
    pub url: String,
    /// At most 1,000 characters.
    #[graphql(default)]
    pub description: String,
}

/// Input of `openDispute`.
#[derive(InputObject)]
pub struct OpenDisputeInput {
    /// A rejected submission of the caller (tester), or an approved one of the caller's job
    /// whose payout is still held (client, or an owner or admin of its organization).
    pub submission_id: ID,
    /// Why.
    pub reason: DisputeReason,
    /// 1 to 5,000 characters.
    pub description: String,
    /// At most 10 items.
    #[graphql(default)]
    pub evidence: Vec<EvidenceInput>,
    /// How urgent (medium by default).
    #[graphql(default_with = "DisputePriority::Medium")]
    pub priority: DisputePriority,
    /// Makes a retry safe (see `SubmissionMoneyInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// Input of the dispute mutations that name only the dispute.
#[derive(InputObject)]
pub struct DisputeActionInput {
    /// The dispute.
    pub dispute_id: ID,
    /// Makes a retry safe where money moves (`withdrawDispute`); ignored elsewhere.
    pub idempotency_key: Option<String>,
}

/// Input of `postDisputeMessage`.
#[derive(InputObject)]
pub struct PostDisputeMessageInput {
    /// An open dispute or one under review.
    pub dispute_id: ID,
    /// 1 to 2,000 characters.
    pub message: String,
    /// At most 5 `https` URLs.
    #[graphql(default)]
    pub attachments: Vec<String>,
}

/// Input of `resolveDispute`.
#[derive(InputObject)]
pub struct ResolveDisputeInput {
    /// A dispute under review assigned to the caller.
    pub dispute_id: ID,
    /// How.
    pub resolution_type: ResolutionType,
    /// 1 to 2,000 characters, shown to both parties.
    pub resolution: String,
    /// For `PARTIAL_REFUND` only: cents back to the client, at least 1 and less than the
    /// seat's pay.
    pub refund_cents: Option<Cents>,
    /// Makes a retry safe: the same key gets the first answer and moves no money again.
    pub idempotency_key: Option<String>,
}

/// A dispute after a change.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct DisputePayload {
    /// The dispute.
    pub dispute: Dispute,
}

fn payload(dispute: trust::Dispute) -> DisputePayload {
    DisputePayload {
        dispute: Dispute(dispute),
    }
}

/// Dispute mutations.
#[derive(Default)]
pub struct DisputeMutation;

/// Dispute mutations.
#[Object]
impl DisputeMutation {
    /// Disputes a reviewed submission: its tester a rejection (within the dispute window after
    /// the review), the job's client (or an owner or admin of its organization) an approval
    /// whose payout is still held. The disputed money is frozen until an admin decides. One
    /// dispute per submission: another is `CONFLICT`.
    #[graphql(guard = "SignedInUser")]
    async fn open_dispute(
        &self,
        ctx: &Context<'_>,
        input: OpenDisputeInput,
    ) -> ApiResult<DisputePayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let arguments = format!(
            "{}\n{:?}\n{}\n{:?}\n{}",
            input.submission_id.as_str(),
            input.reason,
            input.description,
            input.priority,
            input
                .evidence
                .iter()
                .map(|item| format!("{:?} {} {}", item.evidence_type, item.url, item.description))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let key = input.idempotency_key.clone();
        let run = async move {
            let actor = actor(ctx).await?;
            let services = services(ctx);
            let dispute = services
                .trust()
                .open_dispute(
                    services.marketplace(),
                    services.escrow(),
                    &actor,
                    id,
                    trust::NewDispute {
                        reason: input.reason.into(),
                        description: input.description,
                        evidence: input
                            .evidence
                            .into_iter()
                            .map(|item| trust::EvidenceInput {
                                evidence_type: item.evidence_type.into(),
                                url: item.url,
                                description: item.description,
                            })
                            .collect(),
                        priority: input.priority.into(),
                    },
                )
                .await?;
            Ok(payload(dispute))
        };
        once(ctx, key.as_deref(), "openDispute", arguments, run).await
    }

    /// The raiser withdraws their dispute before an admin took it: the review stands (an
    /// approval's payout is held again, a rejection's seat goes back to the client).
    #[graphql(guard = "SignedInUser")]
    async fn withdraw_dispute(
        &self,
        ctx: &Context<'_>,
        input: DisputeActionInput,
    ) -> ApiResult<DisputePayload> {
        let id = dispute_id(&input.dispute_id, "disputeId")?;
        let arguments = input.dispute_id.to_string();
        let run = async move {
            let actor = actor(ctx).await?;
            let services = services(ctx);
            let dispute = services
                .trust()
                .withdraw_dispute(services.marketplace(), services.escrow(), &actor, id)
                .await?;
            Ok(payload(dispute))
        };
        once(
            ctx,
            input.idempotency_key.as_deref(),
            "withdrawDispute",
            arguments,
            run,
        )
        .await
    }

    /// A platform admin takes a dispute (open → under review), or takes it over.
    #[graphql(guard = "crate::viewer::HasRole(identity::Role::Admin)")]
    async fn assign_dispute(
        &self,
        ctx: &Context<'_>,
        input: DisputeActionInput,
    ) -> ApiResult<DisputePayload> {
        let id = dispute_id(&input.dispute_id, "disputeId")?;
        let actor = actor(ctx).await?;
        Ok(payload(
            services(ctx).trust().assign_dispute(&actor, id).await?,
        ))
    }

    /// Posts a message on an open dispute or one under review: its parties and the assigned
    /// admin; at most 200 messages per dispute.
    #[graphql(guard = "SignedInUser")]
    async fn post_dispute_message(
        &self,
        ctx: &Context<'_>,
        input: PostDisputeMessageInput,
    ) -> ApiResult<DisputePayload> {
        let id = dispute_id(&input.dispute_id, "disputeId")?;
        let actor = actor(ctx).await?;
        Ok(payload(
            services(ctx)
                .trust()
                .post_dispute_message(&actor, id, input.message, input.attachments)
                .await?,
        ))
    }

    /// The assigned admin decides a dispute under review; the money follows in the same
    /// transaction (see `ResolutionType`). Takes an idempotency key.
    #[graphql(guard = "crate::viewer::HasRole(identity::Role::Admin)")]
    async fn resolve_dispute(
        &self,
        ctx: &Context<'_>,
        input: ResolveDisputeInput,
    ) -> ApiResult<DisputePayload> {
        let id = dispute_id(&input.dispute_id, "disputeId")?;
        let arguments = format!(
            "{}\n{:?}\n{:?}\n{}",
            input.dispute_id.as_str(),
            input.resolution_type,
            input.refund_cents.map(|cents| cents.0),
            input.resolution
        );
        let key = input.idempotency_key.clone();
        let run = async move {
            let actor = actor(ctx).await?;
            let services = services(ctx);
            let dispute = services
                .trust()
                .resolve_dispute(
                    services.marketplace(),
                    services.escrow(),
                    &actor,
                    id,
                    trust::Resolution {
                        resolution_type: input.resolution_type.into(),
                        text: input.resolution,
                        refund_cents: input.refund_cents.map(|cents| cents.0),
                    },
                )
                .await?;
            Ok(payload(dispute))
        };
        once(ctx, key.as_deref(), "resolveDispute", arguments, run).await
    }

    /// An admin closes a resolved dispute.
    #[graphql(guard = "crate::viewer::HasRole(identity::Role::Admin)")]
    async fn close_dispute(
        &self,
        ctx: &Context<'_>,
        input: DisputeActionInput,
    ) -> ApiResult<DisputePayload> {
        let id = dispute_id(&input.dispute_id, "disputeId")?;
        let actor = actor(ctx).await?;
        Ok(payload(
            services(ctx).trust().close_dispute(&actor, id).await?,
        ))
    }
}
