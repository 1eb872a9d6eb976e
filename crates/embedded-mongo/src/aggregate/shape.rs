//! The stages that reshape each document: `$project` (inclusion, exclusion and computed
//! fields), `$addFields`/`$set`, and `$unset`.
//!
//! A specification is parsed into a tree keyed by path component, so `{"a.b": 1}` and
//! `{a: {b: 1}}` mean the same thing; expressions are evaluated against the whole input
//! document, whatever their depth in the tree.

use bson::{Bson, Document};

use crate::error::{CommandError, CommandResult};
use crate::expression::{type_name, Expression, Variables};

/// What a specification does to one field.
#[derive(Debug, Clone)]
enum Action {
    Include,
    Exclude,
    Compute(Expression),
    Nested(Vec<(String, Action)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inclusion,
    Exclusion,
    AddFields,
}

/// A parsed `$project`, `$addFields`/`$set` or `$unset` stage.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    fields: Vec<(String, Action)>,
    mode: Mode,
}

fn project_error(code: i32, message: impl std::fmt::Display) -> CommandError {
    CommandError::new(code, format!("Invalid $project :: caused by :: {message}"))
}

/// Adds `action` at `path` to the tree, rejecting a path that collides with another.
fn insert(
    fields: &mut Vec<(String, Action)>,
    path: &[&str],
    action: Action,
    full_path: &str,
) -> CommandResult<()> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(());
    };
    if first.is_empty() {
        return Err(CommandError::new(
            15998,
            "FieldPath field names may not be empty strings.",
        ));
    }
    if first.starts_with('$') {
        return Err(CommandError::new(
            16410,
            format!("FieldPath field names may not start with '$'. Consider using $getField or $setField. Found: {full_path}"),
        ));
    }
    let existing = fields.iter_mut().find(|(name, _)| name == first);
    if rest.is_empty() {
        if existing.is_some() {
            return Err(project_error(
                31250,
                format!("Path collision at {full_path}"),
            ));
        }
        fields.push((first.to_string(), action));
        return Ok(());
    }
    match existing {
        Some((_, Action::Nested(children))) => insert(children, rest, action, full_path),
        Some(_) => Err(project_error(
            31250,
            format!("Path collision at {full_path}"),
        )),
        None => {
            let mut children = Vec::new();
            insert(&mut children, rest, action, full_path)?;
            fields.push((first.to_string(), Action::Nested(children)));
            Ok(())
        }
    }
}

fn is_operator_document(document: &Document) -> bool {
    document
        .keys()
        .next()
        .is_some_and(|key| key.starts_with('$'))
}

/// Parses the fields of a specification (or sub-specification at `prefix`) into `fields`.
fn parse_fields(
    spec: &Document,
    prefix: &str,
    mode: Mode,
    fields: &mut Vec<(String, Action)>,
) -> CommandResult<()> {
    for (key, value) in spec {
        let full_path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let path: Vec<&str> = key.split('.').collect();
        let action = match value {
            Bson::Document(inner) if !inner.is_empty() && !is_operator_document(inner) => {
                let mut children = Vec::new();
                parse_fields(inner, &full_path, mode, &mut children)?;
                Action::Nested(children)
            }
            Bson::Document(inner) if inner.is_empty() => {
                if mode == Mode::AddFields {
                    Action::Compute(Expression::literal(Bson::Document(Document::new())))
                } else {
                    return Err(project_error(
                        51270,
                        format!(
                            "An empty sub-projection is not a valid value. Found empty object at path {full_path}"
                        ),
                    ));
                }
            }
            Bson::Boolean(_)
            | Bson::Int32(_)
            | Bson::Int64(_)
            | Bson::Double(_)
            | Bson::Decimal128(_)
                if mode != Mode::AddFields =>
            {
                if crate::expression::is_truthy(Some(value)) {
                    Action::Include
                } else {
                    Action::Exclude
                }
            }
            other => Action::Compute(Expression::parse(other)?),
        };
        insert(fields, &path, action, &full_path)?;
    }
    Ok(())
}

