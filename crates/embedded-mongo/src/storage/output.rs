//! The aggregation stages that write: `$out` replaces a collection with the pipeline's results
//! (keeping its options and indexes), `$merge` folds them into one by its `on` fields. Each
//! runs as one write scope, so a failure part-way (a duplicate key, a validator, `fail` modes)
//! writes nothing; mongod's `$merge` may leave earlier documents written, a difference in the
//! safe direction.

use bson::{Bson, Document};

use crate::error::{codes, CommandError, CommandResult};
use crate::expression::Variables;
use crate::storage::catalog::Op;
use crate::storage::change_log::PendingEvent;
use crate::storage::write::{check_namespace, WriteScope};
use crate::storage::ChangeOperation;
use crate::update::{ApplyContext, UpdateSpec};

/// Where and how `$merge` writes.
#[derive(Debug, Clone)]
pub struct MergeSpec {
    pub database: Option<String>,
    pub collection: String,
    pub on: Vec<String>,
    pub when_matched: WhenMatched,
    pub when_not_matched: WhenNotMatched,
    pub variables: Option<Document>,
}

/// `whenMatched`.
#[derive(Debug, Clone)]
pub enum WhenMatched {
    Replace,
    KeepExisting,
    Merge,
    Fail,
    /// An update pipeline; `$$new` is the result document.
    Pipeline(Vec<Bson>),
}

/// `whenNotMatched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenNotMatched {
    Insert,
    Discard,
    Fail,
}

/// The target of `$out`: `"coll"` or `{db, coll}`.
pub fn parse_out(spec: &Bson) -> CommandResult<(Option<String>, String)> {
    match spec {
        Bson::String(collection) => Ok((None, collection.clone())),
        Bson::Document(target) => {
            for key in target.keys() {
                if !matches!(key.as_str(), "db" | "coll") {
                    return Err(CommandError::new(
                        codes::NOT_IMPLEMENTED,
                        format!("$out option '{key}' is not implemented (time-series output is out of scope)"),
                    ));
                }
            }
            let database = match target.get("db") {
                Some(Bson::String(database)) => Some(database.clone()),
                None => None,
                Some(_) => return Err(CommandError::failed_to_parse("$out 'db' must be a string")),
            };
            match target.get("coll") {
                Some(Bson::String(collection)) => Ok((database, collection.clone())),
                _ => Err(CommandError::failed_to_parse(
                    "$out requires a 'coll' string when given an object",
                )),
            }
        }
        _ => Err(CommandError::new(
            16990,
            "$out only supports a string or object argument",
        )),
    }
}

