//! [`EscrowService`]: construction, the collections it owns, and the one write path every money
//! step takes: load the escrow, apply a pure ledger step, check the invariant, write what changed
//! by compare-and-set on `version` (inside a transaction when the step also moves a payout, so the
//! submission's `payout_status` and the tester's totals change with it; the use cases in
//! `use_cases` run the marketplace's step in that same transaction).

use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime, Document, RawBsonRef};
use foundation::events::{DomainEvent, DomainEventKind, DomainEvents};
use foundation::hot_keys::HotKeys;
use foundation::transaction_retry::{
    back_off, in_transaction, is_transient_driver_error, TransactionError, MAX_TRANSACTION_ATTEMPTS,
};
use foundation::{Clock, CollectionSpec};
use marketplace::{MarketplaceService, SubmissionPayout, SubmissionPayoutStatus};
use mongodb::{Client, ClientSession, Collection, Database};

use crate::collections;
use crate::earnings::{TesterEarnings, UsersTesterTotals};
use crate::error::EscrowError;
use crate::idempotency::IdempotencyRecord;
use crate::ledger::{check_invariant, EscrowEventType, EscrowTransaction, Payout};
use crate::lifecycle::PayoutStatus;
use crate::provider::PaymentProvider;
use crate::settings::EscrowSettings;

/// The escrow domain's API. Cheap to clone (shared handles); create one per process.
#[derive(Clone, Debug)]
pub struct EscrowService {
    pub(crate) client: Client,
    pub(crate) escrows: Collection<EscrowTransaction>,
    pub(crate) idempotency_keys: Collection<IdempotencyRecord>,
    pub(crate) webhook_events: Collection<Document>,
    pub(crate) settings: Arc<EscrowSettings>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) provider: Arc<dyn PaymentProvider>,
    pub(crate) earnings: Arc<dyn TesterEarnings>,
    pub(crate) events: DomainEvents,
    /// Turns for the money transactions of one job (they all write its escrow document).
    pub(crate) jobs_in_flight: Arc<HotKeys>,
}

impl EscrowService {
    /// A service over `database` moving money through `provider`, crediting tester totals on
    /// identity's `users` ([`UsersTesterTotals`]) until [`EscrowService::with_tester_earnings`]
    /// says otherwise. Call [`EscrowService::ensure_collections`] once at start-up.
    pub fn new(
        database: Database,
        settings: EscrowSettings,
        clock: Arc<dyn Clock>,
        provider: Arc<dyn PaymentProvider>,
    ) -> Self {
        Self {
            client: database.client().clone(),
            escrows: database.collection(collections::ESCROW_TRANSACTIONS),
            idempotency_keys: database.collection(collections::ESCROW_IDEMPOTENCY_KEYS),
            webhook_events: database.collection(crate::webhooks::STRIPE_WEBHOOK_EVENTS),
            earnings: Arc::new(UsersTesterTotals::new(&database)),
            events: DomainEvents::new(&database),
            jobs_in_flight: Arc::new(HotKeys::default()),
            settings: Arc::new(settings),
            clock,
            provider,
        }
    }

    /// The same service, crediting tester totals through `earnings`.
    pub fn with_tester_earnings(mut self, earnings: Arc<dyn TesterEarnings>) -> Self {
        self.earnings = earnings;
        self
    }

    /// The collections this crate owns, with their indexes and validators.
    pub fn collections() -> Vec<CollectionSpec> {
        collections::specs()
    }

    /// Creates (or updates) every owned collection, validator and index; idempotent.
    pub async fn ensure_collections(&self, database: &Database) -> Result<(), EscrowError> {
        self.settings.validate()?;
        for spec in Self::collections() {
            foundation::ensure_collection(database, &spec).await?;
        }
        Ok(())
    }

    /// The settings the service runs with.
    pub fn settings(&self) -> &EscrowSettings {
        &self.settings
    }

    /// The provider money moves through.
    pub fn provider(&self) -> &Arc<dyn PaymentProvider> {
        &self.provider
    }

    /// The escrow of `job_id`.
    pub async fn escrow_for_job(&self, job_id: ObjectId) -> Result<EscrowTransaction, EscrowError> {
        self.escrows
            .find_one(doc! { "job_id": job_id })
            .await?
            .ok_or(EscrowError::EscrowNotFound)
    }

