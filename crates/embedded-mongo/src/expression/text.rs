//! String operators: `$concat`, case mapping, substrings by bytes and code points, lengths,
//! `$split`, `$indexOfBytes/$indexOfCP`, `$strcasecmp`, trimming, replacing and regexes.

use bson::{doc, Bson};

use super::conversion::{coerce_to_string, display_value};
use super::numeric::{integral, Number};
use super::{error, type_name};
use crate::error::CommandResult;

fn is_nullish(value: &Option<Bson>) -> bool {
    matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined))
}

fn value_type(value: &Option<Bson>) -> &'static str {
    value.as_ref().map_or("missing", type_name)
}

/// Evaluates the positional string operators.
pub(super) fn evaluate(op: &str, values: Vec<Option<Bson>>) -> CommandResult<Option<Bson>> {
    let string = |text: String| Ok(Some(Bson::String(text)));
    match op {
        "$concat" => {
            let mut output = String::new();
            for value in &values {
                match value {
                    None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
                    Some(Bson::String(text)) => output.push_str(text),
                    Some(other) => {
                        return Err(error(
                            16702,
                            format!("$concat only supports strings, not {}", type_name(other)),
                        ))
                    }
                }
            }
            string(output)
        }
        "$toLower" => string(coerce_to_string(&values[0])?.to_ascii_lowercase()),
        "$toUpper" => string(coerce_to_string(&values[0])?.to_ascii_uppercase()),
        "$strcasecmp" => {
            let left = coerce_to_string(&values[0])?.to_ascii_uppercase();
            let right = coerce_to_string(&values[1])?.to_ascii_uppercase();
            Ok(Some(Bson::Int32(match left.cmp(&right) {
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 1,
            })))
        }
        "$substr" | "$substrBytes" => substring_bytes(op, &values),
        "$substrCP" => substring_code_points(&values),
        "$strLenBytes" | "$strLenCP" => match &values[0] {
            Some(Bson::String(text)) => Ok(Some(Bson::Int32(if op == "$strLenBytes" {
                text.len() as i32
            } else {
                text.chars().count() as i32
            }))),
            other => {
                let (code, found) = if op == "$strLenBytes" {
                    (34473, "string argument, found")
                } else {
                    (34471, "string argument, found")
                };
                Err(error(
                    code,
                    format!("{op} requires a {found}: {}", value_type(other)),
                ))
            }
        },
        "$split" => {
            if is_nullish(&values[0]) {
                return Ok(Some(Bson::Null));
            }
            let Some(Bson::String(text)) = &values[0] else {
                return Err(error(
                    40085,
                    format!(
                        "$split requires an expression that evaluates to a string as a first argument, found: {}",
                        value_type(&values[0])
                    ),
                ));
            };
            if is_nullish(&values[1]) {
                return Ok(Some(Bson::Null));
            }
            let Some(Bson::String(separator)) = &values[1] else {
                return Err(error(
                    40086,
                    format!(
                        "$split requires an expression that evaluates to a string as a second argument, found: {}",
                        value_type(&values[1])
                    ),
                ));
            };
            if separator.is_empty() {
                return Err(error(40087, "$split requires a non-empty separator"));
            }
            Ok(Some(Bson::Array(
                text.split(separator.as_str())
                    .map(|part| Bson::String(part.to_string()))
                    .collect(),
            )))
        }
        "$indexOfBytes" | "$indexOfCP" => index_of(op, &values),
        _ => Err(super::unknown_operator(op)),
    }
}

fn substring_bytes(op: &str, values: &[Option<Bson>]) -> CommandResult<Option<Bson>> {
    let text = coerce_to_string(&values[0])?;
    let start = match values[1].as_ref().and_then(Number::from_bson) {
        Some(number) => number.as_f64(),
        None => {
            return Err(error(
                16034,
                format!(
                    "{op}: starting index must be a numeric type (is BSON type {})",
                    value_type(&values[1])
                ),
            ))
        }
    };
    let length = match values[2].as_ref().and_then(Number::from_bson) {
        Some(number) => number.as_f64(),
        None => {
            return Err(error(
                16035,
                format!(
                    "{op}: length must be a numeric type (is BSON type {})",
                    value_type(&values[2])
                ),
            ))
        }
    };
    if start < 0.0 || start as usize >= text.len() {
        return Ok(Some(Bson::String(String::new())));
    }
    let start = start as usize;
    let end = if length < 0.0 {
        text.len()
    } else {
        start.saturating_add(length as usize).min(text.len())
    };
    if !text.is_char_boundary(start) {
        return Err(error(
            28656,
            format!("{op}:  Invalid range, starting index is a UTF-8 continuation byte."),
        ));
    }
    if !text.is_char_boundary(end) {
        return Err(error(
            28657,
            format!("{op}:  Invalid range, ending index is in the middle of a UTF-8 character."),
        ));
    }
    Ok(Some(Bson::String(text[start..end].to_string())))
}