/// `$merge`'s argument: `"coll"` or `{into, on, let, whenMatched, whenNotMatched}`.
pub fn parse_merge(spec: &Bson) -> CommandResult<MergeSpec> {
    let mut merge = MergeSpec {
        database: None,
        collection: String::new(),
        on: vec!["_id".to_string()],
        when_matched: WhenMatched::Merge,
        when_not_matched: WhenNotMatched::Insert,
        variables: None,
    };
    let options = match spec {
        Bson::String(collection) => {
            merge.collection = collection.clone();
            return Ok(merge);
        }
        Bson::Document(options) => options,
        _ => {
            return Err(CommandError::new(
                51182,
                "$merge only supports a string or object argument",
            ))
        }
    };
    for (key, value) in options {
        match (key.as_str(), value) {
            ("into", Bson::String(collection)) => merge.collection = collection.clone(),
            ("into", Bson::Document(target)) => {
                merge.database = target.get_str("db").ok().map(str::to_string);
                merge.collection = target.get_str("coll").unwrap_or_default().to_string();
            }
            ("on", Bson::String(field)) => merge.on = vec![field.clone()],
            ("on", Bson::Array(fields)) if !fields.is_empty() => {
                merge.on = fields
                    .iter()
                    .map(|field| match field {
                        Bson::String(field) => Ok(field.clone()),
                        _ => Err(CommandError::new(
                            51134,
                            "$merge 'on' array elements must be strings",
                        )),
                    })
                    .collect::<CommandResult<_>>()?;
            }
            ("let", Bson::Document(variables)) => merge.variables = Some(variables.clone()),
            ("whenMatched", Bson::String(mode)) => {
                merge.when_matched = match mode.as_str() {
                    "replace" => WhenMatched::Replace,
                    "keepExisting" => WhenMatched::KeepExisting,
                    "merge" => WhenMatched::Merge,
                    "fail" => WhenMatched::Fail,
                    other => {
                        return Err(CommandError::bad_value(format!(
                            "Enumeration value '{other}' for field '$merge.whenMatched' is not a valid value."
                        )))
                    }
                }
            }
            ("whenMatched", Bson::Array(pipeline)) => {
                merge.when_matched = WhenMatched::Pipeline(pipeline.clone())
            }
            ("whenNotMatched", Bson::String(mode)) => {
                merge.when_not_matched = match mode.as_str() {
                    "insert" => WhenNotMatched::Insert,
                    "discard" => WhenNotMatched::Discard,
                    "fail" => WhenNotMatched::Fail,
                    other => {
                        return Err(CommandError::bad_value(format!(
                            "Enumeration value '{other}' for field '$merge.whenNotMatched' is not a valid value."
                        )))
                    }
                }
            }
            (other, value) => {
                return Err(CommandError::failed_to_parse(format!(
                    "$merge argument '{other}: {value}' is not valid"
                )))
            }
        }
    }
    if merge.collection.is_empty() {
        return Err(CommandError::failed_to_parse(
            "$merge requires an 'into' collection",
        ));
    }
    if merge.variables.is_some() && !matches!(merge.when_matched, WhenMatched::Pipeline(_)) {
        return Err(CommandError::new(
            51199,
            "Cannot use 'let' variables with 'whenMatched: <mode>' other than a pipeline",
        ));
    }
    Ok(merge)
}

