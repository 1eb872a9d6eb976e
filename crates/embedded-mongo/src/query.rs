//! The query language: a filter document is parsed once into a [`Matcher`], which then tests
//! documents with MongoDB's semantics (dotted paths through arrays, null versus missing, ...).

use std::cmp::Ordering;

use bson::{doc, Bson, Document};

use crate::compare::{bson_equal, canonical_type_rank, compare_bson, is_number};
use crate::error::{codes, CommandError, CommandResult};
use crate::expression::{is_truthy, Expression, Variables};
use crate::schema::JsonSchema;

/// How deeply logical operators, `$not` and `$elemMatch` may nest before a filter is rejected.
/// MongoDB enforces the same limit so that a hostile filter cannot exhaust the stack.
pub const MAX_QUERY_DEPTH: usize = 100;

thread_local! {
    /// The first error an `$expr` raised during the current evaluation on this thread. Matching
    /// answers "no match" through the tree; [`Matcher::try_match_details`] turns a recorded
    /// error into the command's failure, as on mongod.
    static EXPRESSION_ERROR: std::cell::RefCell<Option<CommandError>> =
        const { std::cell::RefCell::new(None) };
}

/// Options that change how a filter parses.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Fields covered by the collection's text index, with their weights; `$text` is an error
    /// (code 27, IndexNotFound) when this is `None`.
    pub text_fields: Option<Vec<(String, i32)>>,
    /// Variables `$expr` sees besides the system ones (a command's `let`).
    pub variables: Option<Variables>,
}

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Matcher {
    root: Node,
    has_text: bool,
    variables: Option<Variables>,
}

/// What a successful match learned about the document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatchDetails {
    /// The array index the positional `$` operator refers to (the first array element that
    /// satisfied the query on an array field), if any.
    pub array_position: Option<usize>,
}

/// A constraint on one field that an index can answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldBound {
    /// `{field: value}` or `{field: {$eq: value}}`.
    Equal(bson::Bson),
    /// `{field: {$in: [...]}}` (no regexes among the values).
    In(Vec<bson::Bson>),
    /// A range from `$gt/$gte/$lt/$lte`; `None` is unbounded on that side.
    Range {
        lower: Option<(bson::Bson, bool)>,
        upper: Option<(bson::Bson, bool)>,
    },
}

/// One node of the parsed filter tree.
#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
    Field {
        path: FieldPath,
        predicate: Predicate,
    },
    Expr(Box<Expression>),
    Schema(Box<JsonSchema>),
    Text(TextQuery),
    Constant(bool),
}

/// A dotted path split into its components once, at parse time.
#[derive(Debug, Clone)]
struct FieldPath {
    dotted: String,
    parts: Vec<String>,
}

impl FieldPath {
    fn new(dotted: &str) -> Self {
        Self {
            dotted: dotted.to_string(),
            parts: dotted.split('.').map(str::to_string).collect(),
        }
    }
}

/// The comparison operators that order values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Comparison {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Greater => ordering == Ordering::Greater,
            Comparison::GreaterOrEqual => ordering != Ordering::Less,
            Comparison::Less => ordering == Ordering::Less,
            Comparison::LessOrEqual => ordering != Ordering::Greater,
        }
    }

    fn includes_equality(self) -> bool {
        matches!(self, Comparison::GreaterOrEqual | Comparison::LessOrEqual)
    }
}

/// A compiled regular expression together with the BSON regex it came from.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    compiled: regex::Regex,
    source: bson::Regex,
}

impl Pattern {
    /// Compiles a pattern with MongoDB's option letters (`i`, `m`, `s`, `x`, `u`).
    pub(crate) fn new(pattern: &str, options: &str) -> CommandResult<Pattern> {
        let mut builder = regex::RegexBuilder::new(pattern);
        let mut sorted: Vec<char> = Vec::new();
        for flag in options.chars() {
            match flag {
                'i' => {
                    builder.case_insensitive(true);
                }
                'm' => {
                    builder.multi_line(true);
                }
                's' => {
                    builder.dot_matches_new_line(true);
                }
                'x' => {
                    builder.ignore_whitespace(true);
                }
                'u' | 'l' => {}
                other => {
                    return Err(CommandError::new(
                        51108,
                        format!("invalid flag in regex options: {other}"),
                    ))
                }
            }
            if !sorted.contains(&flag) {
                sorted.push(flag);
            }
        }
        sorted.sort_unstable();
        let compiled = builder.build().map_err(|error| {
            CommandError::new(51091, format!("Regular expression is invalid: {error}"))
        })?;
        Ok(Pattern {
            compiled,
            source: bson::Regex {
                pattern: pattern.to_string(),
                options: sorted.into_iter().collect(),
            },
        })
    }

    /// True when `text` contains a match.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }

    /// Strings and symbols match by search; a stored regex matches when it is the same regex.
    fn matches_value(&self, value: &Bson) -> bool {
        match value {
            Bson::String(text) | Bson::Symbol(text) => self.compiled.is_match(text),
            Bson::RegularExpression(regex) => {
                regex.pattern == self.source.pattern && regex.options == self.source.options
            }
            _ => false,
        }
    }
}

/// One type a `$type` (or `bsonType`) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeSpec {
    /// Any numeric type (the `"number"` alias).
    Number,
    /// One BSON type code (`-1` MinKey, `127` MaxKey).
    Code(i32),
}

impl TypeSpec {
    /// Parses a type alias such as `"string"` or `"number"`.
    pub(crate) fn from_alias(alias: &str) -> Option<TypeSpec> {
        let code = match alias {
            "number" => return Some(TypeSpec::Number),
            "double" => 1,
            "string" => 2,
            "object" => 3,
            "array" => 4,
            "binData" => 5,
            "undefined" => 6,
            "objectId" => 7,
            "bool" => 8,
            "date" => 9,
            "null" => 10,
            "regex" => 11,
            "dbPointer" => 12,
            "javascript" => 13,
            "symbol" => 14,
            "javascriptWithScope" => 15,
            "int" => 16,
            "timestamp" => 17,
            "long" => 18,
            "decimal" => 19,
            "minKey" => -1,
            "maxKey" => 127,
            _ => return None,
        };
        Some(TypeSpec::Code(code))
    }

    /// True when `value` has this type.
    pub(crate) fn matches(self, value: &Bson) -> bool {
        match self {
            TypeSpec::Number => is_number(value),
            TypeSpec::Code(code) => type_code(value) == code,
        }
    }
}

/// The BSON type code of a value, as `$type` numbers them.
pub(crate) fn type_code(value: &Bson) -> i32 {
    match value {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// The type alias MongoDB reports for a value (`consideredType` in validation errors).
pub(crate) fn type_alias(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// One entry of `$in`/`$nin`: a value compared for equality or a regex.
#[derive(Debug, Clone)]
enum InValue {
    Value(Bson),
    Pattern(Pattern),
}

/// A condition on the values found at one path.
#[derive(Debug, Clone)]
enum Predicate {
    Equal(Bson),
    Compare(Comparison, Bson),
    In(Vec<InValue>),
    Exists,
    Type(Vec<TypeSpec>),
    Pattern(Pattern),
    Modulo {
        divisor: i64,
        remainder: i64,
    },
    Size(usize),
    ElemMatchDocument(Box<Node>),
    ElemMatchValue(Vec<Predicate>),
    /// `$all`: every condition holds; an empty `$all` matches nothing.
    All(Vec<Predicate>),
    /// Several operators on one path (`{a: {$gt: 1, $lt: 5}}`), each tested independently.
    And(Vec<Predicate>),
    Not(Box<Predicate>),
}

/// A parsed `$text` query.
#[derive(Debug, Clone)]
struct TextQuery {
    terms: Vec<String>,
    negated: Vec<String>,
    phrases: Vec<String>,
    case_sensitive: bool,
    diacritic_sensitive: bool,
    fields: Vec<(String, i32)>,
}

/// A value found while walking a path: `None` stands for a missing field.
#[derive(Debug, Clone, Copy)]
struct Candidate<'a> {
    value: Option<&'a Bson>,
    position: Option<usize>,
}

/// Outcome of a successful match: the positional array index, if one was found.
type Hit = Option<usize>;

struct ParseContext<'a> {
    options: &'a ParseOptions,
    text_count: usize,
}

fn too_deep() -> CommandError {
    CommandError::bad_value(format!(
        "exceeded maximum query tree depth of {MAX_QUERY_DEPTH}"
    ))
}

fn is_operator_document(document: &Document) -> bool {
    match document.keys().next() {
        Some(first) => first.starts_with('$') && !matches!(first.as_str(), "$ref" | "$id" | "$db"),
        None => false,
    }
}

fn parse_filter(
    filter: &Document,
    context: &mut ParseContext,
    depth: usize,
) -> CommandResult<Node> {
    if depth > MAX_QUERY_DEPTH {
        return Err(too_deep());
    }
    let mut children = Vec::with_capacity(filter.len());
    for (key, value) in filter {
        if let Some(operator) = key.strip_prefix('$') {
            if let Some(node) = parse_top_level(operator, key, value, context, depth)? {
                children.push(node);
            }
        } else {
            children.push(parse_field(key, value, context, depth)?);
        }
    }
    Ok(if children.len() == 1 {
        children.pop().unwrap_or(Node::And(Vec::new()))
    } else {
        Node::And(children)
    })
}

fn parse_top_level(
    operator: &str,
    key: &str,
    value: &Bson,
    context: &mut ParseContext,
    depth: usize,
) -> CommandResult<Option<Node>> {
    let node = match operator {
        "and" | "or" | "nor" => {
            let Bson::Array(entries) = value else {
                return Err(CommandError::bad_value(format!("{key} must be an array")));
            };
            if entries.is_empty() {
                return Err(CommandError::bad_value(
                    "$and/$or/$nor must be a nonempty array",
                ));
            }
            let mut clauses = Vec::with_capacity(entries.len());
            for entry in entries {
                let Bson::Document(clause) = entry else {
                    return Err(CommandError::bad_value(
                        "$or/$and/$nor entries need to be full objects",
                    ));
                };
                clauses.push(parse_filter(clause, context, depth + 1)?);
            }
            match operator {
                "and" => Node::And(clauses),
                "or" => Node::Or(clauses),
                _ => Node::Nor(clauses),
            }
        }
        "comment" => return Ok(None),
        "where" => return Err(CommandError::bad_value("$where is not supported")),
        "expr" => Node::Expr(Box::new(Expression::parse(value)?)),
        "jsonSchema" => {
            let Bson::Document(schema) = value else {
                return Err(CommandError::type_mismatch("$jsonSchema must be an object"));
            };
            Node::Schema(Box::new(JsonSchema::parse(schema)?))
        }
        "text" => Node::Text(parse_text(value, context)?),
        "alwaysTrue" | "alwaysFalse" => {
            if !matches!(value, Bson::Int32(1) | Bson::Int64(1) | Bson::Double(1.0)) {
                return Err(CommandError::failed_to_parse(format!(
                    "{key} must be an integer value of 1"
                )));
            }
            Node::Constant(operator == "alwaysTrue")
        }
        _ => {
            return Err(CommandError::bad_value(format!(
                "unknown top level operator: {key}. If you have a field name that starts with a '$' symbol, consider using $getField or $setField."
            )))
        }
    };
    Ok(Some(node))
}

fn parse_text(value: &Bson, context: &mut ParseContext) -> CommandResult<TextQuery> {
    let Some(fields) = context.options.text_fields.as_ref() else {
        return Err(CommandError::new(
            codes::INDEX_NOT_FOUND,
            "text index required for $text query",
        ));
    };
    context.text_count += 1;
    if context.text_count > 1 {
        return Err(CommandError::bad_value("Too many text expressions"));
    }
    let Bson::Document(spec) = value else {
        return Err(CommandError::bad_value("$text expects an object"));
    };
    let mut search = None;
    let mut case_sensitive = false;
    let mut diacritic_sensitive = false;
    for (key, argument) in spec {
        match key.as_str() {
            "$search" => match argument {
                Bson::String(text) => search = Some(text.clone()),
                _ => return Err(CommandError::type_mismatch("$search must be a string")),
            },
            "$caseSensitive" => match argument {
                Bson::Boolean(flag) => case_sensitive = *flag,
                _ => {
                    return Err(CommandError::type_mismatch(
                        "$caseSensitive must be a boolean",
                    ))
                }
            },
            "$diacriticSensitive" => match argument {
                Bson::Boolean(flag) => diacritic_sensitive = *flag,
                _ => {
                    return Err(CommandError::type_mismatch(
                        "$diacriticSensitive must be a boolean",
                    ))
                }
            },
            "$language" => {
                if !matches!(argument, Bson::String(_)) {
                    return Err(CommandError::type_mismatch("$language must be a string"));
                }
            }
            other => {
                return Err(CommandError::bad_value(format!(
                    "Unexpected field {other} in $text"
                )))
            }
        }
    }
    let Some(search) = search else {
        return Err(CommandError::failed_to_parse("$search needs a String"));
    };
    let fold = |text: &str| fold_text(text, case_sensitive, diacritic_sensitive);
    let mut query = TextQuery {
        terms: Vec::new(),
        negated: Vec::new(),
        phrases: Vec::new(),
        case_sensitive,
        diacritic_sensitive,
        fields: fields.clone(),
    };
    // Quotes alternate between free text and phrases: odd segments are phrases.
    for (index, segment) in search.split('"').enumerate() {
        if index % 2 == 1 {
            if !segment.trim().is_empty() {
                query.phrases.push(fold(segment));
                query.terms.extend(tokenize(segment).map(fold));
            }
            continue;
        }
        for word in segment.split_whitespace() {
            if let Some(excluded) = word.strip_prefix('-') {
                query.negated.extend(tokenize(excluded).map(fold));
            } else {
                query.terms.extend(tokenize(word).map(fold));
            }
        }
    }
    Ok(query)
}

/// Folds text the way a text index compares it: lower case unless the search is case
/// sensitive, and accented Latin letters reduced to their base letter unless it is diacritic
/// sensitive.
fn fold_text(text: &str, case_sensitive: bool, diacritic_sensitive: bool) -> String {
    let cased = if case_sensitive {
        text.to_string()
    } else {
        text.to_lowercase()
    };
    if diacritic_sensitive {
        return cased;
    }
    cased.chars().map(strip_diacritic).collect()
}

fn strip_diacritic(letter: char) -> char {
    match letter {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'Ā' | 'Ă' | 'Ą' => 'A',
        'ç' | 'ć' | 'č' => 'c',
        'Ç' | 'Ć' | 'Č' => 'C',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'È' | 'É' | 'Ê' | 'Ë' | 'Ē' | 'Ė' | 'Ę' | 'Ě' => 'E',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => 'i',
        'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' | 'Į' => 'I',
        'ñ' | 'ń' | 'ň' => 'n',
        'Ñ' | 'Ń' | 'Ň' => 'N',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' | 'Ō' | 'Ő' => 'O',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' | 'ų' => 'u',
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' | 'Ů' | 'Ű' | 'Ų' => 'U',
        'ý' | 'ÿ' => 'y',
        'Ý' | 'Ÿ' => 'Y',
        'ś' | 'š' => 's',
        'Ś' | 'Š' => 'S',
        'ź' | 'ż' | 'ž' => 'z',
        'Ź' | 'Ż' | 'Ž' => 'Z',
        other => other,
    }
}

fn tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|token| !token.is_empty())
}

