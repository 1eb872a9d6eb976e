//! The aggregation pipeline: stages over a stream of documents.
//!
//! A pipeline is parsed once into [`Stage`]s and run over a materialised list of documents,
//! one stage after another. Expressions come from [`crate::expression`], filters from
//! [`crate::query::Matcher`], and sort order from [`SortSpec`], which `find` shares.

mod shape;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use bson::{Bson, Document};
use rand::seq::SliceRandom;

use crate::compare::{compare_bson, OrderedBson};
use crate::error::{codes, CommandError, CommandResult};
use crate::expression::{
    add_numbers, float_result, parse_field_path, standard_deviation, type_name,
    validate_variable_name, Expression, Number, Variables,
};
use crate::query::Matcher;
use shape::Shape;

/// What a pipeline needs from the database it runs in (`$lookup`, `$unionWith`).
pub trait PipelineContext {
    /// Every document of `collection` in the pipeline's database, in natural order; an absent
    /// collection is empty.
    fn collection_documents(&self, collection: &str) -> CommandResult<Vec<Document>>;

    /// The documents of `collection` whose `path` holds one of `values` (which are plain values:
    /// no null, array or regular expression), found through an index when one serves `path` —
    /// a superset is fine, the caller still compares. `None` when this context cannot narrow
    /// the read (the caller then reads every document).
    fn documents_holding(
        &self,
        _collection: &str,
        _path: &str,
        _values: &[Bson],
    ) -> CommandResult<Option<Vec<Document>>> {
        Ok(None)
    }
}

/// Pipelines nested deeper than this (through `$lookup`, `$facet`, `$unionWith`) are rejected.
const MAX_PIPELINE_DEPTH: usize = 20;

/// A parsed pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<Stage>,
}

/// One parsed stage.
#[derive(Debug, Clone)]
enum Stage {
    Match {
        filter: Document,
        matcher: Box<Matcher>,
    },
    /// A first `$match` with `$text`: the caller answers it with the collection's text index
    /// before the pipeline runs ([`Pipeline::parse_over_collection`]), so running it keeps its
    /// input.
    TextMatch {
        filter: Document,
    },
    Shape(Shape),
    Group(Group),
    Sort(SortSpec),
    Skip(usize),
    Limit(usize),
    Unwind(Unwind),
    Lookup(Box<Lookup>),
    Count(String),
    Facet(Vec<(String, Pipeline)>),
    ReplaceRoot {
        expression: Expression,
        replace_with: bool,
    },
    SortByCount(Expression),
    Sample(usize),
    UnionWith {
        collection: String,
        pipeline: Option<Pipeline>,
    },
    Bucket(Box<Bucket>),
    Redact(Expression),
}

/// mongod's code for a `$match` with `$text` anywhere but first in a pipeline over a collection.
const TEXT_NOT_FIRST: i32 = 17313;

/// The code a community mongod 7.0 answers an Atlas Search stage with (it has no name).
const ATLAS_ONLY_STAGE: i32 = 6047401;

fn error(code: i32, message: impl Into<String>) -> CommandError {
    CommandError::new(code, message)
}

impl Pipeline {
    /// Parses the stages; an unknown stage is code 40324. `$text` is refused anywhere (code
    /// 17313): only a pipeline over a collection may start with it.
    pub fn parse(stages: &[Bson]) -> CommandResult<Pipeline> {
        parse_pipeline(stages, 0, false)
    }

