//! Secondary indexes: spec parsing and normalisation, key extraction (compound, multikey,
//! sparse, partial), the ordered entry set, and MongoDB's duplicate-key error.

use std::collections::BTreeSet;
use std::sync::Arc;

use bson::{Bson, Document};
use imbl::OrdSet;

use crate::compare::{bson_equal, OrderedBson};
use crate::error::{codes, CommandError, CommandResult};
use crate::query::Matcher;

/// `CannotIndexParallelArrays`: a compound index over two array fields of one document.
const CANNOT_INDEX_PARALLEL_ARRAYS: i32 = 171;
/// `InvalidIndexSpecificationOption`: an unknown field in an index specification.
const INVALID_INDEX_SPECIFICATION_OPTION: i32 = 197;

/// One index key: the values of the indexed fields, in key-pattern order.
pub(crate) type IndexKey = Vec<OrderedBson>;

/// One entry of an index: a key and the record id of the document it came from.
pub(crate) type IndexEntry = (IndexKey, u64);

/// A normalised index specification, as `listIndexes` reports it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexSpec {
    pub name: String,
    /// The key pattern as the client gave it (`{name: "text"}` for text indexes).
    pub key: Document,
    /// The non-text fields of the key pattern, in order.
    pub fields: Vec<String>,
    pub unique: bool,
    pub sparse: bool,
    pub partial_filter: Option<Document>,
    pub expire_after_seconds: Option<i64>,
    /// Fields and weights of a text index.
    pub text_fields: Option<Vec<(String, i32)>>,
}

const ALLOWED_SPEC_FIELDS: &[&str] = &[
    "v",
    "key",
    "name",
    "unique",
    "sparse",
    "partialFilterExpression",
    "expireAfterSeconds",
    "background",
    "weights",
    "default_language",
    "language_override",
    "textIndexVersion",
    "hidden",
    "ns",
];