/// Walks the leaves of a `$project` tree, deciding inclusion or exclusion and rejecting
/// mixtures as MongoDB does. Top-level `_id` may be either in both kinds.
fn decide_mode(
    fields: &[(String, Action)],
    prefix: &str,
    top_level: bool,
    mode: &mut Option<Mode>,
) -> CommandResult<()> {
    for (name, action) in fields {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if top_level && name == "_id" && matches!(action, Action::Include | Action::Exclude) {
            continue;
        }
        let wanted = match action {
            Action::Nested(children) => {
                decide_mode(children, &path, false, mode)?;
                continue;
            }
            Action::Include | Action::Compute(_) => Mode::Inclusion,
            Action::Exclude => Mode::Exclusion,
        };
        match (*mode, wanted) {
            (None, _) => *mode = Some(wanted),
            (Some(Mode::Inclusion), Mode::Exclusion) => {
                return Err(project_error(
                    31254,
                    format!("Cannot do exclusion on field {path} in inclusion projection"),
                ))
            }
            (Some(Mode::Exclusion), Mode::Inclusion) => {
                return Err(if matches!(action, Action::Compute(_)) {
                    project_error(
                        31252,
                        "Cannot use expression other than $meta in exclusion projection",
                    )
                } else {
                    project_error(
                        31253,
                        format!("Cannot do inclusion on field {path} in exclusion projection"),
                    )
                })
            }
            _ => {}
        }
    }
    Ok(())
}

impl Shape {
    /// Parses a `$project` specification.
    pub(super) fn parse_project(spec: &Bson) -> CommandResult<Shape> {
        let Bson::Document(spec) = spec else {
            return Err(CommandError::new(
                15969,
                "$project specification must be an object",
            ));
        };
        if spec.is_empty() {
            return Err(project_error(
                51272,
                "projection specification must have at least one field",
            ));
        }
        let mut fields = Vec::new();
        parse_fields(spec, "", Mode::Inclusion, &mut fields)?;
        let mut mode = None;
        decide_mode(&fields, "", true, &mut mode)?;
        let id_action = fields
            .iter()
            .find(|(name, _)| name == "_id")
            .map(|(_, action)| action);
        let mode = match mode {
            Some(mode) => mode,
            // Only `_id` was given: `{_id: 0}` excludes it, `{_id: 1}` keeps only it.
            None => match id_action {
                Some(Action::Exclude) => Mode::Exclusion,
                _ => Mode::Inclusion,
            },
        };
        if mode == Mode::Inclusion && id_action.is_none() {
            fields.insert(0, ("_id".to_string(), Action::Include));
        }
        if mode == Mode::Exclusion {
            fields.retain(|(name, action)| !(name == "_id" && matches!(action, Action::Include)));
        }
        Ok(Shape { fields, mode })
    }

    /// Parses an `$addFields` (or `$set`) specification.
    pub(super) fn parse_add_fields(stage: &str, spec: &Bson) -> CommandResult<Shape> {
        let Bson::Document(spec) = spec else {
            return Err(CommandError::new(
                40272,
                format!(
                    "{stage} specification stage must be an object, got {}",
                    type_name(spec)
                ),
            ));
        };
        let mut fields = Vec::new();
        parse_fields(spec, "", Mode::AddFields, &mut fields)?;
        Ok(Shape {
            fields,
            mode: Mode::AddFields,
        })
    }

    /// Parses an `$unset` specification: a field path or an array of them.
    pub(super) fn parse_unset(spec: &Bson) -> CommandResult<Shape> {
        let paths: Vec<&String> = match spec {
            Bson::String(path) => vec![path],
            Bson::Array(items) => {
                let mut paths = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Bson::String(path) => paths.push(path),
                        _ => {
                            return Err(CommandError::new(
                                31120,
                                "$unset specification must be a string or an array containing only string values",
                            ))
                        }
                    }
                }
                paths
            }
            _ => {
                return Err(CommandError::new(
                    31002,
                    "$unset specification must be a string or an array",
                ))
            }
        };
        if paths.is_empty() {
            return Err(CommandError::new(
                31119,
                "$unset specification must be a string or an array with at least one field",
            ));
        }
        let mut fields = Vec::new();
        for path in paths {
            let components: Vec<&str> = path.split('.').collect();
            insert(&mut fields, &components, Action::Exclude, path)?;
        }
        Ok(Shape {
            fields,
            mode: Mode::Exclusion,
        })
    }

    /// Applies the stage to one document.
    pub(super) fn apply(
        &self,
        document: &Document,
        variables: &Variables,
    ) -> CommandResult<Document> {
        match self.mode {
            Mode::Inclusion => include(document, &self.fields, document, variables),
            Mode::Exclusion => Ok(exclude(document, &self.fields)),
            Mode::AddFields => {
                let mut output = document.clone();
                add_fields(&mut output, &self.fields, document, variables)?;
                Ok(output)
            }
        }
    }
}

