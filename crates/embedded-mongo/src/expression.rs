//! Aggregation expressions: field paths, variables (`$$ROOT`, `$$CURRENT`, `$$NOW`, `let`),
//! literals, and operators (arithmetic, comparison, boolean, conditional, string, array, date).
//!
//! An expression is parsed once into a tree of [`Node`]s and then evaluated per document. The
//! result of an evaluation is `Option<Bson>`: `None` is MongoDB's "missing" value, which is not
//! the same as `null` (an object expression omits missing fields, `$ifNull` treats both alike).
//! The operator families live in the child modules; this file holds parsing, variables, field
//! paths, and the operators that need lazy evaluation or scoped variables.

mod arrays;
mod conversion;
mod dates;
mod numeric;
mod text;

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::compare::compare_bson;
use crate::error::{codes, CommandError, CommandResult};

pub use conversion::{format_double, type_name};
pub(crate) use numeric::{add as add_numbers, float_result, standard_deviation, Number};

/// Expressions nested deeper than this are rejected at parse time, so that evaluation (which
/// recurses over the tree) can never exhaust the stack.
pub const MAX_EXPRESSION_DEPTH: usize = 150;

/// System variables that may be referenced as `$$NAME`.
const SYSTEM_VARIABLES: &[&str] = &[
    "ROOT",
    "CURRENT",
    "REMOVE",
    "NOW",
    "CLUSTER_TIME",
    "DESCEND",
    "PRUNE",
    "KEEP",
];

/// Variables in scope while evaluating an expression.
///
/// User variables come from `let` (of `aggregate` and `$lookup`), `$let`, `$map`, `$filter`
/// and `$reduce`; inner bindings shadow outer ones. `$$NOW` is fixed when the value is created
/// so that every document of one command sees the same instant.
#[derive(Debug, Clone)]
pub struct Variables {
    bindings: Vec<(String, Option<Bson>)>,
    now: Bson,
}

impl Default for Variables {
    fn default() -> Self {
        Self {
            bindings: Vec::new(),
            now: Bson::DateTime(bson::DateTime::now()),
        }
    }
}

impl Variables {
    /// The system variables only.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy with `name` (without `$$`) bound to `value`.
    pub fn with(&self, name: &str, value: Bson) -> Self {
        self.with_optional(name, Some(value))
    }

    /// A copy with `name` bound to `value`, where `None` binds the missing value (as
    /// `$let: {vars: {x: "$absent"}}` does).
    pub fn with_optional(&self, name: &str, value: Option<Bson>) -> Self {
        let mut copy = self.clone();
        copy.bind(name, value);
        copy
    }

    /// A copy whose `$$NOW` is `now` (commands fix it once; tests pin it).
    pub fn with_now(mut self, now: bson::DateTime) -> Self {
        self.now = Bson::DateTime(now);
        self
    }

    /// A copy with a command's `let` bound. Each value is an expression evaluated once, before
    /// any document is read (a field path sees no document), and sees the system variables but
    /// not its sibling definitions, as on mongod.
    pub fn with_let(&self, definitions: &Document) -> CommandResult<Variables> {
        let mut variables = self.clone();
        for (name, definition) in definitions {
            validate_variable_name(name)?;
            let value = Expression::parse(definition)?.evaluate(&Document::new(), self)?;
            variables.bind(name, value);
        }
        Ok(variables)
    }

    /// The value bound to `name` (without `$$`).
    pub fn get(&self, name: &str) -> Option<&Bson> {
        match self.lookup(name) {
            Some(value) => value,
            None if name == "NOW" => Some(&self.now),
            None => None,
        }
    }

    fn bind(&mut self, name: &str, value: Option<Bson>) {
        self.bindings.push((name.to_string(), value));
    }

    /// `Some(binding)` when `name` is bound (the binding itself may be missing).
    fn lookup(&self, name: &str) -> Option<Option<&Bson>> {
        self.bindings
            .iter()
            .rev()
            .find(|(bound, _)| bound == name)
            .map(|(_, value)| value.as_ref())
    }
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expression {
    node: Node,
}

/// One node of a parsed expression tree.
#[derive(Debug, Clone)]
enum Node {
    Literal(Bson),
    /// `"$a.b"`: a path from `$$CURRENT`.
    Path(Vec<String>),
    /// `"$$name.a.b"`.
    Variable {
        name: String,
        path: Vec<String>,
    },
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// An operator with positional arguments.
    Call {
        op: &'static str,
        family: Family,
        args: Vec<Node>,
    },
    /// An operator with named arguments, aligned with its parameter list.
    Named {
        op: &'static str,
        args: Vec<Option<Node>>,
    },
    Let {
        vars: Vec<(String, Node)>,
        body: Box<Node>,
    },
    Map {
        input: Box<Node>,
        name: String,
        body: Box<Node>,
    },
    Filter {
        input: Box<Node>,
        name: String,
        cond: Box<Node>,
        limit: Option<Box<Node>>,
    },
    Reduce {
        input: Box<Node>,
        initial: Box<Node>,
        body: Box<Node>,
    },
    Switch {
        branches: Vec<(Node, Node)>,
        default: Option<Box<Node>>,
    },
}

/// Which module evaluates a positional operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Evaluated here, some lazily.
    Core,
    Numeric,
    Text,
    Array,
    Conversion,
}

