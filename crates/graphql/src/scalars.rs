//! Custom scalars shared by every domain's types.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An instant in UTC, written as RFC 3339 with milliseconds (`2024-02-10T08:15:00.000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub bson::DateTime);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => bson::DateTime::parse_rfc3339_str(text)
                .map(DateTime)
                .map_err(|_| InputValueError::custom("expected an RFC 3339 date-time")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(
            self.0
                .try_to_rfc3339_string()
                .unwrap_or_else(|_| self.0.timestamp_millis().to_string()),
        )
    }
}

impl From<bson::DateTime> for DateTime {
    fn from(value: bson::DateTime) -> Self {
        DateTime(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_is_rfc3339_in_utc() {
        let value = DateTime(bson::DateTime::from_millis(1_707_552_900_000)).to_value();
        assert_eq!(value, Value::String("2024-02-10T08:15:00Z".to_string()));
        let parsed = DateTime::parse(Value::String("2024-02-10T08:15:00Z".into())).expect("parses");
        assert_eq!(parsed.0.timestamp_millis(), 1_707_552_900_000);
    }
}
