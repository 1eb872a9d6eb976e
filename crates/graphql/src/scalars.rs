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

    /// Exactly what `parse` accepts, so a literal that does not parse fails validation.
    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
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

/// Longest amount accepted as input: 15 digits, below a quadrillion cents, far above any
/// configurable limit and far from where a sum of them could overflow 64 bits.
const MAX_CENTS_DIGITS: usize = 15;

/// An exact amount of US cents.
///
/// Written as a JSON string of decimal digits with an optional leading `-` (`"150000"` is
/// $1,500.00), so every 64-bit amount survives the trip: a GraphQL `Int` is 32-bit and a JSON
/// number loses precision past 2^53. Input takes at most 15 digits and no sign, fraction or
/// exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cents(pub i64);

#[Scalar(name = "Cents")]
impl ScalarType for Cents {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text)
                if !text.is_empty()
                    && text.len() <= MAX_CENTS_DIGITS
                    && text.bytes().all(|byte| byte.is_ascii_digit()) =>
            {
                text.parse::<i64>()
                    .map(Cents)
                    .map_err(|_| InputValueError::custom("expected cents as a string of digits"))
            }
            Value::String(_) => Err(InputValueError::custom(format!(
                "expected cents as a string of 1 to {MAX_CENTS_DIGITS} digits"
            ))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Exactly what `parse` accepts, so a literal that does not parse fails validation.
    fn is_valid(value: &Value) -> bool {
        Self::parse(value.clone()).is_ok()
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// Coerces a variable's value for the custom scalar `name` as its resolver will, so a value that
/// does not parse is refused before execution (`crate::variables`); `None` for other types.
pub fn coerce_input(name: &str, value: &Value) -> Option<Result<(), String>> {
    fn coerce<T: ScalarType + async_graphql::InputType>(value: &Value) -> Result<(), String> {
        <T as ScalarType>::parse(value.clone())
            .map(|_| ())
            .map_err(|error| error.into_server_error(Default::default()).message)
    }
    match name {
        "Cents" => Some(coerce::<Cents>(value)),
        "DateTime" => Some(coerce::<DateTime>(value)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_are_exact_strings_of_digits_at_any_size() {
        assert_eq!(
            Cents(i64::MAX).to_value(),
            Value::String(i64::MAX.to_string())
        );
        assert_eq!(Cents(-250).to_value(), Value::String("-250".into()));
        let parsed = Cents::parse(Value::String("100000000000000".into())).expect("15 digits");
        assert_eq!(parsed, Cents(100_000_000_000_000));
        for refused in [
            "",
            "-1",
            "1.5",
            "1e9",
            " 1",
            "0x10",
            "1000000000000000",
            "9".repeat(40).as_str(),
        ] {
            assert!(
                Cents::parse(Value::String(refused.into())).is_err(),
                "{refused:?}"
            );
        }
        assert!(
            Cents::parse(Value::Number(5.into())).is_err(),
            "numbers are refused"
        );
    }

    #[test]
    fn date_time_is_rfc3339_in_utc() {
        let value = DateTime(bson::DateTime::from_millis(1_707_552_900_000)).to_value();
        assert_eq!(value, Value::String("2024-02-10T08:15:00Z".to_string()));
        let parsed = DateTime::parse(Value::String("2024-02-10T08:15:00Z".into())).expect("parses");
        assert_eq!(parsed.0.timestamp_millis(), 1_707_552_900_000);
    }
}
