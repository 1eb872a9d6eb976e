//! The catalog: an immutable-by-convention tree of databases, collections, records and
//! indexes built from persistent maps, so a clone is O(1) and every committed state is a
//! snapshot readers can hold. Every mutation is a physical [`Op`], applied identically live
//! and during recovery.

use std::sync::Arc;

use bson::{Bson, Document};
use imbl::OrdMap;

use crate::compare::OrderedBson;
use crate::error::{codes, CommandError, CommandResult};
use crate::query::Matcher;
use crate::storage::index::{duplicate_key_error, Index, IndexKey, IndexSpec};

/// One physical change; the unit of the journal and of transaction write sets.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    CreateCollection {
        database: String,
        collection: String,
        uuid: bson::Uuid,
        options: Document,
    },
    DropCollection {
        database: String,
        collection: String,
    },
    DropDatabase {
        database: String,
    },
    /// Moves a collection (documents, indexes, options, uuid) to another name, possibly in
    /// another database; with `drop_target` an existing target is dropped first.
    RenameCollection {
        database: String,
        collection: String,
        to_database: String,
        to_collection: String,
        drop_target: bool,
    },
    /// Builds an index over the existing documents (unique violations fail the op).
    CreateIndex {
        database: String,
        collection: String,
        spec: Document,
    },
    DropIndex {
        database: String,
        collection: String,
        name: String,
    },
    /// Replaces a collection's options (validator, validation level/action).
    SetOptions {
        database: String,
        collection: String,
        options: Document,
    },
    /// Replaces an index's spec without rebuilding it (TTL changes through collMod).
    SetIndexExpiry {
        database: String,
        collection: String,
        name: String,
        seconds: i64,
    },
    /// Inserts or replaces the document stored under record id `record`.
    Put {
        database: String,
        collection: String,
        record: u64,
        document: Arc<Document>,
    },
    Delete {
        database: String,
        collection: String,
        record: u64,
        id: Bson,
    },
}

/// A stored document with its encoded size (for `listDatabases` sizes).
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub document: Arc<Document>,
    pub size: u64,
}

/// One collection: records in natural (insertion) order, the `_id` index and secondary indexes.
#[derive(Debug, Clone)]
pub(crate) struct Collection {
    pub uuid: bson::Uuid,
    pub options: Document,
    pub validator: Option<Arc<Matcher>>,
    pub records: OrdMap<u64, Record>,
    pub ids: OrdMap<OrderedBson, u64>,
    pub indexes: Vec<Index>,
    pub data_size: u64,
}

/// One database: its collections by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Database {
    pub collections: OrdMap<String, Collection>,
}

/// The whole store's state at one point in time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    pub databases: OrdMap<String, Database>,
    /// The next record id to hand out; record ids order documents naturally.
    pub next_record: u64,
}

/// The encoded size of a document in bytes.
pub(crate) fn document_size(document: &Document) -> u64 {
    let mut buffer = Vec::new();
    match document.to_writer(&mut buffer) {
        Ok(()) => buffer.len() as u64,
        Err(_) => 0,
    }
}

/// The refusal of a write, index or stream on a view.
pub(crate) fn not_on_view(database: &str, collection: &str) -> CommandError {
    CommandError::new(
        codes::COMMAND_NOT_SUPPORTED_ON_VIEW,
        format!("Namespace {database}.{collection} is a view, not a collection"),
    )
}

impl Collection {
    /// The source and pipeline when this is a view (`create` with `viewOn`).
    pub fn view(&self) -> Option<(&str, &[Bson])> {
        let source = self.options.get_str("viewOn").ok()?;
        let pipeline = match self.options.get("pipeline") {
            Some(Bson::Array(stages)) => stages.as_slice(),
            _ => &[],
        };
        Some((source, pipeline))
    }

    /// An empty collection; the validator (if any) is compiled here.
    pub fn new(uuid: bson::Uuid, options: Document) -> CommandResult<Collection> {
        let mut collection = Collection {
            uuid,
            options: Document::new(),
            validator: None,
            records: OrdMap::new(),
            ids: OrdMap::new(),
            indexes: Vec::new(),
            data_size: 0,
        };
        collection.set_options(options)?;
        Ok(collection)
    }

