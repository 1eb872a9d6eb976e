//! Query planning and execution over one collection: pick an index from the matcher's
//! bounds (`_id`, then unique, then equality, then ranges), scan only its entries, and apply
//! the full filter to the candidates.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bson::{Bson, Document};

use crate::compare::{compare_bson, OrderedBson};
use crate::error::CommandResult;
use crate::expression::Variables;
use crate::query::{FieldBound, MatchDetails, Matcher, ParseOptions};
use crate::storage::catalog::Collection;
use crate::storage::index::{Index, IndexKey};

/// A parsed filter; the empty filter skips the matcher entirely.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    All,
    Matching(Box<Matcher>),
}

impl Filter {
    /// Parses `filter`, making the collection's text index available to `$text` and
    /// `variables` (a command's `let`) to `$expr`.
    pub fn parse(
        filter: &Document,
        collection: Option<&Collection>,
        variables: Option<&Variables>,
    ) -> CommandResult<Filter> {
        if filter.is_empty() {
            return Ok(Filter::All);
        }
        let options = ParseOptions {
            text_fields: collection.and_then(Collection::text_fields),
            variables: variables.cloned(),
        };
        Ok(Filter::Matching(Box::new(Matcher::parse_with(
            filter, &options,
        )?)))
    }

    /// Match details when `document` matches; an error an `$expr` raised fails the command.
    pub fn match_details(&self, document: &Document) -> CommandResult<Option<MatchDetails>> {
        match self {
            Filter::All => Ok(Some(MatchDetails::default())),
            Filter::Matching(matcher) => matcher.try_match_details(document),
        }
    }

    /// The `$text` relevance score of a document, when the filter has `$text`.
    pub fn text_score(&self, document: &Document) -> Option<f64> {
        match self {
            Filter::All => None,
            Filter::Matching(matcher) => matcher.text_score(document),
        }
    }

    fn bounds(&self) -> Vec<(String, FieldBound)> {
        match self {
            Filter::All => Vec::new(),
            Filter::Matching(matcher) => matcher.index_bounds(),
        }
    }
}

/// One matching document with its record id and match details.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub record: u64,
    pub document: Arc<Document>,
    pub details: MatchDetails,
}

/// Values an index lookup can answer exactly; null, arrays and regexes have array/missing
/// semantics the index does not capture, so they fall back to a scan.
fn indexable(value: &Bson) -> bool {
    !matches!(
        value,
        Bson::Null | Bson::Undefined | Bson::Array(_) | Bson::RegularExpression(_)
    )
}

fn bound_is_usable(bound: &FieldBound) -> bool {
    match bound {
        FieldBound::Equal(value) => indexable(value),
        FieldBound::In(values) => !values.is_empty() && values.iter().all(indexable),
        FieldBound::Range { lower, upper } => {
            lower.as_ref().is_none_or(|(value, _)| indexable(value))
                && upper.as_ref().is_none_or(|(value, _)| indexable(value))
                && (lower.is_some() || upper.is_some())
        }
    }
}

/// Candidate record ids, or `None` for a full scan.
fn candidates(collection: &Collection, filter: &Filter) -> Option<BTreeSet<u64>> {
    let mut best: Option<(u8, BTreeSet<u64>)> = None;
    for (path, bound) in filter.bounds() {
        if !bound_is_usable(&bound) {
            continue;
        }
        let equality = !matches!(bound, FieldBound::Range { .. });
        let planned = if path == "_id" {
            Some((if equality { 0 } else { 3 }, id_lookup(collection, &bound)))
        } else {
            collection
                .indexes
                .iter()
                .filter(|index| {
                    !index.is_text()
                        && !index.spec.sparse
                        && index.partial.is_none()
                        && index.spec.fields.first() == Some(&path)
                })
                .min_by_key(|index| !index.spec.unique)
                .map(|index| {
                    let score = match (equality, index.spec.unique) {
                        (true, true) => 1,
                        (true, false) => 2,
                        (false, _) => 4,
                    };
                    (score, index_lookup(index, &bound))
                })
        };
        if let Some((score, records)) = planned {
            if best
                .as_ref()
                .is_none_or(|(best_score, _)| score < *best_score)
            {
                best = Some((score, records));
            }
        }
    }
    best.map(|(_, records)| records)
}

