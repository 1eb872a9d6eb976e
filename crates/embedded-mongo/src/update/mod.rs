//! The update language: operator documents (`$set`, `$inc`, `$push`, ...), replacement
//! documents and pipeline-style updates, with positional `$`, `$[]` and `$[<id>]`.

mod error_text;
mod operators;
mod path;
mod seed;

use std::collections::BTreeMap;

use bson::{Bson, DateTime, Document};

use crate::aggregate::{Pipeline, PipelineContext};
use crate::compare::bson_equal;
use crate::error::{codes, CommandError, CommandResult};
use crate::expression::Variables;
use crate::query::Matcher;

use error_text::{render_document, render_element, render_id};
use operators::{apply_action, identical_documents, is_update_operator, parse_action};
use operators::{Action, LeafContext};
use path::{array_index, child, compare_paths, modify_path, Component, FieldPath};
use path::{ConflictRegistry, LeafChange};

pub use seed::upsert_seed;

/// The pipeline stages an update pipeline may use.
const UPDATE_PIPELINE_STAGES: [&str; 6] = [
    "$addFields",
    "$set",
    "$project",
    "$unset",
    "$replaceRoot",
    "$replaceWith",
];

/// Other aggregation stages, which exist but may not appear in an update pipeline.
const KNOWN_PIPELINE_STAGES: [&str; 20] = [
    "$match",
    "$group",
    "$sort",
    "$limit",
    "$skip",
    "$unwind",
    "$lookup",
    "$count",
    "$facet",
    "$sortByCount",
    "$out",
    "$merge",
    "$bucket",
    "$bucketAuto",
    "$sample",
    "$graphLookup",
    "$unionWith",
    "$redact",
    "$geoNear",
    "$setWindowFields",
];

/// A parsed update.
#[derive(Debug, Clone)]
pub struct UpdateSpec {
    kind: UpdateKind,
}

#[derive(Debug, Clone)]
enum UpdateKind {
    Replacement(Document),
    Operators(OperatorUpdate),
    Pipeline(Box<Pipeline>),
}

/// An update made of operators, kept in the order MongoDB applies them.
#[derive(Debug, Clone)]
struct OperatorUpdate {
    operations: Vec<Operation>,
    array_filters: BTreeMap<String, Matcher>,
}

/// One operator on one path.
#[derive(Debug, Clone)]
struct Operation {
    path: FieldPath,
    kind: OperationKind,
}

#[derive(Debug, Clone)]
enum OperationKind {
    Modify(Action),
    /// `$rename` from `path` to this destination.
    Rename(FieldPath),
}

impl Operation {
    /// The path whose position in the document order decides when this operation runs
    /// (a rename lands at its destination).
    fn order_parts(&self) -> Vec<String> {
        match &self.kind {
            OperationKind::Rename(destination) => destination.parts(),
            OperationKind::Modify(_) => self.path.parts(),
        }
    }
}

/// Per-document context for applying an update.
#[derive(Debug, Clone)]
pub struct ApplyContext {
    /// The array index that the query's positional match found (for `$`).
    pub array_position: Option<usize>,
    /// True when the update is creating a document through an upsert (`$setOnInsert` applies).
    pub inserting: bool,
    /// The time `$currentDate` and `$$NOW` use.
    pub now: DateTime,
    /// The command's `let`, seen by a pipeline update.
    pub variables: Option<Variables>,
}

impl UpdateSpec {
    /// Parses an update (`u` of the update command): a document of operators, a replacement
    /// document, or an array (pipeline). Conflicting paths are code 40; unknown modifiers code 9.
    pub fn parse(update: &Bson, array_filters: &[Document]) -> CommandResult<UpdateSpec> {
        let kind = match update {
            Bson::Document(document) => {
                let is_operators = document
                    .keys()
                    .next()
                    .is_some_and(|key| key.starts_with('$'));
                if is_operators {
                    UpdateKind::Operators(parse_operators(document, array_filters)?)
                } else {
                    // MongoDB accepts (and ignores) arrayFilters with a replacement document.
                    UpdateKind::Replacement(parse_replacement(document)?)
                }
            }
            Bson::Array(stages) => {
                reject_array_filters(array_filters, "pipeline")?;
                UpdateKind::Pipeline(Box::new(parse_pipeline(stages)?))
            }
            _ => {
                return Err(CommandError::failed_to_parse(
                    "Update argument must be either an object or an array",
                ))
            }
        };
        Ok(UpdateSpec { kind })
    }