/// The default index name: `a_1_b_-1` for `{a: 1, b: -1}`.
pub(crate) fn default_index_name(key: &Document) -> String {
    key.iter()
        .map(|(field, direction)| {
            let direction = match direction {
                Bson::Int32(v) => v.to_string(),
                Bson::Int64(v) => v.to_string(),
                Bson::Double(v) if v.fract() == 0.0 => format!("{}", *v as i64),
                Bson::Double(v) => v.to_string(),
                Bson::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("{field}_{direction}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

fn as_bool(value: Option<&Bson>) -> bool {
    match value {
        None => false,
        Some(Bson::Boolean(b)) => *b,
        Some(Bson::Int32(v)) => *v != 0,
        Some(Bson::Int64(v)) => *v != 0,
        Some(Bson::Double(v)) => *v != 0.0,
        Some(Bson::Null) => false,
        Some(_) => true,
    }
}

impl IndexSpec {
    /// The specification of the `_id_` index every collection has.
    pub fn id_index() -> IndexSpec {
        IndexSpec {
            name: "_id_".to_string(),
            key: bson::doc! {"_id": 1},
            fields: vec!["_id".to_string()],
            unique: true,
            sparse: false,
            partial_filter: None,
            expire_after_seconds: None,
            text_fields: None,
        }
    }

    /// Parses a `createIndexes` specification (or a stored `listIndexes` document).
    pub fn parse(spec: &Document) -> CommandResult<IndexSpec> {
        for field in spec.keys() {
            if !ALLOWED_SPEC_FIELDS.contains(&field.as_str()) {
                return Err(CommandError::new(
                    INVALID_INDEX_SPECIFICATION_OPTION,
                    format!(
                        "The field '{field}' is not valid for an index specification. Specification: {spec}"
                    ),
                ));
            }
        }
        let key = match spec.get("key") {
            Some(Bson::Document(key)) if !key.is_empty() => key.clone(),
            Some(Bson::Document(_)) => {
                return Err(CommandError::new(
                    codes::CANNOT_CREATE_INDEX,
                    "Index keys cannot be empty.",
                ))
            }
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "The 'key' field must be an object",
                ))
            }
            None => {
                return Err(CommandError::failed_to_parse(
                    "The 'key' field is a required property of an index specification",
                ))
            }
        };
        let stored_text = matches!(key.get("_fts"), Some(Bson::String(s)) if s == "text");
        let mut fields = Vec::new();
        let mut text_fields = Vec::new();
        for (field, direction) in &key {
            if stored_text && (field == "_fts" || field == "_ftsx") {
                continue;
            }
            match direction {
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                    let zero = bson_equal(direction, &Bson::Int32(0));
                    if zero {
                        return Err(CommandError::new(
                            codes::CANNOT_CREATE_INDEX,
                            format!("Values in the index key pattern can't be 0: {key}"),
                        ));
                    }
                    fields.push(field.clone());
                }
                Bson::String(kind) if kind == "text" => text_fields.push((field.clone(), 1)),
                Bson::String(kind) => {
                    return Err(CommandError::new(
                        codes::CANNOT_CREATE_INDEX,
                        format!("Unknown index plugin '{kind}'"),
                    ))
                }
                other => {
                    return Err(CommandError::new(
                        codes::CANNOT_CREATE_INDEX,
                        format!("Values in index key pattern must be numbers or strings: {other}"),
                    ))
                }
            }
        }
        let name = match spec.get("name") {
            Some(Bson::String(name)) if !name.is_empty() => name.clone(),
            Some(Bson::String(_)) => {
                return Err(CommandError::new(
                    codes::CANNOT_CREATE_INDEX,
                    "The index name cannot be empty",
                ))
            }
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "The 'name' field must be a string",
                ))
            }
            None => default_index_name(&key),
        };
        let text = if stored_text || !text_fields.is_empty() {
            let mut weighted = Vec::new();
            if let Some(Bson::Document(weights)) = spec.get("weights") {
                for (field, weight) in weights {
                    let weight = match weight {
                        Bson::Int32(w) => *w,
                        Bson::Int64(w) => *w as i32,
                        Bson::Double(w) => *w as i32,
                        _ => 1,
                    };
                    weighted.push((field.clone(), weight));
                }
            }
            for (field, weight) in text_fields {
                if !weighted.iter().any(|(existing, _)| *existing == field) {
                    weighted.push((field, weight));
                }
            }
            Some(weighted)
        } else {
            None
        };
        let partial_filter = match spec.get("partialFilterExpression") {
            None => None,
            Some(Bson::Document(filter)) => Some(filter.clone()),
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "partialFilterExpression must be an object",
                ))
            }
        };
        let expire_after_seconds = match spec.get("expireAfterSeconds") {
            None => None,
            Some(value @ (Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_))) => {
                let seconds = match value {
                    Bson::Int32(v) => i64::from(*v),
                    Bson::Int64(v) => *v,
                    Bson::Double(v) => *v as i64,
                    _ => 0,
                };
                if seconds < 0 {
                    return Err(CommandError::new(
                        codes::CANNOT_CREATE_INDEX,
                        format!(
                            "TTL index 'expireAfterSeconds' option must be within an acceptable range, try a lower number. Specification: {spec}"
                        ),
                    ));
                }
                if fields.len() != 1 || text.is_some() {
                    return Err(CommandError::new(
                        codes::CANNOT_CREATE_INDEX,
                        "TTL indexes are single-field indexes, compound indexes do not support TTL",
                    ));
                }
                Some(seconds)
            }
            Some(_) => {
                return Err(CommandError::new(
                    codes::CANNOT_CREATE_INDEX,
                    "TTL index 'expireAfterSeconds' option must be numeric",
                ))
            }
        };
        let spec = IndexSpec {
            name,
            key,
            fields,
            unique: as_bool(spec.get("unique")),
            sparse: as_bool(spec.get("sparse")),
            partial_filter,
            expire_after_seconds,
            text_fields: text,
        };
        if spec.name == "_id_" && !spec.is_id_pattern() {
            return Err(CommandError::new(
                codes::BAD_VALUE,
                "The index name '_id_' is reserved for the _id index, which must have key pattern {_id: 1}",
            ));
        }
        Ok(spec)
    }

    /// True for the `{_id: 1}` (or `{_id: -1}`) key pattern.
    pub fn is_id_pattern(&self) -> bool {
        self.key.len() == 1 && self.key.contains_key("_id") && self.text_fields.is_none()
    }

    /// The key pattern as `listIndexes` shows it (text indexes use `_fts`/`_ftsx`).
    pub fn listed_key(&self) -> Document {
        if self.text_fields.is_some() {
            let mut key = Document::new();
            key.insert("_fts", "text");
            key.insert("_ftsx", 1);
            for field in &self.fields {
                if let Some(direction) = self.key.get(field) {
                    key.insert(field.clone(), direction.clone());
                }
            }
            key
        } else {
            self.key.clone()
        }
    }

    /// The `listIndexes` document: `{v: 2, key, name, ...options}`.
    pub fn to_document(&self) -> Document {
        let mut out = Document::new();
        out.insert("v", 2);
        out.insert("key", self.listed_key());
        out.insert("name", self.name.clone());
        if self.unique && self.name != "_id_" {
            out.insert("unique", true);
        }
        if self.sparse {
            out.insert("sparse", true);
        }
        if let Some(filter) = &self.partial_filter {
            out.insert("partialFilterExpression", filter.clone());
        }
        if let Some(seconds) = self.expire_after_seconds {
            match i32::try_from(seconds) {
                Ok(small) => out.insert("expireAfterSeconds", small),
                Err(_) => out.insert("expireAfterSeconds", seconds),
            };
        }
        if let Some(text) = &self.text_fields {
            let mut weights = Document::new();
            for (field, weight) in text {
                weights.insert(field.clone(), *weight);
            }
            out.insert("weights", weights);
            out.insert("default_language", "english");
            out.insert("language_override", "language");
            out.insert("textIndexVersion", 3);
        }
        out
    }

    /// True when both key patterns are the same (field order and directions).
    pub fn same_key(&self, other: &IndexSpec) -> bool {
        self.listed_key().len() == other.listed_key().len()
            && self
                .listed_key()
                .iter()
                .zip(other.listed_key().iter())
                .all(|((a, va), (b, vb))| a == b && bson_equal(va, vb))
            && self.text_fields.as_ref().map(|t| sorted_names(t))
                == other.text_fields.as_ref().map(|t| sorted_names(t))
    }

    /// True when the options that change an index's behaviour are the same.
    pub fn same_options(&self, other: &IndexSpec) -> bool {
        self.unique == other.unique
            && self.sparse == other.sparse
            && self.expire_after_seconds == other.expire_after_seconds
            && match (&self.partial_filter, &other.partial_filter) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    bson_equal(&Bson::Document(a.clone()), &Bson::Document(b.clone()))
                }
                _ => false,
            }
            && self.text_fields == other.text_fields
    }
}

