//! Find projections: inclusion, exclusion, `_id` rules, positional `$`, `$elemMatch`, `$slice`,
//! and aggregation expressions in projections.

use bson::{doc, Bson, Document};

use crate::error::{CommandError, CommandResult};
use crate::expression::{Expression, Variables};
use crate::query::{check_path_length, Matcher};

/// A parsed projection.
#[derive(Debug, Clone)]
pub struct Projection {
    root: ProjectionNode,
    inclusion: bool,
}

/// The projection for one level of a document, keyed by field name in specification order.
#[derive(Debug, Clone, Default)]
struct ProjectionNode {
    fields: Vec<(String, Action)>,
}

/// What happens to one field.
#[derive(Debug, Clone)]
enum Action {
    Include,
    Exclude,
    Nested(ProjectionNode),
    /// `$slice`: `skip` is `None` for the single-number form.
    Slice {
        skip: Option<i64>,
        limit: i64,
    },
    /// `$elemMatch`: a matcher for `{field: {$elemMatch: ...}}`, tested element by element.
    ElemMatch(Box<Matcher>),
    /// `field.$`: the array element the query's positional match found.
    Positional,
    Computed(Box<Expression>),
    /// `{$meta: "textScore"}`: the `$text` relevance score the caller passes in.
    TextScore,
}

/// How a specification entry constrains the projection's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inclusion,
    Exclusion,
    Computed,
    Neutral,
}

impl ProjectionNode {
    fn get(&self, name: &str) -> Option<&Action> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, action)| action)
    }

    fn has_computed(&self) -> bool {
        self.fields.iter().any(|(_, action)| match action {
            Action::Computed(_) => true,
            Action::Nested(child) => child.has_computed(),
            _ => false,
        })
    }

    /// Adds `action` at the dotted `path`; a path that is a prefix of another is a collision.
    fn insert(&mut self, path: &str, parts: &[&str], action: Action) -> CommandResult<()> {
        let collision = || CommandError::new(31250, format!("Path collision at {path}"));
        let Some((first, rest)) = parts.split_first() else {
            return Err(collision());
        };
        let existing = self.fields.iter_mut().find(|(field, _)| field == first);
        if rest.is_empty() {
            if existing.is_some() {
                return Err(collision());
            }
            self.fields.push((first.to_string(), action));
            return Ok(());
        }
        match existing {
            Some((_, Action::Nested(child))) => child.insert(path, rest, action),
            Some(_) => Err(collision()),
            None => {
                let mut child = ProjectionNode::default();
                child.insert(path, rest, action)?;
                self.fields.push((first.to_string(), Action::Nested(child)));
                Ok(())
            }
        }
    }
}

fn is_flag(value: &Bson) -> Option<bool> {
    match value {
        Bson::Boolean(flag) => Some(*flag),
        Bson::Int32(number) => Some(*number != 0),
        Bson::Int64(number) => Some(*number != 0),
        Bson::Double(number) => Some(*number != 0.0),
        Bson::Decimal128(decimal) => Some(crate::compare::decimal_to_f64(decimal) != 0.0),
        _ => None,
    }
}

fn slice_number(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(number) => Some(i64::from(*number)),
        Bson::Int64(number) => Some(*number),
        Bson::Double(number) if number.is_finite() => Some(number.trunc() as i64),
        Bson::Decimal128(decimal) => {
            let number = crate::compare::decimal_to_f64(decimal);
            number.is_finite().then_some(number.trunc() as i64)
        }
        _ => None,
    }
}

fn parse_slice(argument: &Bson) -> CommandResult<Action> {
    if let Some(limit) = slice_number(argument) {
        return Ok(Action::Slice { skip: None, limit });
    }
    let Bson::Array(arguments) = argument else {
        return Err(CommandError::new(
            28667,
            "Argument to $slice must be a number or an array of two numbers",
        ));
    };
    let [skip, limit] = arguments.as_slice() else {
        return Err(CommandError::new(
            28667,
            "Argument to $slice must be an array of two numbers",
        ));
    };
    let (Some(skip), Some(limit)) = (slice_number(skip), slice_number(limit)) else {
        return Err(CommandError::new(
            28667,
            "Arguments to $slice must be numbers",
        ));
    };
    if limit <= 0 {
        return Err(CommandError::new(
            28724,
            "Second argument to $slice must be positive",
        ));
    }
    Ok(Action::Slice {
        skip: Some(skip),
        limit,
    })
}