    /// Replaces the options, compiling the validator.
    pub fn set_options(&mut self, options: Document) -> CommandResult<()> {
        self.validator = match options.get("validator") {
            Some(Bson::Document(validator)) if !validator.is_empty() => {
                Some(Arc::new(Matcher::parse(validator)?))
            }
            _ => None,
        };
        self.options = options;
        Ok(())
    }

    /// The document with this `_id`, with its record id.
    pub fn by_id(&self, id: &Bson) -> Option<(u64, &Arc<Document>)> {
        let record = *self.ids.get(&OrderedBson(id.clone()))?;
        self.records.get(&record).map(|r| (record, &r.document))
    }

    /// The text index's fields and weights, for parsing `$text`.
    pub fn text_fields(&self) -> Option<Vec<(String, i32)>> {
        self.indexes
            .iter()
            .find_map(|index| index.spec.text_fields.clone())
    }

    /// Index keys per secondary index for a document (parallel arrays are an error).
    fn keys_for(&self, document: &Document) -> CommandResult<Vec<(Vec<IndexKey>, bool)>> {
        self.indexes
            .iter()
            .map(|index| index.keys_for(document))
            .collect()
    }

    /// Checks that `document` can be stored under `record` (no duplicate `_id` or unique key)
    /// and returns its index keys.
    pub fn check_put(
        &self,
        namespace: &str,
        record: u64,
        document: &Document,
    ) -> CommandResult<Vec<(Vec<IndexKey>, bool)>> {
        let id = document.get("_id").cloned().unwrap_or(Bson::Null);
        if let Some(existing) = self.ids.get(&OrderedBson(id.clone())) {
            if *existing != record {
                return Err(duplicate_key_error(
                    namespace,
                    &IndexSpec::id_index(),
                    &vec![OrderedBson(id)],
                ));
            }
        }
        let keys = self.keys_for(document)?;
        for (index, (index_keys, _)) in self.indexes.iter().zip(keys.iter()) {
            if let Some(error) = index.find_duplicate(namespace, index_keys, record) {
                return Err(error);
            }
        }
        Ok(keys)
    }

    /// Stores `document` under `record` after [`Collection::check_put`] succeeded.
    fn put(&mut self, record: u64, document: Arc<Document>, keys: Vec<(Vec<IndexKey>, bool)>) {
        self.remove(record);
        let id = document.get("_id").cloned().unwrap_or(Bson::Null);
        for (index, (index_keys, multikey)) in self.indexes.iter_mut().zip(keys) {
            index.multikey |= multikey;
            for key in index_keys {
                index.entries.insert((key, record));
            }
        }
        let size = document_size(&document);
        self.data_size += size;
        self.ids.insert(OrderedBson(id), record);
        self.records.insert(record, Record { document, size });
    }

    /// Removes the record and its index entries; returns the removed document.
    fn remove(&mut self, record: u64) -> Option<Arc<Document>> {
        let old = self.records.remove(&record)?;
        let id = old.document.get("_id").cloned().unwrap_or(Bson::Null);
        self.ids.remove(&OrderedBson(id));
        for index in self.indexes.iter_mut() {
            if let Ok((keys, _)) = index.keys_for(&old.document) {
                for key in keys {
                    index.entries.remove(&(key, record));
                }
            }
        }
        self.data_size = self.data_size.saturating_sub(old.size);
        Some(old.document)
    }

    /// Builds a new index over the existing documents; a unique violation is 11000.
    pub fn build_index(&self, namespace: &str, spec: IndexSpec) -> CommandResult<Index> {
        let mut index = Index::new(spec)?;
        for (record, stored) in self.records.iter() {
            let (keys, multikey) = index.keys_for(&stored.document)?;
            if let Some(error) = index.find_duplicate(namespace, &keys, *record) {
                return Err(error);
            }
            index.multikey |= multikey;
            for key in keys {
                index.entries.insert((key, *record));
            }
        }
        Ok(index)
    }