/// The most components a dotted path may have; BSON documents cannot nest deeper than this,
/// and the limit keeps path walking shallow.
pub const MAX_PATH_COMPONENTS: usize = 200;

/// Rejects dotted paths with more components than any document can have.
pub(crate) fn check_path_length(path: &str) -> CommandResult<()> {
    if path.split('.').count() > MAX_PATH_COMPONENTS {
        return Err(CommandError::bad_value(format!(
            "FieldPath is too long: more than {MAX_PATH_COMPONENTS} components"
        )));
    }
    Ok(())
}

fn parse_field(
    path: &str,
    value: &Bson,
    context: &mut ParseContext,
    depth: usize,
) -> CommandResult<Node> {
    check_path_length(path)?;
    let predicate = match value {
        Bson::Document(operators) if is_operator_document(operators) => {
            parse_operators(operators, context, depth)?
        }
        Bson::RegularExpression(regex) => {
            Predicate::Pattern(Pattern::new(&regex.pattern, &regex.options)?)
        }
        other => Predicate::Equal(other.clone()),
    };
    Ok(Node::Field {
        path: FieldPath::new(path),
        predicate,
    })
}

/// Parses an operator document such as `{$gt: 1, $lt: 5}`.
fn parse_operators(
    operators: &Document,
    context: &mut ParseContext,
    depth: usize,
) -> CommandResult<Predicate> {
    if depth > MAX_QUERY_DEPTH {
        return Err(too_deep());
    }
    let mut predicates = Vec::with_capacity(operators.len());
    for (operator, argument) in operators {
        match operator.as_str() {
            "$regex" => predicates.push(parse_regex_operator(operators, argument)?),
            "$options" => {
                if !operators.contains_key("$regex") {
                    return Err(CommandError::bad_value("$options needs a $regex"));
                }
            }
            _ => predicates.push(parse_operator(operator, argument, context, depth)?),
        }
    }
    Ok(if predicates.len() == 1 {
        predicates
            .pop()
            .unwrap_or_else(|| Predicate::And(Vec::new()))
    } else {
        Predicate::And(predicates)
    })
}

fn parse_regex_operator(operators: &Document, argument: &Bson) -> CommandResult<Predicate> {
    let options = match operators.get("$options") {
        None => None,
        Some(Bson::String(options)) => Some(options.as_str()),
        Some(_) => return Err(CommandError::bad_value("$options has to be a string")),
    };
    let pattern = match argument {
        Bson::String(pattern) => Pattern::new(pattern, options.unwrap_or(""))?,
        Bson::RegularExpression(regex) => {
            if options.is_some() && !regex.options.is_empty() {
                return Err(CommandError::bad_value(
                    "options set in both $regex and $options",
                ));
            }
            Pattern::new(&regex.pattern, options.unwrap_or(&regex.options))?
        }
        _ => return Err(CommandError::bad_value("$regex has to be a string")),
    };
    Ok(Predicate::Pattern(pattern))
}

fn parse_operator(
    operator: &str,
    argument: &Bson,
    context: &mut ParseContext,
    depth: usize,
) -> CommandResult<Predicate> {
    let comparison = |kind| Predicate::Compare(kind, argument.clone());
    Ok(match operator {
        "$eq" => Predicate::Equal(argument.clone()),
        "$ne" => {
            if matches!(argument, Bson::RegularExpression(_)) {
                return Err(CommandError::bad_value("Can't have regex as arg to $ne."));
            }
            Predicate::Not(Box::new(Predicate::Equal(argument.clone())))
        }
        "$gt" => comparison(Comparison::Greater),
        "$gte" => comparison(Comparison::GreaterOrEqual),
        "$lt" => comparison(Comparison::Less),
        "$lte" => comparison(Comparison::LessOrEqual),
        "$in" => Predicate::In(parse_in_values("$in", argument)?),
        "$nin" => Predicate::Not(Box::new(Predicate::In(parse_in_values("$nin", argument)?))),
        "$exists" => {
            if is_truthy_flag(argument) {
                Predicate::Exists
            } else {
                Predicate::Not(Box::new(Predicate::Exists))
            }
        }
        "$type" => Predicate::Type(parse_types(argument)?),
        "$mod" => parse_modulo(argument)?,
        "$size" => Predicate::Size(parse_size(argument)?),
        "$all" => parse_all(argument, context, depth)?,
        "$elemMatch" => parse_elem_match(argument, context, depth)?,
        "$not" => match argument {
            Bson::RegularExpression(regex) => Predicate::Not(Box::new(Predicate::Pattern(
                Pattern::new(&regex.pattern, &regex.options)?,
            ))),
            Bson::Document(inner) => {
                if inner.is_empty() {
                    return Err(CommandError::bad_value("$not cannot be empty"));
                }
                if !is_operator_document(inner) {
                    return Err(CommandError::bad_value("$not needs a regex or a document"));
                }
                Predicate::Not(Box::new(parse_operators(inner, context, depth + 1)?))
            }
            _ => return Err(CommandError::bad_value("$not needs a regex or a document")),
        },
        "$comment" => Predicate::And(Vec::new()),
        _ => {
            return Err(CommandError::bad_value(format!(
                "unknown operator: {operator}"
            )))
        }
    })
}

/// `$exists` and similar flags: false, 0 and null are false, everything else is true.
fn is_truthy_flag(value: &Bson) -> bool {
    match value {
        Bson::Boolean(flag) => *flag,
        Bson::Int32(number) => *number != 0,
        Bson::Int64(number) => *number != 0,
        Bson::Double(number) => *number != 0.0,
        Bson::Null | Bson::Undefined => false,
        _ => true,
    }
}

fn parse_in_values(operator: &str, argument: &Bson) -> CommandResult<Vec<InValue>> {
    let Bson::Array(values) = argument else {
        return Err(CommandError::bad_value(format!(
            "{operator} needs an array"
        )));
    };
    values
        .iter()
        .map(|value| match value {
            Bson::RegularExpression(regex) => Ok(InValue::Pattern(Pattern::new(
                &regex.pattern,
                &regex.options,
            )?)),
            Bson::Document(document) if is_operator_document(document) => {
                Err(CommandError::bad_value("cannot nest $ under $in"))
            }
            other => Ok(InValue::Value(other.clone())),
        })
        .collect()
}

fn parse_types(argument: &Bson) -> CommandResult<Vec<TypeSpec>> {
    let parse_one = |value: &Bson| -> CommandResult<TypeSpec> {
        match value {
            Bson::String(alias) => TypeSpec::from_alias(alias).ok_or_else(|| {
                CommandError::bad_value(format!("Unknown type name alias: {alias}"))
            }),
            Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => {
                let code = integral_value(value)
                    .filter(|code| matches!(*code, -1 | 127) || (1..=19).contains(code));
                match code {
                    Some(code) => Ok(TypeSpec::Code(code as i32)),
                    None => Err(CommandError::bad_value(format!(
                        "Invalid numerical type code: {value}"
                    ))),
                }
            }
            _ => Err(CommandError::type_mismatch(
                "type must be represented as a number or a string",
            )),
        }
    };
    match argument {
        Bson::Array(values) => {
            if values.is_empty() {
                return Err(CommandError::failed_to_parse(
                    "$type must match at least one type",
                ));
            }
            values.iter().map(parse_one).collect()
        }
        other => Ok(vec![parse_one(other)?]),
    }
}

