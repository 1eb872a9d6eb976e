//! GraphQL over HTTP (the GraphQL Foundation's specification) at `/graphql`: which requests are
//! well formed, which media type answers, and which status each outcome gets.
//!
//! | Case | Status | Body |
//! | ---- | ------ | ---- |
//! | POST without `Content-Type`, or not `application/json` (form, multipart, `text/plain`) | 415 | JSON error, nothing run |
//! | `Accept` admits neither `application/json` nor `application/graphql-response+json` | 406 | JSON error, nothing run |
//! | body not JSON, `query` missing or not a string, `variables` not an object, `operationName` not a string | 400 | JSON error, no `data` |
//! | request error (parse, validation, variable coercion, a limit, a refused key) with `application/json` | 200 | `errors`, no `data` |
//! | the same with `application/graphql-response+json` | 400 | `errors`, no `data` |
//! | executed (field errors included) | 200 | `data` (maybe `null`) and `errors` |
//! | any error is `RATE_LIMITED` | 429 with `Retry-After` | as above |
//!
//! Every answer that ran through the cost budget (`graphql::cost`) carries the IETF
//! `RateLimit-Policy` and `RateLimit` header fields.
//!
//! Only `application/json` POST bodies are accepted because `text/plain`, form and multipart
//! posts are "simple" requests a cross-site page may send without a CORS preflight.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The media type of GraphQL over HTTP's own response format.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type the response is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/json`: every well-formed request is answered 200.
    Json,
    /// `application/graphql-response+json`: request errors are answered 400.
    GraphqlResponseJson,
}

impl ResponseMedia {
    fn content_type(self) -> &'static str {
        match self {
            ResponseMedia::Json => "application/json",
            ResponseMedia::GraphqlResponseJson => {
                "application/graphql-response+json; charset=utf-8"
            }
        }
    }
}

/// Picks the response media type from `Accept`: the acceptable one with the highest quality,
/// `application/graphql-response+json` on a tie; `*/*`, `application/*` and a missing header
/// get `application/json`. `None` when neither is acceptable (406).
pub fn negotiate(headers: &HeaderMap) -> Option<ResponseMedia> {
    let values: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    if values.iter().all(|value| value.trim().is_empty()) {
        return Some(ResponseMedia::Json);
    }
    let mut best: Option<(f32, ResponseMedia)> = None;
    for range in values.iter().flat_map(|value| value.split(',')) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|parameter| parameter.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if quality <= 0.0 {
            continue;
        }
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => ResponseMedia::GraphqlResponseJson,
            "application/json" | "application/*" | "*/*" => ResponseMedia::Json,
            _ => continue,
        };
        let better = match best {
            None => true,
            Some((best_quality, best_media)) => {
                quality > best_quality
                    || (quality == best_quality
                        && candidate == ResponseMedia::GraphqlResponseJson
                        && best_media == ResponseMedia::Json)
            }
        };
        if better {
            best = Some((quality, candidate));
        }
    }
    best.map(|(_, media)| media)
}

/// Whether the POST body is declared `application/json` (parameters such as `charset` allowed).
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Why a request is not a well-formed GraphQL-over-HTTP request; `field` names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRequest {
    /// The parameter or header at fault (`query`, `variables`, `operationName`, `body`).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn malformed(field: &'static str, message: impl Into<String>) -> MalformedRequest {
    MalformedRequest {
        field,
        message: message.into(),
    }
}

