//! [`TrustService`]: construction, the collections it owns, and the seams its operations share.
//! The operations live in the module of the thing they act on (`rating`).

use std::sync::Arc;

use bson::DateTime;
use foundation::{Clock, CollectionSpec};
use mongodb::{Client, Collection, Database};

use crate::collections;
use crate::error::TrustError;
use crate::events::{NoTrustEvents, TrustEvents};
use crate::rating::Rating;
use crate::totals::{RatingTotals, UsersRatingTotals};

/// The trust domain's API. Cheap to clone (shared handles); create one per process.
#[derive(Clone, Debug)]
pub struct TrustService {
    pub(crate) client: Client,
    pub(crate) ratings: Collection<Rating>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) totals: Arc<dyn RatingTotals>,
    pub(crate) events: Arc<dyn TrustEvents>,
}

impl TrustService {
    /// A service over `database` that adds revealed ratings to `users` through
    /// [`UsersRatingTotals`] and sends its events nowhere ([`NoTrustEvents`]) until
    /// [`TrustService::with_events`] plugs notifications in. Call
    /// [`TrustService::ensure_collections`] once at start-up.
    pub fn new(database: &Database, clock: Arc<dyn Clock>) -> Self {
        Self {
            client: database.client().clone(),
            ratings: database.collection(collections::RATINGS),
            clock,
            totals: Arc::new(UsersRatingTotals::new(database)),
            events: Arc::new(NoTrustEvents),
        }
    }

    /// The same service, telling its events to `events`.
    pub fn with_events(mut self, events: Arc<dyn TrustEvents>) -> Self {
        self.events = events;
        self
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