    /// True for a replacement document (no operators).
    pub fn is_replacement(&self) -> bool {
        matches!(self.kind, UpdateKind::Replacement(_))
    }

    /// Applies the update to `document` in place and reports whether anything changed.
    /// Changing `_id` is code 66 (ImmutableField); the document is unchanged on error.
    pub fn apply(&self, document: &mut Document, context: &ApplyContext) -> CommandResult<bool> {
        let updated = match &self.kind {
            UpdateKind::Replacement(replacement) => keep_id(document, replacement.clone())?,
            UpdateKind::Operators(update) => {
                let mut working = document.clone();
                update.apply(&mut working, context)?;
                working
            }
            UpdateKind::Pipeline(pipeline) => {
                let variables = context
                    .variables
                    .clone()
                    .unwrap_or_default()
                    .with_now(context.now);
                let mut output =
                    pipeline.run(vec![document.clone()], &DetachedDocument, &variables)?;
                if output.len() != 1 {
                    return Err(CommandError::new(
                        codes::INTERNAL_ERROR,
                        "An update pipeline must produce exactly one document",
                    ));
                }
                keep_id(document, output.remove(0))?
            }
        };
        check_id_type(&updated)?;
        let changed = !identical_documents(document, &updated);
        *document = updated;
        Ok(changed)
    }
}

/// MongoDB refuses to store an `_id` that is an array, a regex or undefined (code 53).
fn check_id_type(document: &Document) -> CommandResult<()> {
    match document.get("_id") {
        Some(id @ (Bson::Array(_) | Bson::RegularExpression(_) | Bson::Undefined)) => {
            Err(CommandError::new(
                codes::INVALID_ID_FIELD,
                format!(
                    "The '_id' value cannot be of type {}",
                    error_text::type_name(id)
                ),
            ))
        }
        Some(id) if crate::storage::write::dollar_prefixed_field_in_id(id).is_some() => {
            Err(crate::storage::write::id_with_dollar_prefixed_field(id))
        }
        _ => Ok(()),
    }
}

fn reject_array_filters(array_filters: &[Document], style: &str) -> CommandResult<()> {
    if array_filters.is_empty() {
        Ok(())
    } else {
        Err(CommandError::failed_to_parse(format!(
            "arrayFilters may not be specified for {style}-style updates"
        )))
    }
}

fn parse_replacement(document: &Document) -> CommandResult<Document> {
    if let Some(key) = document.keys().find(|key| key.starts_with('$')) {
        return Err(CommandError::new(
            codes::DOLLAR_PREFIXED_FIELD_NAME,
            format!(
                "The dollar ($) prefixed field '{key}' in '{key}' is not allowed in the context \
                 of an update's replacement document. Consider using an aggregation pipeline \
                 with $replaceWith."
            ),
        ));
    }
    Ok(document.clone())
}

/// Checks an update pipeline's stages. MongoDB parses update pipelines with the command, so a
/// bad stage fails the whole command rather than one statement of it.
pub fn check_update_pipeline(stages: &[Bson]) -> CommandResult<()> {
    parse_pipeline(stages).map(|_| ())
}

fn parse_pipeline(stages: &[Bson]) -> CommandResult<Pipeline> {
    for stage in stages {
        let Bson::Document(stage) = stage else {
            return Err(CommandError::type_mismatch(
                "Each element of the 'pipeline' array must be an object",
            ));
        };
        if let Some(name) = stage.keys().next() {
            if !UPDATE_PIPELINE_STAGES.contains(&name.as_str()) {
                // MongoDB parses the pipeline first, so an unknown stage reports its own error.
                if !KNOWN_PIPELINE_STAGES.contains(&name.as_str()) {
                    Pipeline::parse(stages)?;
                }
                return Err(CommandError::new(
                    codes::INVALID_OPTIONS,
                    format!("{name} is not allowed to be used within an update"),
                ));
            }
        }
    }
    Pipeline::parse(stages)
}