/// Builds the GraphQL request from its parameters as they arrived (JSON values). `query` may be
/// left out only when `extensions.persistedQuery` names the document by hash (APQ).
pub fn graphql_request(
    query: Option<&Value>,
    operation_name: Option<&Value>,
    variables: Option<&Value>,
    extensions: Option<&Value>,
) -> Result<async_graphql::Request, MalformedRequest> {
    let extensions = match extensions {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(object)) => object.clone(),
        Some(_) => return Err(malformed("extensions", "`extensions` must be an object")),
    };
    let query = match query {
        Some(Value::String(query)) => query.clone(),
        Some(_) => return Err(malformed("query", "`query` must be a string")),
        None if extensions.contains_key("persistedQuery") => String::new(),
        None => return Err(malformed("query", "`query` is required")),
    };
    let mut request = async_graphql::Request::new(query);
    for (name, value) in extensions {
        let value = async_graphql::Value::from_json(value).map_err(|_| {
            malformed(
                "extensions",
                "`extensions` holds a value GraphQL cannot carry",
            )
        })?;
        request.extensions.insert(name, value);
    }
    match operation_name {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request = request.operation_name(name.clone()),
        Some(_) => {
            return Err(malformed(
                "operationName",
                "`operationName` must be a string",
            ))
        }
    }
    match variables {
        None | Some(Value::Null) => {}
        Some(object @ Value::Object(_)) => {
            request = request.variables(async_graphql::Variables::from_json(object.clone()));
        }
        Some(_) => return Err(malformed("variables", "`variables` must be an object")),
    }
    Ok(request)
}

/// Parses a POST body: a JSON object with `query`, and optionally `operationName`, `variables`
/// and `extensions`. Batches (arrays) are not accepted.
pub fn parse_post_body(body: &[u8]) -> Result<async_graphql::Request, MalformedRequest> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| malformed("body", format!("the body is not JSON: {error}")))?;
    let Value::Object(object) = value else {
        return Err(malformed(
            "body",
            "the body must be one JSON object (batches are not accepted)",
        ));
    };
    graphql_request(
        object.get("query"),
        object.get("operationName"),
        object.get("variables"),
        object.get("extensions"),
    )
}

/// Parses a GET query string; `variables` and `extensions` are JSON-encoded.
pub fn parse_query_string(query_string: &str) -> Result<async_graphql::Request, MalformedRequest> {
    let pairs: Vec<(String, String)> =
        query_pairs(query_string).map_err(|message| malformed("query", message))?;
    let find = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let variables = match find("variables") {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<Value>(&text)
                .map_err(|_| malformed("variables", "`variables` must be a JSON-encoded object"))?,
        ),
    };
    let extensions =
        match find("extensions") {
            None => None,
            Some(text) => Some(serde_json::from_str::<Value>(&text).map_err(|_| {
                malformed("extensions", "`extensions` must be a JSON-encoded object")
            })?),
        };
    graphql_request(
        find("query").map(Value::String).as_ref(),
        find("operationName").map(Value::String).as_ref(),
        variables.as_ref(),
        extensions.as_ref(),
    )
}

/// Splits `a=1&b=2` into decoded pairs.
fn query_pairs(query_string: &str) -> Result<Vec<(String, String)>, String> {
    let uri: axum::http::Uri = format!("/?{query_string}")
        .parse()
        .map_err(|_| "the query string is malformed".to_string())?;
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map_err(|error| format!("the query string is malformed: {error}"))?;
    Ok(pairs)
}

/// A JSON error answer for a request that never reached GraphQL (no `data` entry).
pub fn refusal(
    status: StatusCode,
    media: ResponseMedia,
    field: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let body = json!({
        "errors": [{
            "message": message,
            "extensions": { "code": "BAD_USER_INPUT", "field": field, "requestId": request_id },
        }],
    });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.content_type()),
        )],
        body.to_string(),
    )
        .into_response()
}

/// Whether the response is a request error: nothing was executed, so there are errors, none of
/// them on a field path, and no data.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// Writes a GraphQL response in `media`, with the status the specification asks for.
pub fn respond(media: ResponseMedia, response: async_graphql::Response) -> Response {
    let request_error = is_request_error(&response);
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| json!({}));
    if request_error {
        if let Some(object) = body.as_object_mut() {
            object.remove("data");
        }
    }
    let retry_after = rate_limited_retry_after(&response);
    let cost = operation_cost(&response);
    let status = if retry_after.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else if request_error && media == ResponseMedia::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut answer = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.content_type()),
        )],
        body.to_string(),
    )
        .into_response();
    if let Some(seconds) = retry_after {
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(cost) = cost {
        // The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers): the policy
        // (quota per window) and what is left of it now.
        let policy = format!("\"cost\";q={};w={}", cost.limit, cost.window_seconds);
        let current = format!("\"cost\";r={};t={}", cost.remaining, cost.reset_seconds);
        for (name, value) in [("ratelimit-policy", policy), ("ratelimit", current)] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                answer.headers_mut().insert(name, value);
            }
        }
    }
    answer
}