/// Positional operators: name, minimum and maximum argument count (`None`: unbounded), family.
const POSITIONAL: &[(&str, usize, Option<usize>, Family)] = &[
    ("$eq", 2, Some(2), Family::Core),
    ("$ne", 2, Some(2), Family::Core),
    ("$gt", 2, Some(2), Family::Core),
    ("$gte", 2, Some(2), Family::Core),
    ("$lt", 2, Some(2), Family::Core),
    ("$lte", 2, Some(2), Family::Core),
    ("$cmp", 2, Some(2), Family::Core),
    ("$and", 0, None, Family::Core),
    ("$or", 0, None, Family::Core),
    ("$not", 1, Some(1), Family::Core),
    ("$cond", 3, Some(3), Family::Core),
    ("$ifNull", 0, None, Family::Core),
    ("$mergeObjects", 0, None, Family::Core),
    ("$rand", 0, Some(0), Family::Core),
    ("$sum", 0, None, Family::Numeric),
    ("$avg", 0, None, Family::Numeric),
    ("$min", 0, None, Family::Numeric),
    ("$max", 0, None, Family::Numeric),
    ("$stdDevPop", 0, None, Family::Numeric),
    ("$stdDevSamp", 0, None, Family::Numeric),
    ("$add", 0, None, Family::Numeric),
    ("$subtract", 2, Some(2), Family::Numeric),
    ("$multiply", 0, None, Family::Numeric),
    ("$divide", 2, Some(2), Family::Numeric),
    ("$mod", 2, Some(2), Family::Numeric),
    ("$abs", 1, Some(1), Family::Numeric),
    ("$ceil", 1, Some(1), Family::Numeric),
    ("$floor", 1, Some(1), Family::Numeric),
    ("$sqrt", 1, Some(1), Family::Numeric),
    ("$exp", 1, Some(1), Family::Numeric),
    ("$ln", 1, Some(1), Family::Numeric),
    ("$log10", 1, Some(1), Family::Numeric),
    ("$log", 2, Some(2), Family::Numeric),
    ("$pow", 2, Some(2), Family::Numeric),
    ("$round", 1, Some(2), Family::Numeric),
    ("$trunc", 1, Some(2), Family::Numeric),
    ("$concat", 0, None, Family::Text),
    ("$toLower", 1, Some(1), Family::Text),
    ("$toUpper", 1, Some(1), Family::Text),
    ("$substr", 3, Some(3), Family::Text),
    ("$substrBytes", 3, Some(3), Family::Text),
    ("$substrCP", 3, Some(3), Family::Text),
    ("$strLenBytes", 1, Some(1), Family::Text),
    ("$strLenCP", 1, Some(1), Family::Text),
    ("$split", 2, Some(2), Family::Text),
    ("$indexOfBytes", 2, Some(4), Family::Text),
    ("$indexOfCP", 2, Some(4), Family::Text),
    ("$strcasecmp", 2, Some(2), Family::Text),
    ("$size", 1, Some(1), Family::Array),
    ("$arrayElemAt", 2, Some(2), Family::Array),
    ("$first", 1, Some(1), Family::Array),
    ("$last", 1, Some(1), Family::Array),
    ("$slice", 2, Some(3), Family::Array),
    ("$concatArrays", 0, None, Family::Array),
    ("$in", 2, Some(2), Family::Array),
    ("$isArray", 1, Some(1), Family::Array),
    ("$indexOfArray", 2, Some(4), Family::Array),
    ("$reverseArray", 1, Some(1), Family::Array),
    ("$range", 2, Some(3), Family::Array),
    ("$arrayToObject", 1, Some(1), Family::Array),
    ("$objectToArray", 1, Some(1), Family::Array),
    ("$setUnion", 0, None, Family::Array),
    ("$setIntersection", 0, None, Family::Array),
    ("$setDifference", 2, Some(2), Family::Array),
    ("$setEquals", 2, None, Family::Array),
    ("$setIsSubset", 2, Some(2), Family::Array),
    ("$anyElementTrue", 1, Some(1), Family::Array),
    ("$allElementsTrue", 1, Some(1), Family::Array),
    ("$type", 1, Some(1), Family::Conversion),
    ("$isNumber", 1, Some(1), Family::Conversion),
    ("$toString", 1, Some(1), Family::Conversion),
    ("$toInt", 1, Some(1), Family::Conversion),
    ("$toLong", 1, Some(1), Family::Conversion),
    ("$toDouble", 1, Some(1), Family::Conversion),
    ("$toDecimal", 1, Some(1), Family::Conversion),
    ("$toBool", 1, Some(1), Family::Conversion),
    ("$toDate", 1, Some(1), Family::Conversion),
    ("$toObjectId", 1, Some(1), Family::Conversion),
];

