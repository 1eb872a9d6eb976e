//! Arithmetic operators and the numeric folds (`$sum`, `$avg`, `$min`, `$max`, standard
//! deviations) shared by expressions and `$group` accumulators.
//!
//! Results follow MongoDB's type promotion: int32 widens to int64 on overflow, int64 to double,
//! and any double (or decimal) operand makes the result a double (or decimal). Decimal128
//! arithmetic is carried out in double precision, then stored back as a decimal.

use std::cmp::Ordering;

use bson::Bson;

use super::{error, type_name};
use crate::compare::{compare_bson, decimal_to_f64};
use crate::error::CommandResult;

/// A numeric BSON value, keeping its type so results can be promoted as MongoDB does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i32),
    Long(i64),
    Double(f64),
    Decimal(f64),
}

impl Number {
    /// The number in `value`, if it is one of BSON's numeric types.
    pub(crate) fn from_bson(value: &Bson) -> Option<Number> {
        match value {
            Bson::Int32(v) => Some(Number::Int(*v)),
            Bson::Int64(v) => Some(Number::Long(*v)),
            Bson::Double(v) => Some(Number::Double(*v)),
            Bson::Decimal128(v) => Some(Number::Decimal(decimal_to_f64(v))),
            _ => None,
        }
    }

    /// Back to BSON in the number's own type.
    pub(crate) fn to_bson(self) -> Bson {
        match self {
            Number::Int(v) => Bson::Int32(v),
            Number::Long(v) => Bson::Int64(v),
            Number::Double(v) => Bson::Double(v),
            Number::Decimal(v) => decimal_from_f64(v),
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Number::Int(v) => f64::from(v),
            Number::Long(v) => v as f64,
            Number::Double(v) | Number::Decimal(v) => v,
        }
    }

    fn as_integer(self) -> Option<i64> {
        match self {
            Number::Int(v) => Some(i64::from(v)),
            Number::Long(v) => Some(v),
            _ => None,
        }
    }

    fn is_decimal(self) -> bool {
        matches!(self, Number::Decimal(_))
    }
}

/// A Decimal128 holding `value` (through its shortest decimal rendering).
pub(crate) fn decimal_from_f64(value: f64) -> Bson {
    match format!("{value}").parse::<bson::Decimal128>() {
        Ok(decimal) => Bson::Decimal128(decimal),
        Err(_) => Bson::Double(value),
    }
}

/// The integer an integral numeric value holds (`2.0` counts; `2.5` does not).
pub(crate) fn integral(value: &Bson) -> Option<i64> {
    match Number::from_bson(value)? {
        Number::Int(v) => Some(i64::from(v)),
        Number::Long(v) => Some(v),
        Number::Double(v) | Number::Decimal(v) => {
            if v.fract() == 0.0 && v.abs() < 9.2e18 {
                Some(v as i64)
            } else {
                None
            }
        }
    }
}

/// The integral value of `value` when it fits in 32 bits.
pub(crate) fn integral_i32(value: &Bson) -> Option<i32> {
    integral(value).and_then(|v| i32::try_from(v).ok())
}

/// An integer result in the narrowest type the operands allow.
fn integer_result(value: i64, both_int: bool) -> Number {
    match i32::try_from(value) {
        Ok(small) if both_int => Number::Int(small),
        _ => Number::Long(value),
    }
}

fn float_result(value: f64, decimal: bool) -> Number {
    if decimal {
        Number::Decimal(value)
    } else {
        Number::Double(value)
    }
}

/// `a + b` with MongoDB's promotion rules.
pub(crate) fn add(a: Number, b: Number) -> Number {
    if let (Some(x), Some(y)) = (a.as_integer(), b.as_integer()) {
        let both_int = matches!((a, b), (Number::Int(_), Number::Int(_)));
        return match x.checked_add(y) {
            Some(sum) => integer_result(sum, both_int),
            None => Number::Double(x as f64 + y as f64),
        };
    }
    float_result(a.as_f64() + b.as_f64(), a.is_decimal() || b.is_decimal())
}