/// The numbers of `extensions.cost` (an executed operation) or of a refusal's error.
struct OperationCost {
    limit: u64,
    remaining: u64,
    reset_seconds: u64,
    window_seconds: u64,
}

fn operation_cost(response: &async_graphql::Response) -> Option<OperationCost> {
    let cost = response.extensions.get("cost").or_else(|| {
        response
            .errors
            .iter()
            .filter_map(|error| error.extensions.as_ref())
            .find_map(|extensions| extensions.get("cost"))
    })?;
    let async_graphql::Value::Object(cost) = cost else {
        return None;
    };
    let number = |name: &str| match cost.get(name) {
        Some(async_graphql::Value::Number(number)) => number.as_u64(),
        _ => None,
    };
    Some(OperationCost {
        limit: number("limit")?,
        remaining: number("remaining")?,
        reset_seconds: number("resetSeconds")?,
        window_seconds: number("windowSeconds")?,
    })
}

/// When a response carries a `RATE_LIMITED` error, the seconds its client should wait (the
/// longest any of its errors asks for, at least 1): the answer is then HTTP 429 with
/// `Retry-After`, so clients and proxies that never read GraphQL errors still back off.
pub fn rate_limited_retry_after(response: &async_graphql::Response) -> Option<u64> {
    response
        .errors
        .iter()
        .filter_map(|error| error.extensions.as_ref())
        .filter(|extensions| {
            matches!(extensions.get("code"), Some(async_graphql::Value::String(code)) if code == "RATE_LIMITED")
        })
        .map(|extensions| match extensions.get("retryAfterSeconds") {
            Some(async_graphql::Value::Number(seconds)) => seconds.as_u64().unwrap_or(1).max(1),
            _ => 1,
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("value"));
        headers
    }

    #[test]
    fn accept_negotiation_follows_the_specification() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(ResponseMedia::Json));
        assert_eq!(negotiate(&accept("*/*")), Some(ResponseMedia::Json));
        assert_eq!(
            negotiate(&accept("application/json")),
            Some(ResponseMedia::Json)
        );
        assert_eq!(
            negotiate(&accept(GRAPHQL_RESPONSE_JSON)),
            Some(ResponseMedia::GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(ResponseMedia::GraphqlResponseJson)
        );
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json;q=0.5, application/json"
            )),
            Some(ResponseMedia::Json)
        );
        assert_eq!(negotiate(&accept("text/html")), None);
        assert_eq!(negotiate(&accept("application/json;q=0")), None);
    }

    #[test]
    fn malformed_bodies_name_the_parameter() {
        let field = |body: &str| parse_post_body(body.as_bytes()).err().map(|e| e.field);
        assert_eq!(field("{\"query\":\"{ a }\"}"), None);
        assert_eq!(field("not json"), Some("body"));
        assert_eq!(field("[{\"query\":\"{ a }\"}]"), Some("body"));
        assert_eq!(field("{}"), Some("query"));
        assert_eq!(field("{\"query\":1}"), Some("query"));
        assert_eq!(
            field("{\"query\":\"{ a }\",\"variables\":[1]}"),
            Some("variables")
        );
        assert_eq!(
            field("{\"query\":\"{ a }\",\"operationName\":3}"),
            Some("operationName")
        );
    }

    #[test]
    fn query_strings_decode_json_variables() {
        let request =
            parse_query_string("query=query(%24a%3AInt)%7Bx%7D&variables=%7B%22a%22%3A1%7D")
                .expect("well formed");
        assert_eq!(request.query, "query($a:Int){x}");
        assert!(parse_query_string("variables=%7B%7D").is_err());
        assert!(parse_query_string("query=%7Bx%7D&variables=nope").is_err());
    }
}
