//! Persisted documents: Apollo's automatic persisted queries (APQ) and trusted documents.
//!
//! APQ: a request may carry `extensions.persistedQuery = {version: 1, sha256Hash}` instead of
//! its `query`. A known hash runs the document it names; an unknown one answers
//! `PERSISTED_QUERY_NOT_FOUND`, and the client sends the hash again with the full text, which
//! registers it (after the hash is checked against the text and the document passes the limits).
//! Registered documents live in a bounded in-memory table, per gateway instance.
//!
//! Trusted documents: the single-page app's operations are listed at build time in a manifest
//! (`{"<sha256>": "<document>", ...}`). In `first_party` mode, users and anonymous callers may
//! only run documents of the manifest (by hash or by text); partner API keys may send any
//! document within their limits.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_graphql::ErrorExtensions;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::viewer::Viewer;

/// The code of an unknown persisted-query hash, as Apollo clients expect it.
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";

/// Most bytes of document text registered through APQ at once; the oldest go first.
const MAX_REGISTERED_BYTES: usize = 16 * 1024 * 1024;

/// Who may send documents the manifest does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustedDocumentsMode {
    /// Any caller may send any document (within the limits).
    #[default]
    Off,
    /// Users and anonymous callers run only the manifest's documents; API keys run any.
    FirstParty,
}

/// The manifest's documents and the ones registered through APQ.
#[derive(Debug, Default)]
pub struct PersistedDocuments {
    mode: TrustedDocumentsMode,
    trusted: HashMap<String, Arc<str>>,
    registered: Mutex<Registered>,
}

#[derive(Debug, Default)]
struct Registered {
    documents: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
    bytes: usize,
}

/// What a request's `extensions.persistedQuery` asked for, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The hash to register once the document passes the limits (text sent with a new hash).
    pub register: Option<String>,
}

/// The lower-case hex SHA-256 of a document's text.
pub fn document_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn not_found() -> async_graphql::Error {
    async_graphql::Error::new("PersistedQueryNotFound").extend_with(|_, extensions| {
        extensions.set("code", PERSISTED_QUERY_NOT_FOUND);
    })
}

impl PersistedDocuments {
    /// The documents of a trusted-documents manifest (a JSON object of hash → text); every
    /// hash is checked against its text.
    pub fn new(mode: TrustedDocumentsMode, manifest: &str) -> Result<PersistedDocuments, String> {
        let trusted = if manifest.trim().is_empty() {
            HashMap::new()
        } else {
            let entries: HashMap<String, String> =
                serde_json::from_str(manifest).map_err(|error| {
                    format!(
                        "the trusted-documents manifest is not a JSON object of strings: {error}"
                    )
                })?;
            let mut trusted = HashMap::with_capacity(entries.len());
            for (hash, text) in entries {
                let hash = hash.trim_start_matches("sha256:").to_ascii_lowercase();
                if document_hash(&text) != hash {
                    return Err(format!(
                        "the trusted-documents manifest lists {hash} for a document whose SHA-256 differs"
                    ));
                }
                trusted.insert(hash, Arc::from(text));
            }
            trusted
        };
        Ok(PersistedDocuments {
            mode,
            trusted,
            registered: Mutex::new(Registered::default()),
        })
    }

    /// The text behind a hash, from the manifest or registered; whoever asks.
    pub fn lookup(&self, hash: &str) -> Option<Arc<str>> {
        let hash = hash.to_ascii_lowercase();
        self.trusted.get(&hash).cloned().or_else(|| {
            self.registered
                .lock()
                .ok()
                .and_then(|registered| registered.documents.get(&hash).cloned())
        })
    }

    /// How many documents the manifest lists.
    pub fn trusted_count(&self) -> usize {
        self.trusted.len()
    }

    fn first_party_only(&self, viewer: &Viewer) -> bool {
        self.mode == TrustedDocumentsMode::FirstParty && !viewer.is_api_key()
    }