/// Classifies one specification entry and builds its action.
fn parse_entry(
    path: &str,
    value: &Bson,
    positional_count: &mut usize,
) -> CommandResult<(Kind, Action)> {
    if let Some(array_path) = path.strip_suffix(".$") {
        if array_path
            .split('.')
            .any(|part| part == "$" || part.is_empty())
        {
            return Err(CommandError::bad_value(format!(
                "Positional projection '{path}' contains the positional operator more than once."
            )));
        }
        *positional_count += 1;
        if *positional_count > 1 {
            return Err(CommandError::new(
                31276,
                "Cannot specify more than one positional projection per query.",
            ));
        }
        return match is_flag(value) {
            Some(true) => Ok((Kind::Inclusion, Action::Positional)),
            _ => Err(CommandError::new(
                31395,
                "positional projection cannot be used with exclusion",
            )),
        };
    }
    if path.split('.').any(|part| part.starts_with('$')) {
        return Err(CommandError::new(
            16410,
            format!("FieldPath field names may not start with '$'. Consider using $getField or $setField. Found: {path}"),
        ));
    }
    if let Some(flag) = is_flag(value) {
        return Ok(if flag {
            (Kind::Inclusion, Action::Include)
        } else {
            (Kind::Exclusion, Action::Exclude)
        });
    }
    if let Bson::Document(operator) = value {
        match operator.keys().next().map(String::as_str) {
            Some("$slice") if operator.len() == 1 => {
                let argument = operator.get("$slice").unwrap_or(&Bson::Null);
                return Ok((Kind::Neutral, parse_slice(argument)?));
            }
            Some("$meta") if operator.len() == 1 => {
                return match operator.get("$meta") {
                    Some(Bson::String(name)) if name == "textScore" => {
                        Ok((Kind::Neutral, Action::TextScore))
                    }
                    Some(Bson::String(name)) => Err(CommandError::bad_value(format!(
                        "Unsupported argument to $meta: {name}"
                    ))),
                    _ => Err(CommandError::new(
                        17307,
                        "$meta only supports string arguments",
                    )),
                };
            }
            Some("$elemMatch") if operator.len() == 1 => {
                if path.contains('.') {
                    return Err(CommandError::new(
                        31275,
                        "Cannot use $elemMatch projection on a nested field.",
                    ));
                }
                let argument = operator.get("$elemMatch").unwrap_or(&Bson::Null);
                if !matches!(argument, Bson::Document(_)) {
                    return Err(CommandError::bad_value(
                        "elemMatch: Invalid argument, object required.",
                    ));
                }
                let matcher = Matcher::parse(&doc! {path: {"$elemMatch": argument.clone()}})?;
                return Ok((Kind::Neutral, Action::ElemMatch(Box::new(matcher))));
            }
            _ => {}
        }
    }
    Ok((
        Kind::Computed,
        Action::Computed(Box::new(Expression::parse(value)?)),
    ))
}

/// Flattens `{a: {b: 1}}` into `("a.b", 1)` so nested and dotted specifications agree.
fn flatten(prefix: &str, spec: &Document, out: &mut Vec<(String, Bson)>) -> CommandResult<()> {
    for (key, value) in spec {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        check_path_length(&path)?;
        match value {
            Bson::Document(nested) if nested.is_empty() => {
                return Err(CommandError::new(
                    51270,
                    format!("An empty sub-projection is not a valid value. Found empty object at path {path}"),
                ))
            }
            Bson::Document(nested)
                if !nested.keys().next().is_some_and(|first| first.starts_with('$')) =>
            {
                flatten(&path, nested, out)?
            }
            _ => out.push((path, value.clone())),
        }
    }
    Ok(())
}

fn slice_array(items: &[Bson], skip: Option<i64>, limit: i64) -> Vec<Bson> {
    let length = items.len() as i64;
    let (start, count) = match skip {
        None if limit >= 0 => (0, limit),
        None => ((length + limit).max(0), length),
        Some(skip) if skip >= 0 => (skip.min(length), limit),
        Some(skip) => ((length + skip).max(0), limit),
    };
    let end = start.saturating_add(count).min(length);
    items[start as usize..end.max(start) as usize].to_vec()
}

