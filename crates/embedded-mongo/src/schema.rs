//! `$jsonSchema` as MongoDB implements it for validators and queries: bsonType, type, required,
//! properties, enum, pattern, minimum/maximum (exclusive), minLength/maxLength, items,
//! minItems/maxItems, additionalProperties, and the rest of the draft-4 subset.

use bson::Document;

use crate::error::CommandResult;

/// A parsed `$jsonSchema`.
#[derive(Debug, Clone)]
pub struct JsonSchema {}

impl JsonSchema {
    /// Parses a schema; unknown keywords are `FailedToParse` (9) as in MongoDB.
    pub fn parse(schema: &Document) -> CommandResult<JsonSchema> {
        let _ = schema;
        todo!("issue #2: jsonSchema")
    }

    /// True when the document satisfies the schema.
    pub fn is_valid(&self, document: &Document) -> bool {
        self.explain(document).is_none()
    }

    /// `None` when valid; otherwise the `schemaRulesNotSatisfied` details MongoDB reports.
    pub fn explain(&self, document: &Document) -> Option<Document> {
        let _ = document;
        todo!("issue #2: jsonSchema")
    }
}