/// The result of replacing `original` with `replacement`, as MongoDB's replacement executor
/// does it: a replacement without `_id` keeps the original `_id` (first); one with an `_id` keeps
/// its own order but may not change the value (code 66).
fn keep_id(original: &Document, replacement: Document) -> CommandResult<Document> {
    let Some(id) = original.get("_id") else {
        return Ok(replacement);
    };
    if let Some(new_id) = replacement.get("_id") {
        if !bson_equal(new_id, id) {
            return Err(CommandError::new(
                codes::IMMUTABLE_FIELD,
                format!(
                    "After applying the update, the (immutable) field '_id' was found to have \
                     been altered to {}",
                    render_element("_id", new_id)
                ),
            ));
        }
        return Ok(replacement);
    }
    let mut result = Document::new();
    result.insert("_id", id.clone());
    result.extend(replacement);
    Ok(result)
}

/// A pipeline update sees no other collections.
struct DetachedDocument;

impl PipelineContext for DetachedDocument {
    fn collection_documents(&self, _collection: &str) -> CommandResult<Vec<Document>> {
        Ok(Vec::new())
    }
}

fn parse_operators(
    update: &Document,
    array_filter_documents: &[Document],
) -> CommandResult<OperatorUpdate> {
    let mut conflicts = ConflictRegistry::default();
    let mut operations = Vec::new();
    for (operator, argument) in update {
        if !is_update_operator(operator) {
            return Err(unknown_modifier(operator));
        }
        let Bson::Document(fields) = argument else {
            return Err(CommandError::failed_to_parse(format!(
                "Modifiers operate on fields but we found type {} instead. For example: {{$mod: \
                 {{<field>: ...}}}} not {{{}}}",
                error_text::type_name(argument),
                render_element(operator, argument)
            )));
        };
        for (field, value) in fields {
            let path = FieldPath::parse(field)?;
            let kind = if operator == "$rename" {
                let destination = parse_rename(&path, value)?;
                conflicts.register(&path)?;
                conflicts.register(&destination)?;
                OperationKind::Rename(destination)
            } else {
                let action = parse_action(operator, field, value)?;
                conflicts.register(&path)?;
                OperationKind::Modify(action)
            };
            operations.push(Operation { path, kind });
        }
    }
    operations.sort_by(|a, b| compare_paths(&a.order_parts(), &b.order_parts()));
    let array_filters = parse_array_filters(array_filter_documents)?;
    check_identifiers(update, &operations, &array_filters)?;
    Ok(OperatorUpdate {
        operations,
        array_filters,
    })
}

fn unknown_modifier(operator: &str) -> CommandError {
    CommandError::failed_to_parse(format!(
        "Unknown modifier: {operator}. Expected a valid update modifier or pipeline-style update \
         specified as an array"
    ))
}

fn parse_rename(source: &FieldPath, destination: &Bson) -> CommandResult<FieldPath> {
    let Bson::String(target) = destination else {
        return Err(CommandError::bad_value(format!(
            "The 'to' field for $rename must be a string: {}",
            render_element(&source.text, destination)
        )));
    };
    let target_path = FieldPath::parse(target)?;
    if source.is_dynamic() {
        return Err(CommandError::bad_value(format!(
            "The source field for $rename may not be dynamic: {}",
            source.text
        )));
    }
    if target_path.is_dynamic() {
        return Err(CommandError::bad_value(format!(
            "The destination field for $rename may not be dynamic: {target}"
        )));
    }
    let source_parts = source.parts();
    let target_parts = target_path.parts();
    if source_parts == target_parts {
        return Err(CommandError::bad_value(format!(
            "The source and target field for $rename must differ: {}",
            render_element(&source.text, destination)
        )));
    }
    let shared = source_parts.len().min(target_parts.len());
    if source_parts[..shared] == target_parts[..shared] {
        return Err(CommandError::bad_value(format!(
            "The source and target field for $rename must not be on the same path: {}",
            render_element(&source.text, destination)
        )));
    }
    Ok(target_path)
}

