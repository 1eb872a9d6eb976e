//! Server-side cursors: batches left over from `find`/`aggregate`/`listCollections`/..., served
//! by `getMore`, and tailable change-stream cursors.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use parking_lot::Mutex;

use crate::aggregate::{Pipeline, PipelineContext};
use crate::error::{codes, CommandError, CommandResult};
use crate::expression::Variables;
use crate::storage::{ChangeEvent, ChangeOperation, FindRequest, Store};
use crate::wire::{document_size, MAX_BSON_OBJECT_SIZE};

/// Documents in a first batch when the client names no `batchSize`, as in MongoDB.
pub const DEFAULT_FIRST_BATCH_SIZE: usize = 101;
/// A cursor unused for this long is closed, as MongoDB's `cursorTimeoutMillis` does.
pub const CURSOR_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Bytes of documents in one batch; MongoDB cuts batches at the maximum document size.
const BATCH_BYTES: usize = MAX_BSON_OBJECT_SIZE as usize;

/// Documents waiting for `getMore`.
#[derive(Debug)]
pub struct DocumentCursor {
    /// `db.collection` the cursor reads (`getMore` must name the same collection).
    pub namespace: String,
    pub remaining: VecDeque<Document>,
}

/// A server-side cursor.
pub enum Cursor {
    Documents(DocumentCursor),
    ChangeStream(Box<ChangeStream>),
}

impl Cursor {
    /// The namespace reported in the cursor document.
    pub fn namespace(&self) -> &str {
        match self {
            Cursor::Documents(cursor) => &cursor.namespace,
            Cursor::ChangeStream(stream) => &stream.namespace,
        }
    }
}

struct RegisteredCursor {
    /// `None` while a `getMore` is using the cursor.
    cursor: Option<Cursor>,
    namespace: String,
    last_used: Instant,
}

/// Every open cursor of the server, by id.
#[derive(Default)]
pub struct CursorRegistry {
    cursors: Mutex<HashMap<i64, RegisteredCursor>>,
}

/// What `killCursors` reports for one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillResult {
    Killed,
    NotFound,
}

/// Why a cursor could not be checked out.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckoutError {
    NotFound,
    WrongNamespace(String),
    InUse,
}

impl CursorRegistry {
    /// Registers a cursor and returns its id: random and positive, never 0 (which means
    /// "exhausted" on the wire).
    pub fn register(&self, cursor: Cursor) -> i64 {
        let mut cursors = self.cursors.lock();
        // Idle cursors time out; so do entries whose getMore never returned the cursor (the
        // client went away mid-wait), since no getMore lasts that long.
        cursors.retain(|_, entry| entry.last_used.elapsed() < CURSOR_TIMEOUT);
        loop {
            let id = rand::random::<i64>() & i64::MAX;
            if id != 0 && !cursors.contains_key(&id) {
                cursors.insert(
                    id,
                    RegisteredCursor {
                        namespace: cursor.namespace().to_string(),
                        cursor: Some(cursor),
                        last_used: Instant::now(),
                    },
                );
                return id;
            }
        }
    }

    /// Whether `id` names a change-stream cursor (which `getMore` serves asynchronously).
    pub fn is_change_stream(&self, id: i64) -> bool {
        matches!(
            self.cursors.lock().get(&id),
            Some(RegisteredCursor {
                cursor: Some(Cursor::ChangeStream(_)),
                ..
            })
        )
    }

    /// Takes a cursor out for a `getMore` on `namespace`; give it back with [`Self::check_in`].
    pub fn check_out(&self, id: i64, namespace: &str) -> Result<Cursor, CheckoutError> {
        let mut cursors = self.cursors.lock();
        let Some(entry) = cursors.get_mut(&id) else {
            return Err(CheckoutError::NotFound);
        };
        if entry.namespace != namespace {
            return Err(CheckoutError::WrongNamespace(entry.namespace.clone()));
        }
        let cursor = entry.cursor.take().ok_or(CheckoutError::InUse)?;
        entry.last_used = Instant::now();
        Ok(cursor)
    }

