//! The storage engine: databases, collections, indexes, validators, durability (journal and
//! snapshots), multi-document transactions and the change-event log behind change streams.
//!
//! Every method is synchronous and returns only after its writes are durable (journal flushed)
//! when the store has a data directory. Callers on an async runtime use `spawn_blocking`.

use std::path::PathBuf;
use std::sync::Arc;

use bson::{Bson, Document};

use crate::error::{CommandError, CommandResult};

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Where the journal and snapshots live; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
}

/// A handle to the store; cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Store {
    _private: Arc<()>,
}

/// One database in `listDatabases`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseInfo {
    pub name: String,
    pub size_on_disk: i64,
    pub empty: bool,
}

/// One collection in `listCollections`.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    pub name: String,
    /// The options it was created with (`validator`, `validationLevel`, `validationAction`).
    pub options: Document,
    pub uuid: bson::Uuid,
}

/// What `find` asks for. Projection is applied by the store.
#[derive(Debug, Clone, Default)]
pub struct FindRequest {
    pub filter: Document,
    pub sort: Option<Document>,
    pub projection: Option<Document>,
    pub skip: u64,
    /// 0 means no limit.
    pub limit: u64,
}

/// One statement of an `update` command.
#[derive(Debug, Clone)]
pub struct UpdateStatement {
    pub filter: Document,
    /// A document (operators or replacement) or an array (pipeline).
    pub update: Bson,
    pub multi: bool,
    pub upsert: bool,
    pub array_filters: Vec<Document>,
}

/// One statement of a `delete` command.
#[derive(Debug, Clone)]
pub struct DeleteStatement {
    pub filter: Document,
    /// 0 deletes every match, 1 deletes at most one.
    pub limit: u32,
}

/// The result of a batch write; statement errors are reported per statement index.
#[derive(Debug, Clone, Default)]
pub struct WriteOutcome {
    /// Documents inserted, matched (update) or deleted.
    pub n: u64,
    /// Documents actually changed (update only).
    pub n_modified: u64,
    /// `(statement index, _id)` for each upsert that inserted.
    pub upserted: Vec<(usize, Bson)>,
    /// `(statement index, error)`; an ordered batch stops at the first.
    pub errors: Vec<(usize, CommandError)>,
}

/// What `findAndModify` asks for.
#[derive(Debug, Clone, Default)]
pub struct FindAndModifyRequest {
    pub filter: Document,
    pub sort: Option<Document>,
    /// `fields`: projection of the returned document.
    pub fields: Option<Document>,
    pub remove: bool,
    /// The update (document or pipeline); `None` only with `remove`.
    pub update: Option<Bson>,
    /// Return the document after the change instead of before.
    pub return_new: bool,
    pub upsert: bool,
    pub array_filters: Vec<Document>,
}

/// What `findAndModify` did.
#[derive(Debug, Clone, Default)]
pub struct FindAndModifyOutcome {
    /// The returned document (`value`), before or after per `return_new`.
    pub value: Option<Document>,
    /// `lastErrorObject.n`.
    pub n: u64,
    /// `lastErrorObject.updatedExisting`.
    pub updated_existing: bool,
    /// `lastErrorObject.upserted`.
    pub upserted: Option<Bson>,
}

/// What `createIndexes` did.
#[derive(Debug, Clone, Default)]
pub struct CreateIndexesOutcome {
    pub num_indexes_before: i32,
    pub num_indexes_after: i32,
    pub created_collection_automatically: bool,
    /// "all indexes already exist" when nothing was created.
    pub note: Option<String>,
}

/// An operation recorded in the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOperation {
    Insert,
    Update,
    Replace,
    Delete,
    Drop,
    DropDatabase,
}

/// One entry of the change log, the source of `$changeStream`.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    /// Strictly increasing across the whole deployment; resume tokens encode it.
    pub sequence: u64,
    pub cluster_time: bson::Timestamp,
    pub wall_time: bson::DateTime,
    pub operation: ChangeOperation,
    pub database: String,
    /// Empty for `DropDatabase`.
    pub collection: String,
    /// `{_id: ...}` for document events.
    pub document_key: Option<Document>,
    /// The document after the change (insert, replace, update).
    pub full_document: Option<Document>,
    /// `{updatedFields, removedFields, truncatedArrays}` for updates.
    pub update_description: Option<Document>,
}

/// An open multi-document transaction: reads see its snapshot plus its own writes; its writes
/// become visible atomically at commit. Dropping it aborts.
pub struct Transaction {
    _private: (),
}

impl Store {
    /// Opens (or creates) a store; with a data directory, recovers from the snapshot and journal.
    pub fn open(options: StoreOptions) -> CommandResult<Store> {
        let _ = options;
        todo!("issue #2: storage")
    }

    /// Flushes and stops background work (TTL expiry, compaction). Idempotent.
    pub fn shutdown(&self) {
        todo!("issue #2: storage")
    }

    /// The cluster time of the latest write (for `operationTime`/`$clusterTime`).
    pub fn cluster_time(&self) -> bson::Timestamp {
        todo!("issue #2: storage")
    }

