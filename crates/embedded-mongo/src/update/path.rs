//! Update paths: parsing dotted paths with positional components (`$`, `$[]`, `$[<id>]`),
//! detecting conflicting paths, the order MongoDB applies them in, and the walker that changes
//! the value at a concrete path (creating intermediate documents, padding arrays with nulls).

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::error_text::render_element;
use crate::error::{codes, CommandError, CommandResult};

/// MongoDB's `EmptyFieldName` code (not among the shared codes): an update path with an empty
/// component.
pub const EMPTY_FIELD_NAME: i32 = 56;

/// MongoDB's `CannotBackfillArray` code (not among the shared codes): setting an index too far
/// past the end of an array.
pub const CANNOT_BACKFILL_ARRAY: i32 = 34;

/// MongoDB refuses to pad an array with more than this many nulls when setting past its end.
const MAX_ARRAY_PADDING: usize = 1_500_000;

/// One component of an update path.
#[derive(Debug, Clone, PartialEq)]
pub enum Component {
    /// A field name, or an array index when it is all digits and meets an array.
    Field(String),
    /// `$`: the array index the query matched.
    Positional,
    /// `$[]`: every element of the array.
    AllElements,
    /// `$[<identifier>]`: the elements matching the array filter named `identifier`.
    Filtered(String),
}

impl Component {
    fn text(&self) -> String {
        match self {
            Component::Field(name) => name.clone(),
            Component::Positional => "$".to_string(),
            Component::AllElements => "$[]".to_string(),
            Component::Filtered(identifier) => format!("$[{identifier}]"),
        }
    }
}

/// A parsed update path such as `grades.$[elem].score`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPath {
    /// The path as the client wrote it, for error messages.
    pub text: String,
    /// Its components, in order.
    pub components: Vec<Component>,
}

impl FieldPath {
    /// Parses and validates a path written in an update operator.
    pub fn parse(text: &str) -> CommandResult<FieldPath> {
        if text.is_empty() {
            return Err(CommandError::new(
                EMPTY_FIELD_NAME,
                "An empty update path is not valid.",
            ));
        }
        let mut components = Vec::new();
        let mut positional_count = 0;
        for (index, part) in text.split('.').enumerate() {
            if part.is_empty() {
                return Err(CommandError::new(
                    EMPTY_FIELD_NAME,
                    format!(
                        "The update path '{text}' contains an empty field name, which is not allowed."
                    ),
                ));
            }
            let component = if part == "$" {
                positional_count += 1;
                Component::Positional
            } else if part == "$[]" {
                Component::AllElements
            } else if let Some(identifier) = part
                .strip_prefix("$[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                Component::Filtered(identifier.to_string())
            } else if index == 0 && part.starts_with('$') {
                // Since 5.0 only top-level field names may not start with `$`.
                return Err(CommandError::new(
                    codes::DOLLAR_PREFIXED_FIELD_NAME,
                    format!(
                        "The dollar ($) prefixed field '{part}' in '{part}' is not allowed in the \
                         context of an update's replacement document. Consider using an \
                         aggregation pipeline with $replaceWith."
                    ),
                ));
            } else {
                Component::Field(part.to_string())
            };
            if index == 0 && !matches!(component, Component::Field(_)) {
                return Err(CommandError::bad_value(format!(
                    "Cannot have positional (i.e. '$') element in the first position in path '{text}'"
                )));
            }
            components.push(component);
        }
        if positional_count > 1 {
            return Err(CommandError::bad_value(format!(
                "Too many positional (i.e. '$') elements found in path '{text}'"
            )));
        }
        Ok(FieldPath {
            text: text.to_string(),
            components,
        })
    }

    /// True when the path has `$`, `$[]` or `$[<id>]` components.
    pub fn is_dynamic(&self) -> bool {
        self.components
            .iter()
            .any(|component| !matches!(component, Component::Field(_)))
    }

    /// The component texts, used for conflict detection and ordering.
    pub fn parts(&self) -> Vec<String> {
        self.components.iter().map(Component::text).collect()
    }
}

/// Records every path an update touches and rejects one that equals, or is a prefix of, or
/// extends a path already recorded (code 40, ConflictingUpdateOperators).
#[derive(Debug, Default)]
pub struct ConflictRegistry {
    paths: Vec<Vec<String>>,
}

impl ConflictRegistry {
    /// Records `path`, failing when it conflicts with an earlier one.
    pub fn register(&mut self, path: &FieldPath) -> CommandResult<()> {
        let parts = path.parts();
        for existing in &self.paths {
            let shared = existing.len().min(parts.len());
            if existing[..shared] == parts[..shared] {
                return Err(CommandError::new(
                    codes::CONFLICTING_UPDATE_OPERATORS,
                    format!(
                        "Updating the path '{}' would create a conflict at '{}'",
                        path.text,
                        parts[..shared].join(".")
                    ),
                ));
            }
        }
        self.paths.push(parts);
        Ok(())
    }
}