/// Operators whose single operand is a document of named arguments: name, parameters, and
/// the parameters that must be present.
const NAMED: &[(&str, &[&str], &[&str])] = &[
    (
        "$dateToString",
        &["date", "format", "timezone", "onNull"],
        &["date"],
    ),
    (
        "$dateFromString",
        &["dateString", "format", "timezone", "onError", "onNull"],
        &["dateString"],
    ),
    (
        "$dateAdd",
        &["startDate", "unit", "amount", "timezone"],
        &["startDate", "unit", "amount"],
    ),
    (
        "$dateSubtract",
        &["startDate", "unit", "amount", "timezone"],
        &["startDate", "unit", "amount"],
    ),
    (
        "$dateDiff",
        &["startDate", "endDate", "unit", "timezone", "startOfWeek"],
        &["startDate", "endDate", "unit"],
    ),
    (
        "$dateTrunc",
        &["date", "unit", "binSize", "timezone", "startOfWeek"],
        &["date", "unit"],
    ),
    (
        "$convert",
        &["input", "to", "onError", "onNull"],
        &["input", "to"],
    ),
    (
        "$regexMatch",
        &["input", "regex", "options"],
        &["input", "regex"],
    ),
    (
        "$regexFind",
        &["input", "regex", "options"],
        &["input", "regex"],
    ),
    (
        "$regexFindAll",
        &["input", "regex", "options"],
        &["input", "regex"],
    ),
    ("$trim", &["input", "chars"], &["input"]),
    ("$ltrim", &["input", "chars"], &["input"]),
    ("$rtrim", &["input", "chars"], &["input"]),
    (
        "$replaceOne",
        &["input", "find", "replacement"],
        &["input", "find", "replacement"],
    ),
    (
        "$replaceAll",
        &["input", "find", "replacement"],
        &["input", "find", "replacement"],
    ),
    ("$getField", &["field", "input"], &["field"]),
    ("$sortArray", &["input", "sortBy"], &["input", "sortBy"]),
    ("$year", DATE_PART_PARAMETERS, &["date"]),
    ("$month", DATE_PART_PARAMETERS, &["date"]),
    ("$dayOfMonth", DATE_PART_PARAMETERS, &["date"]),
    ("$hour", DATE_PART_PARAMETERS, &["date"]),
    ("$minute", DATE_PART_PARAMETERS, &["date"]),
    ("$second", DATE_PART_PARAMETERS, &["date"]),
    ("$millisecond", DATE_PART_PARAMETERS, &["date"]),
    ("$dayOfWeek", DATE_PART_PARAMETERS, &["date"]),
    ("$dayOfYear", DATE_PART_PARAMETERS, &["date"]),
    ("$week", DATE_PART_PARAMETERS, &["date"]),
    ("$isoWeek", DATE_PART_PARAMETERS, &["date"]),
    ("$isoWeekYear", DATE_PART_PARAMETERS, &["date"]),
    ("$isoDayOfWeek", DATE_PART_PARAMETERS, &["date"]),
];

const DATE_PART_PARAMETERS: &[&str] = &["date", "timezone"];

/// Named operators that also accept a plain expression operand (meaning the first parameter).
fn accepts_shorthand(op: &str) -> bool {
    op == "$getField" || DATE_PART_OPERATORS.contains(&op)
}

const DATE_PART_OPERATORS: &[&str] = &[
    "$year",
    "$month",
    "$dayOfMonth",
    "$hour",
    "$minute",
    "$second",
    "$millisecond",
    "$dayOfWeek",
    "$dayOfYear",
    "$week",
    "$isoWeek",
    "$isoWeekYear",
    "$isoDayOfWeek",
];

pub(crate) fn error(code: i32, message: impl Into<String>) -> CommandError {
    CommandError::new(code, message)
}

impl Expression {
    /// Parses an expression; an unknown `$operator` is code 168 (InvalidPipelineOperator).
    pub fn parse(spec: &Bson) -> CommandResult<Expression> {
        Ok(Expression {
            node: parse_node(spec, 0)?,
        })
    }

    /// An expression that always yields `value`, as `{$literal: value}` does.
    pub fn literal(value: Bson) -> Expression {
        Expression {
            node: Node::Literal(value),
        }
    }

    /// The path of a plain field-path expression (`"$a.b"` gives `["a", "b"]`), if it is one.
    pub fn field_path(&self) -> Option<&[String]> {
        match &self.node {
            Node::Path(path) => Some(path),
            _ => None,
        }
    }

    /// The value of a constant expression (one without paths, variables or operators).
    pub fn constant(&self) -> Option<&Bson> {
        match &self.node {
            Node::Literal(value) => Some(value),
            _ => None,
        }
    }

    /// Evaluates against `root` (`$$ROOT`/`$$CURRENT`). `None` means the result is missing
    /// (a field path to an absent field), which differs from `Some(Bson::Null)`.
    pub fn evaluate(&self, root: &Document, variables: &Variables) -> CommandResult<Option<Bson>> {
        evaluate_node(&self.node, root, variables)
    }
}

/// MongoDB truthiness: false, null, missing, undefined and numeric zero are false.
pub fn is_truthy(value: Option<&Bson>) -> bool {
    match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) => false,
        Some(Bson::Boolean(flag)) => *flag,
        Some(Bson::Int32(number)) => *number != 0,
        Some(Bson::Int64(number)) => *number != 0,
        Some(Bson::Double(number)) => *number != 0.0,
        Some(Bson::Decimal128(number)) => crate::compare::decimal_to_f64(number) != 0.0,
        Some(_) => true,
    }
}

/// The value at a dotted path with expression semantics: a path through an array of documents
/// yields the array of the sub-values found (elements without the field are skipped), and a
/// path through a scalar is missing. Numeric components are field names, never indexes.
pub fn lookup_path(document: &Document, path: &[String]) -> Option<Bson> {
    let (first, rest) = path.split_first()?;
    descend(document.get(first)?, rest)
}

fn descend(value: &Bson, path: &[String]) -> Option<Bson> {
    if path.is_empty() {
        return Some(value.clone());
    }
    match value {
        Bson::Document(document) => lookup_path(document, path),
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .filter(|item| matches!(item, Bson::Document(_) | Bson::Array(_)))
                .filter_map(|item| descend(item, path))
                .collect(),
        )),
        _ => None,
    }
}