fn substring_code_points(values: &[Option<Bson>]) -> CommandResult<Option<Bson>> {
    let text = coerce_to_string(&values[0])?;
    let start = match &values[1] {
        Some(value) if Number::from_bson(value).is_some() => integral(value).ok_or_else(|| {
            error(
                34451,
                format!(
                    "$substrCP: starting index cannot be represented as a 32-bit integral value: {}",
                    display_value(value)
                ),
            )
        })?,
        other => {
            return Err(error(
                34450,
                format!(
                    "$substrCP: starting index must be a numeric type (is BSON type {})",
                    value_type(other)
                ),
            ))
        }
    };
    let length = match &values[2] {
        Some(value) if Number::from_bson(value).is_some() => integral(value).ok_or_else(|| {
            error(
                34453,
                format!(
                    "$substrCP: length cannot be represented as a 32-bit integral value: {}",
                    display_value(value)
                ),
            )
        })?,
        other => {
            return Err(error(
                34452,
                format!(
                    "$substrCP: length must be a numeric type (is BSON type {})",
                    value_type(other)
                ),
            ))
        }
    };
    if start < 0 {
        return Err(error(
            34455,
            "$substrCP: the starting index must be nonnegative integer.",
        ));
    }
    if length < 0 {
        return Err(error(
            34454,
            "$substrCP: length must be a nonnegative integer.",
        ));
    }
    Ok(Some(Bson::String(
        text.chars()
            .skip(start as usize)
            .take(length as usize)
            .collect(),
    )))
}

fn index_of(op: &str, values: &[Option<Bson>]) -> CommandResult<Option<Bson>> {
    if is_nullish(&values[0]) {
        return Ok(Some(Bson::Null));
    }
    let Some(Bson::String(text)) = &values[0] else {
        return Err(error(
            40091,
            format!(
                "{op} requires a string as the first argument, found: {}",
                value_type(&values[0])
            ),
        ));
    };
    let Some(Bson::String(needle)) = &values[1] else {
        return Err(error(
            40092,
            format!(
                "{op} requires a string as the second argument, found: {}",
                value_type(&values[1])
            ),
        ));
    };
    let bound = |position: usize, which: &str| -> CommandResult<Option<usize>> {
        match values.get(position) {
            None => Ok(None),
            Some(Some(value)) if Number::from_bson(value).is_some() => match integral(value) {
                Some(index) if index >= 0 => Ok(Some(index as usize)),
                Some(index) => Err(error(
                    40097,
                    format!("{op} requires a nonnegative {which} index, got: {index}"),
                )),
                None => Err(error(
                    40096,
                    format!(
                        "{op} requires an integral {which} index, found a value of type: {}, with value: {}",
                        type_name(value),
                        display_value(value)
                    ),
                )),
            },
            Some(other) => Err(error(
                40096,
                format!(
                    "{op} requires an integral {which} index, found a value of type: {}",
                    value_type(other)
                ),
            )),
        }
    };
    let start = bound(2, "starting")?.unwrap_or(0);
    let end = bound(3, "ending")?;
    let found = if op == "$indexOfBytes" {
        let end = end.unwrap_or(text.len()).min(text.len());
        if start > end {
            None
        } else {
            let haystack = &text.as_bytes()[start..end];
            let needle = needle.as_bytes();
            if needle.is_empty() {
                Some(start)
            } else {
                haystack
                    .windows(needle.len())
                    .position(|window| window == needle)
                    .map(|offset| offset + start)
            }
        }
    } else {
        let characters: Vec<char> = text.chars().collect();
        let needle: Vec<char> = needle.chars().collect();
        let end = end.unwrap_or(characters.len()).min(characters.len());
        if start > end {
            None
        } else if needle.is_empty() {
            Some(start)
        } else {
            characters[start..end]
                .windows(needle.len())
                .position(|window| window == needle.as_slice())
                .map(|offset| offset + start)
        }
    };
    Ok(Some(Bson::Int32(found.map_or(-1, |index| index as i32))))
}