    /// [`Pipeline::parse`] for an `aggregate` over a collection, whose first stage may be a
    /// `$match` with `$text` (as on mongod): the caller must answer
    /// [`Pipeline::leading_match`] with the collection's text index before running it.
    pub fn parse_over_collection(stages: &[Bson]) -> CommandResult<Pipeline> {
        let mut pipeline = Vec::with_capacity(stages.len());
        for (index, stage) in stages.iter().enumerate() {
            match parse_pipeline(std::slice::from_ref(stage), 0, false) {
                Ok(mut parsed) => pipeline.append(&mut parsed.stages),
                Err(error) if index == 0 && error.code == TEXT_NOT_FIRST => {
                    let filter = stage
                        .as_document()
                        .and_then(|stage| stage.get_document("$match").ok())
                        .cloned()
                        .ok_or(error)?;
                    pipeline.push(Stage::TextMatch { filter });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(Pipeline { stages: pipeline })
    }

    /// The filter of a leading `$match`, which the caller may answer with an index before
    /// running the pipeline (the pipeline still applies it).
    pub fn leading_match(&self) -> Option<&Document> {
        match self.stages.first() {
            Some(Stage::Match { filter, .. } | Stage::TextMatch { filter }) => Some(filter),
            _ => None,
        }
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// True when the pipeline has no stages (it returns its input unchanged).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the pipeline over `input`.
    pub fn run(
        &self,
        input: Vec<Document>,
        context: &dyn PipelineContext,
        variables: &Variables,
    ) -> CommandResult<Vec<Document>> {
        let mut documents = input;
        for stage in &self.stages {
            documents = stage.run(documents, context, variables)?;
        }
        Ok(documents)
    }
}

fn parse_pipeline(stages: &[Bson], depth: usize, in_facet: bool) -> CommandResult<Pipeline> {
    if depth > MAX_PIPELINE_DEPTH {
        return Err(error(
            codes::FAILED_TO_PARSE,
            format!("pipelines may not be nested more than {MAX_PIPELINE_DEPTH} levels deep"),
        ));
    }
    let mut parsed = Vec::with_capacity(stages.len());
    for stage in stages {
        let Bson::Document(stage) = stage else {
            return Err(CommandError::type_mismatch(
                "Each element of the 'pipeline' array must be an object",
            ));
        };
        parsed.push(parse_stage(stage, depth, in_facet)?);
    }
    Ok(Pipeline { stages: parsed })
}

fn parse_stage(stage: &Document, depth: usize, in_facet: bool) -> CommandResult<Stage> {
    if stage.len() != 1 {
        return Err(error(
            40323,
            "A pipeline stage specification object must contain exactly one field.",
        ));
    }
    let Some((name, spec)) = stage.iter().next() else {
        return Err(error(
            40323,
            "A pipeline stage specification object must contain exactly one field.",
        ));
    };
    if in_facet
        && matches!(
            name.as_str(),
            "$facet" | "$out" | "$merge" | "$changeStream"
        )
    {
        return Err(error(
            40600,
            format!("{name} is not allowed to be used within a $facet stage"),
        ));
    }
    match name.as_str() {
        "$match" => {
            let Bson::Document(filter) = spec else {
                return Err(error(
                    15959,
                    "the match filter must be an expression in an object",
                ));
            };
            let matcher = Matcher::parse(filter).map_err(|failure| {
                if failure.code == codes::INDEX_NOT_FOUND {
                    error(
                        TEXT_NOT_FIRST,
                        "$match with $text is only allowed as the first pipeline stage",
                    )
                } else {
                    failure
                }
            })?;
            Ok(Stage::Match {
                filter: filter.clone(),
                matcher: Box::new(matcher),
            })
        }
        "$project" => Ok(Stage::Shape(Shape::parse_project(spec)?)),
        "$addFields" | "$set" => Ok(Stage::Shape(Shape::parse_add_fields(name, spec)?)),
        "$unset" => Ok(Stage::Shape(Shape::parse_unset(spec)?)),
        "$group" => Ok(Stage::Group(Group::parse(spec)?)),
        "$sort" => {
            let Bson::Document(spec) = spec else {
                return Err(error(
                    15973,
                    "the $sort key specification must be an object",
                ));
            };
            if spec.is_empty() {
                return Err(error(15976, "$sort stage must have at least one sort key"));
            }
            Ok(Stage::Sort(SortSpec::parse(spec)?))
        }
        "$skip" => match count_argument(spec) {
            Some(count) if count >= 0 => Ok(Stage::Skip(count as usize)),
            Some(_) => Err(error(15956, "Argument to $skip cannot be negative")),
            None => Err(error(15972, "Argument to $skip must be a number")),
        },
        "$limit" => match count_argument(spec) {
            Some(count) if count > 0 => Ok(Stage::Limit(count as usize)),
            Some(_) => Err(error(15958, "the limit must be positive")),
            None => Err(error(15957, "the limit must be specified as a number")),
        },
        "$unwind" => Ok(Stage::Unwind(Unwind::parse(spec)?)),
        "$lookup" => Ok(Stage::Lookup(Box::new(Lookup::parse(spec, depth)?))),
        "$count" => {
            let Bson::String(field) = spec else {
                return Err(error(40156, "the count field must be a non-empty string"));
            };
            if field.is_empty() {
                return Err(error(40156, "the count field must be a non-empty string"));
            }
            if field.starts_with('$') {
                return Err(error(40158, "the count field cannot be a $-prefixed path"));
            }
            if field.contains('.') {
                return Err(error(40160, "the count field cannot contain '.'"));
            }
            Ok(Stage::Count(field.clone()))
        }
        "$facet" => {
            let Bson::Document(facets) = spec else {
                return Err(error(
                    15947,
                    format!(
                        "the $facet specification must be an object, but found type {}",
                        type_name(spec)
                    ),
                ));
            };
            if facets.is_empty() {
                return Err(error(
                    40169,
                    "the $facet specification must be a non-empty object",
                ));
            }
            let mut parsed = Vec::with_capacity(facets.len());
            for (facet, stages) in facets {
                let Bson::Array(stages) = stages else {
                    return Err(error(
                        40170,
                        format!(
                            "arguments to $facet must be arrays, {facet} is type {}",
                            type_name(stages)
                        ),
                    ));
                };
                if stages.is_empty() {
                    return Err(error(
                        40171,
                        format!("sub-pipeline in $facet stage cannot be empty: {facet}"),
                    ));
                }
                parsed.push((facet.clone(), parse_pipeline(stages, depth + 1, true)?));
            }
            Ok(Stage::Facet(parsed))
        }
        "$replaceRoot" => {
            let Bson::Document(arguments) = spec else {
                return Err(error(
                    40229,
                    format!(
                        "expected an object as specification for $replaceRoot stage, got {}",
                        type_name(spec)
                    ),
                ));
            };
            let mut new_root = None;
            for (key, value) in arguments {
                if key != "newRoot" {
                    return Err(error(
                        40415,
                        format!("BSON field '$replaceRoot.{key}' is an unknown field."),
                    ));
                }
                new_root = Some(Expression::parse(value)?);
            }
            let expression = new_root.ok_or_else(|| {
                error(
                    40414,
                    "BSON field '$replaceRoot.newRoot' is missing but a required field",
                )
            })?;
            Ok(Stage::ReplaceRoot {
                expression,
                replace_with: false,
            })
        }
        "$replaceWith" => Ok(Stage::ReplaceRoot {
            expression: Expression::parse(spec)?,
            replace_with: true,
        }),
        "$sortByCount" => {
            let valid = match spec {
                Bson::String(path) => path.starts_with('$'),
                Bson::Document(document) => {
                    document.len() == 1
                        && document
                            .keys()
                            .next()
                            .is_some_and(|key| key.starts_with('$'))
                }
                _ => false,
            };
            if !valid {
                return Err(error(
                    40148,
                    "the sortByCount field must be defined as a $-prefixed path or an expression",
                ));
            }
            Ok(Stage::SortByCount(Expression::parse(spec)?))
        }
        "$sample" => {
            let Bson::Document(arguments) = spec else {
                return Err(error(
                    28745,
                    "the $sample stage specification must be an object",
                ));
            };
            let mut size = None;
            for (key, value) in arguments {
                if key != "size" {
                    return Err(error(
                        28748,
                        format!("unrecognized option to $sample: {key}"),
                    ));
                }
                size = Some(match crate::compare::is_number(value) {
                    true => match count_argument(value) {
                        Some(size) if size >= 0 => size as usize,
                        _ => {
                            return Err(error(
                                28747,
                                "size argument to $sample must not be negative",
                            ))
                        }
                    },
                    false => return Err(error(28746, "size argument to $sample must be a number")),
                });
            }
            let size = size.ok_or_else(|| error(28749, "$sample stage must specify a size"))?;
            Ok(Stage::Sample(size))
        }
        "$unionWith" => {
            let (collection, pipeline) = match spec {
                Bson::String(collection) => (collection.clone(), None),
                Bson::Document(arguments) => {
                    let mut collection = None;
                    let mut pipeline = None;
                    for (key, value) in arguments {
                        match (key.as_str(), value) {
                            ("coll", Bson::String(name)) => collection = Some(name.clone()),
                            ("pipeline", Bson::Array(stages)) => {
                                pipeline = Some(parse_pipeline(stages, depth + 1, false)?)
                            }
                            ("coll" | "pipeline", other) => {
                                return Err(CommandError::type_mismatch(format!(
                                    "BSON field '$unionWith.{key}' is the wrong type '{}'",
                                    type_name(other)
                                )))
                            }
                            _ => {
                                return Err(error(
                                    40415,
                                    format!("BSON field '$unionWith.{key}' is an unknown field."),
                                ))
                            }
                        }
                    }
                    let collection = collection.ok_or_else(|| {
                        error(
                            40414,
                            "BSON field '$unionWith.coll' is missing but a required field",
                        )
                    })?;
                    (collection, pipeline)
                }
                other => {
                    return Err(error(
                        codes::FAILED_TO_PARSE,
                        format!(
                            "the $unionWith stage specification must be an object or string, but found {}",
                            type_name(other)
                        ),
                    ))
                }
            };
            Ok(Stage::UnionWith {
                collection,
                pipeline,
            })
        }
        "$bucket" => Ok(Stage::Bucket(Box::new(Bucket::parse(spec)?))),
        "$redact" => Ok(Stage::Redact(Expression::parse(spec)?)),
        "$changeStream" => Err(error(
            40602,
            "$changeStream is only valid as the first stage in a pipeline",
        )),
        // The command runs a final `$out`/`$merge` itself (`storage::output`); anywhere else
        // they are misplaced.
        "$listLocalSessions" => Err(error(
            40602,
            "$listLocalSessions is only valid as the first stage in a pipeline",
        )),
        "$documents" => Err(error(
            codes::FAILED_TO_PARSE,
            "$documents is only valid as the first stage of a database-level aggregate ({aggregate: 1})",
        )),
        // Atlas Search stages need mongot, which only Atlas runs; a community mongod 7.0 refuses
        // them with this code, and so does the store.
        "$search" | "$searchMeta" | "$vectorSearch" | "$listSearchIndexes" => Err(error(
            ATLAS_ONLY_STAGE,
            format!("{name} stage is only allowed on MongoDB Atlas"),
        )),
        "$out" | "$merge" => Err(error(
            40601,
            format!("{name} can only be the final stage in the pipeline"),
        )),
        other => Err(error(
            codes::UNRECOGNIZED_PIPELINE_STAGE,
            format!("Unrecognized pipeline stage name: '{other}'"),
        )),
    }
}

/// A whole-number stage argument (`$skip`, `$limit`, `$sample.size`).
fn count_argument(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(v) => Some(i64::from(*v)),
        Bson::Int64(v) => Some(*v),
        Bson::Double(v) if v.fract() == 0.0 && v.abs() < 9.2e18 => Some(*v as i64),
        Bson::Decimal128(d) => {
            let v = crate::compare::decimal_to_f64(d);
            (v.fract() == 0.0 && v.abs() < 9.2e18).then_some(v as i64)
        }
        _ => None,
    }
}

impl Stage {
    fn run(
        &self,
        documents: Vec<Document>,
        context: &dyn PipelineContext,
        variables: &Variables,
    ) -> CommandResult<Vec<Document>> {
        match self {
            Stage::Match { matcher, .. } => {
                let mut kept = Vec::with_capacity(documents.len());
                for document in documents {
                    if matcher.try_matches_with(&document, variables)? {
                        kept.push(document);
                    }
                }
                Ok(kept)
            }
            Stage::TextMatch { .. } => Ok(documents),
            Stage::Shape(shape) => documents
                .into_iter()
                .map(|document| shape.apply(&document, variables))
                .collect(),
            Stage::Group(group) => group.run(documents, variables),
            Stage::Sort(sort) => Ok(sort.sort(documents)),
            Stage::Skip(count) => Ok(documents.into_iter().skip(*count).collect()),
            Stage::Limit(count) => Ok(documents.into_iter().take(*count).collect()),
            Stage::Unwind(unwind) => Ok(unwind.run(documents)),
            Stage::Lookup(lookup) => lookup.run(documents, context, variables),
            Stage::Count(field) => {
                if documents.is_empty() {
                    return Ok(Vec::new());
                }
                let mut output = Document::new();
                output.insert(field.clone(), count_value(documents.len()));
                Ok(vec![output])
            }
            Stage::Facet(facets) => {
                let mut output = Document::new();
                for (name, pipeline) in facets {
                    let results = pipeline.run(documents.clone(), context, variables)?;
                    output.insert(
                        name.clone(),
                        Bson::Array(results.into_iter().map(Bson::Document).collect()),
                    );
                }
                Ok(vec![output])
            }
            Stage::ReplaceRoot {
                expression,
                replace_with,
            } => documents
                .into_iter()
                .map(|document| match expression.evaluate(&document, variables)? {
                    Some(Bson::Document(root)) => Ok(root),
                    other => {
                        let subject = if *replace_with {
                            "'replacement document'"
                        } else {
                            "'newRoot'"
                        };
                        let (shown, kind) = match &other {
                            Some(value) => (value.to_string(), type_name(value)),
                            None => ("MISSING".to_string(), "missing"),
                        };
                        Err(error(
                            40228,
                            format!(
                                "{subject} expression must evaluate to an object, but resulting value was: {shown}. Type of resulting value: '{kind}'. Input document: {document}"
                            ),
                        ))
                    }
                })
                .collect(),
            Stage::SortByCount(expression) => {
                let mut counts: BTreeMap<OrderedBson, (usize, usize)> = BTreeMap::new();
                for (position, document) in documents.iter().enumerate() {
                    let key = expression.evaluate(document, variables)?.unwrap_or(Bson::Null);
                    counts.entry(OrderedBson(key)).or_insert((0, position)).0 += 1;
                }
                let mut groups: Vec<(OrderedBson, (usize, usize))> = counts.into_iter().collect();
                groups.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
                Ok(groups
                    .into_iter()
                    .map(|(key, (count, _))| {
                        let mut output = Document::new();
                        output.insert("_id", key.0);
                        output.insert("count", count_value(count));
                        output
                    })
                    .collect())
            }
            Stage::Sample(size) => {
                let mut documents = documents;
                documents.shuffle(&mut rand::rng());
                documents.truncate(*size);
                Ok(documents)
            }
            Stage::UnionWith {
                collection,
                pipeline,
            } => {
                let mut documents = documents;
                let mut others = context.collection_documents(collection)?;
                if let Some(pipeline) = pipeline {
                    others = pipeline.run(others, context, variables)?;
                }
                documents.extend(others);
                Ok(documents)
            }
            Stage::Bucket(bucket) => bucket.run(documents, variables),
            Stage::Redact(expression) => {
                let mut output = Vec::new();
                for document in documents {
                    if let Some(kept) = redact(&document, &document, expression, variables, 0)? {
                        output.push(kept);
                    }
                }
                Ok(output)
            }
        }
    }
}

/// A count as MongoDB reports it: int32 while it fits.
fn count_value(count: usize) -> Bson {
    match i32::try_from(count) {
        Ok(small) => Bson::Int32(small),
        Err(_) => Bson::Int64(count as i64),
    }
}

/// `$redact` on one (sub)document: `$$DESCEND` keeps it and redacts its subdocuments,
/// `$$PRUNE` drops it, `$$KEEP` keeps it whole.
fn redact(
    document: &Document,
    root: &Document,
    expression: &Expression,
    variables: &Variables,
    depth: usize,
) -> CommandResult<Option<Document>> {
    if depth > crate::expression::MAX_EXPRESSION_DEPTH {
        return Err(error(codes::FAILED_TO_PARSE, "$redact nesting too deep"));
    }
    let scope = variables.with("CURRENT", Bson::Document(document.clone()));
    match expression.evaluate(root, &scope)? {
        Some(Bson::String(decision)) if decision == "KEEP" => Ok(Some(document.clone())),
        Some(Bson::String(decision)) if decision == "PRUNE" => Ok(None),
        Some(Bson::String(decision)) if decision == "DESCEND" => {
            let mut output = Document::new();
            for (key, value) in document {
                let kept = match value {
                    Bson::Document(inner) => {
                        redact(inner, root, expression, variables, depth + 1)?.map(Bson::Document)
                    }
                    Bson::Array(items) => {
                        let mut kept_items = Vec::with_capacity(items.len());
                        for item in items {
                            match item {
                                Bson::Document(inner) => {
                                    if let Some(kept) =
                                        redact(inner, root, expression, variables, depth + 1)?
                                    {
                                        kept_items.push(Bson::Document(kept));
                                    }
                                }
                                other => kept_items.push(other.clone()),
                            }
                        }
                        Some(Bson::Array(kept_items))
                    }
                    other => Some(other.clone()),
                };
                if let Some(kept) = kept {
                    output.insert(key.clone(), kept);
                }
            }
            Ok(Some(output))
        }
        other => Err(error(
            17053,
            format!(
                "$redact's expression should not return anything aside from the variables $$KEEP, $$DESCEND, and $$PRUNE, but returned {}",
                other.map_or("MISSING".to_string(), |value| value.to_string())
            ),
        )),
    }
}

/// The value at a dotted path through embedded documents only (no array traversal), as
/// `$unwind` reads its field.
fn get_path<'a>(document: &'a Document, path: &[String]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let value = document.get(first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        Bson::Document(inner) => get_path(inner, rest),
        _ => None,
    }
}

/// Sets a dotted path, creating (or replacing non-document values with) embedded documents.
fn set_path(document: &mut Document, path: &[String], value: Bson) {
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
        set_path(inner, rest, value);
    }
}

/// `$unwind`: one output document per element of an array field.
#[derive(Debug, Clone)]
struct Unwind {
    path: Vec<String>,
    include_array_index: Option<Vec<String>>,
    preserve_null_and_empty_arrays: bool,
}

impl Unwind {
    fn parse(spec: &Bson) -> CommandResult<Unwind> {
        let (path, index, preserve) = match spec {
            Bson::String(path) => (path.clone(), None, false),
            Bson::Document(arguments) => {
                let mut path = None;
                let mut index = None;
                let mut preserve = false;
                for (key, value) in arguments {
                    match (key.as_str(), value) {
                        ("path", Bson::String(text)) => path = Some(text.clone()),
                        ("path", other) => {
                            return Err(error(
                                28808,
                                format!(
                                    "expected a string as the path for $unwind stage, got {}",
                                    type_name(other)
                                ),
                            ))
                        }
                        ("includeArrayIndex", Bson::String(text)) => {
                            if text.starts_with('$') {
                                return Err(error(
                                    28822,
                                    format!("includeArrayIndex option to $unwind stage should not be prefixed with a '$': {text}"),
                                ));
                            }
                            if text.is_empty() {
                                return Err(error(
                                    28810,
                                    "expected a non-empty string for the includeArrayIndex option to $unwind stage",
                                ));
                            }
                            index = Some(text.clone());
                        }
                        ("includeArrayIndex", other) => {
                            return Err(error(
                                28810,
                                format!(
                                    "expected a non-empty string for the includeArrayIndex option to $unwind stage, got {}",
                                    type_name(other)
                                ),
                            ))
                        }
                        ("preserveNullAndEmptyArrays", Bson::Boolean(flag)) => preserve = *flag,
                        ("preserveNullAndEmptyArrays", other) => {
                            return Err(error(
                                28809,
                                format!(
                                    "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got {}",
                                    type_name(other)
                                ),
                            ))
                        }
                        (other, _) => {
                            return Err(error(
                                28811,
                                format!("unrecognized option to $unwind stage: {other}"),
                            ))
                        }
                    }
                }
                let path =
                    path.ok_or_else(|| error(28812, "no path specified to $unwind stage"))?;
                (path, index, preserve)
            }
            other => {
                return Err(error(
                    15981,
                    format!(
                        "expected either a string or an object as specification for $unwind stage, got {}",
                        type_name(other)
                    ),
                ))
            }
        };
        let Some(stripped) = path.strip_prefix('$') else {
            return Err(error(
                28818,
                format!("path option to $unwind stage should be prefixed with a '$': {path}"),
            ));
        };
        Ok(Unwind {
            path: parse_field_path(stripped)?,
            include_array_index: match index {
                Some(index) => Some(parse_field_path(&index)?),
                None => None,
            },
            preserve_null_and_empty_arrays: preserve,
        })
    }

