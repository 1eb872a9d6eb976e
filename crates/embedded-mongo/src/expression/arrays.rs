//! Array and set operators: `$size`, element access, `$slice`, `$concatArrays`, `$in`,
//! `$indexOfArray`, `$range`, object/array conversion, the `$set*` family and `$sortArray`.

use std::collections::BTreeSet;

use bson::{Bson, Document};

use super::conversion::display_value;
use super::numeric::{integral, integral_i32, Number};
use super::{error, is_truthy, type_name};
use crate::compare::{bson_equal, compare_bson, OrderedBson};
use crate::error::CommandResult;

fn is_nullish(value: &Option<Bson>) -> bool {
    matches!(value, None | Some(Bson::Null) | Some(Bson::Undefined))
}

fn value_type(value: &Option<Bson>) -> &'static str {
    value.as_ref().map_or("missing", type_name)
}

/// The set of distinct values of `items` in MongoDB's order, as the set operators produce.
fn distinct(items: &[Bson]) -> BTreeSet<OrderedBson> {
    items.iter().cloned().map(OrderedBson).collect()
}

fn set_to_array(set: BTreeSet<OrderedBson>) -> Bson {
    Bson::Array(set.into_iter().map(|value| value.0).collect())
}

/// Evaluates the positional array operators.
pub(super) fn evaluate(op: &str, values: Vec<Option<Bson>>) -> CommandResult<Option<Bson>> {
    match op {
        "$size" => match &values[0] {
            Some(Bson::Array(items)) => Ok(Some(Bson::Int32(items.len() as i32))),
            other => Err(error(
                17124,
                format!(
                    "The argument to $size must be an array. Type of argument was: {}.",
                    value_type(other)
                ),
            )),
        },
        "$isArray" => Ok(Some(Bson::Boolean(matches!(
            values[0],
            Some(Bson::Array(_))
        )))),
        "$arrayElemAt" => {
            if is_nullish(&values[0]) || is_nullish(&values[1]) {
                return Ok(Some(Bson::Null));
            }
            let Some(Bson::Array(items)) = &values[0] else {
                return Err(error(
                    28689,
                    format!(
                        "$arrayElemAt's first argument must be an array, but is {}",
                        value_type(&values[0])
                    ),
                ));
            };
            let index = match &values[1] {
                Some(value) if Number::from_bson(value).is_some() => {
                    integral_i32(value).ok_or_else(|| {
                        error(
                            28691,
                            format!(
                                "$arrayElemAt's second argument must be representable as a 32-bit integer: {}",
                                display_value(value)
                            ),
                        )
                    })?
                }
                other => {
                    return Err(error(
                        28690,
                        format!(
                            "$arrayElemAt's second argument must be a numeric value, but is {}",
                            value_type(other)
                        ),
                    ))
                }
            };
            Ok(element_at(items, i64::from(index)))
        }
        "$first" | "$last" => match &values[0] {
            None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(Some(Bson::Null)),
            Some(Bson::Array(items)) => Ok(if op == "$first" {
                items.first().cloned()
            } else {
                items.last().cloned()
            }),
            Some(other) => Err(error(
                28689,
                format!(
                    "{op}'s argument must be an array, but is {}",
                    type_name(other)
                ),
            )),
        },
        "$slice" => slice(&values),
        "$concatArrays" => {
            let mut output = Vec::new();
            for value in values {
                match value {
                    None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
                    Some(Bson::Array(items)) => output.extend(items),
                    Some(other) => {
                        return Err(error(
                            28664,
                            format!(
                                "$concatArrays only supports arrays, not {}",
                                type_name(&other)
                            ),
                        ))
                    }
                }
            }
            Ok(Some(Bson::Array(output)))
        }
        "$in" => {
            let Some(Bson::Array(items)) = &values[1] else {
                return Err(error(
                    40081,
                    format!(
                        "$in requires an array as a second argument, found: {}",
                        value_type(&values[1])
                    ),
                ));
            };
            let needle = values[0].clone().unwrap_or(Bson::Undefined);
            Ok(Some(Bson::Boolean(
                items.iter().any(|item| bson_equal(item, &needle)),
            )))
        }
        "$indexOfArray" => index_of_array(&values),
        "$reverseArray" => match &values[0] {
            None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(Some(Bson::Null)),
            Some(Bson::Array(items)) => {
                Ok(Some(Bson::Array(items.iter().rev().cloned().collect())))
            }
            Some(other) => Err(error(
                34435,
                format!(
                    "The argument to $reverseArray must be an array, but was of type: {}",
                    type_name(other)
                ),
            )),
        },
        "$range" => range(&values),
        "$arrayToObject" => array_to_object(&values[0]),
        "$objectToArray" => match &values[0] {
            None | Some(Bson::Null) | Some(Bson::Undefined) => Ok(Some(Bson::Null)),
            Some(Bson::Document(document)) => Ok(Some(Bson::Array(
                document
                    .iter()
                    .map(|(key, value)| {
                        let mut pair = Document::new();
                        pair.insert("k", key.clone());
                        pair.insert("v", value.clone());
                        Bson::Document(pair)
                    })
                    .collect(),
            ))),
            Some(other) => Err(error(
                40390,
                format!(
                    "$objectToArray requires a document input, found: {}",
                    type_name(other)
                ),
            )),
        },
        "$setUnion" | "$setIntersection" => {
            let mut arrays = Vec::with_capacity(values.len());
            for value in &values {
                match value {
                    None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
                    Some(Bson::Array(items)) => arrays.push(items),
                    Some(other) => {
                        let code = if op == "$setUnion" { 17043 } else { 17047 };
                        return Err(error(
                            code,
                            format!(
                                "All operands of {op} must be arrays. One argument is of type: {}",
                                type_name(other)
                            ),
                        ));
                    }
                }
            }
            if op == "$setUnion" {
                let mut union = BTreeSet::new();
                for items in arrays {
                    union.extend(items.iter().cloned().map(OrderedBson));
                }
                return Ok(Some(set_to_array(union)));
            }
            let mut arrays = arrays.into_iter();
            let Some(first) = arrays.next() else {
                return Ok(Some(Bson::Array(Vec::new())));
            };
            let mut intersection = distinct(first);
            for items in arrays {
                let other = distinct(items);
                intersection.retain(|value| other.contains(value));
            }
            Ok(Some(set_to_array(intersection)))
        }
        "$setDifference" | "$setIsSubset" => {
            let (first_code, second_code) = if op == "$setDifference" {
                (17048, 17049)
            } else {
                (17310, 17046)
            };
            if op == "$setDifference" && (is_nullish(&values[0]) || is_nullish(&values[1])) {
                return Ok(Some(Bson::Null));
            }
            let Some(Bson::Array(first)) = &values[0] else {
                return Err(error(
                    first_code,
                    format!(
                        "both operands of {op} must be arrays. First argument is of type: {}",
                        value_type(&values[0])
                    ),
                ));
            };
            let Some(Bson::Array(second)) = &values[1] else {
                return Err(error(
                    second_code,
                    format!(
                        "both operands of {op} must be arrays. Second argument is of type: {}",
                        value_type(&values[1])
                    ),
                ));
            };
            let second = distinct(second);
            if op == "$setIsSubset" {
                return Ok(Some(Bson::Boolean(
                    first
                        .iter()
                        .all(|value| second.contains(&OrderedBson(value.clone()))),
                )));
            }
            let mut difference = distinct(first);
            difference.retain(|value| !second.contains(value));
            Ok(Some(set_to_array(difference)))
        }
        "$setEquals" => {
            let mut sets = Vec::with_capacity(values.len());
            for value in &values {
                match value {
                    Some(Bson::Array(items)) => sets.push(distinct(items)),
                    other => {
                        return Err(error(
                            17044,
                            format!(
                                "All operands of $setEquals must be arrays. One argument is of type: {}",
                                value_type(other)
                            ),
                        ))
                    }
                }
            }
            Ok(Some(Bson::Boolean(
                sets.windows(2).all(|pair| pair[0] == pair[1]),
            )))
        }
        "$anyElementTrue" | "$allElementsTrue" => match &values[0] {
            Some(Bson::Array(items)) => Ok(Some(Bson::Boolean(if op == "$anyElementTrue" {
                items.iter().any(|item| is_truthy(Some(item)))
            } else {
                items.iter().all(|item| is_truthy(Some(item)))
            }))),
            other => {
                let code = if op == "$anyElementTrue" {
                    17041
                } else {
                    17040
                };
                Err(error(
                    code,
                    format!(
                        "{op}'s argument must be an array, but is {}",
                        value_type(other)
                    ),
                ))
            }
        },
        _ => Err(super::unknown_operator(op)),
    }
}

