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

    /// The stored text.
    pub fn as_str(&self) -> &str {
        &self.0
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Bson>,
    pub created_at: DateTime,
    pub expires_at: DateTime,
}

fn fingerprint(operation: &str, arguments: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{operation}\n{arguments}").as_bytes(),
    ))
}

impl EscrowService {
    /// Runs `run` at most once per `key` as far as callers can tell (see the module docs).
    /// `arguments` must describe everything that changes the operation's effect.
    pub(crate) async fn idempotent<T, F>(
        &self,
        key: &IdempotencyKey,
        operation: &str,
        arguments: String,
        run: F,
    ) -> Result<T, EscrowError>
    where
        T: Serialize + DeserializeOwned,
        F: Future<Output = Result<T, EscrowError>>,
    {
        let fingerprint = fingerprint(operation, &arguments);
        if let Some(answer) = self.known_answer(key, &fingerprint).await? {
            return Ok(answer);
        }
        let now = self.now();
        let record = IdempotencyRecord {
            id: ObjectId::new(),
            key: key.as_str().to_owned(),
            operation: operation.to_owned(),
            fingerprint: fingerprint.clone(),
            status: IdempotencyStatus::Started,
            response: None,
            created_at: now,
            expires_at: foundation::clock::add_duration(now, self.settings.idempotency_key_ttl),
        };
        match self.idempotency_keys.insert_one(&record).await {
            Ok(_) => {}
            Err(error) if foundation::collection::is_duplicate_key(&error) => {
                if let Some(answer) = self.known_answer(key, &fingerprint).await? {
                    return Ok(answer);
                }
            }
            Err(error) => return Err(error.into()),
        }
        let result = run.await?;
        let response = bson::to_bson(&result)?;
        let stored = self
            .idempotency_keys
            .update_one(
                doc! { "key": key.as_str(), "status": "started" },
                doc! { "$set": { "status": "completed", "response": response } },
            )
            .await?;
        if stored.matched_count == 0 {
            // A racing request with the same key answered first: its answer is the answer.
            if let Some(answer) = self.known_answer(key, &fingerprint).await? {
                return Ok(answer);
            }
        }
        Ok(result)
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
                key: key.as_str().to_owned(),
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