    fn run(&self, documents: Vec<Document>) -> Vec<Document> {
        let mut output = Vec::with_capacity(documents.len());
        for document in documents {
            match get_path(&document, &self.path).cloned() {
                Some(Bson::Array(items)) if !items.is_empty() => {
                    for (position, item) in items.into_iter().enumerate() {
                        let mut unwound = document.clone();
                        set_path(&mut unwound, &self.path, item);
                        if let Some(index) = &self.include_array_index {
                            set_path(&mut unwound, index, Bson::Int64(position as i64));
                        }
                        output.push(unwound);
                    }
                }
                Some(Bson::Array(_)) | Some(Bson::Null) | Some(Bson::Undefined) | None => {
                    if self.preserve_null_and_empty_arrays {
                        let mut kept = document;
                        if matches!(get_path(&kept, &self.path), Some(Bson::Array(_))) {
                            remove_path(&mut kept, &self.path);
                        }
                        if let Some(index) = &self.include_array_index {
                            set_path(&mut kept, index, Bson::Null);
                        }
                        output.push(kept);
                    }
                }
                Some(_) => {
                    // A non-array value is treated as a single-element array.
                    let mut kept = document;
                    if let Some(index) = &self.include_array_index {
                        set_path(&mut kept, index, Bson::Null);
                    }
                    output.push(kept);
                }
            }
        }
        output
    }
}

fn remove_path(document: &mut Document, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        document.remove(first);
    } else if let Some(Bson::Document(inner)) = document.get_mut(first) {
        remove_path(inner, rest);
    }
}