/// Parses `arrayFilters`: each filter names one identifier through its top-level fields
/// (`{"elem.grade": {$gte: 85}}` or `{elem: {$gte: 85}}`) and is matched against a document
/// `{<identifier>: element}`.
fn parse_array_filters(filters: &[Document]) -> CommandResult<BTreeMap<String, Matcher>> {
    let mut parsed = BTreeMap::new();
    for filter in filters {
        let mut identifiers = Vec::new();
        collect_identifiers(filter, &mut identifiers);
        let Some(identifier) = identifiers.first().cloned() else {
            return Err(CommandError::failed_to_parse(
                "Cannot use an expression without a top-level field name in arrayFilters",
            ));
        };
        if let Some(other) = identifiers.iter().find(|other| **other != identifier) {
            return Err(CommandError::failed_to_parse(format!(
                "Error parsing array filter :: caused by :: Expected a single top-level field \
                 name, found '{identifier}' and '{other}'"
            )));
        }
        let valid = identifier.starts_with(|c: char| c.is_ascii_lowercase())
            && identifier.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid {
            return Err(CommandError::bad_value(format!(
                "Error parsing array filter :: caused by :: The top-level field name must be an \
                 alphanumeric string beginning with a lowercase letter, found '{identifier}'"
            )));
        }
        if parsed.contains_key(&identifier) {
            return Err(CommandError::failed_to_parse(format!(
                "Found multiple array filters with the same top-level field name {identifier}"
            )));
        }
        parsed.insert(identifier, Matcher::parse(filter)?);
    }
    Ok(parsed)
}

/// The identifiers a filter's top-level fields start with, looking inside `$and/$or/$nor`.
fn collect_identifiers(filter: &Document, identifiers: &mut Vec<String>) {
    for (key, value) in filter {
        if matches!(key.as_str(), "$and" | "$or" | "$nor") {
            if let Bson::Array(clauses) = value {
                for clause in clauses {
                    if let Bson::Document(clause) = clause {
                        collect_identifiers(clause, identifiers);
                    }
                }
            }
        } else if !key.starts_with('$') {
            let identifier = key.split('.').next().unwrap_or_default();
            identifiers.push(identifier.to_string());
        }
    }
}

/// Every `$[<id>]` needs a filter, and every filter must be used.
fn check_identifiers(
    update: &Document,
    operations: &[Operation],
    filters: &BTreeMap<String, Matcher>,
) -> CommandResult<()> {
    let mut used = std::collections::BTreeSet::new();
    for operation in operations {
        for component in &operation.path.components {
            if let Component::Filtered(identifier) = component {
                if !filters.contains_key(identifier) {
                    return Err(CommandError::bad_value(format!(
                        "No array filter found for identifier '{identifier}' in path '{}'",
                        operation.path.text
                    )));
                }
                used.insert(identifier.clone());
            }
        }
    }
    if let Some(unused) = filters
        .keys()
        .find(|identifier| !used.contains(*identifier))
    {
        return Err(CommandError::failed_to_parse(format!(
            "The array filter for identifier '{unused}' was not used in the update {}",
            render_document(update)
        )));
    }
    Ok(())
}

