//! Document writes against a working copy of the catalog: inserts, updates (with upserts),
//! deletes and findAndModify, with `_id` rules, size limits, validators, unique indexes,
//! write-conflict tracking for transactions and change events.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::collation::Collation;
use bson::{doc, oid::ObjectId, Bson, Document};

use crate::aggregate::SortSpec;
use crate::compare::OrderedBson;
use crate::error::{codes, CommandError, CommandResult};
use crate::expression::Variables;
use crate::projection::Projection;
use crate::query::validation_failure_details;
use crate::storage::catalog::{document_size, Catalog, Collection, Op};
use crate::storage::change_log::{update_description, PendingEvent};
use crate::storage::plan::{matching, Filter, Found};
use crate::storage::{
    ChangeOperation, DeleteStatement, FindAndModifyOutcome, FindAndModifyRequest, UpdateStatement,
};
use crate::update::{upsert_seed, ApplyContext, UpdateSpec};

/// The largest document MongoDB stores.
pub(crate) const MAX_DOCUMENT_SIZE: u64 = 16 * 1024 * 1024;

/// A document identified across the store, for transaction write sets.
pub(crate) type DocumentKey = (String, String, OrderedBson);

/// What a transaction's writes are checked against: the snapshot it started from and the
/// state committed since, so a write to a document someone else changed fails at once.
pub(crate) struct ConflictCheck<'a> {
    pub base: &'a Catalog,
    pub committed: Arc<Catalog>,
    pub touched: &'a mut BTreeMap<DocumentKey, Option<Arc<Document>>>,
    pub locks: &'a mut HeldLocks,
}

/// The documents open transactions have written, each held by one transaction until it commits
/// or aborts. A second transaction writing a held document fails at that write with
/// `WriteConflict`, as in MongoDB, instead of finding out at commit.
#[derive(Default)]
pub(crate) struct WriteLocks {
    held: parking_lot::Mutex<BTreeMap<DocumentKey, u64>>,
    next_owner: AtomicU64,
}

impl WriteLocks {
    /// A new, empty set of locks for one transaction.
    pub fn owner(self: &Arc<Self>) -> HeldLocks {
        HeldLocks {
            table: Some(self.clone()),
            owner: self
                .next_owner
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            keys: Vec::new(),
        }
    }
}

/// The locks one transaction holds; dropping it (commit, abort, expiry) releases them.
pub(crate) struct HeldLocks {
    table: Option<Arc<WriteLocks>>,
    owner: u64,
    keys: Vec<DocumentKey>,
}

impl HeldLocks {
    /// Locks for a read-only view that never writes.
    pub fn none() -> HeldLocks {
        HeldLocks {
            table: None,
            owner: 0,
            keys: Vec::new(),
        }
    }

    fn acquire(&mut self, key: &DocumentKey) -> CommandResult<()> {
        let Some(table) = &self.table else {
            return Ok(());
        };
        let mut held = table.held.lock();
        match held.get(key) {
            Some(owner) if *owner == self.owner => Ok(()),
            Some(_) => Err(write_conflict()),
            None => {
                held.insert(key.clone(), self.owner);
                self.keys.push(key.clone());
                Ok(())
            }
        }
    }
}

impl Drop for HeldLocks {
    fn drop(&mut self) {
        if let Some(table) = &self.table {
            let mut held = table.held.lock();
            for key in self.keys.drain(..) {
                if held.get(&key) == Some(&self.owner) {
                    held.remove(&key);
                }
            }
        }
    }
}

/// The error a transaction gets when another write got to a document first.
/// `arrayFilters` are matched by binary comparison; with a collation MongoDB compares them by
/// it too, so the pair is refused rather than answered differently.
fn refuse_collated_array_filters(
    collation: Option<&Collation>,
    array_filters: &[Document],
) -> CommandResult<()> {
    if collation.is_some() && !array_filters.is_empty() {
        return Err(CommandError::new(
            crate::error::codes::NOT_IMPLEMENTED,
            "arrayFilters with a collation are not implemented",
        ));
    }
    Ok(())
}