/// The values a query equality on `path` compares against: leaf values, each array at the
/// leaf together with its elements, and null for every branch where the field is missing.
fn query_values(value: &Bson, path: &[String], output: &mut Vec<Bson>, expand_leaf: bool) {
    let Some((first, rest)) = path.split_first() else {
        match value {
            Bson::Array(items) if expand_leaf => {
                output.extend(items.iter().cloned());
                output.push(value.clone());
            }
            Bson::Array(items) => output.extend(items.iter().cloned()),
            other => output.push(other.clone()),
        }
        return;
    };
    match value {
        Bson::Document(document) => match document.get(first) {
            Some(inner) => query_values(inner, rest, output, expand_leaf),
            None => output.push(Bson::Null),
        },
        Bson::Array(items) => {
            for item in items {
                if let Bson::Document(_) = item {
                    query_values(item, path, output, expand_leaf);
                }
            }
            if let Ok(index) = first.parse::<usize>() {
                if let Some(item) = items.get(index) {
                    query_values(item, rest, output, expand_leaf);
                }
            }
        }
        _ => output.push(Bson::Null),
    }
}

fn document_query_values(
    document: &Document,
    path: &[String],
    output: &mut Vec<Bson>,
    expand_leaf: bool,
) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    match document.get(first) {
        Some(inner) => query_values(inner, rest, output, expand_leaf),
        None => output.push(Bson::Null),
    }
}

/// `$lookup`: a left outer join with another collection of the database.
#[derive(Debug, Clone)]
struct Lookup {
    from: String,
    local_field: Option<Vec<String>>,
    foreign_field: Option<Vec<String>>,
    let_variables: Vec<(String, Expression)>,
    pipeline: Option<Pipeline>,
    as_path: Vec<String>,
}