fn positional_missing() -> CommandError {
    CommandError::new(
        51246,
        "Executor error during find command :: caused by :: positional operator '.$' couldn't find a matching element in the array",
    )
}

fn apply_positional(value: &Bson, position: Option<usize>) -> CommandResult<Bson> {
    let Bson::Array(items) = value else {
        return Ok(value.clone());
    };
    let element = position
        .and_then(|index| items.get(index))
        .ok_or_else(positional_missing)?;
    Ok(Bson::Array(vec![element.clone()]))
}

fn apply_elem_match(name: &str, matcher: &Matcher, value: Option<&Bson>) -> Option<Bson> {
    let Some(Bson::Array(items)) = value else {
        return None;
    };
    items
        .iter()
        .find(|item| matcher.matches(&doc! {name: [(*item).clone()]}))
        .map(|item| Bson::Array(vec![item.clone()]))
}

/// Applies the actions that do not depend on the projection's kind.
fn apply_common(
    action: &Action,
    value: &Bson,
    position: Option<usize>,
) -> CommandResult<Option<Bson>> {
    Ok(match action {
        Action::Slice { skip, limit } => Some(match value {
            Bson::Array(items) => Bson::Array(slice_array(items, *skip, *limit)),
            other => other.clone(),
        }),
        Action::Positional => Some(apply_positional(value, position)?),
        _ => None,
    })
}

struct Applier<'a> {
    root: &'a Document,
    position: Option<usize>,
    text_score: Option<f64>,
    variables: Variables,
}

impl Applier<'_> {
    fn include_document(
        &self,
        node: &ProjectionNode,
        document: &Document,
        top: bool,
    ) -> CommandResult<Document> {
        let mut out = Document::new();
        for (name, value) in document {
            let Some(action) = node.get(name) else {
                if top && name == "_id" {
                    out.insert(name.clone(), value.clone());
                }
                continue;
            };
            match action {
                Action::Include => {
                    out.insert(name.clone(), value.clone());
                }
                Action::Nested(child) => match value {
                    Bson::Document(inner) => {
                        out.insert(name.clone(), self.include_document(child, inner, false)?);
                    }
                    Bson::Array(items) => {
                        out.insert(name.clone(), self.include_array(child, items)?);
                    }
                    _ if child.has_computed() => {
                        out.insert(
                            name.clone(),
                            self.include_document(child, &Document::new(), false)?,
                        );
                    }
                    _ => {}
                },
                Action::Slice { .. } | Action::Positional => {
                    if let Some(projected) = apply_common(action, value, self.position)? {
                        out.insert(name.clone(), projected);
                    }
                }
                Action::Exclude
                | Action::ElemMatch(_)
                | Action::Computed(_)
                | Action::TextScore => {}
            }
        }
        // Computed fields, `$elemMatch` results and new subdocuments follow the existing fields,
        // in specification order, as MongoDB places them.
        for (name, action) in &node.fields {
            match action {
                Action::Computed(expression) => {
                    if let Some(value) = expression.evaluate(self.root, &self.variables)? {
                        out.insert(name.clone(), value);
                    }
                }
                Action::ElemMatch(matcher) => {
                    if let Some(value) = apply_elem_match(name, matcher, document.get(name)) {
                        out.insert(name.clone(), value);
                    }
                }
                Action::Nested(child) if !document.contains_key(name) && child.has_computed() => {
                    out.insert(
                        name.clone(),
                        self.include_document(child, &Document::new(), false)?,
                    );
                }
                Action::TextScore => self.insert_text_score(name, &mut out),
                _ => {}
            }
        }
        Ok(out)
    }

    fn insert_text_score(&self, name: &str, out: &mut Document) {
        if let Some(score) = self.text_score {
            out.insert(name, score);
        }
    }

    fn include_array(&self, node: &ProjectionNode, items: &[Bson]) -> CommandResult<Vec<Bson>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Bson::Document(inner) => {
                    out.push(Bson::Document(self.include_document(node, inner, false)?))
                }
                Bson::Array(nested) => out.push(Bson::Array(self.include_array(node, nested)?)),
                _ if node.has_computed() => out.push(Bson::Document(self.include_document(
                    node,
                    &Document::new(),
                    false,
                )?)),
                _ => {}
            }
        }
        Ok(out)
    }

    fn exclude_document(
        &self,
        node: &ProjectionNode,
        document: &Document,
    ) -> CommandResult<Document> {
        let mut out = Document::new();
        for (name, value) in document {
            let Some(action) = node.get(name) else {
                out.insert(name.clone(), value.clone());
                continue;
            };
            match action {
                Action::Exclude => {}
                Action::Nested(child) => {
                    let projected = match value {
                        Bson::Document(inner) => {
                            Bson::Document(self.exclude_document(child, inner)?)
                        }
                        Bson::Array(items) => Bson::Array(self.exclude_array(child, items)?),
                        other => other.clone(),
                    };
                    out.insert(name.clone(), projected);
                }
                Action::ElemMatch(matcher) => {
                    if let Some(projected) = apply_elem_match(name, matcher, Some(value)) {
                        out.insert(name.clone(), projected);
                    }
                }
                Action::Slice { .. } | Action::Positional => {
                    if let Some(projected) = apply_common(action, value, self.position)? {
                        out.insert(name.clone(), projected);
                    }
                }
                Action::Include | Action::Computed(_) => {
                    out.insert(name.clone(), value.clone());
                }
                Action::TextScore => {}
            }
        }
        for (name, action) in &node.fields {
            if matches!(action, Action::TextScore) {
                self.insert_text_score(name, &mut out);
            }
        }
        Ok(out)
    }

    fn exclude_array(&self, node: &ProjectionNode, items: &[Bson]) -> CommandResult<Vec<Bson>> {
        items
            .iter()
            .map(|item| {
                Ok(match item {
                    Bson::Document(inner) => Bson::Document(self.exclude_document(node, inner)?),
                    Bson::Array(nested) => Bson::Array(self.exclude_array(node, nested)?),
                    other => other.clone(),
                })
            })
            .collect()
    }
}

