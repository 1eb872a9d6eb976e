//! `$jsonSchema` as MongoDB implements it for validators and queries: bsonType, type, required,
//! properties, enum, pattern, minimum/maximum (exclusive), minLength/maxLength, items,
//! minItems/maxItems, additionalProperties, and the rest of the draft-4 subset.

use std::cmp::Ordering;

use bson::{doc, Bson, Document};

use crate::compare::{bson_equal, compare_bson, is_number};
use crate::error::{CommandError, CommandResult};
use crate::query::{type_alias, Pattern, TypeSpec};

/// How deeply schemas may nest; deeper schemas are rejected rather than risking the stack.
const MAX_SCHEMA_DEPTH: usize = 100;

/// A parsed `$jsonSchema`.
#[derive(Debug, Clone)]
pub struct JsonSchema {
    root: SchemaNode,
}

/// One (sub)schema: its rules in the order they were written, plus the annotations MongoDB
/// echoes back in validation errors.
#[derive(Debug, Clone, Default)]
struct SchemaNode {
    rules: Vec<Rule>,
    title: Option<String>,
    description: Option<String>,
}

/// The JSON Schema `type` names MongoDB accepts (`integer` is not among them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Object,
    Array,
    Number,
    Boolean,
    String,
    Null,
}

impl JsonType {
    fn matches(self, value: &Bson) -> bool {
        match self {
            JsonType::Object => matches!(value, Bson::Document(_)),
            JsonType::Array => matches!(value, Bson::Array(_)),
            JsonType::Number => is_number(value),
            JsonType::Boolean => matches!(value, Bson::Boolean(_)),
            JsonType::String => matches!(value, Bson::String(_)),
            JsonType::Null => matches!(value, Bson::Null),
        }
    }
}

/// `additionalProperties` / `additionalItems`: allowed, forbidden, or checked by a schema.
#[derive(Debug, Clone)]
enum Additional {
    Allowed(bool),
    Schema(Box<SchemaNode>),
}

/// A `dependencies` entry: required companions, or a schema the whole object must satisfy.
#[derive(Debug, Clone)]
enum Dependency {
    Properties(Vec<String>),
    Schema(Box<SchemaNode>),
}

#[derive(Debug, Clone)]
enum Rule {
    BsonType {
        types: Vec<TypeSpec>,
        specified: Bson,
    },
    JsonType {
        types: Vec<JsonType>,
        specified: Bson,
    },
    Required(Vec<String>),
    Properties(Vec<(String, SchemaNode)>),
    Enum(Vec<Bson>),
    Pattern(Pattern, String),
    Minimum {
        limit: Bson,
        exclusive: bool,
    },
    Maximum {
        limit: Bson,
        exclusive: bool,
    },
    MinLength(u64),
    MaxLength(u64),
    MinItems(u64),
    MaxItems(u64),
    UniqueItems,
    Items(Box<SchemaNode>),
    TupleItems {
        schemas: Vec<SchemaNode>,
        additional: Option<Additional>,
    },
    AdditionalProperties {
        allowed: Additional,
        known: Vec<String>,
        patterns: Vec<Pattern>,
    },
    PatternProperties(Vec<(Pattern, String, SchemaNode)>),
    MinProperties(u64),
    MaxProperties(u64),
    AllOf(Vec<SchemaNode>),
    AnyOf(Vec<SchemaNode>),
    OneOf(Vec<SchemaNode>),
    Not(Box<SchemaNode>),
    Dependencies(Vec<(String, Dependency)>),
}

fn keyword_type_error(keyword: &str, expected: &str) -> CommandError {
    CommandError::type_mismatch(format!(
        "$jsonSchema keyword '{keyword}' must be {expected}"
    ))
}

fn parse_count(keyword: &str, value: &Bson) -> CommandResult<u64> {
    if !is_number(value) {
        return Err(keyword_type_error(keyword, "a number"));
    }
    let number = match value {
        Bson::Int32(number) => f64::from(*number),
        Bson::Int64(number) => *number as f64,
        Bson::Double(number) => *number,
        Bson::Decimal128(decimal) => crate::compare::decimal_to_f64(decimal),
        _ => f64::NAN,
    };
    if !(number.is_finite() && number >= 0.0 && number.fract() == 0.0) {
        return Err(CommandError::failed_to_parse(format!(
            "$jsonSchema keyword '{keyword}' must be a non-negative integer, but found {value}"
        )));
    }
    Ok(number as u64)
}

fn parse_string_list(keyword: &str, value: &Bson) -> CommandResult<Vec<String>> {
    let Bson::Array(items) = value else {
        return Err(keyword_type_error(keyword, "an array"));
    };
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Bson::String(name) = item else {
            return Err(CommandError::type_mismatch(format!(
                "$jsonSchema keyword '{keyword}' must contain only strings"
            )));
        };
        if names.contains(name) {
            return Err(CommandError::failed_to_parse(format!(
                "$jsonSchema keyword '{keyword}' array cannot contain duplicate values"
            )));
        }
        names.push(name.clone());
    }
    Ok(names)
}

fn parse_schema_list(keyword: &str, value: &Bson, depth: usize) -> CommandResult<Vec<SchemaNode>> {
    let Bson::Array(items) = value else {
        return Err(keyword_type_error(keyword, "an array"));
    };
    if items.is_empty() {
        return Err(CommandError::bad_value(format!(
            "$jsonSchema keyword '{keyword}' must be a non-empty array"
        )));
    }
    items
        .iter()
        .map(|item| match item {
            Bson::Document(schema) => parse_node(schema, depth + 1),
            _ => Err(CommandError::type_mismatch(format!(
                "$jsonSchema keyword '{keyword}' must be an array of objects, but found an element of type {}",
                type_alias(item)
            ))),
        })
        .collect()
}

fn parse_subschema(keyword: &str, value: &Bson, depth: usize) -> CommandResult<SchemaNode> {
    match value {
        Bson::Document(schema) => parse_node(schema, depth + 1),
        _ => Err(keyword_type_error(keyword, "an object")),
    }
}

