//! The update language: operator documents (`$set`, `$inc`, `$push`, ...), replacement
//! documents and pipeline-style updates, with positional `$`, `$[]` and `$[<id>]`.

use bson::{Bson, DateTime, Document};

use crate::error::CommandResult;

/// A parsed update.
#[derive(Debug, Clone)]
pub struct UpdateSpec {}

/// Per-document context for applying an update.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    /// The array index that the query's positional match found (for `$`).
    pub array_position: Option<usize>,
    /// True when the update is creating a document through an upsert (`$setOnInsert` applies).
    pub inserting: bool,
    /// The time `$currentDate` and `$$NOW` use.
    pub now: DateTime,
}

impl UpdateSpec {
    /// Parses an update (`u` of the update command): a document of operators, a replacement
    /// document, or an array (pipeline). Conflicting paths are code 40; unknown modifiers code 9.
    pub fn parse(update: &Bson, array_filters: &[Document]) -> CommandResult<UpdateSpec> {
        let _ = (update, array_filters);
        todo!("issue #2: update language")
    }

    /// True for a replacement document (no operators).
    pub fn is_replacement(&self) -> bool {
        todo!("issue #2: update language")
    }

    /// Applies the update to `document` in place and reports whether anything changed.
    /// Changing `_id` is code 66 (ImmutableField); the document is unchanged on error.
    pub fn apply(&self, document: &mut Document, context: &ApplyContext) -> CommandResult<bool> {
        let _ = (document, context);
        todo!("issue #2: update language")
    }
}

/// The document an upsert starts from: the filter's equality conditions (including those in a
/// top-level `$and`), as nested fields, before the update applies.
pub fn upsert_seed(filter: &Document) -> CommandResult<Document> {
    let _ = filter;
    todo!("issue #2: update language")
}