fn element_at(items: &[Bson], index: i64) -> Option<Bson> {
    let length = items.len() as i64;
    let position = if index < 0 { length + index } else { index };
    if (0..length).contains(&position) {
        items.get(position as usize).cloned()
    } else {
        None
    }
}

fn slice(values: &[Option<Bson>]) -> CommandResult<Option<Bson>> {
    if values.iter().any(is_nullish) {
        return Ok(Some(Bson::Null));
    }
    let Some(Bson::Array(items)) = &values[0] else {
        return Err(error(
            28724,
            format!(
                "First argument to $slice must be an array, but is of type: {}",
                value_type(&values[0])
            ),
        ));
    };
    let integer_argument = |position: usize, code_type: i32, code_range: i32, ordinal: &str| {
        match &values[position] {
            Some(value) if Number::from_bson(value).is_some() => {
                integral_i32(value).map(i64::from).ok_or_else(|| {
                    error(
                        code_range,
                        format!(
                            "{ordinal} argument to $slice can't be represented as a 32-bit integer: {}",
                            display_value(value)
                        ),
                    )
                })
            }
            other => Err(error(
                code_type,
                format!(
                    "{ordinal} argument to $slice must be numeric, but is of type: {}",
                    value_type(other)
                ),
            )),
        }
    };
    let length = items.len() as i64;
    let (start, count) = if values.len() == 2 {
        let count = integer_argument(1, 28725, 28726, "Second")?;
        if count >= 0 {
            (0, count)
        } else {
            ((length + count).max(0), -count)
        }
    } else {
        let position = integer_argument(1, 28725, 28726, "Second")?;
        let count = integer_argument(2, 28727, 28728, "Third")?;
        if count <= 0 {
            return Err(error(
                28729,
                format!("Third argument to $slice must be positive: {count}"),
            ));
        }
        let start = if position < 0 {
            (length + position).max(0)
        } else {
            position.min(length)
        };
        (start, count)
    };
    Ok(Some(Bson::Array(
        items
            .iter()
            .skip(start as usize)
            .take(count as usize)
            .cloned()
            .collect(),
    )))
}