pub(crate) fn write_conflict() -> CommandError {
    CommandError::new(
        codes::WRITE_CONFLICT,
        "Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.",
    )
    .with_label("TransientTransactionError")
}

pub(crate) fn same_version(a: &Option<Arc<Document>>, b: &Option<Arc<Document>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// A write in progress: the working catalog, the physical ops applied to it, and the change
/// events they produce.
pub(crate) struct WriteScope<'a> {
    pub catalog: Catalog,
    pub ops: Vec<Op>,
    pub events: Vec<PendingEvent>,
    pub conflicts: Option<ConflictCheck<'a>>,
    pub examined: &'a AtomicU64,
    pub now: bson::DateTime,
    /// `bypassDocumentValidation`: skip the collection's validator.
    pub bypass_validation: bool,
}

/// Checks a database and collection name as MongoDB does.
pub(crate) fn check_namespace(database: &str, collection: &str) -> CommandResult<()> {
    const BAD_DATABASE_CHARS: &[char] = &['/', '\\', '.', ' ', '"', '$', '\0'];
    if database.is_empty() || database.len() >= 64 || database.contains(BAD_DATABASE_CHARS) {
        return Err(CommandError::new(
            codes::INVALID_NAMESPACE,
            format!("Invalid database name: '{database}'"),
        ));
    }
    if collection.is_empty() || collection.contains('$') || collection.contains('\0') {
        return Err(CommandError::new(
            codes::INVALID_NAMESPACE,
            format!("Invalid namespace specified '{database}.{collection}'"),
        ));
    }
    Ok(())
}

/// Puts `_id` first (generating an ObjectId when absent) and enforces the `_id` type and
/// size rules for a new document.
pub(crate) fn prepare_new_document(document: Document) -> CommandResult<Document> {
    let prepared = match document.get("_id") {
        Some(Bson::Array(_)) => {
            return Err(CommandError::new(
                codes::INVALID_ID_FIELD,
                "The '_id' value cannot be of type array",
            ))
        }
        Some(id) if dollar_prefixed_field_in_id(id).is_some() => {
            return Err(id_with_dollar_prefixed_field(id))
        }
        Some(_) if document.keys().next().map(String::as_str) == Some("_id") => document,
        Some(id) => {
            let mut ordered = Document::new();
            ordered.insert("_id", id.clone());
            for (key, value) in document {
                if key != "_id" {
                    ordered.insert(key, value);
                }
            }
            ordered
        }
        None => {
            let mut ordered = Document::new();
            ordered.insert("_id", ObjectId::new());
            ordered.extend(document);
            ordered
        }
    };
    check_size(&prepared)?;
    Ok(prepared)
}

/// The first `$`-prefixed field name anywhere inside an `_id` value: MongoDB refuses to store
/// such an `_id` (code 53), because `{_id: {$gt: 1}}` could never be queried by equality.
pub(crate) fn dollar_prefixed_field_in_id(id: &Bson) -> Option<&str> {
    match id {
        Bson::Document(document) => document.iter().find_map(|(key, value)| {
            if key.starts_with('$') {
                Some(key.as_str())
            } else {
                dollar_prefixed_field_in_id(value)
            }
        }),
        Bson::Array(items) => items.iter().find_map(dollar_prefixed_field_in_id),
        _ => None,
    }
}

/// The error for an `_id` holding a `$`-prefixed field, in mongod's words.
pub(crate) fn id_with_dollar_prefixed_field(id: &Bson) -> CommandError {
    let field = dollar_prefixed_field_in_id(id).unwrap_or("$");
    CommandError::new(
        codes::INVALID_ID_FIELD,
        format!(
            "_id fields may not contain '$'-prefixed fields: {field} is not valid for storage."
        ),
    )
}

fn check_size(document: &Document) -> CommandResult<()> {
    let size = document_size(document);
    if size > MAX_DOCUMENT_SIZE {
        return Err(CommandError::new(
            codes::BSON_OBJECT_TOO_LARGE,
            format!(
                "object to insert too large. size in bytes: {size}, max size: {MAX_DOCUMENT_SIZE}"
            ),
        ));
    }
    Ok(())
}

