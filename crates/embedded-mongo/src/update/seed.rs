//! The document an upsert starts from: the equality conditions of the filter, as fields.

use bson::{Bson, Document};

use crate::error::{codes, CommandError, CommandResult};

/// The document an upsert starts from: the filter's equality conditions (including those in a
/// top-level `$and`), as nested fields, before the update applies.
///
/// `{a: 1}`, `{a: {$eq: 1}}` and `{a: {$in: [1]}}` all seed `a: 1`; `{"b.c": 2}` seeds
/// `{b: {c: 2}}`; an `$or` with a single clause counts like `$and`; other operators (`$gt`,
/// `$or` of several clauses, ...) seed nothing. Fields come in path order. Two equalities on the same
/// path, or on a path and its prefix, are code 54 (NotSingleValueField), as in MongoDB.
pub fn upsert_seed(filter: &Document) -> CommandResult<Document> {
    let mut equalities = Vec::new();
    collect_equalities(filter, &mut equalities);
    // MongoDB extracts equalities from its canonical (path-sorted) query, so the seeded fields
    // come in path order and a parent path is always seen before its children.
    equalities.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
    let mut seeded: Vec<Vec<String>> = Vec::new();
    let mut document = Document::new();
    for (path, value) in equalities {
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        for existing in &seeded {
            let shared = existing.len().min(parts.len());
            if existing[..shared] == parts[..shared] {
                let message = if existing.len() == parts.len() {
                    format!("cannot infer query fields to set, path '{path}' is matched twice")
                } else {
                    format!(
                        "cannot infer query fields to set, both paths '{path}' and '{}' are \
                         matched",
                        existing.join(".")
                    )
                };
                return Err(CommandError::new(codes::NOT_SINGLE_VALUE_FIELD, message));
            }
        }
        insert_at(&mut document, &parts, value);
        seeded.push(parts);
    }
    // The `_id` leads the stored document, as it does for inserts.
    if let Some(id) = document.remove("_id") {
        let mut ordered = Document::new();
        ordered.insert("_id", id);
        ordered.extend(document);
        document = ordered;
    }
    Ok(document)
}

fn collect_equalities(filter: &Document, equalities: &mut Vec<(String, Bson)>) {
    for (key, condition) in filter {
        let single_or =
            key == "$or" && matches!(condition, Bson::Array(clauses) if clauses.len() == 1);
        if key == "$and" || single_or {
            if let Bson::Array(clauses) = condition {
                for clause in clauses {
                    if let Bson::Document(clause) = clause {
                        collect_equalities(clause, equalities);
                    }
                }
            }
            continue;
        }
        if key.starts_with('$') || key.is_empty() || key.split('.').any(str::is_empty) {
            continue;
        }
        if let Some(value) = equality_value(condition) {
            equalities.push((key.clone(), value));
        }
    }
}

/// The value a field condition pins the field to, if it is an equality.
fn equality_value(condition: &Bson) -> Option<Bson> {
    match condition {
        Bson::RegularExpression(_) => None,
        Bson::Document(operators)
            if operators.keys().next().is_some_and(|k| k.starts_with('$')) =>
        {
            if let Some(value) = operators.get("$eq") {
                return Some(value.clone());
            }
            match operators.get("$in") {
                Some(Bson::Array(values)) if values.len() == 1 => match &values[0] {
                    Bson::RegularExpression(_) => None,
                    single => Some(single.clone()),
                },
                _ => None,
            }
        }
        other => Some(other.clone()),
    }
}

fn insert_at(document: &mut Document, path: &[String], value: Bson) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        document.insert(first.clone(), value);
        return;
    }
    if !matches!(document.get(first), Some(Bson::Document(_))) {
        document.insert(first.clone(), Document::new());
    }
    if let Some(Bson::Document(inner)) = document.get_mut(first) {
        insert_at(inner, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, Regex};

    #[test]
    fn equalities_become_fields_and_dotted_paths_nest() {
        let seed = upsert_seed(&doc! {"b.d": {"$eq": 3}, "a": 1, "b.c": 2}).unwrap();
        assert_eq!(seed, doc! {"a": 1, "b": {"c": 2, "d": 3}});
    }

    #[test]
    fn and_clauses_and_single_element_in_seed_fields() {
        let filter = doc! {
            "$and": [{"x": 1}, {"y": {"$in": ["only"]}}],
            "z": {"$in": [1, 2]},
        };
        assert_eq!(upsert_seed(&filter).unwrap(), doc! {"x": 1, "y": "only"});
    }

    #[test]
    fn range_operators_or_and_regexes_seed_nothing() {
        let filter = doc! {
            "a": {"$gt": 1},
            "$or": [{"b": 1}, {"b": 2}],
            "c": Bson::RegularExpression(Regex { pattern: "^x".into(), options: String::new() }),
        };
        assert_eq!(upsert_seed(&filter).unwrap(), doc! {});
    }

    #[test]
    fn a_single_clause_or_seeds_like_an_and() {
        let seed = upsert_seed(&doc! {"$or": [{"x": 1}]}).unwrap();
        assert_eq!(seed, doc! {"x": 1});
    }

    #[test]
    fn the_id_equality_is_kept_and_comes_first() {
        let seed = upsert_seed(&doc! {"name": "x", "_id": 5}).unwrap();
        assert_eq!(seed, doc! {"_id": 5, "name": "x"});
    }

    #[test]
    fn embedded_documents_are_equalities_on_the_whole_value() {
        let seed = upsert_seed(&doc! {"a": {"b": 1}}).unwrap();
        assert_eq!(seed, doc! {"a": {"b": 1}});
    }

    #[test]
    fn conflicting_equalities_are_not_single_value_field() {
        let error = upsert_seed(&doc! {"a": 1, "$and": [{"a.b": 2}]}).unwrap_err();
        assert_eq!(error.code, codes::NOT_SINGLE_VALUE_FIELD);
        assert_eq!(
            error.message,
            "cannot infer query fields to set, both paths 'a.b' and 'a' are matched"
        );
        let error = upsert_seed(&doc! {"a": 1, "$and": [{"a": 2}]}).unwrap_err();
        assert_eq!(
            error.message,
            "cannot infer query fields to set, path 'a' is matched twice"
        );
    }
}