    /// The `listIndexes` documents, `_id_` first.
    pub fn index_documents(&self) -> Vec<Document> {
        let mut out = vec![IndexSpec::id_index().to_document()];
        out.extend(self.indexes.iter().map(|index| index.spec.to_document()));
        out
    }
}

impl Catalog {
    pub fn collection(&self, database: &str, collection: &str) -> Option<&Collection> {
        self.databases.get(database)?.collections.get(collection)
    }

    fn collection_mut(
        &mut self,
        database: &str,
        collection: &str,
    ) -> CommandResult<&mut Collection> {
        self.databases
            .get_mut(database)
            .and_then(|db| db.collections.get_mut(collection))
            .ok_or_else(|| {
                CommandError::new(
                    codes::NAMESPACE_NOT_FOUND,
                    format!("ns does not exist: {database}.{collection}"),
                )
            })
    }

    /// The stored document with `_id` `id`, if any.
    pub fn document_by_id(
        &self,
        database: &str,
        collection: &str,
        id: &Bson,
    ) -> Option<Arc<Document>> {
        self.collection(database, collection)?
            .by_id(id)
            .map(|(_, document)| document.clone())
    }

    /// Hands out a fresh record id.
    pub fn allocate_record(&mut self) -> u64 {
        self.next_record += 1;
        self.next_record
    }

