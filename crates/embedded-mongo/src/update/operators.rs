//! The update operators themselves: parsing each operator's argument for one field, and the
//! change it makes to the value it finds at its path.

use std::cmp::Ordering;

use bson::{Bson, DateTime, Decimal128, Document, Timestamp};

use super::error_text::{render_element, render_value, type_name};
use super::path::{child, LeafChange};
use crate::compare::{bson_equal, compare_bson, decimal_to_f64, is_number};
use crate::error::{CommandError, CommandResult};
use crate::query::Matcher;

/// The field name a scalar array element is wrapped under so a `$pull` condition such as
/// `{$gte: 6}` can be matched by the query matcher.
const PULL_ELEMENT_FIELD: &str = "element";

/// What one operator does to one path.
#[derive(Debug, Clone)]
pub enum Action {
    Set(Bson),
    SetOnInsert(Bson),
    Unset,
    Increment(Bson),
    Multiply(Bson),
    Min(Bson),
    Max(Bson),
    CurrentDate(DateKind),
    Push(PushSpec),
    AddToSet(Vec<Bson>),
    Pull(PullCondition),
    PullAll(Vec<Bson>),
    Pop(ArrayEnd),
}

/// The type `$currentDate` stores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DateKind {
    Date,
    Timestamp,
}

/// Which end `$pop` removes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrayEnd {
    First,
    Last,
}

/// `$push` with its modifiers.
#[derive(Debug, Clone)]
pub struct PushSpec {
    values: Vec<Bson>,
    position: Option<i64>,
    slice: Option<i64>,
    sort: Option<PushSort>,
}

/// `$sort` inside `$push`: the whole element, or fields of document elements.
#[derive(Debug, Clone)]
enum PushSort {
    Whole(bool),
    Fields(Vec<(Vec<String>, bool)>),
}

/// What `$pull` removes.
#[derive(Debug, Clone)]
pub enum PullCondition {
    /// Elements equal to a value.
    Equal(Bson),
    /// Elements matching an operator condition such as `{$gte: 6}`, matched as a wrapped field.
    ElementCondition(Box<Matcher>),
    /// Document elements matching a query on their fields.
    DocumentQuery(Box<Matcher>),
}

/// Everything the operators need to know about the document being updated.
pub struct LeafContext<'a> {
    /// The last component of the concrete path, for messages.
    pub field: &'a str,
    /// The whole concrete path, dotted, for messages.
    pub path: &'a str,
    /// The document's `_id` rendered as `{_id: ...}`, for messages.
    pub id_text: &'a str,
    pub now: DateTime,
    pub inserting: bool,
}

/// Every update operator this store implements (`$rename` is parsed by the caller).
const UPDATE_OPERATORS: [&str; 14] = [
    "$set",
    "$setOnInsert",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$currentDate",
    "$push",
    "$addToSet",
    "$pull",
    "$pullAll",
    "$pop",
    "$rename",
];

/// True for a known update operator name.
pub fn is_update_operator(name: &str) -> bool {
    UPDATE_OPERATORS.contains(&name)
}

/// Parses the argument of `operator` (one of [`is_update_operator`]'s, other than `$rename`)
/// for one field.
pub fn parse_action(operator: &str, field: &str, argument: &Bson) -> CommandResult<Action> {
    let action = match operator {
        "$set" => Action::Set(argument.clone()),
        "$setOnInsert" => Action::SetOnInsert(argument.clone()),
        "$unset" => Action::Unset,
        "$inc" | "$mul" => {
            if !is_number(argument) {
                let verb = if operator == "$inc" {
                    "increment"
                } else {
                    "multiply"
                };
                return Err(CommandError::type_mismatch(format!(
                    "Cannot {verb} with non-numeric argument: {{{}}}",
                    render_element(field, argument)
                )));
            }
            if operator == "$inc" {
                Action::Increment(argument.clone())
            } else {
                Action::Multiply(argument.clone())
            }
        }
        "$min" => Action::Min(argument.clone()),
        "$max" => Action::Max(argument.clone()),
        "$currentDate" => Action::CurrentDate(parse_current_date(argument)?),
        "$push" => Action::Push(parse_push(argument)?),
        "$addToSet" => Action::AddToSet(parse_add_to_set(argument)?),
        "$pull" => Action::Pull(parse_pull(argument)?),
        "$pullAll" => match argument {
            Bson::Array(values) => Action::PullAll(values.clone()),
            other => {
                return Err(CommandError::bad_value(format!(
                    "$pullAll requires an array argument but was given a {}",
                    type_name(other)
                )))
            }
        },
        "$pop" => Action::Pop(parse_pop(field, argument)?),
        other => {
            return Err(CommandError::failed_to_parse(format!(
                "Unknown modifier: {other}. Expected a valid update modifier or pipeline-style \
                 update specified as an array"
            )))
        }
    };
    Ok(action)
}

