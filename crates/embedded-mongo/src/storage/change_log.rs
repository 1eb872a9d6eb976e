//! The change log behind change streams: a bounded in-memory window of committed change
//! events with global sequence numbers, the cluster clock, and update descriptions computed
//! by diffing a document before and after an update.

use std::collections::VecDeque;
use std::sync::Arc;

use bson::{Bson, Document};

use crate::compare::bson_equal;
use crate::error::{codes, CommandError, CommandResult};
use crate::storage::{ChangeEvent, ChangeOperation};

/// How many events the log retains in memory.
pub(crate) const RETAINED_EVENTS: usize = 100_000;

/// An event whose sequence and times are assigned when its write commits.
#[derive(Debug, Clone)]
pub(crate) struct PendingEvent {
    pub operation: ChangeOperation,
    pub database: String,
    pub collection: String,
    pub document_key: Option<Document>,
    pub full_document: Option<Arc<Document>>,
    pub update_description: Option<Document>,
    /// `operationDescription` of a DDL event (`{to: {db, coll}}` for `rename`, the index specs
    /// for `createIndexes`/`dropIndexes`, ...).
    pub description: Option<Document>,
    /// The document before an update, replacement or delete, kept only when the collection
    /// has `changeStreamPreAndPostImages` enabled.
    pub before_change: Option<Arc<Document>>,
    /// Whether the collection kept pre- and post-images when the event happened.
    pub images: bool,
}

/// Hands out strictly increasing cluster times: `(unix seconds, increment)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClusterClock {
    pub last: bson::Timestamp,
}

impl ClusterClock {
    /// The next cluster time, after every one handed out before (even if the wall clock
    /// went backwards).
    pub fn tick(&mut self) -> bson::Timestamp {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        self.last = if now > self.last.time {
            bson::Timestamp {
                time: now,
                increment: 1,
            }
        } else if self.last.increment == u32::MAX {
            bson::Timestamp {
                time: self.last.time + 1,
                increment: 1,
            }
        } else {
            bson::Timestamp {
                time: self.last.time,
                increment: self.last.increment + 1,
            }
        };
        self.last
    }
}

/// The retained window of change events.
#[derive(Debug)]
pub(crate) struct ChangeLog {
    events: VecDeque<ChangeEvent>,
    /// The last sequence number handed out.
    pub last_sequence: u64,
    /// Events with a sequence at or below this are no longer retained.
    forgotten_through: u64,
    capacity: usize,
}

impl ChangeLog {
    /// A log continuing after `last_sequence` (persisted across restarts); earlier events
    /// are not available.
    pub fn new(last_sequence: u64) -> ChangeLog {
        ChangeLog {
            events: VecDeque::new(),
            last_sequence,
            forgotten_through: last_sequence,
            capacity: RETAINED_EVENTS,
        }
    }

    /// Assigns the next sequence number and appends the event.
    pub fn push(&mut self, pending: PendingEvent, cluster_time: bson::Timestamp) {
        self.last_sequence += 1;
        self.events.push_back(ChangeEvent {
            sequence: self.last_sequence,
            cluster_time,
            wall_time: bson::DateTime::now(),
            operation: pending.operation,
            database: pending.database,
            collection: pending.collection,
            document_key: pending.document_key,
            full_document: pending.full_document,
            update_description: pending.update_description,
            description: pending.description,
            before_change: pending.before_change,
            images: pending.images,
        });
        while self.events.len() > self.capacity {
            if let Some(dropped) = self.events.pop_front() {
                self.forgotten_through = dropped.sequence;
            }
        }
    }

    /// Events after `after`, at most `max`; code 286 when some were already forgotten.
    pub fn since(&self, after: Option<u64>, max: usize) -> CommandResult<Vec<ChangeEvent>> {
        let start = match after {
            None => 0,
            Some(after) if after < self.forgotten_through => {
                // Labelled as mongod does, so drivers stop resuming instead of looping.
                return Err(CommandError::new(
                    codes::CHANGE_STREAM_HISTORY_LOST,
                    "Resume of change stream was not possible, as the resume point may no longer be in the oplog.",
                )
                .with_label("NonResumableChangeStreamError"));
            }
            Some(after) => after,
        };
        let first = self.events.partition_point(|event| event.sequence <= start);
        Ok(self.events.iter().skip(first).take(max).cloned().collect())
    }
}