    /// Returns a checked-out cursor that still has results.
    pub fn check_in(&self, id: i64, cursor: Cursor) {
        if let Some(entry) = self.cursors.lock().get_mut(&id) {
            entry.cursor = Some(cursor);
            entry.last_used = Instant::now();
        }
    }

    /// Forgets a cursor (exhausted, or killed by the client).
    pub fn remove(&self, id: i64) {
        self.cursors.lock().remove(&id);
    }

    /// `killCursors` for one id.
    pub fn kill(&self, id: i64) -> KillResult {
        let mut cursors = self.cursors.lock();
        match cursors.remove(&id) {
            Some(_) => KillResult::Killed,
            None => KillResult::NotFound,
        }
    }
}

/// Takes the next batch off the front of `documents`: at most `limit` documents (no limit when
/// `None`) and at most 16 MiB, but always at least one document when any is left.
pub fn take_batch(documents: &mut VecDeque<Document>, limit: Option<usize>) -> Vec<Document> {
    let mut batch = Vec::new();
    let mut bytes = 0;
    while let Some(next) = documents.front() {
        if limit.is_some_and(|limit| batch.len() >= limit) {
            break;
        }
        let size = document_size(next);
        if !batch.is_empty() && bytes + size > BATCH_BYTES {
            break;
        }
        bytes += size;
        if let Some(document) = documents.pop_front() {
            batch.push(document);
        }
    }
    batch
}

/// Builds the reply of a cursor-returning command (`{cursor: {id, ns, firstBatch}, ok: 1}`),
/// registering a cursor for whatever the first batch leaves over.
pub fn first_batch_reply(
    registry: &CursorRegistry,
    namespace: &str,
    documents: Vec<Document>,
    batch_size: Option<usize>,
    single_batch: bool,
) -> Document {
    let mut remaining = VecDeque::from(documents);
    let batch = take_batch(
        &mut remaining,
        Some(batch_size.unwrap_or(DEFAULT_FIRST_BATCH_SIZE)),
    );
    let id = if remaining.is_empty() || single_batch {
        0
    } else {
        registry.register(Cursor::Documents(DocumentCursor {
            namespace: namespace.to_string(),
            remaining,
        }))
    };
    doc! {
        "cursor": {"firstBatch": batch, "id": id, "ns": namespace},
        "ok": 1.0,
    }
}

/// Which change events a stream sees.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeStreamScope {
    Collection {
        database: String,
        collection: String,
    },
    Database(String),
    Cluster,
}

/// `$changeStream.fullDocument`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullDocumentMode {
    Default,
    UpdateLookup,
    WhenAvailable,
    Required,
}

/// `fullDocumentBeforeChange`: whether events carry the pre-image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeChangeMode {
    Off,
    WhenAvailable,
    Required,
}

/// A tailable change-stream cursor: its position in the store's change log and the stages
/// applied to each event.
pub struct ChangeStream {
    pub namespace: String,
    pub scope: ChangeStreamScope,
    pub full_document: FullDocumentMode,
    pub before_change: BeforeChangeMode,
    /// `showExpandedEvents`: DDL events and `operationDescription`.
    pub expanded: bool,
    stages: Option<Pipeline>,
    /// The sequence of the last change event examined; the next batch starts after it.
    pub position: u64,
    /// Set once an `invalidate` event was returned; the cursor then closes.
    pub invalidated: bool,
}

/// The error of a stream that requires an image an event does not have (47, as on mongod).
fn image_not_found(image: &str, event: &ChangeEvent) -> CommandError {
    CommandError::new(
        codes::NO_MATCHING_DOCUMENT,
        format!(
            "Change stream was configured to require a {image} for all update, delete and replace events, but the {image} was not found for event on {}.{}",
            event.database, event.collection
        ),
    )
}

/// Encodes a change-log sequence as a resume token `{_data: "<hex>"}`.
pub fn resume_token(sequence: u64) -> Document {
    doc! {"_data": format!("{sequence:016X}")}
}