    /// The escrows of these jobs, one `$in` query on the unique `job_id` (for dataloaders); jobs
    /// without an escrow are absent from the map.
    pub async fn escrows_by_job_ids(
        &self,
        job_ids: &[ObjectId],
    ) -> Result<std::collections::HashMap<ObjectId, EscrowTransaction>, EscrowError> {
        let escrows = foundation::batch::find_batch(
            &self.escrows,
            doc! { "job_id": { "$in": job_ids } },
            None,
        )
        .await?;
        Ok(escrows
            .into_iter()
            .map(|escrow| (escrow.job_id, escrow))
            .collect())
    }

    /// The payouts of these submissions, in one aggregation over the indexed
    /// `payouts.submission_id` that returns only the payouts asked for (not each escrow's other
    /// payouts, refunds and events), so reading a payout costs the same on a job of 200 seats
    /// as on a job of 2. Submissions without a payout are absent from the map.
    pub async fn payouts_by_submission_ids(
        &self,
        submission_ids: &[ObjectId],
    ) -> Result<std::collections::HashMap<ObjectId, Payout>, EscrowError> {
        if submission_ids.is_empty() {
            return Ok(Default::default());
        }
        let pipeline = vec![
            doc! { "$match": { "payouts.submission_id": { "$in": submission_ids } } },
            doc! { "$project": { "_id": 0, "payouts": { "$filter": {
                "input": "$payouts",
                "cond": { "$in": ["$$this.submission_id", submission_ids] },
            } } } },
            doc! { "$unwind": "$payouts" },
            doc! { "$replaceWith": "$payouts" },
        ];
        let payouts: Vec<Payout> = futures_util::TryStreamExt::try_collect(
            self.escrows
                .clone_with_type::<Payout>()
                .aggregate(pipeline)
                .with_type::<Payout>()
                .batch_size(foundation::batch::BATCH_REPLY_DOCUMENTS)
                .await?,
        )
        .await?;
        Ok(payouts
            .into_iter()
            .map(|payout| (payout.submission_id, payout))
            .collect())
    }

    /// Every escrow naming `user_id`, as the paying client or as a payee tester, for the
    /// person's data export.
    pub async fn escrows_naming(
        &self,
        user_id: ObjectId,
    ) -> Result<Vec<EscrowTransaction>, EscrowError> {
        Ok(futures_util::TryStreamExt::try_collect(
            self.escrows
                .find(
                    doc! { "$or": [ { "client_id": user_id }, { "payouts.tester_id": user_id } ] },
                )
                .await?,
        )
        .await?)
    }

    /// The payouts still owed to tester `user_id` (pending, held, frozen, processing or failed):
    /// while one exists the tester's account cannot be erased, or the money would have nobody to
    /// go to.
    pub async fn payouts_owed_to(&self, user_id: ObjectId) -> Result<Vec<Payout>, EscrowError> {
        let owed: Vec<&str> = [
            PayoutStatus::Pending,
            PayoutStatus::Held,
            PayoutStatus::Frozen,
            PayoutStatus::Processing,
            PayoutStatus::Failed,
        ]
        .into_iter()
        .map(PayoutStatus::as_str)
        .collect();
        let escrows = self
            .escrows
            .find(doc! { "payouts": { "$elemMatch": { "tester_id": user_id, "status": { "$in": owed } } } })
            .await?;
        let escrows: Vec<EscrowTransaction> =
            futures_util::TryStreamExt::try_collect(escrows).await?;
        Ok(escrows
            .into_iter()
            .flat_map(|escrow| escrow.payouts)
            .filter(|payout| payout.tester_id == user_id && payout.status.is_owed())
            .collect())
    }

