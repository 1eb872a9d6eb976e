//! What the marketplace accepts as text and lists: every free-text field has a length, every
//! list a size, every link a scheme. Checked before anything is written, so a bad value is a
//! `BAD_USER_INPUT` naming the field rather than a database validator's rejection.

use crate::error::MarketplaceError;

/// Names (projects, templates).
pub const MAX_NAME_CHARS: usize = 200;
/// Descriptions and short instructions.
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;
/// Scenarios, prompts and step texts.
pub const MAX_LONG_TEXT_CHARS: usize = 20_000;
/// Links.
pub const MAX_URL_CHARS: usize = 2_048;
/// Items of a target list (devices, browsers, operating systems).
pub const MAX_TARGETS: usize = 50;
/// One item of a target list.
pub const MAX_LABEL_CHARS: usize = 100;
/// Steps of a template.
pub const MAX_TEMPLATE_STEPS: usize = 100;
/// Variables of a template.
pub const MAX_TEMPLATE_VARIABLES: usize = 50;

fn invalid(field: &'static str, reason: impl Into<String>) -> MarketplaceError {
    MarketplaceError::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// A closed-set value given as input: the `Other` variant that stands for stored values this
/// version does not know is refused (`is_other`).
pub fn known(field: &'static str, is_other: bool) -> Result<(), MarketplaceError> {
    if is_other {
        return Err(invalid(
            field,
            "OTHER only reports stored values this version does not know; choose a listed value",
        ));
    }
    Ok(())
}

/// A text of at most `max_chars` characters; `required` ones must have a non-blank character.
pub fn text(
    field: &'static str,
    value: &str,
    required: bool,
    max_chars: usize,
) -> Result<(), MarketplaceError> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(invalid(field, format!("at most {max_chars} characters")));
    }
    Ok(())
}

/// A list of at most `max_items` non-blank labels of at most `MAX_LABEL_CHARS` each.
pub fn labels(
    field: &'static str,
    items: &[String],
    max_items: usize,
) -> Result<(), MarketplaceError> {
    if items.len() > max_items {
        return Err(invalid(field, format!("at most {max_items} items")));
    }
    for item in items {
        text(field, item, true, MAX_LABEL_CHARS)?;
    }
    Ok(())
}

/// An `http` or `https` link with a host, at most `MAX_URL_CHARS`; empty is allowed unless
/// `required`.
pub fn web_url(field: &'static str, value: &str, required: bool) -> Result<(), MarketplaceError> {
    if value.is_empty() && !required {
        return Ok(());
    }
    text(field, value, true, MAX_URL_CHARS)?;
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| invalid(field, "must be an http:// or https:// link"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(field, "must be a link with a host and no spaces"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(result: Result<(), MarketplaceError>) -> Option<&'static str> {
        match result {
            Err(MarketplaceError::InvalidInput { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn empty_huge_and_malformed_values_name_their_field() {
        assert_eq!(field_of(text("name", "  ", true, 10)), Some("name"));
        assert_eq!(
            field_of(text("name", &"x".repeat(11), true, 10)),
            Some("name")
        );
        assert_eq!(field_of(text("description", "", false, 10)), None);
        assert_eq!(
            field_of(web_url("url", "javascript:alert(1)", true)),
            Some("url")
        );
        assert_eq!(field_of(web_url("url", "https://", true)), Some("url"));
        assert_eq!(
            field_of(web_url("url", "https://a b.io", true)),
            Some("url")
        );
        assert_eq!(
            field_of(web_url("url", "https://shop.example.com/x?y", true)),
            None
        );
        assert_eq!(field_of(web_url("url", "", false)), None);
        let many = vec!["chrome".to_string(); MAX_TARGETS + 1];
        assert_eq!(
            field_of(labels("target_browsers", &many, MAX_TARGETS)),
            Some("target_browsers")
        );
        assert_eq!(
            field_of(labels("target_os", &[String::new()], MAX_TARGETS)),
            Some("target_os")
        );
    }
}