impl WriteScope<'_> {
    /// `$out`: replaces `database.collection` with `documents`, keeping the collection's options
    /// and secondary indexes; watchers of an existing target see it dropped.
    pub fn replace_collection(
        &mut self,
        database: &str,
        collection: &str,
        documents: Vec<Document>,
    ) -> CommandResult<()> {
        check_namespace(database, collection)?;
        if self
            .catalog
            .collection(database, collection)
            .is_some_and(|target| target.view().is_some())
        {
            return Err(crate::storage::catalog::not_on_view(database, collection));
        }
        let existing = self.catalog.collection(database, collection).map(|target| {
            (
                target.options.clone(),
                target
                    .indexes
                    .iter()
                    .map(|index| index.spec.to_document())
                    .collect::<Vec<_>>(),
            )
        });
        let (options, indexes) = match existing {
            Some(existing) => {
                self.apply_ddl(Op::DropCollection {
                    database: database.to_string(),
                    collection: collection.to_string(),
                })?;
                self.push_event(PendingEvent {
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
                existing
            }
            None => (Document::new(), Vec::new()),
        };
        self.apply_ddl(Op::CreateCollection {
            database: database.to_string(),
            collection: collection.to_string(),
            uuid: bson::Uuid::new(),
            options,
        })?;
        for spec in indexes {
            self.apply_ddl(Op::CreateIndex {
                database: database.to_string(),
                collection: collection.to_string(),
                spec,
            })?;
        }
        for document in documents {
            self.insert_one(database, collection, document)?;
        }
        Ok(())
    }

    /// `$merge`: folds `documents` into `database.collection` by `spec.on`.
    pub fn merge_into(
        &mut self,
        database: &str,
        spec: &MergeSpec,
        documents: Vec<Document>,
        variables: &Variables,
    ) -> CommandResult<()> {
        let collection = spec.collection.as_str();
        check_namespace(database, collection)?;
        if spec.on != ["_id"] {
            let unique = self
                .catalog
                .collection(database, collection)
                .is_some_and(|target| {
                    target.indexes.iter().any(|index| {
                        index.spec.unique
                            && index.spec.partial_filter.is_none()
                            && index.spec.fields.len() == spec.on.len()
                            && index
                                .spec
                                .fields
                                .iter()
                                .all(|field| spec.on.contains(field))
                    })
                });
            if !unique {
                return Err(CommandError::new(
                    51183,
                    "Cannot find index to verify that join fields will be unique",
                ));
            }
        }
        let variables = match &spec.variables {
            Some(definitions) => variables.with_let(definitions)?,
            None => variables.clone(),
        };
        let pipeline = match &spec.when_matched {
            WhenMatched::Pipeline(stages) => {
                Some(UpdateSpec::parse(&Bson::Array(stages.clone()), &[])?)
            }
            _ => None,
        };
        for document in documents {
            let mut filter = Document::new();
            for field in &spec.on {
                match crate::storage::index::path_values(&document, field).as_slice() {
                    [value] if !matches!(value, Bson::Array(_) | Bson::Null | Bson::Undefined) => {
                        filter.insert(field.clone(), value.clone());
                    }
                    _ => {
                        return Err(CommandError::new(
                            51132,
                            format!("$merge write error: 'on' field '{field}' cannot be missing, null, undefined or an array"),
                        ))
                    }
                }
            }
            let found = self.find_matching(database, collection, &filter, Some(1), None)?;
            let Some(hit) = found.into_iter().next() else {
                match spec.when_not_matched {
                    WhenNotMatched::Insert => {
                        self.insert_one(database, collection, document)?;
                    }
                    WhenNotMatched::Discard => {}
                    WhenNotMatched::Fail => {
                        return Err(CommandError::new(
                            13113,
                            "$merge could not find a matching document in the target collection for at least one document in the source collection",
                        ))
                    }
                }
                continue;
            };
            let updated = match &spec.when_matched {
                WhenMatched::KeepExisting => continue,
                WhenMatched::Fail => {
                    return Err(CommandError::new(
                        codes::DUPLICATE_KEY,
                        "$merge with whenMatched: fail found an existing document with the same values for the 'on' field",
                    ))
                }
                WhenMatched::Replace => {
                    let mut replacement = document;
                    if !spec.on.iter().any(|field| field == "_id") {
                        replacement.remove("_id");
                    }
                    replacement
                }
                WhenMatched::Merge => {
                    let mut merged = (*hit.document).clone();
                    for (key, value) in document {
                        if key == "_id" && !spec.on.iter().any(|field| field == "_id") {
                            continue;
                        }
                        merged.insert(key, value);
                    }
                    merged
                }
                WhenMatched::Pipeline(_) => {
                    let mut updated = (*hit.document).clone();
                    if let Some(pipeline) = &pipeline {
                        pipeline.apply(
                            &mut updated,
                            &ApplyContext {
                                array_position: None,
                                inserting: false,
                                now: self.now,
                                variables: Some(variables.with("new", Bson::Document(document))),
                            },
                        )?;
                    }
                    updated
                }
            };
            if updated == *hit.document {
                continue;
            }
            let operation = match spec.when_matched {
                WhenMatched::Replace => ChangeOperation::Replace,
                _ => ChangeOperation::Update,
            };
            self.replace_one(
                database,
                collection,
                hit.record,
                &hit.document,
                updated,
                operation,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn merge_defaults_to_merge_and_insert_on_id() {
        let merge = parse_merge(&Bson::String("target".into())).unwrap();
        assert_eq!(merge.on, vec!["_id".to_string()]);
        assert!(matches!(merge.when_matched, WhenMatched::Merge));
        assert_eq!(merge.when_not_matched, WhenNotMatched::Insert);
        let refused = parse_merge(&Bson::Document(
            doc! {"into": "t", "whenMatched": "merge", "let": {"x": 1}},
        ))
        .unwrap_err();
        assert_eq!(refused.code, 51199);
    }
}