/// Decodes a resume token made by [`resume_token`].
pub fn parse_resume_token(token: &Bson) -> CommandResult<u64> {
    let data = match token {
        Bson::Document(document) => document.get_str("_data").ok(),
        _ => None,
    };
    data.and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or_else(|| CommandError::bad_value(format!("invalid resume token: {token}")))
}

impl ChangeStream {
    /// Opens a stream from the `$changeStream` stage's options and the stages after it.
    /// `collection` is `None` for `aggregate: 1`.
    pub fn open(
        store: &Store,
        database: &str,
        collection: Option<&str>,
        options: &Document,
        later_stages: &[Bson],
    ) -> CommandResult<ChangeStream> {
        let mut full_document = FullDocumentMode::Default;
        let mut before_change = BeforeChangeMode::Off;
        let mut expanded = false;
        let mut start: Option<u64> = None;
        let mut all_changes_for_cluster = false;
        let mut start_at_time: Option<bson::Timestamp> = None;
        for (key, value) in options {
            match (key.as_str(), value) {
                ("fullDocument", Bson::String(mode)) => {
                    full_document = match mode.as_str() {
                        "default" => FullDocumentMode::Default,
                        "updateLookup" => FullDocumentMode::UpdateLookup,
                        "whenAvailable" => FullDocumentMode::WhenAvailable,
                        "required" => FullDocumentMode::Required,
                        other => {
                            return Err(CommandError::bad_value(format!(
                                "unknown full document mode: {other}"
                            )))
                        }
                    }
                }
                ("fullDocumentBeforeChange", Bson::String(mode)) => {
                    before_change = match mode.as_str() {
                        "off" => BeforeChangeMode::Off,
                        "whenAvailable" => BeforeChangeMode::WhenAvailable,
                        "required" => BeforeChangeMode::Required,
                        other => {
                            return Err(CommandError::bad_value(format!(
                                "unknown fullDocumentBeforeChange mode: {other}"
                            )))
                        }
                    }
                }
                ("resumeAfter" | "startAfter", token) => {
                    if start.is_some() {
                        return Err(CommandError::new(
                            codes::BAD_VALUE,
                            "Only one type of resume option is allowed, but multiple were found",
                        ));
                    }
                    start = Some(parse_resume_token(token)?);
                }
                ("startAtOperationTime", Bson::Timestamp(time)) => start_at_time = Some(*time),
                ("allChangesForCluster", Bson::Boolean(flag)) => all_changes_for_cluster = *flag,
                ("showExpandedEvents", Bson::Boolean(flag)) => expanded = *flag,
                (other, _) => {
                    return Err(crate::commands::surface::refusal("$changeStream", other)
                        .unwrap_or_else(|| {
                            CommandError::new(
                                codes::TYPE_MISMATCH,
                                format!("BSON field '$changeStream.{other}' has the wrong type."),
                            )
                        }))
                }
            }
        }
        let (scope, namespace) =
            match (collection, all_changes_for_cluster) {
                (Some(collection), false) => (
                    ChangeStreamScope::Collection {
                        database: database.to_string(),
                        collection: collection.to_string(),
                    },
                    format!("{database}.{collection}"),
                ),
                (None, true) if database == "admin" => (
                    ChangeStreamScope::Cluster,
                    "admin.$cmd.aggregate".to_string(),
                ),
                (None, false) if !matches!(database, "admin" | "local" | "config") => (
                    ChangeStreamScope::Database(database.to_string()),
                    format!("{database}.$cmd.aggregate"),
                ),
                _ => return Err(CommandError::new(
                    codes::INVALID_NAMESPACE,
                    "A $changeStream with 'allChangesForCluster:true' may only be opened on the \
                     'admin' database, and with no collection name; other change streams may not \
                     be opened on the admin, local or config databases",
                )),
            };
        let position = match (start, start_at_time) {
            (Some(_), Some(_)) => {
                return Err(CommandError::bad_value(
                    "Only one type of resume option is allowed, but multiple were found",
                ))
            }
            (Some(sequence), None) => {
                // Fails with ChangeStreamHistoryLost when the token is older than the log.
                store.change_events_since(Some(sequence), 0)?;
                sequence
            }
            (None, Some(time)) => {
                let events = store.change_events_since(None, usize::MAX)?;
                events
                    .iter()
                    .find(|event| {
                        (event.cluster_time.time, event.cluster_time.increment)
                            >= (time.time, time.increment)
                    })
                    .map(|event| event.sequence.saturating_sub(1))
                    .unwrap_or_else(|| store.latest_change_sequence())
            }
            (None, None) => store.latest_change_sequence(),
        };
        for stage in later_stages {
            if let Bson::Document(stage) = stage {
                if stage.contains_key("$changeStream") {
                    return Err(CommandError::new(
                        40602,
                        "$changeStream is only valid as the first stage in a pipeline",
                    ));
                }
            }
        }
        let stages = if later_stages.is_empty() {
            None
        } else {
            Some(Pipeline::parse(later_stages)?)
        };
        Ok(ChangeStream {
            namespace,
            scope,
            full_document,
            before_change,
            expanded,
            stages,
            position,
            invalidated: false,
        })
    }

