//! [`EscrowService`]: construction, the collections it owns, and the one write path every money
//! step takes: load the escrow, apply a pure ledger step, check the invariant, write it back by
//! compare-and-set on `version` (inside a transaction when the step also moves a payout, so the
//! submission's `payout_status` and the tester's totals change with it).

use std::sync::Arc;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use foundation::transaction_retry::{back_off, MAX_TRANSACTION_ATTEMPTS};
use foundation::{Clock, CollectionSpec};
use marketplace::{MarketplaceError, MarketplaceService, SubmissionPayout, SubmissionPayoutStatus};
use mongodb::{Client, ClientSession, Collection, Database};

use crate::collections;
use crate::earnings::{TesterEarnings, UsersTesterTotals};
use crate::error::EscrowError;
use crate::idempotency::IdempotencyRecord;
use crate::ledger::{check_invariant, EscrowTransaction, Payout};
use crate::lifecycle::PayoutStatus;
use crate::provider::PaymentProvider;
use crate::settings::EscrowSettings;

/// Attempts of one ledger step against concurrent writers before giving up with `Contended`.
const TRANSIENT_TRANSACTION_ERROR: &str = "TransientTransactionError";
const UNKNOWN_COMMIT_RESULT: &str = "UnknownTransactionCommitResult";

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
        let escrows: Vec<EscrowTransaction> = futures_util::TryStreamExt::try_collect(
            self.escrows
                .find(doc! { "job_id": { "$in": job_ids } })
                .batch_size(10_000)
                .await?,
        )
        .await?;
        Ok(escrows
            .into_iter()
            .map(|escrow| (escrow.job_id, escrow))
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
        let total_count = self.escrows.count_documents(flagged.clone()).await?;
        let page_filter = match after {
            Some(after) => doc! { "$and": [flagged, { "_id": { "$lt": after } }] },
            None => flagged,
        };
        // One more than asked tells whether a next page exists.
        let mut items: Vec<EscrowTransaction> = futures_util::TryStreamExt::try_collect(
            self.escrows
                .find(page_filter)
                .sort(doc! { "_id": -1 })
                .limit(i64::from(limit) + 1)
                .await?,
        )
        .await?;
        let has_next_page = items.len() > limit as usize;
        items.truncate(limit as usize);
        Ok(foundation::KeysetPage {
            items,
            has_next_page,
            total_count,
        })
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
    /// version, reloading and re-applying when another writer got there first. A step that
    /// changes nothing writes nothing. `marketplace` is needed when the step moves a payout.
    pub(crate) async fn change<R>(
        &self,
        marketplace: Option<&MarketplaceService>,
        job_id: ObjectId,
        mut step: impl FnMut(&mut EscrowTransaction, DateTime) -> Result<R, EscrowError>,
    ) -> Result<(EscrowTransaction, R), EscrowError> {
        for attempt in 0..MAX_TRANSACTION_ATTEMPTS {
            let before = self.escrow_for_job(job_id).await?;
            let mut after = before.clone();
            let outcome = step(&mut after, self.now())?;
            if after == before {
                return Ok((after, outcome));
            }
            if self.commit(&before, &mut after, marketplace).await? {
                return Ok((after, outcome));
            }
            back_off(attempt).await;
        }
        Err(EscrowError::Contended)
    }

    /// Writes `after` over `before` if nobody changed it meanwhile; false when somebody did.
    async fn commit(
        &self,
        before: &EscrowTransaction,
        after: &mut EscrowTransaction,
        marketplace: Option<&MarketplaceService>,
    ) -> Result<bool, EscrowError> {
        check_invariant(after).map_err(EscrowError::InvariantViolated)?;
        if after.events.get(..before.events.len()) != Some(before.events.as_slice()) {
            return Err(EscrowError::InvariantViolated(
                "a step edited a recorded event".into(),
            ));
        }
        after.version = before.version + 1;
        let mut set = bson::to_document(&*after)?;
        set.remove("_id");
        set.remove("events");
        let new_events = bson::to_bson(&after.events[before.events.len()..])?;
        let filter = doc! { "_id": before.id, "version": before.version };
        let update = doc! {
            "$set": set,
            "$push": { "events": { "$each": new_events } },
        };
        let payout_changes = payout_changes(before, after);
        if payout_changes.is_empty() {
            let written = self.escrows.update_one(filter, update).await?;
            return Ok(written.matched_count == 1);
        }
        let marketplace = marketplace.ok_or_else(|| {
            EscrowError::Internal("a payout moved without the marketplace to record it".into())
        })?;
        let mut session = self.client.start_session().await?;
        loop {
            session.start_transaction().await?;
            let outcome = self
                .commit_steps(&mut session, &filter, &update, &payout_changes, marketplace)
                .await;
            match outcome {
                Ok(true) => match commit_transaction(&mut session).await {
                    Ok(()) => return Ok(true),
                    Err(error) if is_transient(&error) => continue,
                    Err(error) => return Err(error),
                },
                Ok(false) => {
                    let _ = session.abort_transaction().await;
                    return Ok(false);
                }
                Err(error) => {
                    let _ = session.abort_transaction().await;
                    if is_transient(&error) {
                        return Ok(false);
                    }
                    return Err(error);
                }
            }
        }
    }

    async fn commit_steps(
        &self,
        session: &mut ClientSession,
        filter: &Document,
        update: &Document,
        payout_changes: &[PayoutChange],
        marketplace: &MarketplaceService,
    ) -> Result<bool, EscrowError> {
        let written = self
            .escrows
            .update_one(filter.clone(), update.clone())
            .session(&mut *session)
            .await?;
        if written.matched_count != 1 {
            return Ok(false);
        }
        for change in payout_changes {
            marketplace
                .record_submission_payout(&mut *session, change.submission_id, change.report)
                .await?;
            if change.newly_paid {
                self.earnings
                    .credit_payout(&mut *session, change.tester_id, change.report.amount_cents)
                    .await?;
            }
        }
        Ok(true)
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
fn reported_status(status: PayoutStatus) -> SubmissionPayoutStatus {
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
                    amount_cents: payout.tester_payout_usd,
                    status: reported,
                    paid_at: payout.completed_at,
                },
                newly_paid: payout.status == PayoutStatus::Paid && was != Some(PayoutStatus::Paid),
            })
        })
        .collect()
}

async fn commit_transaction(session: &mut ClientSession) -> Result<(), EscrowError> {
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(error) if error.contains_label(UNKNOWN_COMMIT_RESULT) => {}
            Err(error) => return Err(error.into()),
        }
    }
}

fn is_transient(error: &EscrowError) -> bool {
    match error {
        EscrowError::Database(error) => error.contains_label(TRANSIENT_TRANSACTION_ERROR),
        EscrowError::Marketplace(MarketplaceError::Database(error)) => {
            error.contains_label(TRANSIENT_TRANSACTION_ERROR)
        }
        _ => false,
    }
}
