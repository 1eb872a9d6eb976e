//! [`IdentityService`]: construction, the collections it owns, and the small internals (time,
//! password hashing off the async threads) its operations share. The operations themselves live
//! in the module of the thing they act on (`user`, `session`, `organization`, ...).

use std::sync::Arc;

use argon2::Argon2;
use bson::{DateTime, Document};
use foundation::{Clock, CollectionSpec};
use mongodb::{Collection, Database};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::access_token::AccessTokenKeys;
use crate::collections;
use crate::error::IdentityError;
use crate::password;
use crate::secret_box::SecretBox;
use crate::settings::IdentitySettings;

/// The identity domain's API. Cheap to clone (shared handles); create one per process.
#[derive(Clone, Debug)]
pub struct IdentityService {
    pub(crate) users: Collection<Document>,
    pub(crate) organizations: Collection<Document>,
    pub(crate) sessions: Collection<Document>,
    pub(crate) api_keys: Collection<Document>,
    pub(crate) outbox: Collection<Document>,
    pub(crate) rate_limits: Collection<Document>,
    pub(crate) invitations: Collection<Document>,
    /// The domain events outbox: suspensions and payout-account changes are recorded there in
    /// the transaction that makes them.
    pub(crate) events: foundation::events::DomainEvents,
    pub(crate) settings: Arc<IdentitySettings>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) access_tokens: AccessTokenKeys,
    pub(crate) secret_box: SecretBox,
    pub(crate) hasher: Arc<Argon2<'static>>,
    /// A hash of a random password, verified against when the email is unknown so that unknown
    /// emails and wrong passwords take the same time.
    pub(crate) dummy_password_hash: Arc<String>,
    /// Slots for argon2 computations; each takes `memory_kib` of memory, so the slots bound the
    /// memory a burst of logins can take.
    pub(crate) hashing_slots: Arc<Semaphore>,
}

impl IdentityService {
    /// A service over `database` with `settings` and `clock`. Fails on unusable settings.
    /// Call [`IdentityService::ensure_collections`] once at start-up.
    pub fn new(
        database: Database,
        settings: IdentitySettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, IdentityError> {
        settings.validate()?;
        let hasher = password::hasher(settings.password_hashing)?;
        let dummy_password_hash = password::hash(&hasher, &foundation::secret::generate_token())?;
        Ok(Self {
            users: database.collection(collections::USERS),
            organizations: database.collection(collections::ORGANIZATIONS),
            sessions: database.collection(collections::SESSIONS),
            api_keys: database.collection(collections::API_KEYS),
            outbox: database.collection(collections::OUTBOX),
            rate_limits: database.collection(collections::RATE_LIMITS),
            invitations: database.collection(collections::ORGANIZATION_INVITATIONS),
            events: foundation::events::DomainEvents::new(&database),
            access_tokens: AccessTokenKeys::new(
                &settings.jwt_secret,
                &settings.jwt_issuer,
                &settings.jwt_audience,
            ),
            secret_box: SecretBox::new(&settings.totp_encryption_key),
            hasher: Arc::new(hasher),
            hashing_slots: Arc::new(Semaphore::new(settings.max_concurrent_password_hashes)),
            dummy_password_hash: Arc::new(dummy_password_hash),
            settings: Arc::new(settings),
            clock,
        })
    }

    /// The collections this crate owns, with their indexes and validators.
    pub fn collections() -> Vec<CollectionSpec> {
        collections::specs()
    }

    /// Creates (or updates) every owned collection, validator and index; idempotent.
    pub async fn ensure_collections(&self, database: &Database) -> Result<(), IdentityError> {
        for spec in Self::collections() {
            foundation::ensure_collection(database, &spec).await?;
        }
        Ok(())
    }

    /// The settings the service runs with.
    pub fn settings(&self) -> &IdentitySettings {
        &self.settings
    }

    pub(crate) fn now(&self) -> DateTime {
        self.clock.now()
    }

    pub(crate) fn now_seconds(&self) -> i64 {
        self.clock.now().timestamp_millis().div_euclid(1_000)
    }

    /// A slot to run one argon2 computation in, waiting at most `password_hash_wait`; past that
    /// the request is refused with `RateLimited` instead of queueing without bound.
    async fn hashing_slot(&self) -> Result<OwnedSemaphorePermit, IdentityError> {
        let slots = Arc::clone(&self.hashing_slots);
        match tokio::time::timeout(self.settings.password_hash_wait, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(IdentityError::Internal("hashing slots closed".into())),
            Err(_elapsed) => {
                tracing::warn!("password hashing saturated; request refused");
                Err(IdentityError::RateLimited {
                    retry_after_secs: 1,
                })
            }
        }
    }

    /// Hashes on the blocking pool: argon2id is deliberately slow and must not stall the runtime.
    /// The slot is held by the blocking task itself, so a cancelled request cannot free it early.
    pub(crate) async fn hash_password(&self, plain: &str) -> Result<String, IdentityError> {
        let permit = self.hashing_slot().await?;
        let hasher = Arc::clone(&self.hasher);
        let plain = plain.to_owned();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            password::hash(&hasher, &plain)
        })
        .await
        .map_err(|error| IdentityError::Internal(format!("hashing task failed: {error}")))?
    }

    /// Verifies on the blocking pool; `stored = None` verifies against the dummy hash and fails.
    pub(crate) async fn verify_password(
        &self,
        plain: &str,
        stored: Option<String>,
    ) -> Result<bool, IdentityError> {
        let hasher = Arc::clone(&self.hasher);
        let plain = plain.to_owned();
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_password_hash.as_str().to_owned());
        let permit = self.hashing_slot().await?;
        let matched = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            password::verify(&hasher, &plain, &stored)
        })
        .await
        .map_err(|error| IdentityError::Internal(format!("verification task failed: {error}")))?;
        Ok(known && matched)
    }
}
