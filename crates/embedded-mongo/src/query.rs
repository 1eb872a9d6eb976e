//! The query language: a filter document is parsed once into a [`Matcher`], which then tests
//! documents with MongoDB's semantics (dotted paths through arrays, null versus missing, ...).

use bson::Document;

use crate::error::CommandResult;
use crate::expression::Variables;

/// Options that change how a filter parses.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Fields covered by the collection's text index, with their weights; `$text` is an error
    /// (code 27, IndexNotFound) when this is `None`.
    pub text_fields: Option<Vec<(String, i32)>>,
}

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Matcher {}

/// What a successful match learned about the document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchDetails {
    /// The array index the positional `$` operator refers to (the first array element that
    /// satisfied the query on an array field), if any.
    pub array_position: Option<usize>,
}

/// A constraint on one field that an index can answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldBound {
    /// `{field: value}` or `{field: {$eq: value}}`.
    Equal(bson::Bson),
    /// `{field: {$in: [...]}}` (no regexes among the values).
    In(Vec<bson::Bson>),
    /// A range from `$gt/$gte/$lt/$lte`; `None` is unbounded on that side.
    Range {
        lower: Option<(bson::Bson, bool)>,
        upper: Option<(bson::Bson, bool)>,
    },
}

impl Matcher {
    /// Parses a filter with default options.
    pub fn parse(filter: &Document) -> CommandResult<Matcher> {
        Self::parse_with(filter, &ParseOptions::default())
    }

    /// Parses a filter; unknown operators and malformed arguments are `BadValue` (2) errors
    /// with MongoDB's messages.
    pub fn parse_with(filter: &Document, options: &ParseOptions) -> CommandResult<Matcher> {
        let _ = (filter, options);
        todo!("issue #2: query matcher")
    }

    /// True when the document matches.
    pub fn matches(&self, document: &Document) -> bool {
        self.match_details(document).is_some()
    }

    /// Matches with variables in scope for `$expr` (e.g. `$lookup`'s `let`).
    pub fn matches_with(&self, document: &Document, variables: &Variables) -> bool {
        let _ = (document, variables);
        todo!("issue #2: query matcher")
    }

    /// Matches and reports details (the positional array index), or `None` when it does not match.
    pub fn match_details(&self, document: &Document) -> Option<MatchDetails> {
        let _ = document;
        todo!("issue #2: query matcher")
    }

    /// Top-level constraints (from the root and from a root `$and`) that an index can use,
    /// as `(dotted path, bound)`. A document matching the filter always satisfies every bound.
    pub fn index_bounds(&self) -> Vec<(String, FieldBound)> {
        todo!("issue #2: query matcher")
    }

    /// True when the filter contains `$text`.
    pub fn has_text(&self) -> bool {
        todo!("issue #2: query matcher")
    }
}

/// The `errInfo.details` MongoDB reports when `document` fails a collection's `validator`.
pub fn validation_failure_details(validator: &Document, document: &Document) -> Document {
    let _ = (validator, document);
    todo!("issue #2: query matcher")
}