/// Runs the collection's validator per its level and action; `previous` is the stored
/// version for updates (the `moderate` level skips documents that were already invalid).
fn validate(
    collection: &Collection,
    document: &Document,
    previous: Option<&Document>,
) -> CommandResult<()> {
    let Some(validator) = &collection.validator else {
        return Ok(());
    };
    let level = collection
        .options
        .get_str("validationLevel")
        .unwrap_or("strict");
    if level == "off" {
        return Ok(());
    }
    if level == "moderate" && previous.is_some_and(|old| !validator.matches(old)) {
        return Ok(());
    }
    if validator.matches(document) {
        return Ok(());
    }
    let validator_document = collection
        .options
        .get_document("validator")
        .cloned()
        .unwrap_or_default();
    if collection.options.get_str("validationAction") == Ok("warn") {
        tracing::warn!(
            id = %document.get("_id").cloned().unwrap_or(Bson::Null),
            "Document would fail validation"
        );
        return Ok(());
    }
    Err(CommandError::new(
        codes::DOCUMENT_VALIDATION_FAILURE,
        "Document failed validation",
    )
    .with_extra(
        "errInfo",
        doc! {
            "failingDocumentId": document.get("_id").cloned().unwrap_or(Bson::Null),
            "details": validation_failure_details(&validator_document, document),
        },
    ))
}

/// The expanded change event a schema change makes (`create`, `createIndexes`, `dropIndexes`,
/// `modify`); streams show it only with `showExpandedEvents: true`.
fn expanded_event(op: &Op, dropped_index: Option<Document>) -> Option<PendingEvent> {
    let (operation, database, collection, description) = match op {
        Op::CreateCollection {
            database,
            collection,
            options,
            ..
        } => {
            let description = if options.contains_key("viewOn") {
                doc! {"viewOn": options.get("viewOn").cloned().unwrap_or(Bson::Null), "pipeline": options.get("pipeline").cloned().unwrap_or(Bson::Array(Vec::new()))}
            } else {
                doc! {"idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"}}
            };
            (ChangeOperation::Create, database, collection, description)
        }
        Op::CreateIndex {
            database,
            collection,
            spec,
        } => (
            ChangeOperation::CreateIndexes,
            database,
            collection,
            doc! {"indexes": [spec.clone()]},
        ),
        Op::DropIndex {
            database,
            collection,
            ..
        } => (
            ChangeOperation::DropIndexes,
            database,
            collection,
            doc! {"indexes": [dropped_index.unwrap_or_default()]},
        ),
        Op::SetOptions {
            database,
            collection,
            options,
        } => (
            ChangeOperation::Modify,
            database,
            collection,
            options.clone(),
        ),
        Op::SetIndexExpiry {
            database,
            collection,
            name,
            seconds,
        } => (
            ChangeOperation::Modify,
            database,
            collection,
            doc! {"index": {"name": name.clone(), "expireAfterSeconds": *seconds}},
        ),
        _ => return None,
    };
    Some(PendingEvent {
        operation,
        database: database.clone(),
        collection: collection.clone(),
        document_key: None,
        full_document: None,
        update_description: None,
        description: Some(description),
        before_change: None,
        images: false,
    })
}