fn index_of_array(values: &[Option<Bson>]) -> CommandResult<Option<Bson>> {
    if is_nullish(&values[0]) {
        return Ok(Some(Bson::Null));
    }
    let Some(Bson::Array(items)) = &values[0] else {
        return Err(error(
            40090,
            format!(
                "$indexOfArray requires an array as a first argument, found: {}",
                value_type(&values[0])
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
                    format!("$indexOfArray requires a nonnegative {which} index, got: {index}"),
                )),
                None => Err(error(
                    40096,
                    format!(
                        "$indexOfArray requires an integral {which} index, found a value of type: {}, with value: {}",
                        type_name(value),
                        display_value(value)
                    ),
                )),
            },
            Some(other) => Err(error(
                40096,
                format!(
                    "$indexOfArray requires an integral {which} index, found a value of type: {}",
                    value_type(other)
                ),
            )),
        }
    };
    let start = bound(2, "starting")?.unwrap_or(0);
    let end = bound(3, "ending")?.unwrap_or(items.len()).min(items.len());
    let needle = values[1].clone().unwrap_or(Bson::Undefined);
    let found = (start..end).find(|index| bson_equal(&items[*index], &needle));
    Ok(Some(Bson::Int32(found.map_or(-1, |index| index as i32))))
}

/// The most elements `$range` builds; MongoDB bounds the memory it may use the same way.
const MAX_RANGE_ELEMENTS: i64 = 10_000_000;

fn range(values: &[Option<Bson>]) -> CommandResult<Option<Bson>> {
    let argument = |position: usize, name: &str, type_code: i32, range_code: i32| {
        match &values[position] {
            Some(value) if Number::from_bson(value).is_some() => {
                integral_i32(value).map(i64::from).ok_or_else(|| {
                    error(
                        range_code,
                        format!(
                            "$range requires a {name} that can be represented as a 32-bit integer, found value: {}",
                            display_value(value)
                        ),
                    )
                })
            }
            other => Err(error(
                type_code,
                format!(
                    "$range requires a numeric {name}, found value of type: {}",
                    value_type(other)
                ),
            )),
        }
    };
    let start = argument(0, "starting value", 34443, 34444)?;
    let end = argument(1, "ending value", 34445, 34446)?;
    let step = if values.len() > 2 {
        argument(2, "step value", 34447, 34448)?
    } else {
        1
    };
    if step == 0 {
        return Err(error(34449, "$range requires a non-zero step value"));
    }
    let count = if step > 0 {
        (end - start).max(0) / step + i64::from((end - start).max(0) % step != 0)
    } else {
        (start - end).max(0) / -step + i64::from((start - end).max(0) % -step != 0)
    };
    if count > MAX_RANGE_ELEMENTS {
        return Err(error(
            5029600,
            format!("$range would use too much memory ({count} elements) and cannot spill to disk"),
        ));
    }
    let mut output = Vec::with_capacity(count as usize);
    let mut current = start;
    while (step > 0 && current < end) || (step < 0 && current > end) {
        output.push(Bson::Int32(current as i32));
        current += step;
    }
    Ok(Some(Bson::Array(output)))
}

