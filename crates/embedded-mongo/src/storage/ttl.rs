//! TTL expiry: the background monitor and the pass that deletes documents whose indexed date
//! (the earliest, for arrays of dates) is older than the index's `expireAfterSeconds`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, DateTime};

use crate::compare::OrderedBson;
use crate::error::CommandResult;
use crate::storage::engine::Engine;

/// Starts the monitor thread; it stops when the engine is dropped or shut down.
pub(crate) fn spawn_monitor(engine: &Arc<Engine>, interval: Duration) {
    let weak = Arc::downgrade(engine);
    let stop = Arc::clone(&engine.stop);
    let spawned = std::thread::Builder::new()
        .name("ttl-monitor".to_string())
        .spawn(move || loop {
            {
                let mut stopped = stop.stopped.lock();
                if *stopped {
                    break;
                }
                stop.wake.wait_for(&mut stopped, interval);
                if *stopped {
                    break;
                }
            }
            let Some(engine) = weak.upgrade() else {
                break;
            };
            match expire(&engine) {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "TTL monitor removed expired documents"),
                Err(error) => tracing::warn!(%error, "TTL monitor pass failed"),
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the TTL monitor");
    }
}

/// Deletes every expired document now; returns how many.
pub(crate) fn expire(engine: &Arc<Engine>) -> CommandResult<u64> {
    let now = DateTime::now().timestamp_millis();
    engine.write(None, |scope| {
        let mut victims = Vec::new();
        for (database, db) in scope.catalog.databases.iter() {
            for (name, collection) in db.collections.iter() {
                let mut records = BTreeSet::new();
                for index in &collection.indexes {
                    let Some(seconds) = index.spec.expire_after_seconds else {
                        continue;
                    };
                    let cutoff = now.saturating_sub(seconds.saturating_mul(1000));
                    let start = vec![OrderedBson(Bson::DateTime(DateTime::MIN))];
                    for (key, record) in index.entries.range((start, 0_u64)..) {
                        match key.first() {
                            Some(OrderedBson(Bson::DateTime(date)))
                                if date.timestamp_millis() < cutoff =>
                            {
                                records.insert(*record);
                            }
                            _ => break,
                        }
                    }
                }
                for record in records {
                    if let Some(stored) = collection.records.get(&record) {
                        victims.push((
                            database.clone(),
                            name.clone(),
                            record,
                            stored.document.clone(),
                        ));
                    }
                }
            }
        }
        for (database, collection, record, document) in &victims {
            scope.delete_one(database, collection, *record, document)?;
        }
        Ok(victims.len() as u64)
    })
}