/// The value of a number with no fractional part, as an integer.
fn integral_value(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(number) => Some(i64::from(*number)),
        Bson::Int64(number) => Some(*number),
        Bson::Double(number) => {
            (number.fract() == 0.0 && number.abs() < 9.2e18).then_some(*number as i64)
        }
        Bson::Decimal128(decimal) => {
            let number = crate::compare::decimal_to_f64(decimal);
            (number.fract() == 0.0 && number.abs() < 9.2e18).then_some(number as i64)
        }
        _ => None,
    }
}

/// A number truncated toward zero, as `$mod` treats its arguments and values.
fn truncated_value(value: &Bson) -> Option<i64> {
    let number = match value {
        Bson::Int32(number) => return Some(i64::from(*number)),
        Bson::Int64(number) => return Some(*number),
        Bson::Double(number) => *number,
        Bson::Decimal128(decimal) => crate::compare::decimal_to_f64(decimal),
        _ => return None,
    };
    (number.is_finite() && number.abs() < 9.2e18).then_some(number.trunc() as i64)
}

fn parse_modulo(argument: &Bson) -> CommandResult<Predicate> {
    let Bson::Array(arguments) = argument else {
        return Err(CommandError::bad_value(
            "malformed mod, needs to be an array",
        ));
    };
    if arguments.len() < 2 {
        return Err(CommandError::bad_value(
            "malformed mod, not enough elements",
        ));
    }
    if arguments.len() > 2 {
        return Err(CommandError::bad_value("malformed mod, too many elements"));
    }
    if !is_number(&arguments[0]) {
        return Err(CommandError::bad_value(
            "malformed mod, divisor not a number",
        ));
    }
    if !is_number(&arguments[1]) {
        return Err(CommandError::bad_value(
            "malformed mod, remainder not a number",
        ));
    }
    let Some(divisor) = truncated_value(&arguments[0]) else {
        return Err(CommandError::bad_value(
            "malformed mod, divisor value is invalid",
        ));
    };
    let Some(remainder) = truncated_value(&arguments[1]) else {
        return Err(CommandError::bad_value(
            "malformed mod, remainder value is invalid",
        ));
    };
    if divisor == 0 {
        return Err(CommandError::bad_value("divisor cannot be 0"));
    }
    Ok(Predicate::Modulo { divisor, remainder })
}

fn parse_size(argument: &Bson) -> CommandResult<usize> {
    if !is_number(argument) {
        return Err(CommandError::bad_value("$size needs a number"));
    }
    let Some(size) = integral_value(argument) else {
        return Err(CommandError::bad_value(format!(
            "Failed to parse $size. Expected an integer, but found {argument}"
        )));
    };
    if size < 0 {
        return Err(CommandError::bad_value(format!(
            "Failed to parse $size. Expected a non-negative number in: $size: {size}"
        )));
    }
    usize::try_from(size).map_err(|_| CommandError::bad_value("$size is too large"))
}

fn parse_all(
    argument: &Bson,
    context: &mut ParseContext,
    depth: usize,
) -> CommandResult<Predicate> {
    let Bson::Array(values) = argument else {
        return Err(CommandError::bad_value("$all needs an array"));
    };
    let is_elem_match = |value: &Bson| {
        matches!(value, Bson::Document(document)
            if document.keys().next().map(String::as_str) == Some("$elemMatch"))
    };
    let elem_match_form = values.first().is_some_and(is_elem_match);
    let mut predicates = Vec::with_capacity(values.len());
    for value in values {
        if elem_match_form {
            let Bson::Document(document) = value else {
                return Err(CommandError::bad_value(
                    "$all/$elemMatch has to be consistent",
                ));
            };
            if !is_elem_match(value) || document.len() != 1 {
                return Err(CommandError::bad_value(
                    "$all/$elemMatch has to be consistent",
                ));
            }
            let argument = document.get("$elemMatch").unwrap_or(&Bson::Null);
            predicates.push(parse_elem_match(argument, context, depth)?);
            continue;
        }
        predicates.push(match value {
            Bson::RegularExpression(regex) => {
                Predicate::Pattern(Pattern::new(&regex.pattern, &regex.options)?)
            }
            Bson::Document(document) if is_operator_document(document) => {
                return Err(CommandError::bad_value("no $ expressions in $all"))
            }
            other => Predicate::Equal(other.clone()),
        });
    }
    Ok(Predicate::All(predicates))
}

fn parse_elem_match(
    argument: &Bson,
    context: &mut ParseContext,
    depth: usize,
) -> CommandResult<Predicate> {
    let Bson::Document(spec) = argument else {
        return Err(CommandError::bad_value("$elemMatch needs an Object"));
    };
    if depth + 1 > MAX_QUERY_DEPTH {
        return Err(too_deep());
    }
    let value_form = match spec.keys().next() {
        Some(first) => {
            first.starts_with('$')
                && !matches!(
                    first.as_str(),
                    "$and"
                        | "$or"
                        | "$nor"
                        | "$expr"
                        | "$where"
                        | "$text"
                        | "$comment"
                        | "$jsonSchema"
                        | "$alwaysTrue"
                        | "$alwaysFalse"
                )
        }
        None => false,
    };
    if value_form {
        let predicates = match parse_operators(spec, context, depth + 1)? {
            Predicate::And(predicates) => predicates,
            single => vec![single],
        };
        return Ok(Predicate::ElemMatchValue(predicates));
    }
    if spec.contains_key("$where") {
        return Err(CommandError::bad_value(
            "$elemMatch cannot contain $where expression",
        ));
    }
    if spec.contains_key("$text") {
        return Err(CommandError::bad_value(
            "$elemMatch cannot contain $text expression",
        ));
    }
    Ok(Predicate::ElemMatchDocument(Box::new(parse_filter(
        spec,
        context,
        depth + 1,
    )?)))
}

/// Walks `parts` from a document, collecting the values found (and missing leaves).
fn collect_from_document<'a>(
    document: &'a Document,
    parts: &[String],
    position: Option<usize>,
    out: &mut Vec<Candidate<'a>>,
) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    match document.get(first) {
        None => out.push(Candidate {
            value: None,
            position,
        }),
        Some(value) => collect_from_value(value, rest, position, out),
    }
}

fn collect_from_value<'a>(
    value: &'a Bson,
    rest: &[String],
    position: Option<usize>,
    out: &mut Vec<Candidate<'a>>,
) {
    let Some(next) = rest.first() else {
        out.push(Candidate {
            value: Some(value),
            position,
        });
        return;
    };
    match value {
        Bson::Document(document) => collect_from_document(document, rest, position, out),
        Bson::Array(items) => {
            // A numeric component may index the array, and may also name a field of the
            // embedded documents in it: MongoDB tries both.
            if let Some(index) = array_index(next) {
                if let Some(item) = items.get(index) {
                    collect_from_value(item, &rest[1..], position, out);
                }
            }
            for (index, item) in items.iter().enumerate() {
                if let Bson::Document(document) = item {
                    collect_from_document(document, rest, position.or(Some(index)), out);
                }
            }
        }
        _ => out.push(Candidate {
            value: None,
            position,
        }),
    }
}

fn array_index(component: &str) -> Option<usize> {
    if component.is_empty() || !component.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if component.len() > 1 && component.starts_with('0') {
        return None;
    }
    component.parse().ok()
}

fn candidates<'a>(document: &'a Document, path: &FieldPath) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    collect_from_document(document, &path.parts, None, &mut out);
    out
}

fn values_equal(value: &Bson, target: &Bson) -> bool {
    match target {
        Bson::Null => matches!(value, Bson::Null | Bson::Undefined),
        _ => bson_equal(value, target),
    }
}

fn compare_matches(kind: Comparison, value: &Bson, target: &Bson) -> bool {
    // MinKey and MaxKey bound every type, so comparisons against them cross type brackets.
    if !matches!(target, Bson::MinKey | Bson::MaxKey)
        && canonical_type_rank(value) != canonical_type_rank(target)
    {
        return false;
    }
    if is_nan(value) || is_nan(target) {
        return kind.includes_equality() && is_nan(value) && is_nan(target);
    }
    kind.accepts(compare_bson(value, target))
}

fn is_nan(value: &Bson) -> bool {
    match value {
        Bson::Double(number) => number.is_nan(),
        Bson::Decimal128(decimal) => crate::compare::decimal_to_f64(decimal).is_nan(),
        _ => false,
    }
}

/// Tests a predicate that looks at single values against one value (not expanding arrays).
fn test_scalar(predicate: &Predicate, value: &Bson) -> bool {
    match predicate {
        Predicate::Equal(target) => values_equal(value, target),
        Predicate::Compare(kind, target) => compare_matches(*kind, value, target),
        Predicate::In(values) => values.iter().any(|entry| match entry {
            InValue::Value(target) => values_equal(value, target),
            InValue::Pattern(pattern) => pattern.matches_value(value),
        }),
        Predicate::Type(types) => types.iter().any(|spec| spec.matches(value)),
        Predicate::Pattern(pattern) => pattern.matches_value(value),
        Predicate::Modulo { divisor, remainder } => {
            is_number(value)
                && truncated_value(value)
                    .is_some_and(|number| number.wrapping_rem(*divisor) == *remainder)
        }
        _ => false,
    }
}

/// True when a predicate that looks at single values matches a missing field.
fn matches_missing(predicate: &Predicate) -> bool {
    match predicate {
        Predicate::Equal(Bson::Null) => true,
        Predicate::Compare(kind, Bson::Null) => kind.includes_equality(),
        Predicate::In(values) => values
            .iter()
            .any(|entry| matches!(entry, InValue::Value(Bson::Null))),
        _ => false,
    }
}

impl Node {
    fn evaluate(&self, document: &Document, variables: &Variables) -> Option<Hit> {
        match self {
            Node::And(children) => {
                let mut position = None;
                for child in children {
                    let hit = child.evaluate(document, variables)?;
                    position = position.or(hit);
                }
                Some(position)
            }
            Node::Or(children) => children
                .iter()
                .find_map(|child| child.evaluate(document, variables)),
            Node::Nor(children) => children
                .iter()
                .all(|child| child.evaluate(document, variables).is_none())
                .then_some(None),
            Node::Field { path, predicate } => {
                predicate.evaluate(&candidates(document, path), variables)
            }
            Node::Expr(expression) => match expression.evaluate(document, variables) {
                Ok(value) => is_truthy(value.as_ref()).then_some(None),
                Err(error) => {
                    EXPRESSION_ERROR.with(|slot| {
                        slot.borrow_mut().get_or_insert(error);
                    });
                    None
                }
            },
            Node::Schema(schema) => schema.is_valid(document).then_some(None),
            Node::Text(query) => query.matches(document).then_some(None),
            Node::Constant(result) => result.then_some(None),
        }
    }

    fn contains_text(&self) -> bool {
        match self {
            Node::And(children) | Node::Or(children) | Node::Nor(children) => {
                children.iter().any(Node::contains_text)
            }
            Node::Text(_) => true,
            _ => false,
        }
    }
}

