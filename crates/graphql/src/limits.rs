//! What one GraphQL document may ask for, checked before async-graphql validates or runs it.
//!
//! The size, token and alias limits bound the work of parsing and validating a hostile
//! document; the root-field limit bounds how many independent lookups one request starts; the
//! depth limit bounds nesting of *data*: introspection's `__schema` / `__type` subtrees (whose
//! `ofType` chains every client's standard query nests nine deep) do not count, because they
//! read the in-memory schema and never the database. Complexity stays with async-graphql.

use std::collections::HashSet;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::Positioned;

/// Limits on one request's document.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    /// Deepest nesting of data selection sets (introspection subtrees excepted).
    pub max_depth: usize,
    /// Highest complexity (every field counts one, connections count their page size).
    pub max_complexity: usize,
    /// Longest query text, in bytes.
    pub max_query_bytes: usize,
    /// Most lexical tokens (names, punctuators, values) in the query text.
    pub max_tokens: usize,
    /// Most fields, `__typename` included, in the selected operation's root selection set.
    pub max_root_fields: usize,
    /// Most aliased fields in the whole document.
    pub max_aliases: usize,
    /// What each kind of caller may spend, in complexity, per minute (`crate::cost`).
    pub cost: crate::cost::CostBudgets,
    /// Memory for validated documents kept by hash (`crate::documents`), in bytes; 0 keeps none.
    pub document_cache_bytes: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        SchemaLimits {
            max_depth: 12,
            max_complexity: 10_000,
            max_query_bytes: 32 * 1024,
            max_tokens: 4_000,
            max_root_fields: 32,
            max_aliases: 64,
            cost: crate::cost::CostBudgets::default(),
            document_cache_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Which limit a document broke; the client sees it as `extensions.limit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// The query text is longer than `max_query_bytes`.
    #[error("the query is longer than {max} bytes")]
    QueryBytes {
        /// The limit.
        max: usize,
    },
    /// The query text has more than `max_tokens` tokens.
    #[error("the query has more than {max} tokens")]
    Tokens {
        /// The limit.
        max: usize,
    },
    /// The operation selects more than `max_root_fields` root fields.
    #[error("the operation selects more than {max} root fields (__typename included)")]
    RootFields {
        /// The limit.
        max: usize,
    },
    /// The document has more than `max_aliases` aliased fields.
    #[error("the document has more than {max} aliased fields")]
    Aliases {
        /// The limit.
        max: usize,
    },
    /// The data selections nest deeper than `max_depth`.
    #[error("Query is nested too deep: the limit is {max} levels")]
    Depth {
        /// The limit.
        max: usize,
    },
}

impl LimitExceeded {
    /// The name clients see in `extensions.limit`.
    pub fn name(&self) -> &'static str {
        match self {
            LimitExceeded::QueryBytes { .. } => "queryBytes",
            LimitExceeded::Tokens { .. } => "tokens",
            LimitExceeded::RootFields { .. } => "rootFields",
            LimitExceeded::Aliases { .. } => "aliases",
            LimitExceeded::Depth { .. } => "depth",
        }
    }
}

/// Checks the text limits, then parses and checks the shape limits. A document that does not
/// parse passes: async-graphql reports its syntax error with positions.
pub fn check(
    query: &str,
    operation_name: Option<&str>,
    limits: &SchemaLimits,
) -> Result<Option<CheckedDocument>, LimitExceeded> {
    if query.len() > limits.max_query_bytes {
        return Err(LimitExceeded::QueryBytes {
            max: limits.max_query_bytes,
        });
    }
    if count_tokens(query, limits.max_tokens + 1) > limits.max_tokens {
        return Err(LimitExceeded::Tokens {
            max: limits.max_tokens,
        });
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return Ok(None);
    };
    let aliases = count_aliases(&document);
    if aliases > limits.max_aliases {
        return Err(LimitExceeded::Aliases {
            max: limits.max_aliases,
        });
    }
    for operation in selected_operations(&document, operation_name) {
        let walker = Walker {
            document: &document,
        };
        let root = walker.root_fields(&operation.selection_set, &mut Vec::new());
        if root > limits.max_root_fields {
            return Err(LimitExceeded::RootFields {
                max: limits.max_root_fields,
            });
        }
        if walker.depth(
            &operation.selection_set,
            0,
            limits.max_depth,
            &mut Vec::new(),
        ) > limits.max_depth
        {
            return Err(LimitExceeded::Depth {
                max: limits.max_depth,
            });
        }
    }
    let introspects = uses_introspection(&document);
    let typenames = count_typenames(&document);
    Ok(Some(CheckedDocument {
        document,
        introspects,
        typenames,
        text_bytes: query.len(),
    }))
}

/// A parsed document within the limits.
#[derive(Clone)]
pub struct CheckedDocument {
    /// The parsed document, handed to async-graphql so it is not parsed twice.
    pub document: ExecutableDocument,
    /// Whether any selection reads `__schema` or `__type`.
    pub introspects: bool,
    /// How many `__typename` selections the document holds: async-graphql's complexity leaves
    /// them out, the cost budget counts them.
    pub typenames: usize,
    /// The length of the document's text (what `crate::documents` budgets by).
    pub text_bytes: usize,
}

fn count_typenames(document: &ExecutableDocument) -> usize {
    fn in_set(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(field.node.name.node.as_str() == "__typename")
                        + in_set(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let in_operations: usize = match &document.operations {
        DocumentOperations::Single(operation) => in_set(&operation.node.selection_set.node),
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| in_set(&operation.node.selection_set.node))
            .sum(),
    };
    in_operations
        + document
            .fragments
            .values()
            .map(|fragment| in_set(&fragment.node.selection_set.node))
            .sum::<usize>()
}

fn uses_introspection(document: &ExecutableDocument) -> bool {
    fn in_set(set: &SelectionSet) -> bool {
        set.items.iter().any(|selection| match &selection.node {
            Selection::Field(field) => {
                matches!(field.node.name.node.as_str(), "__schema" | "__type")
                    || in_set(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    let in_operations = match &document.operations {
        DocumentOperations::Single(operation) => in_set(&operation.node.selection_set.node),
        DocumentOperations::Multiple(operations) => operations
            .values()
            .any(|operation| in_set(&operation.node.selection_set.node)),
    };
    in_operations
        || document
            .fragments
            .values()
            .any(|fragment| in_set(&fragment.node.selection_set.node))
}

/// The operations a request may run: the named one, or every one when no name is given (an
/// ambiguous document then fails later anyway, but never before its limits are checked).
fn selected_operations<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Vec<&'a OperationDefinition> {
    match &document.operations {
        DocumentOperations::Single(operation) => vec![&operation.node],
        DocumentOperations::Multiple(operations) => match operation_name {
            Some(name) => operations
                .get(name)
                .map(|operation| vec![&operation.node])
                .unwrap_or_default(),
            None => operations
                .values()
                .map(|operation| &operation.node)
                .collect(),
        },
    }
}

/// Counts GraphQL tokens (names, numbers, strings, punctuators), stopping at `stop` so a huge
/// document costs no more than the limit. Commas, white space and comments are ignored, as the
/// lexer does.
pub fn count_tokens(query: &str, stop: usize) -> usize {
    let bytes = query.as_bytes();
    let mut index = 0;
    let mut tokens = 0;
    while index < bytes.len() && tokens < stop {
        let byte = bytes[index];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => index += 1,
            b'#' => {
                while index < bytes.len() && bytes[index] != b'\n' && bytes[index] != b'\r' {
                    index += 1;
                }
            }
            b'"' => {
                tokens += 1;
                index = skip_string(bytes, index);
            }
            b'.' if bytes[index..].starts_with(b"...") => {
                tokens += 1;
                index += 3;
            }
            _ if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' => {
                tokens += 1;
                index += 1;
                while index < bytes.len()
                    && (bytes[index].is_ascii_alphanumeric()
                        || matches!(bytes[index], b'_' | b'.' | b'+' | b'-'))
                {
                    index += 1;
                }
            }
            _ => {
                tokens += 1;
                index += 1;
            }
        }
    }
    tokens
}

/// The index just past the string starting at `start` (plain or block string).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut index = start + 3;
        while index < bytes.len() {
            if bytes[index..].starts_with(b"\\\"\"\"") {
                index += 4;
            } else if bytes[index..].starts_with(b"\"\"\"") {
                return index + 3;
            } else {
                index += 1;
            }
        }
        return index;
    }
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' | b'\n' | b'\r' => return index + 1,
            _ => index += 1,
        }
    }
    index
}

fn count_aliases(document: &ExecutableDocument) -> usize {
    fn in_set(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
                }
                Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = match &document.operations {
        DocumentOperations::Single(operation) => in_set(&operation.node.selection_set.node),
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| in_set(&operation.node.selection_set.node))
            .sum(),
    };
    operations
        + document
            .fragments
            .values()
            .map(|fragment| in_set(&fragment.node.selection_set.node))
            .sum::<usize>()
}

/// Walks selection sets through fragment spreads; `visiting` holds the spreads on the current
/// path, so a fragment cycle (refused later by validation) cannot loop here.
struct Walker<'a> {
    document: &'a ExecutableDocument,
}

impl<'a> Walker<'a> {
    fn spread(&self, name: &str, visiting: &[&str]) -> Option<&'a SelectionSet> {
        if visiting.contains(&name) {
            return None;
        }
        self.document
            .fragments
            .get(name)
            .map(|fragment| &fragment.node.selection_set.node)
    }

    fn root_fields(&self, set: &'a Positioned<SelectionSet>, visiting: &mut Vec<&'a str>) -> usize {
        let mut count = 0;
        let mut seen_fragments = HashSet::new();
        for selection in &set.node.items {
            count += match &selection.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(fragment) => {
                    self.root_fields(&fragment.node.selection_set, visiting)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let Some(fragment) = self.document.fragments.get(name) else {
                        continue;
                    };
                    if visiting.contains(&name) || !seen_fragments.insert(name) {
                        continue;
                    }
                    visiting.push(name);
                    let inner = self.root_fields(&fragment.node.selection_set, visiting);
                    visiting.pop();
                    inner
                }
            };
        }
        count
    }

    /// The deepest data nesting below `set`, which sits at `depth`; stops descending once past
    /// `max`, so the walk is bounded whatever the document.
    fn depth(
        &self,
        set: &'a Positioned<SelectionSet>,
        depth: usize,
        max: usize,
        visiting: &mut Vec<&'a str>,
    ) -> usize {
        self.depth_of_items(&set.node, depth, max, visiting)
    }

    fn depth_of_items(
        &self,
        set: &'a SelectionSet,
        depth: usize,
        max: usize,
        visiting: &mut Vec<&'a str>,
    ) -> usize {
        let mut deepest = depth;
        if depth > max {
            return deepest;
        }
        for selection in &set.items {
            let reached = match &selection.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    if name == "__schema" || name == "__type" {
                        // Introspection reads the schema, not the database.
                        depth
                    } else {
                        self.depth_of_items(
                            &field.node.selection_set.node,
                            depth + 1,
                            max,
                            visiting,
                        )
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.depth_of_items(&fragment.node.selection_set.node, depth, max, visiting)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    match self.spread(name, visiting) {
                        None => depth,
                        Some(inner) => {
                            visiting.push(name);
                            let reached = self.depth_of_items(inner, depth, max, visiting);
                            visiting.pop();
                            reached
                        }
                    }
                }
            };
            deepest = deepest.max(reached);
            if deepest > max {
                break;
            }
        }
        deepest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SchemaLimits {
        SchemaLimits {
            max_depth: 3,
            max_root_fields: 2,
            max_aliases: 2,
            max_tokens: 40,
            max_query_bytes: 400,
            ..SchemaLimits::default()
        }
    }

    fn refused(query: &str) -> Option<&'static str> {
        check(query, None, &limits())
            .err()
            .map(|error| error.name())
    }

    #[test]
    fn data_one_level_deeper_than_the_limit_is_refused() {
        assert_eq!(refused("{ a { b { c } } }"), None);
        assert_eq!(refused("{ a { b { c { d } } } }"), Some("depth"));
        assert_eq!(
            refused("{ a { ...F } } fragment F on A { b { c { d } } }"),
            Some("depth")
        );
    }

    #[test]
    fn introspection_subtrees_do_not_count_toward_the_depth() {
        assert_eq!(
            refused("{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"),
            None
        );
        assert_eq!(
            refused("{ a { b { __type(name: \"X\") { fields { name } } } } }"),
            None
        );
    }

    #[test]
    fn root_fields_count_typename_and_fragments() {
        assert_eq!(refused("{ a b }"), None);
        assert_eq!(refused("{ a b __typename }"), Some("rootFields"));
        assert_eq!(
            refused("{ a ...F } fragment F on Query { b c }"),
            Some("rootFields")
        );
    }

    #[test]
    fn aliases_are_counted_everywhere_in_the_document() {
        assert_eq!(refused("{ x: a y: b }"), None);
        assert_eq!(refused("{ x: a { y: b { z: c } } }"), Some("aliases"));
    }

    #[test]
    fn size_and_tokens_are_checked_before_parsing() {
        assert_eq!(
            refused(&format!("{{ a }} # {}", "x".repeat(500))),
            Some("queryBytes")
        );
        assert_eq!(
            refused(&format!("{{ a(x: [{}]) }}", "1 ".repeat(40))),
            Some("tokens")
        );
        assert_eq!(count_tokens("{ a(s: \"x y, z\") ...F } # c d", 100), 10);
        assert_eq!(count_tokens("\"\"\"block \\\"\"\" still\"\"\" b", 100), 2);
    }

    #[test]
    fn introspection_is_detected_in_fragments_too() {
        let introspects = |query: &str| {
            check(query, None, &SchemaLimits::default())
                .expect("within limits")
                .expect("parses")
                .introspects
        };
        assert!(introspects("{ __schema { queryType { name } } }"));
        assert!(introspects(
            "{ ...F } fragment F on Query { __type(name: \"X\") { name } }"
        ));
        assert!(!introspects("{ __typename me { id } }"));
    }

    #[test]
    fn fragment_cycles_do_not_loop() {
        let query = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert_eq!(refused(query), None);
    }
}
