//! Catalog commands: databases, collections and indexes (`listDatabases`, `listCollections`,
//! `create`, `collMod`, `drop`, `dropDatabase`, `renameCollection`, `createIndexes`,
//! `listIndexes`, `dropIndexes`) and the size statistics `dbStats`/`collStats`.

use bson::{doc, Bson, Document};

use super::{missing_field, wrong_type, Context};
use crate::cursor::first_batch_reply;
use crate::error::{codes, CommandError, CommandResult};
use crate::query::Matcher;
use crate::storage::{FindRequest, Transaction};
use crate::wire::document_size;

fn optional_filter(context: &Context<'_>) -> CommandResult<Option<Matcher>> {
    match context.document("filter")? {
        Some(filter) if !filter.is_empty() => Ok(Some(Matcher::parse(&filter)?)),
        _ => Ok(None),
    }
}

pub fn list_databases(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    if context.database != "admin" {
        return Err(CommandError::new(
            13,
            "listDatabases may only be run against the admin database.",
        ));
    }
    let name_only = context.boolean("nameOnly")?.unwrap_or(false);
    let filter = optional_filter(context)?;
    let mut databases = Vec::new();
    let mut total_size = 0i64;
    for database in context.state.store.list_databases() {
        let entry = doc! {
            "name": database.name.clone(),
            "sizeOnDisk": database.size_on_disk,
            "empty": database.empty,
        };
        if filter
            .as_ref()
            .is_some_and(|filter| !filter.matches(&entry))
        {
            continue;
        }
        total_size += database.size_on_disk;
        databases.push(Bson::Document(if name_only {
            doc! {"name": database.name}
        } else {
            entry
        }));
    }
    let mut reply = doc! {"databases": databases};
    if !name_only {
        reply.insert("totalSize", total_size);
        reply.insert("totalSizeMb", total_size / (1024 * 1024));
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

pub fn list_collections(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let name_only = context.boolean("nameOnly")?.unwrap_or(false);
    let filter = optional_filter(context)?;
    let batch_size = context.cursor_batch_size()?;
    let mut entries = Vec::new();
    for collection in context.state.store.list_collections(context.database) {
        let is_view = collection.options.contains_key("viewOn");
        let kind = if is_view { "view" } else { "collection" };
        let entry = if is_view {
            doc! {
                "name": collection.name.clone(),
                "type": kind,
                "options": collection.options,
                "info": {"readOnly": true},
            }
        } else {
            doc! {
                "name": collection.name.clone(),
                "type": kind,
                "options": collection.options,
                "info": {"readOnly": false, "uuid": bson::Binary::from_uuid(collection.uuid)},
                "idIndex": {"v": 2, "key": {"_id": 1}, "name": "_id_"},
            }
        };
        if filter
            .as_ref()
            .is_some_and(|filter| !filter.matches(&entry))
        {
            continue;
        }
        entries.push(if name_only {
            doc! {"name": collection.name, "type": kind}
        } else {
            entry
        });
    }
    let namespace = format!("{}.$cmd.listCollections", context.database);
    Ok(first_batch_reply(
        &context.state.cursors,
        &namespace,
        entries,
        batch_size,
        false,
    ))
}

pub fn create(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    let options = context.options();
    if options.contains_key("viewOn") || options.contains_key("pipeline") {
        if transaction.is_some() {
            return Err(CommandError::new(
                codes::OPERATION_NOT_SUPPORTED_IN_TRANSACTION,
                "Cannot create a view in a multi-document transaction.",
            ));
        }
        let view = view_options(&options)?;
        context
            .state
            .store
            .create_collection(None, context.database, &collection, &view)?;
        return Ok(doc! {"ok": 1.0});
    }
    if options.contains_key("timeseries") {
        return Err(CommandError::new(
            codes::COMMAND_NOT_SUPPORTED,
            "time-series collections are not supported by embedded-mongo",
        ));
    }
    context
        .state
        .store
        .create_collection(transaction, context.database, &collection, &options)?;
    Ok(doc! {"ok": 1.0})
}

/// A view's definition from `create`'s options: `viewOn` (a collection or view of the same
/// database) and `pipeline` (stages that may not write); nothing else goes with them.
fn view_options(options: &Document) -> CommandResult<Document> {
    let source = match options.get("viewOn") {
        Some(Bson::String(source)) if !source.is_empty() => source.clone(),
        Some(Bson::String(_)) => {
            return Err(CommandError::new(
                codes::INVALID_NAMESPACE,
                "invalid name for 'viewOn'",
            ))
        }
        Some(other) => return Err(wrong_type("create", "viewOn", other, "string")),
        None => {
            return Err(CommandError::bad_value(
                "'pipeline' requires 'viewOn' to also be specified",
            ))
        }
    };
    let stages = match options.get("pipeline") {
        None => Vec::new(),
        Some(Bson::Array(stages)) => stages.clone(),
        Some(other) => return Err(wrong_type("create", "pipeline", other, "array")),
    };
    for stage in &stages {
        let Bson::Document(stage) = stage else {
            return Err(wrong_type("create", "pipeline", stage, "object"));
        };
        if stage.contains_key("$out") || stage.contains_key("$merge") {
            return Err(CommandError::new(
                codes::OPTION_NOT_SUPPORTED_ON_VIEW,
                "$out and $merge cannot be used in a view definition",
            ));
        }
    }
    crate::aggregate::Pipeline::parse(&stages)?;
    if let Some(other) = options
        .keys()
        .find(|key| !matches!(key.as_str(), "viewOn" | "pipeline"))
    {
        return Err(CommandError::new(
            codes::INVALID_OPTIONS,
            format!("option '{other}' cannot be used with a view"),
        ));
    }
    Ok(doc! {"viewOn": source, "pipeline": stages})
}

pub fn coll_mod(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let collection = context.collection()?;
    let mut reply =
        context
            .state
            .store
            .coll_mod(context.database, &collection, &context.options())?;
    reply.remove("ok");
    reply.insert("ok", 1.0);
    Ok(reply)
}

pub fn drop(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let collection = context.collection()?;
    let store = &context.state.store;
    let indexes = match store.list_indexes(context.database, &collection) {
        Ok(indexes) => Some(indexes.len() as i32),
        Err(error)
            if matches!(
                error.code,
                codes::NAMESPACE_NOT_FOUND | codes::COMMAND_NOT_SUPPORTED_ON_VIEW
            ) =>
        {
            None
        }
        Err(error) => return Err(error),
    };
    let existed = store.drop_collection(context.database, &collection)?;
    // MongoDB 7.0 answers ok for a collection that does not exist.
    Ok(match (existed, indexes) {
        (true, Some(count)) => doc! {
            "nIndexesWas": count,
            "ns": context.namespace(&collection),
            "ok": 1.0,
        },
        _ => doc! {"ok": 1.0},
    })
}

/// `renameCollection` (against `admin`): `{renameCollection: "db.from", to: "db.to",
/// dropTarget}`, across databases too, as mongod allows.
pub fn rename_collection(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    if context.database != "admin" {
        return Err(CommandError::new(
            codes::UNAUTHORIZED,
            "renameCollection may only be run against the admin database.",
        ));
    }
    let namespace = |field: &str| -> CommandResult<(String, String)> {
        match context.body.get(field) {
            Some(Bson::String(namespace)) => namespace
                .split_once('.')
                .filter(|(database, collection)| !database.is_empty() && !collection.is_empty())
                .map(|(database, collection)| (database.to_string(), collection.to_string()))
                .ok_or_else(|| {
                    CommandError::new(
                        codes::INVALID_NAMESPACE,
                        format!("Invalid {field} namespace: {namespace}"),
                    )
                }),
            Some(other) => Err(wrong_type("renameCollection", field, other, "string")),
            None => Err(missing_field("renameCollection", field)),
        }
    };
    let (database, collection) = namespace("renameCollection")?;
    let (to_database, to_collection) = namespace("to")?;
    let drop_target = context.boolean("dropTarget")?.unwrap_or(false);
    context.state.store.rename_collection(
        (&database, &collection),
        (&to_database, &to_collection),
        drop_target,
    )?;
    Ok(doc! {"ok": 1.0})
}

pub fn drop_database(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    context.state.store.drop_database(context.database)?;
    Ok(doc! {"dropped": context.database, "ok": 1.0})
}

pub fn create_indexes(
    context: &Context<'_>,
    transaction: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let collection = context.collection()?;
    let specs = context.documents("indexes")?;
    if specs.is_empty() {
        return Err(CommandError::bad_value(
            "Must specify at least one index to create",
        ));
    }
    let outcome =
        context
            .state
            .store
            .create_indexes(transaction, context.database, &collection, &specs)?;
    let mut reply = doc! {
        "numIndexesBefore": outcome.num_indexes_before,
        "numIndexesAfter": outcome.num_indexes_after,
        "createdCollectionAutomatically": outcome.created_collection_automatically,
    };
    if let Some(note) = outcome.note {
        reply.insert("note", note);
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

pub fn list_indexes(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let collection = context.collection()?;
    let batch_size = context.cursor_batch_size()?;
    let indexes = context
        .state
        .store
        .list_indexes(context.database, &collection)?;
    Ok(first_batch_reply(
        &context.state.cursors,
        &context.namespace(&collection),
        indexes,
        batch_size,
        false,
    ))
}

pub fn drop_indexes(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let collection = context.collection()?;
    let Some(index) = context.body.get("index") else {
        return Err(missing_field(context.name, "index"));
    };
    let was = context
        .state
        .store
        .drop_indexes(context.database, &collection, index)?;
    Ok(doc! {"nIndexesWas": was, "ok": 1.0})
}

pub fn db_stats(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let store = &context.state.store;
    let collections = store.list_collections(context.database);
    let mut objects = 0i64;
    let mut indexes = 0i64;
    for collection in &collections {
        objects += store
            .count(
                None,
                context.database,
                &collection.name,
                &crate::storage::FindRequest::default(),
            )
            .unwrap_or(0) as i64;
        indexes += store
            .list_indexes(context.database, &collection.name)
            .map_or(0, |list| list.len() as i64);
    }
    let size = store
        .list_databases()
        .into_iter()
        .find(|database| database.name == context.database)
        .map_or(0, |database| database.size_on_disk);
    Ok(doc! {
        "db": context.database,
        "collections": collections.len() as i64,
        "views": 0i64,
        "objects": objects,
        "avgObjSize": if objects > 0 { size as f64 / objects as f64 } else { 0.0 },
        "dataSize": size as f64,
        "storageSize": size as f64,
        "indexes": indexes,
        "indexSize": 0.0,
        "totalSize": size as f64,
        "scaleFactor": 1.0,
        "ok": 1.0,
    })
}

pub fn coll_stats(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let collection = context.collection()?;
    let store = &context.state.store;
    // Sizes are the documents' BSON sizes; this store keeps no separate on-disk extents.
    let (count, size) =
        match store.find(None, context.database, &collection, &FindRequest::default()) {
            Ok(documents) => (
                documents.len() as i64,
                documents
                    .iter()
                    .map(|document| document_size(document) as i64)
                    .sum::<i64>(),
            ),
            Err(error) if error.code == codes::NAMESPACE_NOT_FOUND => (0, 0),
            Err(error) => return Err(error),
        };
    let indexes = store
        .list_indexes(context.database, &collection)
        .unwrap_or_default();
    let mut index_sizes = Document::new();
    for index in &indexes {
        if let Ok(name) = index.get_str("name") {
            index_sizes.insert(name, 0i64);
        }
    }
    let mut reply = doc! {
        "ns": context.namespace(&collection),
        "count": count,
        "size": size,
        "storageSize": size,
    };
    if count > 0 {
        reply.insert("avgObjSize", size / count);
    }
    reply.insert("nindexes", indexes.len() as i64);
    reply.insert("totalIndexSize", 0i64);
    reply.insert("indexSizes", index_sizes);
    reply.insert("scaleFactor", 1);
    reply.insert("ok", 1.0);
    Ok(reply)
}

/// `createSearchIndexes`, `updateSearchIndex` and `dropSearchIndex`: Atlas Search indexes live in
/// a separate search server (mongot) that only Atlas runs, so a community mongod 7.0, which this
/// store reports to be, refuses them with 115 `CommandNotSupported`; so does the store.
pub fn search_index_command(
    _: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    Err(CommandError::new(
        codes::COMMAND_NOT_SUPPORTED,
        "Search index commands are only supported with Atlas.",
    ))
}
