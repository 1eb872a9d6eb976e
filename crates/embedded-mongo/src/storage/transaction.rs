//! Multi-document transactions: snapshot reads, a private working copy, and first-committer-wins
//! commits that re-apply the write set to the latest committed state atomically.

use std::collections::BTreeMap;
use std::sync::Arc;

use bson::Bson;

use crate::error::CommandResult;
use crate::storage::catalog::Op;
use crate::storage::engine::Engine;
use crate::storage::write::{same_version, write_conflict};
use crate::storage::Transaction;

impl Engine {
    /// A transaction reading the current committed state.
    pub fn begin(&self) -> Transaction {
        let base = self.current();
        Transaction {
            working: (*base).clone(),
            base,
            ops: Vec::new(),
            events: Vec::new(),
            touched: BTreeMap::new(),
            locks: self.write_locks.owner(),
        }
    }

    /// A read-only view of the committed state as of cluster time `at`, for snapshot reads
    /// outside transactions; `None` when that version is no longer kept.
    pub fn begin_at(&self, at: bson::Timestamp) -> Option<Transaction> {
        let base = self.catalog_at(at)?;
        Some(Transaction {
            working: (*base).clone(),
            base,
            ops: Vec::new(),
            events: Vec::new(),
            touched: BTreeMap::new(),
            locks: crate::storage::write::HeldLocks::none(),
        })
    }

    /// Commits `txn`: every document it wrote must still be the version its snapshot saw,
    /// then its changes are re-applied to the committed state and published as one journal
    /// entry. Any conflict is a `WriteConflict` and nothing is applied.
    pub fn commit(self: &Arc<Self>, txn: Transaction) -> CommandResult<()> {
        if txn.ops.is_empty() {
            return Ok(());
        }
        let guard = self.lock_writer();
        let current = self.current();
        for ((database, collection, id), version) in &txn.touched {
            let now = current.document_by_id(database, collection, &id.0);
            if !same_version(version, &now) {
                return Err(write_conflict());
            }
        }
        let mut next = (*current).clone();
        let mut applied = Vec::with_capacity(txn.ops.len());
        for op in txn.ops {
            let translated = match op {
                // Someone else created the collection since this transaction began: MongoDB
                // reports that as a write conflict, so the transaction retries and sees it.
                Op::CreateCollection {
                    ref database,
                    ref collection,
                    ..
                } if next.collection(database, collection).is_some() => {
                    return Err(write_conflict())
                }
                Op::Put {
                    database,
                    collection,
                    document,
                    ..
                } => {
                    let id = document.get("_id").cloned().unwrap_or(Bson::Null);
                    let existing = next
                        .collection(&database, &collection)
                        .and_then(|target| target.by_id(&id))
                        .map(|(record, _)| record);
                    let record = match existing {
                        Some(record) => record,
                        None => next.allocate_record(),
                    };
                    Op::Put {
                        database,
                        collection,
                        record,
                        document,
                    }
                }
                Op::Delete {
                    database,
                    collection,
                    id,
                    ..
                } => {
                    let existing = next
                        .collection(&database, &collection)
                        .and_then(|target| target.by_id(&id))
                        .map(|(record, _)| record);
                    match existing {
                        Some(record) => Op::Delete {
                            database,
                            collection,
                            record,
                            id,
                        },
                        None => continue,
                    }
                }
                other => other,
            };
            next.apply(&translated).map_err(|_| write_conflict())?;
            applied.push(translated);
        }
        let ticket = self.publish(next, &applied, txn.events);
        drop(guard);
        self.finish(ticket)
    }
}
