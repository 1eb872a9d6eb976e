//! Variable coercion before execution (GraphQL spec, "Coercing Variable Values"): every variable
//! the selected operation declares is checked against its type before any resolver runs, so a
//! wrong value is a request error (no `data`; HTTP 400 under `application/graphql-response+json`)
//! rather than a field error after other fields already ran.
//!
//! async-graphql coerces a variable only when a resolver reads the argument it feeds, and not
//! at all when it feeds nothing. The input types are read once from the schema's own SDL.
//! Custom scalars (`DateTime`, `Cents`) are parsed by the scalar's own `parse`
//! (`scalars::coerce_input`). Because every value is coerced here on every request, a document's
//! validation outcome can be reused whatever its variables (`crate::documents`).

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, OperationDefinition, Type, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{Name, Value as ConstValue, Variables};

/// Deepest nesting of lists and input objects followed inside one variable value.
const MAX_VALUE_DEPTH: usize = 32;

/// The schema's input types, by name.
#[derive(Debug, Default, Clone)]
pub struct InputTypes {
    types: HashMap<String, InputKind>,
}

#[derive(Debug, Clone)]
enum InputKind {
    Scalar,
    Enum(Vec<String>),
    Object(Vec<InputField>),
}

#[derive(Debug, Clone)]
struct InputField {
    name: String,
    ty: Type,
    has_default: bool,
}

/// Why a variable's value does not fit its type; `path` names the variable and where inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoercionError {
    /// `$input.email`, `$ids[2]`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl CoercionError {
    /// The variable's name, without `$`.
    pub fn variable(&self) -> &str {
        let end = self.path.find(['.', '[']).unwrap_or(self.path.len());
        self.path[..end].trim_start_matches('$')
    }

    /// The field as the domain's errors name it: the path inside the variable
    /// (`details.budgetPerTesterCents` for `$input.details.budgetPerTesterCents`), or the
    /// variable's name when the variable itself is wrong.
    pub fn field(&self) -> &str {
        let inner = &self.path[1 + self.variable().len()..];
        match inner.strip_prefix('.') {
            Some(field) => field,
            None if inner.is_empty() => self.variable(),
            None => self.path.trim_start_matches('$'),
        }
    }
}

impl std::fmt::Display for CoercionError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "variable `{}` is invalid: {}",
            self.path, self.message
        )
    }
}

impl InputTypes {
    /// Reads the input types of a schema in SDL. Built-in scalars are always known.
    pub fn from_sdl(sdl: &str) -> InputTypes {
        let mut types = HashMap::new();
        if let Ok(document) = async_graphql::parser::parse_schema(sdl) {
            for definition in document.definitions {
                let TypeSystemDefinition::Type(definition) = definition else {
                    continue;
                };
                let definition = definition.node;
                let kind = match definition.kind {
                    TypeKind::Scalar => InputKind::Scalar,
                    TypeKind::Enum(enumeration) => InputKind::Enum(
                        enumeration
                            .values
                            .iter()
                            .map(|value| value.node.value.node.to_string())
                            .collect(),
                    ),
                    TypeKind::InputObject(object) => InputKind::Object(
                        object
                            .fields
                            .iter()
                            .map(|field| InputField {
                                name: field.node.name.node.to_string(),
                                ty: field.node.ty.node.clone(),
                                has_default: field.node.default_value.is_some(),
                            })
                            .collect(),
                    ),
                    _ => continue,
                };
                types.insert(definition.name.node.to_string(), kind);
            }
        }
        for scalar in ["Int", "Float", "String", "Boolean", "ID"] {
            types.insert(scalar.to_string(), InputKind::Scalar);
        }
        InputTypes { types }
    }

