//! The storage engine: databases, collections, indexes, validators, durability (journal and
//! snapshots), multi-document transactions and the change-event log behind change streams.
//!
//! Every method is synchronous and returns only after its writes are durable (journal flushed)
//! when the store has a data directory. Callers on an async runtime use `spawn_blocking`.

mod catalog;
mod change_log;
mod engine;
mod index;
mod journal;
pub mod output;
mod plan;
mod transaction;
mod ttl;
pub(crate) mod write;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document};

use crate::aggregate;
use crate::error::{CommandError, CommandResult};
use crate::expression::Variables;
use catalog::{Catalog, Op};
use change_log::PendingEvent;
use engine::Engine;

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Where the journal and snapshots live; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
}

/// Background-work settings, separate from [`StoreOptions`] so existing struct literals of
/// the latter keep compiling; [`Store::open`] uses the defaults.
#[derive(Debug, Clone)]
pub struct StoreTuning {
    /// How often the TTL monitor removes expired documents (MongoDB: every 60 seconds).
    pub ttl_interval: Duration,
    /// Journal size that triggers compaction into a snapshot (default 64 MiB).
    pub compaction_threshold: u64,
}

impl Default for StoreTuning {
    fn default() -> Self {
        StoreTuning {
            ttl_interval: Duration::from_secs(60),
            compaction_threshold: 64 * 1024 * 1024,
        }
    }
}

/// A handle to the store; cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Store {
    engine: Arc<Engine>,
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
    /// The command's `let`, seen by `$expr`.
    pub variables: Option<Variables>,
    /// A non-simple collation: strings are compared by it (filter and sort).
    pub collation: Option<crate::collation::Collation>,
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
    /// The command's `let`, seen by `$expr` in `q` and by a pipeline `u`.
    pub variables: Option<Variables>,
    /// A non-simple collation for `q`.
    pub collation: Option<crate::collation::Collation>,
}

/// One statement of a `delete` command.
#[derive(Debug, Clone)]
pub struct DeleteStatement {
    pub filter: Document,
    /// 0 deletes every match, 1 deletes at most one.
    pub limit: u32,
    /// The command's `let`, seen by `$expr`.
    pub variables: Option<Variables>,
    /// A non-simple collation for `q`.
    pub collation: Option<crate::collation::Collation>,
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

/// Per-command write settings beyond the statements themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Stop at the first failing statement (MongoDB's default is `true`).
    pub ordered: bool,
    /// `bypassDocumentValidation`: skip the collection's validator.
    pub bypass_document_validation: bool,
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
    /// The command's `let`, seen by `$expr` in `query` and by a pipeline `update`.
    pub variables: Option<Variables>,
    /// A non-simple collation for `query` and `sort`.
    pub collation: Option<crate::collation::Collation>,
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
    Rename,
    /// The expanded events (`showExpandedEvents: true`).
    Create,
    CreateIndexes,
    DropIndexes,
    Modify,
}

impl ChangeOperation {
    /// Whether only streams with `showExpandedEvents: true` see it.
    pub fn is_expanded(self) -> bool {
        matches!(
            self,
            ChangeOperation::Create
                | ChangeOperation::CreateIndexes
                | ChangeOperation::DropIndexes
                | ChangeOperation::Modify
        )
    }
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
    /// The document after the change (insert, replace, update), shared with the stored
    /// record so the retained history does not hold a second copy of every document.
    pub full_document: Option<Arc<Document>>,
    /// `{updatedFields, removedFields, truncatedArrays}` for updates.
    pub update_description: Option<Document>,
    /// `operationDescription` of a DDL event (`{to: {db, coll}}` for `rename`).
    pub description: Option<Document>,
    /// The pre-image (update, replace, delete) when the collection keeps images.
    pub before_change: Option<Arc<Document>>,
    /// Whether the collection kept pre- and post-images when the event happened.
    pub images: bool,
}

/// An open multi-document transaction: reads see its snapshot plus its own writes; its writes
/// become visible atomically at commit. Dropping it aborts.
pub struct Transaction {
    /// The committed state the transaction started from.
    base: Arc<Catalog>,
    /// The snapshot plus the transaction's own writes; its reads see this.
    working: Catalog,
    /// Physical changes in order, re-applied to the committed state at commit.
    ops: Vec<Op>,
    events: Vec<PendingEvent>,
    /// Every document written, with the version the snapshot had (for conflict checks).
    touched: BTreeMap<write::DocumentKey, Option<Arc<Document>>>,
    /// The documents this transaction holds against other transactions' writes.
    locks: write::HeldLocks,
}

/// One database of a catalog snapshot, as `$lookup` sees it.
struct DatabaseView<'a> {
    catalog: &'a Catalog,
    database: &'a str,
    /// The engine's count of documents examined (`documents_examined`).
    examined: &'a std::sync::atomic::AtomicU64,
}

/// Most views stacked on views, as in mongod.
const MAX_VIEW_DEPTH: usize = 20;

/// When `collection` is a view (views on views followed): the collection it reads and the
/// whole pipeline, innermost view first.
fn resolve_view(
    catalog: &Catalog,
    database: &str,
    collection: &str,
) -> CommandResult<Option<(String, Vec<Bson>)>> {
    let mut name = collection.to_string();
    let mut stages: Vec<Bson> = Vec::new();
    let mut depth = 0;
    while let Some((source, pipeline)) = catalog
        .collection(database, &name)
        .and_then(catalog::Collection::view)
    {
        depth += 1;
        if depth > MAX_VIEW_DEPTH {
            return Err(CommandError::new(
                crate::error::codes::VIEW_DEPTH_LIMIT_EXCEEDED,
                format!(
                    "View depth too deep or view cycle detected. Maximum depth is {MAX_VIEW_DEPTH}"
                ),
            ));
        }
        let mut combined = pipeline.to_vec();
        combined.append(&mut stages);
        stages = combined;
        name = source.to_string();
    }
    Ok((depth > 0).then_some((name, stages)))
}