/// Splits and validates the path of a `"$a.b"` field path (without the `$`).
pub fn parse_field_path(text: &str) -> CommandResult<Vec<String>> {
    if text.is_empty() {
        return Err(error(16872, "'$' by itself is not a valid FieldPath"));
    }
    text.split('.')
        .map(|component| {
            if component.is_empty() {
                Err(error(
                    15998,
                    "FieldPath field names may not be empty strings.",
                ))
            } else if component.starts_with('$') {
                Err(error(
                    16410,
                    "FieldPath field names may not start with '$'. Consider using $getField or $setField.",
                ))
            } else {
                Ok(component.to_string())
            }
        })
        .collect()
}

/// Validates a user variable name being defined (`$let` vars, `as`, `let`).
pub fn validate_variable_name(name: &str) -> CommandResult<()> {
    let mut characters = name.chars();
    let Some(first) = characters.next() else {
        return Err(error(16869, "empty variable names are not allowed"));
    };
    if !first.is_ascii_lowercase() && first.is_ascii() {
        return Err(error(
            16870,
            format!("'{name}' starts with an invalid character for a user variable name"),
        ));
    }
    if let Some(bad) =
        characters.find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || !c.is_ascii()))
    {
        return Err(error(
            16871,
            format!("'{name}' contains an invalid character for a variable name: '{bad}'"),
        ));
    }
    Ok(())
}

fn too_deep() -> CommandError {
    error(
        codes::FAILED_TO_PARSE,
        format!("expression nesting exceeds the maximum depth of {MAX_EXPRESSION_DEPTH}"),
    )
}

fn parse_node(spec: &Bson, depth: usize) -> CommandResult<Node> {
    if depth > MAX_EXPRESSION_DEPTH {
        return Err(too_deep());
    }
    match spec {
        Bson::String(text) => {
            if let Some(variable) = text.strip_prefix("$$") {
                let mut parts = variable.splitn(2, '.');
                let name = parts.next().unwrap_or_default().to_string();
                if name.is_empty() {
                    return Err(error(16869, "empty variable names are not allowed"));
                }
                let user_variable = name
                    .chars()
                    .next()
                    .is_some_and(|first| first.is_ascii_lowercase() || !first.is_ascii());
                if !user_variable && !SYSTEM_VARIABLES.contains(&name.as_str()) {
                    return Err(error(17276, format!("Use of undefined variable: {name}")));
                }
                let path = match parts.next() {
                    Some(rest) => parse_field_path(rest)?,
                    None => Vec::new(),
                };
                Ok(Node::Variable { name, path })
            } else if let Some(path) = text.strip_prefix('$') {
                Ok(Node::Path(parse_field_path(path)?))
            } else {
                Ok(Node::Literal(spec.clone()))
            }
        }
        Bson::Array(items) => Ok(Node::Array(
            items
                .iter()
                .map(|item| parse_node(item, depth + 1))
                .collect::<CommandResult<_>>()?,
        )),
        Bson::Document(document) => parse_document(document, depth),
        other => Ok(Node::Literal(other.clone())),
    }
}

fn parse_document(document: &Document, depth: usize) -> CommandResult<Node> {
    let first_is_operator = document
        .keys()
        .next()
        .is_some_and(|key| key.starts_with('$'));
    if first_is_operator {
        if document.len() != 1 {
            return Err(error(
                15983,
                format!(
                    "an expression specification must contain exactly one field, the name of the expression. Found {} fields in {}",
                    document.len(),
                    document
                ),
            ));
        }
        let (name, operand) = document.iter().next().ok_or_else(too_deep)?;
        return parse_operator(name, operand, depth);
    }
    let mut fields = Vec::with_capacity(document.len());
    for (key, value) in document {
        if key.starts_with('$') {
            return Err(error(
                16410,
                format!("FieldPath field names may not start with '$'. Consider using $getField or $setField. Found: {key}"),
            ));
        }
        if key.contains('.') {
            return Err(error(
                16412,
                format!("FieldPath field names may not contain '.'. Found: {key}"),
            ));
        }
        if key.is_empty() {
            return Err(error(
                15998,
                "FieldPath field names may not be empty strings.",
            ));
        }
        fields.push((key.clone(), parse_node(value, depth + 1)?));
    }
    Ok(Node::Object(fields))
}

fn unknown_operator(name: &str) -> CommandError {
    error(
        codes::INVALID_PIPELINE_OPERATOR,
        format!("Unrecognized expression '{name}'"),
    )
}

fn arity_error(op: &str, min: usize, max: Option<usize>, given: usize) -> CommandError {
    match max {
        Some(max) if max == min => error(
            16020,
            format!("Expression {op} takes exactly {min} arguments. {given} were passed in."),
        ),
        Some(max) => error(
            28667,
            format!(
                "Expression {op} takes at least {min} arguments, and at most {max}, but {given} were provided."
            ),
        ),
        None => error(
            28667,
            format!("Expression {op} takes at least {min} arguments, but {given} were provided."),
        ),
    }
}