impl Lookup {
    fn parse(spec: &Bson, depth: usize) -> CommandResult<Lookup> {
        let Bson::Document(arguments) = spec else {
            return Err(error(
                codes::FAILED_TO_PARSE,
                format!(
                    "the $lookup specification must be an Object, but found {}",
                    type_name(spec)
                ),
            ));
        };
        let mut from = None;
        let mut local_field = None;
        let mut foreign_field = None;
        let mut as_field = None;
        let mut let_variables = Vec::new();
        let mut has_let = false;
        let mut pipeline = None;
        let string = |key: &str, value: &Bson| -> CommandResult<String> {
            match value {
                Bson::String(text) => Ok(text.clone()),
                other => Err(error(
                    codes::FAILED_TO_PARSE,
                    format!(
                        "$lookup argument '{key}: {other}' must be a string, is type {}",
                        type_name(other)
                    ),
                )),
            }
        };
        for (key, value) in arguments {
            match key.as_str() {
                "from" => from = Some(string(key, value)?),
                "localField" => local_field = Some(parse_field_path(&string(key, value)?)?),
                "foreignField" => foreign_field = Some(parse_field_path(&string(key, value)?)?),
                "as" => as_field = Some(parse_field_path(&string(key, value)?)?),
                "let" => {
                    let Bson::Document(definitions) = value else {
                        return Err(error(
                            codes::FAILED_TO_PARSE,
                            format!(
                                "$lookup argument 'let' must be an object, is type {}",
                                type_name(value)
                            ),
                        ));
                    };
                    has_let = true;
                    for (name, definition) in definitions {
                        validate_variable_name(name)?;
                        let_variables.push((name.clone(), Expression::parse(definition)?));
                    }
                }
                "pipeline" => {
                    let Bson::Array(stages) = value else {
                        return Err(error(
                            codes::FAILED_TO_PARSE,
                            format!(
                                "$lookup argument 'pipeline' must be an array, is type {}",
                                type_name(value)
                            ),
                        ));
                    };
                    pipeline = Some(parse_pipeline(stages, depth + 1, false)?);
                }
                other => {
                    return Err(error(
                        codes::FAILED_TO_PARSE,
                        format!("unknown argument to $lookup: {other}"),
                    ))
                }
            }
        }
        let as_path = as_field.ok_or_else(|| {
            error(
                codes::FAILED_TO_PARSE,
                "must specify 'as' field for a $lookup",
            )
        })?;
        if local_field.is_some() != foreign_field.is_some() {
            return Err(error(
                codes::FAILED_TO_PARSE,
                "$lookup requires both or neither of 'localField' and 'foreignField' to be specified",
            ));
        }
        if pipeline.is_none() {
            if has_let {
                return Err(error(
                    codes::FAILED_TO_PARSE,
                    "$lookup with 'let' must also specify 'pipeline'",
                ));
            }
            if local_field.is_none() {
                return Err(error(
                    codes::FAILED_TO_PARSE,
                    "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified",
                ));
            }
        }
        let from = from.ok_or_else(|| {
            error(
                codes::FAILED_TO_PARSE,
                "must specify 'from' field for a $lookup",
            )
        })?;
        Ok(Lookup {
            from,
            local_field,
            foreign_field,
            let_variables,
            pipeline,
            as_path,
        })
    }

    fn run(
        &self,
        documents: Vec<Document>,
        context: &dyn PipelineContext,
        variables: &Variables,
    ) -> CommandResult<Vec<Document>> {
        // The whole foreign collection with each document's equality keys, read only when a
        // document's keys cannot be looked up by index (mongod uses the foreign field's index the
        // same way).
        let mut everything: Option<ForeignCollection> = None;
        let keys_of = |document: &Document, path: &[String]| -> BTreeSet<OrderedBson> {
            let mut values = Vec::new();
            document_query_values(document, path, &mut values, true);
            values.into_iter().map(OrderedBson).collect()
        };
        let mut output = Vec::with_capacity(documents.len());
        for mut document in documents {
            let wanted: Option<BTreeSet<OrderedBson>> = self.local_field.as_ref().map(|path| {
                let mut values = Vec::new();
                document_query_values(&document, path, &mut values, false);
                values.into_iter().map(OrderedBson).collect()
            });
            let narrowed = match (&wanted, &self.foreign_field) {
                (Some(wanted), Some(path)) if wanted.iter().all(|value| plain_value(&value.0)) => {
                    let values: Vec<Bson> = wanted.iter().map(|value| value.0.clone()).collect();
                    context
                        .documents_holding(&self.from, &path.join("."), &values)?
                        .map(|found| {
                            found
                                .into_iter()
                                .filter(|candidate| {
                                    let keys = keys_of(candidate, path);
                                    wanted.iter().any(|value| keys.contains(value))
                                })
                                .collect::<Vec<Document>>()
                        })
                }
                _ => None,
            };
            let candidates: Vec<Document> = match narrowed {
                Some(found) => found,
                None => {
                    if everything.is_none() {
                        let foreign = context.collection_documents(&self.from)?;
                        let keys = self.foreign_field.as_ref().map(|path| {
                            foreign
                                .iter()
                                .map(|document| keys_of(document, path))
                                .collect()
                        });
                        everything = Some((foreign, keys));
                    }
                    let Some((foreign, foreign_keys)) = everything.as_ref() else {
                        unreachable!("read just above")
                    };
                    match (&wanted, foreign_keys) {
                        (Some(wanted), Some(keys)) => foreign
                            .iter()
                            .zip(keys)
                            .filter(|(_, keys)| wanted.iter().any(|value| keys.contains(value)))
                            .map(|(foreign_document, _)| foreign_document.clone())
                            .collect(),
                        _ => foreign.clone(),
                    }
                }
            };
            let joined = match &self.pipeline {
                Some(pipeline) => {
                    let mut scope = variables.clone();
                    for (name, expression) in &self.let_variables {
                        let value = expression.evaluate(&document, variables)?;
                        scope = scope.with_optional(name, value);
                    }
                    pipeline.run(candidates, context, &scope)?
                }
                None => candidates,
            };
            set_path(
                &mut document,
                &self.as_path,
                Bson::Array(joined.into_iter().map(Bson::Document).collect()),
            );
            output.push(document);
        }
        Ok(output)
    }
}

/// A `$lookup`'s whole foreign collection, with each document's equality keys on the foreign
/// field (when the stage has one).
type ForeignCollection = (Vec<Document>, Option<Vec<BTreeSet<OrderedBson>>>);

/// A value an index lookup answers exactly: null (which also matches missing fields), arrays
/// and regular expressions have semantics an equality lookup does not capture.
fn plain_value(value: &Bson) -> bool {
    !matches!(
        value,
        Bson::Null | Bson::Undefined | Bson::Array(_) | Bson::RegularExpression(_)
    )
}

/// Accumulator operators of `$group` (and `$bucket`'s `output`).
const ACCUMULATORS: &[&str] = &[
    "$sum",
    "$avg",
    "$min",
    "$max",
    "$first",
    "$last",
    "$push",
    "$addToSet",
    "$count",
    "$mergeObjects",
    "$stdDevPop",
    "$stdDevSamp",
];

