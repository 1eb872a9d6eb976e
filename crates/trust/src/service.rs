//! [`TrustService`]: construction, the collections it owns, and the seams its operations share.
//! The operations live in the module of the thing they act on (`rating`, `dispute`).

use std::sync::Arc;

use bson::DateTime;
use foundation::{Clock, CollectionSpec};
use mongodb::{Client, Collection, Database};

use crate::collections;
use crate::dispute::Dispute;
use crate::error::TrustError;
use crate::rating::Rating;
use crate::totals::{RatingTotals, UsersRatingTotals};

/// The trust domain's API. Cheap to clone (shared handles); create one per process.
#[derive(Clone, Debug)]
pub struct TrustService {
    pub(crate) client: Client,
    /// For the collections of qualification tests (and `users`, which their outcome sets).
    pub(crate) database: Database,
    pub(crate) ratings: Collection<Rating>,
    pub(crate) disputes: Collection<Dispute>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) totals: Arc<dyn RatingTotals>,
    /// The domain events outbox: a revealed rating is recorded there in the reveal's transaction.
    pub(crate) events: foundation::events::DomainEvents,
}

impl TrustService {
    /// A service over `database` that adds revealed ratings to `users` through
    /// [`UsersRatingTotals`] and records `rating_received` in the domain events outbox. Call
    /// [`TrustService::ensure_collections`] once at start-up.
    pub fn new(database: &Database, clock: Arc<dyn Clock>) -> Self {
        Self {
            client: database.client().clone(),
            database: database.clone(),
            ratings: database.collection(collections::RATINGS),
            disputes: database.collection(collections::DISPUTES),
            clock,
            totals: Arc::new(UsersRatingTotals::new(database)),
            events: foundation::events::DomainEvents::new(database),
        }
    }

    /// The collections this crate owns, with their indexes and validators.
    pub fn collections() -> Vec<CollectionSpec> {
        collections::specs()
    }

    /// Creates (or updates) every owned collection, validator and index; idempotent.
    pub async fn ensure_collections(&self, database: &Database) -> Result<(), TrustError> {
        for spec in Self::collections() {
            foundation::ensure_collection(database, &spec).await?;
        }
        Ok(())
    }

    pub(crate) fn now(&self) -> DateTime {
        self.clock.now()
    }
}