impl Predicate {
    /// Tests the values found at a path; `Some(position)` on a match.
    fn evaluate(&self, found: &[Candidate], variables: &Variables) -> Option<Hit> {
        match self {
            Predicate::Exists => found
                .iter()
                .find(|candidate| candidate.value.is_some())
                .map(|candidate| candidate.position),
            Predicate::Size(size) => found
                .iter()
                .find(|candidate| {
                    matches!(candidate.value, Some(Bson::Array(items)) if items.len() == *size)
                })
                .map(|candidate| candidate.position),
            Predicate::ElemMatchDocument(_) | Predicate::ElemMatchValue(_) => {
                found.iter().find_map(|candidate| {
                    let Some(Bson::Array(items)) = candidate.value else {
                        return None;
                    };
                    items
                        .iter()
                        .position(|item| self.element_matches(item, variables))
                        .map(|index| candidate.position.or(Some(index)))
                })
            }
            Predicate::All(predicates) => {
                if predicates.is_empty() {
                    return None;
                }
                Self::evaluate_all(predicates, found, variables)
            }
            Predicate::And(predicates) => Self::evaluate_all(predicates, found, variables),
            Predicate::Not(inner) => inner.evaluate(found, variables).is_none().then_some(None),
            _ => found
                .iter()
                .find_map(|candidate| self.evaluate_candidate(candidate)),
        }
    }

    fn evaluate_all(
        predicates: &[Predicate],
        found: &[Candidate],
        variables: &Variables,
    ) -> Option<Hit> {
        let mut position = None;
        for predicate in predicates {
            let hit = predicate.evaluate(found, variables)?;
            position = position.or(hit);
        }
        Some(position)
    }

    /// Single-value predicates: a missing field, the value itself, or any array element.
    fn evaluate_candidate(&self, candidate: &Candidate) -> Option<Hit> {
        let Some(value) = candidate.value else {
            return matches_missing(self).then_some(candidate.position);
        };
        if test_scalar(self, value) {
            return Some(candidate.position);
        }
        if let Bson::Array(items) = value {
            return items
                .iter()
                .position(|item| test_scalar(self, item))
                .map(|index| candidate.position.or(Some(index)));
        }
        None
    }

    fn element_matches(&self, item: &Bson, variables: &Variables) -> bool {
        match self {
            Predicate::ElemMatchDocument(node) => match item {
                Bson::Document(document) => node.evaluate(document, variables).is_some(),
                _ => false,
            },
            Predicate::ElemMatchValue(predicates) => {
                let found = [Candidate {
                    value: Some(item),
                    position: None,
                }];
                predicates
                    .iter()
                    .all(|predicate| predicate.evaluate(&found, variables).is_some())
            }
            _ => false,
        }
    }
}

impl TextQuery {
    /// The indexed strings of `document`, one list per text-indexed field, with the field's
    /// weight, folded to lower case unless the search is case sensitive.
    fn field_texts(&self, document: &Document) -> Vec<(i32, Vec<String>)> {
        let mut out = Vec::with_capacity(self.fields.len());
        for (field, weight) in &self.fields {
            let mut texts = Vec::new();
            if field == "$**" {
                for value in document.values() {
                    collect_all_strings(value, &mut texts);
                }
            } else {
                for candidate in candidates(document, &FieldPath::new(field)) {
                    match candidate.value {
                        Some(Bson::String(text)) => texts.push(text.clone()),
                        Some(Bson::Array(items)) => {
                            texts.extend(items.iter().filter_map(|item| match item {
                                Bson::String(text) => Some(text.clone()),
                                _ => None,
                            }))
                        }
                        _ => {}
                    }
                }
            }
            for text in &mut texts {
                *text = fold_text(text, self.case_sensitive, self.diacritic_sensitive);
            }
            out.push((*weight, texts));
        }
        out
    }

    /// MongoDB-style relevance: per field and distinct term, the field weight times
    /// `0.5 + 0.5 * occurrences / tokens`, with a 10% bonus when the whole string is the term.
    fn score(&self, document: &Document) -> f64 {
        let mut terms: Vec<&str> = self.terms.iter().map(String::as_str).collect();
        terms.sort_unstable();
        terms.dedup();
        let mut score = 0.0;
        for (weight, texts) in self.field_texts(document) {
            for text in &texts {
                let tokens: Vec<&str> = tokenize(text).collect();
                if tokens.is_empty() {
                    continue;
                }
                for term in &terms {
                    let count = tokens.iter().filter(|token| *token == term).count();
                    if count == 0 {
                        continue;
                    }
                    let mut contribution =
                        f64::from(weight) * (0.5 + 0.5 * count as f64 / tokens.len() as f64);
                    if text.trim() == *term {
                        contribution *= 1.1;
                    }
                    score += contribution;
                }
            }
        }
        score
    }

    fn matches(&self, document: &Document) -> bool {
        let texts: Vec<String> = self
            .field_texts(document)
            .into_iter()
            .flat_map(|(_, texts)| texts)
            .collect();
        let tokens: std::collections::HashSet<&str> =
            texts.iter().flat_map(|text| tokenize(text)).collect();
        self.terms.iter().any(|term| tokens.contains(term.as_str()))
            && self
                .phrases
                .iter()
                .all(|phrase| texts.iter().any(|text| text.contains(phrase.as_str())))
            && !self
                .negated
                .iter()
                .any(|term| tokens.contains(term.as_str()))
    }
}

fn collect_all_strings(value: &Bson, out: &mut Vec<String>) {
    match value {
        Bson::String(text) => out.push(text.clone()),
        Bson::Array(items) => items.iter().for_each(|item| collect_all_strings(item, out)),
        Bson::Document(document) => document
            .values()
            .for_each(|item| collect_all_strings(item, out)),
        _ => {}
    }
}

/// True when an index can look a value up exactly: null (which also means missing), arrays
/// (compared whole, while a multikey index stores elements) and regexes are left to the scan.
fn indexable(value: &Bson) -> bool {
    !matches!(
        value,
        Bson::Null | Bson::Undefined | Bson::Array(_) | Bson::RegularExpression(_)
    )
}

fn collect_bounds(node: &Node, out: &mut Vec<(String, FieldBound)>) {
    match node {
        Node::And(children) => children.iter().for_each(|child| collect_bounds(child, out)),
        Node::Field { path, predicate } => predicate_bounds(&path.dotted, predicate, out),
        _ => {}
    }
}

fn predicate_bounds(path: &str, predicate: &Predicate, out: &mut Vec<(String, FieldBound)>) {
    match predicate {
        Predicate::Equal(value) if indexable(value) => {
            out.push((path.to_string(), FieldBound::Equal(value.clone())))
        }
        Predicate::In(values) => {
            let mut plain = Vec::with_capacity(values.len());
            for entry in values {
                match entry {
                    InValue::Value(value) if indexable(value) => plain.push(value.clone()),
                    _ => return,
                }
            }
            out.push((path.to_string(), FieldBound::In(plain)));
        }
        Predicate::Compare(kind, value) if indexable(value) && !is_nan(value) => {
            let bound = Some((value.clone(), kind.includes_equality()));
            // Each operator becomes its own one-sided range: on an array field, `$gt` and `$lt`
            // may be satisfied by different elements, so intersecting them would lose matches.
            let range = match kind {
                Comparison::Greater | Comparison::GreaterOrEqual => FieldBound::Range {
                    lower: bound,
                    upper: None,
                },
                Comparison::Less | Comparison::LessOrEqual => FieldBound::Range {
                    lower: None,
                    upper: bound,
                },
            };
            out.push((path.to_string(), range));
        }
        Predicate::And(predicates) | Predicate::All(predicates) => predicates
            .iter()
            .for_each(|inner| predicate_bounds(path, inner, out)),
        _ => {}
    }
}

impl Matcher {
    /// Parses a filter with default options.
    pub fn parse(filter: &Document) -> CommandResult<Matcher> {
        Self::parse_with(filter, &ParseOptions::default())
    }

    /// Parses a filter; unknown operators and malformed arguments are `BadValue` (2) errors
    /// with MongoDB's messages.
    pub fn parse_with(filter: &Document, options: &ParseOptions) -> CommandResult<Matcher> {
        let mut context = ParseContext {
            options,
            text_count: 0,
        };
        let root = parse_filter(filter, &mut context, 0)?;
        let has_text = root.contains_text();
        Ok(Matcher {
            root,
            has_text,
            variables: options.variables.clone(),
        })
    }

    /// Match details when the document matches, or the error an `$expr` raised on it.
    pub fn try_match_details(&self, document: &Document) -> CommandResult<Option<MatchDetails>> {
        EXPRESSION_ERROR.with(|slot| slot.borrow_mut().take());
        let details = self.match_details(document);
        match EXPRESSION_ERROR.with(|slot| slot.borrow_mut().take()) {
            Some(error) => Err(error),
            None => Ok(details),
        }
    }

    /// [`Matcher::matches_with`], failing with the error an `$expr` raised.
    pub fn try_matches_with(
        &self,
        document: &Document,
        variables: &Variables,
    ) -> CommandResult<bool> {
        EXPRESSION_ERROR.with(|slot| slot.borrow_mut().take());
        let matched = self.matches_with(document, variables);
        match EXPRESSION_ERROR.with(|slot| slot.borrow_mut().take()) {
            Some(error) => Err(error),
            None => Ok(matched),
        }
    }

    /// True when the document matches.
    pub fn matches(&self, document: &Document) -> bool {
        self.match_details(document).is_some()
    }

    /// Matches with variables in scope for `$expr` (e.g. `$lookup`'s `let`).
    pub fn matches_with(&self, document: &Document, variables: &Variables) -> bool {
        self.root.evaluate(document, variables).is_some()
    }

    /// Matches and reports details (the positional array index), or `None` when it does not match.
    pub fn match_details(&self, document: &Document) -> Option<MatchDetails> {
        let evaluated = match &self.variables {
            Some(variables) => self.root.evaluate(document, variables),
            None => self.root.evaluate(document, &Variables::new()),
        };
        evaluated.map(|array_position| MatchDetails { array_position })
    }

    /// Top-level constraints (from the root and from a root `$and`) that an index can use,
    /// as `(dotted path, bound)`. A document matching the filter always satisfies every bound.
    ///
    /// Bounds on one path are not intersected: on an array field each bound may be met by a
    /// different element, so a caller should pick one bound per path.
    pub fn index_bounds(&self) -> Vec<(String, FieldBound)> {
        let mut out = Vec::new();
        collect_bounds(&self.root, &mut out);
        out
    }

    /// True when the filter contains `$text`.
    pub fn has_text(&self) -> bool {
        self.has_text
    }

    /// The `$text` relevance score of a document (what `{$meta: "textScore"}` projects and
    /// sorts by), or `None` when the filter has no `$text`.
    pub fn text_score(&self, document: &Document) -> Option<f64> {
        fn find(node: &Node) -> Option<&TextQuery> {
            match node {
                Node::Text(query) => Some(query),
                Node::And(children) | Node::Or(children) | Node::Nor(children) => {
                    children.iter().find_map(find)
                }
                _ => None,
            }
        }
        find(&self.root).map(|query| query.score(document))
    }
}

/// The `errInfo.details` MongoDB reports when `document` fails a collection's `validator`.
pub fn validation_failure_details(validator: &Document, document: &Document) -> Document {
    let mut failures = Vec::new();
    for (index, (key, value)) in validator.iter().enumerate() {
        if let Some(details) = clause_failure(key, value, document) {
            failures.push((index, details));
        }
    }
    if validator.len() == 1 {
        if let Some((_, details)) = failures.pop() {
            return details;
        }
    }
    let clauses: Vec<Bson> = failures
        .into_iter()
        .map(|(index, details)| Bson::Document(doc! {"index": index as i32, "details": details}))
        .collect();
    doc! {"operatorName": "$and", "clausesNotSatisfied": clauses}
}