/// One output field of `$group`: an accumulator and its argument.
#[derive(Debug, Clone)]
struct AccumulatorSpec {
    field: String,
    op: &'static str,
    argument: Expression,
}

impl AccumulatorSpec {
    fn parse(field: &str, spec: &Bson) -> CommandResult<AccumulatorSpec> {
        if field.contains('.') {
            return Err(error(
                40235,
                format!("The field name '{field}' cannot contain '.'"),
            ));
        }
        if field.starts_with('$') {
            return Err(error(
                40236,
                format!("The field name '{field}' cannot be an operator name"),
            ));
        }
        let Bson::Document(accumulator) = spec else {
            return Err(error(
                40234,
                format!("The field '{field}' must be an accumulator object"),
            ));
        };
        if accumulator.len() != 1 {
            return Err(error(
                40238,
                format!("The field '{field}' must specify one accumulator"),
            ));
        }
        let Some((name, argument)) = accumulator.iter().next() else {
            return Err(error(
                40238,
                format!("The field '{field}' must specify one accumulator"),
            ));
        };
        let Some(op) = ACCUMULATORS.iter().find(|candidate| *candidate == name) else {
            return Err(error(15952, format!("unknown group operator '{name}'")));
        };
        let argument = if *op == "$count" {
            match argument {
                Bson::Document(empty) if empty.is_empty() => Expression::literal(Bson::Int32(1)),
                _ => {
                    return Err(error(
                        codes::TYPE_MISMATCH,
                        "$count takes no arguments, i.e. $count:{}",
                    ))
                }
            }
        } else {
            if let Bson::Array(items) = argument {
                if items.len() != 1 {
                    return Err(error(
                        40237,
                        format!("The {name} accumulator is a unary operator"),
                    ));
                }
            }
            let single = match argument {
                Bson::Array(items) => &items[0],
                other => other,
            };
            Expression::parse(single)?
        };
        Ok(AccumulatorSpec {
            field: field.to_string(),
            op,
            argument,
        })
    }

    fn start(&self) -> Accumulator {
        match self.op {
            "$sum" | "$count" => Accumulator::Sum(Number::Int(0)),
            "$avg" => Accumulator::Average(Number::Int(0), 0),
            "$min" | "$max" => Accumulator::Extreme(None),
            "$first" => Accumulator::First(None),
            "$last" => Accumulator::Last(None),
            "$push" => Accumulator::Push(Vec::new()),
            "$addToSet" => Accumulator::AddToSet(BTreeSet::new(), Vec::new()),
            "$mergeObjects" => Accumulator::Merge(Document::new()),
            _ => Accumulator::Deviation(Vec::new()),
        }
    }
}

/// The running state of one accumulator for one group.
#[derive(Debug, Clone)]
enum Accumulator {
    Sum(Number),
    Average(Number, u64),
    Extreme(Option<Bson>),
    First(Option<Option<Bson>>),
    Last(Option<Bson>),
    Push(Vec<Bson>),
    AddToSet(BTreeSet<OrderedBson>, Vec<Bson>),
    Merge(Document),
    Deviation(Vec<f64>),
}

impl Accumulator {
    fn add(&mut self, op: &str, value: Option<Bson>) -> CommandResult<()> {
        match self {
            Accumulator::Sum(total) => {
                if let Some(number) = value.as_ref().and_then(Number::from_bson) {
                    *total = add_numbers(*total, number);
                }
            }
            Accumulator::Average(total, count) => {
                if let Some(number) = value.as_ref().and_then(Number::from_bson) {
                    *total = add_numbers(*total, number);
                    *count += 1;
                }
            }
            Accumulator::Extreme(best) => {
                let Some(value) = value.filter(|v| !matches!(v, Bson::Null | Bson::Undefined))
                else {
                    return Ok(());
                };
                let wanted = if op == "$min" {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
                if best
                    .as_ref()
                    .is_none_or(|current| compare_bson(&value, current) == wanted)
                {
                    *best = Some(value);
                }
            }
            Accumulator::First(first) => {
                if first.is_none() {
                    *first = Some(value);
                }
            }
            Accumulator::Last(last) => *last = value,
            Accumulator::Push(items) => {
                if let Some(value) = value {
                    items.push(value);
                }
            }
            Accumulator::AddToSet(seen, items) => {
                if let Some(value) = value {
                    if seen.insert(OrderedBson(value.clone())) {
                        items.push(value);
                    }
                }
            }
            Accumulator::Merge(merged) => match value {
                None | Some(Bson::Null) | Some(Bson::Undefined) => {}
                Some(Bson::Document(document)) => {
                    for (key, value) in document {
                        merged.insert(key, value);
                    }
                }
                Some(other) => {
                    return Err(error(
                        40400,
                        format!(
                            "$mergeObjects requires object inputs, but input {other} is of type {}",
                            type_name(&other)
                        ),
                    ))
                }
            },
            Accumulator::Deviation(values) => {
                if let Some(number) = value.as_ref().and_then(Number::from_bson) {
                    values.push(number.as_f64());
                }
            }
        }
        Ok(())
    }

    fn finish(self, op: &str) -> Bson {
        match self {
            Accumulator::Sum(total) => total.to_bson(),
            Accumulator::Average(total, count) => {
                if count == 0 {
                    Bson::Null
                } else {
                    let mean = total.as_f64() / count as f64;
                    match total {
                        Number::Decimal(_) => float_result(mean, true).to_bson(),
                        _ => Bson::Double(mean),
                    }
                }
            }
            Accumulator::Extreme(best) => best.unwrap_or(Bson::Null),
            Accumulator::First(first) => first.flatten().unwrap_or(Bson::Null),
            Accumulator::Last(last) => last.unwrap_or(Bson::Null),
            Accumulator::Push(items) => Bson::Array(items),
            Accumulator::AddToSet(_, items) => Bson::Array(items),
            Accumulator::Merge(merged) => Bson::Document(merged),
            Accumulator::Deviation(values) => standard_deviation(&values, op == "$stdDevSamp"),
        }
    }
}

/// Groups in first-seen order, keyed by MongoDB equality of their `_id`.
struct Groups {
    index: BTreeMap<OrderedBson, usize>,
    entries: Vec<(Bson, Vec<Accumulator>)>,
}

impl Groups {
    fn new() -> Groups {
        Groups {
            index: BTreeMap::new(),
            entries: Vec::new(),
        }
    }

    fn accumulate(
        &mut self,
        key: Bson,
        specs: &[AccumulatorSpec],
        document: &Document,
        variables: &Variables,
    ) -> CommandResult<()> {
        let position = match self.index.get(&OrderedBson(key.clone())) {
            Some(position) => *position,
            None => {
                let position = self.entries.len();
                self.index.insert(OrderedBson(key.clone()), position);
                self.entries
                    .push((key, specs.iter().map(AccumulatorSpec::start).collect()));
                position
            }
        };
        let accumulators = &mut self.entries[position].1;
        for (spec, accumulator) in specs.iter().zip(accumulators.iter_mut()) {
            let value = spec.argument.evaluate(document, variables)?;
            accumulator.add(spec.op, value)?;
        }
        Ok(())
    }