fn parse_additional(keyword: &str, value: &Bson, depth: usize) -> CommandResult<Additional> {
    match value {
        Bson::Boolean(allowed) => Ok(Additional::Allowed(*allowed)),
        Bson::Document(schema) => Ok(Additional::Schema(Box::new(parse_node(schema, depth + 1)?))),
        _ => Err(keyword_type_error(keyword, "either an object or a boolean")),
    }
}

fn parse_bound(
    schema: &Document,
    keyword: &str,
    exclusive_keyword: &str,
) -> CommandResult<Option<(Bson, bool)>> {
    let exclusive = match schema.get(exclusive_keyword) {
        None => false,
        Some(Bson::Boolean(flag)) => *flag,
        Some(_) => return Err(keyword_type_error(exclusive_keyword, "a boolean")),
    };
    match schema.get(keyword) {
        None if schema.contains_key(exclusive_keyword) => {
            Err(CommandError::failed_to_parse(format!(
            "$jsonSchema keyword '{keyword}' must be a present if {exclusive_keyword} is present"
        )))
        }
        None => Ok(None),
        Some(limit) if is_number(limit) => Ok(Some((limit.clone(), exclusive))),
        Some(_) => Err(keyword_type_error(keyword, "a number")),
    }
}

fn parse_node(schema: &Document, depth: usize) -> CommandResult<SchemaNode> {
    if depth > MAX_SCHEMA_DEPTH {
        return Err(CommandError::bad_value(format!(
            "$jsonSchema exceeded the maximum nesting depth of {MAX_SCHEMA_DEPTH}"
        )));
    }
    if schema.contains_key("type") && schema.contains_key("bsonType") {
        return Err(CommandError::failed_to_parse(
            "Cannot specify both $jsonSchema keywords 'type' and 'bsonType'",
        ));
    }
    let mut node = SchemaNode::default();
    for (keyword, value) in schema {
        let rule = if is_nested_keyword(keyword) {
            parse_nested_keyword(schema, keyword, value, depth)?
        } else {
            parse_scalar_keyword(schema, keyword, value, &mut node)?
        };
        if let Some(rule) = rule {
            node.rules.push(rule);
        }
    }
    Ok(node)
}

/// Keywords that hold subschemas. They are parsed in their own small function so that each
/// level of a deeply nested schema costs little stack.
fn is_nested_keyword(keyword: &str) -> bool {
    matches!(
        keyword,
        "properties"
            | "items"
            | "additionalItems"
            | "additionalProperties"
            | "patternProperties"
            | "allOf"
            | "anyOf"
            | "oneOf"
            | "not"
            | "dependencies"
    )
}

fn parse_nested_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let parsers: [NestedParser; 7] = [
        parse_properties_keyword,
        parse_items_keyword,
        parse_additional_items_keyword,
        parse_additional_properties_keyword,
        parse_pattern_properties_keyword,
        parse_combinator_keyword,
        parse_dependencies_keyword,
    ];
    for parser in parsers {
        if let Some(rule) = parser(schema, keyword, value, depth)? {
            return Ok(Some(rule));
        }
    }
    Ok(None)
}

/// Parses one subschema-holding keyword, or returns `None` for the others.
type NestedParser = fn(&Document, &str, &Bson, usize) -> CommandResult<Option<Rule>>;

#[inline(never)]
fn parse_properties_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let _ = (schema, depth);
    let rule = match keyword {
        "properties" => {
            let Bson::Document(properties) = value else {
                return Err(keyword_type_error(keyword, "an object"));
            };
            let mut parsed = Vec::with_capacity(properties.len());
            for (name, property) in properties {
                let Bson::Document(property) = property else {
                    return Err(CommandError::type_mismatch(format!(
                        "Nested schema for $jsonSchema property '{name}' must be an object"
                    )));
                };
                parsed.push((name.clone(), parse_node(property, depth + 1)?));
            }
            Rule::Properties(parsed)
        }
        _ => return Ok(None),
    };
    Ok(Some(rule))
}

#[inline(never)]
fn parse_items_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let _ = (schema, depth);
    let rule = match keyword {
        "items" => match value {
            Bson::Document(item) => Rule::Items(Box::new(parse_node(item, depth + 1)?)),
            Bson::Array(_) => Rule::TupleItems {
                schemas: parse_schema_list(keyword, value, depth)?,
                additional: schema
                    .get("additionalItems")
                    .map(|additional| parse_additional("additionalItems", additional, depth))
                    .transpose()?,
            },
            _ => return Err(keyword_type_error(keyword, "an array or an object")),
        },
        _ => return Ok(None),
    };
    Ok(Some(rule))
}

#[inline(never)]
fn parse_additional_items_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let _ = schema;
    if keyword == "additionalItems" {
        // Only meaningful next to an array-form `items`, which reads it; alone it is inert,
        // but it must still be well formed.
        parse_additional(keyword, value, depth)?;
    }
    Ok(None)
}

#[inline(never)]
fn parse_additional_properties_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let _ = (schema, depth);
    let rule = match keyword {
        "additionalProperties" => {
            let known = match schema.get("properties") {
                Some(Bson::Document(properties)) => properties.keys().cloned().collect(),
                _ => Vec::new(),
            };
            let patterns = match schema.get("patternProperties") {
                Some(Bson::Document(patterns)) => patterns
                    .keys()
                    .map(|source| Pattern::new(source, ""))
                    .collect::<CommandResult<Vec<_>>>()?,
                _ => Vec::new(),
            };
            Rule::AdditionalProperties {
                allowed: parse_additional(keyword, value, depth)?,
                known,
                patterns,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(rule))
}

#[inline(never)]
fn parse_pattern_properties_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let _ = (schema, depth);
    let rule = match keyword {
        "patternProperties" => {
            let Bson::Document(patterns) = value else {
                return Err(keyword_type_error(keyword, "an object"));
            };
            let mut parsed = Vec::with_capacity(patterns.len());
            for (source, property) in patterns {
                let Bson::Document(property) = property else {
                    return Err(CommandError::type_mismatch(format!(
                        "$jsonSchema keyword 'patternProperties' has property '{source}' which is not an object"
                    )));
                };
                parsed.push((
                    Pattern::new(source, "")?,
                    source.clone(),
                    parse_node(property, depth + 1)?,
                ));
            }
            Rule::PatternProperties(parsed)
        }
        _ => return Ok(None),
    };
    Ok(Some(rule))
}