/// The stages a `find`, `count` or `distinct` on a view adds after the view's pipeline.
fn query_stages(
    filter: &Document,
    sort: Option<&Document>,
    skip: u64,
    limit: u64,
    projection: Option<&Document>,
) -> Vec<Bson> {
    let mut stages = Vec::new();
    if !filter.is_empty() {
        stages.push(Bson::Document(bson::doc! {"$match": filter.clone()}));
    }
    if let Some(sort) = sort.filter(|sort| !sort.is_empty()) {
        stages.push(Bson::Document(bson::doc! {"$sort": sort.clone()}));
    }
    if skip > 0 {
        stages.push(Bson::Document(
            bson::doc! {"$skip": i64::try_from(skip).unwrap_or(i64::MAX)},
        ));
    }
    if limit > 0 {
        stages.push(Bson::Document(
            bson::doc! {"$limit": i64::try_from(limit).unwrap_or(i64::MAX)},
        ));
    }
    if let Some(projection) = projection.filter(|projection| !projection.is_empty()) {
        stages.push(Bson::Document(bson::doc! {"$project": projection.clone()}));
    }
    stages
}

impl aggregate::PipelineContext for DatabaseView<'_> {
    fn collection_documents(&self, collection: &str) -> CommandResult<Vec<Document>> {
        if let Some((source, stages)) = resolve_view(self.catalog, self.database, collection)? {
            let pipeline = aggregate::Pipeline::parse(&stages)?;
            let input = self.collection_documents(&source)?;
            return pipeline.run(input, self, &Variables::new());
        }
        Ok(self
            .catalog
            .collection(self.database, collection)
            .map(|target| {
                target
                    .records
                    .values()
                    .map(|record| (*record.document).clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn documents_holding(
        &self,
        collection: &str,
        path: &str,
        values: &[Bson],
    ) -> CommandResult<Option<Vec<Document>>> {
        if resolve_view(self.catalog, self.database, collection)?.is_some() {
            return Ok(None);
        }
        let Some(target) = self.catalog.collection(self.database, collection) else {
            return Ok(Some(Vec::new()));
        };
        let filter = bson::doc! { path: { "$in": values.to_vec() } };
        let filter = plan::Filter::parse(&filter, Some(target), None)?;
        Ok(Some(
            plan::matching(target, &filter, self.examined, None)?
                .into_iter()
                .map(|hit| (*hit.document).clone())
                .collect(),
        ))
    }
}

/// One part of a `find` sort: ordinary fields, or `{$meta: "textScore"}` (highest first).
enum SortPart {
    Fields(aggregate::SortSpec),
    TextScore,
}

fn is_text_score_meta(value: &Bson) -> bool {
    matches!(value, Bson::Document(meta) if meta.get_str("$meta") == Ok("textScore"))
}

/// Splits a sort document into runs of ordinary fields and text-score keys.
fn parse_sort(sort: &Option<Document>) -> CommandResult<Option<Vec<SortPart>>> {
    let Some(sort) = sort.as_ref().filter(|sort| !sort.is_empty()) else {
        return Ok(None);
    };
    let mut parts = Vec::new();
    let mut fields = Document::new();
    for (key, value) in sort {
        if is_text_score_meta(value) {
            if !fields.is_empty() {
                parts.push(SortPart::Fields(aggregate::SortSpec::parse(&fields)?));
                fields = Document::new();
            }
            parts.push(SortPart::TextScore);
        } else {
            fields.insert(key.clone(), value.clone());
        }
    }
    if !fields.is_empty() {
        parts.push(SortPart::Fields(aggregate::SortSpec::parse(&fields)?));
    }
    Ok(Some(parts))
}

fn compare_sorted(
    parts: &[SortPart],
    left: &(plan::Found, Option<f64>),
    right: &(plan::Found, Option<f64>),
) -> std::cmp::Ordering {
    for part in parts {
        let order = match part {
            SortPart::Fields(spec) => spec.compare(&left.0.document, &right.0.document),
            SortPart::TextScore => right
                .1
                .unwrap_or(0.0)
                .partial_cmp(&left.1.unwrap_or(0.0))
                .unwrap_or(std::cmp::Ordering::Equal),
        };
        if order.is_ne() {
            return order;
        }
    }
    std::cmp::Ordering::Equal
}

fn parse_projection(
    projection: &Option<Document>,
) -> CommandResult<Option<crate::projection::Projection>> {
    match projection {
        Some(projection) if !projection.is_empty() => {
            Ok(Some(crate::projection::Projection::parse(projection)?))
        }
        _ => Ok(None),
    }
}

fn check_collection_options(options: &Document) -> CommandResult<()> {
    if let Some(validator) = options.get("validator") {
        if !matches!(validator, Bson::Document(_)) {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'validator' is the wrong type '{}', expected type 'object'",
                type_name(validator)
            )));
        }
    }
    if let Some(images) = options.get("changeStreamPreAndPostImages") {
        let Bson::Document(images) = images else {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'changeStreamPreAndPostImages' is the wrong type '{}', expected type 'object'",
                type_name(images)
            )));
        };
        for (key, value) in images {
            match (key.as_str(), value) {
                ("enabled", Bson::Boolean(_)) => {}
                ("enabled", other) => {
                    return Err(CommandError::type_mismatch(format!(
                        "BSON field 'changeStreamPreAndPostImages.enabled' is the wrong type '{}', expected type 'bool'",
                        type_name(other)
                    )))
                }
                (other, _) => {
                    return Err(CommandError::new(
                        crate::error::codes::UNKNOWN_FIELD,
                        format!("BSON field 'changeStreamPreAndPostImages.{other}' is an unknown field."),
                    ))
                }
            }
        }
        if !images.contains_key("enabled") {
            return Err(CommandError::new(
                crate::error::codes::NO_SUCH_KEY,
                "BSON field 'changeStreamPreAndPostImages.enabled' is missing but a required field",
            ));
        }
    }
    check_enumeration(options, "validationLevel", &["off", "strict", "moderate"])?;
    check_enumeration(options, "validationAction", &["error", "warn"])?;
    Ok(())
}

fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Boolean(_) => "bool",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Null => "null",
        _ => "unknown",
    }
}

fn check_enumeration(options: &Document, field: &str, allowed: &[&str]) -> CommandResult<()> {
    match options.get(field) {
        None => Ok(()),
        Some(Bson::String(value)) if allowed.contains(&value.as_str()) => Ok(()),
        Some(Bson::String(value)) => Err(CommandError::bad_value(format!(
            "Enumeration value '{value}' for field '{field}' is not a valid value."
        ))),
        Some(other) => Err(CommandError::type_mismatch(format!(
            "BSON field '{field}' is the wrong type '{}', expected type 'string'",
            type_name(other)
        ))),
    }
}

fn namespace_not_found(database: &str, collection: &str) -> CommandError {
    CommandError::new(
        crate::error::codes::NAMESPACE_NOT_FOUND,
        format!("ns does not exist: {database}.{collection}"),
    )
}

/// Arguments every command may carry, which `collMod` ignores.
const GENERIC_ARGUMENTS: &[&str] = &[
    "collMod",
    "lsid",
    "txnNumber",
    "writeConcern",
    "comment",
    "maxTimeMS",
    "readConcern",
    "apiVersion",
    "apiStrict",
    "apiDeprecationErrors",
];

impl Store {
    /// Opens (or creates) a store; with a data directory, recovers from the snapshot and journal.
    /// A data directory another open store holds is refused (code 98, DBPathInUse).
    pub fn open(options: StoreOptions) -> CommandResult<Store> {
        Self::open_tuned(options, StoreTuning::default())
    }

    /// [`Store::open`] with explicit TTL-monitor and compaction settings.
    pub fn open_tuned(options: StoreOptions, tuning: StoreTuning) -> CommandResult<Store> {
        let engine = Arc::new(Engine::open(&options, &tuning)?);
        ttl::spawn_monitor(&engine, tuning.ttl_interval.max(Duration::from_millis(10)));
        Ok(Store { engine })
    }

    /// Flushes and stops background work (TTL expiry, compaction). Idempotent.
    pub fn shutdown(&self) {
        self.engine.stop.stop();
        if let Err(error) = self.engine.flush() {
            tracing::error!(%error, "flushing the journal at shutdown failed");
        }
    }

    /// The cluster time of the latest write (for `operationTime`/`$clusterTime`).
    pub fn cluster_time(&self) -> bson::Timestamp {
        self.engine.cluster_time()
    }

    /// Removes every document a TTL index says has expired, now; returns how many. The
    /// background monitor runs the same pass every `StoreOptions::ttl_interval`.
    pub fn expire_ttl_documents_now(&self) -> u64 {
        match ttl::expire(&self.engine) {
            Ok(removed) => removed,
            Err(error) => {
                tracing::warn!(%error, "TTL pass failed");
                0
            }
        }
    }

