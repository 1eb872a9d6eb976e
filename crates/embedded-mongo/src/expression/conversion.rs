//! Type inspection and conversion: `$type`, `$isNumber`, `$convert` and its `$toString`,
//! `$toInt`, `$toLong`, `$toDouble`, `$toDecimal`, `$toBool`, `$toDate`, `$toObjectId` shorthands.

use bson::oid::ObjectId;
use bson::Bson;

use super::numeric::{decimal_from_f64, double_to_decimal, Number};
use super::{dates, error};
use crate::error::CommandResult;

/// `ConversionFailure`: a value that `$convert` cannot turn into the requested type.
const CONVERSION_FAILURE: i32 = 241;

/// MongoDB's alias for a value's BSON type, as `$type` reports it.
pub fn type_name(value: &Bson) -> &'static str {
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

/// A double rendered as MongoDB renders it in strings: shortest round-trip digits, integral
/// values without a fraction, and an exponent for very large or very small magnitudes.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let text = format!("{value:e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => {
                format!("{mantissa}e+{exponent}")
            }
            _ => text,
        };
    }
    format!("{value}")
}

/// A value as it appears inside MongoDB's error messages.
pub(crate) fn display_value(value: &Bson) -> String {
    match value {
        Bson::Double(v) => format_double(*v),
        Bson::String(text) => format!("\"{text}\""),
        other => other.to_string(),
    }
}

/// A value coerced to a string the way string operators (`$toUpper`, `$substr`, ...) do:
/// null and missing become "", numbers and dates their text; other types are error 16007.
pub(crate) fn coerce_to_string(value: &Option<Bson>) -> CommandResult<String> {
    match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(String::new()),
        Some(Bson::String(text)) | Some(Bson::Symbol(text)) => Ok(text.clone()),
        Some(Bson::Int32(v)) => Ok(v.to_string()),
        Some(Bson::Int64(v)) => Ok(v.to_string()),
        Some(Bson::Double(v)) => Ok(format_double(*v)),
        Some(Bson::Decimal128(v)) => Ok(v.to_string()),
        Some(Bson::DateTime(moment)) => Ok(dates::iso_string(moment.timestamp_millis())),
        Some(Bson::Timestamp(stamp)) => {
            Ok(format!("Timestamp({}, {})", stamp.time, stamp.increment))
        }
        Some(other) => Err(error(
            16007,
            format!(
                "can't convert from BSON type {} to String",
                type_name(other)
            ),
        )),
    }
}

/// Evaluates `$type`, `$isNumber` and the `$toX` shorthands.
pub(super) fn evaluate(op: &str, values: Vec<Option<Bson>>) -> CommandResult<Option<Bson>> {
    let value = values.into_iter().next().flatten();
    match op {
        "$type" => Ok(Some(Bson::String(
            value.as_ref().map_or("missing", type_name).to_string(),
        ))),
        "$isNumber" => Ok(Some(Bson::Boolean(
            value
                .as_ref()
                .is_some_and(|v| Number::from_bson(v).is_some()),
        ))),
        _ => {
            let target = match op {
                "$toString" => "string",
                "$toInt" => "int",
                "$toLong" => "long",
                "$toDouble" => "double",
                "$toDecimal" => "decimal",
                "$toBool" => "bool",
                "$toDate" => "date",
                "$toObjectId" => "objectId",
                _ => return Err(super::unknown_operator(op)),
            };
            match value {
                None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(Some(Bson::Null)),
                Some(value) => convert_value(&value, target).map(Some),
            }
        }
    }
}

/// `$convert {input, to, onError, onNull}`.
pub(super) fn convert(args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let mut args = args.into_iter();
    let input = args.next().flatten().flatten();
    let to = args.next().flatten().flatten();
    let on_error = args.next().flatten();
    let on_null = args.next().flatten();
    let target = match &to {
        Some(Bson::String(name)) => target_from_name(name)?,
        Some(number) if Number::from_bson(number).is_some() => {
            target_from_code(super::numeric::integral(number).unwrap_or(-1))?
        }
        None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
        Some(other) => {
            return Err(error(
                50788,
                format!(
                    "$convert's 'to' argument must be a string or number, but is {}",
                    type_name(other)
                ),
            ))
        }
    };
    match input {
        None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(on_null.unwrap_or(Some(Bson::Null))),
        Some(value) => match convert_value(&value, target) {
            Ok(converted) => Ok(Some(converted)),
            Err(failure) if failure.code == CONVERSION_FAILURE => match on_error {
                Some(fallback) => Ok(fallback),
                None => Err(failure),
            },
            Err(other) => Err(other),
        },
    }
}