/// Details for one top-level validator clause, or `None` when the document satisfies it.
fn clause_failure(key: &str, value: &Bson, document: &Document) -> Option<Document> {
    let clause = doc! {key: value.clone()};
    let matcher = Matcher::parse(&clause).ok()?;
    if matcher.matches(document) {
        return None;
    }
    match (key, value) {
        ("$jsonSchema", Bson::Document(schema)) => {
            let schema = JsonSchema::parse(schema).ok()?;
            schema.explain(document)
        }
        ("$and" | "$or" | "$nor", Bson::Array(entries)) => {
            let mut clauses = Vec::new();
            for (index, entry) in entries.iter().enumerate() {
                let Bson::Document(entry) = entry else {
                    continue;
                };
                let entry_matches = Matcher::parse(entry)
                    .map(|matcher| matcher.matches(document))
                    .unwrap_or(false);
                // `$nor` fails on the clauses that match; `$and`/`$or` on those that do not.
                if entry_matches == (key == "$nor") {
                    clauses.push(Bson::Document(doc! {
                        "index": index as i32,
                        "details": validation_failure_details(entry, document),
                    }));
                }
            }
            Some(doc! {"operatorName": key, "clausesNotSatisfied": clauses})
        }
        ("$expr", _) => Some(doc! {
            "operatorName": "$expr",
            "specifiedAs": clause,
            "reason": "expression did not match",
            "expressionResult": false,
        }),
        _ if key.starts_with('$') => Some(doc! {"operatorName": key, "specifiedAs": clause}),
        _ => Some(field_failure(key, value, document)),
    }
}

fn field_failure(path: &str, value: &Bson, document: &Document) -> Document {
    let found = candidates(document, &FieldPath::new(path));
    let considered: Vec<&Bson> = found
        .iter()
        .filter_map(|candidate| candidate.value)
        .collect();
    let describe = |operator: &str, specified: Bson| {
        let mut details = doc! {
            "operatorName": operator,
            "specifiedAs": {path: specified},
        };
        match considered.as_slice() {
            [] => {
                details.insert("reason", "field was missing");
            }
            [single] => {
                details.insert("reason", reason_for(operator));
                details.insert("consideredValue", (*single).clone());
            }
            many => {
                details.insert("reason", reason_for(operator));
                details.insert(
                    "consideredValues",
                    many.iter()
                        .map(|value| (*value).clone())
                        .collect::<Vec<_>>(),
                );
            }
        }
        details
    };
    match value {
        Bson::Document(operators) if is_operator_document(operators) => {
            let failing: Vec<Document> = operators
                .iter()
                .filter(|(operator, _)| operator.as_str() != "$options")
                .filter(|(operator, argument)| {
                    let mut single = doc! {operator.as_str(): (*argument).clone()};
                    if operator.as_str() == "$regex" {
                        if let Some(options) = operators.get("$options") {
                            single.insert("$options", options.clone());
                        }
                    }
                    Matcher::parse(&doc! {path: single})
                        .map(|matcher| !matcher.matches(document))
                        .unwrap_or(true)
                })
                .map(|(operator, argument)| {
                    describe(
                        operator,
                        Bson::Document(doc! {operator.as_str(): argument.clone()}),
                    )
                })
                .collect();
            match <[Document; 1]>::try_from(failing) {
                Ok([single]) => single,
                Err(failing) => doc! {
                    "operatorName": "$and",
                    "clausesNotSatisfied": failing
                        .into_iter()
                        .enumerate()
                        .map(|(index, details)| {
                            Bson::Document(doc! {"index": index as i32, "details": details})
                        })
                        .collect::<Vec<_>>(),
                },
            }
        }
        Bson::RegularExpression(_) => describe("$regex", value.clone()),
        _ => describe("$eq", value.clone()),
    }
}