fn parse_current_date(argument: &Bson) -> CommandResult<DateKind> {
    match argument {
        Bson::Boolean(_) => Ok(DateKind::Date),
        Bson::Document(options) => {
            let mut kind = None;
            for (key, value) in options {
                if key != "$type" {
                    return Err(CommandError::bad_value(format!(
                        "Unrecognized $currentDate option: {key}"
                    )));
                }
                match value {
                    Bson::String(name) if name == "date" => kind = Some(DateKind::Date),
                    Bson::String(name) if name == "timestamp" => kind = Some(DateKind::Timestamp),
                    _ => {}
                }
            }
            kind.ok_or_else(|| {
                CommandError::bad_value(
                    "The '$type' string field is required to be 'date' or 'timestamp': \
                     {$currentDate: {field : {$type: 'date'}}}",
                )
            })
        }
        other => Err(CommandError::bad_value(format!(
            "{} is not valid type for $currentDate. Please use a boolean ('true') or a $type \
             expression ({{$type: 'timestamp/date'}}).",
            type_name(other)
        ))),
    }
}

/// An integral value (int, long, or a double without a fraction) as `i64`.
fn integral(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(number) => Some(i64::from(*number)),
        Bson::Int64(number) => Some(*number),
        Bson::Double(number) if number.fract() == 0.0 && number.abs() < 9.0e18 => {
            Some(*number as i64)
        }
        Bson::Decimal128(number) => {
            let float = decimal_to_f64(number);
            (float.fract() == 0.0 && float.abs() < 9.0e18).then_some(float as i64)
        }
        _ => None,
    }
}

fn parse_push(argument: &Bson) -> CommandResult<PushSpec> {
    let modifiers = match argument {
        Bson::Document(document) if document.contains_key("$each") => document,
        other => {
            return Ok(PushSpec {
                values: vec![other.clone()],
                position: None,
                slice: None,
                sort: None,
            })
        }
    };
    let mut spec = PushSpec {
        values: Vec::new(),
        position: None,
        slice: None,
        sort: None,
    };
    for (key, value) in modifiers {
        match key.as_str() {
            "$each" => match value {
                Bson::Array(values) => spec.values = values.clone(),
                other => {
                    return Err(CommandError::bad_value(format!(
                        "The argument to $each in $push must be an array but it was of type: {}",
                        type_name(other)
                    )))
                }
            },
            "$slice" => {
                spec.slice = Some(integral(value).ok_or_else(|| {
                    CommandError::bad_value(format!(
                        "The value for $slice must be an integer value but was given type: {}",
                        type_name(value)
                    ))
                })?)
            }
            "$position" => {
                spec.position = Some(integral(value).ok_or_else(|| {
                    CommandError::bad_value(format!(
                        "The value for $position must be an integer value, not of type: {}",
                        type_name(value)
                    ))
                })?)
            }
            "$sort" => spec.sort = Some(parse_push_sort(value)?),
            other => {
                return Err(CommandError::bad_value(format!(
                    "Unrecognized clause in $push: {other}"
                )))
            }
        }
    }
    Ok(spec)
}

fn sort_direction(value: &Bson) -> CommandResult<bool> {
    let direction = if is_number(value) {
        integral(value)
    } else {
        None
    };
    match direction {
        Some(1) => Ok(true),
        Some(-1) => Ok(false),
        _ => Err(CommandError::bad_value(
            "The $sort element value must be either 1 or -1",
        )),
    }
}