    fn into_documents(self, specs: &[AccumulatorSpec]) -> Vec<Document> {
        self.entries
            .into_iter()
            .map(|(key, accumulators)| {
                let mut output = Document::new();
                output.insert("_id", key);
                for (spec, accumulator) in specs.iter().zip(accumulators) {
                    output.insert(spec.field.clone(), accumulator.finish(spec.op));
                }
                output
            })
            .collect()
    }
}

/// `$group`.
#[derive(Debug, Clone)]
struct Group {
    id: Expression,
    accumulators: Vec<AccumulatorSpec>,
}

impl Group {
    fn parse(spec: &Bson) -> CommandResult<Group> {
        let Bson::Document(spec) = spec else {
            return Err(error(
                15947,
                "a group's fields must be specified in an object",
            ));
        };
        let mut id = None;
        let mut accumulators = Vec::new();
        for (field, value) in spec {
            if field == "_id" {
                id = Some(Expression::parse(value)?);
            } else {
                accumulators.push(AccumulatorSpec::parse(field, value)?);
            }
        }
        let id = id.ok_or_else(|| error(15955, "a group specification must include an _id"))?;
        Ok(Group { id, accumulators })
    }

    fn run(&self, documents: Vec<Document>, variables: &Variables) -> CommandResult<Vec<Document>> {
        let mut groups = Groups::new();
        for document in &documents {
            let key = self.id.evaluate(document, variables)?.unwrap_or(Bson::Null);
            groups.accumulate(key, &self.accumulators, document, variables)?;
        }
        Ok(groups.into_documents(&self.accumulators))
    }
}

/// `$bucket`: documents grouped into ranges of `groupBy` given by sorted boundaries.
#[derive(Debug, Clone)]
struct Bucket {
    group_by: Expression,
    boundaries: Vec<Bson>,
    default: Option<Bson>,
    accumulators: Vec<AccumulatorSpec>,
}

impl Bucket {
    fn parse(spec: &Bson) -> CommandResult<Bucket> {
        let Bson::Document(arguments) = spec else {
            return Err(error(
                40201,
                format!(
                    "Argument to $bucket stage must be an object, but found type: {}.",
                    type_name(spec)
                ),
            ));
        };
        let mut group_by = None;
        let mut boundaries = None;
        let mut default = None;
        let mut accumulators = None;
        for (key, value) in arguments {
            match key.as_str() {
                "groupBy" => {
                    let valid = match value {
                        Bson::String(path) => path.starts_with('$'),
                        Bson::Document(_) => true,
                        _ => false,
                    };
                    if !valid {
                        return Err(error(
                            40202,
                            format!(
                                "The $bucket 'groupBy' field must be defined as a $-prefixed path or an expression, but found: {value}."
                            ),
                        ));
                    }
                    group_by = Some(Expression::parse(value)?);
                }
                "boundaries" => {
                    let Bson::Array(items) = value else {
                        return Err(error(
                            40200,
                            format!(
                                "The $bucket 'boundaries' field must be an array, but found type: {}.",
                                type_name(value)
                            ),
                        ));
                    };
                    boundaries = Some(items.clone());
                }
                "default" => default = Some(value.clone()),
                "output" => {
                    let Bson::Document(output) = value else {
                        return Err(error(
                            40196,
                            format!(
                                "The $bucket 'output' field must be an object, but found type: {}.",
                                type_name(value)
                            ),
                        ));
                    };
                    let mut specs = Vec::new();
                    for (field, spec) in output {
                        specs.push(AccumulatorSpec::parse(field, spec)?);
                    }
                    accumulators = Some(specs);
                }
                other => {
                    return Err(error(
                        40197,
                        format!("Unrecognized option to $bucket: {other}."),
                    ))
                }
            }
        }
        let (Some(group_by), Some(boundaries)) = (group_by, boundaries) else {
            return Err(error(
                40198,
                "$bucket requires 'groupBy' and 'boundaries' to be specified.",
            ));
        };
        if boundaries.len() < 2 {
            return Err(error(
                40192,
                format!(
                    "The $bucket 'boundaries' field must have at least 2 values, but found {} value(s).",
                    boundaries.len()
                ),
            ));
        }
        for (position, pair) in boundaries.windows(2).enumerate() {
            if crate::compare::canonical_type_rank(&pair[0])
                != crate::compare::canonical_type_rank(&pair[1])
            {
                return Err(error(
                    40193,
                    format!(
                        "All values in the the 'boundaries' option to $bucket must have the same type. Found conflicting types {} and {}.",
                        type_name(&pair[0]),
                        type_name(&pair[1])
                    ),
                ));
            }
            if compare_bson(&pair[0], &pair[1]) != Ordering::Less {
                return Err(error(
                    40194,
                    format!(
                        "The 'boundaries' option to $bucket must be sorted in ascending order, but elements {} and {} are not in ascending order ({} is not less than {}).",
                        position,
                        position + 1,
                        pair[0],
                        pair[1]
                    ),
                ));
            }
        }
        if let Some(default) = &default {
            let first = &boundaries[0];
            let last = &boundaries[boundaries.len() - 1];
            let same_type = crate::compare::canonical_type_rank(default)
                == crate::compare::canonical_type_rank(first);
            if same_type
                && compare_bson(default, first) != Ordering::Less
                && compare_bson(default, last) == Ordering::Less
            {
                return Err(error(
                    40199,
                    "The $bucket 'default' field must be less than the lowest boundary or greater than or equal to the highest boundary.",
                ));
            }
        }
        let accumulators = match accumulators {
            Some(specs) => specs,
            None => vec![AccumulatorSpec {
                field: "count".to_string(),
                op: "$sum",
                argument: Expression::literal(Bson::Int32(1)),
            }],
        };
        Ok(Bucket {
            group_by,
            boundaries,
            default,
            accumulators,
        })
    }