fn sorted_names(fields: &[(String, i32)]) -> Vec<String> {
    let mut names: Vec<String> = fields.iter().map(|(name, _)| name.clone()).collect();
    names.sort();
    names
}

/// The values a dotted path reaches in a document, as index keys: arrays are expanded (one
/// value per element), an empty array is `undefined`, and a missing field is `null`.
/// Returns the values and whether an array was traversed.
pub(crate) fn path_key_values(document: &Document, path: &str) -> (Vec<Bson>, bool) {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    let mut multikey = false;
    collect_key_values(document.get(parts[0]), &parts[1..], &mut out, &mut multikey);
    if out.is_empty() {
        out.push(Bson::Null);
    }
    (out, multikey)
}

fn collect_key_values(
    value: Option<&Bson>,
    rest: &[&str],
    out: &mut Vec<Bson>,
    multikey: &mut bool,
) {
    match (value, rest.split_first()) {
        (None, _) => out.push(Bson::Null),
        (Some(Bson::Array(items)), None) => {
            *multikey = true;
            if items.is_empty() {
                out.push(Bson::Undefined);
            }
            out.extend(items.iter().cloned());
        }
        (Some(other), None) => out.push(other.clone()),
        (Some(Bson::Document(inner)), Some((head, tail))) => {
            collect_key_values(inner.get(*head), tail, out, multikey)
        }
        (Some(Bson::Array(items)), Some((head, tail))) => {
            *multikey = true;
            if let Ok(position) = head.parse::<usize>() {
                collect_key_values(items.get(position), tail, out, multikey);
                return;
            }
            let before = out.len();
            for item in items {
                if let Bson::Document(inner) = item {
                    collect_key_values(inner.get(*head), tail, out, multikey);
                }
            }
            if out.len() == before {
                out.push(Bson::Null);
            }
        }
        (Some(_), Some(_)) => out.push(Bson::Null),
    }
}