fn has_computed(fields: &[(String, Action)]) -> bool {
    fields.iter().any(|(_, action)| match action {
        Action::Compute(_) => true,
        Action::Nested(children) => has_computed(children),
        _ => false,
    })
}

/// An inclusion projection of `document`: included fields keep the input's order, computed
/// fields follow in specification order.
fn include(
    document: &Document,
    fields: &[(String, Action)],
    root: &Document,
    variables: &Variables,
) -> CommandResult<Document> {
    let mut output = Document::new();
    for (key, value) in document {
        match fields.iter().find(|(name, _)| name == key).map(|(_, a)| a) {
            Some(Action::Include) => {
                output.insert(key.clone(), value.clone());
            }
            Some(Action::Nested(children)) => {
                if let Some(projected) = include_value(value, children, root, variables)? {
                    output.insert(key.clone(), projected);
                }
            }
            _ => {}
        }
    }
    for (key, action) in fields {
        match action {
            Action::Compute(expression) => {
                if let Some(value) = expression.evaluate(root, variables)? {
                    output.insert(key.clone(), value);
                }
            }
            Action::Nested(children) if !output.contains_key(key) && has_computed(children) => {
                let built = include(&Document::new(), children, root, variables)?;
                output.insert(key.clone(), built);
            }
            _ => {}
        }
    }
    Ok(output)
}

fn include_value(
    value: &Bson,
    children: &[(String, Action)],
    root: &Document,
    variables: &Variables,
) -> CommandResult<Option<Bson>> {
    match value {
        Bson::Document(inner) => Ok(Some(Bson::Document(include(
            inner, children, root, variables,
        )?))),
        Bson::Array(items) => {
            let mut projected = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Bson::Document(_) | Bson::Array(_) => {
                        if let Some(kept) = include_value(item, children, root, variables)? {
                            projected.push(kept);
                        }
                    }
                    _ if has_computed(children) => projected.push(Bson::Document(include(
                        &Document::new(),
                        children,
                        root,
                        variables,
                    )?)),
                    _ => {}
                }
            }
            Ok(Some(Bson::Array(projected)))
        }
        _ => Ok(None),
    }
}

/// An exclusion projection: everything except the excluded paths.
fn exclude(document: &Document, fields: &[(String, Action)]) -> Document {
    let mut output = Document::new();
    for (key, value) in document {
        match fields.iter().find(|(name, _)| name == key).map(|(_, a)| a) {
            Some(Action::Exclude) => {}
            Some(Action::Nested(children)) => {
                output.insert(key.clone(), exclude_value(value, children));
            }
            _ => {
                output.insert(key.clone(), value.clone());
            }
        }
    }
    output
}

fn exclude_value(value: &Bson, children: &[(String, Action)]) -> Bson {
    match value {
        Bson::Document(inner) => Bson::Document(exclude(inner, children)),
        Bson::Array(items) => Bson::Array(
            items
                .iter()
                .map(|item| exclude_value(item, children))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `$addFields`: sets every computed path (a missing result removes the field); a path
/// through an array sets the field in each of its documents.
fn add_fields(
    document: &mut Document,
    fields: &[(String, Action)],
    root: &Document,
    variables: &Variables,
) -> CommandResult<()> {
    for (key, action) in fields {
        match action {
            Action::Compute(expression) => match expression.evaluate(root, variables)? {
                Some(value) => {
                    document.insert(key.clone(), value);
                }
                None => {
                    document.remove(key);
                }
            },
            Action::Nested(children) => {
                let updated = match document.get(key) {
                    Some(Bson::Document(inner)) => {
                        let mut inner = inner.clone();
                        add_fields(&mut inner, children, root, variables)?;
                        Bson::Document(inner)
                    }
                    Some(Bson::Array(items)) => {
                        let mut updated = Vec::with_capacity(items.len());
                        for item in items {
                            let mut inner = match item {
                                Bson::Document(inner) => inner.clone(),
                                _ => Document::new(),
                            };
                            add_fields(&mut inner, children, root, variables)?;
                            updated.push(Bson::Document(inner));
                        }
                        Bson::Array(updated)
                    }
                    _ => {
                        let mut inner = Document::new();
                        add_fields(&mut inner, children, root, variables)?;
                        Bson::Document(inner)
                    }
                };
                document.insert(key.clone(), updated);
            }
            Action::Include | Action::Exclude => {}
        }
    }
    Ok(())
}