fn reason_for(operator: &str) -> &'static str {
    match operator {
        "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" => "comparison failed",
        "$in" => "no matching value found in array",
        "$nin" => "matching value found in array",
        "$exists" => "path does not exist",
        "$type" => "type did not match",
        "$regex" => "regular expression did not match",
        "$size" => "array length was not equal to given size",
        "$all" => "array did not contain all specified values",
        "$elemMatch" => "array did not satisfy the child predicate",
        "$mod" => "$mod did not evaluate to expected remainder",
        _ => "expression did not match",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{oid::ObjectId, Decimal128, Regex as BsonRegex};
    use proptest::prelude::*;

    fn matches(filter: Document, document: Document) -> bool {
        Matcher::parse(&filter)
            .unwrap_or_else(|error| panic!("{filter} failed to parse: {error}"))
            .matches(&document)
    }

    fn parse_error(filter: Document) -> CommandError {
        match Matcher::parse(&filter) {
            Ok(_) => panic!("{filter} parsed"),
            Err(error) => error,
        }
    }

    fn position(filter: Document, document: Document) -> Option<usize> {
        Matcher::parse(&filter)
            .unwrap()
            .match_details(&document)
            .and_then(|details| details.array_position)
    }

    fn regex(pattern: &str, options: &str) -> Bson {
        Bson::RegularExpression(BsonRegex {
            pattern: pattern.into(),
            options: options.into(),
        })
    }

    #[test]
    fn equality_matches_scalars_and_any_array_element() {
        assert!(matches(
            doc! {"tags": "red"},
            doc! {"tags": ["blank", "red"]}
        ));
        assert!(matches(doc! {"tags": "red"}, doc! {"tags": "red"}));
        assert!(!matches(doc! {"tags": "red"}, doc! {"tags": ["blue"]}));
        assert!(matches(doc! {"qty": {"$eq": 20}}, doc! {"qty": 20}));
        assert!(!matches(doc! {"qty": 20}, doc! {"qty": "20"}));
    }

    #[test]
    fn whole_array_equality_is_exact_and_order_sensitive() {
        let filter = doc! {"tags": ["red", "blank"]};
        assert!(matches(filter.clone(), doc! {"tags": ["red", "blank"]}));
        assert!(!matches(filter.clone(), doc! {"tags": ["blank", "red"]}));
        assert!(!matches(
            filter.clone(),
            doc! {"tags": ["red", "blank", "plain"]}
        ));
        // An array value also matches an array nested as an element.
        assert!(matches(filter, doc! {"tags": [["red", "blank"], "x"]}));
    }

    #[test]
    fn numbers_of_different_types_are_equal_by_value() {
        let decimal: Decimal128 = "1".parse().unwrap();
        for value in [
            Bson::Int32(1),
            Bson::Int64(1),
            Bson::Double(1.0),
            Bson::Decimal128(decimal),
        ] {
            assert!(matches(doc! {"a": 1}, doc! {"a": value.clone()}), "{value}");
            assert!(matches(
                doc! {"a": {"$in": [1.0]}},
                doc! {"a": value.clone()}
            ));
        }
        assert!(!matches(doc! {"a": 1}, doc! {"a": 1.5}));
    }

    #[test]
    fn embedded_document_equality_requires_exact_field_order() {
        let document = doc! {"size": {"h": 14, "w": 21, "uom": "cm"}};
        assert!(matches(
            doc! {"size": {"h": 14, "w": 21, "uom": "cm"}},
            document.clone()
        ));
        assert!(!matches(
            doc! {"size": {"w": 21, "h": 14, "uom": "cm"}},
            document.clone()
        ));
        assert!(matches(doc! {"size.uom": "cm"}, document.clone()));
        assert!(matches(doc! {"size.h": {"$lt": 15}}, document));
    }

    #[test]
    fn comparisons_only_match_values_of_the_same_type_bracket() {
        assert!(matches(doc! {"a": {"$gt": 5}}, doc! {"a": 6.5}));
        assert!(!matches(doc! {"a": {"$gt": 5}}, doc! {"a": "10"}));
        assert!(!matches(doc! {"a": {"$lt": 5}}, doc! {"a": null}));
        assert!(!matches(doc! {"a": {"$gt": 5}}, doc! {}));
        assert!(matches(doc! {"a": {"$gte": "b"}}, doc! {"a": "c"}));
        assert!(!matches(doc! {"a": {"$gte": "b"}}, doc! {"a": 100}));
        let now = bson::DateTime::from_millis(1_000);
        assert!(matches(
            doc! {"a": {"$lt": now}},
            doc! {"a": bson::DateTime::from_millis(5)}
        ));
        assert!(!matches(doc! {"a": {"$lt": now}}, doc! {"a": 5}));
        let first = ObjectId::from_bytes([0; 12]);
        let second = ObjectId::from_bytes([1; 12]);
        assert!(matches(doc! {"_id": {"$gt": first}}, doc! {"_id": second}));
    }

    #[test]
    fn min_key_and_max_key_bound_every_type() {
        assert!(matches(
            doc! {"a": {"$gt": Bson::MinKey}},
            doc! {"a": "text"}
        ));
        assert!(matches(doc! {"a": {"$gt": Bson::MinKey}}, doc! {"a": null}));
        assert!(matches(
            doc! {"a": {"$lt": Bson::MaxKey}},
            doc! {"a": {"b": 1}}
        ));
        assert!(!matches(doc! {"a": {"$gt": Bson::MaxKey}}, doc! {"a": 1}));
        assert!(!matches(
            doc! {"a": {"$gt": Bson::MinKey}},
            doc! {"a": Bson::MinKey}
        ));
    }

    #[test]
    fn nan_only_equals_nan() {
        assert!(matches(doc! {"a": f64::NAN}, doc! {"a": f64::NAN}));
        assert!(!matches(doc! {"a": {"$gt": f64::NAN}}, doc! {"a": 1}));
        assert!(!matches(doc! {"a": {"$lt": 1}}, doc! {"a": f64::NAN}));
        assert!(matches(
            doc! {"a": {"$gte": f64::NAN}},
            doc! {"a": f64::NAN}
        ));
    }

    #[test]
    fn range_conditions_on_arrays_may_be_met_by_different_elements() {
        // The manual's inventory example: dim_cm [14, 21] matches {$gt: 15, $lt: 20} because
        // 21 > 15 and 14 < 20, but not the $elemMatch form.
        let document = doc! {"dim_cm": [14, 21]};
        assert!(matches(
            doc! {"dim_cm": {"$gt": 15, "$lt": 20}},
            document.clone()
        ));
        assert!(!matches(
            doc! {"dim_cm": {"$elemMatch": {"$gt": 15, "$lt": 20}}},
            document
        ));
        assert!(matches(
            doc! {"dim_cm": {"$elemMatch": {"$gt": 22, "$lt": 30}}},
            doc! {"dim_cm": [22.85, 30]}
        ));
        assert!(matches(
            doc! {"dim_cm.1": {"$gt": 25}},
            doc! {"dim_cm": [10, 30]}
        ));
        assert!(!matches(
            doc! {"dim_cm.1": {"$gt": 25}},
            doc! {"dim_cm": [30, 10]}
        ));
    }

    #[test]
    fn null_matches_null_and_missing_fields() {
        // The manual's example: {_id: 1, item: null} and {_id: 2}.
        let with_null = doc! {"_id": 1, "item": null};
        let missing = doc! {"_id": 2};
        assert!(matches(doc! {"item": null}, with_null.clone()));
        assert!(matches(doc! {"item": null}, missing.clone()));
        assert!(matches(doc! {"item": {"$type": 10}}, with_null.clone()));
        assert!(!matches(doc! {"item": {"$type": 10}}, missing.clone()));
        assert!(!matches(
            doc! {"item": {"$exists": false}},
            with_null.clone()
        ));
        assert!(matches(doc! {"item": {"$exists": false}}, missing.clone()));
        assert!(!matches(doc! {"item": {"$ne": null}}, with_null));
        assert!(!matches(doc! {"item": {"$ne": null}}, missing));
        assert!(matches(doc! {"item": {"$ne": null}}, doc! {"item": 0}));
        assert!(matches(doc! {"item": {"$in": [null, 5]}}, doc! {}));
        assert!(matches(doc! {"item": {"$gte": null}}, doc! {}));
        assert!(!matches(doc! {"item": {"$gt": null}}, doc! {}));
        assert!(matches(doc! {"item": null}, doc! {"item": [1, null]}));
    }

    #[test]
    fn null_on_dotted_paths_matches_documents_missing_the_field() {
        assert!(matches(
            doc! {"a.b": null},
            doc! {"a": [{"b": 1}, {"c": 2}]}
        ));
        assert!(!matches(doc! {"a.b": null}, doc! {"a": [{"b": 1}]}));
        assert!(matches(doc! {"a.b": null}, doc! {"a": 5}));
        assert!(matches(doc! {"a.b": null}, doc! {}));
        assert!(matches(
            doc! {"a.b": {"$exists": true}},
            doc! {"a": [{"c": 1}, {"b": null}]}
        ));
        assert!(!matches(
            doc! {"a.b": {"$exists": true}},
            doc! {"a": [{"c": 1}, 3]}
        ));
    }

    #[test]
    fn dotted_paths_traverse_arrays_of_documents() {
        let document = doc! {"item": "journal", "instock": [
            {"warehouse": "A", "qty": 5},
            {"warehouse": "C", "qty": 15},
        ]};
        assert!(matches(
            doc! {"instock": {"warehouse": "A", "qty": 5}},
            document.clone()
        ));
        assert!(!matches(
            doc! {"instock": {"qty": 5, "warehouse": "A"}},
            document.clone()
        ));
        assert!(matches(doc! {"instock.qty": {"$lte": 5}}, document.clone()));
        assert!(matches(
            doc! {"instock.0.qty": {"$lte": 5}},
            document.clone()
        ));
        assert!(!matches(
            doc! {"instock.1.qty": {"$lte": 5}},
            document.clone()
        ));
        assert!(matches(
            doc! {"instock.qty": 5, "instock.warehouse": "C"},
            document.clone()
        ));
        assert!(!matches(
            doc! {"instock": {"$elemMatch": {"qty": 5, "warehouse": "C"}}},
            document.clone()
        ));
        assert!(matches(
            doc! {"instock": {"$elemMatch": {"qty": {"$gt": 10, "$lte": 20}}}},
            document
        ));
    }

    #[test]
    fn numeric_path_components_are_indexes_and_field_names() {
        assert!(matches(doc! {"a.0": 5}, doc! {"a": {"0": 5}}));
        assert!(matches(doc! {"a.0": 5}, doc! {"a": [5, 6]}));
        assert!(matches(doc! {"a.0": 5}, doc! {"a": [{"0": 5}]}));
        assert!(!matches(doc! {"a.2": 5}, doc! {"a": [5, 6]}));
        assert!(matches(doc! {"a.0.b": 1}, doc! {"a": [[{"b": 1}]]}));
        // Implicit traversal goes through one level of arrays only.
        assert!(!matches(doc! {"a.b": 1}, doc! {"a": [[{"b": 1}]]}));
    }

    #[test]
    fn in_and_nin_compare_elementwise_and_accept_regexes() {
        assert!(matches(doc! {"qty": {"$in": [5, 15]}}, doc! {"qty": 15}));
        assert!(matches(
            doc! {"tags": {"$in": ["a", "b"]}},
            doc! {"tags": ["c", "b"]}
        ));
        assert!(matches(
            doc! {"tags": {"$in": [regex("^be", "")]}},
            doc! {"tags": ["best"]}
        ));
        assert!(!matches(
            doc! {"tags": {"$in": [regex("^be", "")]}},
            doc! {"tags": ["abe"]}
        ));
        assert!(matches(doc! {"qty": {"$nin": [5, 15]}}, doc! {}));
        assert!(!matches(
            doc! {"tags": {"$nin": ["a"]}},
            doc! {"tags": ["b", "a"]}
        ));
        assert!(!matches(doc! {"qty": {"$in": []}}, doc! {"qty": 1}));
        assert!(matches(
            doc! {"qty": {"$in": [[1, 2]]}},
            doc! {"qty": [1, 2]}
        ));
        let error = parse_error(doc! {"qty": {"$in": 5}});
        assert_eq!(
            (error.code, error.message.as_str()),
            (2, "$in needs an array")
        );
        assert_eq!(
            parse_error(doc! {"qty": {"$nin": "x"}}).message,
            "$nin needs an array"
        );
        assert_eq!(parse_error(doc! {"qty": {"$in": [{"$gt": 1}]}}).code, 2);
    }

    #[test]
    fn logical_operators_combine_clauses() {
        let document = doc! {"price": 1.99, "qty": 30, "sale": true};
        assert!(matches(
            doc! {"$and": [{"price": {"$ne": 1.99}}, {"price": {"$exists": true}}]},
            doc! {"price": 2}
        ));
        assert!(!matches(
            doc! {"$and": [{"price": {"$ne": 1.99}}, {"price": {"$exists": true}}]},
            document.clone()
        ));
        assert!(matches(
            doc! {"$or": [{"qty": {"$lt": 20}}, {"price": 1.99}]},
            document.clone()
        ));
        assert!(!matches(
            doc! {"$or": [{"qty": {"$lt": 20}}, {"price": 10}]},
            document.clone()
        ));
        assert!(!matches(
            doc! {"$nor": [{"price": 1.99}, {"sale": true}]},
            document.clone()
        ));
        assert!(matches(
            doc! {"$nor": [{"price": 1.99}, {"sale": true}]},
            doc! {"price": 3}
        ));
        assert!(matches(
            doc! {"$nor": [{"price": 1.99}, {"sale": true}]},
            doc! {}
        ));
    }

    #[test]
    fn logical_operators_need_nonempty_arrays_of_objects() {
        for operator in ["$and", "$or", "$nor"] {
            let error = parse_error(doc! {operator: []});
            assert_eq!(error.code, 2);
            assert_eq!(error.message, "$and/$or/$nor must be a nonempty array");
            assert_eq!(
                parse_error(doc! {operator: {"a": 1}}).message,
                format!("{operator} must be an array")
            );
            assert_eq!(parse_error(doc! {operator: [1]}).code, 2);
        }
    }

    #[test]
    fn not_negates_operator_documents_and_regexes() {
        let filter = doc! {"price": {"$not": {"$gt": 1.99}}};
        assert!(matches(filter.clone(), doc! {"price": 1.99}));
        assert!(matches(filter.clone(), doc! {}));
        assert!(matches(filter.clone(), doc! {"price": "expensive"}));
        assert!(!matches(filter, doc! {"price": 2.5}));
        assert!(matches(
            doc! {"item": {"$not": regex("^p.*", "")}},
            doc! {"item": "journal"}
        ));
        assert!(!matches(
            doc! {"item": {"$not": regex("^p.*", "")}},
            doc! {"item": "paper"}
        ));
        assert!(!matches(
            doc! {"item": {"$not": {"$regex": "^P", "$options": "i"}}},
            doc! {"item": "paper"}
        ));
        assert_eq!(
            parse_error(doc! {"a": {"$not": 5}}).message,
            "$not needs a regex or a document"
        );
        assert_eq!(parse_error(doc! {"a": {"$not": {}}}).code, 2);
    }

    #[test]
    fn exists_tests_presence_including_null_values() {
        assert!(matches(doc! {"a": {"$exists": true}}, doc! {"a": null}));
        assert!(matches(doc! {"a": {"$exists": 1}}, doc! {"a": []}));
        assert!(!matches(doc! {"a": {"$exists": true}}, doc! {"b": 1}));
        assert!(matches(doc! {"a": {"$exists": 0}}, doc! {"b": 1}));
    }

    #[test]
    fn type_accepts_codes_aliases_number_and_lists() {
        assert!(matches(doc! {"a": {"$type": 2}}, doc! {"a": "x"}));
        assert!(matches(doc! {"a": {"$type": "string"}}, doc! {"a": ["x"]}));
        assert!(matches(
            doc! {"a": {"$type": "number"}},
            doc! {"a": Bson::Int64(4)}
        ));
        assert!(matches(doc! {"a": {"$type": "double"}}, doc! {"a": 4.0}));
        assert!(!matches(doc! {"a": {"$type": "int"}}, doc! {"a": 4.0}));
        assert!(matches(
            doc! {"a": {"$type": ["string", "int"]}},
            doc! {"a": 4}
        ));
        assert!(matches(doc! {"a": {"$type": "array"}}, doc! {"a": []}));
        assert!(!matches(doc! {"a": {"$type": "array"}}, doc! {"a": 1}));
        assert!(matches(
            doc! {"a": {"$type": "object"}},
            doc! {"a": {"b": 1}}
        ));
        assert!(matches(doc! {"a": {"$type": -1}}, doc! {"a": Bson::MinKey}));
        assert!(matches(
            doc! {"a": {"$type": 127}},
            doc! {"a": Bson::MaxKey}
        ));
        assert!(matches(
            doc! {"a": {"$type": "objectId"}},
            doc! {"a": ObjectId::new()}
        ));
        assert!(matches(doc! {"a": {"$type": "bool"}}, doc! {"a": false}));
        let error = parse_error(doc! {"a": {"$type": "strin"}});
        assert_eq!(
            (error.code, error.message.as_str()),
            (2, "Unknown type name alias: strin")
        );
        assert_eq!(
            parse_error(doc! {"a": {"$type": 100}}).message,
            "Invalid numerical type code: 100"
        );
    }

    #[test]
    fn regex_supports_options_and_literals() {
        assert!(matches(
            doc! {"sku": {"$regex": "789$"}},
            doc! {"sku": "abc789"}
        ));
        assert!(matches(
            doc! {"sku": {"$regex": "^ABC", "$options": "i"}},
            doc! {"sku": "abc123"}
        ));
        assert!(!matches(
            doc! {"sku": {"$regex": "^ABC"}},
            doc! {"sku": "abc123"}
        ));
        assert!(matches(
            doc! {"sku": regex("^ABC", "i")},
            doc! {"sku": "abc123"}
        ));
        assert!(matches(
            doc! {"sku": {"$regex": regex("^ABC", "i")}},
            doc! {"sku": "abc123"}
        ));
        let multiline = doc! {"d": "First line\nSecond line"};
        assert!(!matches(doc! {"d": {"$regex": "^S"}}, multiline.clone()));
        assert!(matches(
            doc! {"d": {"$regex": "^S", "$options": "m"}},
            multiline.clone()
        ));
        assert!(!matches(
            doc! {"d": {"$regex": "line.Second"}},
            multiline.clone()
        ));
        assert!(matches(
            doc! {"d": {"$regex": "line.Second", "$options": "s"}},
            multiline.clone()
        ));
        assert!(matches(
            doc! {"d": {"$regex": "F i r s t  # comment", "$options": "x"}},
            multiline
        ));
        assert!(!matches(doc! {"n": {"$regex": "1"}}, doc! {"n": 1}));
        assert!(matches(
            doc! {"r": regex("a", "")},
            doc! {"r": regex("a", "")}
        ));
        assert_eq!(
            parse_error(doc! {"a": {"$regex": "a", "$options": "z"}}).code,
            51108
        );
        assert_eq!(
            parse_error(doc! {"a": {"$options": "i"}}).message,
            "$options needs a $regex"
        );
        assert_eq!(parse_error(doc! {"a": {"$regex": "("}}).code, 51091);
        assert_eq!(
            parse_error(doc! {"a": {"$regex": 5}}).message,
            "$regex has to be a string"
        );
    }

    #[test]
    fn mod_truncates_and_rejects_malformed_arguments() {
        assert!(matches(doc! {"qty": {"$mod": [4, 0]}}, doc! {"qty": 12}));
        assert!(!matches(doc! {"qty": {"$mod": [4, 0]}}, doc! {"qty": 21}));
        assert!(matches(
            doc! {"qty": {"$mod": [4.0, 0]}},
            doc! {"qty": 12.9}
        ));
        assert!(matches(doc! {"qty": {"$mod": [4, -1]}}, doc! {"qty": -5}));
        assert!(!matches(doc! {"qty": {"$mod": [4, 0]}}, doc! {"qty": "12"}));
        assert!(matches(
            doc! {"qty": {"$mod": [5, 0]}},
            doc! {"qty": [3, 10]}
        ));
        let message = |filter| parse_error(filter).message;
        assert_eq!(
            message(doc! {"q": {"$mod": [4]}}),
            "malformed mod, not enough elements"
        );
        assert_eq!(
            message(doc! {"q": {"$mod": []}}),
            "malformed mod, not enough elements"
        );
        assert_eq!(
            message(doc! {"q": {"$mod": [4, 1, 2]}}),
            "malformed mod, too many elements"
        );
        assert_eq!(
            message(doc! {"q": {"$mod": 4}}),
            "malformed mod, needs to be an array"
        );
        assert_eq!(
            message(doc! {"q": {"$mod": ["a", 1]}}),
            "malformed mod, divisor not a number"
        );
        assert_eq!(message(doc! {"q": {"$mod": [0, 1]}}), "divisor cannot be 0");
    }

    #[test]
    fn all_requires_every_value_and_supports_elem_match() {
        let document = doc! {"tags": ["appliance", "school", "book"], "qty": [
            {"size": "S", "num": 10, "color": "blue"},
            {"size": "M", "num": 45, "color": "blue"},
        ]};
        assert!(matches(
            doc! {"tags": {"$all": ["appliance", "school", "book"]}},
            document.clone()
        ));
        assert!(!matches(
            doc! {"tags": {"$all": ["appliance", "pen"]}},
            document.clone()
        ));
        assert!(matches(
            doc! {"qty": {"$all": [
                {"$elemMatch": {"size": "M", "num": {"$gt": 50}}},
            ]}},
            doc! {"qty": [{"size": "M", "num": 100}]}
        ));
        assert!(matches(
            doc! {"qty": {"$all": [
                {"$elemMatch": {"size": "S", "num": 10}},
                {"$elemMatch": {"num": 45, "color": "blue"}},
            ]}},
            document.clone()
        ));
        assert!(!matches(
            doc! {"qty": {"$all": [{"$elemMatch": {"size": "L"}}]}},
            document.clone()
        ));
        assert!(!matches(doc! {"tags": {"$all": []}}, document.clone()));
        assert!(matches(
            doc! {"tags": {"$all": ["book"]}},
            doc! {"tags": "book"}
        ));
        assert!(matches(
            doc! {"tags": {"$all": [["a", "b"]]}},
            doc! {"tags": [["a", "b"], "c"]}
        ));
        assert_eq!(
            parse_error(doc! {"t": {"$all": 1}}).message,
            "$all needs an array"
        );
        assert_eq!(
            parse_error(doc! {"t": {"$all": [{"$elemMatch": {"a": 1}}, 5]}}).message,
            "$all/$elemMatch has to be consistent"
        );
    }

    #[test]
    fn size_matches_exact_array_length() {
        assert!(matches(
            doc! {"field": {"$size": 2}},
            doc! {"field": ["red", "green"]}
        ));
        assert!(!matches(
            doc! {"field": {"$size": 1}},
            doc! {"field": ["red", "green"]}
        ));
        assert!(matches(doc! {"field": {"$size": 0}}, doc! {"field": []}));
        assert!(!matches(
            doc! {"field": {"$size": 1}},
            doc! {"field": "red"}
        ));
        assert!(matches(
            doc! {"field": {"$size": 2.0}},
            doc! {"field": [1, 2]}
        ));
        assert_eq!(
            parse_error(doc! {"f": {"$size": "2"}}).message,
            "$size needs a number"
        );
        assert_eq!(parse_error(doc! {"f": {"$size": -1}}).code, 2);
        assert_eq!(parse_error(doc! {"f": {"$size": 1.5}}).code, 2);
    }

    #[test]
    fn elem_match_value_and_document_forms() {
        // The manual's scores example.
        let filter = doc! {"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}};
        assert!(matches(filter.clone(), doc! {"results": [82, 85, 88]}));
        assert!(!matches(filter, doc! {"results": [75, 88, 89]}));
        let products = doc! {"results": [
            {"product": "abc", "score": 10},
            {"product": "xyz", "score": 5},
        ]};
        assert!(matches(
            doc! {"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 5}}}},
            products.clone()
        ));
        assert!(!matches(
            doc! {"results": {"$elemMatch": {"product": "xyz", "score": {"$gte": 8}}}},
            products.clone()
        ));
        assert!(matches(
            doc! {"results": {"$elemMatch": {"$or": [{"score": 10}, {"score": 1}]}}},
            products
        ));
        assert!(!matches(
            doc! {"results": {"$elemMatch": {"$gt": 1}}},
            doc! {"results": 5}
        ));
        assert!(matches(
            doc! {"r": {"$elemMatch": {"$not": {"$gt": 1}}}},
            doc! {"r": [5, 0]}
        ));
        assert_eq!(
            parse_error(doc! {"r": {"$elemMatch": 1}}).message,
            "$elemMatch needs an Object"
        );
    }

    #[test]
    fn unknown_and_unsupported_operators_are_bad_values() {
        let error = parse_error(doc! {"a": {"$foo": 1}});
        assert_eq!(
            (error.code, error.message.as_str()),
            (2, "unknown operator: $foo")
        );
        let error = parse_error(doc! {"$foo": 1});
        assert_eq!(error.code, 2);
        assert!(
            error
                .message
                .starts_with("unknown top level operator: $foo"),
            "{}",
            error.message
        );
        let error = parse_error(doc! {"$where": "this.a == 1"});
        assert_eq!(
            (error.code, error.message.as_str()),
            (2, "$where is not supported")
        );
        assert!(matches(doc! {"a": 1, "$comment": "why"}, doc! {"a": 1}));
        assert!(matches(doc! {}, doc! {"a": 1}));
        assert!(matches(doc! {"$alwaysTrue": 1}, doc! {}));
        assert!(!matches(doc! {"$alwaysFalse": 1}, doc! {}));
    }

    #[test]
    fn literal_documents_with_operator_like_keys_later_are_equality() {
        assert!(matches(
            doc! {"a": {"b": 1, "$gt": 2}},
            doc! {"a": {"b": 1, "$gt": 2}}
        ));
        assert!(!matches(
            doc! {"a": {"b": 1, "$gt": 2}},
            doc! {"a": {"b": 1}}
        ));
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error_not_a_crash() {
        let mut filter = doc! {"a": 1};
        for _ in 0..200 {
            filter = doc! {"$and": [filter]};
        }
        let error = parse_error(filter);
        assert_eq!(error.code, 2);
        assert!(error.message.contains("depth"), "{}", error.message);

        let mut operators = doc! {"$gt": 1};
        for _ in 0..200 {
            operators = doc! {"$not": operators};
        }
        assert_eq!(parse_error(doc! {"a": operators}).code, 2);

        let mut elem_match = doc! {"a": 1};
        for _ in 0..200 {
            elem_match = doc! {"a": {"$elemMatch": elem_match}};
        }
        assert_eq!(parse_error(elem_match).code, 2);

        let mut shallow = doc! {"a": 1};
        for _ in 0..MAX_QUERY_DEPTH {
            shallow = doc! {"$or": [shallow]};
        }
        assert!(matches(shallow, doc! {"a": 1}));
    }

    #[test]
    fn deepest_filters_with_deepest_schemas_evaluate_without_overflow() {
        let mut schema = doc! {"bsonType": "int"};
        let mut document = doc! {"a": 1};
        for _ in 0..99 {
            schema = doc! {"properties": {"a": schema}};
            document = doc! {"a": document};
        }
        let mut filter = doc! {"$jsonSchema": {"properties": {"a": schema}}};
        for _ in 0..MAX_QUERY_DEPTH {
            filter = doc! {"$and": [filter]};
        }
        let mut elem_match = doc! {"$jsonSchema": {"properties": {"a": {"bsonType": "int"}}}};
        for _ in 0..MAX_QUERY_DEPTH - 1 {
            elem_match = doc! {"a": {"$elemMatch": elem_match}};
        }
        let mut nested = doc! {"a": 1};
        for _ in 0..MAX_QUERY_DEPTH - 1 {
            nested = doc! {"a": [nested]};
        }
        assert!(matches(filter, document));
        assert!(matches(elem_match, nested));
    }

    #[test]
    fn absurdly_long_paths_are_rejected() {
        let path = vec!["a"; MAX_PATH_COMPONENTS + 1].join(".");
        assert_eq!(parse_error(doc! {path: 1}).code, 2);
        let path = vec!["a"; MAX_PATH_COMPONENTS].join(".");
        assert!(!matches(doc! {path: 1}, doc! {"a": {"a": 1}}));
    }

    #[test]
    fn text_requires_a_text_index() {
        let error = parse_error(doc! {"$text": {"$search": "coffee"}});
        assert_eq!(error.code, 27);
        assert_eq!(error.code_name(), "IndexNotFound");
        assert_eq!(error.message, "text index required for $text query");
    }

    #[test]
    fn text_matches_terms_phrases_and_exclusions() {
        let options = ParseOptions {
            text_fields: Some(vec![("subject".to_string(), 1), ("tags".to_string(), 1)]),
            variables: None,
        };
        let text = |search: &str, document: Document| {
            let matcher =
                Matcher::parse_with(&doc! {"$text": {"$search": search}}, &options).unwrap();
            assert!(matcher.has_text());
            matcher.matches(&document)
        };
        let coffee = doc! {"subject": "Coffee Shopping", "tags": ["espresso"]};
        let tea = doc! {"subject": "Baking a cake", "tags": ["tea", "cake"]};
        assert!(text("coffee", coffee.clone()));
        assert!(!text("coffee", tea.clone()));
        assert!(text("bake coffee cake", tea.clone()));
        assert!(text("espresso", coffee.clone()));
        assert!(text("\"coffee shopping\"", coffee.clone()));
        assert!(!text("\"shopping coffee\"", coffee.clone()));
        assert!(!text("coffee -shopping", coffee.clone()));
        assert!(text("cake -coffee", tea));
        let sensitive = Matcher::parse_with(
            &doc! {"$text": {"$search": "coffee", "$caseSensitive": true}},
            &options,
        )
        .unwrap();
        assert!(!sensitive.matches(&coffee));
        // The manual's articles: "Café Con Leche" and "Cafe con Leche" both match "cafe".
        let cafe = doc! {"subject": "Café Con Leche"};
        assert!(text("cafe", cafe.clone()));
        assert!(text("CAFÉ", doc! {"subject": "Cafe con Leche"}));
        let strict = Matcher::parse_with(
            &doc! {"$text": {"$search": "cafe", "$diacriticSensitive": true}},
            &options,
        )
        .unwrap();
        assert!(!strict.matches(&cafe));
        let scored = Matcher::parse_with(&doc! {"$text": {"$search": "coffee"}}, &options).unwrap();
        let exact = scored.text_score(&doc! {"subject": "coffee"}).unwrap();
        let partial = scored
            .text_score(&doc! {"subject": "Coffee Shopping"})
            .unwrap();
        let longer = scored
            .text_score(&doc! {"subject": "coffee and cream"})
            .unwrap();
        assert!(
            exact > partial && partial > longer && longer > 0.0,
            "{exact} {partial} {longer}"
        );
        assert_eq!(
            Matcher::parse(&doc! {"a": 1}).unwrap().text_score(&coffee),
            None
        );
        assert!(!Matcher::parse(&doc! {"a": 1}).unwrap().has_text());
        let twice = doc! {"$and": [{"$text": {"$search": "a"}}, {"$text": {"$search": "b"}}]};
        assert_eq!(Matcher::parse_with(&twice, &options).unwrap_err().code, 2);
    }

    #[test]
    fn match_details_report_the_first_matching_array_position() {
        assert_eq!(
            position(doc! {"grades": {"$gte": 85}}, doc! {"grades": [80, 85, 90]}),
            Some(1)
        );
        assert_eq!(
            position(doc! {"grades": 90}, doc! {"grades": [80, 85, 90]}),
            Some(2)
        );
        assert_eq!(
            position(doc! {"a.b": 2}, doc! {"a": [{"b": 1}, {"b": 2}, {"b": 2}]}),
            Some(1)
        );
        assert_eq!(
            position(
                doc! {"a": {"$elemMatch": {"b": {"$gt": 1}}}},
                doc! {"a": [{"b": 1}, {"b": 2}]}
            ),
            Some(1)
        );
        assert_eq!(position(doc! {"x": 1}, doc! {"x": 1}), None);
        assert_eq!(
            position(doc! {"x": 1, "a": 3}, doc! {"x": 1, "a": [1, 2, 3]}),
            Some(2)
        );
        let details = Matcher::parse(&doc! {"a": 9})
            .unwrap()
            .match_details(&doc! {"a": [1]});
        assert_eq!(details, None);
    }

    #[test]
    fn index_bounds_cover_equality_in_and_ranges() {
        let matcher = Matcher::parse(&doc! {
            "_id": 5,
            "$and": [{"status": {"$in": ["a", "b"]}}],
            "age": {"$gte": 18, "$lt": 65},
            "name": regex("^a", ""),
            "missing": null,
            "tags": ["x", "y"],
            "$or": [{"q": 1}, {"r": 2}],
        })
        .unwrap();
        assert_eq!(
            matcher.index_bounds(),
            vec![
                ("_id".to_string(), FieldBound::Equal(Bson::Int32(5))),
                (
                    "status".to_string(),
                    FieldBound::In(vec![Bson::String("a".into()), Bson::String("b".into())])
                ),
                (
                    "age".to_string(),
                    FieldBound::Range {
                        lower: Some((Bson::Int32(18), true)),
                        upper: None
                    }
                ),
                (
                    "age".to_string(),
                    FieldBound::Range {
                        lower: None,
                        upper: Some((Bson::Int32(65), false))
                    }
                ),
            ]
        );
        let with_regex = Matcher::parse(&doc! {"a": {"$in": [1, regex("x", "")]}}).unwrap();
        assert!(with_regex.index_bounds().is_empty());
        let negated = Matcher::parse(&doc! {"a": {"$ne": 1}, "b": {"$nin": [1]}}).unwrap();
        assert!(negated.index_bounds().is_empty());
    }

    #[test]
    fn expr_compares_fields_of_the_same_document() {
        // The manual's monthlyBudget example.
        let filter = doc! {"$expr": {"$gt": ["$spent", "$budget"]}};
        assert!(matches(
            filter.clone(),
            doc! {"category": "food", "budget": 400, "spent": 450}
        ));
        assert!(!matches(
            filter,
            doc! {"category": "drinks", "budget": 100, "spent": 150.0 - 100.0}
        ));
        assert!(matches(doc! {"$expr": true}, doc! {}));
        assert!(!matches(doc! {"$expr": "$missing"}, doc! {}));
        let with_variable = Matcher::parse(&doc! {"$expr": {"$eq": ["$a", "$$target"]}}).unwrap();
        let variables = Variables::new().with("target", Bson::Int32(3));
        assert!(with_variable.matches_with(&doc! {"a": 3}, &variables));
        assert!(!with_variable.matches_with(&doc! {"a": 4}, &variables));
        assert!(Matcher::parse(&doc! {"$expr": {"$bogus": 1}}).is_err());
    }

    #[test]
    fn json_schema_filters_documents() {
        let filter = doc! {"$jsonSchema": {"required": ["name"], "properties": {"age": {"bsonType": "int"}}}};
        assert!(matches(filter.clone(), doc! {"name": "x", "age": 3}));
        assert!(!matches(filter.clone(), doc! {"age": 3}));
        assert!(!matches(filter, doc! {"name": "x", "age": "3"}));
        assert_eq!(parse_error(doc! {"$jsonSchema": {"foo": 1}}).code, 9);
    }

    fn seed_users_validator() -> Document {
        doc! {"$jsonSchema": {
            "bsonType": "object",
            "required": ["email", "password_hash", "full_name", "role", "status"],
            "properties": {
                "email": {
                    "bsonType": "string",
                    "pattern": "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$"
                },
                "role": {"enum": ["client", "tester", "admin"]},
                "status": {"enum": ["active", "suspended", "pending_verification"]}
            }
        }}
    }

    #[test]
    fn seed_validator_reports_json_schema_failures() {
        let validator = seed_users_validator();
        let matcher = Matcher::parse(&validator).unwrap();
        let valid = doc! {"email": "ann@example.com", "password_hash": "h", "full_name": "Ann",
        "role": "tester", "status": "active"};
        assert!(matcher.matches(&valid));
        let invalid = doc! {"email": "not-an-email", "password_hash": "h", "full_name": "Ann",
        "role": "boss"};
        assert!(!matcher.matches(&invalid));
        let details = validation_failure_details(&validator, &invalid);
        assert_eq!(
            details,
            doc! {
                "operatorName": "$jsonSchema",
                "schemaRulesNotSatisfied": [
                    {"operatorName": "required",
                     "specifiedAs": {"required": ["email", "password_hash", "full_name", "role", "status"]},
                     "missingProperties": ["status"]},
                    {"operatorName": "properties", "propertiesNotSatisfied": [
                        {"propertyName": "email", "details": [
                            {"operatorName": "pattern",
                             "specifiedAs": {"pattern": "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$"},
                             "reason": "regular expression did not match",
                             "consideredValue": "not-an-email"}
                        ]},
                        {"propertyName": "role", "details": [
                            {"operatorName": "enum",
                             "specifiedAs": {"enum": ["client", "tester", "admin"]},
                             "reason": "value was not found in enum",
                             "consideredValue": "boss"}
                        ]}
                    ]}
                ]
            }
        );
    }

    #[test]
    fn query_validators_report_the_failing_operator() {
        let validator = doc! {"qty": {"$gt": 5}};
        assert_eq!(
            validation_failure_details(&validator, &doc! {"qty": 3}),
            doc! {"operatorName": "$gt", "specifiedAs": {"qty": {"$gt": 5}},
            "reason": "comparison failed", "consideredValue": 3}
        );
        assert_eq!(
            validation_failure_details(&validator, &doc! {}),
            doc! {"operatorName": "$gt", "specifiedAs": {"qty": {"$gt": 5}},
            "reason": "field was missing"}
        );
        let two = doc! {"qty": {"$gt": 5}, "name": "x"};
        assert_eq!(
            validation_failure_details(&two, &doc! {"qty": 9, "name": "y"}),
            doc! {"operatorName": "$and", "clausesNotSatisfied": [
                {"index": 1, "details": {"operatorName": "$eq", "specifiedAs": {"name": "x"},
                    "reason": "comparison failed", "consideredValue": "y"}}
            ]}
        );
        let either = doc! {"$or": [{"a": 1}, {"b": 1}]};
        let details = validation_failure_details(&either, &doc! {"a": 2});
        assert_eq!(details.get_str("operatorName").unwrap(), "$or");
        assert_eq!(details.get_array("clausesNotSatisfied").unwrap().len(), 2);
    }

    fn scalar() -> impl Strategy<Value = Bson> {
        prop_oneof![
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            any::<f64>().prop_map(Bson::Double),
            "[a-c]{0,3}".prop_map(Bson::String),
            any::<bool>().prop_map(Bson::Boolean),
            Just(Bson::Null),
            Just(Bson::MinKey),
            Just(Bson::MaxKey),
            (-3i32..3).prop_map(Bson::Int32),
            "[a-c.*^$()\\[]{0,4}".prop_map(|pattern| regex(&pattern, "")),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("0".to_string()),
            Just("a.b".to_string()),
            Just("a.0".to_string()),
            prop::sample::select(vec![
                "$eq",
                "$ne",
                "$gt",
                "$gte",
                "$lt",
                "$lte",
                "$in",
                "$nin",
                "$and",
                "$or",
                "$nor",
                "$not",
                "$exists",
                "$type",
                "$regex",
                "$options",
                "$mod",
                "$all",
                "$elemMatch",
                "$size",
                "$comment",
                "$where",
                "$jsonSchema",
                "$text",
                "$foo",
                "bsonType",
                "required",
                "properties",
                "enum",
                "minimum",
                "items",
                "pattern",
            ])
            .prop_map(str::to_string),
        ]
    }

    fn value() -> impl Strategy<Value = Bson> {
        scalar().prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                prop::collection::vec((key(), inner), 0..4)
                    .prop_map(|fields| { Bson::Document(fields.into_iter().collect()) }),
            ]
        })
    }

    fn document() -> impl Strategy<Value = Document> {
        prop::collection::vec((key(), value()), 0..5)
            .prop_map(|fields| fields.into_iter().collect())
    }

    proptest! {
        #[test]
        fn random_filters_and_documents_never_panic(filter in document(), target in document()) {
            let options = ParseOptions { text_fields: Some(vec![("a".to_string(), 1)]), variables: None };
            if let Ok(matcher) = Matcher::parse_with(&filter, &options) {
                let _ = matcher.match_details(&target);
                let _ = matcher.index_bounds();
            }
            let _ = validation_failure_details(&filter, &target);
        }

        #[test]
        fn in_with_one_value_agrees_with_equality(probe in scalar(), stored in scalar()) {
            let target = doc! {"a": stored};
            // Invalid regexes fail to parse both ways; everything else must agree.
            let equality = Matcher::parse(&doc! {"a": probe.clone()}).map(|m| m.matches(&target));
            let membership =
                Matcher::parse(&doc! {"a": {"$in": [probe]}}).map(|m| m.matches(&target));
            prop_assert_eq!(equality.ok(), membership.ok());
        }
    }
}
