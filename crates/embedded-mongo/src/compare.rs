//! BSON's total order and equality as MongoDB defines them: the cross-type canonical order,
//! numeric equivalence across Int32/Int64/Double/Decimal128, and an `Ord` wrapper for keys.

use std::cmp::Ordering;

use bson::{Bson, Document};

/// The canonical rank of a BSON value's type in MongoDB's cross-type sort order.
///
/// Numbers share one rank (so `1`, `1.0` and `NumberLong(1)` compare by value), as do strings
/// and symbols. Missing values are ranked like null by callers that pass `Bson::Null`.
pub fn canonical_type_rank(value: &Bson) -> u8 {
    match value {
        Bson::MinKey => 0,
        Bson::Undefined => 1,
        Bson::Null => 2,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 3,
        Bson::String(_) | Bson::Symbol(_) => 4,
        Bson::Document(_) => 5,
        Bson::Array(_) => 6,
        Bson::Binary(_) => 7,
        Bson::ObjectId(_) => 8,
        Bson::Boolean(_) => 9,
        Bson::DateTime(_) => 10,
        Bson::Timestamp(_) => 11,
        Bson::RegularExpression(_) => 12,
        Bson::DbPointer(_) => 13,
        Bson::JavaScriptCode(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::MaxKey => 16,
    }
}

/// True when the value is one of BSON's numeric types.
pub fn is_number(value: &Bson) -> bool {
    canonical_type_rank(value) == 3
}

/// A numeric value widened for exact comparison.
#[derive(Debug, Clone, Copy)]
enum Number {
    Integer(i64),
    Float(f64),
}

fn as_number(value: &Bson) -> Option<Number> {
    match value {
        Bson::Int32(v) => Some(Number::Integer(i64::from(*v))),
        Bson::Int64(v) => Some(Number::Integer(*v)),
        Bson::Double(v) => Some(Number::Float(*v)),
        Bson::Decimal128(d) => Some(Number::Float(decimal_to_f64(d))),
        _ => None,
    }
}

/// Converts a Decimal128 to the nearest double (exact decimal arithmetic is out of scope).
pub fn decimal_to_f64(value: &bson::Decimal128) -> f64 {
    let text = value.to_string();
    match text.as_str() {
        "NaN" | "-NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        other => other.parse::<f64>().unwrap_or(f64::NAN),
    }
}

/// Compares an integer with a double exactly, without losing precision above 2^53.
/// NaN sorts below every number, as in MongoDB.
fn compare_integer_float(integer: i64, float: f64) -> Ordering {
    if float.is_nan() {
        return Ordering::Greater;
    }
    // 2^63 as f64 is exact; anything at or beyond it is outside i64's range.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if float >= LIMIT {
        return Ordering::Less;
    }
    if float < -LIMIT {
        return Ordering::Greater;
    }
    let whole = float.trunc();
    let whole_int = whole as i64;
    match integer.cmp(&whole_int) {
        Ordering::Equal => {
            let fraction = float - whole;
            if fraction > 0.0 {
                Ordering::Less
            } else if fraction < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        other => other,
    }
}

fn compare_floats(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

fn compare_numbers(a: Number, b: Number) -> Ordering {
    match (a, b) {
        (Number::Integer(x), Number::Integer(y)) => x.cmp(&y),
        (Number::Integer(x), Number::Float(y)) => compare_integer_float(x, y),
        (Number::Float(x), Number::Integer(y)) => compare_integer_float(y, x).reverse(),
        (Number::Float(x), Number::Float(y)) => compare_floats(x, y),
    }
}

/// Compares two BSON values in MongoDB's total order (the order `sort` and indexes use).
///
/// Values of different canonical types order by type rank; numbers compare by value across
/// numeric types; documents compare field by field (type rank, then name, then value); arrays
/// compare element by element. This is the *sort* order, not the query-comparison semantics
/// of `$lt` on arrays, which the matcher layers on top.
pub fn compare_bson(a: &Bson, b: &Bson) -> Ordering {
    let rank_a = canonical_type_rank(a);
    let rank_b = canonical_type_rank(b);
    if rank_a != rank_b {
        return rank_a.cmp(&rank_b);
    }
    match (a, b) {
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => {
            x.as_bytes().cmp(y.as_bytes())
        }
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => compare_arrays(x, y),
        (Bson::Binary(x), Bson::Binary(y)) => x
            .bytes
            .len()
            .cmp(&y.bytes.len())
            .then_with(|| u8::from(x.subtype).cmp(&u8::from(y.subtype)))
            .then_with(|| x.bytes.cmp(&y.bytes)),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => x
            .time
            .cmp(&y.time)
            .then_with(|| x.increment.cmp(&y.increment)),
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .cmp(&y.pattern)
            .then_with(|| x.options.cmp(&y.options)),
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.cmp(y),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x
            .code
            .cmp(&y.code)
            .then_with(|| compare_documents(&x.scope, &y.scope)),
        (Bson::DbPointer(_), Bson::DbPointer(_)) => {
            // DBPointer is deprecated and opaque in the bson crate; compare by its encoding.
            format!("{a:?}").cmp(&format!("{b:?}"))
        }
        _ => match (as_number(a), as_number(b)) {
            (Some(x), Some(y)) => compare_numbers(x, y),
            // MinKey, MaxKey, Null and Undefined are each equal to themselves.
            _ => Ordering::Equal,
        },
    }
}

/// Compares two documents field by field: type rank, then field name, then value.
pub fn compare_documents(a: &Document, b: &Document) -> Ordering {
    let mut left = a.iter();
    let mut right = b.iter();
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((key_a, value_a)), Some((key_b, value_b))) => {
                let order = canonical_type_rank(value_a)
                    .cmp(&canonical_type_rank(value_b))
                    .then_with(|| key_a.as_bytes().cmp(key_b.as_bytes()))
                    .then_with(|| compare_bson(value_a, value_b));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// Compares two arrays element by element; a prefix sorts first.
pub fn compare_arrays(a: &[Bson], b: &[Bson]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let order = compare_bson(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// MongoDB equality: same canonical type and equal under [`compare_bson`]
/// (so `1 == 1.0 == NumberLong(1)`, but `1 != "1"` and `null != missing` is decided by callers).
pub fn bson_equal(a: &Bson, b: &Bson) -> bool {
    compare_bson(a, b) == Ordering::Equal
}

/// A BSON value with MongoDB's total order, usable as a `BTreeMap` key (indexes, `$group`,
/// `distinct`, `$addToSet`). Equal keys are exactly the values MongoDB treats as equal.
#[derive(Debug, Clone)]
pub struct OrderedBson(pub Bson);

impl PartialEq for OrderedBson {
    fn eq(&self, other: &Self) -> bool {
        compare_bson(&self.0, &other.0) == Ordering::Equal
    }
}

impl Eq for OrderedBson {}

impl PartialOrd for OrderedBson {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedBson {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_bson(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{doc, oid::ObjectId, Decimal128};

    #[test]
    fn numbers_of_different_types_compare_by_value() {
        assert!(bson_equal(&Bson::Int32(1), &Bson::Double(1.0)));
        assert!(bson_equal(&Bson::Int64(1), &Bson::Int32(1)));
        let decimal: Decimal128 = "2.5".parse().unwrap();
        assert_eq!(
            compare_bson(&Bson::Decimal128(decimal), &Bson::Int32(2)),
            Ordering::Greater
        );
        assert_eq!(
            compare_bson(&Bson::Int32(2), &Bson::Double(2.5)),
            Ordering::Less
        );
    }

    #[test]
    fn large_integers_compare_exactly_against_doubles() {
        let big = (1_i64 << 53) + 1;
        assert_eq!(
            compare_bson(&Bson::Int64(big), &Bson::Double((1_i64 << 53) as f64)),
            Ordering::Greater
        );
        assert_eq!(
            compare_bson(&Bson::Int64(i64::MAX), &Bson::Double(9.3e18)),
            Ordering::Less
        );
    }

    #[test]
    fn nan_sorts_below_every_number_and_equals_itself() {
        assert_eq!(
            compare_bson(&Bson::Double(f64::NAN), &Bson::Int32(i32::MIN)),
            Ordering::Less
        );
        assert!(bson_equal(&Bson::Double(f64::NAN), &Bson::Double(f64::NAN)));
    }

    #[test]
    fn cross_type_order_follows_the_manual() {
        let ordered = vec![
            Bson::MinKey,
            Bson::Null,
            Bson::Int32(5),
            Bson::String("a".into()),
            Bson::Document(doc! {"a": 1}),
            Bson::Array(vec![Bson::Int32(1)]),
            Bson::ObjectId(ObjectId::new()),
            Bson::Boolean(false),
            Bson::DateTime(bson::DateTime::from_millis(0)),
            Bson::MaxKey,
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare_bson(&pair[0], &pair[1]), Ordering::Less, "{pair:?}");
        }
    }

    #[test]
    fn documents_compare_field_by_field() {
        let a = Bson::Document(doc! {"a": 1, "b": 2});
        let b = Bson::Document(doc! {"a": 1, "b": 3});
        let c = Bson::Document(doc! {"a": 1});
        assert_eq!(compare_bson(&a, &b), Ordering::Less);
        assert_eq!(compare_bson(&c, &a), Ordering::Less);
        assert!(bson_equal(
            &Bson::Document(doc! {"a": 1}),
            &Bson::Document(doc! {"a": 1.0})
        ));
    }

    #[test]
    fn ordered_bson_keys_merge_equal_numbers() {
        let mut set = std::collections::BTreeSet::new();
        set.insert(OrderedBson(Bson::Int32(1)));
        set.insert(OrderedBson(Bson::Double(1.0)));
        set.insert(OrderedBson(Bson::Int64(2)));
        assert_eq!(set.len(), 2);
    }
}