impl WriteScope<'_> {
    fn apply(&mut self, op: Op) -> CommandResult<()> {
        let dropped_index = match &op {
            Op::DropIndex {
                database,
                collection,
                name,
            } => self
                .catalog
                .collection(database, collection)
                .and_then(|target| {
                    target
                        .indexes
                        .iter()
                        .find(|index| index.spec.name == *name)
                        .map(|index| index.spec.to_document())
                }),
            _ => None,
        };
        self.catalog.apply(&op)?;
        if let Some(event) = expanded_event(&op, dropped_index) {
            self.events.push(event);
        }
        self.ops.push(op);
        Ok(())
    }

    /// Creates the collection (and database) on first write.
    pub fn ensure_collection(&mut self, database: &str, collection: &str) -> CommandResult<bool> {
        check_namespace(database, collection)?;
        if let Some(existing) = self.catalog.collection(database, collection) {
            if existing.view().is_some() {
                return Err(crate::storage::catalog::not_on_view(database, collection));
            }
            return Ok(false);
        }
        self.apply(Op::CreateCollection {
            database: database.to_string(),
            collection: collection.to_string(),
            uuid: bson::Uuid::new(),
            options: Document::new(),
        })?;
        Ok(true)
    }

    /// Applies a schema-level change (index, options, drop).
    pub fn apply_ddl(&mut self, op: Op) -> CommandResult<()> {
        self.apply(op)
    }

    /// Whether change events on the collection keep pre- and post-images
    /// (`changeStreamPreAndPostImages: {enabled: true}`).
    fn keeps_images(&self, database: &str, collection: &str) -> bool {
        self.catalog
            .collection(database, collection)
            .and_then(|target| {
                target
                    .options
                    .get_document("changeStreamPreAndPostImages")
                    .ok()
            })
            .is_some_and(|images| images.get_bool("enabled") == Ok(true))
    }

    /// Records an event produced by a schema-level change.
    pub fn push_event(&mut self, event: PendingEvent) {
        self.events.push(event);
    }

    fn collection(&self, database: &str, collection: &str) -> CommandResult<&Collection> {
        self.catalog
            .collection(database, collection)
            .ok_or_else(|| {
                CommandError::new(
                    codes::NAMESPACE_NOT_FOUND,
                    format!("ns does not exist: {database}.{collection}"),
                )
            })
    }

    /// In a transaction, remembers the version of the document the transaction's snapshot
    /// had, failing with a write conflict when a commit since then changed it.
    fn touch(&mut self, database: &str, collection: &str, id: &Bson) -> CommandResult<()> {
        let Some(check) = self.conflicts.as_mut() else {
            return Ok(());
        };
        let key = (
            database.to_string(),
            collection.to_string(),
            OrderedBson(id.clone()),
        );
        if check.touched.contains_key(&key) {
            return Ok(());
        }
        let base = check.base.document_by_id(database, collection, id);
        let committed = check.committed.document_by_id(database, collection, id);
        if !same_version(&base, &committed) {
            return Err(write_conflict());
        }
        check.locks.acquire(&key)?;
        check.touched.insert(key, base);
        Ok(())
    }

    /// Inserts one document; returns its `_id`.
    pub fn insert_one(
        &mut self,
        database: &str,
        collection: &str,
        document: Document,
    ) -> CommandResult<Bson> {
        let document = prepare_new_document(document)?;
        self.ensure_collection(database, collection)?;
        if !self.bypass_validation {
            validate(self.collection(database, collection)?, &document, None)?;
        }
        let id = document.get("_id").cloned().unwrap_or(Bson::Null);
        self.touch(database, collection, &id)?;
        let record = self.catalog.allocate_record();
        let document = Arc::new(document);
        self.apply(Op::Put {
            database: database.to_string(),
            collection: collection.to_string(),
            record,
            document: document.clone(),
        })?;
        self.events.push(PendingEvent {
            operation: ChangeOperation::Insert,
            database: database.to_string(),
            collection: collection.to_string(),
            document_key: Some(doc! {"_id": id.clone()}),
            full_document: Some(Arc::clone(&document)),
            update_description: None,
            description: None,
            before_change: None,
            images: false,
        });
        Ok(id)
    }

    /// Stores a new version of an existing document (update or replacement).
    pub fn replace_one(
        &mut self,
        database: &str,
        collection: &str,
        record: u64,
        previous: &Arc<Document>,
        mut document: Document,
        operation: ChangeOperation,
    ) -> CommandResult<()> {
        let id = previous.get("_id").cloned().unwrap_or(Bson::Null);
        match document.get("_id") {
            None => {
                let mut ordered = doc! {"_id": id.clone()};
                ordered.extend(document);
                document = ordered;
            }
            Some(new_id) if !crate::compare::bson_equal(new_id, &id) || new_id.element_type() != id.element_type() => {
                return Err(CommandError::new(
                    codes::IMMUTABLE_FIELD,
                    format!(
                        "After applying the update, the (immutable) field '_id' was found to have been altered to _id: {new_id}"
                    ),
                ))
            }
            Some(_) => {}
        }
        check_size(&document)?;
        if !self.bypass_validation {
            validate(
                self.collection(database, collection)?,
                &document,
                Some(previous),
            )?;
        }
        self.touch(database, collection, &id)?;
        let images = self.keeps_images(database, collection);
        let description = match operation {
            ChangeOperation::Update => Some(update_description(previous, &document)),
            _ => None,
        };
        let document = Arc::new(document);
        self.apply(Op::Put {
            database: database.to_string(),
            collection: collection.to_string(),
            record,
            document: document.clone(),
        })?;
        self.events.push(PendingEvent {
            operation,
            database: database.to_string(),
            collection: collection.to_string(),
            document_key: Some(doc! {"_id": id}),
            full_document: Some(Arc::clone(&document)),
            update_description: description,
            description: None,
            before_change: images.then(|| Arc::clone(previous)),
            images,
        });
        Ok(())
    }

    /// Deletes one stored document.
    pub fn delete_one(
        &mut self,
        database: &str,
        collection: &str,
        record: u64,
        previous: &Document,
    ) -> CommandResult<()> {
        let id = previous.get("_id").cloned().unwrap_or(Bson::Null);
        self.touch(database, collection, &id)?;
        let images = self.keeps_images(database, collection);
        self.apply(Op::Delete {
            database: database.to_string(),
            collection: collection.to_string(),
            record,
            id: id.clone(),
        })?;
        self.events.push(PendingEvent {
            operation: ChangeOperation::Delete,
            database: database.to_string(),
            collection: collection.to_string(),
            document_key: Some(doc! {"_id": id}),
            full_document: None,
            update_description: None,
            description: None,
            before_change: images.then(|| Arc::new(previous.clone())),
            images,
        });
        Ok(())
    }

    /// The matching documents of a collection (empty when it does not exist).
    pub fn find_matching(
        &self,
        database: &str,
        collection: &str,
        filter: &Document,
        stop_after: Option<usize>,
        variables: Option<&Variables>,
    ) -> CommandResult<Vec<Found>> {
        self.find_matching_collated(database, collection, filter, stop_after, variables, None)
    }

    /// [`Self::find_matching`] comparing strings by `collation` when given: every document is
    /// matched through its collation-keyed copy (no index: they hold binary keys); the hits
    /// are the stored documents.
    pub fn find_matching_collated(
        &self,
        database: &str,
        collection: &str,
        filter: &Document,
        stop_after: Option<usize>,
        variables: Option<&Variables>,
        collation: Option<&Collation>,
    ) -> CommandResult<Vec<Found>> {
        let target = self.catalog.collection(database, collection);
        if target.is_some_and(|target| target.view().is_some()) {
            return Err(crate::storage::catalog::not_on_view(database, collection));
        }
        let Some(collation) = collation else {
            let parsed = Filter::parse(filter, target, variables)?;
            return Ok(match target {
                Some(target) => matching(target, &parsed, self.examined, stop_after)?,
                None => Vec::new(),
            });
        };
        let parsed = Filter::parse(&collation.keyed_filter(filter)?, target, variables)?;
        let Some(target) = target else {
            return Ok(Vec::new());
        };
        let limit = stop_after.unwrap_or(usize::MAX);
        let mut found = Vec::new();
        for (record, stored) in target.records.iter() {
            if found.len() >= limit {
                break;
            }
            self.examined
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let keyed = collation.keyed_document(&stored.document);
            if let Some(details) = parsed.match_details(&keyed)? {
                found.push(Found {
                    record: *record,
                    document: stored.document.clone(),
                    details,
                });
            }
        }
        Ok(found)
    }

    /// The document an upsert inserts when nothing matched.
    fn upsert_document(
        &self,
        filter: &Document,
        spec: &UpdateSpec,
        variables: Option<&Variables>,
    ) -> CommandResult<Document> {
        let seed = upsert_seed(filter)?;
        let mut document = if spec.is_replacement() {
            match seed.get("_id") {
                Some(id) => doc! {"_id": id.clone()},
                None => Document::new(),
            }
        } else {
            seed
        };
        let original_id = document.get("_id").cloned();
        spec.apply(
            &mut document,
            &ApplyContext {
                array_position: None,
                inserting: true,
                now: self.now,
                variables: variables.cloned(),
            },
        )?;
        if let (Some(id), false) = (original_id, document.contains_key("_id")) {
            let mut ordered = doc! {"_id": id};
            ordered.extend(document);
            document = ordered;
        }
        Ok(document)
    }

    /// One statement of `update`. Matched and modified documents are added to `counts` as
    /// they are written, so a failure part-way through a multi-update still reports the
    /// documents already changed; returns the upserted `_id`, if any.
    pub fn update_statement(
        &mut self,
        database: &str,
        collection: &str,
        statement: &UpdateStatement,
        counts: &mut (u64, u64),
    ) -> CommandResult<Option<Bson>> {
        check_namespace(database, collection)?;
        let spec = UpdateSpec::parse(&statement.update, &statement.array_filters)?;
        let limit = if statement.multi { None } else { Some(1) };
        refuse_collated_array_filters(statement.collation.as_ref(), &statement.array_filters)?;
        let found = self.find_matching_collated(
            database,
            collection,
            &statement.filter,
            limit,
            statement.variables.as_ref(),
            statement.collation.as_ref(),
        )?;
        if found.is_empty() {
            if !statement.upsert {
                return Ok(None);
            }
            let document =
                self.upsert_document(&statement.filter, &spec, statement.variables.as_ref())?;
            let id = self.insert_one(database, collection, document)?;
            counts.0 += 1;
            return Ok(Some(id));
        }
        let operation = if spec.is_replacement() {
            ChangeOperation::Replace
        } else {
            ChangeOperation::Update
        };
        for hit in found {
            let mut updated = (*hit.document).clone();
            let changed = spec.apply(
                &mut updated,
                &ApplyContext {
                    array_position: hit.details.array_position,
                    inserting: false,
                    now: self.now,
                    variables: statement.variables.clone(),
                },
            )?;
            if changed {
                self.replace_one(
                    database,
                    collection,
                    hit.record,
                    &hit.document,
                    updated,
                    operation,
                )?;
                counts.1 += 1;
            }
            counts.0 += 1;
        }
        Ok(None)
    }

    /// One statement of `delete`: the number deleted.
    pub fn delete_statement(
        &mut self,
        database: &str,
        collection: &str,
        statement: &DeleteStatement,
    ) -> CommandResult<u64> {
        check_namespace(database, collection)?;
        let limit = if statement.limit == 1 { Some(1) } else { None };
        let found = self.find_matching_collated(
            database,
            collection,
            &statement.filter,
            limit,
            statement.variables.as_ref(),
            statement.collation.as_ref(),
        )?;
        let mut deleted = 0;
        for hit in found {
            self.delete_one(database, collection, hit.record, &hit.document)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// `findAndModify`.
    pub fn find_and_modify(
        &mut self,
        database: &str,
        collection: &str,
        request: &FindAndModifyRequest,
    ) -> CommandResult<FindAndModifyOutcome> {
        check_namespace(database, collection)?;
        let projection = match &request.fields {
            Some(fields) if !fields.is_empty() => Some(Projection::parse(fields)?),
            _ => None,
        };
        let project = |document: &Document, position: Option<usize>| -> CommandResult<Document> {
            match &projection {
                Some(projection) => projection.apply(document, position),
                None => Ok(document.clone()),
            }
        };
        let sort = match &request.sort {
            Some(sort) if !sort.is_empty() => Some(SortSpec::parse(sort)?),
            _ => None,
        };
        let limit = if sort.is_some() { None } else { Some(1) };
        refuse_collated_array_filters(request.collation.as_ref(), &request.array_filters)?;
        let mut found = self.find_matching_collated(
            database,
            collection,
            &request.filter,
            limit,
            request.variables.as_ref(),
            request.collation.as_ref(),
        )?;
        if let Some(sort) = &sort {
            match &request.collation {
                Some(collation) => {
                    let mut keyed: Vec<(Document, Found)> = found
                        .into_iter()
                        .map(|hit| (collation.keyed_document(&hit.document), hit))
                        .collect();
                    keyed.sort_by(|a, b| sort.compare(&a.0, &b.0));
                    found = keyed.into_iter().map(|(_, hit)| hit).collect();
                }
                None => found.sort_by(|a, b| sort.compare(&a.document, &b.document)),
            }
        }
        let first = found.into_iter().next();
        if request.remove {
            let Some(hit) = first else {
                return Ok(FindAndModifyOutcome::default());
            };
            self.delete_one(database, collection, hit.record, &hit.document)?;
            return Ok(FindAndModifyOutcome {
                value: Some(project(&hit.document, hit.details.array_position)?),
                n: 1,
                updated_existing: false,
                upserted: None,
            });
        }
        let update = request.update.clone().ok_or_else(|| {
            CommandError::failed_to_parse("Either an update or remove=true must be specified")
        })?;
        let spec = UpdateSpec::parse(&update, &request.array_filters)?;
        match first {
            Some(hit) => {
                let mut updated = (*hit.document).clone();
                let changed = spec.apply(
                    &mut updated,
                    &ApplyContext {
                        array_position: hit.details.array_position,
                        inserting: false,
                        now: self.now,
                        variables: request.variables.clone(),
                    },
                )?;
                let operation = if spec.is_replacement() {
                    ChangeOperation::Replace
                } else {
                    ChangeOperation::Update
                };
                if changed {
                    self.replace_one(
                        database,
                        collection,
                        hit.record,
                        &hit.document,
                        updated,
                        operation,
                    )?;
                }
                let returned = if request.return_new {
                    let id = hit.document.get("_id").cloned().unwrap_or(Bson::Null);
                    self.catalog
                        .document_by_id(database, collection, &id)
                        .unwrap_or(hit.document.clone())
                } else {
                    hit.document.clone()
                };
                Ok(FindAndModifyOutcome {
                    value: Some(project(&returned, hit.details.array_position)?),
                    n: 1,
                    updated_existing: true,
                    upserted: None,
                })
            }
            None if request.upsert => {
                let document =
                    self.upsert_document(&request.filter, &spec, request.variables.as_ref())?;
                let id = self.insert_one(database, collection, document)?;
                let value = if request.return_new {
                    match self.catalog.document_by_id(database, collection, &id) {
                        Some(stored) => Some(project(&stored, None)?),
                        None => None,
                    }
                } else {
                    None
                };
                Ok(FindAndModifyOutcome {
                    value,
                    n: 1,
                    updated_existing: false,
                    upserted: Some(id),
                })
            }
            None => Ok(FindAndModifyOutcome::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_documents_get_an_object_id_first() {
        let prepared = prepare_new_document(doc! {"a": 1}).unwrap();
        assert_eq!(prepared.keys().next().unwrap(), "_id");
        assert!(matches!(prepared.get("_id"), Some(Bson::ObjectId(_))));
        let moved = prepare_new_document(doc! {"a": 1, "_id": 5}).unwrap();
        assert_eq!(moved, doc! {"_id": 5, "a": 1});
        assert_eq!(moved.keys().collect::<Vec<_>>(), vec!["_id", "a"]);
    }

    #[test]
    fn array_ids_are_invalid() {
        let error = prepare_new_document(doc! {"_id": [1, 2]}).unwrap_err();
        assert_eq!(error.code, 53);
        assert_eq!(error.code_name(), "InvalidIdField");
    }

    #[test]
    fn documents_over_sixteen_megabytes_are_rejected() {
        let big = "x".repeat(16 * 1024 * 1024);
        let error = prepare_new_document(doc! {"big": big}).unwrap_err();
        assert_eq!(error.code, 10334);
    }

    #[test]
    fn invalid_names_are_invalid_namespaces() {
        assert_eq!(check_namespace("a.b", "c").unwrap_err().code, 73);
        assert_eq!(check_namespace("db", "").unwrap_err().code, 73);
        assert_eq!(check_namespace("db", "a$b").unwrap_err().code, 73);
        assert!(check_namespace("db", "users.archive").is_ok());
    }
}