    /// A page of the escrows an operator must look at (`needs_attention`), newest
    /// escrow first by `_id`, after the escrow `after` when given, at
    /// most `limit`, with how many there are in all. The caller decides who may read it.
    pub async fn escrows_needing_attention(
        &self,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<foundation::KeysetPage<EscrowTransaction>, EscrowError> {
        let flagged = doc! { "needs_attention": { "$type": "object" } };
        Ok(foundation::batch::keyset_page(
            &self.escrows,
            flagged,
            foundation::batch::IdOrder::NewestFirst,
            after,
            limit,
        )
        .await?)
    }

    /// The escrow holding the payout of `submission_id`.
    pub async fn escrow_for_submission(
        &self,
        submission_id: ObjectId,
    ) -> Result<EscrowTransaction, EscrowError> {
        self.escrows
            .find_one(doc! { "payouts.submission_id": submission_id })
            .await?
            .ok_or(EscrowError::PayoutNotFound)
    }

    pub(crate) fn now(&self) -> DateTime {
        self.clock.now()
    }

    /// Applies `step` to the escrow of `job_id` and writes the result by compare-and-set on its
    /// version, in the job's turn, reloading and re-applying when another writer (in another
    /// process) got there first. A step that
    /// changes nothing writes nothing. A step that moves a payout is written in a transaction
    /// with the submission's payout fields (through `marketplace`) and the tester's totals.
    pub(crate) async fn change<R>(
        &self,
        marketplace: &MarketplaceService,
        job_id: ObjectId,
        mut step: impl FnMut(&mut EscrowTransaction, DateTime) -> Result<R, EscrowError>,
    ) -> Result<(EscrowTransaction, R), EscrowError> {
        let _turn = self.jobs_in_flight.turn(&job_id).await;
        for attempt in 0..MAX_TRANSACTION_ATTEMPTS {
            let before = self.escrow_for_job(job_id).await?;
            let mut after = before.clone();
            let outcome = step(&mut after, self.now())?;
            if after == before {
                return Ok((after, outcome));
            }
            let written = if payout_changes(&before, &after).is_empty()
                && money_events(&before, &after).is_empty()
            {
                self.write(None, &before, &after).await
            } else {
                let (before, after) = (&before, &after);
                in_transaction(&self.client, |mut session| async move {
                    let outcome = self
                        .write_with_payouts(&mut session, marketplace, before, after, None)
                        .await;
                    (session, outcome)
                })
                .await
            };
            match written {
                Ok(()) => {
                    after.version = before.version + 1;
                    return Ok((after, outcome));
                }
                Err(EscrowError::Contended) => back_off(attempt).await,
                Err(error) => return Err(error),
            }
        }
        Err(EscrowError::Contended)
    }

    /// [`EscrowService::change`] for the funding steps (authorize, capture, decline, lapse,
    /// retry), which run before the money is captured: an unfunded escrow holds no payout (the
    /// invariant), so they never need the marketplace.
    pub(crate) async fn change_funding<R>(
        &self,
        job_id: ObjectId,
        mut step: impl FnMut(&mut EscrowTransaction, DateTime) -> Result<R, EscrowError>,
    ) -> Result<(EscrowTransaction, R), EscrowError> {
        for attempt in 0..MAX_TRANSACTION_ATTEMPTS {
            let before = self.escrow_for_job(job_id).await?;
            if before.status.is_funded() {
                return Err(EscrowError::InvalidEscrowTransition {
                    from: before.status.as_str(),
                    action: "fund",
                });
            }
            let mut after = before.clone();
            let outcome = step(&mut after, self.now())?;
            if after == before {
                return Ok((after, outcome));
            }
            if !after.payouts.is_empty() {
                return Err(EscrowError::InvariantViolated(
                    "a funding step created a payout".into(),
                ));
            }
            match self.write(None, &before, &after).await {
                Ok(()) => {
                    after.version = before.version + 1;
                    return Ok((after, outcome));
                }
                Err(EscrowError::Contended) => back_off(attempt).await,
                Err(error) => return Err(error),
            }
        }
        Err(EscrowError::Contended)
    }

    /// The escrow of `job_id` as the transaction of `session` sees it, if there is one.
    pub(crate) async fn escrow_in(
        &self,
        session: &mut ClientSession,
        job_id: ObjectId,
    ) -> Result<Option<EscrowTransaction>, EscrowError> {
        Ok(self
            .escrows
            .find_one(doc! { "job_id": job_id })
            .session(session)
            .await?)
    }

    /// Writes `after` over `before` inside the transaction of `session`, with what its payouts'
    /// changes mean outside escrow: the submissions' `payout_*` fields (except `recorded`'s, which
    /// the caller wrote itself), the totals of testers newly paid, and the domain events of the
    /// money that reached someone or waits on them ([`money_events`]). A writer that changed the
    /// escrow since `before` was read makes it [`EscrowError::Contended`], which runs the
    /// transaction again.
    pub(crate) async fn write_with_payouts(
        &self,
        session: &mut ClientSession,
        marketplace: &MarketplaceService,
        before: &EscrowTransaction,
        after: &EscrowTransaction,
        recorded: Option<ObjectId>,
    ) -> Result<(), EscrowError> {
        self.write(Some(&mut *session), before, after).await?;
        for change in payout_changes(before, after) {
            if Some(change.submission_id) != recorded {
                marketplace
                    .record_submission_payout(&mut *session, change.submission_id, change.report)
                    .await?;
            }
            if change.newly_paid {
                self.earnings
                    .credit_payout(&mut *session, change.tester_id, change.report.amount_cents)
                    .await?;
            }
        }
        let events = money_events(before, after);
        if !events.is_empty() {
            let title = marketplace
                .job_title_in(&mut *session, after.job_id)
                .await?;
            let now = self.now();
            for event in events {
                let mut payload = doc! { "amount_cents": event.amount_cents };
                if !title.is_empty() {
                    payload.insert("job_title", title.as_str());
                }
                let mut recorded = DomainEvent::new(event.kind, [event.recipient])
                    .with_job(after.job_id)
                    .with_payload(payload);
                if let Some(submission_id) = event.submission_id {
                    recorded = recorded.with_submission(submission_id);
                }
                self.events.record(&mut *session, recorded, now).await?;
            }
        }
        Ok(())
    }

    /// Writes `after` over `before` as version `before.version + 1` if nobody changed it
    /// meanwhile ([`EscrowError::Contended`] when somebody did), after checking the invariant. Only what changed is sent: the counters
    /// and fields that differ, the payouts and refunds that changed (by position: they are only
    /// ever appended), and the new events; so a write costs the same on a job of 200 seats as
    /// on a job of 2.
    async fn write(
        &self,
        session: Option<&mut ClientSession>,
        before: &EscrowTransaction,
        after: &EscrowTransaction,
    ) -> Result<(), EscrowError> {
        check_invariant(after).map_err(EscrowError::InvariantViolated)?;
        let mut update = changes_between(before, after)?;
        update
            .get_document_mut("$set")
            .map_err(|error| EscrowError::Internal(error.to_string()))?
            .insert("version", before.version + 1);
        let filter = doc! { "_id": before.id, "version": before.version };
        let write = self.escrows.update_one(filter, update);
        let written = match session {
            Some(session) => write.session(session).await?,
            None => write.await?,
        };
        if written.matched_count == 1 {
            Ok(())
        } else {
            Err(EscrowError::Contended)
        }
    }
}

/// The update that turns `before` into `after`: `$set` on every top-level field that differs
/// and on every payout or refund that changed in place, `$push` of new payouts, refunds and
/// events. Both sides are compared as raw BSON, and only what changed is decoded into the
/// update, so the diff of a job with 200 payouts allocates what one payout does.
fn changes_between(
    before: &EscrowTransaction,
    after: &EscrowTransaction,
) -> Result<Document, EscrowError> {
    let old = bson::to_raw_document_buf(before)?;
    let new = bson::to_raw_document_buf(after)?;
    let mut set = Document::new();
    let mut unset = Document::new();
    let mut push = Document::new();
    for element in &new {
        let (field, value) = element.map_err(raw_error)?;
        let was = old.get(field).map_err(raw_error)?;
        match field {
            "_id" => {}
            "events" | "payouts" | "refunds" => {
                let (Some(RawBsonRef::Array(was)), RawBsonRef::Array(now)) = (was, value) else {
                    set.insert(field, decoded(value)?);
                    continue;
                };
                let was: Vec<RawBsonRef> = was
                    .into_iter()
                    .collect::<Result<_, _>>()
                    .map_err(raw_error)?;
                let now: Vec<RawBsonRef> = now
                    .into_iter()
                    .collect::<Result<_, _>>()
                    .map_err(raw_error)?;
                if now.len() < was.len() {
                    return Err(EscrowError::InvariantViolated(format!(
                        "a step removed {field}"
                    )));
                }
                let changed: Vec<usize> = (0..was.len())
                    .filter(|&index| was[index] != now[index])
                    .collect();
                if field == "events" && !changed.is_empty() {
                    return Err(EscrowError::InvariantViolated(
                        "a step edited a recorded event".into(),
                    ));
                }
                let appended = now.len() > was.len();
                if appended && !changed.is_empty() {
                    // MongoDB refuses `$set` on an element and `$push` to its array at once.
                    set.insert(field, decoded(value)?);
                    continue;
                }
                for index in changed {
                    set.insert(format!("{field}.{index}"), decoded(now[index])?);
                }
                if appended {
                    let added = now[was.len()..]
                        .iter()
                        .map(|element| decoded(*element))
                        .collect::<Result<Vec<_>, _>>()?;
                    push.insert(field, doc! { "$each": added });
                }
            }
            _ if was != Some(value) => {
                set.insert(field, decoded(value)?);
            }
            _ => {}
        }
    }
    for element in &old {
        let (field, _) = element.map_err(raw_error)?;
        if new.get(field).map_err(raw_error)?.is_none() {
            unset.insert(field, "");
        }
    }
    let mut update = doc! { "$set": set };
    if !push.is_empty() {
        update.insert("$push", push);
    }
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    Ok(update)
}

fn decoded(value: RawBsonRef<'_>) -> Result<Bson, EscrowError> {
    Bson::try_from(value.to_raw_bson()).map_err(raw_error)
}

fn raw_error(error: bson::raw::Error) -> EscrowError {
    EscrowError::Internal(format!("escrow document: {error}"))
}

impl TransactionError for EscrowError {
    /// A write conflict, or an escrow another writer changed since it was read.
    fn is_transient(&self) -> bool {
        match self {
            EscrowError::Database(error) => is_transient_driver_error(error),
            EscrowError::Marketplace(error) => error.is_transient(),
            EscrowError::Contended => true,
            _ => false,
        }
    }
}
/// What a payout's change means outside escrow.
struct PayoutChange {
    submission_id: ObjectId,
    tester_id: ObjectId,
    report: SubmissionPayout,
    newly_paid: bool,
}

/// The submission status the seed's `payout_status` shows for a payout.
pub(crate) fn reported_status(status: PayoutStatus) -> SubmissionPayoutStatus {
    match status {
        PayoutStatus::Pending | PayoutStatus::Held | PayoutStatus::Frozen => {
            SubmissionPayoutStatus::Pending
        }
        PayoutStatus::Processing => SubmissionPayoutStatus::Processing,
        PayoutStatus::Paid => SubmissionPayoutStatus::Paid,
        PayoutStatus::Failed => SubmissionPayoutStatus::Failed,
        PayoutStatus::Reversed => SubmissionPayoutStatus::Reversed,
    }
}

/// Payouts whose reported status changed between `before` and `after` (new ones included).
fn payout_changes(before: &EscrowTransaction, after: &EscrowTransaction) -> Vec<PayoutChange> {
    let previous = |payout: &Payout| {
        before
            .payouts
            .iter()
            .find(|earlier| earlier.payout_id == payout.payout_id)
            .map(|earlier| earlier.status)
    };
    after
        .payouts
        .iter()
        .filter_map(|payout| {
            let was = previous(payout);
            let reported = reported_status(payout.status);
            if was.map(reported_status) == Some(reported) {
                return None;
            }
            Some(PayoutChange {
                submission_id: payout.submission_id,
                tester_id: payout.tester_id,
                report: SubmissionPayout {
                    amount_cents: payout.tester_payout_cents,
                    status: reported,
                    paid_at: payout.completed_at,
                },
                newly_paid: payout.status == PayoutStatus::Paid && was != Some(PayoutStatus::Paid),
            })
        })
        .collect()
}

/// A person the money of one escrow step concerns, and how.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MoneyEvent {
    kind: DomainEventKind,
    recipient: ObjectId,
    submission_id: Option<ObjectId>,
    amount_cents: i64,
}

