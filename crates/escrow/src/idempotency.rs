//! Idempotency keys: a money-moving request carries a key; the first request with a key runs and
//! its answer is stored in `escrow_idempotency_keys`; a repeat with the same key and the same
//! arguments gets that answer and does nothing; the same key with other arguments is refused.
//!
//! Two layers make this hold even when requests race or crash. The stored answer covers repeats
//! after completion. Underneath, every operation is itself deduplicated by our own ids in the
//! ledger (one payout per submission, one refund per request key, provider keys derived from our
//! ids), so two racing first requests, or a repeat after the key's record expired or after a
//! crash before the answer was stored, still move money once. Errors are not stored: a request
//! that failed may be retried with the same key.

use std::future::Future;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{doc, Bson, DateTime};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::EscrowError;
use crate::service::EscrowService;

/// Longest client-supplied key accepted.
const MAX_CLIENT_KEY_LENGTH: usize = 200;

/// An idempotency key, namespaced so a client's keys never collide with another caller's or
/// with the keys the platform derives from its own ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A key a client sent (for example an `Idempotency-Key` header), scoped to that caller.
    pub fn from_client(caller: ObjectId, key: &str) -> Result<Self, EscrowError> {
        if key.is_empty() {
            return Err(EscrowError::InvalidIdempotencyKey {
                reason: "must not be empty",
            });
        }
        if key.len() > MAX_CLIENT_KEY_LENGTH {
            return Err(EscrowError::InvalidIdempotencyKey {
                reason: "must be at most 200 characters",
            });
        }
        if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(EscrowError::InvalidIdempotencyKey {
                reason: "must be printable ASCII without spaces",
            });
        }
        Ok(Self(format!("client:{}:{key}", caller.to_hex())))
    }

    /// Funding a job on publish.
    pub fn for_funding(job_id: ObjectId) -> Self {
        Self(format!("platform:fund:{}", job_id.to_hex()))
    }

    /// Paying an approved submission.
    pub fn for_payout(submission_id: ObjectId) -> Self {
        Self(format!("platform:payout:{}", submission_id.to_hex()))
    }

    /// Settling a cancelled job.
    pub fn for_cancellation(job_id: ObjectId) -> Self {
        Self(format!("platform:cancel:{}", job_id.to_hex()))
    }

    /// Settling a completed job.
    pub fn for_completion(job_id: ObjectId) -> Self {
        Self(format!("platform:complete:{}", job_id.to_hex()))
    }

    /// Settling after a submission was rejected.
    pub fn for_rejection(submission_id: ObjectId) -> Self {
        Self(format!("platform:reject:{}", submission_id.to_hex()))
    }

    /// A key for one request that carried no key of its own: unique, so the request runs once
    /// and a repeat is a new request.
    pub fn unique() -> Self {
        Self(format!("platform:request:{}", ObjectId::new().to_hex()))
    }

    /// A key for step `step` inside the request this key identifies: a retry of the request
    /// repeats the step under the same key, and the two never collide.
    pub fn derived(&self, step: &str) -> Self {
        // A space never occurs in a client's key, so a derived key never equals one.
        Self(format!("{} {step}", self.0))
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as its sender wrote it (a client's key without the caller scope), for messages.
    pub fn shown(&self) -> &str {
        self.0
            .strip_prefix("client:")
            .and_then(|rest| rest.split_once(':'))
            .map_or(self.0.as_str(), |(_, key)| key)
            .split(' ')
            .next()
            .unwrap_or_default()
    }
}

/// Whether a key's request is still running or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IdempotencyStatus {
    Started,
    Completed,
}

/// A stored key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdempotencyRecord {
    #[serde(rename = "_id")]
    pub id: ObjectId,
    pub key: String,
    pub operation: String,
    /// SHA-256 of the operation and its arguments.
    pub fingerprint: String,
    pub status: IdempotencyStatus,
    /// Which run holds a started key: a run that takes over a stale key writes its own, so the
    /// run it replaced can no longer answer or release the key.
    #[serde(default = "ObjectId::new")]
    pub owner: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Bson>,
    pub created_at: DateTime,
    /// When the current owner started (a started key older than [`STALE_AFTER`] is taken over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime>,
    pub expires_at: DateTime,
}

/// How long a request waits for another request with the same key to finish before it is told
/// the key is in progress.
const IN_PROGRESS_WAIT: Duration = Duration::from_secs(15);

/// A key still `started` this long after its run began belongs to a run that died (a crash, a
/// lost connection): the next request with the key runs the operation again. That is safe:
/// every operation is also deduplicated by our own ids (see the module docs).
const STALE_AFTER: Duration = Duration::from_secs(120);

fn fingerprint(operation: &str, arguments: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{operation}\n{arguments}").as_bytes(),
    ))
}

/// What looking up a key found.
enum Claim<T> {
    /// The key was answered before: this is the answer.
    Answered(T),
    /// This request holds the key (its owner token) and must run the operation.
    Run(ObjectId),
}