/// The values a dotted path reaches, for `distinct`: arrays unwound, missing fields omitted.
pub(crate) fn path_values(document: &Document, path: &str) -> Vec<Bson> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    collect_values(document.get(parts[0]), &parts[1..], &mut out);
    out
}

fn collect_values(value: Option<&Bson>, rest: &[&str], out: &mut Vec<Bson>) {
    match (value, rest.split_first()) {
        (None, _) => {}
        (Some(Bson::Array(items)), None) => out.extend(items.iter().cloned()),
        (Some(other), None) => out.push(other.clone()),
        (Some(Bson::Document(inner)), Some((head, tail))) => {
            collect_values(inner.get(*head), tail, out)
        }
        (Some(Bson::Array(items)), Some((head, tail))) => {
            if let Ok(position) = head.parse::<usize>() {
                collect_values(items.get(position), tail, out);
                return;
            }
            for item in items {
                if let Bson::Document(inner) = item {
                    collect_values(inner.get(*head), tail, out);
                }
            }
        }
        (Some(_), Some(_)) => {}
    }
}

/// A secondary index: its spec, compiled partial filter and ordered entries.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    pub spec: Arc<IndexSpec>,
    pub partial: Option<Arc<Matcher>>,
    pub entries: OrdSet<IndexEntry>,
    /// Set once any indexed document had an array on an indexed path.
    pub multikey: bool,
}

impl Index {
    /// An empty index for `spec`; the partial filter is compiled here.
    pub fn new(spec: IndexSpec) -> CommandResult<Index> {
        let partial = match &spec.partial_filter {
            Some(filter) => Some(Arc::new(Matcher::parse(filter)?)),
            None => None,
        };
        Ok(Index {
            spec: Arc::new(spec),
            partial,
            entries: OrdSet::new(),
            multikey: false,
        })
    }

    /// True for text indexes, which keep no entries (`$text` is evaluated by the matcher).
    pub fn is_text(&self) -> bool {
        self.spec.text_fields.is_some()
    }

    /// The distinct keys `document` contributes (none when sparse/partial exclude it), and
    /// whether an array was traversed.
    pub fn keys_for(&self, document: &Document) -> CommandResult<(Vec<IndexKey>, bool)> {
        if self.is_text() {
            return Ok((Vec::new(), false));
        }
        if let Some(partial) = &self.partial {
            if !partial.matches(document) {
                return Ok((Vec::new(), false));
            }
        }
        let mut per_field = Vec::with_capacity(self.spec.fields.len());
        let mut any_present = false;
        let mut multikey = false;
        let mut array_fields = Vec::new();
        for field in &self.spec.fields {
            if field_present(document, field) {
                any_present = true;
            }
            let (values, through_array) = path_key_values(document, field);
            if through_array {
                multikey = true;
                array_fields.push(field.clone());
            }
            per_field.push(values);
        }
        if self.spec.sparse && !any_present {
            return Ok((Vec::new(), false));
        }
        if per_field.iter().filter(|values| values.len() > 1).count() > 1 {
            return Err(CommandError::new(
                CANNOT_INDEX_PARALLEL_ARRAYS,
                format!(
                    "cannot index parallel arrays [{}] [{}]",
                    array_fields.get(1).map(String::as_str).unwrap_or_default(),
                    array_fields.first().map(String::as_str).unwrap_or_default()
                ),
            ));
        }
        let mut keys: Vec<IndexKey> = vec![Vec::new()];
        for values in per_field {
            let mut next = Vec::with_capacity(keys.len() * values.len());
            for prefix in &keys {
                for value in &values {
                    let mut key = prefix.clone();
                    key.push(OrderedBson(value.clone()));
                    next.push(key);
                }
            }
            keys = next;
        }
        let unique: BTreeSet<IndexKey> = keys.into_iter().collect();
        Ok((unique.into_iter().collect(), multikey))
    }