impl OperatorUpdate {
    fn apply(&self, document: &mut Document, context: &ApplyContext) -> CommandResult<()> {
        // Positional paths can only conflict once resolved against the document.
        let dynamic = self
            .operations
            .iter()
            .any(|operation| operation.path.is_dynamic());
        // MongoDB matches array filters against the document as it was before the update, so
        // every path is resolved before any operation runs.
        let mut resolved = Vec::with_capacity(self.operations.len());
        for operation in &self.operations {
            resolved.push(match operation.kind {
                OperationKind::Modify(_) => self.resolve(document, &operation.path, context)?,
                OperationKind::Rename(_) => Vec::new(),
            });
        }
        let mut touched: Vec<Vec<String>> = Vec::new();
        for (operation, targets) in self.operations.iter().zip(resolved) {
            let id_before = document.get("_id").cloned();
            match &operation.kind {
                OperationKind::Modify(action) => {
                    if dynamic {
                        check_resolved_conflicts(&mut touched, &targets)?;
                    }
                    let id_text = render_id(document);
                    for target in targets {
                        let field = target.last().cloned().unwrap_or_default();
                        let dotted = target.join(".");
                        let leaf_context = LeafContext {
                            field: &field,
                            path: &dotted,
                            id_text: &id_text,
                            now: context.now,
                            inserting: context.inserting,
                        };
                        modify_path(document, &target, &mut |current| {
                            apply_action(action, current, &leaf_context)
                        })?;
                    }
                }
                OperationKind::Rename(destination) => {
                    if dynamic {
                        let moved = [operation.path.parts(), destination.parts()];
                        check_resolved_conflicts(&mut touched, &moved)?;
                    }
                    rename(document, &operation.path, destination)?
                }
            }
            check_id_unchanged(id_before.as_ref(), document, &operation.path, context)?;
        }
        Ok(())
    }

    /// The concrete paths a path with positional components stands for in `document`.
    fn resolve(
        &self,
        document: &Document,
        path: &FieldPath,
        context: &ApplyContext,
    ) -> CommandResult<Vec<Vec<String>>> {
        let mut results = Vec::new();
        // Parsing guarantees the first component is a plain field name.
        let Some((Component::Field(first), rest)) = path.components.split_first() else {
            return Ok(results);
        };
        self.resolve_from(
            document.get(first),
            rest,
            vec![first.clone()],
            context,
            &mut results,
        )?;
        Ok(results)
    }

    fn resolve_from(
        &self,
        current: Option<&Bson>,
        components: &[Component],
        prefix: Vec<String>,
        context: &ApplyContext,
        results: &mut Vec<Vec<String>>,
    ) -> CommandResult<()> {
        let Some((component, rest)) = components.split_first() else {
            results.push(prefix);
            return Ok(());
        };
        let step = |name: String| {
            let next = current.and_then(|value| child(value, &name));
            let mut extended = prefix.clone();
            extended.push(name);
            (next, extended)
        };
        match component {
            Component::Field(name) => {
                let (next, extended) = step(name.clone());
                self.resolve_from(next, rest, extended, context, results)
            }
            Component::Positional => {
                let Some(position) = context.array_position else {
                    return Err(CommandError::bad_value(
                        "The positional operator did not find the match needed from the query.",
                    ));
                };
                let (next, extended) = step(position.to_string());
                self.resolve_from(next, rest, extended, context, results)
            }
            Component::AllElements | Component::Filtered(_) => {
                let items = match current {
                    Some(Bson::Array(items)) => items,
                    None => {
                        return Err(CommandError::bad_value(format!(
                            "The path '{}' must exist in the document in order to apply array \
                             updates.",
                            prefix.join(".")
                        )))
                    }
                    Some(other) => {
                        let name = prefix.last().cloned().unwrap_or_default();
                        return Err(CommandError::bad_value(format!(
                            "Cannot apply array updates to non-array element {}",
                            render_element(&name, other)
                        )));
                    }
                };
                let matcher = match component {
                    Component::Filtered(identifier) => {
                        Some((identifier, self.array_filters.get(identifier)))
                    }
                    _ => None,
                };
                for (index, item) in items.iter().enumerate() {
                    if let Some((identifier, filter)) = &matcher {
                        let mut wrapped = Document::new();
                        wrapped.insert(identifier.as_str(), item.clone());
                        if !filter.is_some_and(|filter| filter.matches(&wrapped)) {
                            continue;
                        }
                    }
                    let mut extended = prefix.clone();
                    extended.push(index.to_string());
                    self.resolve_from(Some(item), rest, extended, context, results)?;
                }
                Ok(())
            }
        }
    }
}

