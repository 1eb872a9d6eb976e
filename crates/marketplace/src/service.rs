//! [`MarketplaceService`]: construction, the collections it owns, and the small internals (time,
//! the funding and enhancement seams) its operations share. The operations live in the module of
//! the thing they act on (`project`, `job`, `assignment`, `submission`, `template`, `enhance`,
//! `batch`); transactions and usage counters have their own modules.

use std::sync::Arc;

use bson::{DateTime, Document};
use foundation::{Clock, CollectionSpec};
use mongodb::{Client, Collection, Database};

use crate::collections;
use crate::credentials::CredentialCipher;
use crate::enhance::{EnhancementProvider, PassThrough};
use crate::error::MarketplaceError;
use crate::funding::{JobFunding, NoFunding};
use crate::job::Job;
use crate::project::Project;
use crate::settings::MarketplaceSettings;
use crate::submission::Submission;

/// The marketplace domain's API. Cheap to clone (shared handles); create one per process.
#[derive(Clone, Debug)]
pub struct MarketplaceService {
    pub(crate) client: Client,
    pub(crate) projects: Collection<Project>,
    pub(crate) jobs: Collection<Job>,
    pub(crate) submissions: Collection<Submission>,
    pub(crate) templates: Collection<Document>,
    pub(crate) usage_counters: Collection<Document>,
    pub(crate) credential_reads: Collection<crate::credential_audit::CredentialRead>,
    pub(crate) settings: Arc<MarketplaceSettings>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) funding: Arc<dyn JobFunding>,
    pub(crate) enhancer: Arc<dyn EnhancementProvider>,
    pub(crate) credential_cipher: CredentialCipher,
    /// The domain events outbox: claims and hand-ins are recorded there in their transaction.
    pub(crate) events: foundation::events::DomainEvents,
}

impl MarketplaceService {
    /// A service over `database` that publishes jobs without funding ([`NoFunding`]) and
    /// enhances nothing ([`PassThrough`]) until [`MarketplaceService::with_funding`] and
    /// [`MarketplaceService::with_enhancer`] plug escrow and an AI provider in. Call
    /// [`MarketplaceService::ensure_collections`] once at start-up.
    pub fn new(database: Database, settings: MarketplaceSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            client: database.client().clone(),
            projects: database.collection(collections::PROJECTS),
            jobs: database.collection(collections::JOBS),
            submissions: database.collection(collections::SUBMISSIONS),
            templates: database.collection(collections::AI_TEST_TEMPLATES),
            usage_counters: database.collection(collections::USAGE_COUNTERS),
            credential_reads: database.collection(collections::CREDENTIAL_READS),
            credential_cipher: CredentialCipher::with_previous(
                &settings.credentials_encryption_key,
                &settings.previous_credentials_keys,
            ),
            settings: Arc::new(settings),
            clock,
            funding: Arc::new(NoFunding),
            enhancer: Arc::new(PassThrough),
            events: foundation::events::DomainEvents::new(&database),
        }
    }

    /// The same service, funding published jobs through `funding`.
    pub fn with_funding(mut self, funding: Arc<dyn JobFunding>) -> Self {
        self.funding = funding;
        self
    }

    /// The same service, enhancing journeys and submission summaries through `enhancer`.
    pub fn with_enhancer(mut self, enhancer: Arc<dyn EnhancementProvider>) -> Self {
        self.enhancer = enhancer;
        self
    }

    /// The collections this crate owns, with their indexes and validators.
    pub fn collections() -> Vec<CollectionSpec> {
        collections::specs()
    }

    /// Creates (or updates) every owned collection, validator and index; idempotent.
    pub async fn ensure_collections(&self, database: &Database) -> Result<(), MarketplaceError> {
        for spec in Self::collections() {
            foundation::ensure_collection(database, &spec).await?;
        }
        Ok(())
    }

    /// The settings the service runs with.
    pub fn settings(&self) -> &MarketplaceSettings {
        &self.settings
    }

    /// The marketplace's time (deadlines, qualifications), from its injected clock.
    pub fn now(&self) -> DateTime {
        self.clock.now()
    }
}