fn subtract(a: Number, b: Number) -> Number {
    if let (Some(x), Some(y)) = (a.as_integer(), b.as_integer()) {
        let both_int = matches!((a, b), (Number::Int(_), Number::Int(_)));
        return match x.checked_sub(y) {
            Some(difference) => integer_result(difference, both_int),
            None => Number::Double(x as f64 - y as f64),
        };
    }
    float_result(a.as_f64() - b.as_f64(), a.is_decimal() || b.is_decimal())
}

fn multiply(a: Number, b: Number) -> Number {
    if let (Some(x), Some(y)) = (a.as_integer(), b.as_integer()) {
        let both_int = matches!((a, b), (Number::Int(_), Number::Int(_)));
        return match x.checked_mul(y) {
            Some(product) => integer_result(product, both_int),
            None => Number::Double(x as f64 * y as f64),
        };
    }
    float_result(a.as_f64() * b.as_f64(), a.is_decimal() || b.is_decimal())
}

fn is_nullish(value: &Option<Bson>) -> bool {
    matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined))
}

fn value_type(value: &Option<Bson>) -> &'static str {
    value.as_ref().map_or("missing", type_name)
}

/// Evaluates the numeric operators over already evaluated arguments.
pub(super) fn evaluate(op: &str, values: Vec<Option<Bson>>) -> CommandResult<Option<Bson>> {
    match op {
        "$add" => add_all(values),
        "$multiply" => {
            let mut product = Number::Int(1);
            for value in &values {
                if is_nullish(value) {
                    return Ok(Some(Bson::Null));
                }
                match value.as_ref().and_then(Number::from_bson) {
                    Some(number) => product = multiply(product, number),
                    None => {
                        return Err(error(
                            16555,
                            format!(
                                "$multiply only supports numeric types, not {}",
                                value_type(value)
                            ),
                        ))
                    }
                }
            }
            Ok(Some(product.to_bson()))
        }
        "$subtract" => subtract_values(&values[0], &values[1]),
        "$divide" => {
            if is_nullish(&values[0]) || is_nullish(&values[1]) {
                return Ok(Some(Bson::Null));
            }
            let (Some(dividend), Some(divisor)) = (
                values[0].as_ref().and_then(Number::from_bson),
                values[1].as_ref().and_then(Number::from_bson),
            ) else {
                return Err(error(
                    16609,
                    format!(
                        "$divide only supports numeric types, not {} and {}",
                        value_type(&values[0]),
                        value_type(&values[1])
                    ),
                ));
            };
            if divisor.as_f64() == 0.0 {
                return Err(error(16608, "can't $divide by zero"));
            }
            Ok(Some(
                float_result(
                    dividend.as_f64() / divisor.as_f64(),
                    dividend.is_decimal() || divisor.is_decimal(),
                )
                .to_bson(),
            ))
        }
        "$mod" => {
            if is_nullish(&values[0]) || is_nullish(&values[1]) {
                return Ok(Some(Bson::Null));
            }
            let (Some(dividend), Some(divisor)) = (
                values[0].as_ref().and_then(Number::from_bson),
                values[1].as_ref().and_then(Number::from_bson),
            ) else {
                return Err(error(
                    16611,
                    format!(
                        "$mod only supports numeric types, not {} and {}",
                        value_type(&values[0]),
                        value_type(&values[1])
                    ),
                ));
            };
            if divisor.as_f64() == 0.0 {
                return Err(error(16610, "can't $mod by zero"));
            }
            let result = match (dividend.as_integer(), divisor.as_integer()) {
                (Some(x), Some(y)) => integer_result(
                    x.checked_rem(y).unwrap_or(0),
                    matches!((dividend, divisor), (Number::Int(_), Number::Int(_))),
                ),
                _ => float_result(
                    dividend.as_f64() % divisor.as_f64(),
                    dividend.is_decimal() || divisor.is_decimal(),
                ),
            };
            Ok(Some(result.to_bson()))
        }
        "$abs" | "$ceil" | "$floor" | "$sqrt" | "$exp" | "$ln" | "$log10" => {
            single_argument(op, &values[0])
        }
        "$log" => {
            if is_nullish(&values[0]) || is_nullish(&values[1]) {
                return Ok(Some(Bson::Null));
            }
            let number = values[0]
                .as_ref()
                .and_then(Number::from_bson)
                .ok_or_else(|| {
                    error(
                        28756,
                        format!(
                            "$log's argument must be numeric, not {}",
                            value_type(&values[0])
                        ),
                    )
                })?;
            let base = values[1]
                .as_ref()
                .and_then(Number::from_bson)
                .ok_or_else(|| {
                    error(
                        28757,
                        format!(
                            "$log's base must be numeric, not {}",
                            value_type(&values[1])
                        ),
                    )
                })?;
            if number.as_f64() <= 0.0 {
                return Err(error(
                    28758,
                    format!(
                        "$log's argument must be a positive number, but is {}",
                        number_text(number)
                    ),
                ));
            }
            if base.as_f64() <= 0.0 || base.as_f64() == 1.0 {
                return Err(error(
                    28759,
                    format!(
                        "$log's base must be a positive number not equal to 1, but is {}",
                        number_text(base)
                    ),
                ));
            }
            Ok(Some(
                float_result(
                    number.as_f64().ln() / base.as_f64().ln(),
                    number.is_decimal() || base.is_decimal(),
                )
                .to_bson(),
            ))
        }
        "$pow" => power(&values[0], &values[1]),
        "$round" | "$trunc" => round(op, &values),
        "$sum" | "$avg" | "$min" | "$max" | "$stdDevPop" | "$stdDevSamp" => {
            let operands: Vec<Bson> = match values.as_slice() {
                [Some(Bson::Array(items))] => items.clone(),
                _ => values.into_iter().flatten().collect(),
            };
            Ok(Some(fold(op, operands.iter())))
        }
        _ => Err(super::unknown_operator(op)),
    }
}

