//! Collection plumbing: a domain crate describes each collection it owns (name, indexes,
//! validator) as a [`CollectionSpec`], and the gateway calls [`ensure_collection`] at start-up.

use bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::{Database, IndexModel};

use crate::error::CollectionError;

/// MongoDB's `NamespaceExists` error code, returned by `create` when the collection is there.
const NAMESPACE_EXISTS: i32 = 48;

/// Everything needed to create one collection the way its owning crate expects it.
#[derive(Debug, Clone)]
pub struct CollectionSpec {
    /// The collection name (snake_case, as the data model seed defines it).
    pub name: String,
    /// Indexes to create; creating an identical index again is a no-op in MongoDB.
    pub indexes: Vec<IndexModel>,
    /// A `$jsonSchema` (or query) validator, applied on creation and refreshed with `collMod`.
    pub validator: Option<Document>,
}

impl CollectionSpec {
    /// A spec with no indexes and no validator.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            indexes: Vec::new(),
            validator: None,
        }
    }

    /// Adds an index.
    pub fn index(mut self, index: IndexModel) -> Self {
        self.indexes.push(index);
        self
    }

    /// Sets the validator.
    pub fn validator(mut self, validator: Document) -> Self {
        self.validator = Some(validator);
        self
    }
}

/// Creates the collection with its validator (or updates the validator with `collMod` when the
/// collection exists) and then its indexes. Safe to call on every start-up.
pub async fn ensure_collection(
    database: &Database,
    spec: &CollectionSpec,
) -> Result<(), CollectionError> {
    let wrap = |source: mongodb::error::Error| CollectionError::Database {
        collection: spec.name.clone(),
        source,
    };
    let mut create = doc! { "create": &spec.name };
    if let Some(validator) = &spec.validator {
        create.insert("validator", validator.clone());
    }
    match database.run_command(create).await {
        Ok(_) => {}
        Err(error) if command_error_code(&error) == Some(NAMESPACE_EXISTS) => {
            if let Some(validator) = &spec.validator {
                database
                    .run_command(doc! { "collMod": &spec.name, "validator": validator.clone() })
                    .await
                    .map_err(wrap)?;
            }
        }
        Err(error) => return Err(wrap(error)),
    }
    if !spec.indexes.is_empty() {
        database
            .collection::<Document>(&spec.name)
            .create_indexes(spec.indexes.clone())
            .await
            .map_err(wrap)?;
    }
    Ok(())
}

/// The server's error code when `error` is a command error.
pub fn command_error_code(error: &mongodb::error::Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        _ => None,
    }
}

/// Whether a write was refused by a collection's validator (code 121). Domain checks come
/// first; this is the backstop the API reports as bad input, never as an internal error.
pub fn is_validation_failure(error: &mongodb::error::Error) -> bool {
    // MongoDB's DocumentValidationFailure: a write broke a collection's `$jsonSchema`.
    const DOCUMENT_VALIDATION_FAILURE: i32 = 121;
    match error.kind.as_ref() {
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(write)) => {
            write.code == DOCUMENT_VALIDATION_FAILURE
        }
        ErrorKind::Command(command) => command.code == DOCUMENT_VALIDATION_FAILURE,
        ErrorKind::InsertMany(insert_many) => {
            insert_many.write_errors.as_ref().is_some_and(|errors| {
                errors
                    .iter()
                    .any(|write| write.code == DOCUMENT_VALIDATION_FAILURE)
            })
        }
        _ => false,
    }
}

/// Whether `error` is a duplicate-key violation of a unique index (code 11000), in any of the
/// shapes the driver reports it. Domain crates turn it into conflicts like "email taken".
pub fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(write)) => {
            write.code == DUPLICATE_KEY
        }
        ErrorKind::Command(command) => command.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(insert_many) => insert_many
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().any(|write| write.code == DUPLICATE_KEY)),
        _ => false,
    }
}