/// The order MongoDB 5.0+ applies update paths in: component by component, numeric names in
/// numeric order, other names in byte order.
pub fn compare_paths(left: &[String], right: &[String]) -> Ordering {
    for (a, b) in left.iter().zip(right.iter()) {
        let order = compare_field_names(a, b);
        if order != Ordering::Equal {
            return order;
        }
    }
    left.len().cmp(&right.len())
}

fn compare_field_names(a: &str, b: &str) -> Ordering {
    let numeric = |name: &str| !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let a = a.trim_start_matches('0');
        let b = b.trim_start_matches('0');
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

/// The index an all-digit path component names, if it is one. As in MongoDB, a component with
/// a leading zero (`01`) is a field name, not an index.
pub fn array_index(name: &str) -> Option<usize> {
    if name.is_empty() || !name.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if name.len() > 1 && name.starts_with('0') {
        return None;
    }
    // Absurdly long digit strings are never valid indexes; treat them as past the end.
    Some(name.parse::<usize>().unwrap_or(usize::MAX))
}

/// What an operator does to the value at its path, given the current value (`None` when the
/// path does not exist or cannot be reached).
#[derive(Debug, Clone, PartialEq)]
pub enum LeafChange {
    /// Leave the document as it is.
    Keep,
    /// Leave the document as it is, but fail (code 28) when a scalar blocks the path, as
    /// `$pull`, `$pullAll` and `$pop` do.
    KeepIfViable,
    /// Store this value at the path, creating intermediate documents as needed.
    Store(Bson),
    /// Remove the field (an array element becomes null, as `$unset` does).
    Remove,
}

type Leaf<'a> = dyn FnMut(Option<&Bson>) -> CommandResult<LeafChange> + 'a;

/// Changes the value at a concrete path of `document` with `leaf`.
///
/// A path that cannot be reached because a scalar (or an array with a non-numeric component)
/// is in the way is an error only when `leaf` wants to store a value there or asks for a
/// viable path (code 28).
pub fn modify_path(
    document: &mut Document,
    path: &[String],
    leaf: &mut Leaf<'_>,
) -> CommandResult<()> {
    modify_in_document(document, path, 0, leaf)
}

fn modify_in_document(
    document: &mut Document,
    path: &[String],
    depth: usize,
    leaf: &mut Leaf<'_>,
) -> CommandResult<()> {
    let Some(first) = path.get(depth) else {
        return Ok(());
    };
    if depth + 1 == path.len() {
        match leaf(document.get(first))? {
            LeafChange::Keep | LeafChange::KeepIfViable => {}
            LeafChange::Store(value) => {
                document.insert(first.clone(), value);
            }
            LeafChange::Remove => {
                document.remove(first);
            }
        }
        return Ok(());
    }
    match document.get_mut(first) {
        Some(Bson::Document(inner)) => modify_in_document(inner, path, depth + 1, leaf),
        Some(Bson::Array(items)) => modify_in_array(items, path, depth + 1, leaf),
        Some(blocking) => blocked(path, depth, blocking, leaf),
        None => {
            if let LeafChange::Store(value) = leaf(None)? {
                document.insert(first.clone(), nested_value(&path[depth + 1..], value));
            }
            Ok(())
        }
    }
}

/// `items` is the array named `path[depth - 1]`; `path[depth]` should index it.
fn modify_in_array(
    items: &mut Vec<Bson>,
    path: &[String],
    depth: usize,
    leaf: &mut Leaf<'_>,
) -> CommandResult<()> {
    let Some(first) = path.get(depth) else {
        return Ok(());
    };
    let Some(index) = array_index(first) else {
        let array = Bson::Array(std::mem::take(items));
        let result = blocked(path, depth - 1, &array, leaf);
        if let Bson::Array(restored) = array {
            *items = restored;
        }
        return result;
    };
    if index >= items.len() {
        if let LeafChange::Store(value) = leaf(None)? {
            if index - items.len() > MAX_ARRAY_PADDING {
                return Err(CommandError::new(
                    CANNOT_BACKFILL_ARRAY,
                    format!("can't backfill more than {MAX_ARRAY_PADDING} elements"),
                ));
            }
            items.resize(index, Bson::Null);
            items.push(nested_value(&path[depth + 1..], value));
        }
        return Ok(());
    }
    if depth + 1 == path.len() {
        match leaf(Some(&items[index]))? {
            LeafChange::Keep | LeafChange::KeepIfViable => {}
            LeafChange::Store(value) => items[index] = value,
            LeafChange::Remove => items[index] = Bson::Null,
        }
        return Ok(());
    }
    match &mut items[index] {
        Bson::Document(inner) => modify_in_document(inner, path, depth + 1, leaf),
        Bson::Array(inner) => modify_in_array(inner, path, depth + 1, leaf),
        blocking => blocked(path, depth, blocking, leaf),
    }
}

/// The value `path[depth]` is a scalar (or an array the next component cannot index), so the
/// rest of the path does not exist and cannot be created.
fn blocked(
    path: &[String],
    depth: usize,
    blocking: &Bson,
    leaf: &mut Leaf<'_>,
) -> CommandResult<()> {
    let element = || render_element(&path[depth], blocking);
    let next = &path[depth + 1];
    match leaf(None)? {
        LeafChange::Store(_) => Err(CommandError::new(
            codes::PATH_NOT_VIABLE,
            format!("Cannot create field '{next}' in element {{{}}}", element()),
        )),
        LeafChange::KeepIfViable => Err(CommandError::new(
            codes::PATH_NOT_VIABLE,
            format!(
                "Cannot use the part ({next}) of ({}) to traverse the element ({{{}}})",
                path.join("."),
                element()
            ),
        )),
        LeafChange::Keep | LeafChange::Remove => Ok(()),
    }
}

/// The child of a document field or array element named `name`.
pub fn child<'a>(value: &'a Bson, name: &str) -> Option<&'a Bson> {
    match value {
        Bson::Document(document) => document.get(name),
        Bson::Array(items) => array_index(name).and_then(|index| items.get(index)),
        _ => None,
    }
}