/// The combinators: `allOf`, `anyOf` and `oneOf` take a list of subschemas, `not` one.
#[inline(never)]
fn parse_combinator_keyword(
    _schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let rule = match keyword {
        "allOf" => Rule::AllOf(parse_schema_list(keyword, value, depth)?),
        "anyOf" => Rule::AnyOf(parse_schema_list(keyword, value, depth)?),
        "oneOf" => Rule::OneOf(parse_schema_list(keyword, value, depth)?),
        "not" => Rule::Not(Box::new(parse_subschema(keyword, value, depth)?)),
        _ => return Ok(None),
    };
    Ok(Some(rule))
}

#[inline(never)]
fn parse_dependencies_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    depth: usize,
) -> CommandResult<Option<Rule>> {
    let _ = (schema, depth);
    let rule = match keyword {
        "dependencies" => {
            let Bson::Document(dependencies) = value else {
                return Err(keyword_type_error(keyword, "an object"));
            };
            let mut parsed = Vec::with_capacity(dependencies.len());
            for (name, dependency) in dependencies {
                let dependency = match dependency {
                    Bson::Document(schema) => Dependency::Schema(Box::new(parse_node(schema, depth + 1)?)),
                    Bson::Array(_) => {
                        let names = parse_string_list(keyword, dependency)?;
                        if names.is_empty() {
                            return Err(CommandError::failed_to_parse(format!(
                                "property '{name}' in $jsonSchema keyword 'dependencies' cannot be an empty array"
                            )));
                        }
                        Dependency::Properties(names)
                    }
                    _ => {
                        return Err(CommandError::type_mismatch(format!(
                            "property '{name}' in $jsonSchema keyword 'dependencies' must be either an object or an array"
                        )))
                    }
                };
                parsed.push((name.clone(), dependency));
            }
            Rule::Dependencies(parsed)
        }
        _ => return Ok(None),
    };
    Ok(Some(rule))
}

#[inline(never)]
fn parse_scalar_keyword(
    schema: &Document,
    keyword: &str,
    value: &Bson,
    node: &mut SchemaNode,
) -> CommandResult<Option<Rule>> {
    let rule = match keyword {
        "bsonType" => Rule::BsonType {
            types: parse_type_names(keyword, value, |name| {
                TypeSpec::from_alias(name).ok_or_else(|| {
                    CommandError::bad_value(format!("Unknown type name alias: {name}"))
                })
            })?,
            specified: value.clone(),
        },
        "type" => Rule::JsonType {
            types: parse_type_names(keyword, value, parse_json_type)?,
            specified: value.clone(),
        },
        "required" => {
            let names = parse_string_list(keyword, value)?;
            if names.is_empty() {
                return Err(CommandError::bad_value(
                    "$jsonSchema keyword 'required' cannot be an empty array",
                ));
            }
            Rule::Required(names)
        }
        "enum" => {
            let Bson::Array(values) = value else {
                return Err(keyword_type_error(keyword, "an array"));
            };
            if values.is_empty() {
                return Err(CommandError::failed_to_parse(
                    "$jsonSchema keyword 'enum' cannot be an empty array",
                ));
            }
            Rule::Enum(values.clone())
        }
        "pattern" => {
            let Bson::String(source) = value else {
                return Err(keyword_type_error(keyword, "a string"));
            };
            Rule::Pattern(Pattern::new(source, "")?, source.clone())
        }
        "minimum" | "exclusiveMinimum" => {
            match parse_bound(schema, "minimum", "exclusiveMinimum")? {
                Some((limit, exclusive)) if keyword == "minimum" => {
                    Rule::Minimum { limit, exclusive }
                }
                _ => return Ok(None),
            }
        }
        "maximum" | "exclusiveMaximum" => {
            match parse_bound(schema, "maximum", "exclusiveMaximum")? {
                Some((limit, exclusive)) if keyword == "maximum" => {
                    Rule::Maximum { limit, exclusive }
                }
                _ => return Ok(None),
            }
        }
        "minLength" => Rule::MinLength(parse_count(keyword, value)?),
        "maxLength" => Rule::MaxLength(parse_count(keyword, value)?),
        "minItems" => Rule::MinItems(parse_count(keyword, value)?),
        "maxItems" => Rule::MaxItems(parse_count(keyword, value)?),
        "minProperties" => Rule::MinProperties(parse_count(keyword, value)?),
        "maxProperties" => Rule::MaxProperties(parse_count(keyword, value)?),
        "uniqueItems" => match value {
            Bson::Boolean(true) => Rule::UniqueItems,
            Bson::Boolean(false) => return Ok(None),
            _ => return Err(keyword_type_error(keyword, "a boolean")),
        },
        "title" | "description" => {
            let Bson::String(text) = value else {
                return Err(keyword_type_error(keyword, "a string"));
            };
            if keyword == "title" {
                node.title = Some(text.clone());
            } else {
                node.description = Some(text.clone());
            }
            return Ok(None);
        }
        "$ref" | "$schema" | "default" | "definitions" | "format" | "id" => {
            return Err(CommandError::failed_to_parse(format!(
                "$jsonSchema keyword '{keyword}' is not currently supported"
            )))
        }
        other => {
            return Err(CommandError::failed_to_parse(format!(
                "Unknown $jsonSchema keyword: {other}"
            )))
        }
    };
    Ok(Some(rule))
}

fn parse_type_names<T>(
    keyword: &str,
    value: &Bson,
    parse_one: impl Fn(&str) -> CommandResult<T>,
) -> CommandResult<Vec<T>> {
    match value {
        Bson::String(name) => Ok(vec![parse_one(name)?]),
        Bson::Array(names) if !names.is_empty() => names
            .iter()
            .map(|name| match name {
                Bson::String(name) => parse_one(name),
                _ => Err(keyword_type_error(
                    keyword,
                    "either a string or an array of strings",
                )),
            })
            .collect(),
        _ => Err(keyword_type_error(
            keyword,
            "either a string or an array of strings",
        )),
    }
}