impl Projection {
    /// Parses a projection; mixing inclusion and exclusion (other than `_id`) is an error
    /// (code 31254/31253 as MongoDB reports it).
    pub fn parse(projection: &Document) -> CommandResult<Projection> {
        let mut entries = Vec::with_capacity(projection.len());
        flatten("", projection, &mut entries)?;
        let mut root = ProjectionNode::default();
        let mut mode: Option<Kind> = None;
        let mut positional_count = 0;
        let mut saw_neutral = false;
        for (path, value) in &entries {
            let (kind, action) = parse_entry(path, value, &mut positional_count)?;
            let is_id = path == "_id";
            match (kind, mode) {
                (Kind::Neutral, _) => saw_neutral = true,
                // `_id` may be included or excluded in either kind of projection.
                (Kind::Inclusion | Kind::Exclusion, _) if is_id => {}
                (Kind::Exclusion, Some(Kind::Inclusion)) => {
                    return Err(CommandError::new(
                        31254,
                        format!("Cannot do exclusion on field {path} in inclusion projection"),
                    ))
                }
                (Kind::Inclusion | Kind::Computed, Some(Kind::Exclusion)) => {
                    return Err(if kind == Kind::Computed {
                        CommandError::new(
                            31252,
                            format!("Cannot use expression other than $meta in exclusion projection on field {path}"),
                        )
                    } else {
                        CommandError::new(
                            31253,
                            format!("Cannot do inclusion on field {path} in exclusion projection"),
                        )
                    })
                }
                (Kind::Exclusion, None) => mode = Some(Kind::Exclusion),
                (Kind::Inclusion | Kind::Computed, None) => mode = Some(Kind::Inclusion),
                _ => {}
            }
            let parts: Vec<&str> = path.split('.').collect();
            let parts = match path.strip_suffix(".$") {
                Some(_) => &parts[..parts.len() - 1],
                None => &parts[..],
            };
            root.insert(path, parts, action)?;
        }
        let inclusion = match mode {
            Some(kind) => kind == Kind::Inclusion,
            // Only `_id` flags and neutral operators: `$elemMatch` alone selects fields the
            // way an inclusion does, `$slice` alone keeps every other field.
            None => {
                let elem_match = root
                    .fields
                    .iter()
                    .any(|(_, action)| matches!(action, Action::ElemMatch(_)));
                let id_included = matches!(root.get("_id"), Some(Action::Include));
                elem_match || (id_included && !saw_neutral)
            }
        };
        Ok(Projection { root, inclusion })
    }