/// `value` wrapped in documents for the remaining components (`["b", "c"]` → `{b: {c: value}}`).
fn nested_value(path: &[String], value: Bson) -> Bson {
    path.iter().rev().fold(value, |inner, name| {
        let mut document = Document::new();
        document.insert(name.clone(), inner);
        Bson::Document(document)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn names(path: &str) -> Vec<String> {
        path.split('.').map(str::to_string).collect()
    }

    fn store(value: Bson) -> impl FnMut(Option<&Bson>) -> CommandResult<LeafChange> {
        move |_| Ok(LeafChange::Store(value.clone()))
    }

    #[test]
    fn storing_creates_intermediate_documents_even_for_numeric_names() {
        let mut document = doc! {"x": 1};
        modify_path(&mut document, &names("a.0.b"), &mut store(Bson::Int32(5))).unwrap();
        assert_eq!(document, doc! {"x": 1, "a": {"0": {"b": 5}}});
    }

    #[test]
    fn storing_past_the_end_of_an_array_pads_with_nulls() {
        let mut document = doc! {"a": [1]};
        modify_path(&mut document, &names("a.3"), &mut store(Bson::Int32(4))).unwrap();
        assert_eq!(document, doc! {"a": [1, null, null, 4]});
    }

    #[test]
    fn storing_through_a_scalar_is_path_not_viable() {
        let mut document = doc! {"a": 1};
        let error =
            modify_path(&mut document, &names("a.b"), &mut store(Bson::Int32(5))).unwrap_err();
        assert_eq!(error.code, codes::PATH_NOT_VIABLE);
        assert_eq!(error.message, "Cannot create field 'b' in element {a: 1}");
    }

    #[test]
    fn removing_through_a_scalar_is_a_no_op() {
        let mut document = doc! {"a": 1};
        modify_path(&mut document, &names("a.b"), &mut |_| {
            Ok(LeafChange::Remove)
        })
        .unwrap();
        assert_eq!(document, doc! {"a": 1});
    }

    #[test]
    fn prefix_paths_conflict_at_the_shorter_path() {
        let mut registry = ConflictRegistry::default();
        registry.register(&FieldPath::parse("a").unwrap()).unwrap();
        registry.register(&FieldPath::parse("ab").unwrap()).unwrap();
        let error = registry
            .register(&FieldPath::parse("a.b").unwrap())
            .unwrap_err();
        assert_eq!(error.code, codes::CONFLICTING_UPDATE_OPERATORS);
        assert_eq!(
            error.message,
            "Updating the path 'a.b' would create a conflict at 'a'"
        );
    }

    #[test]
    fn numeric_names_order_numerically() {
        assert_eq!(
            compare_paths(&names("a.10"), &names("a.9")),
            Ordering::Greater
        );
        assert_eq!(compare_paths(&names("b"), &names("a.z")), Ordering::Greater);
    }

    #[test]
    fn malformed_paths_are_rejected() {
        assert_eq!(FieldPath::parse("").unwrap_err().code, EMPTY_FIELD_NAME);
        assert_eq!(FieldPath::parse("a..b").unwrap_err().code, EMPTY_FIELD_NAME);
        assert_eq!(
            FieldPath::parse("a.$.b.$").unwrap_err().message,
            "Too many positional (i.e. '$') elements found in path 'a.$.b.$'"
        );
        assert_eq!(
            FieldPath::parse("$foo.a").unwrap_err().code,
            codes::DOLLAR_PREFIXED_FIELD_NAME
        );
        assert_eq!(
            FieldPath::parse("a.$foo").unwrap().components[1],
            Component::Field("$foo".to_string())
        );
        assert_eq!(FieldPath::parse("$[]").unwrap_err().code, codes::BAD_VALUE);
        assert_eq!(
            FieldPath::parse("a.$[elem].b").unwrap().components[1],
            Component::Filtered("elem".to_string())
        );
    }
}
