//! The engine behind a [`Store`](super::Store): the published catalog snapshot, the writer
//! lock that serialises commits, the journal, the change log and the cluster clock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};

use crate::error::CommandResult;
use crate::storage::catalog::{Catalog, Op};
use crate::storage::change_log::{ChangeLog, ClusterClock, PendingEvent};
use crate::storage::journal::{encode_entry, zero_timestamp, Counters, Journal};
use crate::storage::write::{ConflictCheck, WriteLocks, WriteScope};
use crate::storage::{StoreOptions, StoreTuning, Transaction};

/// Signals the TTL monitor to stop.
#[derive(Default)]
pub(crate) struct StopSignal {
    pub stopped: Mutex<bool>,
    pub wake: Condvar,
}

impl StopSignal {
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

/// How many committed versions snapshot reads (`readConcern: {level: "snapshot",
/// atClusterTime}`) can go back to. Versions share their unchanged documents, so a version costs
/// only what its write replaced.
pub(crate) const SNAPSHOT_HISTORY_VERSIONS: usize = 1024;

pub(crate) struct Engine {
    committed: RwLock<Arc<Catalog>>,
    /// Recent committed versions, oldest first, each with the cluster time it became current.
    history: Mutex<std::collections::VecDeque<(bson::Timestamp, Arc<Catalog>)>>,
    /// Serialises writers: each derives the next catalog from the current one and publishes.
    writer: Mutex<()>,
    clock: Mutex<ClusterClock>,
    pub changes: Mutex<ChangeLog>,
    pub notify: Arc<tokio::sync::Notify>,
    journal: Option<Journal>,
    compacting: AtomicBool,
    /// The running background compaction, joined at shutdown.
    compaction: Mutex<Option<std::thread::JoinHandle<()>>>,
    compaction_threshold: u64,
    /// Documents tested against a filter (the `totalDocsExamined` of explain).
    pub examined: AtomicU64,
    pub stop: Arc<StopSignal>,
    /// Documents held by open transactions (write conflicts at write time).
    pub write_locks: Arc<WriteLocks>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

impl Engine {
    /// Opens the engine, recovering from the data directory when there is one.
    pub fn open(options: &StoreOptions, tuning: &StoreTuning) -> CommandResult<Engine> {
        let (journal, catalog, counters) = match &options.data_dir {
            Some(dir) => {
                let (journal, recovered) = Journal::open(dir)?;
                (Some(journal), recovered.catalog, recovered.counters)
            }
            None => (
                None,
                Catalog::default(),
                Counters {
                    sequence: 0,
                    cluster_time: zero_timestamp(),
                },
            ),
        };
        let catalog = Arc::new(catalog);
        Ok(Engine {
            history: Mutex::new(std::collections::VecDeque::from([(
                counters.cluster_time,
                catalog.clone(),
            )])),
            committed: RwLock::new(catalog),
            writer: Mutex::new(()),
            clock: Mutex::new(ClusterClock {
                last: counters.cluster_time,
            }),
            changes: Mutex::new(ChangeLog::new(counters.sequence)),
            notify: Arc::new(tokio::sync::Notify::new()),
            journal,
            compacting: AtomicBool::new(false),
            compaction: Mutex::new(None),
            compaction_threshold: tuning.compaction_threshold,
            examined: AtomicU64::new(0),
            stop: Arc::new(StopSignal::default()),
            write_locks: Arc::new(WriteLocks::default()),
        })
    }

    /// The latest committed state.
    pub fn current(&self) -> Arc<Catalog> {
        self.committed.read().clone()
    }

    /// The committed state as of cluster time `at`: the latest version published at or before
    /// it. `None` when `at` is older than the history kept.
    pub fn catalog_at(&self, at: bson::Timestamp) -> Option<Arc<Catalog>> {
        let history = self.history.lock();
        let position =
            history.partition_point(|(time, _)| timestamp_key(*time) <= timestamp_key(at));
        position
            .checked_sub(1)
            .map(|index| history[index].1.clone())
    }

    /// The cluster time of the latest write.
    pub fn cluster_time(&self) -> bson::Timestamp {
        self.clock.lock().last
    }