/// `$sum`, `$avg`, `$min`, `$max`, `$stdDevPop` or `$stdDevSamp` over `values`, ignoring
/// what each ignores (non-numbers, or null and missing for `$min`/`$max`).
pub(crate) fn fold<'a>(op: &str, values: impl Iterator<Item = &'a Bson>) -> Bson {
    match op {
        "$min" | "$max" => {
            let wanted = if op == "$min" {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            let mut best: Option<&Bson> = None;
            for value in values {
                if matches!(value, Bson::Null | Bson::Undefined) {
                    continue;
                }
                if best.is_none_or(|current| compare_bson(value, current) == wanted) {
                    best = Some(value);
                }
            }
            best.cloned().unwrap_or(Bson::Null)
        }
        "$sum" => {
            let mut total = Number::Int(0);
            for number in values.filter_map(Number::from_bson) {
                total = add(total, number);
            }
            total.to_bson()
        }
        "$avg" => {
            let mut total = Number::Int(0);
            let mut count = 0_u64;
            for number in values.filter_map(Number::from_bson) {
                total = add(total, number);
                count += 1;
            }
            if count == 0 {
                Bson::Null
            } else {
                float_result(total.as_f64() / count as f64, total.is_decimal()).to_bson()
            }
        }
        _ => {
            let numbers: Vec<f64> = values
                .filter_map(Number::from_bson)
                .map(Number::as_f64)
                .collect();
            standard_deviation(&numbers, op == "$stdDevSamp")
        }
    }
}

/// The population (or sample) standard deviation, null when undefined.
pub(crate) fn standard_deviation(numbers: &[f64], sample: bool) -> Bson {
    let count = numbers.len();
    if count == 0 || (sample && count < 2) {
        return Bson::Null;
    }
    let mean = numbers.iter().sum::<f64>() / count as f64;
    let squares: f64 = numbers.iter().map(|x| (x - mean) * (x - mean)).sum();
    let divisor = if sample { count - 1 } else { count };
    Bson::Double((squares / divisor as f64).sqrt())
}

fn number_text(number: Number) -> String {
    super::conversion::display_value(&number.to_bson())
}

fn add_all(values: Vec<Option<Bson>>) -> CommandResult<Option<Bson>> {
    let mut total = Number::Int(0);
    let mut date: Option<i64> = None;
    for value in &values {
        match value {
            None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
            Some(Bson::DateTime(moment)) => {
                if date.is_some() {
                    return Err(error(16612, "only one date allowed in an $add expression"));
                }
                date = Some(moment.timestamp_millis());
            }
            Some(other) => match Number::from_bson(other) {
                Some(number) => total = add(total, number),
                None => {
                    return Err(error(
                        16554,
                        format!(
                            "$add only supports numeric or date types, not {}",
                            type_name(other)
                        ),
                    ))
                }
            },
        }
    }
    match date {
        Some(millis) => Ok(Some(Bson::DateTime(bson::DateTime::from_millis(
            millis.saturating_add(round_to_millis(total)),
        )))),
        None => Ok(Some(total.to_bson())),
    }
}

fn round_to_millis(number: Number) -> i64 {
    match number.as_integer() {
        Some(value) => value,
        None => number.as_f64().round() as i64,
    }
}

fn subtract_values(left: &Option<Bson>, right: &Option<Bson>) -> CommandResult<Option<Bson>> {
    if is_nullish(left) || is_nullish(right) {
        return Ok(Some(Bson::Null));
    }
    let (Some(left_value), Some(right_value)) = (left, right) else {
        return Ok(Some(Bson::Null));
    };
    match (left_value, right_value) {
        (Bson::DateTime(a), Bson::DateTime(b)) => Ok(Some(Bson::Int64(
            a.timestamp_millis().saturating_sub(b.timestamp_millis()),
        ))),
        (Bson::DateTime(a), other) if Number::from_bson(other).is_some() => {
            let millis = Number::from_bson(other).map_or(0, round_to_millis);
            Ok(Some(Bson::DateTime(bson::DateTime::from_millis(
                a.timestamp_millis().saturating_sub(millis),
            ))))
        }
        (Bson::DateTime(_), other) => Err(error(
            16613,
            format!("can't $subtract {} from Date", type_name(other)),
        )),
        (a, b) => match (Number::from_bson(a), Number::from_bson(b)) {
            (Some(x), Some(y)) => Ok(Some(subtract(x, y).to_bson())),
            _ => Err(error(
                16556,
                format!(
                    "can't $subtract {} from {}",
                    type_name(right_value),
                    type_name(left_value)
                ),
            )),
        },
    }
}

fn single_argument(op: &str, value: &Option<Bson>) -> CommandResult<Option<Bson>> {
    if is_nullish(value) {
        return Ok(Some(Bson::Null));
    }
    let number = value.as_ref().and_then(Number::from_bson).ok_or_else(|| {
        error(
            28765,
            format!(
                "{op} only supports numeric types, not {}",
                value_type(value)
            ),
        )
    })?;
    let float = |result: f64| float_result(result, number.is_decimal());
    let result = match op {
        "$abs" => match number {
            Number::Int(v) => match v.checked_abs() {
                Some(abs) => Number::Int(abs),
                None => Number::Long(i64::from(v).abs()),
            },
            Number::Long(v) => match v.checked_abs() {
                Some(abs) => Number::Long(abs),
                None => return Err(error(28680, "can't take $abs of long long min")),
            },
            other => float(other.as_f64().abs()),
        },
        "$ceil" | "$floor" => match number {
            Number::Int(_) | Number::Long(_) => number,
            other if op == "$ceil" => float(other.as_f64().ceil()),
            other => float(other.as_f64().floor()),
        },
        "$sqrt" => {
            if number.as_f64() < 0.0 {
                return Err(error(
                    28714,
                    "$sqrt's argument must be greater than or equal to 0",
                ));
            }
            float(number.as_f64().sqrt())
        }
        "$exp" => float(number.as_f64().exp()),
        "$ln" | "$log10" => {
            if number.as_f64() <= 0.0 {
                let code = if op == "$ln" { 28766 } else { 28761 };
                return Err(error(
                    code,
                    format!(
                        "{op}'s argument must be a positive number, but is {}",
                        number_text(number)
                    ),
                ));
            }
            if op == "$ln" {
                float(number.as_f64().ln())
            } else {
                float(number.as_f64().log10())
            }
        }
        _ => return Err(super::unknown_operator(op)),
    };
    Ok(Some(result.to_bson()))
}

fn power(base: &Option<Bson>, exponent: &Option<Bson>) -> CommandResult<Option<Bson>> {
    if is_nullish(base) || is_nullish(exponent) {
        return Ok(Some(Bson::Null));
    }
    let base_number = base.as_ref().and_then(Number::from_bson).ok_or_else(|| {
        error(
            28762,
            format!("$pow's base must be numeric, not {}", value_type(base)),
        )
    })?;
    let exponent_number = exponent
        .as_ref()
        .and_then(Number::from_bson)
        .ok_or_else(|| {
            error(
                28763,
                format!(
                    "$pow's exponent must be numeric, not {}",
                    value_type(exponent)
                ),
            )
        })?;
    if base_number.as_f64() == 0.0 && exponent_number.as_f64() < 0.0 {
        return Err(error(
            28764,
            "$pow cannot take a base of 0 and a negative exponent",
        ));
    }
    if let (Some(x), Some(y)) = (base_number.as_integer(), exponent_number.as_integer()) {
        let both_int = matches!(
            (base_number, exponent_number),
            (Number::Int(_), Number::Int(_))
        );
        if y < 0 {
            // Only 1 and -1 raised to a negative power stay integral.
            let result = match x {
                1 => Some(1),
                -1 => Some(if y % 2 == 0 { 1 } else { -1 }),
                _ => None,
            };
            return Ok(Some(match result {
                Some(value) => integer_result(value, both_int).to_bson(),
                None => Bson::Double((x as f64).powf(y as f64)),
            }));
        }
        let exact = u32::try_from(y).ok().and_then(|y| x.checked_pow(y));
        return Ok(Some(match exact {
            Some(value) => integer_result(value, both_int).to_bson(),
            None => Bson::Double((x as f64).powf(y as f64)),
        }));
    }
    Ok(Some(
        float_result(
            base_number.as_f64().powf(exponent_number.as_f64()),
            base_number.is_decimal() || exponent_number.is_decimal(),
        )
        .to_bson(),
    ))
}

fn round(op: &str, values: &[Option<Bson>]) -> CommandResult<Option<Bson>> {
    if is_nullish(&values[0]) {
        return Ok(Some(Bson::Null));
    }
    let number = values[0]
        .as_ref()
        .and_then(Number::from_bson)
        .ok_or_else(|| {
            error(
                51081,
                format!(
                    "{op} only supports numeric types, not {}",
                    value_type(&values[0])
                ),
            )
        })?;
    let place = match values.get(1) {
        None => 0,
        Some(value) if is_nullish(value) => return Ok(Some(Bson::Null)),
        Some(Some(value)) => match integral(value) {
            Some(place) if (-20..=100).contains(&place) => place,
            _ => {
                return Err(error(
                    51083,
                    format!(
                        "cannot apply {op} with precision value {} value must be in [-20, 100]",
                        super::conversion::display_value(value)
                    ),
                ))
            }
        },
        Some(None) => return Ok(Some(Bson::Null)),
    };
    let truncate = op == "$trunc";
    let result = match number {
        Number::Int(_) | Number::Long(_) if place >= 0 => number,
        Number::Int(_) | Number::Long(_) => {
            let value = i128::from(number.as_integer().unwrap_or(0));
            let factor = 10_i128.pow((-place) as u32);
            let quotient = value / factor;
            let remainder = value % factor;
            let rounded = if truncate {
                quotient
            } else {
                let twice = remainder.abs() * 2;
                let away = twice > factor || (twice == factor && quotient % 2 != 0);
                if away {
                    quotient + value.signum()
                } else {
                    quotient
                }
            };
            let result = rounded * factor;
            match (number, i32::try_from(result), i64::try_from(result)) {
                (Number::Int(_), Ok(small), _) => Number::Int(small),
                (_, _, Ok(large)) => Number::Long(large),
                _ => Number::Double(result as f64),
            }
        }
        other => {
            let value = other.as_f64();
            let factor = 10_f64.powi(place as i32);
            let scaled = value * factor;
            let rounded = if truncate {
                scaled.trunc()
            } else {
                scaled.round_ties_even()
            };
            let result = if factor.is_finite() && factor != 0.0 && rounded.is_finite() {
                rounded / factor
            } else {
                value
            };
            float_result(result, other.is_decimal())
        }
    };
    Ok(Some(result.to_bson()))
}