fn array_to_object(value: &Option<Bson>) -> CommandResult<Option<Bson>> {
    let items = match value {
        None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
        Some(Bson::Array(items)) => items,
        Some(other) => {
            return Err(error(
                40386,
                format!(
                    "$arrayToObject requires an array input, found: {}",
                    type_name(other)
                ),
            ))
        }
    };
    let mut output = Document::new();
    let pair_form = matches!(items.first(), Some(Bson::Array(_)));
    for item in items {
        let (key, value) = match item {
            Bson::Array(pair) if pair_form => {
                if pair.len() != 2 {
                    return Err(error(
                        40397,
                        format!(
                            "$arrayToObject requires an array of size 2 arrays,found array of size: {}",
                            pair.len()
                        ),
                    ));
                }
                let Bson::String(key) = &pair[0] else {
                    return Err(error(
                        40395,
                        format!(
                            "$arrayToObject requires an array of key-value pairs, where the key must be of type string. Found key type: {}",
                            type_name(&pair[0])
                        ),
                    ));
                };
                (key.clone(), pair[1].clone())
            }
            Bson::Document(pair) if !pair_form => {
                if pair.len() != 2 {
                    return Err(error(
                        40392,
                        format!(
                            "$arrayToObject requires an object keys of 'k' and 'v'. Found incorrect number of keys:{}",
                            pair.len()
                        ),
                    ));
                }
                let (Some(key), Some(value)) = (pair.get("k"), pair.get("v")) else {
                    return Err(error(
                        40393,
                        "$arrayToObject requires an object with keys 'k' and 'v'. Missing either or both keys from: ".to_string()
                            + &pair.to_string(),
                    ));
                };
                let Bson::String(key) = key else {
                    return Err(error(
                        40394,
                        format!(
                            "$arrayToObject requires an object with keys 'k' and 'v', where the value of 'k' must be of type string. Found type: {}",
                            type_name(key)
                        ),
                    ));
                };
                (key.clone(), value.clone())
            }
            other => {
                return Err(error(
                    40398,
                    format!(
                        "Unrecognised input type format for $arrayToObject: {}",
                        type_name(other)
                    ),
                ))
            }
        };
        if key.contains('\0') {
            return Err(error(
                4940400,
                "Key field cannot contain an embedded null byte",
            ));
        }
        output.insert(key, value);
    }
    Ok(Some(Bson::Document(output)))
}

/// `$sortArray {input, sortBy}`: `sortBy` is 1/-1 (whole values) or a sort document.
pub(super) fn sort_array(args: Vec<Option<Option<Bson>>>) -> CommandResult<Option<Bson>> {
    let input = args[0].clone().flatten();
    let sort_by = args[1].clone().flatten();
    let mut items = match input {
        None | Some(Bson::Null) | Some(Bson::Undefined) => return Ok(Some(Bson::Null)),
        Some(Bson::Array(items)) => items,
        Some(other) => {
            return Err(error(
                2942504,
                format!(
                    "The input argument to $sortArray must be an array, but was of type: {}",
                    type_name(&other)
                ),
            ))
        }
    };
    match sort_by {
        Some(Bson::Document(spec)) => {
            let sort = crate::aggregate::SortSpec::parse(&spec)?;
            items.sort_by(|a, b| match (a, b) {
                (Bson::Document(x), Bson::Document(y)) => sort.compare(x, y),
                _ => compare_bson(a, b),
            });
        }
        Some(direction) if integral(&direction) == Some(1) => items.sort_by(compare_bson),
        Some(direction) if integral(&direction) == Some(-1) => {
            items.sort_by(|a, b| compare_bson(b, a))
        }
        _ => {
            return Err(error(
                2942505,
                "$sortArray requires sortBy to be either 1, -1, or a sort specification",
            ))
        }
    }
    Ok(Some(Bson::Array(items)))
}