    /// Applies one physical change. Fails without changing anything when the change is
    /// invalid (unique violation, missing collection).
    pub fn apply(&mut self, op: &Op) -> CommandResult<()> {
        match op {
            Op::CreateCollection {
                database,
                collection,
                uuid,
                options,
            } => {
                let db = self.databases.entry(database.clone()).or_default();
                if db.collections.contains_key(collection) {
                    return Err(CommandError::new(
                        codes::NAMESPACE_EXISTS,
                        format!("Collection {database}.{collection} already exists."),
                    ));
                }
                let created = Collection::new(*uuid, options.clone())?;
                db.collections.insert(collection.clone(), created);
            }
            Op::DropCollection {
                database,
                collection,
            } => {
                if let Some(db) = self.databases.get_mut(database) {
                    db.collections.remove(collection);
                    if db.collections.is_empty() {
                        self.databases.remove(database);
                    }
                }
            }
            Op::DropDatabase { database } => {
                self.databases.remove(database);
            }
            Op::RenameCollection {
                database,
                collection,
                to_database,
                to_collection,
                drop_target,
            } => {
                if self.collection(database, collection).is_none() {
                    return Err(CommandError::new(
                        codes::NAMESPACE_NOT_FOUND,
                        format!("Source collection {database}.{collection} does not exist"),
                    ));
                }
                if self.collection(to_database, to_collection).is_some() && !drop_target {
                    return Err(CommandError::new(
                        codes::NAMESPACE_EXISTS,
                        "target namespace exists",
                    ));
                }
                let mut moved = None;
                if let Some(db) = self.databases.get_mut(database) {
                    moved = db.collections.remove(collection);
                    if db.collections.is_empty() {
                        self.databases.remove(database);
                    }
                }
                if let Some(moved) = moved {
                    self.databases
                        .entry(to_database.clone())
                        .or_default()
                        .collections
                        .insert(to_collection.clone(), moved);
                }
            }
            Op::CreateIndex {
                database,
                collection,
                spec,
            } => {
                let namespace = format!("{database}.{collection}");
                let parsed = IndexSpec::parse(spec)?;
                let target = self.collection_mut(database, collection)?;
                if target.view().is_some() {
                    return Err(not_on_view(database, collection));
                }
                if target
                    .indexes
                    .iter()
                    .any(|index| index.spec.name == parsed.name)
                {
                    return Ok(());
                }
                let index = target.build_index(&namespace, parsed)?;
                target.indexes.push(index);
            }
            Op::DropIndex {
                database,
                collection,
                name,
            } => {
                let target = self.collection_mut(database, collection)?;
                target.indexes.retain(|index| index.spec.name != *name);
            }
            Op::SetOptions {
                database,
                collection,
                options,
            } => {
                let target = self.collection_mut(database, collection)?;
                target.set_options(options.clone())?;
            }
            Op::SetIndexExpiry {
                database,
                collection,
                name,
                seconds,
            } => {
                let target = self.collection_mut(database, collection)?;
                for index in target.indexes.iter_mut() {
                    if index.spec.name == *name {
                        let mut spec = (*index.spec).clone();
                        spec.expire_after_seconds = Some(*seconds);
                        index.spec = Arc::new(spec);
                    }
                }
            }
            Op::Put {
                database,
                collection,
                record,
                document,
            } => {
                let namespace = format!("{database}.{collection}");
                let target = self.collection_mut(database, collection)?;
                let keys = target.check_put(&namespace, *record, document)?;
                target.put(*record, document.clone(), keys);
                if *record > self.next_record {
                    self.next_record = *record;
                }
            }
            Op::Delete {
                database,
                collection,
                record,
                ..
            } => {
                let target = self.collection_mut(database, collection)?;
                target.remove(*record);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn put(catalog: &mut Catalog, record: u64, document: Document) -> CommandResult<()> {
        catalog.apply(&Op::Put {
            database: "db".into(),
            collection: "c".into(),
            record,
            document: Arc::new(document),
        })
    }

    fn catalog_with_collection() -> Catalog {
        let mut catalog = Catalog::default();
        catalog
            .apply(&Op::CreateCollection {
                database: "db".into(),
                collection: "c".into(),
                uuid: bson::Uuid::new(),
                options: Document::new(),
            })
            .unwrap();
        catalog
    }

    #[test]
    fn duplicate_ids_are_rejected_and_leave_nothing_behind() {
        let mut catalog = catalog_with_collection();
        put(&mut catalog, 1, doc! {"_id": 1, "a": 1}).unwrap();
        let error = put(&mut catalog, 2, doc! {"_id": 1.0, "a": 2}).unwrap_err();
        assert_eq!(error.code, 11000);
        assert_eq!(
            error.message,
            "E11000 duplicate key error collection: db.c index: _id_ dup key: { _id: 1.0 }"
        );
        let collection = catalog.collection("db", "c").unwrap();
        assert_eq!(collection.records.len(), 1);
    }

    #[test]
    fn snapshots_do_not_see_later_changes() {
        let mut catalog = catalog_with_collection();
        put(&mut catalog, 1, doc! {"_id": 1}).unwrap();
        let snapshot = catalog.clone();
        put(&mut catalog, 2, doc! {"_id": 2}).unwrap();
        assert_eq!(snapshot.collection("db", "c").unwrap().records.len(), 1);
        assert_eq!(catalog.collection("db", "c").unwrap().records.len(), 2);
    }

    #[test]
    fn unique_index_build_fails_over_existing_duplicates() {
        let mut catalog = catalog_with_collection();
        put(&mut catalog, 1, doc! {"_id": 1, "email": "x"}).unwrap();
        put(&mut catalog, 2, doc! {"_id": 2, "email": "x"}).unwrap();
        let error = catalog
            .apply(&Op::CreateIndex {
                database: "db".into(),
                collection: "c".into(),
                spec: doc! {"key": {"email": 1}, "name": "email_1", "unique": true},
            })
            .unwrap_err();
        assert_eq!(error.code, 11000);
        assert!(catalog.collection("db", "c").unwrap().indexes.is_empty());
    }

    #[test]
    fn replacing_a_document_moves_its_index_entries() {
        let mut catalog = catalog_with_collection();
        catalog
            .apply(&Op::CreateIndex {
                database: "db".into(),
                collection: "c".into(),
                spec: doc! {"key": {"email": 1}, "name": "email_1", "unique": true},
            })
            .unwrap();
        put(&mut catalog, 1, doc! {"_id": 1, "email": "x"}).unwrap();
        put(&mut catalog, 1, doc! {"_id": 1, "email": "y"}).unwrap();
        put(&mut catalog, 2, doc! {"_id": 2, "email": "x"}).unwrap();
        let error = put(&mut catalog, 3, doc! {"_id": 3, "email": "y"}).unwrap_err();
        assert_eq!(error.code, 11000);
        assert_eq!(
            catalog.collection("db", "c").unwrap().indexes[0]
                .entries
                .len(),
            2
        );
    }
}