fn parse_operator(name: &str, operand: &Bson, depth: usize) -> CommandResult<Node> {
    let depth = depth + 1;
    match name {
        "$literal" => return Ok(Node::Literal(operand.clone())),
        "$let" => return parse_let(operand, depth),
        "$map" => return parse_map(operand, depth),
        "$filter" => return parse_filter(operand, depth),
        "$reduce" => return parse_reduce(operand, depth),
        "$switch" => return parse_switch(operand, depth),
        "$cond" => {
            if let Bson::Document(arguments) = operand {
                return parse_cond_object(arguments, depth);
            }
        }
        _ => {}
    }
    if let Some((op, parameters, required)) = NAMED.iter().find(|(op, _, _)| *op == name) {
        return parse_named(op, parameters, required, operand, depth);
    }
    let Some((op, min, max, family)) = POSITIONAL.iter().find(|(op, ..)| *op == name) else {
        return Err(unknown_operator(name));
    };
    let args: Vec<Node> = match operand {
        Bson::Array(items) => items
            .iter()
            .map(|item| parse_node(item, depth))
            .collect::<CommandResult<_>>()?,
        other => vec![parse_node(other, depth)?],
    };
    if *op == "$ifNull" && args.len() < 2 {
        return Err(error(
            1257300,
            format!("$ifNull needs at least two arguments, had: {}", args.len()),
        ));
    }
    if args.len() < *min || max.is_some_and(|max| args.len() > max) {
        return Err(arity_error(op, *min, *max, args.len()));
    }
    Ok(Node::Call {
        op,
        family: *family,
        args,
    })
}

fn parse_named(
    op: &'static str,
    parameters: &[&str],
    required: &[&str],
    operand: &Bson,
    depth: usize,
) -> CommandResult<Node> {
    let named_form = match operand {
        Bson::Document(arguments) => {
            !accepts_shorthand(op)
                || (arguments.contains_key(parameters[0])
                    && arguments
                        .keys()
                        .all(|key| parameters.contains(&key.as_str())))
        }
        _ => false,
    };
    if !named_form {
        if !accepts_shorthand(op) {
            return Err(error(
                codes::FAILED_TO_PARSE,
                format!("{op} only supports an object as its argument"),
            ));
        }
        let shorthand = match operand {
            Bson::Array(items) if items.len() == 1 => &items[0],
            Bson::Array(items) => return Err(arity_error(op, 1, Some(1), items.len())),
            other => other,
        };
        let mut args = vec![None; parameters.len()];
        args[0] = Some(parse_node(shorthand, depth)?);
        return Ok(Node::Named { op, args });
    }
    let Bson::Document(arguments) = operand else {
        return Err(error(
            codes::FAILED_TO_PARSE,
            format!("{op} only supports an object as its argument"),
        ));
    };
    let mut args = vec![None; parameters.len()];
    for (key, value) in arguments {
        let Some(position) = parameters.iter().position(|parameter| parameter == key) else {
            return Err(error(
                codes::FAILED_TO_PARSE,
                format!("Unrecognized argument to {op}: {key}"),
            ));
        };
        args[position] = Some(parse_node(value, depth)?);
    }
    for parameter in required {
        let position = parameters
            .iter()
            .position(|candidate| candidate == parameter)
            .unwrap_or(0);
        if args[position].is_none() {
            return Err(error(
                codes::FAILED_TO_PARSE,
                format!("Missing '{parameter}' parameter to {op}"),
            ));
        }
    }
    Ok(Node::Named { op, args })
}

fn object_operand<'a>(op: &str, operand: &'a Bson, code: i32) -> CommandResult<&'a Document> {
    match operand {
        Bson::Document(document) => Ok(document),
        other => Err(error(
            code,
            format!(
                "{op} only supports an object as its argument, found: {}",
                type_name(other)
            ),
        )),
    }
}

fn parse_let(operand: &Bson, depth: usize) -> CommandResult<Node> {
    let arguments = object_operand("$let", operand, 16874)?;
    let mut vars_spec = None;
    let mut body = None;
    for (key, value) in arguments {
        match key.as_str() {
            "vars" => vars_spec = Some(value),
            "in" => body = Some(value),
            other => {
                return Err(error(
                    16875,
                    format!("Unrecognized parameter to $let: {other}"),
                ))
            }
        }
    }
    let vars_spec = vars_spec.ok_or_else(|| error(16876, "Missing 'vars' parameter to $let"))?;
    let body = body.ok_or_else(|| error(16877, "Missing 'in' parameter to $let"))?;
    let Bson::Document(vars_document) = vars_spec else {
        return Err(error(
            10065,
            format!(
                "invalid parameter: expected an object (vars), found: {}",
                type_name(vars_spec)
            ),
        ));
    };
    let mut vars = Vec::with_capacity(vars_document.len());
    for (name, value) in vars_document {
        validate_variable_name(name)?;
        vars.push((name.clone(), parse_node(value, depth)?));
    }
    Ok(Node::Let {
        vars,
        body: Box::new(parse_node(body, depth)?),
    })
}

fn parse_map(operand: &Bson, depth: usize) -> CommandResult<Node> {
    let arguments = object_operand("$map", operand, 16878)?;
    let mut input = None;
    let mut name = "this".to_string();
    let mut body = None;
    for (key, value) in arguments {
        match key.as_str() {
            "input" => input = Some(value),
            "as" => name = variable_name_argument("$map", value)?,
            "in" => body = Some(value),
            other => {
                return Err(error(
                    16879,
                    format!("Unrecognized parameter to $map: {other}"),
                ))
            }
        }
    }
    let input = input.ok_or_else(|| error(16880, "Missing 'input' parameter to $map"))?;
    let body = body.ok_or_else(|| error(16882, "Missing 'in' parameter to $map"))?;
    Ok(Node::Map {
        input: Box::new(parse_node(input, depth)?),
        name,
        body: Box::new(parse_node(body, depth)?),
    })
}