fn parse_json_type(name: &str) -> CommandResult<JsonType> {
    Ok(match name {
        "object" => JsonType::Object,
        "array" => JsonType::Array,
        "number" => JsonType::Number,
        "boolean" => JsonType::Boolean,
        "string" => JsonType::String,
        "null" => JsonType::Null,
        "integer" => {
            return Err(CommandError::bad_value(
                "$jsonSchema type 'integer' is not currently supported.",
            ))
        }
        other => {
            return Err(CommandError::bad_value(format!(
                "Unknown type name alias: {other}"
            )))
        }
    })
}

fn numbered(failures: Vec<(usize, Vec<Bson>)>) -> Vec<Bson> {
    failures
        .into_iter()
        .map(|(index, details)| Bson::Document(doc! {"index": index as i32, "details": details}))
        .collect()
}

impl SchemaNode {
    /// The rules `value` breaks, as MongoDB's `schemaRulesNotSatisfied` entries.
    fn failures(&self, value: &Bson) -> Vec<Bson> {
        self.rules
            .iter()
            .filter_map(|rule| rule.failure(value))
            .map(Bson::Document)
            .collect()
    }

    fn is_satisfied(&self, value: &Bson) -> bool {
        self.rules.iter().all(|rule| rule.failure(value).is_none())
    }
}

fn length_failure(
    keyword: &str,
    limit: u64,
    actual: usize,
    value: &Bson,
    reason: &str,
) -> Option<Document> {
    let actual = actual as u64;
    let broken = if keyword.starts_with("min") {
        actual < limit
    } else {
        actual > limit
    };
    broken.then(|| {
        doc! {
            "operatorName": keyword,
            "specifiedAs": {keyword: limit as i64},
            "reason": reason,
            "consideredValue": value.clone(),
        }
    })
}

impl Rule {
    /// The failure entry for this rule, or `None` when `value` satisfies it. Each keyword only
    /// looks at values of the type it is about (`minimum` ignores strings, and so on).
    fn failure(&self, value: &Bson) -> Option<Document> {
        if self.holds_subschemas() {
            self.nested_failure(value)
        } else {
            self.scalar_failure(value)
        }
    }

    /// Rules whose checks recurse into subschemas; they are checked in their own small
    /// function so that each level of a deeply nested schema costs little stack.
    fn holds_subschemas(&self) -> bool {
        matches!(
            self,
            Rule::Properties(_)
                | Rule::Items(_)
                | Rule::TupleItems { .. }
                | Rule::AdditionalProperties { .. }
                | Rule::PatternProperties(_)
                | Rule::AllOf(_)
                | Rule::AnyOf(_)
                | Rule::OneOf(_)
                | Rule::Not(_)
                | Rule::Dependencies(_)
        )
    }

    /// Each subschema-holding rule is checked by its own function, tried in turn, so the
    /// stack grows by one small frame per schema level.
    fn nested_failure(&self, value: &Bson) -> Option<Document> {
        self.properties_failure(value)
            .or_else(|| self.items_failure(value))
            .or_else(|| self.tuple_items_failure(value))
            .or_else(|| self.additional_properties_failure(value))
            .or_else(|| self.pattern_properties_failure(value))
            .or_else(|| self.all_or_any_of_failure(value))
            .or_else(|| self.one_of_failure(value))
            .or_else(|| self.not_failure(value))
            .or_else(|| self.dependencies_failure(value))
    }