    /// Checks the variables of the operation `document` would run. An operation that cannot be
    /// selected is left to the executor, which reports it.
    pub fn check(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Result<(), CoercionError> {
        let Some(operation) = selected_operation(document, operation_name) else {
            return Ok(());
        };
        for definition in &operation.variable_definitions {
            let definition = &definition.node;
            let name = definition.name.node.as_str();
            let path = format!("${name}");
            let ty = &definition.var_type.node;
            match variables.get(&Name::new(name)) {
                None if definition.default_value.is_some() || ty.nullable => {}
                None => {
                    return Err(CoercionError {
                        path,
                        message: format!("a value of type `{ty}` is required"),
                    })
                }
                Some(value) => self.coerce(value, ty, &path, 0)?,
            }
        }
        Ok(())
    }

    fn coerce(
        &self,
        value: &ConstValue,
        ty: &Type,
        path: &str,
        depth: usize,
    ) -> Result<(), CoercionError> {
        let fail = |message: String| {
            Err(CoercionError {
                path: path.to_string(),
                message,
            })
        };
        if depth > MAX_VALUE_DEPTH {
            return fail(format!("nested deeper than {MAX_VALUE_DEPTH} levels"));
        }
        if matches!(value, ConstValue::Null) {
            return if ty.nullable {
                Ok(())
            } else {
                fail(format!("null is not allowed for `{ty}`"))
            };
        }
        match &ty.base {
            BaseType::List(item) => match value {
                ConstValue::List(items) => {
                    for (index, element) in items.iter().enumerate() {
                        self.coerce(element, item, &format!("{path}[{index}]"), depth + 1)?;
                    }
                    Ok(())
                }
                // A single value where a list is expected is a list of one (input coercion).
                single => self.coerce(single, item, path, depth + 1),
            },
            BaseType::Named(name) => self.coerce_named(value, name.as_str(), path, depth),
        }
    }

    fn coerce_named(
        &self,
        value: &ConstValue,
        type_name: &str,
        path: &str,
        depth: usize,
    ) -> Result<(), CoercionError> {
        let fail = |message: String| {
            Err(CoercionError {
                path: path.to_string(),
                message,
            })
        };
        let Some(kind) = self.types.get(type_name) else {
            // Not an input type of this schema: validation reports the definition itself.
            return Ok(());
        };
        match kind {
            InputKind::Scalar => match (type_name, value) {
                ("Int", ConstValue::Number(number)) => {
                    let fits = number
                        .as_i64()
                        .map(|whole| i32::try_from(whole).is_ok())
                        .or_else(|| {
                            number.as_f64().map(|float| {
                                float.fract() == 0.0
                                    && float >= f64::from(i32::MIN)
                                    && float <= f64::from(i32::MAX)
                            })
                        })
                        .unwrap_or(false);
                    if fits {
                        Ok(())
                    } else {
                        fail(format!(
                            "`Int` is a whole number from {} to {}",
                            i32::MIN,
                            i32::MAX
                        ))
                    }
                }
                ("Float", ConstValue::Number(_))
                | ("String", ConstValue::String(_))
                | ("Boolean", ConstValue::Boolean(_))
                | ("ID", ConstValue::String(_)) => Ok(()),
                ("ID", ConstValue::Number(number)) if number.is_i64() || number.is_u64() => Ok(()),
                ("Int" | "Float" | "String" | "Boolean" | "ID", _) => {
                    fail(format!("expected a value of type `{type_name}`"))
                }
                (_, ConstValue::List(_) | ConstValue::Object(_)) => {
                    fail(format!("`{type_name}` is a scalar, not a list or object"))
                }
                (custom, value) => match crate::scalars::coerce_input(custom, value) {
                    Some(Err(message)) => fail(message),
                    Some(Ok(())) | None => Ok(()),
                },
            },
            InputKind::Enum(values) => match enum_text(value) {
                Some(text) if values.iter().any(|candidate| candidate == text) => Ok(()),
                _ => fail(format!(
                    "expected one of {}: {}",
                    type_name,
                    values.join(", ")
                )),
            },
            InputKind::Object(fields) => {
                let ConstValue::Object(object) = value else {
                    return fail(format!("`{type_name}` is an input object"));
                };
                for key in object.keys() {
                    if !fields.iter().any(|field| field.name == key.as_str()) {
                        return Err(CoercionError {
                            path: format!("{path}.{key}"),
                            message: format!("`{type_name}` has no field `{key}`"),
                        });
                    }
                }
                for field in fields {
                    let field_path = format!("{path}.{}", field.name);
                    match object.get(field.name.as_str()) {
                        None if field.has_default || field.ty.nullable => {}
                        None => {
                            return Err(CoercionError {
                                path: field_path,
                                message: format!("a value of type `{}` is required", field.ty),
                            })
                        }
                        Some(inner) => self.coerce(inner, &field.ty, &field_path, depth + 1)?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// The text of an enum value arriving either as a JSON string or as an enum literal.
fn enum_text(value: &ConstValue) -> Option<&str> {
    match value {
        ConstValue::Enum(name) => Some(name.as_str()),
        ConstValue::String(text) => Some(text),
        _ => None,
    }
}

fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => Some(&operation.node),
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get(&Name::new(name))
            .map(|operation| &operation.node),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        scalar DateTime
        enum Role { CLIENT TESTER }
        input Register { email: String! role: Role! tags: [String!] when: DateTime count: Int = 3 }
        type Query { a: Int }
    "#;

    fn check(query: &str, variables: serde_json::Value) -> Result<(), CoercionError> {
        let types = InputTypes::from_sdl(SDL);
        let document = async_graphql::parser::parse_query(query).expect("parses");
        types.check(&document, None, &Variables::from_json(variables))
    }

    #[test]
    fn values_that_fit_their_types_pass() {
        let query = "query($n: Int!, $r: Register!, $ids: [ID!], $f: Float) { a }";
        let variables = serde_json::json!({
            "n": 7, "ids": ["a", 3], "f": 1,
            "r": { "email": "a@b.c", "role": "TESTER", "tags": "one", "when": "2026-01-01T00:00:00Z" },
        });
        assert_eq!(check(query, variables), Ok(()));
        assert_eq!(
            check("query($n: Int = 1) { a }", serde_json::json!({})),
            Ok(())
        );
    }

    #[test]
    fn wrong_values_name_the_variable_and_where_inside_it() {
        let path = |query: &str, variables: serde_json::Value| {
            check(query, variables).err().map(|error| error.path)
        };
        assert_eq!(
            path("query($n: Int!) { a }", serde_json::json!({ "n": "x" })),
            Some("$n".into())
        );
        assert_eq!(
            path("query($n: Int!) { a }", serde_json::json!({})),
            Some("$n".into())
        );
        assert_eq!(
            path(
                "query($n: Int!) { a }",
                serde_json::json!({ "n": 2_147_483_648_i64 })
            ),
            Some("$n".into())
        );
        assert_eq!(
            path("query($n: Int) { a }", serde_json::json!({ "n": 1.5 })),
            Some("$n".into())
        );
        let register = "query($r: Register!) { a }";
        assert_eq!(
            path(
                register,
                serde_json::json!({ "r": { "email": "a", "role": "OWNER" } })
            ),
            Some("$r.role".into())
        );
        assert_eq!(
            path(register, serde_json::json!({ "r": { "role": "CLIENT" } })),
            Some("$r.email".into())
        );
        assert_eq!(
            path(
                register,
                serde_json::json!({ "r": { "email": "a", "role": "CLIENT", "admin": true } })
            ),
            Some("$r.admin".into())
        );
        assert_eq!(
            path(
                register,
                serde_json::json!({ "r": { "email": "a", "role": "CLIENT", "tags": ["x", null] } })
            ),
            Some("$r.tags[1]".into())
        );
        assert_eq!(
            path(
                register,
                serde_json::json!({ "r": { "email": "a", "role": "CLIENT", "when": [1] } })
            ),
            Some("$r.when".into())
        );
    }

    #[test]
    fn custom_scalars_are_parsed_by_their_own_rules() {
        let register = "query($r: Register!) { a }";
        let when = |value: serde_json::Value| {
            check(
                register,
                serde_json::json!({ "r": { "email": "a", "role": "CLIENT", "when": value } }),
            )
            .err()
            .map(|error| error.path)
        };
        assert_eq!(when(serde_json::json!("2026-01-01T00:00:00Z")), None);
        assert_eq!(
            when(serde_json::json!("next tuesday")),
            Some("$r.when".into())
        );
        assert_eq!(when(serde_json::json!(5)), Some("$r.when".into()));
    }

    #[test]
    fn every_custom_scalar_of_the_schema_is_coerced_before_execution() {
        let sdl = crate::schema_sdl();
        let scalars: Vec<&str> = sdl
            .lines()
            .filter_map(|line| line.strip_prefix("scalar "))
            .map(str::trim)
            .collect();
        assert!(
            scalars.contains(&"Cents"),
            "the SDL lists its scalars: {scalars:?}"
        );
        for name in scalars {
            assert!(
                crate::scalars::coerce_input(name, &ConstValue::Null).is_some(),
                "scalar {name} has no coercion in scalars::coerce_input"
            );
        }
    }
}