fn parse_push_sort(value: &Bson) -> CommandResult<PushSort> {
    match value {
        Bson::Document(fields) => {
            if fields.is_empty() {
                return Err(CommandError::bad_value(
                    "The $sort pattern is empty when it should be a set of fields.",
                ));
            }
            let mut keys = Vec::new();
            for (name, direction) in fields {
                let ascending = sort_direction(direction)?;
                let parts: Vec<String> = name.split('.').map(str::to_string).collect();
                if name.is_empty() {
                    return Err(CommandError::bad_value("The $sort field cannot be empty"));
                }
                if parts.iter().any(String::is_empty) {
                    return Err(CommandError::bad_value(format!(
                        "The $sort field is a dotted field but has an empty part: {name}"
                    )));
                }
                keys.push((parts, ascending));
            }
            Ok(PushSort::Fields(keys))
        }
        other if is_number(other) => sort_direction(other).map(PushSort::Whole),
        _ => Err(CommandError::bad_value(
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort \
             embedded fields",
        )),
    }
}

fn parse_add_to_set(argument: &Bson) -> CommandResult<Vec<Bson>> {
    // Only a document whose first field is `$each` lists several values.
    let each = match argument {
        Bson::Document(document) => document.iter().next().filter(|(key, _)| *key == "$each"),
        _ => None,
    };
    let Some((_, values)) = each else {
        return Ok(vec![argument.clone()]);
    };
    let Bson::Array(values) = values else {
        return Err(CommandError::type_mismatch(format!(
            "The argument to $each in $addToSet must be an array but it was of type {}",
            type_name(values)
        )));
    };
    if matches!(argument, Bson::Document(document) if document.len() > 1) {
        return Err(CommandError::bad_value(format!(
            "Found unexpected fields after $each in $addToSet: {}",
            render_value(argument)
        )));
    }
    Ok(values.clone())
}

/// Logical operators that make a `$pull` condition a query on document elements.
fn is_logical_operator(name: &str) -> bool {
    matches!(
        name,
        "$and" | "$or" | "$nor" | "$expr" | "$where" | "$text" | "$comment"
    )
}

fn parse_pull(argument: &Bson) -> CommandResult<PullCondition> {
    match argument {
        Bson::Document(condition) => {
            // As in MongoDB, the first field decides: a field operator such as `$gte` makes a
            // condition on the element itself, anything else a query on document elements.
            let operator_only = condition
                .keys()
                .next()
                .is_some_and(|key| key.starts_with('$') && !is_logical_operator(key));
            if operator_only {
                let mut wrapped = Document::new();
                wrapped.insert(PULL_ELEMENT_FIELD, argument.clone());
                Ok(PullCondition::ElementCondition(Box::new(Matcher::parse(
                    &wrapped,
                )?)))
            } else {
                Ok(PullCondition::DocumentQuery(Box::new(Matcher::parse(
                    condition,
                )?)))
            }
        }
        Bson::RegularExpression(_) => {
            let mut wrapped = Document::new();
            wrapped.insert(PULL_ELEMENT_FIELD, argument.clone());
            Ok(PullCondition::ElementCondition(Box::new(Matcher::parse(
                &wrapped,
            )?)))
        }
        other => Ok(PullCondition::Equal(other.clone())),
    }
}

fn parse_pop(field: &str, argument: &Bson) -> CommandResult<ArrayEnd> {
    if !is_number(argument) {
        return Err(CommandError::failed_to_parse(format!(
            "Expected a number in: {}",
            render_element(field, argument)
        )));
    }
    match integral(argument) {
        Some(1) => Ok(ArrayEnd::Last),
        Some(-1) => Ok(ArrayEnd::First),
        _ => Err(CommandError::failed_to_parse(format!(
            "$pop expects 1 or -1, found: {}",
            render_value(argument)
        ))),
    }
}