fn variable_name_argument(op: &str, value: &Bson) -> CommandResult<String> {
    match value {
        Bson::String(name) => {
            validate_variable_name(name)?;
            Ok(name.clone())
        }
        other => Err(error(
            codes::FAILED_TO_PARSE,
            format!("{op} 'as' must be a string, found: {}", type_name(other)),
        )),
    }
}

fn parse_filter(operand: &Bson, depth: usize) -> CommandResult<Node> {
    let arguments = object_operand("$filter", operand, 28646)?;
    let mut input = None;
    let mut name = "this".to_string();
    let mut cond = None;
    let mut limit = None;
    for (key, value) in arguments {
        match key.as_str() {
            "input" => input = Some(value),
            "as" => name = variable_name_argument("$filter", value)?,
            "cond" => cond = Some(value),
            "limit" => limit = Some(Box::new(parse_node(value, depth)?)),
            other => {
                return Err(error(
                    28647,
                    format!("Unrecognized parameter to $filter: {other}"),
                ))
            }
        }
    }
    let input = input.ok_or_else(|| error(28648, "Missing 'input' parameter to $filter"))?;
    let cond = cond.ok_or_else(|| error(28650, "Missing 'cond' parameter to $filter"))?;
    Ok(Node::Filter {
        input: Box::new(parse_node(input, depth)?),
        name,
        cond: Box::new(parse_node(cond, depth)?),
        limit,
    })
}

fn parse_reduce(operand: &Bson, depth: usize) -> CommandResult<Node> {
    let arguments = object_operand("$reduce", operand, 40075)?;
    let mut input = None;
    let mut initial = None;
    let mut body = None;
    for (key, value) in arguments {
        match key.as_str() {
            "input" => input = Some(value),
            "initialValue" => initial = Some(value),
            "in" => body = Some(value),
            other => {
                return Err(error(
                    40076,
                    format!("$reduce found an unknown argument: {other}"),
                ))
            }
        }
    }
    let input = input.ok_or_else(|| error(40077, "$reduce requires 'input' to be specified"))?;
    let initial =
        initial.ok_or_else(|| error(40078, "$reduce requires 'initialValue' to be specified"))?;
    let body = body.ok_or_else(|| error(40079, "$reduce requires 'in' to be specified"))?;
    Ok(Node::Reduce {
        input: Box::new(parse_node(input, depth)?),
        initial: Box::new(parse_node(initial, depth)?),
        body: Box::new(parse_node(body, depth)?),
    })
}

fn parse_switch(operand: &Bson, depth: usize) -> CommandResult<Node> {
    let arguments = object_operand("$switch", operand, 40060)?;
    let mut branches = Vec::new();
    let mut default = None;
    for (key, value) in arguments {
        match key.as_str() {
            "branches" => {
                let Bson::Array(items) = value else {
                    return Err(error(
                        40061,
                        format!(
                            "$switch expected an array for 'branches', found: {}",
                            type_name(value)
                        ),
                    ));
                };
                for item in items {
                    let Bson::Document(branch) = item else {
                        return Err(error(
                            40062,
                            format!(
                                "$switch expected each branch to be an object, found: {}",
                                type_name(item)
                            ),
                        ));
                    };
                    let mut case = None;
                    let mut then = None;
                    for (branch_key, branch_value) in branch {
                        match branch_key.as_str() {
                            "case" => case = Some(parse_node(branch_value, depth)?),
                            "then" => then = Some(parse_node(branch_value, depth)?),
                            other => {
                                return Err(error(
                                    40063,
                                    format!(
                                        "$switch found an unknown argument to a branch: {other}"
                                    ),
                                ))
                            }
                        }
                    }
                    let case = case.ok_or_else(|| {
                        error(
                            40064,
                            "$switch requires each branch have a 'case' expression",
                        )
                    })?;
                    let then = then.ok_or_else(|| {
                        error(
                            40065,
                            "$switch requires each branch have a 'then' expression.",
                        )
                    })?;
                    branches.push((case, then));
                }
            }
            "default" => default = Some(Box::new(parse_node(value, depth)?)),
            other => {
                return Err(error(
                    40067,
                    format!("$switch found an unknown argument: {other}"),
                ))
            }
        }
    }
    if branches.is_empty() {
        return Err(error(40068, "$switch requires at least one branch."));
    }
    Ok(Node::Switch { branches, default })
}

fn parse_cond_object(arguments: &Document, depth: usize) -> CommandResult<Node> {
    let mut parts: [Option<Node>; 3] = [None, None, None];
    for (key, value) in arguments {
        let slot = match key.as_str() {
            "if" => 0,
            "then" => 1,
            "else" => 2,
            other => {
                return Err(error(
                    17083,
                    format!("Unrecognized parameter to $cond: {other}"),
                ))
            }
        };
        parts[slot] = Some(parse_node(value, depth)?);
    }
    let [condition, then, otherwise] = parts;
    let condition = condition.ok_or_else(|| error(17080, "Missing 'if' parameter to $cond"))?;
    let then = then.ok_or_else(|| error(17081, "Missing 'then' parameter to $cond"))?;
    let otherwise = otherwise.ok_or_else(|| error(17082, "Missing 'else' parameter to $cond"))?;
    Ok(Node::Call {
        op: "$cond",
        family: Family::Core,
        args: vec![condition, then, otherwise],
    })
}