    fn run(&self, documents: Vec<Document>, variables: &Variables) -> CommandResult<Vec<Document>> {
        let mut buckets: Vec<Option<Vec<Accumulator>>> = vec![None; self.boundaries.len() - 1];
        let mut default_bucket: Option<Vec<Accumulator>> = None;
        for document in &documents {
            let value = self
                .group_by
                .evaluate(document, variables)?
                .unwrap_or(Bson::Null);
            let position = self.boundaries.windows(2).position(|pair| {
                crate::compare::canonical_type_rank(&value)
                    == crate::compare::canonical_type_rank(&pair[0])
                    && compare_bson(&value, &pair[0]) != Ordering::Less
                    && compare_bson(&value, &pair[1]) == Ordering::Less
            });
            let slot = match position {
                Some(position) => &mut buckets[position],
                None if self.default.is_some() => &mut default_bucket,
                None => {
                    return Err(error(
                        40066,
                        "$switch could not find a matching branch for an input, and no default was specified.",
                    ))
                }
            };
            let accumulators = slot.get_or_insert_with(|| {
                self.accumulators
                    .iter()
                    .map(AccumulatorSpec::start)
                    .collect()
            });
            for (spec, accumulator) in self.accumulators.iter().zip(accumulators.iter_mut()) {
                accumulator.add(spec.op, spec.argument.evaluate(document, variables)?)?;
            }
        }
        let mut output = Vec::new();
        let labelled = buckets
            .into_iter()
            .enumerate()
            .filter_map(|(position, bucket)| {
                bucket.map(|bucket| (self.boundaries[position].clone(), bucket))
            })
            .chain(
                default_bucket.map(|bucket| (self.default.clone().unwrap_or(Bson::Null), bucket)),
            );
        for (id, accumulators) in labelled {
            let mut document = Document::new();
            document.insert("_id", id);
            for (spec, accumulator) in self.accumulators.iter().zip(accumulators) {
                document.insert(spec.field.clone(), accumulator.finish(spec.op));
            }
            output.push(document);
        }
        Ok(output)
    }
}

/// A parsed sort specification (`{field: 1 | -1, ...}`), shared by `find` and `$sort`.
///
/// Missing fields sort as null; an array field sorts by its smallest element ascending and its
/// largest descending, as MongoDB does.
#[derive(Debug, Clone)]
pub struct SortSpec {
    keys: Vec<SortKey>,
}

#[derive(Debug, Clone)]
struct SortKey {
    field: String,
    path: Vec<String>,
    descending: bool,
    /// `{$meta: "textScore"}`: the `$text` relevance score, highest first.
    text_score: bool,
}

impl SortSpec {
    /// Parses a sort document; a direction other than 1/-1 (or `{$meta: ...}`) is code 15974/2.
    pub fn parse(spec: &Document) -> CommandResult<SortSpec> {
        let mut keys = Vec::with_capacity(spec.len());
        for (field, direction) in spec {
            let descending = match direction {
                Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                    match count_argument(direction) {
                        Some(1) => false,
                        Some(-1) => true,
                        _ => return Err(error(
                            15975,
                            "$sort key ordering must be 1 (for ascending) or -1 (for descending)",
                        )),
                    }
                }
                Bson::Document(meta) if meta.contains_key("$meta") => {
                    if meta.len() != 1
                        || meta.get("$meta") != Some(&Bson::String("textScore".into()))
                    {
                        return Err(CommandError::bad_value(format!(
                            "Illegal $meta sort: {meta}"
                        )));
                    }
                    keys.push(SortKey {
                        field: field.clone(),
                        path: Vec::new(),
                        descending: true,
                        text_score: true,
                    });
                    continue;
                }
                _ => return Err(error(
                    15974,
                    "$sort key ordering must be specified using a number or {$meta: 'textScore'}",
                )),
            };
            if field.is_empty() || field.split('.').any(str::is_empty) {
                return Err(error(
                    15998,
                    "FieldPath field names may not be empty strings.",
                ));
            }
            if field.starts_with('$') {
                return Err(error(
                    16410,
                    "FieldPath field names may not start with '$'. Consider using $getField or $setField.",
                ));
            }
            keys.push(SortKey {
                field: field.clone(),
                path: field.split('.').map(str::to_string).collect(),
                descending,
                text_score: false,
            });
        }
        Ok(SortSpec { keys })
    }

    /// The sort fields and their directions (1 or -1), in priority order.
    pub fn fields(&self) -> Vec<(String, i32)> {
        self.keys
            .iter()
            .map(|key| (key.field.clone(), if key.descending { -1 } else { 1 }))
            .collect()
    }

    /// Orders two documents by this specification. A `{$meta: "textScore"}` key ranks every
    /// document equal here; use [`SortSpec::compare_scored`] when scores are known.
    pub fn compare(&self, left: &Document, right: &Document) -> Ordering {
        compare_keys(
            &self.keys,
            &self.sort_key(left, None),
            &self.sort_key(right, None),
        )
    }

    /// True when a key is `{$meta: "textScore"}`, so the caller should compute each document's
    /// `$text` score ([`crate::query::Matcher::text_score`]) and call [`SortSpec::compare_scored`].
    pub fn needs_text_score(&self) -> bool {
        self.keys.iter().any(|key| key.text_score)
    }

    /// Orders two documents whose `$text` scores are known (higher scores first).
    pub fn compare_scored(
        &self,
        left: &Document,
        left_score: Option<f64>,
        right: &Document,
        right_score: Option<f64>,
    ) -> Ordering {
        compare_keys(
            &self.keys,
            &self.sort_key(left, left_score),
            &self.sort_key(right, right_score),
        )
    }

    /// Sorts documents stably by this specification, computing each document's key once.
    pub fn sort(&self, documents: Vec<Document>) -> Vec<Document> {
        let mut keyed: Vec<(Vec<Bson>, Document)> = documents
            .into_iter()
            .map(|document| (self.sort_key(&document, None), document))
            .collect();
        keyed.sort_by(|a, b| compare_keys(&self.keys, &a.0, &b.0));
        keyed.into_iter().map(|(_, document)| document).collect()
    }

    /// The value each key sorts by: missing is null, an empty array sorts before null, and an
    /// array contributes its smallest (ascending) or largest (descending) element.
    fn sort_key(&self, document: &Document, text_score: Option<f64>) -> Vec<Bson> {
        self.keys
            .iter()
            .map(|key| {
                if key.text_score {
                    return text_score.map_or(Bson::Null, Bson::Double);
                }
                let mut values = Vec::new();
                match key.path.split_first() {
                    Some((first, rest)) => match document.get(first) {
                        Some(inner) => sort_values(inner, rest, &mut values),
                        None => values.push(Bson::Null),
                    },
                    None => values.push(Bson::Null),
                }
                let wanted = if key.descending {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                let mut best: Option<Bson> = None;
                for value in values {
                    if best
                        .as_ref()
                        .is_none_or(|current| compare_bson(&value, current) == wanted)
                    {
                        best = Some(value);
                    }
                }
                best.unwrap_or(Bson::Null)
            })
            .collect()
    }
}

fn compare_keys(keys: &[SortKey], left: &[Bson], right: &[Bson]) -> Ordering {
    for ((key, a), b) in keys.iter().zip(left).zip(right) {
        let order = compare_bson(a, b);
        let order = if key.descending {
            order.reverse()
        } else {
            order
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

fn sort_values(value: &Bson, path: &[String], output: &mut Vec<Bson>) {
    let Some((first, rest)) = path.split_first() else {
        match value {
            Bson::Array(items) if items.is_empty() => output.push(Bson::Undefined),
            Bson::Array(items) => output.extend(items.iter().cloned()),
            other => output.push(other.clone()),
        }
        return;
    };
    match value {
        Bson::Document(document) => match document.get(first) {
            Some(inner) => sort_values(inner, rest, output),
            None => output.push(Bson::Null),
        },
        Bson::Array(items) => {
            let before = output.len();
            if let Ok(index) = first.parse::<usize>() {
                if let Some(item) = items.get(index) {
                    sort_values(item, rest, output);
                }
            }
            for item in items {
                if let Bson::Document(_) = item {
                    sort_values(item, path, output);
                }
            }
            if output.len() == before {
                output.push(Bson::Null);
            }
        }
        _ => output.push(Bson::Null),
    }
}
