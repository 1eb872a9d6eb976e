//! Documents parsed, checked against the limits and validated once, kept by the hash of their
//! text and operation name: a repeated document (every request of the single-page app, every
//! persisted query) costs no parsing, no limit walk and no validation.
//!
//! Validation reads variable values in two ways: argument values must fit their types, and a
//! connection's `first`/`last` sets its complexity. The first is checked on every request by
//! `crate::variables` before execution (custom scalars included), so a cached outcome holds for
//! any values of that kind; for the second, outcomes are kept per set of number, boolean and
//! null variable values, the only values a complexity function can read. Only documents that
//! passed validation are kept, within a budget of document text bytes; the least recently used
//! go first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{ExtensionContext, NextValidation};
use async_graphql::{ServerError, ValidationResult, Value, Variables};
use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::limits::CheckedDocument;

/// Most complexity outcomes kept per document (one per set of page sizes seen).
const OUTCOMES_PER_DOCUMENT: usize = 8;

/// A parsed AST takes several times its text; this is the multiple the budget assumes.
const AST_BYTES_PER_TEXT_BYTE: usize = 16;

type Key = [u8; 32];

/// Validated documents by hash, within a byte budget.
pub struct DocumentCache {
    budget_bytes: usize,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    preparing_nanos: AtomicU64,
}

struct State {
    entries: LruCache<Key, Arc<CachedDocument>>,
    bytes: usize,
}

/// One validated document and its validation outcomes.
pub struct CachedDocument {
    checked: CheckedDocument,
    bytes: usize,
    outcomes: Mutex<Vec<(String, ValidationResult)>>,
}

impl CachedDocument {
    /// The checked document (parsed AST and the facts the limits found).
    pub fn checked(&self) -> &CheckedDocument {
        &self.checked
    }

    fn outcome(&self, signature: &str) -> Option<ValidationResult> {
        let outcomes = self.outcomes.lock().ok()?;
        outcomes
            .iter()
            .find(|(seen, _)| seen == signature)
            .map(|(_, result)| *result)
    }

    fn remember(&self, signature: String, result: ValidationResult) {
        if let Ok(mut outcomes) = self.outcomes.lock() {
            if outcomes.iter().any(|(seen, _)| *seen == signature) {
                return;
            }
            if outcomes.len() >= OUTCOMES_PER_DOCUMENT {
                outcomes.remove(0);
            }
            outcomes.push((signature, result));
        }
    }
}

/// How many lookups found their document, how many did not, and the time spent preparing
/// documents (looking up, parsing, walking the limits, validating).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that parsed the document.
    pub misses: u64,
    /// Nanoseconds spent preparing documents, cached or not (synchronous work on one thread).
    pub preparing_nanos: u64,
}

/// What one request carries from admission to validation: its document's key and, on a miss,
/// the checked document to keep once it validates.
pub(crate) struct PendingDocument {
    key: Key,
    signature: String,
    cached: Option<Arc<CachedDocument>>,
    fresh: Mutex<Option<CheckedDocument>>,
}

impl PendingDocument {
    pub(crate) fn hit(key: Key, variables: &Variables, cached: Arc<CachedDocument>) -> Self {
        PendingDocument {
            key,
            signature: signature(variables),
            cached: Some(cached),
            fresh: Mutex::new(None),
        }
    }

    pub(crate) fn miss(key: Key, variables: &Variables, checked: CheckedDocument) -> Self {
        PendingDocument {
            key,
            signature: signature(variables),
            cached: None,
            fresh: Mutex::new(Some(checked)),
        }
    }
}

/// The key of a document: its text and the operation the request selects.
pub(crate) fn key(query: &str, operation_name: Option<&str>) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(operation_name.unwrap_or_default().as_bytes());
    hasher.update([0]);
    hasher.update(query.as_bytes());
    hasher.finalize().into()
}

/// The variable values a complexity function can read, in name order.
fn signature(variables: &Variables) -> String {
    let mut signature = String::new();
    for (name, value) in variables.iter() {
        if matches!(value, Value::Number(_) | Value::Boolean(_) | Value::Null) {
            signature.push_str(name.as_str());
            signature.push('=');
            signature.push_str(&value.to_string());
            signature.push(';');
        }
    }
    signature
}