/// `{updatedFields, removedFields, truncatedArrays}` between two versions of a document, with
/// dotted paths for changes inside embedded documents.
pub(crate) fn update_description(before: &Document, after: &Document) -> Document {
    let mut updated = Document::new();
    let mut removed = Vec::new();
    diff_documents("", before, after, &mut updated, &mut removed);
    bson::doc! {
        "updatedFields": updated,
        "removedFields": removed,
        "truncatedArrays": [],
    }
}

fn diff_documents(
    prefix: &str,
    before: &Document,
    after: &Document,
    updated: &mut Document,
    removed: &mut Vec<Bson>,
) {
    for (key, new_value) in after {
        let path = format!("{prefix}{key}");
        match before.get(key) {
            Some(Bson::Document(old)) => {
                if let Bson::Document(new) = new_value {
                    diff_documents(&format!("{path}."), old, new, updated, removed);
                } else {
                    updated.insert(path, new_value.clone());
                }
            }
            Some(old) if identical(old, new_value) => {}
            _ => {
                updated.insert(path, new_value.clone());
            }
        }
    }
    for key in before.keys() {
        if !after.contains_key(key) {
            removed.push(Bson::String(format!("{prefix}{key}")));
        }
    }
}

/// Equal values of the same BSON type (an Int32 replaced by a Double is a change).
fn identical(a: &Bson, b: &Bson) -> bool {
    a.element_type() == b.element_type() && bson_equal(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn event(collection: &str) -> PendingEvent {
        PendingEvent {
            operation: ChangeOperation::Insert,
            database: "db".into(),
            collection: collection.into(),
            document_key: None,
            full_document: None,
            update_description: None,
            description: None,
            before_change: None,
            images: false,
        }
    }

    #[test]
    fn cluster_times_strictly_increase() {
        let mut clock = ClusterClock {
            last: bson::Timestamp {
                time: u32::MAX - 1,
                increment: 5,
            },
        };
        let first = clock.tick();
        let second = clock.tick();
        assert_eq!(first.increment, 6);
        assert_eq!(second.increment, 7);
    }

    #[test]
    fn events_after_a_sequence_are_returned_in_order() {
        let mut log = ChangeLog::new(10);
        for name in ["a", "b", "c"] {
            log.push(
                event(name),
                bson::Timestamp {
                    time: 1,
                    increment: 1,
                },
            );
        }
        let events = log.since(Some(11), 10).unwrap();
        assert_eq!(
            events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            vec![12, 13]
        );
        assert_eq!(log.since(None, 1).unwrap()[0].collection, "a");
        assert_eq!(log.since(Some(3), 10).unwrap_err().code, 286);
    }

    #[test]
    fn forgotten_history_is_reported_as_lost() {
        let mut log = ChangeLog::new(0);
        log.capacity = 2;
        for name in ["a", "b", "c"] {
            log.push(
                event(name),
                bson::Timestamp {
                    time: 1,
                    increment: 1,
                },
            );
        }
        let lost = log.since(Some(0), 10).unwrap_err();
        assert_eq!(lost.code, 286);
        assert_eq!(
            lost.labels,
            vec!["NonResumableChangeStreamError".to_string()]
        );
        assert_eq!(log.since(Some(1), 10).unwrap().len(), 2);
    }

    #[test]
    fn update_descriptions_use_dotted_paths() {
        let before = doc! {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}, "gone": true};
        let after = doc! {"_id": 1, "a": 2, "b": {"c": 1, "d": 3}, "new": "x"};
        assert_eq!(
            update_description(&before, &after),
            doc! {
                "updatedFields": {"a": 2, "b.d": 3, "new": "x"},
                "removedFields": ["gone"],
                "truncatedArrays": [],
            }
        );
    }
}
