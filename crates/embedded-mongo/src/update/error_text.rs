//! How values appear inside update error messages: MongoDB prints BSON elements in its shell-like
//! `toString` form (`a: 1`, `{ b: "x" }`, `[ 1, 2 ]`), and clients match on those messages.

use bson::{Bson, Document};

/// MongoDB's type name for a value, as `$type` and error messages spell it.
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

/// A value in MongoDB's `toString` form.
pub fn render_value(value: &Bson) -> String {
    match value {
        Bson::Double(number) => render_double(*number),
        Bson::String(text) | Bson::Symbol(text) => format!("{text:?}"),
        Bson::Document(document) => render_document(document),
        Bson::Array(items) if items.is_empty() => "[]".to_string(),
        Bson::Array(items) => {
            let parts: Vec<String> = items.iter().map(render_value).collect();
            format!("[ {} ]", parts.join(", "))
        }
        Bson::ObjectId(id) => format!("ObjectId('{id}')"),
        Bson::Boolean(flag) => flag.to_string(),
        Bson::DateTime(date) => format!("new Date({})", date.timestamp_millis()),
        Bson::Null => "null".to_string(),
        Bson::Undefined => "undefined".to_string(),
        Bson::Int32(number) => number.to_string(),
        Bson::Int64(number) => number.to_string(),
        Bson::Decimal128(number) => format!("NumberDecimal(\"{number}\")"),
        Bson::Timestamp(stamp) => format!("Timestamp({}, {})", stamp.time, stamp.increment),
        Bson::RegularExpression(regex) => format!("/{}/{}", regex.pattern, regex.options),
        Bson::MinKey => "MinKey".to_string(),
        Bson::MaxKey => "MaxKey".to_string(),
        other => format!("{other}"),
    }
}

/// A document in MongoDB's `toString` form: `{ a: 1, b: "x" }`.
pub fn render_document(document: &Document) -> String {
    if document.is_empty() {
        return "{}".to_string();
    }
    let parts: Vec<String> = document
        .iter()
        .map(|(key, value)| render_element(key, value))
        .collect();
    format!("{{ {} }}", parts.join(", "))
}

/// One element, `name: value`, as MongoDB prints a `BSONElement`.
pub fn render_element(name: &str, value: &Bson) -> String {
    format!("{name}: {}", render_value(value))
}

/// The document's `_id` element in braces (`{_id: 1}`), which many update errors quote.
pub fn render_id(document: &Document) -> String {
    match document.get("_id") {
        Some(id) => format!("{{{}}}", render_element("_id", id)),
        None => "{}".to_string(),
    }
}

fn render_double(number: f64) -> String {
    if number.is_nan() {
        "nan.0".to_string()
    } else if number.is_infinite() {
        if number > 0.0 { "inf.0" } else { "-inf.0" }.to_string()
    } else if number.fract() == 0.0 && number.abs() < 1e15 {
        format!("{number:.1}")
    } else {
        number.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn elements_render_like_mongodb_to_string() {
        assert_eq!(render_element("a", &Bson::Int32(1)), "a: 1");
        assert_eq!(
            render_element("a", &Bson::Array(vec![Bson::Int32(1), Bson::Int32(2)])),
            "a: [ 1, 2 ]"
        );
        assert_eq!(
            render_value(&Bson::Document(doc! {"b": "x", "c": 2.5})),
            "{ b: \"x\", c: 2.5 }"
        );
        assert_eq!(render_id(&doc! {"_id": 7, "a": 1}), "{_id: 7}");
        assert_eq!(type_name(&Bson::String("x".into())), "string");
    }
}