    /// Fills in `request.query` from a persisted hash, checks a sent hash against the text, and
    /// applies the trusted-documents rule. Errors are request errors (nothing runs).
    pub fn resolve(
        &self,
        request: &mut async_graphql::Request,
        viewer: &Viewer,
    ) -> Result<Resolved, async_graphql::Error> {
        let persisted = match request.extensions.get("persistedQuery") {
            None => None,
            Some(async_graphql::Value::Object(object)) => {
                match object.get("version") {
                    Some(async_graphql::Value::Number(version)) if version.as_u64() == Some(1) => {}
                    _ => {
                        return Err(ApiError::bad_input(
                            "extensions.persistedQuery.version",
                            "only version 1 of persisted queries is supported",
                        )
                        .into())
                    }
                }
                match object.get("sha256Hash") {
                    Some(async_graphql::Value::String(hash))
                        if hash.len() == 64
                            && hash.bytes().all(|byte| byte.is_ascii_hexdigit()) =>
                    {
                        Some(hash.to_ascii_lowercase())
                    }
                    _ => {
                        return Err(ApiError::bad_input(
                            "extensions.persistedQuery.sha256Hash",
                            "sha256Hash must be 64 hexadecimal characters",
                        )
                        .into())
                    }
                }
            }
            Some(_) => {
                return Err(ApiError::bad_input(
                    "extensions.persistedQuery",
                    "persistedQuery must be an object",
                )
                .into())
            }
        };
        let first_party_only = self.first_party_only(viewer);
        match persisted {
            None => {
                if first_party_only && !self.trusted.contains_key(&document_hash(&request.query)) {
                    return Err(untrusted());
                }
                Ok(Resolved { register: None })
            }
            Some(hash) if request.query.is_empty() => {
                let text = self.trusted.get(&hash).cloned().or_else(|| {
                    if first_party_only {
                        return None;
                    }
                    self.registered
                        .lock()
                        .ok()
                        .and_then(|registered| registered.documents.get(&hash).cloned())
                });
                match text {
                    Some(text) => {
                        request.query = text.to_string();
                        Ok(Resolved { register: None })
                    }
                    None if first_party_only => Err(untrusted()),
                    None => Err(not_found()),
                }
            }
            Some(hash) => {
                if document_hash(&request.query) != hash {
                    return Err(ApiError::bad_input(
                        "extensions.persistedQuery.sha256Hash",
                        "provided sha256Hash does not match the query",
                    )
                    .into());
                }
                if self.trusted.contains_key(&hash) {
                    return Ok(Resolved { register: None });
                }
                if first_party_only {
                    return Err(untrusted());
                }
                Ok(Resolved {
                    register: Some(hash),
                })
            }
        }
    }

    /// Remembers `text` under `hash` (checked by `resolve`), forgetting the oldest documents
    /// past the byte budget.
    pub fn register(&self, hash: String, text: &str) {
        let Ok(mut registered) = self.registered.lock() else {
            return;
        };
        if registered.documents.contains_key(&hash) {
            return;
        }
        registered.bytes += text.len();
        registered.documents.insert(hash.clone(), Arc::from(text));
        registered.order.push_back(hash);
        while registered.bytes > MAX_REGISTERED_BYTES {
            let Some(oldest) = registered.order.pop_front() else {
                break;
            };
            if let Some(text) = registered.documents.remove(&oldest) {
                registered.bytes -= text.len();
            }
        }
    }
}

fn untrusted() -> async_graphql::Error {
    ApiError::Forbidden(
        "only the application's registered documents may be sent with this credential; partners use an API key".to_string(),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(query: &str, hash: &str) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        request.extensions.insert(
            "persistedQuery".to_string(),
            async_graphql::Value::from_json(
                serde_json::json!({ "version": 1, "sha256Hash": hash }),
            )
            .expect("value"),
        );
        request
    }

    #[test]
    fn a_hash_is_unknown_until_sent_with_its_text() {
        let documents = PersistedDocuments::new(TrustedDocumentsMode::Off, "").expect("empty");
        let text = "{ me { id } }";
        let hash = document_hash(text);
        let mut miss = request_with("", &hash);
        let error = documents
            .resolve(&mut miss, &Viewer::Anonymous)
            .unwrap_err();
        assert_eq!(error.message, "PersistedQueryNotFound");
        let mut wrong = request_with("{ __typename }", &hash);
        assert!(documents.resolve(&mut wrong, &Viewer::Anonymous).is_err());
        let mut full = request_with(text, &hash);
        let resolved = documents
            .resolve(&mut full, &Viewer::Anonymous)
            .expect("registers");
        assert_eq!(resolved.register.as_deref(), Some(hash.as_str()));
        documents.register(hash.clone(), text);
        let mut hit = request_with("", &hash);
        documents
            .resolve(&mut hit, &Viewer::Anonymous)
            .expect("known now");
        assert_eq!(hit.query, text);
    }

    #[test]
    fn a_manifest_entry_whose_hash_lies_is_refused() {
        let manifest = serde_json::json!({ document_hash("{ a }"): "{ b }" }).to_string();
        assert!(PersistedDocuments::new(TrustedDocumentsMode::FirstParty, &manifest).is_err());
    }
}