    /// The token of the stream's current position, `postBatchResumeToken`.
    pub fn post_batch_resume_token(&self) -> Document {
        resume_token(self.position)
    }

    /// Reads up to `max_events` new change events and turns those in scope into event documents.
    pub fn next_batch(&mut self, store: &Store, max_events: usize) -> CommandResult<Vec<Document>> {
        if self.invalidated {
            return Ok(Vec::new());
        }
        let events = store.change_events_since(Some(self.position), max_events.max(1))?;
        let mut documents = Vec::new();
        for event in events {
            self.position = event.sequence;
            if !self.in_scope(&event) {
                continue;
            }
            documents.push(self.event_document(store, &event)?);
            if self.invalidates(&event) {
                documents.push(doc! {
                    "_id": resume_token(event.sequence),
                    "operationType": "invalidate",
                    "clusterTime": event.cluster_time,
                    "wallTime": event.wall_time,
                });
                self.invalidated = true;
                break;
            }
        }
        match &self.stages {
            Some(stages) if !documents.is_empty() => {
                let database = match &self.scope {
                    ChangeStreamScope::Collection { database, .. }
                    | ChangeStreamScope::Database(database) => database.clone(),
                    ChangeStreamScope::Cluster => "admin".to_string(),
                };
                let context = StoreContext { store, database };
                let transformed = stages.run(documents, &context, &Variables::new())?;
                if transformed.iter().any(|event| {
                    !matches!(event.get("_id"), Some(Bson::Document(token)) if token.contains_key("_data"))
                }) {
                    return Err(CommandError::new(
                        280,
                        "Encountered an event whose _id field, which contains the resume token, \
                         was modified by the pipeline. Modifying the _id field of an event makes \
                         it impossible to resume the stream from that point. Only transformations \
                         that retain the unmodified _id field are allowed.",
                    ));
                }
                Ok(transformed)
            }
            _ => Ok(documents),
        }
    }

    fn in_scope(&self, event: &ChangeEvent) -> bool {
        if event.operation.is_expanded() && !self.expanded {
            return false;
        }
        match &self.scope {
            ChangeStreamScope::Cluster => true,
            ChangeStreamScope::Database(database) => &event.database == database,
            ChangeStreamScope::Collection {
                database,
                collection,
            } => {
                &event.database == database
                    && (&event.collection == collection
                        || event.operation == ChangeOperation::DropDatabase)
            }
        }
    }

    fn invalidates(&self, event: &ChangeEvent) -> bool {
        match self.scope {
            ChangeStreamScope::Cluster => false,
            ChangeStreamScope::Database(_) => event.operation == ChangeOperation::DropDatabase,
            ChangeStreamScope::Collection { .. } => matches!(
                event.operation,
                ChangeOperation::Drop | ChangeOperation::DropDatabase | ChangeOperation::Rename
            ),
        }
    }

