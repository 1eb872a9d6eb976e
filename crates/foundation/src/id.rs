//! Parsing identifiers that arrive as text (GraphQL arguments, token claims) into ObjectIds.

use bson::oid::ObjectId;

use crate::error::IdError;

/// Parses 24 hexadecimal digits into an ObjectId, or says which text was not an id.
pub fn parse_object_id(value: &str) -> Result<ObjectId, IdError> {
    ObjectId::parse_str(value.trim()).map_err(|_| IdError::MalformedObjectId {
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_twenty_four_hex_digits() {
        let id = parse_object_id("65a1b2c3d4e5f6789abcdef0").expect("valid id");
        assert_eq!(id.to_hex(), "65a1b2c3d4e5f6789abcdef0");
    }

    #[test]
    fn rejects_text_that_is_not_an_object_id() {
        assert_eq!(
            parse_object_id("not-an-id"),
            Err(IdError::MalformedObjectId {
                value: "not-an-id".into()
            })
        );
        assert!(parse_object_id("65a1b2c3d4e5f6789abcdef").is_err());
    }
}
