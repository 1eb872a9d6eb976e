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
        let rule = match keyword.as_str() {
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
                    _ => continue,
                }
            }
            "maximum" | "exclusiveMaximum" => {
                match parse_bound(schema, "maximum", "exclusiveMaximum")? {
                    Some((limit, exclusive)) if keyword == "maximum" => {
                        Rule::Maximum { limit, exclusive }
                    }
                    _ => continue,
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
                Bson::Boolean(false) => continue,
                _ => return Err(keyword_type_error(keyword, "a boolean")),
            },
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
            "additionalItems" => {
                // Only meaningful next to an array-form `items`, which reads it; alone it is inert.
                parse_additional(keyword, value, depth)?;
                continue;
            }
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
            "allOf" => Rule::AllOf(parse_schema_list(keyword, value, depth)?),
            "anyOf" => Rule::AnyOf(parse_schema_list(keyword, value, depth)?),
            "oneOf" => Rule::OneOf(parse_schema_list(keyword, value, depth)?),
            "not" => Rule::Not(Box::new(parse_subschema(keyword, value, depth)?)),
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
            "title" | "description" => {
                let Bson::String(text) = value else {
                    return Err(keyword_type_error(keyword, "a string"));
                };
                if keyword == "title" {
                    node.title = Some(text.clone());
                } else {
                    node.description = Some(text.clone());
                }
                continue;
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
        node.rules.push(rule);
    }
    Ok(node)
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
            Rule::Not(schema) => schema.is_satisfied(value).then(|| {
                doc! {"operatorName": "not", "reason": "child expression matched"}
            }),
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