    /// The record ids whose key equals `key`.
    pub fn records_with_key(&self, key: &IndexKey) -> impl Iterator<Item = u64> + '_ {
        let lower = (key.clone(), 0_u64);
        let upper = (key.clone(), u64::MAX);
        self.entries.range(lower..=upper).map(|(_, rid)| *rid)
    }

    /// The duplicate-key error when a unique index already holds one of `keys` for a record
    /// other than `own`.
    pub fn find_duplicate(
        &self,
        namespace: &str,
        keys: &[IndexKey],
        own: u64,
    ) -> Option<CommandError> {
        if !self.spec.unique {
            return None;
        }
        for key in keys {
            if self.records_with_key(key).any(|rid| rid != own) {
                return Some(duplicate_key_error(namespace, &self.spec, key));
            }
        }
        None
    }
}

fn field_present(document: &Document, path: &str) -> bool {
    let (values, _) = path_key_values(document, path);
    // A path is absent when every reached value is the synthetic null for "missing"; an
    // explicit null counts as present, which we detect by looking the path up directly.
    !(values.len() == 1 && values[0] == Bson::Null) || explicit_null(document, path)
}

fn explicit_null(document: &Document, path: &str) -> bool {
    let mut current = document;
    let parts: Vec<&str> = path.split('.').collect();
    for (index, part) in parts.iter().enumerate() {
        match current.get(*part) {
            Some(Bson::Document(inner)) if index + 1 < parts.len() => current = inner,
            Some(Bson::Null) if index + 1 == parts.len() => return true,
            _ => return false,
        }
    }
    false
}

/// MongoDB's E11000 error: message, `keyPattern` and `keyValue`.
pub(crate) fn duplicate_key_error(
    namespace: &str,
    spec: &IndexSpec,
    key: &IndexKey,
) -> CommandError {
    let mut key_value = Document::new();
    let mut key_pattern = Document::new();
    for (field, value) in spec.fields.iter().zip(key.iter()) {
        key_value.insert(field.clone(), value.0.clone());
        key_pattern.insert(
            field.clone(),
            spec.key.get(field).cloned().unwrap_or(Bson::Int32(1)),
        );
    }
    let rendered = render_document(&key_value);
    CommandError::new(
        codes::DUPLICATE_KEY,
        format!(
            "E11000 duplicate key error collection: {namespace} index: {} dup key: {rendered}",
            spec.name
        ),
    )
    .with_extra("keyPattern", key_pattern)
    .with_extra("keyValue", key_value)
}