    /// Applies the projection. `array_position` comes from [`crate::query::MatchDetails`] and
    /// serves the positional `$` projection.
    pub fn apply(
        &self,
        document: &Document,
        array_position: Option<usize>,
    ) -> CommandResult<Document> {
        self.apply_with_text_score(document, array_position, None)
    }

    /// True when the projection asks for `{$meta: "textScore"}`, so the caller should compute
    /// [`crate::query::Matcher::text_score`] and use [`Projection::apply_with_text_score`].
    pub fn needs_text_score(&self) -> bool {
        self.root
            .fields
            .iter()
            .any(|(_, action)| matches!(action, Action::TextScore))
    }

    /// Applies the projection with the document's `$text` score; a `textScore` field is left
    /// out when `text_score` is `None`.
    pub fn apply_with_text_score(
        &self,
        document: &Document,
        array_position: Option<usize>,
        text_score: Option<f64>,
    ) -> CommandResult<Document> {
        let applier = Applier {
            root: document,
            position: array_position,
            text_score,
            variables: Variables::new(),
        };
        if self.inclusion {
            applier.include_document(&self.root, document, true)
        } else {
            applier.exclude_document(&self.root, document)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(spec: Document, document: Document) -> Document {
        Projection::parse(&spec)
            .unwrap_or_else(|error| panic!("{spec}: {error}"))
            .apply(&document, None)
            .unwrap()
    }

    fn parse_error(spec: Document) -> CommandError {
        match Projection::parse(&spec) {
            Ok(_) => panic!("{spec} parsed"),
            Err(error) => error,
        }
    }

    fn inventory() -> Document {
        doc! {
            "_id": 1,
            "item": "journal",
            "status": "A",
            "size": {"h": 14, "w": 21, "uom": "cm"},
            "instock": [{"warehouse": "A", "qty": 5}, {"warehouse": "C", "qty": 15}],
        }
    }

    #[test]
    fn inclusion_keeps_listed_fields_and_id_in_document_order() {
        assert_eq!(
            project(doc! {"status": 1, "item": 1}, inventory()),
            doc! {"_id": 1, "item": "journal", "status": "A"}
        );
        assert_eq!(
            project(doc! {"item": true, "status": 1, "_id": 0}, inventory()),
            doc! {"item": "journal", "status": "A"}
        );
        assert_eq!(project(doc! {"_id": 1}, inventory()), doc! {"_id": 1});
        assert_eq!(project(doc! {"missing": 1}, inventory()), doc! {"_id": 1});
    }

    #[test]
    fn exclusion_removes_listed_fields() {
        assert_eq!(
            project(doc! {"status": 0, "instock": 0}, inventory()),
            doc! {"_id": 1, "item": "journal", "size": {"h": 14, "w": 21, "uom": "cm"}}
        );
        assert_eq!(
            project(doc! {"_id": 0}, doc! {"_id": 1, "a": 2}),
            doc! {"a": 2}
        );
        assert_eq!(project(doc! {}, inventory()), inventory());
    }

    #[test]
    fn dotted_paths_project_embedded_documents_and_arrays() {
        assert_eq!(
            project(doc! {"item": 1, "size.uom": 1}, inventory()),
            doc! {"_id": 1, "item": "journal", "size": {"uom": "cm"}}
        );
        assert_eq!(
            project(doc! {"item": 1, "size": {"uom": 1}}, inventory()),
            doc! {"_id": 1, "item": "journal", "size": {"uom": "cm"}}
        );
        assert_eq!(
            project(doc! {"size.uom": 0}, inventory())
                .get_document("size")
                .unwrap(),
            &doc! {"h": 14, "w": 21}
        );
        assert_eq!(
            project(doc! {"instock.qty": 1, "_id": 0}, inventory()),
            doc! {"instock": [{"qty": 5}, {"qty": 15}]}
        );
        // Scalars inside arrays vanish under inclusion and stay under exclusion.
        let mixed = doc! {"a": [{"b": 1, "c": 2}, 3, {"c": 4}]};
        assert_eq!(
            project(doc! {"a.b": 1, "_id": 0}, mixed.clone()),
            doc! {"a": [{"b": 1}, {}]}
        );
        assert_eq!(
            project(doc! {"a.b": 0}, mixed),
            doc! {"a": [{"c": 2}, 3, {"c": 4}]}
        );
        assert_eq!(
            project(doc! {"a.b": 1}, doc! {"a": {"c": 1}}),
            doc! {"a": {}}
        );
        assert_eq!(project(doc! {"a.b": 1}, doc! {"a": 5}), doc! {});
    }

    #[test]
    fn mixing_inclusion_and_exclusion_is_an_error() {
        let error = parse_error(doc! {"a": 1, "b": 0});
        assert_eq!(error.code, 31254);
        assert_eq!(
            error.message,
            "Cannot do exclusion on field b in inclusion projection"
        );
        let error = parse_error(doc! {"a": 0, "b.c": 1});
        assert_eq!(error.code, 31253);
        assert_eq!(
            error.message,
            "Cannot do inclusion on field b.c in exclusion projection"
        );
        assert!(Projection::parse(&doc! {"_id": 0, "a": 1}).is_ok());
        assert!(Projection::parse(&doc! {"a": 0, "_id": 1}).is_ok());
    }

    #[test]
    fn absurdly_deep_projections_are_rejected() {
        let mut spec = doc! {"a": 1};
        for _ in 0..1000 {
            spec = doc! {"a": spec};
        }
        assert_eq!(parse_error(spec).code, 2);
    }

    #[test]
    fn overlapping_paths_collide() {
        assert_eq!(parse_error(doc! {"a": 1, "a.b": 1}).code, 31250);
        assert_eq!(parse_error(doc! {"a.b": 1, "a": 1}).code, 31250);
        assert_eq!(parse_error(doc! {"a": {}}).code, 51270);
    }

    #[test]
    fn positional_projection_returns_the_matched_element() {
        let spec = Projection::parse(&doc! {"grades.$": 1}).unwrap();
        let document = doc! {"_id": 1, "semester": 1, "grades": [70, 87, 90]};
        assert_eq!(
            spec.apply(&document, Some(1)).unwrap(),
            doc! {"_id": 1, "grades": [87]}
        );
        let error = spec.apply(&document, None).unwrap_err();
        assert_eq!(error.code, 51246);
        assert_eq!(spec.apply(&document, Some(7)).unwrap_err().code, 51246);
        assert_eq!(parse_error(doc! {"a.$": 1, "b.$": 1}).code, 31276);
        assert_eq!(parse_error(doc! {"a": 0, "b.$": 1}).code, 31253);
    }

    #[test]
    fn positional_projection_follows_the_query_match() {
        let filter = crate::query::Matcher::parse(&doc! {"grades": {"$gte": 85}}).unwrap();
        let document = doc! {"_id": 1, "grades": [80, 85, 90]};
        let position = filter.match_details(&document).unwrap().array_position;
        let projected = Projection::parse(&doc! {"grades.$": 1})
            .unwrap()
            .apply(&document, position)
            .unwrap();
        assert_eq!(projected, doc! {"_id": 1, "grades": [85]});
    }

    #[test]
    fn elem_match_projects_the_first_matching_element() {
        // The manual's schools example.
        let school = doc! {"_id": 1, "zipcode": "63109", "students": [
            {"name": "john", "school": 102, "age": 10},
            {"name": "jess", "school": 102, "age": 11},
            {"name": "jeff", "school": 108, "age": 15},
        ]};
        assert_eq!(
            project(
                doc! {"students": {"$elemMatch": {"school": 102}}},
                school.clone()
            ),
            doc! {"_id": 1, "students": [{"name": "john", "school": 102, "age": 10}]}
        );
        assert_eq!(
            project(
                doc! {"students": {"$elemMatch": {"school": 102, "age": {"$gt": 10}}}},
                school.clone()
            ),
            doc! {"_id": 1, "students": [{"name": "jess", "school": 102, "age": 11}]}
        );
        assert_eq!(
            project(
                doc! {"students": {"$elemMatch": {"school": 999}}},
                school.clone()
            ),
            doc! {"_id": 1}
        );
        // The $elemMatch field follows the other included fields.
        assert_eq!(
            project(
                doc! {"students": {"$elemMatch": {"age": 15}}, "zipcode": 1},
                school
            )
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
            vec!["_id", "zipcode", "students"]
        );
        assert_eq!(
            project(
                doc! {"a": {"$elemMatch": {"$gt": 2}}},
                doc! {"a": [1, 3, 5]}
            ),
            doc! {"a": [3]}
        );
        assert_eq!(
            parse_error(doc! {"a.b": {"$elemMatch": {"c": 1}}}).code,
            31275
        );
    }

    #[test]
    fn slice_limits_arrays_and_keeps_other_fields() {
        let post = doc! {"_id": 1, "title": "t", "comments": [1, 2, 3, 4, 5]};
        assert_eq!(
            project(doc! {"comments": {"$slice": 2}}, post.clone()),
            doc! {"_id": 1, "title": "t", "comments": [1, 2]}
        );
        assert_eq!(
            project(doc! {"comments": {"$slice": -2}}, post.clone()),
            doc! {"_id": 1, "title": "t", "comments": [4, 5]}
        );
        assert_eq!(
            project(doc! {"comments": {"$slice": [1, 2]}}, post.clone()),
            doc! {"_id": 1, "title": "t", "comments": [2, 3]}
        );
        assert_eq!(
            project(doc! {"comments": {"$slice": [-2, 5]}}, post.clone()),
            doc! {"_id": 1, "title": "t", "comments": [4, 5]}
        );
        assert_eq!(
            project(doc! {"comments": {"$slice": [10, 1]}}, post.clone()),
            doc! {"_id": 1, "title": "t", "comments": []}
        );
        assert_eq!(
            project(doc! {"comments": {"$slice": -10}}, post.clone()),
            doc! {"_id": 1, "title": "t", "comments": [1, 2, 3, 4, 5]}
        );
        assert_eq!(
            project(doc! {"comments": {"$slice": 1}, "title": 1}, post.clone()),
            doc! {"_id": 1, "title": "t", "comments": [1]}
        );
        assert_eq!(
            project(doc! {"title": {"$slice": 1}}, post),
            doc! {"_id": 1, "title": "t", "comments": [1, 2, 3, 4, 5]}
        );
        assert_eq!(parse_error(doc! {"a": {"$slice": [1, 0]}}).code, 28724);
        assert_eq!(parse_error(doc! {"a": {"$slice": "x"}}).code, 28667);
    }

    #[test]
    fn expressions_compute_new_fields() {
        let document = doc! {"_id": 1, "a": 5, "b": {"c": "x"}};
        assert_eq!(
            project(doc! {"x": {"$literal": 1}}, document.clone()),
            doc! {"_id": 1, "x": 1}
        );
        assert_eq!(
            project(doc! {"a": 1, "copy": "$b.c", "_id": 0}, document.clone()),
            doc! {"a": 5, "copy": "x"}
        );
        assert_eq!(
            project(doc! {"sum": {"$add": ["$a", 1]}}, document.clone()),
            doc! {"_id": 1, "sum": 6}
        );
        assert_eq!(
            project(doc! {"gone": "$missing"}, document.clone()),
            doc! {"_id": 1}
        );
        assert_eq!(
            project(doc! {"n.d": {"$literal": true}, "_id": 0}, document),
            doc! {"n": {"d": true}}
        );
        assert_eq!(parse_error(doc! {"a": 0, "x": "$b"}).code, 31252);
    }

    #[test]
    fn text_score_meta_adds_the_score_in_either_kind_of_projection() {
        let document = doc! {"_id": 1, "subject": "coffee", "views": 5};
        let included =
            Projection::parse(&doc! {"score": {"$meta": "textScore"}, "subject": 1}).unwrap();
        assert!(included.needs_text_score());
        assert_eq!(
            included
                .apply_with_text_score(&document, None, Some(1.1))
                .unwrap(),
            doc! {"_id": 1, "subject": "coffee", "score": 1.1}
        );
        let alone = Projection::parse(&doc! {"score": {"$meta": "textScore"}}).unwrap();
        assert_eq!(
            alone
                .apply_with_text_score(&document, None, Some(0.75))
                .unwrap(),
            doc! {"_id": 1, "subject": "coffee", "views": 5, "score": 0.75}
        );
        assert_eq!(alone.apply(&document, None).unwrap(), document);
        assert!(!Projection::parse(&doc! {"a": 1})
            .unwrap()
            .needs_text_score());
        assert_eq!(parse_error(doc! {"s": {"$meta": "bogus"}}).code, 2);
    }
}