/// True when two values are the same BSON (same types, same field order), which is what
/// decides whether an operator modified a document.
pub fn identical(left: &Bson, right: &Bson) -> bool {
    match (left, right) {
        (Bson::Double(a), Bson::Double(b)) => a.to_bits() == b.to_bits(),
        (Bson::Document(a), Bson::Document(b)) => identical_documents(a, b),
        (Bson::Array(a), Bson::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| identical(x, y))
        }
        _ => left == right,
    }
}

/// [`identical`] for documents.
pub fn identical_documents(left: &Document, right: &Document) -> bool {
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .all(|((key_a, a), (key_b, b))| key_a == key_b && identical(a, b))
}

fn store_if_different(current: Option<&Bson>, value: Bson) -> LeafChange {
    match current {
        Some(existing) if identical(existing, &value) => LeafChange::Keep,
        _ => LeafChange::Store(value),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arithmetic {
    Add,
    Multiply,
}

fn decimal_from_f64(value: f64) -> Bson {
    let text = if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{value}")
    };
    match text.parse::<Decimal128>() {
        Ok(decimal) => Bson::Decimal128(decimal),
        Err(_) => Bson::Double(value),
    }
}

fn as_f64(value: &Bson) -> f64 {
    match value {
        Bson::Int32(number) => f64::from(*number),
        Bson::Int64(number) => *number as f64,
        Bson::Double(number) => *number,
        Bson::Decimal128(number) => decimal_to_f64(number),
        _ => f64::NAN,
    }
}

/// MongoDB's numeric promotion: int op int stays int, overflowing into long; long overflow is
/// an error (`None`); any double makes a double; any decimal makes a decimal.
fn arithmetic(operation: Arithmetic, left: &Bson, right: &Bson) -> Option<Bson> {
    let float = |a: f64, b: f64| match operation {
        Arithmetic::Add => a + b,
        Arithmetic::Multiply => a * b,
    };
    match (left, right) {
        (Bson::Decimal128(_), _) | (_, Bson::Decimal128(_)) => Some(
            exact_decimal(operation, left, right)
                .unwrap_or_else(|| decimal_from_f64(float(as_f64(left), as_f64(right)))),
        ),
        (Bson::Double(_), _) | (_, Bson::Double(_)) => {
            Some(Bson::Double(float(as_f64(left), as_f64(right))))
        }
        (Bson::Int32(a), Bson::Int32(b)) => {
            let wide = match operation {
                Arithmetic::Add => i64::from(*a) + i64::from(*b),
                Arithmetic::Multiply => i64::from(*a) * i64::from(*b),
            };
            Some(match i32::try_from(wide) {
                Ok(narrow) => Bson::Int32(narrow),
                Err(_) => Bson::Int64(wide),
            })
        }
        _ => {
            let a = integral(left)?;
            let b = integral(right)?;
            let result = match operation {
                Arithmetic::Add => a.checked_add(b),
                Arithmetic::Multiply => a.checked_mul(b),
            };
            result.map(Bson::Int64)
        }
    }
}

/// A finite decimal number, `coefficient × 10^exponent`, for exact decimal arithmetic.
#[derive(Debug, Clone, Copy)]
struct ExactDecimal {
    coefficient: i128,
    exponent: i32,
}

impl ExactDecimal {
    /// The exact value of a number; doubles convert with 15 significant digits, as MongoDB
    /// converts them to decimals. Infinities, NaN and huge coefficients have no exact form here.
    fn of(value: &Bson) -> Option<ExactDecimal> {
        let text = match value {
            Bson::Int32(number) => {
                return Some(ExactDecimal {
                    coefficient: i128::from(*number),
                    exponent: 0,
                })
            }
            Bson::Int64(number) => {
                return Some(ExactDecimal {
                    coefficient: i128::from(*number),
                    exponent: 0,
                })
            }
            Bson::Double(number) if number.is_finite() => format!("{number:.14e}"),
            Bson::Decimal128(number) => number.to_string(),
            _ => return None,
        };
        Self::parse(&text)
    }

    fn parse(text: &str) -> Option<ExactDecimal> {
        let lower = text.to_ascii_lowercase();
        let (mantissa, exponent) = match lower.split_once('e') {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i32>().ok()?),
            None => (lower.as_str(), 0),
        };
        let (negative, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits {
            return None;
        }
        let magnitude: i128 = format!("{whole}{fraction}").parse().ok()?;
        let exponent = exponent.checked_sub(i32::try_from(fraction.len()).ok()?)?;
        Some(ExactDecimal {
            coefficient: if negative { -magnitude } else { magnitude },
            exponent,
        })
    }

    /// The coefficient rescaled to a smaller exponent.
    fn scaled_to(self, exponent: i32) -> Option<i128> {
        let shift = u32::try_from(self.exponent.checked_sub(exponent)?).ok()?;
        self.coefficient.checked_mul(10_i128.checked_pow(shift)?)
    }
}

/// Decimal addition or multiplication without a detour through doubles (so `0.1 + 0.2` is
/// `0.3`); `None` when the operands are not finite or the coefficient overflows.
fn exact_decimal(operation: Arithmetic, left: &Bson, right: &Bson) -> Option<Bson> {
    let a = ExactDecimal::of(left)?;
    let b = ExactDecimal::of(right)?;
    let result = match operation {
        Arithmetic::Add => {
            let exponent = a.exponent.min(b.exponent);
            ExactDecimal {
                coefficient: a.scaled_to(exponent)?.checked_add(b.scaled_to(exponent)?)?,
                exponent,
            }
        }
        Arithmetic::Multiply => ExactDecimal {
            coefficient: a.coefficient.checked_mul(b.coefficient)?,
            exponent: a.exponent.checked_add(b.exponent)?,
        },
    };
    format!("{}E{}", result.coefficient, result.exponent)
        .parse::<Decimal128>()
        .ok()
        .map(Bson::Decimal128)
}

fn zero_like(value: &Bson) -> Bson {
    match value {
        Bson::Int64(_) => Bson::Int64(0),
        Bson::Double(_) => Bson::Double(0.0),
        Bson::Decimal128(_) => decimal_from_f64(0.0),
        _ => Bson::Int32(0),
    }
}

fn apply_arithmetic(
    operation: Arithmetic,
    operand: &Bson,
    current: Option<&Bson>,
    context: &LeafContext<'_>,
) -> CommandResult<LeafChange> {
    let name = match operation {
        Arithmetic::Add => "$inc",
        Arithmetic::Multiply => "$mul",
    };
    let Some(existing) = current else {
        return Ok(LeafChange::Store(match operation {
            Arithmetic::Add => operand.clone(),
            Arithmetic::Multiply => zero_like(operand),
        }));
    };
    if !is_number(existing) {
        return Err(CommandError::type_mismatch(format!(
            "Cannot apply {name} to a value of non-numeric type. {} has the field '{}' of \
             non-numeric type {}",
            context.id_text,
            context.field,
            type_name(existing)
        )));
    }
    match arithmetic(operation, existing, operand) {
        Some(result) => Ok(store_if_different(current, result)),
        None => Err(CommandError::bad_value(format!(
            "Failed to apply {name} operations to current value ((NumberLong){}) for document {}",
            render_value(existing),
            context.id_text
        ))),
    }
}

fn expect_array(
    current: Option<&Bson>,
    not_array: impl FnOnce(&Bson) -> CommandError,
) -> CommandResult<Option<&Vec<Bson>>> {
    match current {
        None => Ok(None),
        Some(Bson::Array(items)) => Ok(Some(items)),
        Some(other) => Err(not_array(other)),
    }
}

/// The change `action` makes to the value `current` at its path.
pub fn apply_action(
    action: &Action,
    current: Option<&Bson>,
    context: &LeafContext<'_>,
) -> CommandResult<LeafChange> {
    match action {
        Action::Set(value) => Ok(store_if_different(current, value.clone())),
        Action::SetOnInsert(value) => Ok(if context.inserting {
            store_if_different(current, value.clone())
        } else {
            LeafChange::Keep
        }),
        Action::Unset => Ok(match current {
            Some(_) => LeafChange::Remove,
            None => LeafChange::Keep,
        }),
        Action::Increment(operand) => apply_arithmetic(Arithmetic::Add, operand, current, context),
        Action::Multiply(operand) => {
            apply_arithmetic(Arithmetic::Multiply, operand, current, context)
        }
        Action::Min(value) | Action::Max(value) => {
            let wanted = if matches!(action, Action::Min(_)) {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            Ok(match current {
                Some(existing) if compare_bson(value, existing) != wanted => LeafChange::Keep,
                _ => LeafChange::Store(value.clone()),
            })
        }
        Action::CurrentDate(kind) => Ok(LeafChange::Store(match kind {
            DateKind::Date => Bson::DateTime(context.now),
            DateKind::Timestamp => Bson::Timestamp(Timestamp {
                time: u32::try_from(context.now.timestamp_millis().max(0) / 1000)
                    .unwrap_or(u32::MAX),
                increment: 1,
            }),
        })),
        Action::Push(spec) => {
            let existing = expect_array(current, |other| {
                CommandError::bad_value(format!(
                    "The field '{}' must be an array but is of type {} in document {}",
                    context.path,
                    type_name(other),
                    context.id_text
                ))
            })?;
            let items = push(existing.cloned().unwrap_or_default(), spec);
            Ok(store_if_different(current, Bson::Array(items)))
        }
        Action::AddToSet(values) => {
            let existing = expect_array(current, |other| {
                CommandError::bad_value(format!(
                    "Cannot apply $addToSet to non-array field. Field named '{}' has non-array \
                     type {}",
                    context.field,
                    type_name(other)
                ))
            })?;
            let mut items = existing.cloned().unwrap_or_default();
            for value in values {
                if !items.iter().any(|item| bson_equal(item, value)) {
                    items.push(value.clone());
                }
            }
            Ok(store_if_different(current, Bson::Array(items)))
        }
        Action::Pull(condition) => {
            let Some(items) = expect_array(current, |_| {
                CommandError::bad_value("Cannot apply $pull to a non-array value")
            })?
            else {
                return Ok(LeafChange::KeepIfViable);
            };
            let kept: Vec<Bson> = items
                .iter()
                .filter(|item| !pull_matches(condition, item))
                .cloned()
                .collect();
            Ok(store_if_different(current, Bson::Array(kept)))
        }
        Action::PullAll(values) => {
            let Some(items) = expect_array(current, |_| {
                CommandError::bad_value("Cannot apply $pullAll to a non-array value")
            })?
            else {
                return Ok(LeafChange::KeepIfViable);
            };
            let kept: Vec<Bson> = items
                .iter()
                .filter(|item| !values.iter().any(|value| bson_equal(item, value)))
                .cloned()
                .collect();
            Ok(store_if_different(current, Bson::Array(kept)))
        }
        Action::Pop(end) => {
            let Some(items) = expect_array(current, |other| {
                CommandError::type_mismatch(format!(
                    "Path '{}' contains an element of non-array type '{}'",
                    context.path,
                    type_name(other)
                ))
            })?
            else {
                return Ok(LeafChange::KeepIfViable);
            };
            if items.is_empty() {
                return Ok(LeafChange::Keep);
            }
            let mut items = items.clone();
            match end {
                ArrayEnd::First => {
                    items.remove(0);
                }
                ArrayEnd::Last => {
                    items.pop();
                }
            }
            Ok(LeafChange::Store(Bson::Array(items)))
        }
    }
}

fn pull_matches(condition: &PullCondition, item: &Bson) -> bool {
    match condition {
        PullCondition::Equal(value) => bson_equal(item, value),
        PullCondition::ElementCondition(matcher) => {
            let mut wrapped = Document::new();
            wrapped.insert(PULL_ELEMENT_FIELD, item.clone());
            matcher.matches(&wrapped)
        }
        PullCondition::DocumentQuery(matcher) => match item {
            Bson::Document(document) => matcher.matches(document),
            _ => false,
        },
    }
}

/// `$push`: insert at `$position`, then `$sort`, then `$slice`.
fn push(mut items: Vec<Bson>, spec: &PushSpec) -> Vec<Bson> {
    let length = items.len() as i64;
    let at = match spec.position {
        None => length,
        Some(position) if position < 0 => (length + position).max(0),
        Some(position) => position.min(length),
    } as usize;
    items.splice(at..at, spec.values.iter().cloned());
    match &spec.sort {
        None => {}
        Some(PushSort::Whole(ascending)) => items.sort_by(|a, b| {
            let order = compare_bson(a, b);
            if *ascending {
                order
            } else {
                order.reverse()
            }
        }),
        Some(PushSort::Fields(keys)) => items.sort_by(|a, b| {
            for (path, ascending) in keys {
                let order = compare_bson(&sort_key(a, path), &sort_key(b, path));
                let order = if *ascending { order } else { order.reverse() };
                if order != Ordering::Equal {
                    return order;
                }
            }
            Ordering::Equal
        }),
    }
    if let Some(slice) = spec.slice {
        let length = items.len();
        if slice >= 0 {
            items.truncate(usize::try_from(slice).unwrap_or(usize::MAX).min(length));
        } else {
            let keep = usize::try_from(slice.unsigned_abs())
                .unwrap_or(usize::MAX)
                .min(length);
            items.drain(..length - keep);
        }
    }
    items
}

/// The value a `$push` `$sort` by fields compares: the dotted field of a document element, or
/// null when the element is not a document or lacks the field.
fn sort_key(item: &Bson, path: &[String]) -> Bson {
    let mut current = item;
    for name in path {
        match current {
            Bson::Document(_) => match child(current, name) {
                Some(next) => current = next,
                None => return Bson::Null,
            },
            _ => return Bson::Null,
        }
    }
    current.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int32_overflow_promotes_to_int64() {
        assert_eq!(
            arithmetic(Arithmetic::Add, &Bson::Int32(i32::MAX), &Bson::Int32(1)),
            Some(Bson::Int64(i64::from(i32::MAX) + 1))
        );
        assert_eq!(
            arithmetic(Arithmetic::Multiply, &Bson::Int32(3), &Bson::Int32(4)),
            Some(Bson::Int32(12))
        );
    }

    #[test]
    fn int64_overflow_is_refused() {
        assert_eq!(
            arithmetic(Arithmetic::Add, &Bson::Int64(i64::MAX), &Bson::Int32(1)),
            None
        );
    }

    #[test]
    fn doubles_and_decimals_widen_the_result() {
        assert_eq!(
            arithmetic(Arithmetic::Add, &Bson::Int32(1), &Bson::Double(0.5)),
            Some(Bson::Double(1.5))
        );
        let decimal: Decimal128 = "2.5".parse().unwrap();
        let Some(Bson::Decimal128(sum)) =
            arithmetic(Arithmetic::Add, &Bson::Int32(1), &Bson::Decimal128(decimal))
        else {
            panic!("expected a decimal");
        };
        assert_eq!(decimal_to_f64(&sum), 3.5);
    }

    fn decimal(text: &str) -> Bson {
        Bson::Decimal128(text.parse().unwrap())
    }

    #[test]
    fn decimal_arithmetic_is_exact() {
        let Some(Bson::Decimal128(sum)) =
            arithmetic(Arithmetic::Add, &decimal("0.1"), &decimal("0.2"))
        else {
            panic!("expected a decimal");
        };
        assert_eq!(sum.to_string(), "0.3");
        let Some(Bson::Decimal128(product)) =
            arithmetic(Arithmetic::Multiply, &decimal("1.25"), &Bson::Int32(3))
        else {
            panic!("expected a decimal");
        };
        assert_eq!(product.to_string(), "3.75");
    }

    #[test]
    fn push_applies_position_then_sort_then_slice() {
        let spec = PushSpec {
            values: vec![Bson::Int32(5), Bson::Int32(1)],
            position: Some(0),
            slice: Some(-3),
            sort: Some(PushSort::Whole(true)),
        };
        let items = push(vec![Bson::Int32(3), Bson::Int32(9)], &spec);
        assert_eq!(items, vec![Bson::Int32(3), Bson::Int32(5), Bson::Int32(9)]);
    }
}