const TARGETS: &[(&str, i64)] = &[
    ("double", 1),
    ("string", 2),
    ("objectId", 7),
    ("bool", 8),
    ("date", 9),
    ("int", 16),
    ("long", 18),
    ("decimal", 19),
];

fn target_from_name(name: &str) -> CommandResult<&'static str> {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .map(|(target, _)| *target)
        .ok_or_else(|| {
            error(
                crate::error::codes::BAD_VALUE,
                format!("Unknown type name: {name}"),
            )
        })
}

fn target_from_code(code: i64) -> CommandResult<&'static str> {
    TARGETS
        .iter()
        .find(|(_, number)| *number == code)
        .map(|(target, _)| *target)
        .ok_or_else(|| {
            error(
                crate::error::codes::BAD_VALUE,
                format!("In $convert, numeric 'to' argument is not a valid type: {code}"),
            )
        })
}

fn unsupported(value: &Bson, target: &str) -> crate::error::CommandError {
    error(
        CONVERSION_FAILURE,
        format!(
            "Unsupported conversion from {} to {target} in $convert with no onError value",
            type_name(value)
        ),
    )
}

fn overflow(value: &Bson) -> crate::error::CommandError {
    error(
        CONVERSION_FAILURE,
        format!(
            "Conversion would overflow target type in $convert with no onError value: {}",
            display_value(value)
        ),
    )
}

fn parse_failure(text: &str, reason: &str) -> crate::error::CommandError {
    error(
        CONVERSION_FAILURE,
        format!("Failed to parse number '{text}' in $convert with no onError value: {reason}"),
    )
}

fn parse_integer(text: &str) -> CommandResult<i64> {
    if text.is_empty() {
        return Err(parse_failure(text, "No digits"));
    }
    text.parse::<i64>().map_err(|_| {
        let digits = text.trim_start_matches(['-', '+']);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            parse_failure(text, "Out of range")
        } else {
            parse_failure(text, "Did not consume whole string.")
        }
    })
}

fn parse_float(text: &str) -> CommandResult<f64> {
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Ok(f64::NAN),
        "inf" | "infinity" => return Ok(f64::INFINITY),
        "-inf" | "-infinity" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    if text.is_empty() || text.chars().any(|c| c.is_whitespace()) {
        return Err(parse_failure(text, "Did not consume whole string."));
    }
    text.parse::<f64>()
        .map_err(|_| parse_failure(text, "Did not consume whole string."))
}