    /// Runs `work` against a working copy: the transaction's, or the committed state's under
    /// the writer lock. On `Err` nothing is kept; on `Ok` the changes are published (or kept
    /// in the transaction) and, outside a transaction, durable before this returns.
    pub fn write<R>(
        self: &Arc<Self>,
        txn: Option<&mut Transaction>,
        work: impl FnOnce(&mut WriteScope<'_>) -> CommandResult<R>,
    ) -> CommandResult<R> {
        let now = bson::DateTime::now();
        if let Some(txn) = txn {
            let Transaction {
                base,
                working,
                ops,
                events,
                touched,
                locks,
            } = txn;
            let mut scope = WriteScope {
                catalog: working.clone(),
                ops: Vec::new(),
                events: Vec::new(),
                conflicts: Some(ConflictCheck {
                    base: base.as_ref(),
                    committed: self.current(),
                    touched,
                    locks,
                }),
                examined: &self.examined,
                now,
                bypass_validation: false,
            };
            let result = work(&mut scope)?;
            let WriteScope {
                catalog,
                ops: new_ops,
                events: new_events,
                ..
            } = scope;
            *working = catalog;
            ops.extend(new_ops);
            events.extend(new_events);
            return Ok(result);
        }
        let guard = self.writer.lock();
        let mut scope = WriteScope {
            catalog: (*self.current()).clone(),
            ops: Vec::new(),
            events: Vec::new(),
            conflicts: None,
            examined: &self.examined,
            now,
            bypass_validation: false,
        };
        let result = work(&mut scope)?;
        let WriteScope {
            catalog,
            ops,
            events,
            ..
        } = scope;
        let ticket = self.publish(catalog, &ops, events);
        drop(guard);
        self.finish(ticket)?;
        Ok(result)
    }

    /// Publishes a new committed state: assigns cluster times and sequences to the events,
    /// queues the journal entry and swaps the catalog. Callers hold the writer lock.
    pub fn publish(&self, catalog: Catalog, ops: &[Op], events: Vec<PendingEvent>) -> Option<u64> {
        if ops.is_empty() {
            return None;
        }
        let counters = {
            let mut clock = self.clock.lock();
            let mut changes = self.changes.lock();
            if events.is_empty() {
                clock.tick();
            }
            for event in events {
                let time = clock.tick();
                changes.push(event, time);
            }
            Counters {
                sequence: changes.last_sequence,
                cluster_time: clock.last,
            }
        };
        let ticket = self
            .journal
            .as_ref()
            .map(|journal| journal.append(&encode_entry(ops, counters)));
        let catalog = Arc::new(catalog);
        {
            let mut history = self.history.lock();
            history.push_back((counters.cluster_time, catalog.clone()));
            while history.len() > SNAPSHOT_HISTORY_VERSIONS {
                history.pop_front();
            }
        }
        *self.committed.write() = catalog;
        ticket.or(Some(0))
    }

    /// Waits for durability, wakes change-stream waiters and compacts when the journal grew
    /// past the threshold.
    pub fn finish(self: &Arc<Self>, ticket: Option<u64>) -> CommandResult<()> {
        let Some(ticket) = ticket else {
            return Ok(());
        };
        if let Some(journal) = &self.journal {
            journal.wait_durable(ticket)?;
            if journal.size() > self.compaction_threshold
                && !self.compacting.swap(true, Ordering::AcqRel)
            {
                let engine = Arc::clone(self);
                let handle = std::thread::spawn(move || {
                    if let Err(error) = engine.compact() {
                        tracing::error!(%error, "journal compaction failed");
                    }
                    engine.compacting.store(false, Ordering::Release);
                });
                if let Some(previous) = self.compaction.lock().replace(handle) {
                    let _ = previous.join();
                }
            }
        }
        self.notify.notify_waiters();
        Ok(())
    }

    /// Holds the writer lock for a commit that builds its own catalog (transactions).
    pub fn lock_writer(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.writer.lock()
    }

    /// Writes a snapshot of the current state and starts a fresh journal.
    pub fn compact(&self) -> CommandResult<()> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let (catalog, counters, covered) = {
            let _guard = self.writer.lock();
            let covered = journal.rotate()?;
            let counters = Counters {
                sequence: self.changes.lock().last_sequence,
                cluster_time: self.clock.lock().last,
            };
            (self.current(), counters, covered)
        };
        journal.write_snapshot(&catalog, counters, covered)
    }

    /// Makes everything queued durable and waits for a running compaction.
    pub fn flush(&self) -> CommandResult<()> {
        let running = self.compaction.lock().take();
        if let Some(handle) = running {
            let _ = handle.join();
        }
        if let Some(journal) = &self.journal {
            let _guard = self.writer.lock();
            journal.flush()?;
        }
        Ok(())
    }
}

/// A timestamp as one ordered number (seconds, then increment).
fn timestamp_key(time: bson::Timestamp) -> u64 {
    (u64::from(time.time) << 32) | u64::from(time.increment)
}