    fn event_document(&self, store: &Store, event: &ChangeEvent) -> CommandResult<Document> {
        let operation = match event.operation {
            ChangeOperation::Insert => "insert",
            ChangeOperation::Update => "update",
            ChangeOperation::Replace => "replace",
            ChangeOperation::Delete => "delete",
            ChangeOperation::Drop => "drop",
            ChangeOperation::DropDatabase => "dropDatabase",
            ChangeOperation::Rename => "rename",
            ChangeOperation::Create => "create",
            ChangeOperation::CreateIndexes => "createIndexes",
            ChangeOperation::DropIndexes => "dropIndexes",
            ChangeOperation::Modify => "modify",
        };
        let mut document = doc! {
            "_id": resume_token(event.sequence),
            "operationType": operation,
            "clusterTime": event.cluster_time,
            "wallTime": event.wall_time,
        };
        let full_document = match event.operation {
            ChangeOperation::Insert | ChangeOperation::Replace => Some(
                event
                    .full_document
                    .as_deref()
                    .map_or(Bson::Null, |full| Bson::Document(full.clone())),
            ),
            ChangeOperation::Update => match self.full_document {
                FullDocumentMode::Default => None,
                FullDocumentMode::UpdateLookup => Some(self.look_up(store, event)?),
                // Post-images exist only where the collection keeps images, as on mongod.
                FullDocumentMode::WhenAvailable | FullDocumentMode::Required => {
                    match event.full_document.as_deref().filter(|_| event.images) {
                        Some(full) => Some(Bson::Document(full.clone())),
                        None if self.full_document == FullDocumentMode::Required => {
                            return Err(image_not_found("post-image", event))
                        }
                        None => Some(Bson::Null),
                    }
                }
            },
            _ => None,
        };
        if let Some(full_document) = full_document {
            document.insert("fullDocument", full_document);
        }
        let changes_a_document = matches!(
            event.operation,
            ChangeOperation::Update | ChangeOperation::Replace | ChangeOperation::Delete
        );
        if changes_a_document && self.before_change != BeforeChangeMode::Off {
            match event.before_change.as_deref() {
                Some(before) => {
                    document.insert("fullDocumentBeforeChange", before.clone());
                }
                None if self.before_change == BeforeChangeMode::Required => {
                    return Err(image_not_found("pre-image", event))
                }
                None => {
                    document.insert("fullDocumentBeforeChange", Bson::Null);
                }
            }
        }
        let mut namespace = doc! {"db": event.database.clone()};
        if !event.collection.is_empty() {
            namespace.insert("coll", event.collection.clone());
        }
        document.insert("ns", namespace);
        if let Some(key) = &event.document_key {
            document.insert("documentKey", key.clone());
        }
        if event.operation == ChangeOperation::Rename {
            if let Some(to) = event.description.as_ref().and_then(|d| d.get("to")) {
                document.insert("to", to.clone());
            }
        }
        if self.expanded {
            if let Some(description) = &event.description {
                document.insert("operationDescription", description.clone());
            }
        }
        if event.operation == ChangeOperation::Update {
            let description = event.update_description.clone().unwrap_or_else(|| {
                doc! {"updatedFields": {}, "removedFields": [], "truncatedArrays": []}
            });
            document.insert("updateDescription", description);
        }
        Ok(document)
    }

    /// `fullDocument: "updateLookup"`: the document as it is now, or null once deleted.
    fn look_up(&self, store: &Store, event: &ChangeEvent) -> CommandResult<Bson> {
        let Some(key) = &event.document_key else {
            return Ok(Bson::Null);
        };
        let request = FindRequest {
            filter: key.clone(),
            limit: 1,
            ..FindRequest::default()
        };
        match store.find(None, &event.database, &event.collection, &request) {
            Ok(mut found) if !found.is_empty() => Ok(Bson::Document(found.swap_remove(0))),
            Ok(_) => Ok(Bson::Null),
            Err(error) if error.code == codes::NAMESPACE_NOT_FOUND => Ok(Bson::Null),
            Err(error) => Err(error),
        }
    }
}