fn evaluate_node(
    node: &Node,
    root: &Document,
    variables: &Variables,
) -> CommandResult<Option<Bson>> {
    match node {
        Node::Literal(value) => Ok(Some(value.clone())),
        Node::Path(path) => Ok(match variables.lookup("CURRENT") {
            Some(Some(current)) => descend(current, path),
            Some(None) => None,
            None => lookup_path(root, path),
        }),
        Node::Variable { name, path } => {
            let base = match name.as_str() {
                "ROOT" => return Ok(descend_from_root(root, path)),
                "CURRENT" if variables.lookup("CURRENT").is_none() => {
                    return Ok(descend_from_root(root, path))
                }
                "REMOVE" => return Ok(None),
                "CLUSTER_TIME" => {
                    let seconds = match variables.get("NOW") {
                        Some(Bson::DateTime(now)) => (now.timestamp_millis() / 1000) as u32,
                        _ => 0,
                    };
                    Some(Bson::Timestamp(bson::Timestamp {
                        time: seconds,
                        increment: 1,
                    }))
                }
                "DESCEND" | "PRUNE" | "KEEP" if variables.lookup(name).is_none() => {
                    Some(Bson::String(name.clone()))
                }
                _ => match variables.lookup(name) {
                    Some(value) => value.cloned(),
                    None if name == "NOW" => variables.get("NOW").cloned(),
                    None => return Err(error(17276, format!("Use of undefined variable: {name}"))),
                },
            };
            Ok(base.and_then(|value| descend(&value, path)))
        }
        Node::Object(fields) => {
            let mut document = Document::new();
            for (key, value) in fields {
                if let Some(value) = evaluate_node(value, root, variables)? {
                    document.insert(key.clone(), value);
                }
            }
            Ok(Some(Bson::Document(document)))
        }
        Node::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                // A missing element becomes null, as MongoDB does in array literals.
                values.push(evaluate_node(item, root, variables)?.unwrap_or(Bson::Null));
            }
            Ok(Some(Bson::Array(values)))
        }
        Node::Call { op, family, args } => evaluate_call(op, *family, args, root, variables),
        Node::Named { op, args } => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(match arg {
                    Some(node) => Some(evaluate_node(node, root, variables)?),
                    None => None,
                });
            }
            evaluate_named(op, values, root, variables)
        }
        Node::Let { vars, body } => {
            let mut scope = variables.clone();
            for (name, value) in vars {
                // Every definition sees the outer scope only, as in MongoDB.
                scope.bind(name, evaluate_node(value, root, variables)?);
            }
            evaluate_node(body, root, &scope)
        }
        Node::Map { input, name, body } => {
            let items = match evaluate_node(input, root, variables)? {
                None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
                Some(Bson::Array(items)) => items,
                Some(other) => {
                    return Err(error(
                        16883,
                        format!("input to $map must be an array not {}", type_name(&other)),
                    ))
                }
            };
            let mut scope = variables.clone();
            scope.bind(name, None);
            let slot = scope.bindings.len() - 1;
            let mut output = Vec::with_capacity(items.len());
            for item in items {
                scope.bindings[slot].1 = Some(item);
                output.push(evaluate_node(body, root, &scope)?.unwrap_or(Bson::Null));
            }
            Ok(Some(Bson::Array(output)))
        }
        Node::Filter {
            input,
            name,
            cond,
            limit,
        } => {
            let items = match evaluate_node(input, root, variables)? {
                None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
                Some(Bson::Array(items)) => items,
                Some(other) => {
                    return Err(error(
                        28651,
                        format!(
                            "input to $filter must be an array not {}",
                            type_name(&other)
                        ),
                    ))
                }
            };
            let limit = match limit {
                None => None,
                Some(limit) => match evaluate_node(limit, root, variables)? {
                    None | Some(Bson::Null) => None,
                    Some(value) => match numeric::integral(&value) {
                        Some(count) if count >= 1 => Some(count as usize),
                        Some(_) => {
                            return Err(error(
                                327391,
                                format!(
                                    "$filter: limit must be greater than 0: {}",
                                    conversion::display_value(&value)
                                ),
                            ))
                        }
                        None => {
                            return Err(error(
                                327392,
                                format!(
                                "$filter: limit must be represented as a 32-bit integral value: {}",
                                conversion::display_value(&value)
                            ),
                            ))
                        }
                    },
                },
            };
            let mut scope = variables.clone();
            scope.bind(name, None);
            let slot = scope.bindings.len() - 1;
            let mut output = Vec::new();
            for item in items {
                if limit.is_some_and(|limit| output.len() >= limit) {
                    break;
                }
                scope.bindings[slot].1 = Some(item.clone());
                if is_truthy(evaluate_node(cond, root, &scope)?.as_ref()) {
                    output.push(item);
                }
            }
            Ok(Some(Bson::Array(output)))
        }
        Node::Reduce {
            input,
            initial,
            body,
        } => {
            let items = match evaluate_node(input, root, variables)? {
                None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
                Some(Bson::Array(items)) => items,
                Some(other) => {
                    return Err(error(
                        40080,
                        format!(
                            "$reduce requires that 'input' be an array, found: {}",
                            conversion::display_value(&other)
                        ),
                    ))
                }
            };
            let mut accumulated = evaluate_node(initial, root, variables)?;
            let mut scope = variables.clone();
            scope.bind("value", None);
            scope.bind("this", None);
            let slot = scope.bindings.len() - 2;
            for item in items {
                scope.bindings[slot].1 = accumulated;
                scope.bindings[slot + 1].1 = Some(item);
                accumulated = evaluate_node(body, root, &scope)?;
            }
            Ok(accumulated)
        }
        Node::Switch { branches, default } => {
            for (case, then) in branches {
                if is_truthy(evaluate_node(case, root, variables)?.as_ref()) {
                    return evaluate_node(then, root, variables);
                }
            }
            match default {
                Some(default) => evaluate_node(default, root, variables),
                None => Err(error(
                    40066,
                    "$switch could not find a matching branch for an input, and no default was specified.",
                )),
            }
        }
    }
}