fn id_lookup(collection: &Collection, bound: &FieldBound) -> BTreeSet<u64> {
    match bound {
        FieldBound::Equal(value) => collection
            .ids
            .get(&OrderedBson(value.clone()))
            .copied()
            .into_iter()
            .collect(),
        FieldBound::In(values) => values
            .iter()
            .filter_map(|value| collection.ids.get(&OrderedBson(value.clone())).copied())
            .collect(),
        FieldBound::Range { lower, upper } => {
            let to_bound = |side: &Option<(Bson, bool)>| match side {
                None => Bound::Unbounded,
                Some((value, true)) => Bound::Included(OrderedBson(value.clone())),
                Some((value, false)) => Bound::Excluded(OrderedBson(value.clone())),
            };
            let (low, high) = (to_bound(lower), to_bound(upper));
            if let (Some((l, l_inclusive)), Some((u, u_inclusive))) = (lower, upper) {
                let order = compare_bson(l, u);
                if order.is_gt() || (order.is_eq() && !(*l_inclusive && *u_inclusive)) {
                    return BTreeSet::new();
                }
            }
            collection
                .ids
                .range((low, high))
                .map(|(_, record)| *record)
                .collect()
        }
    }
}

/// Records whose leading key component equals `value`.
fn prefix_lookup(index: &Index, value: &Bson, out: &mut BTreeSet<u64>) {
    let start: IndexKey = vec![OrderedBson(value.clone())];
    let wanted = OrderedBson(value.clone());
    for (key, record) in index.entries.range((start, 0_u64)..) {
        if key.first() != Some(&wanted) {
            break;
        }
        out.insert(*record);
    }
}

fn index_lookup(index: &Index, bound: &FieldBound) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    match bound {
        FieldBound::Equal(value) => prefix_lookup(index, value, &mut out),
        FieldBound::In(values) => {
            for value in values {
                prefix_lookup(index, value, &mut out);
            }
        }
        FieldBound::Range { lower, upper } => {
            // On a multikey index different elements may satisfy each side of the range, so
            // only one side can narrow the scan.
            let upper = if index.multikey && lower.is_some() {
                None
            } else {
                upper.clone()
            };
            let entries: Box<dyn Iterator<Item = &(IndexKey, u64)>> = match lower {
                Some((value, _)) => Box::new(
                    index
                        .entries
                        .range((vec![OrderedBson(value.clone())], 0_u64)..),
                ),
                None => Box::new(index.entries.iter()),
            };
            for (key, record) in entries {
                let Some(first) = key.first() else { continue };
                if let Some((value, inclusive)) = lower {
                    if !*inclusive && compare_bson(&first.0, value).is_eq() {
                        continue;
                    }
                }
                if let Some((value, inclusive)) = &upper {
                    let order = compare_bson(&first.0, value);
                    if order.is_gt() || (order.is_eq() && !*inclusive) {
                        break;
                    }
                }
                out.insert(*record);
            }
        }
    }
    out
}

/// The documents of `collection` matching `filter`, in natural order, stopping after
/// `stop_after` matches. Every document tested is counted in `examined`.
pub(crate) fn matching(
    collection: &Collection,
    filter: &Filter,
    examined: &AtomicU64,
    stop_after: Option<usize>,
) -> CommandResult<Vec<Found>> {
    let mut found = Vec::new();
    let limit = stop_after.unwrap_or(usize::MAX);
    if limit == 0 {
        return Ok(found);
    }
    let mut consider = |record: u64, document: &Arc<Document>| -> CommandResult<bool> {
        examined.fetch_add(1, Ordering::Relaxed);
        if let Some(details) = filter.match_details(document)? {
            found.push(Found {
                record,
                document: document.clone(),
                details,
            });
        }
        Ok(found.len() < limit)
    };
    match candidates(collection, filter) {
        Some(records) => {
            for record in records {
                if let Some(stored) = collection.records.get(&record) {
                    if !consider(record, &stored.document)? {
                        break;
                    }
                }
            }
        }
        None => {
            for (record, stored) in collection.records.iter() {
                if !consider(*record, &stored.document)? {
                    break;
                }
            }
        }
    }
    Ok(found)
}