/// Evaluates the string operators that take named arguments.
pub(super) fn evaluate_named(
    op: &str,
    args: Vec<Option<Option<Bson>>>,
) -> CommandResult<Option<Bson>> {
    match op {
        "$trim" | "$ltrim" | "$rtrim" => {
            let input = args[0].clone().flatten();
            let chars = args[1].clone();
            let text = match input {
                None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
                Some(Bson::String(text)) => text,
                Some(other) => {
                    return Err(error(
                        50699,
                        format!(
                            "{op} requires its input to be a string, got {} (of type {}) instead.",
                            display_value(&other),
                            type_name(&other)
                        ),
                    ))
                }
            };
            let set: Option<Vec<char>> = match chars {
                None => None,
                Some(None) | Some(Some(Bson::Null)) => return Ok(Some(Bson::Null)),
                Some(Some(Bson::String(chars))) => Some(chars.chars().collect()),
                Some(Some(other)) => {
                    return Err(error(
                        50700,
                        format!(
                            "{op} requires 'chars' to be a string, got {} (of type {}) instead.",
                            display_value(&other),
                            type_name(&other)
                        ),
                    ))
                }
            };
            let strip = |c: char| match &set {
                Some(set) => set.contains(&c),
                None => c.is_whitespace() || c == '\0',
            };
            let trimmed = match op {
                "$ltrim" => text.trim_start_matches(strip),
                "$rtrim" => text.trim_end_matches(strip),
                _ => text.trim_matches(strip),
            };
            Ok(Some(Bson::String(trimmed.to_string())))
        }
        "$replaceOne" | "$replaceAll" => {
            let mut strings = Vec::with_capacity(3);
            for (value, name) in args.iter().zip(["input", "find", "replacement"]) {
                match value.clone().flatten() {
                    None | Some(Bson::Null) | Some(Bson::Undefined) => strings.push(None),
                    Some(Bson::String(text)) => strings.push(Some(text)),
                    Some(other) => {
                        return Err(error(
                            51746,
                            format!(
                                "{op} requires that '{name}' be a string, found: {}",
                                display_value(&other)
                            ),
                        ))
                    }
                }
            }
            let (Some(input), Some(find), Some(replacement)) =
                (&strings[0], &strings[1], &strings[2])
            else {
                return Ok(Some(Bson::Null));
            };
            Ok(Some(Bson::String(if op == "$replaceOne" {
                input.replacen(find.as_str(), replacement, 1)
            } else {
                input.replace(find.as_str(), replacement)
            })))
        }
        _ => regex_operator(op, args),
    }
}

fn regex_operator(op: &str, args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let input = args[0].clone().flatten();
    let regex = args[1].clone().flatten();
    let options = args[2].clone().flatten();
    let no_match = || {
        Ok(Some(match op {
            "$regexMatch" => Bson::Boolean(false),
            "$regexFind" => Bson::Null,
            _ => Bson::Array(Vec::new()),
        }))
    };
    let text = match input {
        None | Some(Bson::Null) | Some(Bson::Undefined) => return no_match(),
        Some(Bson::String(text)) => text,
        Some(other) => {
            return Err(error(
                51104,
                format!(
                    "{op} needs 'input' to be of type string, found: {}",
                    type_name(&other)
                ),
            ))
        }
    };
    let (pattern, mut flags) = match regex {
        None | Some(Bson::Null) | Some(Bson::Undefined) => return no_match(),
        Some(Bson::String(pattern)) => (pattern, String::new()),
        Some(Bson::RegularExpression(regex)) => (regex.pattern, regex.options),
        Some(other) => {
            return Err(error(
                51105,
                format!(
                    "{op} needs 'regex' to be of type string or regex, found: {}",
                    type_name(&other)
                ),
            ))
        }
    };
    match options {
        None | Some(Bson::Null) | Some(Bson::Undefined) => {}
        Some(Bson::String(extra)) => {
            if !flags.is_empty() && !extra.is_empty() {
                return Err(error(
                    51107,
                    format!(
                        "{op} found regex option(s) specified in both 'regex' and 'option' fields"
                    ),
                ));
            }
            flags.push_str(&extra);
        }
        Some(other) => {
            return Err(error(
                51106,
                format!(
                    "{op} needs 'options' to be of type string, found: {}",
                    type_name(&other)
                ),
            ))
        }
    }
    let compiled = compile_regex(&pattern, &flags)
        .map_err(|reason| error(51111, format!("Invalid Regex in {op}: {reason}")))?;
    match op {
        "$regexMatch" => Ok(Some(Bson::Boolean(compiled.is_match(&text)))),
        "$regexFind" => Ok(Some(
            compiled
                .captures(&text)
                .map_or(Bson::Null, |captures| match_document(&text, &captures)),
        )),
        _ => Ok(Some(Bson::Array(
            compiled
                .captures_iter(&text)
                .map(|captures| match_document(&text, &captures))
                .collect(),
        ))),
    }
}

/// `{match, idx, captures}` for one regex match; `idx` counts code points, as MongoDB does.
fn match_document(text: &str, captures: &regex::Captures<'_>) -> Bson {
    let whole = captures.get(0);
    let start = whole.map_or(0, |m| m.start());
    let groups: Vec<Bson> = captures
        .iter()
        .skip(1)
        .map(|group| group.map_or(Bson::Null, |m| Bson::String(m.as_str().to_string())))
        .collect();
    Bson::Document(doc! {
        "match": whole.map_or("", |m| m.as_str()),
        "idx": text[..start].chars().count() as i32,
        "captures": groups,
    })
}

/// Compiles a MongoDB (PCRE-style) regex with its `imsx` options.
pub(crate) fn compile_regex(pattern: &str, options: &str) -> Result<regex::Regex, String> {
    let mut builder = regex::RegexBuilder::new(pattern);
    for option in options.chars() {
        match option {
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
            'u' => {}
            other => return Err(format!("invalid flag in regex options: {other}")),
        }
    }
    builder.build().map_err(|reason| reason.to_string())
}