impl EscrowService {
    /// Runs `run` once per `key` and remembers its answer: the first request with a key runs;
    /// a repeat with the same `operation` and `arguments` gets the stored answer without running
    /// anything; the same key with another operation or other arguments is refused
    /// ([`EscrowError::IdempotencyKeyReused`]). A repeat that arrives while the first is still
    /// running waits for its answer (up to 15 s, then [`EscrowError::IdempotencyKeyInProgress`]).
    /// A run that fails stores nothing and frees the key, so the request may be retried.
    ///
    /// The transports use it for client keys (the `Idempotency-Key` of a money-moving mutation);
    /// `arguments` must describe everything that changes the operation's effect.
    pub async fn remember<T, E, F>(
        &self,
        key: &IdempotencyKey,
        operation: &str,
        arguments: String,
        run: F,
    ) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        E: From<EscrowError>,
        F: Future<Output = Result<T, E>>,
    {
        let fingerprint = fingerprint(operation, &arguments);
        let owner = match self.claim(key, operation, &fingerprint).await? {
            Claim::Answered(answer) => return Ok(answer),
            Claim::Run(owner) => owner,
        };
        let result = match run.await {
            Ok(result) => result,
            Err(error) => {
                // Free the key for a retry; if this fails the key goes stale and is taken over.
                let _ = self
                    .idempotency_keys
                    .delete_one(doc! { "key": key.as_str(), "owner": owner, "status": "started" })
                    .await;
                return Err(error);
            }
        };
        let response = bson::to_bson(&result).map_err(EscrowError::from)?;
        let stored = self
            .idempotency_keys
            .update_one(
                doc! { "key": key.as_str(), "owner": owner, "status": "started" },
                doc! { "$set": { "status": "completed", "response": response } },
            )
            .await
            .map_err(EscrowError::from)?;
        if stored.matched_count == 0 {
            // Another run took the key over as stale and answered first: its answer stands.
            if let Some(answer) = self.known_answer(key, &fingerprint).await? {
                return Ok(answer);
            }
        }
        Ok(result)
    }

    /// Finds the stored answer for `key`, or makes this request the key's runner: inserting a
    /// new record, taking over a stale one, or waiting for a running one to answer.
    async fn claim<T: DeserializeOwned>(
        &self,
        key: &IdempotencyKey,
        operation: &str,
        fingerprint: &str,
    ) -> Result<Claim<T>, EscrowError> {
        let deadline = Instant::now() + IN_PROGRESS_WAIT;
        let mut pause = Duration::from_millis(10);
        loop {
            // Insert first: a new key (the common case) costs one command.
            let now = self.now();
            let owner = ObjectId::new();
            let record = IdempotencyRecord {
                id: ObjectId::new(),
                key: key.as_str().to_owned(),
                operation: operation.to_owned(),
                fingerprint: fingerprint.to_owned(),
                status: IdempotencyStatus::Started,
                owner,
                response: None,
                created_at: now,
                started_at: Some(now),
                expires_at: foundation::clock::add_duration(now, self.settings.idempotency_key_ttl),
            };
            match self.idempotency_keys.insert_one(&record).await {
                Ok(_) => return Ok(Claim::Run(owner)),
                Err(error) if foundation::collection::is_duplicate_key(&error) => {}
                Err(error) => return Err(error.into()),
            }
            let existing = self
                .idempotency_keys
                .find_one(doc! { "key": key.as_str() })
                .await?;
            // Gone since the insert failed (expired, or freed by a failed run): try again.
            let Some(record) = existing else {
                continue;
            };
            if record.fingerprint != fingerprint {
                return Err(EscrowError::IdempotencyKeyReused {
                    key: key.shown().to_owned(),
                });
            }
            if let (IdempotencyStatus::Completed, Some(response)) =
                (record.status, record.response.clone())
            {
                return Ok(Claim::Answered(bson::from_bson(response)?));
            }
            let started = record.started_at.unwrap_or(record.created_at);
            if foundation::clock::add_duration(started, STALE_AFTER) <= now {
                let owner = ObjectId::new();
                let taken = self
                    .idempotency_keys
                    .update_one(
                        doc! { "_id": record.id, "owner": record.owner, "status": "started" },
                        doc! { "$set": { "owner": owner, "started_at": now } },
                    )
                    .await?;
                if taken.matched_count == 1 {
                    return Ok(Claim::Run(owner));
                }
                continue;
            }
            if Instant::now() >= deadline {
                return Err(EscrowError::IdempotencyKeyInProgress {
                    key: key.shown().to_owned(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// The stored answer for `key`, refusing a different request under the same key.
    async fn known_answer<T: DeserializeOwned>(
        &self,
        key: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<Option<T>, EscrowError> {
        let Some(record) = self
            .idempotency_keys
            .find_one(doc! { "key": key.as_str() })
            .await?
        else {
            return Ok(None);
        };
        if record.fingerprint != fingerprint {
            return Err(EscrowError::IdempotencyKeyReused {
                key: key.shown().to_owned(),
            });
        }
        match (record.status, record.response) {
            (IdempotencyStatus::Completed, Some(response)) => Ok(Some(bson::from_bson(response)?)),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_keys_are_scoped_to_their_caller_and_validated() {
        let alice = ObjectId::from_bytes([1; 12]);
        let bob = ObjectId::from_bytes([2; 12]);
        assert_ne!(
            IdempotencyKey::from_client(alice, "k-1").unwrap(),
            IdempotencyKey::from_client(bob, "k-1").unwrap()
        );
        assert!(IdempotencyKey::from_client(alice, "").is_err());
        assert!(IdempotencyKey::from_client(alice, "has space").is_err());
        assert!(IdempotencyKey::from_client(alice, &"x".repeat(201)).is_err());
        assert!(IdempotencyKey::for_payout(alice)
            .as_str()
            .starts_with("platform:"));
        assert_eq!(
            IdempotencyKey::from_client(alice, "k:1").unwrap().shown(),
            "k:1"
        );
    }

    #[test]
    fn fingerprints_differ_by_operation_and_arguments() {
        assert_ne!(
            fingerprint("refund", "1|100"),
            fingerprint("refund", "1|101")
        );
        assert_ne!(fingerprint("refund", "1"), fingerprint("payout", "1"));
    }
}