/// Lets pipelines (`$lookup`) read the other collections of their database.
pub struct StoreContext<'a> {
    pub store: &'a Store,
    pub database: String,
}

impl PipelineContext for StoreContext<'_> {
    fn collection_documents(&self, collection: &str) -> CommandResult<Vec<Document>> {
        match self
            .store
            .find(None, &self.database, collection, &FindRequest::default())
        {
            Err(error) if error.code == codes::NAMESPACE_NOT_FOUND => Ok(Vec::new()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(count: i32) -> VecDeque<Document> {
        (0..count).map(|n| doc! {"n": n}).collect()
    }

    #[test]
    fn batches_stop_at_the_requested_size() {
        let mut documents = numbered(5);
        let batch = take_batch(&mut documents, Some(2));
        assert_eq!(batch, vec![doc! {"n": 0}, doc! {"n": 1}]);
        assert_eq!(documents.len(), 3);
    }

    #[test]
    fn batches_stop_at_sixteen_mebibytes_but_hold_at_least_one_document() {
        let big = "x".repeat(6 * 1024 * 1024);
        let mut documents: VecDeque<Document> =
            (0..4).map(|n| doc! {"n": n, "s": big.clone()}).collect();
        let batch = take_batch(&mut documents, None);
        assert_eq!(batch.len(), 2);
        let mut one_huge: VecDeque<Document> =
            VecDeque::from(vec![doc! {"s": "y".repeat(BATCH_BYTES)}]);
        assert_eq!(take_batch(&mut one_huge, None).len(), 1);
    }

    #[test]
    fn the_first_batch_defaults_to_101_documents_and_keeps_a_cursor_for_the_rest() {
        let registry = CursorRegistry::default();
        let reply = first_batch_reply(&registry, "db.c", numbered(150).into(), None, false);
        let cursor = reply.get_document("cursor").unwrap();
        assert_eq!(cursor.get_array("firstBatch").unwrap().len(), 101);
        let id = cursor.get_i64("id").unwrap();
        assert!(id > 0);
        let Ok(Cursor::Documents(rest)) = registry.check_out(id, "db.c") else {
            panic!("expected a document cursor");
        };
        assert_eq!(rest.remaining.len(), 49);
    }

    #[test]
    fn an_exhausted_or_single_batch_result_has_cursor_id_zero() {
        let registry = CursorRegistry::default();
        let reply = first_batch_reply(&registry, "db.c", numbered(3).into(), None, false);
        assert_eq!(
            reply.get_document("cursor").unwrap().get_i64("id").unwrap(),
            0
        );
        let reply = first_batch_reply(&registry, "db.c", numbered(10).into(), Some(2), true);
        assert_eq!(
            reply.get_document("cursor").unwrap().get_i64("id").unwrap(),
            0
        );
    }

    #[test]
    fn get_more_must_name_the_cursor_namespace() {
        let registry = CursorRegistry::default();
        let id = registry.register(Cursor::Documents(DocumentCursor {
            namespace: "db.c".to_string(),
            remaining: numbered(1),
        }));
        assert!(matches!(
            registry.check_out(id, "db.other"),
            Err(CheckoutError::WrongNamespace(_))
        ));
        assert_eq!(registry.kill(id), KillResult::Killed);
        assert_eq!(registry.kill(id), KillResult::NotFound);
    }

    #[test]
    fn resume_tokens_round_trip_their_sequence() {
        let token = resume_token(0x1234);
        assert_eq!(token, doc! {"_data": "0000000000001234"});
        assert_eq!(parse_resume_token(&Bson::Document(token)).unwrap(), 0x1234);
        assert_eq!(
            parse_resume_token(&Bson::String("x".into()))
                .unwrap_err()
                .code,
            codes::BAD_VALUE
        );
    }
}