impl DocumentCache {
    /// A cache keeping documents whose texts add up to at most `budget_bytes` (0 keeps none).
    pub fn new(budget_bytes: usize) -> DocumentCache {
        DocumentCache {
            budget_bytes,
            state: Mutex::new(State {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            preparing_nanos: AtomicU64::new(0),
        }
    }

    /// Adds the time one request spent preparing its document.
    pub(crate) fn spent_preparing(&self, elapsed: std::time::Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.preparing_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The document under `key`, counted as a hit or a miss.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<CachedDocument>> {
        if self.budget_bytes == 0 {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let found = self
            .state
            .lock()
            .ok()
            .and_then(|mut state| state.entries.get(key).cloned());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The hits and misses so far.
    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            preparing_nanos: self.preparing_nanos.load(Ordering::Relaxed),
        }
    }

    fn insert(
        &self,
        key: Key,
        checked: CheckedDocument,
        signature: String,
        result: ValidationResult,
    ) {
        let bytes = checked.text_bytes.saturating_mul(AST_BYTES_PER_TEXT_BYTE);
        if bytes > self.budget_bytes {
            return;
        }
        let entry = Arc::new(CachedDocument {
            checked,
            bytes,
            outcomes: Mutex::new(vec![(signature, result)]),
        });
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if let Some(previous) = state.entries.put(key, entry) {
            state.bytes -= previous.bytes;
        }
        state.bytes += bytes;
        while state.bytes > self.budget_bytes {
            let Some((_, evicted)) = state.entries.pop_lru() else {
                break;
            };
            state.bytes -= evicted.bytes;
        }
    }
}

/// Answers validation from `cache`, or validates (`next`) and fills it (part of
/// [`crate::extension::Gateway`]).
pub(crate) async fn validate_cached(
    cache: &DocumentCache,
    ctx: &ExtensionContext<'_>,
    next: NextValidation<'_>,
) -> Result<ValidationResult, Vec<ServerError>> {
    let Some(pending) = ctx.data_opt::<PendingDocument>() else {
        return next.run(ctx).await;
    };
    let started = std::time::Instant::now();
    if let Some(result) = pending
        .cached
        .as_ref()
        .and_then(|cached| cached.outcome(&pending.signature))
    {
        cache.spent_preparing(started.elapsed());
        return Ok(result);
    }
    // The cost is charged after this returns, so what is timed is validation alone.
    let outcome = next.run(ctx).await;
    cache.spent_preparing(started.elapsed());
    let result = outcome?;
    match &pending.cached {
        Some(cached) => cached.remember(pending.signature.clone(), result),
        None => {
            let fresh = pending.fresh.lock().ok().and_then(|mut slot| slot.take());
            if let Some(checked) = fresh {
                cache.insert(pending.key, checked, pending.signature.clone(), result);
            }
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{check, SchemaLimits};

    fn checked(query: &str) -> CheckedDocument {
        check(query, None, &SchemaLimits::default())
            .expect("within the limits")
            .expect("parses")
    }

    fn outcome(complexity: usize) -> ValidationResult {
        ValidationResult {
            cache_control: Default::default(),
            complexity,
            depth: 1,
        }
    }

    #[test]
    fn the_least_recently_used_documents_leave_first_when_the_budget_is_spent() {
        let first = "{ me { id } }";
        let second = "{ me { ab } }";
        let third = "{ me { cd } }";
        // Room for two of these documents, not three.
        let cache = DocumentCache::new((first.len() + second.len()) * AST_BYTES_PER_TEXT_BYTE + 8);
        for query in [first, second] {
            cache.insert(key(query, None), checked(query), String::new(), outcome(1));
        }
        assert!(
            cache.get(&key(first, None)).is_some(),
            "first is now the most recent"
        );
        cache.insert(key(third, None), checked(third), String::new(), outcome(1));
        assert!(cache.get(&key(first, None)).is_some());
        assert!(
            cache.get(&key(second, None)).is_none(),
            "second was least recent"
        );
        assert!(cache.get(&key(third, None)).is_some());
        let counts = cache.counts();
        assert_eq!((counts.hits, counts.misses), (3, 1));
    }

    #[test]
    fn the_operation_name_is_part_of_the_key() {
        let query = "query A { me { id } } query B { me { email } }";
        assert_ne!(key(query, Some("A")), key(query, Some("B")));
        assert_ne!(key(query, Some("A")), key(query, None));
    }

    #[test]
    fn outcomes_are_kept_per_set_of_page_sizes_and_flags() {
        let query = "query($n: Int, $id: ID) { me { id } }";
        let cache = DocumentCache::new(1 << 20);
        let few = Variables::from_json(serde_json::json!({ "n": 5, "id": "a" }));
        let same_sizes_other_id = Variables::from_json(serde_json::json!({ "n": 5, "id": "b" }));
        let many = Variables::from_json(serde_json::json!({ "n": 100, "id": "a" }));
        assert_eq!(signature(&few), signature(&same_sizes_other_id));
        assert_ne!(signature(&few), signature(&many));
        cache.insert(
            key(query, None),
            checked(query),
            signature(&few),
            outcome(6),
        );
        let entry = cache.get(&key(query, None)).expect("cached");
        assert_eq!(
            entry
                .outcome(&signature(&same_sizes_other_id))
                .map(|r| r.complexity),
            Some(6)
        );
        assert!(
            entry.outcome(&signature(&many)).is_none(),
            "validated again"
        );
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache = DocumentCache::new(0);
        let query = "{ me { id } }";
        cache.insert(key(query, None), checked(query), String::new(), outcome(1));
        assert!(cache.get(&key(query, None)).is_none());
    }
}