/// Converts a non-null value to `target` (one of the `$convert` type names).
pub(crate) fn convert_value(value: &Bson, target: &str) -> CommandResult<Bson> {
    let number = Number::from_bson(value);
    match target {
        "bool" => match value {
            Bson::Boolean(flag) => Ok(Bson::Boolean(*flag)),
            _ => match number {
                Some(number) => Ok(Bson::Boolean(number.as_f64() != 0.0)),
                None => Ok(Bson::Boolean(true)),
            },
        },
        "int" | "long" => {
            let wide = match value {
                Bson::Boolean(flag) => i64::from(*flag),
                Bson::String(text) => parse_integer(text)?,
                Bson::DateTime(moment) if target == "long" => moment.timestamp_millis(),
                _ => match number {
                    Some(Number::Int(v)) => i64::from(v),
                    Some(Number::Long(v)) => v,
                    Some(other) => {
                        let float = other.as_f64();
                        if !float.is_finite() || float.trunc().abs() >= 9.223_372_036_854_776e18 {
                            return Err(overflow(value));
                        }
                        float.trunc() as i64
                    }
                    None => return Err(unsupported(value, target)),
                },
            };
            if target == "int" {
                i32::try_from(wide)
                    .map(Bson::Int32)
                    .map_err(|_| overflow(value))
            } else {
                Ok(Bson::Int64(wide))
            }
        }
        "double" | "decimal" => {
            let float = match value {
                Bson::Boolean(flag) => f64::from(u8::from(*flag)),
                Bson::String(text) => {
                    if target == "decimal" {
                        return text
                            .parse::<bson::Decimal128>()
                            .map(Bson::Decimal128)
                            .map_err(|_| parse_failure(text, "Failed to parse string to decimal"));
                    }
                    parse_float(text)?
                }
                Bson::DateTime(moment) => moment.timestamp_millis() as f64,
                Bson::Decimal128(decimal) if target == "decimal" => {
                    return Ok(Bson::Decimal128(*decimal))
                }
                Bson::Int64(v) if target == "decimal" => {
                    return Ok(v
                        .to_string()
                        .parse::<bson::Decimal128>()
                        .map(Bson::Decimal128)
                        .unwrap_or(Bson::Double(*v as f64)))
                }
                _ => match number {
                    Some(number) => number.as_f64(),
                    None => return Err(unsupported(value, target)),
                },
            };
            Ok(if target == "double" {
                Bson::Double(float)
            } else if matches!(value, Bson::Double(_)) {
                double_to_decimal(float).to_bson()
            } else {
                decimal_from_f64(float)
            })
        }
        "string" => match value {
            Bson::Boolean(flag) => Ok(Bson::String(flag.to_string())),
            Bson::ObjectId(id) => Ok(Bson::String(id.to_hex())),
            Bson::String(_) | Bson::Symbol(_) | Bson::DateTime(_) => {
                Ok(Bson::String(coerce_to_string(&Some(value.clone()))?))
            }
            _ if number.is_some() => Ok(Bson::String(coerce_to_string(&Some(value.clone()))?)),
            _ => Err(unsupported(value, target)),
        },
        "date" => match value {
            Bson::DateTime(moment) => Ok(Bson::DateTime(*moment)),
            Bson::Int64(millis) => Ok(Bson::DateTime(bson::DateTime::from_millis(*millis))),
            Bson::Double(_) | Bson::Decimal128(_) => {
                let float = number.map_or(f64::NAN, Number::as_f64);
                if !float.is_finite() || float.abs() >= 9.2e18 {
                    return Err(overflow(value));
                }
                Ok(Bson::DateTime(bson::DateTime::from_millis(
                    float.trunc() as i64
                )))
            }
            Bson::ObjectId(id) => Ok(Bson::DateTime(bson::DateTime::from_millis(
                i64::from(timestamp_seconds(id)) * 1000,
            ))),
            Bson::Timestamp(stamp) => Ok(Bson::DateTime(bson::DateTime::from_millis(
                i64::from(stamp.time) * 1000,
            ))),
            Bson::String(text) => match dates::parse_date_string(text, None, None) {
                Ok(millis) => Ok(Bson::DateTime(bson::DateTime::from_millis(millis))),
                Err(failure) => Err(error(CONVERSION_FAILURE, failure.message)),
            },
            _ => Err(unsupported(value, target)),
        },
        "objectId" => match value {
            Bson::ObjectId(id) => Ok(Bson::ObjectId(*id)),
            Bson::String(text) => {
                if text.len() != 24 {
                    return Err(error(
                        CONVERSION_FAILURE,
                        format!(
                            "Failed to parse objectId '{text}' in $convert with no onError value: Invalid string length for parsing to OID, expected 24 but found {}",
                            text.len()
                        ),
                    ));
                }
                ObjectId::parse_str(text).map(Bson::ObjectId).map_err(|_| {
                    error(
                        CONVERSION_FAILURE,
                        format!(
                            "Failed to parse objectId '{text}' in $convert with no onError value: Invalid character found in hex string: {text}"
                        ),
                    )
                })
            }
            _ => Err(unsupported(value, target)),
        },
        _ => Err(unsupported(value, target)),
    }
}

/// The creation time (seconds since the epoch) stored in an ObjectId's first four bytes.
pub(crate) fn timestamp_seconds(id: &ObjectId) -> u32 {
    let bytes = id.bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}