    #[inline(never)]
    fn properties_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::Properties(properties) => {
                let Bson::Document(document) = value else {
                    return None;
                };
                let mut unsatisfied = Vec::new();
                for (name, schema) in properties {
                    let Some(property) = document.get(name) else {
                        continue;
                    };
                    let details = schema.failures(property);
                    if details.is_empty() {
                        continue;
                    }
                    let mut entry = doc! {"propertyName": name.clone()};
                    if let Some(title) = &schema.title {
                        entry.insert("title", title.clone());
                    }
                    if let Some(description) = &schema.description {
                        entry.insert("description", description.clone());
                    }
                    entry.insert("details", details);
                    unsatisfied.push(Bson::Document(entry));
                }
                (!unsatisfied.is_empty()).then(|| {
                    doc! {"operatorName": "properties", "propertiesNotSatisfied": unsatisfied}
                })
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn items_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::Items(schema) => {
                let Bson::Array(items) = value else {
                    return None;
                };
                items.iter().enumerate().find_map(|(index, item)| {
                    let details = schema.failures(item);
                    (!details.is_empty()).then(|| {
                        doc! {
                            "operatorName": "items",
                            "reason": "At least one item did not match the sub-schema",
                            "itemIndex": index as i32,
                            "details": details,
                        }
                    })
                })
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn tuple_items_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::TupleItems {
                schemas,
                additional,
            } => {
                let Bson::Array(items) = value else {
                    return None;
                };
                let failing: Vec<(usize, Vec<Bson>)> = schemas
                    .iter()
                    .zip(items.iter())
                    .enumerate()
                    .map(|(index, (schema, item))| (index, schema.failures(item)))
                    .filter(|(_, details)| !details.is_empty())
                    .collect();
                if !failing.is_empty() {
                    return Some(doc! {"operatorName": "items", "details": numbered(failing)});
                }
                let extra = items.get(schemas.len()..).unwrap_or(&[]);
                match additional {
                    Some(Additional::Allowed(false)) if !extra.is_empty() => Some(doc! {
                        "operatorName": "additionalItems",
                        "specifiedAs": {"additionalItems": false},
                        "reason": "found additional items",
                        "additionalItems": extra.to_vec(),
                    }),
                    Some(Additional::Schema(schema)) => {
                        extra.iter().enumerate().find_map(|(offset, item)| {
                            let details = schema.failures(item);
                            (!details.is_empty()).then(|| {
                                doc! {
                                    "operatorName": "additionalItems",
                                    "reason": "At least one item did not match the sub-schema",
                                    "itemIndex": (schemas.len() + offset) as i32,
                                    "details": details,
                                }
                            })
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn additional_properties_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::AdditionalProperties {
                allowed,
                known,
                patterns,
            } => {
                let Bson::Document(document) = value else {
                    return None;
                };
                let mut extra = document.iter().filter(|(name, _)| {
                    !known.contains(name) && !patterns.iter().any(|pattern| pattern.is_match(name))
                });
                match allowed {
                    Additional::Allowed(true) => None,
                    Additional::Allowed(false) => {
                        let names: Vec<String> = extra.map(|(name, _)| name.clone()).collect();
                        (!names.is_empty()).then(|| {
                            doc! {
                                "operatorName": "additionalProperties",
                                "specifiedAs": {"additionalProperties": false},
                                "additionalProperties": names,
                            }
                        })
                    }
                    Additional::Schema(schema) => extra.find_map(|(name, property)| {
                        let details = schema.failures(property);
                        (!details.is_empty()).then(|| {
                            doc! {
                                "operatorName": "additionalProperties",
                                "reason": "at least one additional property did not match the subschema",
                                "failingProperty": name.clone(),
                                "details": details,
                            }
                        })
                    }),
                }
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn pattern_properties_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::PatternProperties(patterns) => {
                let Bson::Document(document) = value else {
                    return None;
                };
                let mut failing = Vec::new();
                for (name, property) in document {
                    for (pattern, source, schema) in patterns {
                        if !pattern.is_match(name) {
                            continue;
                        }
                        let details = schema.failures(property);
                        if !details.is_empty() {
                            failing.push(Bson::Document(doc! {
                                "propertyName": name.clone(),
                                "regexMatched": source.clone(),
                                "details": details,
                            }));
                        }
                    }
                }
                (!failing.is_empty())
                    .then(|| doc! {"operatorName": "patternProperties", "details": failing})
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn all_or_any_of_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::AllOf(schemas) | Rule::AnyOf(schemas) => {
                let failing: Vec<(usize, Vec<Bson>)> = schemas
                    .iter()
                    .enumerate()
                    .map(|(index, schema)| (index, schema.failures(value)))
                    .filter(|(_, details)| !details.is_empty())
                    .collect();
                let (keyword, broken) = match self {
                    Rule::AllOf(_) => ("allOf", !failing.is_empty()),
                    _ => ("anyOf", failing.len() == schemas.len()),
                };
                broken.then(
                    || doc! {"operatorName": keyword, "schemasNotSatisfied": numbered(failing)},
                )
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn one_of_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::OneOf(schemas) => {
                let results: Vec<(usize, Vec<Bson>)> = schemas
                    .iter()
                    .enumerate()
                    .map(|(index, schema)| (index, schema.failures(value)))
                    .collect();
                let matching: Vec<i32> = results
                    .iter()
                    .filter(|(_, details)| details.is_empty())
                    .map(|(index, _)| *index as i32)
                    .collect();
                match matching.len() {
                    1 => None,
                    0 => Some(
                        doc! {"operatorName": "oneOf", "schemasNotSatisfied": numbered(results)},
                    ),
                    _ => Some(doc! {
                        "operatorName": "oneOf",
                        "reason": "more than one subschema matched",
                        "matchingSchemaIndexes": matching,
                    }),
                }
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn not_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::Not(schema) => schema.is_satisfied(value).then(|| {
                doc! {"operatorName": "not", "reason": "child expression matched"}
            }),
            _ => None,
        }
    }

    #[inline(never)]
    fn dependencies_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::Dependencies(dependencies) => {
                let Bson::Document(document) = value else {
                    return None;
                };
                let mut failing = Vec::new();
                for (name, dependency) in dependencies {
                    if !document.contains_key(name) {
                        continue;
                    }
                    match dependency {
                        Dependency::Properties(names) => {
                            let missing: Vec<String> = names
                                .iter()
                                .filter(|needed| !document.contains_key(needed.as_str()))
                                .cloned()
                                .collect();
                            if !missing.is_empty() {
                                failing.push(Bson::Document(doc! {
                                    "conditionalProperty": name.clone(),
                                    "missingProperties": missing,
                                }));
                            }
                        }
                        Dependency::Schema(schema) => {
                            let details = schema.failures(value);
                            if !details.is_empty() {
                                failing.push(Bson::Document(doc! {
                                    "conditionalProperty": name.clone(),
                                    "details": details,
                                }));
                            }
                        }
                    }
                }
                (!failing.is_empty())
                    .then(|| doc! {"operatorName": "dependencies", "failingDependencies": failing})
            }
            _ => None,
        }
    }

    #[inline(never)]
    fn scalar_failure(&self, value: &Bson) -> Option<Document> {
        match self {
            Rule::BsonType { types, specified } => (!types.iter().any(|spec| spec.matches(value)))
                .then(|| {
                    doc! {
                        "operatorName": "bsonType",
                        "specifiedAs": {"bsonType": specified.clone()},
                        "reason": "type did not match",
                        "consideredValue": value.clone(),
                        "consideredType": type_alias(value),
                    }
                }),
            Rule::JsonType { types, specified } => (!types.iter().any(|kind| kind.matches(value)))
                .then(|| {
                    doc! {
                        "operatorName": "type",
                        "specifiedAs": {"type": specified.clone()},
                        "reason": "type did not match",
                        "consideredValue": value.clone(),
                        "consideredType": type_alias(value),
                    }
                }),
            Rule::Required(names) => {
                let Bson::Document(document) = value else {
                    return None;
                };
                let missing: Vec<&String> = names
                    .iter()
                    .filter(|name| !document.contains_key(name.as_str()))
                    .collect();
                (!missing.is_empty()).then(|| {
                    doc! {
                        "operatorName": "required",
                        "specifiedAs": {"required": names.clone()},
                        "missingProperties": missing.into_iter().cloned().collect::<Vec<_>>(),
                    }
                })
            }
            Rule::Enum(values) => {
                (!values.iter().any(|allowed| bson_equal(allowed, value))).then(|| {
                    doc! {
                        "operatorName": "enum",
                        "specifiedAs": {"enum": values.clone()},
                        "reason": "value was not found in enum",
                        "consideredValue": value.clone(),
                    }
                })
            }
            Rule::Pattern(pattern, source) => {
                let Bson::String(text) = value else {
                    return None;
                };
                (!pattern.is_match(text)).then(|| {
                    doc! {
                        "operatorName": "pattern",
                        "specifiedAs": {"pattern": source.clone()},
                        "reason": "regular expression did not match",
                        "consideredValue": value.clone(),
                    }
                })
            }
            Rule::Minimum { limit, exclusive } | Rule::Maximum { limit, exclusive } => {
                if !is_number(value) {
                    return None;
                }
                let is_minimum = matches!(self, Rule::Minimum { .. });
                let ordering = compare_bson(value, limit);
                let satisfied = match (is_minimum, exclusive) {
                    (true, false) => ordering != Ordering::Less,
                    (true, true) => ordering == Ordering::Greater,
                    (false, false) => ordering != Ordering::Greater,
                    (false, true) => ordering == Ordering::Less,
                };
                (!satisfied).then(|| {
                    let (keyword, exclusive_keyword) = if is_minimum {
                        ("minimum", "exclusiveMinimum")
                    } else {
                        ("maximum", "exclusiveMaximum")
                    };
                    let mut specified = doc! {keyword: limit.clone()};
                    if *exclusive {
                        specified.insert(exclusive_keyword, true);
                    }
                    doc! {
                        "operatorName": keyword,
                        "specifiedAs": specified,
                        "reason": "comparison failed",
                        "consideredValue": value.clone(),
                    }
                })
            }
            Rule::MinLength(limit) | Rule::MaxLength(limit) => {
                let Bson::String(text) = value else {
                    return None;
                };
                let keyword = if matches!(self, Rule::MinLength(_)) {
                    "minLength"
                } else {
                    "maxLength"
                };
                length_failure(
                    keyword,
                    *limit,
                    text.chars().count(),
                    value,
                    "specified string length was not satisfied",
                )
            }
            Rule::MinItems(limit) | Rule::MaxItems(limit) => {
                let Bson::Array(items) = value else {
                    return None;
                };
                let keyword = if matches!(self, Rule::MinItems(_)) {
                    "minItems"
                } else {
                    "maxItems"
                };
                length_failure(
                    keyword,
                    *limit,
                    items.len(),
                    value,
                    "array did not match specified length",
                )
            }
            Rule::UniqueItems => {
                let Bson::Array(items) = value else {
                    return None;
                };
                let duplicate = items
                    .iter()
                    .enumerate()
                    .find(|(index, item)| {
                        items[..*index]
                            .iter()
                            .any(|earlier| bson_equal(earlier, item))
                    })
                    .map(|(_, item)| item.clone())?;
                Some(doc! {
                    "operatorName": "uniqueItems",
                    "specifiedAs": {"uniqueItems": true},
                    "reason": "found a duplicate item",
                    "consideredValue": value.clone(),
                    "duplicatedValue": duplicate,
                })
            }
            Rule::MinProperties(limit) | Rule::MaxProperties(limit) => {
                let Bson::Document(document) = value else {
                    return None;
                };
                let is_minimum = matches!(self, Rule::MinProperties(_));
                let count = document.len() as u64;
                let broken = if is_minimum {
                    count < *limit
                } else {
                    count > *limit
                };
                let keyword = if is_minimum {
                    "minProperties"
                } else {
                    "maxProperties"
                };
                broken.then(|| {
                    doc! {
                        "operatorName": keyword,
                        "specifiedAs": {keyword: *limit as i64},
                        "reason": "specified number of properties was not satisfied",
                        "numberOfProperties": count as i64,
                    }
                })
            }
            _ => None,
        }
    }
}

impl JsonSchema {
    /// Parses a schema; unknown keywords are `FailedToParse` (9) as in MongoDB.
    pub fn parse(schema: &Document) -> CommandResult<JsonSchema> {
        Ok(JsonSchema {
            root: parse_node(schema, 0)?,
        })
    }

    /// True when the document satisfies the schema.
    pub fn is_valid(&self, document: &Document) -> bool {
        self.root.is_satisfied(&Bson::Document(document.clone()))
    }

    /// `None` when valid; otherwise the details MongoDB reports for a failed `$jsonSchema`:
    /// `{operatorName: "$jsonSchema", schemaRulesNotSatisfied: [...]}`.
    pub fn explain(&self, document: &Document) -> Option<Document> {
        let failures = self.root.failures(&Bson::Document(document.clone()));
        (!failures.is_empty()).then(|| {
            doc! {"operatorName": "$jsonSchema", "schemaRulesNotSatisfied": failures}
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(spec: Document) -> JsonSchema {
        JsonSchema::parse(&spec).unwrap_or_else(|error| panic!("{spec}: {error}"))
    }

    fn valid(spec: Document, document: Document) -> bool {
        schema(spec).is_valid(&document)
    }

    fn rules(spec: Document, document: Document) -> Vec<Bson> {
        let details = schema(spec)
            .explain(&document)
            .expect("document should fail");
        assert_eq!(details.get_str("operatorName").unwrap(), "$jsonSchema");
        details
            .get_array("schemaRulesNotSatisfied")
            .unwrap()
            .clone()
    }

    fn parse_error(spec: Document) -> CommandError {
        match JsonSchema::parse(&spec) {
            Ok(_) => panic!("{spec} parsed"),
            Err(error) => error,
        }
    }

    #[test]
    fn bson_type_accepts_names_lists_and_number() {
        let spec = |kind: Bson| doc! {"properties": {"a": {"bsonType": kind}}};
        assert!(valid(spec("int".into()), doc! {"a": 1}));
        assert!(!valid(spec("int".into()), doc! {"a": 1.5}));
        assert!(valid(spec("long".into()), doc! {"a": Bson::Int64(1)}));
        assert!(valid(spec("double".into()), doc! {"a": 1.5}));
        assert!(valid(spec("number".into()), doc! {"a": Bson::Int64(1)}));
        assert!(valid(spec(vec!["string", "null"].into()), doc! {"a": null}));
        assert!(valid(
            spec("objectId".into()),
            doc! {"a": bson::oid::ObjectId::new()}
        ));
        assert!(valid(
            spec("date".into()),
            doc! {"a": bson::DateTime::now()}
        ));
        assert!(valid(spec("bool".into()), doc! {"a": true}));
        assert!(valid(spec("array".into()), doc! {"a": [1]}));
        assert!(valid(spec("object".into()), doc! {"a": {}}));
        assert!(valid(spec("int".into()), doc! {}));
        assert_eq!(
            rules(spec("string".into()), doc! {"a": 5}),
            vec![Bson::Document(
                doc! {"operatorName": "properties", "propertiesNotSatisfied": [
                    {"propertyName": "a", "details": [
                        {"operatorName": "bsonType", "specifiedAs": {"bsonType": "string"},
                         "reason": "type did not match", "consideredValue": 5, "consideredType": "int"}
                    ]}
                ]}
            )]
        );
        let error = parse_error(spec("strin".into()));
        assert_eq!(
            (error.code, error.message.as_str()),
            (2, "Unknown type name alias: strin")
        );
    }

    #[test]
    fn json_type_uses_json_names() {
        let spec = |kind: &str| doc! {"properties": {"a": {"type": kind}}};
        assert!(valid(spec("number"), doc! {"a": 2.5}));
        assert!(valid(spec("boolean"), doc! {"a": false}));
        assert!(!valid(spec("string"), doc! {"a": false}));
        assert!(valid(spec("object"), doc! {"a": {"b": 1}}));
        assert_eq!(parse_error(spec("integer")).code, 2);
        assert_eq!(
            parse_error(doc! {"type": "object", "bsonType": "object"}).code,
            9
        );
    }

    #[test]
    fn required_lists_missing_properties() {
        let spec = doc! {"required": ["a", "b", "c"]};
        assert!(valid(spec.clone(), doc! {"a": 1, "b": null, "c": 0}));
        assert_eq!(
            rules(spec, doc! {"b": 1}),
            vec![Bson::Document(doc! {"operatorName": "required",
            "specifiedAs": {"required": ["a", "b", "c"]}, "missingProperties": ["a", "c"]})]
        );
        assert_eq!(parse_error(doc! {"required": []}).code, 2);
        assert_eq!(parse_error(doc! {"required": "a"}).code, 14);
        assert_eq!(parse_error(doc! {"required": ["a", "a"]}).code, 9);
    }

    #[test]
    fn unknown_keywords_fail_to_parse() {
        let error = parse_error(doc! {"foo": 1});
        assert_eq!(
            (error.code, error.message.as_str()),
            (9, "Unknown $jsonSchema keyword: foo")
        );
        assert_eq!(parse_error(doc! {"format": "email"}).code, 9);
        assert_eq!(
            parse_error(doc! {"properties": {"a": {"bar": 1}}}).message,
            "Unknown $jsonSchema keyword: bar"
        );
        assert!(valid(
            doc! {"title": "t", "description": "d"},
            doc! {"x": 1}
        ));
    }

    #[test]
    fn enum_compares_with_bson_equality() {
        let spec = doc! {"properties": {"a": {"enum": [1, "x", {"b": 1, "c": 2}, [1, 2]]}}};
        assert!(valid(spec.clone(), doc! {"a": 1.0}));
        assert!(valid(spec.clone(), doc! {"a": "x"}));
        assert!(valid(spec.clone(), doc! {"a": {"b": 1, "c": 2}}));
        assert!(!valid(spec.clone(), doc! {"a": {"c": 2, "b": 1}}));
        assert!(valid(spec.clone(), doc! {"a": [1, 2]}));
        assert!(!valid(spec.clone(), doc! {"a": 2}));
        assert_eq!(parse_error(doc! {"enum": []}).code, 9);
    }

    #[test]
    fn pattern_applies_to_strings_only() {
        let spec = doc! {"properties": {"a": {"pattern": "^x+$"}}};
        assert!(valid(spec.clone(), doc! {"a": "xxx"}));
        assert!(!valid(spec.clone(), doc! {"a": "xy"}));
        assert!(valid(spec, doc! {"a": 5}));
    }

    #[test]
    fn minimum_and_maximum_respect_exclusivity_and_ignore_non_numbers() {
        let spec = doc! {"properties": {"a": {"minimum": 0, "maximum": 10}}};
        assert!(valid(spec.clone(), doc! {"a": 0}));
        assert!(valid(spec.clone(), doc! {"a": 10.0}));
        assert!(!valid(spec.clone(), doc! {"a": -0.5}));
        assert!(!valid(spec.clone(), doc! {"a": Bson::Int64(11)}));
        assert!(valid(spec, doc! {"a": "100"}));
        let exclusive = doc! {"properties": {"a": {"minimum": 0, "exclusiveMinimum": true,
        "maximum": 10, "exclusiveMaximum": true}}};
        assert!(!valid(exclusive.clone(), doc! {"a": 0}));
        assert!(!valid(exclusive.clone(), doc! {"a": 10}));
        assert!(valid(exclusive.clone(), doc! {"a": 5}));
        let details = rules(exclusive, doc! {"a": 10});
        assert_eq!(
            details,
            vec![Bson::Document(
                doc! {"operatorName": "properties", "propertiesNotSatisfied": [
                    {"propertyName": "a", "details": [
                        {"operatorName": "maximum", "specifiedAs": {"maximum": 10, "exclusiveMaximum": true},
                         "reason": "comparison failed", "consideredValue": 10}
                    ]}
                ]}
            )]
        );
        assert_eq!(parse_error(doc! {"exclusiveMinimum": true}).code, 9);
        assert_eq!(parse_error(doc! {"minimum": "1"}).code, 14);
    }

    #[test]
    fn string_lengths_count_code_points() {
        let spec = doc! {"properties": {"a": {"minLength": 2, "maxLength": 3}}};
        assert!(valid(spec.clone(), doc! {"a": "éé"}));
        assert!(valid(spec.clone(), doc! {"a": "日本語"}));
        assert!(!valid(spec.clone(), doc! {"a": "é"}));
        assert!(!valid(spec.clone(), doc! {"a": "abcd"}));
        assert!(valid(spec, doc! {"a": 12345}));
        assert_eq!(parse_error(doc! {"minLength": -1}).code, 9);
    }

    #[test]
    fn array_keywords_check_items_counts_and_uniqueness() {
        let spec = doc! {"properties": {"a": {"minItems": 1, "maxItems": 3, "uniqueItems": true,
        "items": {"bsonType": "int"}}}};
        assert!(valid(spec.clone(), doc! {"a": [1, 2]}));
        assert!(!valid(spec.clone(), doc! {"a": []}));
        assert!(!valid(spec.clone(), doc! {"a": [1, 2, 3, 4]}));
        assert!(!valid(spec.clone(), doc! {"a": [1, 1.0]}));
        assert!(!valid(spec.clone(), doc! {"a": [1, "2"]}));
        assert!(valid(spec, doc! {"a": "not an array"}));
        let tuple = doc! {"properties": {"a": {"items": [{"bsonType": "string"}, {"bsonType": "int"}],
        "additionalItems": false}}};
        assert!(valid(tuple.clone(), doc! {"a": ["x", 1]}));
        assert!(valid(tuple.clone(), doc! {"a": ["x"]}));
        assert!(!valid(tuple.clone(), doc! {"a": [1, 1]}));
        assert!(!valid(tuple, doc! {"a": ["x", 1, 2]}));
        let extra_schema =
            doc! {"items": [{"bsonType": "string"}], "additionalItems": {"bsonType": "int"}};
        let wrapped = doc! {"properties": {"a": extra_schema}};
        assert!(valid(wrapped.clone(), doc! {"a": ["x", 1, 2]}));
        assert!(!valid(wrapped, doc! {"a": ["x", 1, "y"]}));
    }

    #[test]
    fn additional_and_pattern_properties_constrain_unlisted_fields() {
        let closed = doc! {"properties": {"_id": {}, "a": {}}, "additionalProperties": false};
        assert!(valid(closed.clone(), doc! {"_id": 1, "a": 1}));
        assert_eq!(
            rules(closed, doc! {"_id": 1, "b": 1, "c": 2}),
            vec![Bson::Document(
                doc! {"operatorName": "additionalProperties",
                "specifiedAs": {"additionalProperties": false}, "additionalProperties": ["b", "c"]}
            )]
        );
        let typed = doc! {"properties": {"a": {}}, "patternProperties": {"^x_": {"bsonType": "string"}},
        "additionalProperties": {"bsonType": "int"}};
        assert!(valid(
            typed.clone(),
            doc! {"a": "any", "x_name": "s", "other": 3}
        ));
        assert!(!valid(typed.clone(), doc! {"x_name": 3}));
        assert!(!valid(typed, doc! {"other": "s"}));
    }

    #[test]
    fn property_counts_are_checked_on_objects() {
        let spec = doc! {"minProperties": 2, "maxProperties": 3};
        assert!(valid(spec.clone(), doc! {"a": 1, "b": 2}));
        assert!(!valid(spec.clone(), doc! {"a": 1}));
        assert!(!valid(spec, doc! {"a": 1, "b": 2, "c": 3, "d": 4}));
    }

    #[test]
    fn combinators_follow_json_schema_logic() {
        let small = doc! {"properties": {"a": {"maximum": 5}}};
        let even = doc! {"properties": {"a": {"enum": [2, 4, 6, 8]}}};
        let all_of = doc! {"allOf": [small.clone(), even.clone()]};
        let any_of = doc! {"anyOf": [small.clone(), even.clone()]};
        let one_of = doc! {"oneOf": [small.clone(), even.clone()]};
        assert!(valid(all_of.clone(), doc! {"a": 4}));
        assert!(!valid(all_of, doc! {"a": 3}));
        assert!(valid(any_of.clone(), doc! {"a": 3}));
        assert!(!valid(any_of, doc! {"a": 7}));
        assert!(valid(one_of.clone(), doc! {"a": 3}));
        assert!(valid(one_of.clone(), doc! {"a": 8}));
        assert!(!valid(one_of.clone(), doc! {"a": 4}));
        assert!(!valid(one_of, doc! {"a": 7}));
        assert!(valid(doc! {"not": small.clone()}, doc! {"a": 7}));
        assert!(!valid(doc! {"not": small}, doc! {"a": 1}));
        assert_eq!(parse_error(doc! {"anyOf": []}).code, 2);
    }

    #[test]
    fn dependencies_require_companions_or_schemas() {
        let spec = doc! {"dependencies": {"card": ["billing"], "vip": {"required": ["level"]}}};
        assert!(valid(spec.clone(), doc! {"name": "x"}));
        assert!(valid(spec.clone(), doc! {"card": 1, "billing": 2}));
        assert!(!valid(spec.clone(), doc! {"card": 1}));
        assert!(!valid(spec.clone(), doc! {"vip": true}));
        assert_eq!(
            rules(spec, doc! {"card": 1}),
            vec![Bson::Document(
                doc! {"operatorName": "dependencies", "failingDependencies": [
                    {"conditionalProperty": "card", "missingProperties": ["billing"]}
                ]}
            )]
        );
    }

    #[test]
    fn property_descriptions_are_echoed_in_details() {
        let spec = doc! {"properties": {"gpa": {"bsonType": "double",
        "description": "must be a double if the field exists"}}};
        let details = rules(spec, doc! {"gpa": 3});
        let properties = details[0]
            .as_document()
            .unwrap()
            .get_array("propertiesNotSatisfied")
            .unwrap();
        assert_eq!(
            properties[0]
                .as_document()
                .unwrap()
                .get_str("description")
                .unwrap(),
            "must be a double if the field exists"
        );
    }

    #[test]
    fn nested_properties_validate_recursively() {
        let spec = doc! {"bsonType": "object", "properties": {"profile": {"bsonType": "object",
        "required": ["country"], "properties": {"country": {"bsonType": "string", "maxLength": 2}}}}};
        assert!(valid(spec.clone(), doc! {"profile": {"country": "FR"}}));
        assert!(!valid(
            spec.clone(),
            doc! {"profile": {"country": "France"}}
        ));
        assert!(!valid(spec, doc! {"profile": {}}));
    }

    #[test]
    fn absurdly_deep_schemas_are_rejected() {
        let mut spec = doc! {"bsonType": "int"};
        for _ in 0..150 {
            spec = doc! {"not": spec};
        }
        assert_eq!(parse_error(spec).code, 2);
    }

    #[test]
    fn schemas_nested_to_the_limit_parse_and_validate() {
        let mut spec = doc! {"bsonType": "int"};
        let mut good = doc! {"a": 1};
        let mut bad = doc! {"a": "x"};
        for _ in 0..99 {
            spec = doc! {"properties": {"a": spec}};
            good = doc! {"a": good};
            bad = doc! {"a": bad};
        }
        let schema = schema(doc! {"properties": {"a": spec}});
        assert!(schema.is_valid(&good));
        assert!(schema.explain(&bad).is_some());
    }
}
