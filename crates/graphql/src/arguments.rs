//! Literal arguments that pass validation but could not be coerced: GraphQL's `Int` is 32-bit,
//! yet async-graphql's validation accepts any 64-bit integer literal for it and only fails when
//! the resolver reads the argument, with an error that has no code. [`check`] (run by
//! `crate::extension` before every field's resolver) checks every literal argument of a field
//! against the field's declared argument types, and refuses one that does not fit as
//! `BAD_USER_INPUT` naming the argument. (Variables are coerced before execution by
//! `crate::variables`; custom scalars check literals during validation with their own `parse`,
//! `crate::scalars`.) So an error without a code reaching `error::finish_response` is always an
//! internal one.

use async_graphql::extensions::{ExtensionContext, ResolveInfo};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{PathSegment, QueryPathNode, QueryPathSegment, ServerResult, Value};

use crate::error::ApiError;

/// Deepest nesting of lists and input objects followed inside one literal.
const MAX_LITERAL_DEPTH: usize = 32;

/// Refuses a field whose literal arguments do not fit their declared types, before its
/// resolver runs (part of [`crate::extension::Gateway`]).
pub(crate) fn check(ctx: &ExtensionContext<'_>, info: &ResolveInfo<'_>) -> ServerResult<()> {
    if info.field.arguments.is_empty() {
        return Ok(());
    }
    let registry = &ctx.schema_env.registry;
    let Some(declared) = registry
        .types
        .get(info.parent_type)
        .and_then(|parent| parent.field_by_name(info.name))
    else {
        return Ok(());
    };
    for (name, value) in &info.field.arguments {
        let Some(argument) = declared.args.get(name.node.as_str()) else {
            continue;
        };
        // Variables inside the literal stand as null here: they are coerced apart.
        let Ok(literal) = value
            .node
            .clone()
            .into_const_with(|_| Ok::<_, std::convert::Infallible>(Value::Null));
        let mut inside = String::new();
        if let Err(message) = literal_fits(registry, &argument.ty, &literal, &mut inside, 0) {
            // Named as the domain's errors name fields: the path inside the argument
            // (`details.budgetPerTester` of `input`), or the argument.
            let field = match inside.strip_prefix('.') {
                Some(inside) => inside.to_string(),
                None => format!("{}{inside}", name.node),
            };
            let error: async_graphql::Error = ApiError::bad_input(field, message).into();
            let mut error = error.into_server_error(value.pos);
            error.path = response_path(info.path_node);
            return Err(error);
        }
    }
    Ok(())
}

/// Whether the literal `value` (which may hold variables: those are coerced elsewhere) fits the
/// type `ty` as far as validation does not check it: every `Int` inside must be 32-bit.
fn literal_fits(
    registry: &Registry,
    ty: &str,
    value: &Value,
    path: &mut String,
    depth: usize,
) -> Result<(), String> {
    use Value as Literal;
    if depth > MAX_LITERAL_DEPTH {
        return Ok(());
    }
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => literal_fits(registry, inner, value, path, depth),
        MetaTypeName::List(element) => match value {
            Literal::List(items) => {
                for (index, item) in items.iter().enumerate() {
                    let before = path.len();
                    path.push_str(&format!("[{index}]"));
                    literal_fits(registry, element, item, path, depth + 1)?;
                    path.truncate(before);
                }
                Ok(())
            }
            // A single value where a list is expected is a list of one (input coercion).
            single => literal_fits(registry, element, single, path, depth + 1),
        },
        MetaTypeName::Named("Int") => match value {
            Literal::Number(number)
                if number.as_i64().is_some_and(|n| i32::try_from(n).is_err()) =>
            {
                Err(format!(
                    "{number} does not fit an Int (from -2147483648 to 2147483647)"
                ))
            }
            _ => Ok(()),
        },
        MetaTypeName::Named(name) => match (registry.types.get(name), value) {
            (Some(MetaType::InputObject { input_fields, .. }), Literal::Object(fields)) => {
                for (field, item) in fields {
                    let Some(declared) = input_fields.get(field.as_str()) else {
                        continue;
                    };
                    let before = path.len();
                    path.push('.');
                    path.push_str(field.as_str());
                    literal_fits(registry, &declared.ty, item, path, depth + 1)?;
                    path.truncate(before);
                }
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

/// The response path of the field at `node`, root first.
fn response_path(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
        .map(|node| match node.segment {
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
            QueryPathSegment::Index(index) => PathSegment::Index(index),
        })
        .collect();
    path.reverse();
    path
}