/// Renders a document the way MongoDB's server log and error messages do: `{ a: 1, b: "x" }`.
pub(crate) fn render_document(document: &Document) -> String {
    if document.is_empty() {
        return "{}".to_string();
    }
    let fields: Vec<String> = document
        .iter()
        .map(|(key, value)| format!("{key}: {}", render_value(value)))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

fn render_value(value: &Bson) -> String {
    match value {
        Bson::String(s) => format!("{s:?}"),
        Bson::Int32(v) => v.to_string(),
        Bson::Int64(v) => v.to_string(),
        Bson::Double(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.1}"),
        Bson::Double(v) => v.to_string(),
        Bson::Null => "null".to_string(),
        Bson::Undefined => "undefined".to_string(),
        Bson::Boolean(b) => b.to_string(),
        Bson::ObjectId(oid) => format!("ObjectId('{}')", oid.to_hex()),
        Bson::DateTime(dt) => format!("new Date({})", dt.timestamp_millis()),
        Bson::Document(doc) => render_document(doc),
        Bson::Array(items) => {
            if items.is_empty() {
                "[]".to_string()
            } else {
                let rendered: Vec<String> = items.iter().map(render_value).collect();
                format!("[ {} ]", rendered.join(", "))
            }
        }
        Bson::MinKey => "MinKey".to_string(),
        Bson::MaxKey => "MaxKey".to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn plain_index(spec: Document) -> Index {
        Index::new(IndexSpec::parse(&spec).unwrap()).unwrap()
    }

    #[test]
    fn default_names_join_fields_and_directions() {
        assert_eq!(default_index_name(&doc! {"a": 1, "b": -1}), "a_1_b_-1");
        assert_eq!(default_index_name(&doc! {"name": "text"}), "name_text");
        let spec = IndexSpec::parse(&doc! {"key": {"email": 1}}).unwrap();
        assert_eq!(spec.name, "email_1");
    }

    #[test]
    fn multikey_documents_contribute_one_key_per_element() {
        let index = plain_index(doc! {"key": {"tags": 1}, "name": "tags_1"});
        let (keys, multikey) = index.keys_for(&doc! {"tags": ["a", "b", "a"]}).unwrap();
        assert!(multikey);
        assert_eq!(
            keys,
            vec![
                vec![OrderedBson(Bson::String("a".into()))],
                vec![OrderedBson(Bson::String("b".into()))]
            ]
        );
    }

    #[test]
    fn dotted_paths_reach_through_arrays_of_documents() {
        let (values, multikey) =
            path_key_values(&doc! {"a": [{"b": 1}, {"b": 2}, {"c": 3}]}, "a.b");
        assert!(multikey);
        assert_eq!(values, vec![Bson::Int32(1), Bson::Int32(2), Bson::Null]);
        let (values, _) = path_key_values(&doc! {"a": {"c": 1}}, "a.b");
        assert_eq!(values, vec![Bson::Null]);
    }

    #[test]
    fn sparse_indexes_skip_documents_without_the_field() {
        let index = plain_index(doc! {"key": {"email": 1}, "sparse": true});
        assert!(index.keys_for(&doc! {"x": 1}).unwrap().0.is_empty());
        assert_eq!(index.keys_for(&doc! {"email": null}).unwrap().0.len(), 1);
    }

    #[test]
    fn compound_keys_over_two_arrays_are_rejected() {
        let index = plain_index(doc! {"key": {"a": 1, "b": 1}});
        let error = index
            .keys_for(&doc! {"a": [1, 2], "b": [3, 4]})
            .unwrap_err();
        assert_eq!(error.code, 171);
        let (keys, _) = index.keys_for(&doc! {"a": [1, 2], "b": 3}).unwrap();
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn duplicate_key_errors_match_mongodb_format() {
        let spec = IndexSpec::parse(&doc! {"key": {"email": 1}, "unique": true}).unwrap();
        let error = duplicate_key_error(
            "app.users",
            &spec,
            &vec![OrderedBson(Bson::String("a@b.c".into()))],
        );
        assert_eq!(error.code, 11000);
        assert_eq!(
            error.message,
            "E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"a@b.c\" }"
        );
        assert_eq!(
            error.extra.get_document("keyPattern").unwrap(),
            &doc! {"email": 1}
        );
        assert_eq!(
            error.extra.get_document("keyValue").unwrap(),
            &doc! {"email": "a@b.c"}
        );
    }

    #[test]
    fn text_indexes_list_with_fts_keys_and_weights() {
        let spec = IndexSpec::parse(
            &doc! {"key": {"name": "text", "description": "text"}, "name": "search"},
        )
        .unwrap();
        let listed = spec.to_document();
        assert_eq!(
            listed.get_document("key").unwrap(),
            &doc! {"_fts": "text", "_ftsx": 1}
        );
        assert_eq!(
            listed.get_document("weights").unwrap(),
            &doc! {"name": 1, "description": 1}
        );
        let reparsed = IndexSpec::parse(&listed).unwrap();
        assert_eq!(reparsed.text_fields, spec.text_fields);
    }

    #[test]
    fn unknown_spec_fields_are_rejected() {
        let error = IndexSpec::parse(&doc! {"key": {"a": 1}, "bogus": 1}).unwrap_err();
        assert_eq!(error.code, 197);
    }
}