fn descend_from_root(root: &Document, path: &[String]) -> Option<Bson> {
    if path.is_empty() {
        Some(Bson::Document(root.clone()))
    } else {
        lookup_path(root, path)
    }
}

/// Missing compares like `undefined`, below null, as MongoDB's expression comparison does.
fn comparable(value: &Option<Bson>) -> &Bson {
    value.as_ref().unwrap_or(&Bson::Undefined)
}

fn evaluate_call(
    op: &'static str,
    family: Family,
    args: &[Node],
    root: &Document,
    variables: &Variables,
) -> CommandResult<Option<Bson>> {
    // Operators that must not evaluate every argument first.
    match op {
        "$and" => {
            for arg in args {
                if !is_truthy(evaluate_node(arg, root, variables)?.as_ref()) {
                    return Ok(Some(Bson::Boolean(false)));
                }
            }
            return Ok(Some(Bson::Boolean(true)));
        }
        "$or" => {
            for arg in args {
                if is_truthy(evaluate_node(arg, root, variables)?.as_ref()) {
                    return Ok(Some(Bson::Boolean(true)));
                }
            }
            return Ok(Some(Bson::Boolean(false)));
        }
        "$cond" => {
            let condition = evaluate_node(&args[0], root, variables)?;
            let branch = if is_truthy(condition.as_ref()) {
                &args[1]
            } else {
                &args[2]
            };
            return evaluate_node(branch, root, variables);
        }
        "$ifNull" => {
            let (last, candidates) = args.split_last().ok_or_else(too_deep)?;
            for candidate in candidates {
                match evaluate_node(candidate, root, variables)? {
                    None | Some(Bson::Null) | Some(Bson::Undefined) => {}
                    value => return Ok(value),
                }
            }
            return evaluate_node(last, root, variables);
        }
        _ => {}
    }
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        values.push(evaluate_node(arg, root, variables)?);
    }
    match family {
        Family::Core => evaluate_core(op, values),
        Family::Numeric => numeric::evaluate(op, values),
        Family::Text => text::evaluate(op, values),
        Family::Array => arrays::evaluate(op, values),
        Family::Conversion => conversion::evaluate(op, values),
    }
}

fn evaluate_core(op: &str, values: Vec<Option<Bson>>) -> CommandResult<Option<Bson>> {
    let boolean = |flag: bool| Ok(Some(Bson::Boolean(flag)));
    match op {
        "$not" => boolean(!is_truthy(values[0].as_ref())),
        "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" | "$cmp" => {
            let order = compare_bson(comparable(&values[0]), comparable(&values[1]));
            match op {
                "$eq" => boolean(order == Ordering::Equal),
                "$ne" => boolean(order != Ordering::Equal),
                "$gt" => boolean(order == Ordering::Greater),
                "$gte" => boolean(order != Ordering::Less),
                "$lt" => boolean(order == Ordering::Less),
                "$lte" => boolean(order != Ordering::Greater),
                _ => Ok(Some(Bson::Int32(match order {
                    Ordering::Less => -1,
                    Ordering::Equal => 0,
                    Ordering::Greater => 1,
                }))),
            }
        }
        "$mergeObjects" => {
            let mut merged = Document::new();
            for value in values {
                match value {
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
                                "$mergeObjects requires object inputs, but input {} is of type {}",
                                conversion::display_value(&other),
                                type_name(&other)
                            ),
                        ))
                    }
                }
            }
            Ok(Some(Bson::Document(merged)))
        }
        "$rand" => Ok(Some(Bson::Double(rand::random::<f64>()))),
        _ => Err(unknown_operator(op)),
    }
}

fn evaluate_named(
    op: &'static str,
    args: Vec<Option<Option<Bson>>>,
    root: &Document,
    variables: &Variables,
) -> CommandResult<Option<Bson>> {
    match op {
        "$convert" => conversion::convert(args),
        "$regexMatch" | "$regexFind" | "$regexFindAll" | "$trim" | "$ltrim" | "$rtrim"
        | "$replaceOne" | "$replaceAll" => text::evaluate_named(op, args),
        "$getField" => {
            let field = match args[0].clone().flatten() {
                Some(Bson::String(field)) => field,
                other => {
                    return Err(error(
                        5654602,
                        format!(
                            "$getField requires 'field' to evaluate to type String, but got {}",
                            other.as_ref().map_or("missing", type_name)
                        ),
                    ))
                }
            };
            let input = match &args[1] {
                Some(input) => input.clone(),
                None => match variables.lookup("CURRENT") {
                    Some(current) => current.cloned(),
                    None => Some(Bson::Document(root.clone())),
                },
            };
            match input {
                Some(Bson::Document(document)) => Ok(document.get(&field).cloned()),
                None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(Some(Bson::Null)),
                Some(other) => Err(error(
                    3041705,
                    format!(
                        "$getField requires 'input' to evaluate to type Object, but got {}",
                        type_name(&other)
                    ),
                )),
            }
        }
        "$sortArray" => arrays::sort_array(args),
        _ => dates::evaluate_named(op, args),
    }
}

#[cfg(test)]
mod tests;