    pub fn list_databases(&self) -> Vec<DatabaseInfo> {
        todo!("issue #2: storage")
    }

    pub fn list_collections(&self, database: &str) -> Vec<CollectionInfo> {
        let _ = database;
        todo!("issue #2: storage")
    }

    /// `create`; an existing collection is code 48 (NamespaceExists).
    pub fn create_collection(
        &self,
        database: &str,
        collection: &str,
        options: &Document,
    ) -> CommandResult<()> {
        let _ = (database, collection, options);
        todo!("issue #2: storage")
    }

    /// `collMod` (validator, validationLevel, validationAction, index TTL changes).
    pub fn coll_mod(
        &self,
        database: &str,
        collection: &str,
        changes: &Document,
    ) -> CommandResult<Document> {
        let _ = (database, collection, changes);
        todo!("issue #2: storage")
    }

    /// `drop`; returns false when the collection did not exist.
    pub fn drop_collection(&self, database: &str, collection: &str) -> CommandResult<bool> {
        let _ = (database, collection);
        todo!("issue #2: storage")
    }

    pub fn drop_database(&self, database: &str) -> CommandResult<()> {
        let _ = database;
        todo!("issue #2: storage")
    }

    pub fn create_indexes(
        &self,
        database: &str,
        collection: &str,
        specs: &[Document],
    ) -> CommandResult<CreateIndexesOutcome> {
        let _ = (database, collection, specs);
        todo!("issue #2: storage")
    }

    /// `listIndexes`; a missing collection is code 26 (NamespaceNotFound).
    pub fn list_indexes(&self, database: &str, collection: &str) -> CommandResult<Vec<Document>> {
        let _ = (database, collection);
        todo!("issue #2: storage")
    }

    /// `dropIndexes` with `index` as "*", a name, a key pattern or an array of names; returns
    /// `nIndexesWas`.
    pub fn drop_indexes(
        &self,
        database: &str,
        collection: &str,
        index: &Bson,
    ) -> CommandResult<i32> {
        let _ = (database, collection, index);
        todo!("issue #2: storage")
    }

    /// `find`: filter, sort, skip, limit and projection, using an index where one applies.
    pub fn find(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        request: &FindRequest,
    ) -> CommandResult<Vec<Document>> {
        let _ = (txn, database, collection, request);
        todo!("issue #2: storage")
    }

    pub fn count(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        filter: &Document,
        skip: u64,
        limit: u64,
    ) -> CommandResult<u64> {
        let _ = (txn, database, collection, filter, skip, limit);
        todo!("issue #2: storage")
    }

    pub fn distinct(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        key: &str,
        filter: &Document,
    ) -> CommandResult<Vec<Bson>> {
        let _ = (txn, database, collection, key, filter);
        todo!("issue #2: storage")
    }

    /// Runs a pipeline (without `$changeStream`, which the command layer serves) over a collection.
    pub fn aggregate(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        pipeline: &[Bson],
    ) -> CommandResult<Vec<Document>> {
        let _ = (txn, database, collection, pipeline);
        todo!("issue #2: storage")
    }

    pub fn insert(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        documents: Vec<Document>,
        ordered: bool,
    ) -> WriteOutcome {
        let _ = (txn, database, collection, documents, ordered);
        todo!("issue #2: storage")
    }

    pub fn update(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        statements: &[UpdateStatement],
        ordered: bool,
    ) -> WriteOutcome {
        let _ = (txn, database, collection, statements, ordered);
        todo!("issue #2: storage")
    }

    pub fn delete(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        statements: &[DeleteStatement],
        ordered: bool,
    ) -> WriteOutcome {
        let _ = (txn, database, collection, statements, ordered);
        todo!("issue #2: storage")
    }

    pub fn find_and_modify(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        request: &FindAndModifyRequest,
    ) -> CommandResult<FindAndModifyOutcome> {
        let _ = (txn, database, collection, request);
        todo!("issue #2: storage")
    }

    /// Starts a transaction on a snapshot of the current state.
    pub fn begin_transaction(&self) -> Transaction {
        todo!("issue #2: storage")
    }

    /// Commits atomically; a conflicting concurrent write is code 112 (WriteConflict) with the
    /// `TransientTransactionError` label and nothing is applied.
    pub fn commit_transaction(&self, txn: Transaction) -> CommandResult<()> {
        let _ = txn;
        todo!("issue #2: storage")
    }

    /// Change events with `sequence > after` (all retained ones when `after` is `None`), at most
    /// `max`. An `after` older than the retained history is code 286 (ChangeStreamHistoryLost).
    pub fn change_events_since(
        &self,
        after: Option<u64>,
        max: usize,
    ) -> CommandResult<Vec<ChangeEvent>> {
        let _ = (after, max);
        todo!("issue #2: storage")
    }

    /// The sequence of the newest change event (0 when none).
    pub fn latest_change_sequence(&self) -> u64 {
        todo!("issue #2: storage")
    }

    /// Notified after every committed write, so change-stream cursors can wake up.
    pub fn change_notifier(&self) -> Arc<tokio::sync::Notify> {
        todo!("issue #2: storage")
    }
}