    /// How many documents queries have tested against a filter since the store opened
    /// (explain's `totalDocsExamined`, summed); shows whether a query used an index.
    pub fn documents_examined(&self) -> u64 {
        self.engine
            .examined
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes a snapshot and starts a fresh journal (also done automatically when the
    /// journal outgrows `StoreOptions::compaction_threshold`).
    pub fn compact(&self) -> CommandResult<()> {
        self.engine.compact()
    }

    fn read<R>(
        &self,
        txn: Option<&mut Transaction>,
        work: impl FnOnce(&Catalog) -> CommandResult<R>,
    ) -> CommandResult<R> {
        match txn {
            Some(txn) => work(&txn.working),
            None => work(&self.engine.current()),
        }
    }

    pub fn list_databases(&self) -> Vec<DatabaseInfo> {
        let catalog = self.engine.current();
        catalog
            .databases
            .iter()
            .map(|(name, database)| {
                let size: u64 = database
                    .collections
                    .values()
                    .map(|collection| collection.data_size)
                    .sum();
                DatabaseInfo {
                    name: name.clone(),
                    size_on_disk: size as i64,
                    empty: size == 0,
                }
            })
            .collect()
    }

    /// Whether `database.collection` is a view.
    pub fn is_view(&self, database: &str, collection: &str) -> bool {
        self.engine
            .current()
            .collection(database, collection)
            .is_some_and(|target| target.view().is_some())
    }

    pub fn list_collections(&self, database: &str) -> Vec<CollectionInfo> {
        let catalog = self.engine.current();
        catalog
            .databases
            .get(database)
            .map(|db| {
                db.collections
                    .iter()
                    .map(|(name, collection)| CollectionInfo {
                        name: name.clone(),
                        options: collection.options.clone(),
                        uuid: collection.uuid,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `create`; an existing collection is code 48 (NamespaceExists). Inside a transaction the
    /// collection exists only for the transaction until it commits, and an abort removes it.
    pub fn create_collection(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        options: &Document,
    ) -> CommandResult<()> {
        write::check_namespace(database, collection)?;
        check_collection_options(options)?;
        self.engine.write(txn, |scope| {
            scope.apply_ddl(Op::CreateCollection {
                database: database.to_string(),
                collection: collection.to_string(),
                uuid: bson::Uuid::new(),
                options: options.clone(),
            })
        })
    }

    /// `collMod` (validator, validationLevel, validationAction, index TTL changes).
    pub fn coll_mod(
        &self,
        database: &str,
        collection: &str,
        changes: &Document,
    ) -> CommandResult<Document> {
        check_collection_options(changes)?;
        self.engine.write(None, |scope| {
            let target = scope
                .catalog
                .collection(database, collection)
                .ok_or_else(|| namespace_not_found(database, collection))?;
            let mut options = target.options.clone();
            let mut options_changed = false;
            let mut reply = Document::new();
            let mut index_change = None;
            for (key, value) in changes {
                match key.as_str() {
                    "validator"
                    | "validationLevel"
                    | "validationAction"
                    | "changeStreamPreAndPostImages" => {
                        options.insert(key.clone(), value.clone());
                        options_changed = true;
                    }
                    "index" => {
                        let Bson::Document(change) = value else {
                            return Err(CommandError::type_mismatch(
                                "BSON field 'index' is the wrong type, expected type 'object'",
                            ));
                        };
                        let index = target
                            .indexes
                            .iter()
                            .find(
                                |index| match (change.get("name"), change.get("keyPattern")) {
                                    (Some(Bson::String(name)), _) => index.spec.name == *name,
                                    (_, Some(Bson::Document(pattern))) => {
                                        crate::compare::bson_equal(
                                            &Bson::Document(index.spec.key.clone()),
                                            &Bson::Document(pattern.clone()),
                                        )
                                    }
                                    _ => false,
                                },
                            )
                            .ok_or_else(|| {
                                CommandError::new(
                                    crate::error::codes::INDEX_NOT_FOUND,
                                    format!(
                                        "cannot find index {} for ns {database}.{collection}",
                                        index::render_document(change)
                                    ),
                                )
                            })?;
                        if let Some(seconds) = change.get("expireAfterSeconds") {
                            let seconds = match seconds {
                                Bson::Int32(v) => i64::from(*v),
                                Bson::Int64(v) => *v,
                                Bson::Double(v) => *v as i64,
                                _ => {
                                    return Err(CommandError::type_mismatch(
                                        "expireAfterSeconds must be a number",
                                    ))
                                }
                            };
                            let Some(old) = index.spec.expire_after_seconds else {
                                return Err(CommandError::new(
                                    crate::error::codes::INVALID_OPTIONS,
                                    "no expireAfterSeconds field to update",
                                ));
                            };
                            reply.insert("expireAfterSeconds_old", old);
                            reply.insert("expireAfterSeconds_new", seconds);
                            index_change = Some((index.spec.name.clone(), seconds));
                        }
                    }
                    other if other.starts_with('$') || GENERIC_ARGUMENTS.contains(&other) => {}
                    other => {
                        return Err(CommandError::new(
                            40415,
                            format!("BSON field 'collMod.{other}' is an unknown field."),
                        ))
                    }
                }
            }
            if options_changed {
                scope.apply_ddl(Op::SetOptions {
                    database: database.to_string(),
                    collection: collection.to_string(),
                    options,
                })?;
            }
            if let Some((name, seconds)) = index_change {
                scope.apply_ddl(Op::SetIndexExpiry {
                    database: database.to_string(),
                    collection: collection.to_string(),
                    name,
                    seconds,
                })?;
            }
            Ok(reply)
        })
    }

    /// `drop`; returns false when the collection did not exist.
    pub fn drop_collection(&self, database: &str, collection: &str) -> CommandResult<bool> {
        self.engine.write(None, |scope| {
            if scope.catalog.collection(database, collection).is_none() {
                return Ok(false);
            }
            scope.apply_ddl(Op::DropCollection {
                database: database.to_string(),
                collection: collection.to_string(),
            })?;
            scope.push_event(PendingEvent {
                operation: ChangeOperation::Drop,
                database: database.to_string(),
                collection: collection.to_string(),
                document_key: None,
                full_document: None,
                update_description: None,
                description: None,
                before_change: None,
                images: false,
            });
            Ok(true)
        })
    }

    /// `renameCollection`: moves `database.collection` to `to_database.to_collection` with its
    /// documents and indexes in one atomic step. A watcher of the source sees `rename` (and is
    /// invalidated); with `drop_target`, a watcher of an existing target sees `drop` first.
    pub fn rename_collection(
        &self,
        (database, collection): (&str, &str),
        (to_database, to_collection): (&str, &str),
        drop_target: bool,
    ) -> CommandResult<()> {
        write::check_namespace(database, collection)?;
        write::check_namespace(to_database, to_collection)?;
        if to_collection.starts_with("system.") {
            return Err(CommandError::new(
                crate::error::codes::ILLEGAL_OPERATION,
                format!("Cannot rename to a system collection: {to_database}.{to_collection}"),
            ));
        }
        if (database, collection) == (to_database, to_collection) {
            return Err(CommandError::new(
                crate::error::codes::ILLEGAL_OPERATION,
                "Can't rename a collection to itself",
            ));
        }
        self.engine.write(None, |scope| {
            let target_existed = scope
                .catalog
                .collection(to_database, to_collection)
                .is_some();
            scope.apply_ddl(Op::RenameCollection {
                database: database.to_string(),
                collection: collection.to_string(),
                to_database: to_database.to_string(),
                to_collection: to_collection.to_string(),
                drop_target,
            })?;
            if target_existed {
                scope.push_event(PendingEvent {
                    operation: ChangeOperation::Drop,
                    database: to_database.to_string(),
                    collection: to_collection.to_string(),
                    document_key: None,
                    full_document: None,
                    update_description: None,
                    description: None,
                    before_change: None,
                    images: false,
                });
            }
            scope.push_event(PendingEvent {
                operation: ChangeOperation::Rename,
                database: database.to_string(),
                collection: collection.to_string(),
                document_key: None,
                full_document: None,
                update_description: None,
                description: Some(bson::doc! {"to": {"db": to_database, "coll": to_collection}}),
                before_change: None,
                images: false,
            });
            Ok(())
        })
    }

    pub fn drop_database(&self, database: &str) -> CommandResult<()> {
        self.engine.write(None, |scope| {
            let Some(db) = scope.catalog.databases.get(database) else {
                return Ok(());
            };
            let names: Vec<String> = db.collections.keys().cloned().collect();
            scope.apply_ddl(Op::DropDatabase {
                database: database.to_string(),
            })?;
            for name in names {
                scope.push_event(PendingEvent {
                    operation: ChangeOperation::Drop,
                    database: database.to_string(),
                    collection: name,
                    document_key: None,
                    full_document: None,
                    update_description: None,
                    description: None,
                    before_change: None,
                    images: false,
                });
            }
            scope.push_event(PendingEvent {
                operation: ChangeOperation::DropDatabase,
                database: database.to_string(),
                collection: String::new(),
                document_key: None,
                full_document: None,
                update_description: None,
                description: None,
                before_change: None,
                images: false,
            });
            Ok(())
        })
    }

    /// `createIndexes`. Inside a transaction, as in MongoDB, only on a collection the
    /// transaction itself creates (code 263 otherwise); the indexes appear at commit.
    pub fn create_indexes(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        specs: &[Document],
    ) -> CommandResult<CreateIndexesOutcome> {
        use crate::error::codes::{INDEX_KEY_SPECS_CONFLICT, INDEX_OPTIONS_CONFLICT};
        let parsed: Vec<index::IndexSpec> = specs
            .iter()
            .map(index::IndexSpec::parse)
            .collect::<CommandResult<_>>()?;
        if let Some(txn) = &txn {
            if txn.base.collection(database, collection).is_some() {
                return Err(CommandError::new(
                    crate::error::codes::OPERATION_NOT_SUPPORTED_IN_TRANSACTION,
                    format!(
                        "Cannot create new indexes on existing collection {database}.{collection} in a multi-document transaction."
                    ),
                ));
            }
        }
        self.engine.write(txn, |scope| {
            let created = scope.ensure_collection(database, collection)?;
            let before = scope
                .catalog
                .collection(database, collection)
                .map(|target| target.indexes.len() as i32 + 1)
                .unwrap_or(1);
            for spec in parsed {
                let target = scope
                    .catalog
                    .collection(database, collection)
                    .ok_or_else(|| namespace_not_found(database, collection))?;
                let id_spec = index::IndexSpec::id_index();
                let existing: Vec<index::IndexSpec> = std::iter::once(id_spec)
                    .chain(target.indexes.iter().map(|index| (*index.spec).clone()))
                    .collect();
                if spec.is_id_pattern() && spec.name != "_id_" && spec.same_options(&index::IndexSpec::id_index()) {
                    return Err(CommandError::new(
                        INDEX_OPTIONS_CONFLICT,
                        "Index already exists with a different name: _id_",
                    ));
                }
                if let Some(same_name) = existing.iter().find(|e| e.name == spec.name) {
                    if !same_name.same_key(&spec) {
                        return Err(CommandError::new(
                            INDEX_KEY_SPECS_CONFLICT,
                            format!(
                                "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: {}, existing index: {}",
                                index::render_document(&spec.to_document()),
                                index::render_document(&same_name.to_document())
                            ),
                        ));
                    }
                    if same_name.name == "_id_" || same_name.same_options(&spec) {
                        continue;
                    }
                    return Err(CommandError::new(
                        INDEX_OPTIONS_CONFLICT,
                        format!(
                            "An equivalent index already exists with the same name but different options. Requested index: {}, existing index: {}",
                            index::render_document(&spec.to_document()),
                            index::render_document(&same_name.to_document())
                        ),
                    ));
                }
                if let Some(same_key) = existing.iter().find(|e| e.same_key(&spec)) {
                    return Err(CommandError::new(
                        INDEX_OPTIONS_CONFLICT,
                        format!("Index already exists with a different name: {}", same_key.name),
                    ));
                }
                if spec.text_fields.is_some() {
                    if let Some(text) = existing.iter().find(|e| e.text_fields.is_some()) {
                        return Err(CommandError::new(
                            INDEX_OPTIONS_CONFLICT,
                            format!(
                                "An equivalent index already exists with a different name and options. Requested index: {}, existing index: {}",
                                index::render_document(&spec.to_document()),
                                index::render_document(&text.to_document())
                            ),
                        ));
                    }
                }
                scope.apply_ddl(Op::CreateIndex {
                    database: database.to_string(),
                    collection: collection.to_string(),
                    spec: spec.to_document(),
                })?;
            }
            let after = scope
                .catalog
                .collection(database, collection)
                .map(|target| target.indexes.len() as i32 + 1)
                .unwrap_or(1);
            Ok(CreateIndexesOutcome {
                num_indexes_before: before,
                num_indexes_after: after,
                created_collection_automatically: created,
                note: (before == after).then(|| "all indexes already exist".to_string()),
            })
        })
    }

    /// `listIndexes`; a missing collection is code 26 (NamespaceNotFound).
    pub fn list_indexes(&self, database: &str, collection: &str) -> CommandResult<Vec<Document>> {
        let catalog = self.engine.current();
        match catalog.collection(database, collection) {
            Some(target) if target.view().is_some() => {
                Err(catalog::not_on_view(database, collection))
            }
            Some(target) => Ok(target.index_documents()),
            None => Err(namespace_not_found(database, collection)),
        }
    }

    /// `dropIndexes` with `index` as "*", a name, a key pattern or an array of names; returns
    /// `nIndexesWas`.
    pub fn drop_indexes(
        &self,
        database: &str,
        collection: &str,
        index: &Bson,
    ) -> CommandResult<i32> {
        use crate::error::codes::{INDEX_NOT_FOUND, INVALID_OPTIONS};
        self.engine.write(None, |scope| {
            let target = scope
                .catalog
                .collection(database, collection)
                .ok_or_else(|| {
                    CommandError::new(
                        crate::error::codes::NAMESPACE_NOT_FOUND,
                        format!("ns not found {database}.{collection}"),
                    )
                })?;
            if target.view().is_some() {
                return Err(catalog::not_on_view(database, collection));
            }
            let was = target.indexes.len() as i32 + 1;
            let cannot_drop_id = || CommandError::new(INVALID_OPTIONS, "cannot drop _id index");
            let by_name = |name: &str| -> CommandResult<String> {
                if name == "_id_" {
                    return Err(cannot_drop_id());
                }
                target
                    .indexes
                    .iter()
                    .find(|index| index.spec.name == name)
                    .map(|index| index.spec.name.clone())
                    .ok_or_else(|| {
                        CommandError::new(
                            INDEX_NOT_FOUND,
                            format!("index not found with name [{name}]"),
                        )
                    })
            };
            let names: Vec<String> = match index {
                Bson::String(star) if star == "*" => target
                    .indexes
                    .iter()
                    .map(|index| index.spec.name.clone())
                    .collect(),
                Bson::String(name) => vec![by_name(name)?],
                Bson::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Bson::String(name) => by_name(name),
                        _ => Err(CommandError::type_mismatch(
                            "dropIndexes: the index names must be strings",
                        )),
                    })
                    .collect::<CommandResult<_>>()?,
                Bson::Document(pattern) => {
                    let wanted = Bson::Document(pattern.clone());
                    if crate::compare::bson_equal(&wanted, &Bson::Document(bson::doc! {"_id": 1})) {
                        return Err(cannot_drop_id());
                    }
                    let found = target.indexes.iter().find(|index| {
                        crate::compare::bson_equal(&Bson::Document(index.spec.key.clone()), &wanted)
                            || crate::compare::bson_equal(
                                &Bson::Document(index.spec.listed_key()),
                                &wanted,
                            )
                    });
                    match found {
                        Some(index) => vec![index.spec.name.clone()],
                        None => {
                            return Err(CommandError::new(
                                INDEX_NOT_FOUND,
                                format!(
                                    "can't find index with key: {}",
                                    index::render_document(pattern)
                                ),
                            ))
                        }
                    }
                }
                _ => {
                    return Err(CommandError::type_mismatch(
                        "dropIndexes: 'index' must be a string, an object or an array of strings",
                    ))
                }
            };
            for name in names {
                scope.apply_ddl(Op::DropIndex {
                    database: database.to_string(),
                    collection: collection.to_string(),
                    name,
                })?;
            }
            Ok(was)
        })
    }

    /// `find`: filter, sort, skip, limit and projection, using an index where one applies.
    pub fn find(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        request: &FindRequest,
    ) -> CommandResult<Vec<Document>> {
        self.read(txn, |catalog| {
            if resolve_view(catalog, database, collection)?.is_some() {
                if request.collation.is_some() {
                    return Err(CommandError::new(
                        crate::error::codes::NOT_IMPLEMENTED,
                        "collation on a view is not implemented",
                    ));
                }
                let stages = query_stages(
                    &request.filter,
                    request.sort.as_ref(),
                    request.skip,
                    request.limit,
                    request.projection.as_ref(),
                );
                let variables = request.variables.clone().unwrap_or_default();
                return self.run_pipeline(catalog, database, collection, &stages, &variables);
            }
            let target = catalog.collection(database, collection);
            if let Some(collation) = &request.collation {
                return self.find_collated(target, request, collation);
            }
            let filter = plan::Filter::parse(&request.filter, target, request.variables.as_ref())?;
            let sort = parse_sort(&request.sort)?;
            let projection = parse_projection(&request.projection)?;
            let Some(target) = target else {
                return Ok(Vec::new());
            };
            let skip = usize::try_from(request.skip).unwrap_or(usize::MAX);
            let limit = match request.limit {
                0 => usize::MAX,
                limit => usize::try_from(limit).unwrap_or(usize::MAX),
            };
            let stop_after = if sort.is_none() && limit != usize::MAX {
                Some(skip.saturating_add(limit))
            } else {
                None
            };
            let wants_score = projection
                .as_ref()
                .is_some_and(|projection| projection.needs_text_score())
                || sort.as_ref().is_some_and(|parts| {
                    parts.iter().any(|part| matches!(part, SortPart::TextScore))
                });
            let mut found: Vec<(plan::Found, Option<f64>)> =
                plan::matching(target, &filter, &self.engine.examined, stop_after)?
                    .into_iter()
                    .map(|hit| {
                        let score = if wants_score {
                            filter.text_score(&hit.document)
                        } else {
                            None
                        };
                        (hit, score)
                    })
                    .collect();
            if let Some(parts) = &sort {
                found.sort_by(|a, b| compare_sorted(parts, a, b));
            }
            found
                .into_iter()
                .skip(skip)
                .take(limit)
                .map(|(hit, score)| match &projection {
                    Some(projection) => projection.apply_with_text_score(
                        &hit.document,
                        hit.details.array_position,
                        score,
                    ),
                    None => Ok((*hit.document).clone()),
                })
                .collect()
        })
    }

    /// `find` under a collation: every document is compared through its collation-keyed copy
    /// (filter and sort), so no index answers it (indexes hold binary keys); the originals are
    /// returned.
    fn find_collated(
        &self,
        target: Option<&catalog::Collection>,
        request: &FindRequest,
        collation: &crate::collation::Collation,
    ) -> CommandResult<Vec<Document>> {
        let keyed_filter = collation.keyed_filter(&request.filter)?;
        let filter = plan::Filter::parse(&keyed_filter, target, request.variables.as_ref())?;
        let sort = parse_sort(&request.sort)?;
        if sort
            .as_ref()
            .is_some_and(|parts| parts.iter().any(|part| matches!(part, SortPart::TextScore)))
        {
            return Err(CommandError::new(
                crate::error::codes::NOT_IMPLEMENTED,
                "a textScore sort with a collation is not implemented",
            ));
        }
        let projection = parse_projection(&request.projection)?;
        let Some(target) = target else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for (_, stored) in target.records.iter() {
            self.engine
                .examined
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let keyed = collation.keyed_document(&stored.document);
            if let Some(details) = filter.match_details(&keyed)? {
                found.push((stored.document.clone(), keyed, details));
            }
        }
        if let Some(parts) = &sort {
            found.sort_by(|left, right| {
                for part in parts {
                    if let SortPart::Fields(spec) = part {
                        let order = spec.compare(&left.1, &right.1);
                        if order.is_ne() {
                            return order;
                        }
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        let skip = usize::try_from(request.skip).unwrap_or(usize::MAX);
        let limit = match request.limit {
            0 => usize::MAX,
            limit => usize::try_from(limit).unwrap_or(usize::MAX),
        };
        found
            .into_iter()
            .skip(skip)
            .take(limit)
            .map(|(document, _, details)| match &projection {
                Some(projection) => {
                    projection.apply_with_text_score(&document, details.array_position, None)
                }
                None => Ok((*document).clone()),
            })
            .collect()
    }

    /// `count`: how many documents match `request.filter` (compared by `request.collation` when
    /// given), after `request.skip`, at most `request.limit` (0: no limit). Sort and projection
    /// are not used.
    pub fn count(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        request: &FindRequest,
    ) -> CommandResult<u64> {
        if request.collation.is_some() {
            return self
                .find(txn, database, collection, request)
                .map(|found| found.len() as u64);
        }
        let (filter, skip, limit) = (&request.filter, request.skip, request.limit);
        self.read(txn, |catalog| {
            if resolve_view(catalog, database, collection)?.is_some() {
                let stages = query_stages(filter, None, skip, limit, None);
                let counted =
                    self.run_pipeline(catalog, database, collection, &stages, &Variables::new())?;
                return Ok(counted.len() as u64);
            }
            let target = catalog.collection(database, collection);
            let filter = plan::Filter::parse(filter, target, None)?;
            let Some(target) = target else {
                return Ok(0);
            };
            if matches!(filter, plan::Filter::All) {
                let total = target.records.len() as u64;
                let after_skip = total.saturating_sub(skip);
                return Ok(if limit == 0 {
                    after_skip
                } else {
                    after_skip.min(limit)
                });
            }
            let stop_after = (limit > 0)
                .then(|| usize::try_from(skip.saturating_add(limit)).unwrap_or(usize::MAX));
            let matched =
                plan::matching(target, &filter, &self.engine.examined, stop_after)?.len() as u64;
            let after_skip = matched.saturating_sub(skip);
            Ok(if limit == 0 {
                after_skip
            } else {
                after_skip.min(limit)
            })
        })
    }

    /// `distinct`: the different values of `key` among the documents matching `filter`. With a
    /// collation, values its comparison finds equal are one value (the first met, in stored
    /// order) and the filter compares by it.
    pub fn distinct(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        key: &str,
        filter: &Document,
        collation: Option<&crate::collation::Collation>,
    ) -> CommandResult<Vec<Bson>> {
        if let Some(collation) = collation {
            let request = FindRequest {
                filter: filter.clone(),
                collation: Some(*collation),
                ..FindRequest::default()
            };
            let found = self.find(txn, database, collection, &request)?;
            let mut values = std::collections::BTreeMap::new();
            for document in &found {
                for value in index::path_values(document, key) {
                    values
                        .entry(crate::compare::OrderedBson(collation.keyed_value(&value)))
                        .or_insert(value);
                }
            }
            return Ok(values.into_values().collect());
        }
        self.read(txn, |catalog| {
            if resolve_view(catalog, database, collection)?.is_some() {
                let stages = query_stages(filter, None, 0, 0, None);
                let shown =
                    self.run_pipeline(catalog, database, collection, &stages, &Variables::new())?;
                let mut values = std::collections::BTreeSet::new();
                for document in &shown {
                    for value in index::path_values(document, key) {
                        values.insert(crate::compare::OrderedBson(value));
                    }
                }
                return Ok(values.into_iter().map(|value| value.0).collect());
            }
            let target = catalog.collection(database, collection);
            let filter = plan::Filter::parse(filter, target, None)?;
            let Some(target) = target else {
                return Ok(Vec::new());
            };
            let mut values = std::collections::BTreeSet::new();
            for hit in plan::matching(target, &filter, &self.engine.examined, None)? {
                for value in index::path_values(&hit.document, key) {
                    values.insert(crate::compare::OrderedBson(value));
                }
            }
            Ok(values.into_iter().map(|value| value.0).collect())
        })
    }

    /// Runs a pipeline over documents the command supplied (a database-level aggregate that
    /// starts with `$documents`); `$lookup` and `$unionWith` read `database`.
    pub fn aggregate_documents(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        input: Vec<Document>,
        pipeline: &[Bson],
        variables: &Variables,
    ) -> CommandResult<Vec<Document>> {
        self.read(txn, |catalog| {
            let pipeline = aggregate::Pipeline::parse(pipeline)?;
            let view = DatabaseView {
                catalog,
                database,
                examined: &self.engine.examined,
            };
            pipeline.run(input, &view, variables)
        })
    }

    /// Runs a pipeline (without `$changeStream`, which the command layer serves) over a collection.
    pub fn aggregate(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        pipeline: &[Bson],
        variables: &Variables,
    ) -> CommandResult<Vec<Document>> {
        self.read(txn, |catalog| {
            self.run_pipeline(catalog, database, collection, pipeline, variables)
        })
    }

    /// Runs `pipeline` over a collection of `catalog`, or over what a view shows.
    fn run_pipeline(
        &self,
        catalog: &Catalog,
        database: &str,
        collection: &str,
        pipeline: &[Bson],
        variables: &Variables,
    ) -> CommandResult<Vec<Document>> {
        let resolved = resolve_view(catalog, database, collection)?;
        let (collection, stages) = match resolved {
            Some((source, mut stages)) => {
                stages.extend(pipeline.iter().cloned());
                (source, std::borrow::Cow::Owned(stages))
            }
            None => (collection.to_string(), std::borrow::Cow::Borrowed(pipeline)),
        };
        let collection = collection.as_str();
        {
            // The leading `$match` is answered below with the collection's indexes (its text
            // index for `$text`), so it may use `$text`.
            let pipeline = aggregate::Pipeline::parse_over_collection(&stages)?;
            let input = match catalog.collection(database, collection) {
                None => Vec::new(),
                Some(target) => {
                    let filter = match pipeline.leading_match() {
                        Some(filter) => plan::Filter::parse(filter, Some(target), Some(variables))?,
                        None => plan::Filter::All,
                    };
                    plan::matching(target, &filter, &self.engine.examined, None)?
                        .into_iter()
                        .map(|hit| (*hit.document).clone())
                        .collect()
                }
            };
            let view = DatabaseView {
                catalog,
                database,
                examined: &self.engine.examined,
            };
            pipeline.run(input, &view, variables)
        }
    }

    /// `aggregate` ending in `$out`: runs `pipeline` over the source, then replaces the target
    /// with the results in one write (options and indexes kept).
    #[allow(clippy::too_many_arguments)]
    pub fn aggregate_out(
        &self,
        database: &str,
        collection: &str,
        pipeline: &[Bson],
        variables: &Variables,
        (to_database, to_collection): (&str, &str),
        bypass_document_validation: bool,
    ) -> CommandResult<()> {
        let documents = self.aggregate(None, database, collection, pipeline, variables)?;
        self.engine.write(None, |scope| {
            scope.bypass_validation = bypass_document_validation;
            scope.replace_collection(to_database, to_collection, documents)
        })
    }

    /// `aggregate` ending in `$merge`: runs `pipeline` over the source, then folds the results
    /// into the target in one write.
    pub fn aggregate_merge(
        &self,
        database: &str,
        collection: &str,
        pipeline: &[Bson],
        variables: &Variables,
        merge: &output::MergeSpec,
        bypass_document_validation: bool,
    ) -> CommandResult<()> {
        let documents = self.aggregate(None, database, collection, pipeline, variables)?;
        let target_database = merge.database.as_deref().unwrap_or(database);
        self.engine.write(None, |scope| {
            scope.bypass_validation = bypass_document_validation;
            scope.merge_into(target_database, merge, documents, variables)
        })
    }

    pub fn insert(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        documents: Vec<Document>,
        ordered: bool,
    ) -> WriteOutcome {
        self.insert_with(
            txn,
            database,
            collection,
            documents,
            WriteOptions {
                ordered,
                bypass_document_validation: false,
            },
        )
    }

    /// [`Store::insert`] with `bypassDocumentValidation`.
    pub fn insert_with(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        documents: Vec<Document>,
        options: WriteOptions,
    ) -> WriteOutcome {
        let mut outcome = WriteOutcome::default();
        let result = self.engine.write(txn, |scope| {
            scope.bypass_validation = options.bypass_document_validation;
            for (position, document) in documents.into_iter().enumerate() {
                match scope.insert_one(database, collection, document) {
                    Ok(_) => outcome.n += 1,
                    Err(error) => {
                        outcome.errors.push((position, error));
                        if options.ordered {
                            break;
                        }
                    }
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            outcome.errors.push((0, error));
        }
        outcome
    }

    pub fn update(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        statements: &[UpdateStatement],
        ordered: bool,
    ) -> WriteOutcome {
        self.update_with(
            txn,
            database,
            collection,
            statements,
            WriteOptions {
                ordered,
                bypass_document_validation: false,
            },
        )
    }

    /// [`Store::update`] with `bypassDocumentValidation`.
    pub fn update_with(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        statements: &[UpdateStatement],
        options: WriteOptions,
    ) -> WriteOutcome {
        let mut outcome = WriteOutcome::default();
        let result = self.engine.write(txn, |scope| {
            scope.bypass_validation = options.bypass_document_validation;
            for (position, statement) in statements.iter().enumerate() {
                let mut counts = (0, 0);
                let result = scope.update_statement(database, collection, statement, &mut counts);
                outcome.n += counts.0;
                outcome.n_modified += counts.1;
                match result {
                    Ok(upserted) => {
                        if let Some(id) = upserted {
                            outcome.upserted.push((position, id));
                        }
                    }
                    Err(error) => {
                        outcome.errors.push((position, error));
                        if options.ordered {
                            break;
                        }
                    }
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            outcome.errors.push((0, error));
        }
        outcome
    }

    pub fn delete(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        statements: &[DeleteStatement],
        ordered: bool,
    ) -> WriteOutcome {
        let mut outcome = WriteOutcome::default();
        let result = self.engine.write(txn, |scope| {
            for (position, statement) in statements.iter().enumerate() {
                match scope.delete_statement(database, collection, statement) {
                    Ok(deleted) => outcome.n += deleted,
                    Err(error) => {
                        outcome.errors.push((position, error));
                        if ordered {
                            break;
                        }
                    }
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            outcome.errors.push((0, error));
        }
        outcome
    }

    pub fn find_and_modify(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        request: &FindAndModifyRequest,
    ) -> CommandResult<FindAndModifyOutcome> {
        self.find_and_modify_with(txn, database, collection, request, false)
    }

    /// [`Store::find_and_modify`] with `bypassDocumentValidation`.
    pub fn find_and_modify_with(
        &self,
        txn: Option<&mut Transaction>,
        database: &str,
        collection: &str,
        request: &FindAndModifyRequest,
        bypass_document_validation: bool,
    ) -> CommandResult<FindAndModifyOutcome> {
        self.engine.write(txn, |scope| {
            scope.bypass_validation = bypass_document_validation;
            scope.find_and_modify(database, collection, request)
        })
    }

    /// Starts a transaction on a snapshot of the current state.
    pub fn begin_transaction(&self) -> Transaction {
        self.engine.begin()
    }

    /// A read-only snapshot of the committed state as of cluster time `at` (MongoDB's snapshot
    /// reads); `None` when `at` is older than the versions kept.
    pub fn snapshot_at(&self, at: bson::Timestamp) -> Option<Transaction> {
        self.engine.begin_at(at)
    }

    /// Commits atomically; a conflicting concurrent write is code 112 (WriteConflict) with the
    /// `TransientTransactionError` label and nothing is applied.
    pub fn commit_transaction(&self, txn: Transaction) -> CommandResult<()> {
        self.engine.commit(txn)
    }

    /// Change events with `sequence > after` (all retained ones when `after` is `None`), at most
    /// `max`. An `after` older than the retained history is code 286 (ChangeStreamHistoryLost).
    pub fn change_events_since(
        &self,
        after: Option<u64>,
        max: usize,
    ) -> CommandResult<Vec<ChangeEvent>> {
        self.engine.changes.lock().since(after, max)
    }

    /// The sequence of the newest change event (0 when none).
    pub fn latest_change_sequence(&self) -> u64 {
        self.engine.changes.lock().last_sequence
    }

    /// Notified after every committed write, so change-stream cursors can wake up.
    pub fn change_notifier(&self) -> Arc<tokio::sync::Notify> {
        self.engine.notify.clone()
    }
}

#[cfg(test)]
mod tests;