/// What the ledger entries a step added mean for people: a payout transferred
/// (`payment_received`, the tester), a payout deferred for the first time because the tester
/// cannot receive transfers yet (`payout_held`, once per payout however often the sweep tries
/// again), a refund that reached the client (`refund_processed`). Read from the ledger's own
/// events, so every path that moves the money (the API, the sweep, a webhook) tells the same.
pub(crate) fn money_events(
    before: &EscrowTransaction,
    after: &EscrowTransaction,
) -> Vec<MoneyEvent> {
    let added = after.events.get(before.events.len()..).unwrap_or_default();
    let tester_of = |submission_id: Option<ObjectId>| {
        after
            .payouts
            .iter()
            .find(|payout| Some(payout.submission_id) == submission_id)
            .map(|payout| payout.tester_id)
    };
    let mut events = Vec::new();
    for entry in added {
        let (kind, recipient) = match entry.event_type {
            EscrowEventType::PayoutPaid => (
                DomainEventKind::PaymentReceived,
                tester_of(entry.submission_id),
            ),
            EscrowEventType::PayoutHeld => {
                // The hold an approval creates is the payout's first `payout_held` entry; a
                // deferral adds another. Only the first deferral is news.
                let earlier = before
                    .events
                    .iter()
                    .filter(|earlier| {
                        earlier.event_type == EscrowEventType::PayoutHeld
                            && earlier.submission_id == entry.submission_id
                    })
                    .count();
                if earlier != 1 {
                    continue;
                }
                (DomainEventKind::PayoutHeld, tester_of(entry.submission_id))
            }
            EscrowEventType::Refunded => (DomainEventKind::RefundProcessed, Some(after.client_id)),
            _ => continue,
        };
        if let Some(recipient) = recipient {
            events.push(MoneyEvent {
                kind,
                recipient,
                submission_id: entry.submission_id,
                amount_cents: entry.amount_cents,
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fee::split_payout;
    use crate::ledger::{EscrowActor, NewEscrow};

    const PLATFORM: EscrowActor = EscrowActor::Platform("test");

    fn at(millis: i64) -> DateTime {
        DateTime::from_millis(millis)
    }

    fn funded_seat() -> EscrowTransaction {
        let mut escrow = EscrowTransaction::new(
            NewEscrow {
                job_id: ObjectId::new(),
                client_id: ObjectId::new(),
                provider: "SANDBOX",
                amount: 10_000,
                budget_per_tester: 5_000,
                currency: "USD".into(),
                platform_fee_basis_points: 1_500,
                customer_id: "cus_1".into(),
                payment_method_id: "pm_1".into(),
                expires_at: at(1_000_000),
            },
            at(0),
            PLATFORM,
        );
        escrow.authorize("pi".into(), at(1), PLATFORM).unwrap();
        escrow.capture("ch".into(), at(2), PLATFORM).unwrap();
        escrow
    }

    /// Applies `step` to a copy of `escrow` and returns the copy with the events it means.
    fn step(
        escrow: &EscrowTransaction,
        step: impl FnOnce(&mut EscrowTransaction),
    ) -> (EscrowTransaction, Vec<MoneyEvent>) {
        let mut after = escrow.clone();
        step(&mut after);
        let events = money_events(escrow, &after);
        (after, events)
    }

    #[test]
    fn the_money_that_reaches_someone_is_news_once_and_a_hold_or_a_retry_is_not() {
        let (submission, tester) = (ObjectId::new(), ObjectId::new());
        let escrow = funded_seat();
        let split = split_payout(5_000, 1_500).unwrap();
        // The approval's hold: the approval tells the tester itself (marketplace's event).
        let (escrow, events) = step(&escrow, |escrow| {
            escrow
                .hold_payout(submission, tester, split, at(100), at(10), PLATFORM)
                .unwrap();
        });
        assert_eq!(events, []);
        // The first deferral (no verified account) is news; the sweep's next one is not.
        let defer = |escrow: &mut EscrowTransaction| {
            let attempt = escrow
                .begin_transfer(submission, 5, at(200), PLATFORM)
                .unwrap()
                .transfer_attempts;
            escrow
                .defer_transfer(submission, attempt, "not verified", at(201), PLATFORM)
                .unwrap();
        };
        let (escrow, events) = step(&escrow, defer);
        assert_eq!(
            events,
            [MoneyEvent {
                kind: DomainEventKind::PayoutHeld,
                recipient: tester,
                submission_id: Some(submission),
                amount_cents: 4_250,
            }]
        );
        let (escrow, events) = step(&escrow, defer);
        assert_eq!(events, []);
        // Paid: the tester hears of it with the amount that reached them.
        let (escrow, events) = step(&escrow, |escrow| {
            let attempt = escrow
                .begin_transfer(submission, 5, at(300), PLATFORM)
                .unwrap()
                .transfer_attempts;
            escrow
                .settle_transfer(submission, attempt, "tr_1".into(), at(301), PLATFORM)
                .unwrap();
        });
        assert_eq!(
            events,
            [MoneyEvent {
                kind: DomainEventKind::PaymentReceived,
                recipient: tester,
                submission_id: Some(submission),
                amount_cents: 4_250,
            }]
        );
        // A refund tells the client when it settles, not when it is requested.
        let refund = ObjectId::new();
        let (escrow, events) = step(&escrow, |escrow| {
            escrow
                .request_refund(refund, 5_000, "unused seat".into(), None, at(400), PLATFORM)
                .unwrap();
        });
        assert_eq!(events, []);
        let (_, events) = step(&escrow, |escrow| {
            escrow
                .settle_refund(refund, "re_1".into(), at(401), PLATFORM)
                .unwrap();
        });
        assert_eq!(
            events,
            [MoneyEvent {
                kind: DomainEventKind::RefundProcessed,
                recipient: escrow.client_id,
                submission_id: None,
                amount_cents: 5_000,
            }]
        );
    }
}