/// Records the concrete paths one operation changes, failing (code 40) when one of them is, or
/// is inside, a path an earlier operation changed (two array filters matching one element).
fn check_resolved_conflicts(
    touched: &mut Vec<Vec<String>>,
    targets: &[Vec<String>],
) -> CommandResult<()> {
    for target in targets {
        for earlier in touched.iter() {
            let shared = earlier.len().min(target.len());
            if earlier[..shared] == target[..shared] {
                return Err(CommandError::new(
                    codes::CONFLICTING_UPDATE_OPERATORS,
                    format!(
                        "Update created a conflict at '{}'",
                        target[..shared].join(".")
                    ),
                ));
            }
        }
    }
    touched.extend(targets.iter().cloned());
    Ok(())
}

fn check_id_unchanged(
    before: Option<&Bson>,
    document: &Document,
    path: &FieldPath,
    context: &ApplyContext,
) -> CommandResult<()> {
    let after = document.get("_id");
    let changed = match (before, after) {
        (Some(a), Some(b)) => !bson_equal(a, b),
        (Some(_), None) => true,
        (None, Some(_)) => !context.inserting,
        (None, None) => false,
    };
    if changed {
        let touched = if path.parts().first().is_some_and(|first| first == "_id") {
            path.text.clone()
        } else {
            "_id".to_string()
        };
        return Err(CommandError::new(
            codes::IMMUTABLE_FIELD,
            format!(
                "Performing an update on the path '{touched}' would modify the immutable field \
                 '_id'"
            ),
        ));
    }
    Ok(())
}

/// `$rename`: moves the value at `source` to `destination`; neither may go through an array.
fn rename(
    document: &mut Document,
    source: &FieldPath,
    destination: &FieldPath,
) -> CommandResult<()> {
    let source_parts = source.parts();
    let destination_parts = destination.parts();
    let id = || match document.get("_id") {
        Some(id) => render_element("_id", id),
        None => "no id".to_string(),
    };
    let Some(value) = rename_source(document, &source_parts, &source.text)?.cloned() else {
        return Ok(());
    };
    if let Some(array_name) = array_on_path(document, &source_parts) {
        return Err(CommandError::bad_value(format!(
            "The source field cannot be an array element, '{}' in doc with {} has an array \
             field called '{array_name}'",
            source.text,
            id()
        )));
    }
    if let Some(array_name) = array_on_path(document, &destination_parts) {
        return Err(CommandError::bad_value(format!(
            "The destination field cannot be an array element, '{}' in doc with {} has an \
             array field called '{array_name}'",
            destination.text,
            id()
        )));
    }
    if source_parts.first().is_some_and(|first| first == "_id") {
        return Err(CommandError::new(
            codes::IMMUTABLE_FIELD,
            format!(
                "Unsetting the path '{}' using $rename would modify the immutable field '_id'",
                source.text
            ),
        ));
    }
    modify_path(document, &destination_parts, &mut |_| {
        Ok(LeafChange::Store(value.clone()))
    })?;
    modify_path(document, &source_parts, &mut |_| Ok(LeafChange::Remove))
}

/// The value a `$rename` moves, or `None` when the source does not exist. A source path that
/// runs into a scalar (or indexes an array by name) is code 28.
fn rename_source<'a>(
    document: &'a Document,
    parts: &[String],
    text: &str,
) -> CommandResult<Option<&'a Bson>> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(None);
    };
    let mut current_name = first;
    let Some(mut current) = document.get(first) else {
        return Ok(None);
    };
    for name in rest {
        let viable = match current {
            Bson::Document(_) => true,
            Bson::Array(_) => array_index(name).is_some(),
            _ => false,
        };
        if !viable {
            return Err(CommandError::new(
                codes::PATH_NOT_VIABLE,
                format!(
                    "cannot use the part ({name} of {text}) to traverse the element ({{{}}})",
                    render_element(current_name, current)
                ),
            ));
        }
        match child(current, name) {
            Some(next) => {
                current = next;
                current_name = name;
            }
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// The name of the first array met strictly before the last component of `path`, if any.
fn array_on_path(document: &Document, path: &[String]) -> Option<String> {
    let mut current = document.get(path.first()?)?;
    for (index, name) in path.iter().enumerate().skip(1) {
        if let Bson::Array(_) = current {
            return Some(path[index - 1].clone());
        }
        current = child(current, name)?;
    }
    None
}

#[cfg(test)]
mod tests;
