//! Exact money: an integer count of minor units (cents) with its ISO 4217 currency, never a float.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::MoneyError;

/// An ISO 4217 currency code such as `USD`: three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// Validates a currency code.
    pub fn new(code: &str) -> Result<Self, MoneyError> {
        if code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase()) {
            Ok(Self(code.to_owned()))
        } else {
            Err(MoneyError::InvalidCurrency {
                code: code.to_owned(),
            })
        }
    }

    /// US dollars, the only currency of the first release.
    pub fn usd() -> Self {
        Self("USD".to_owned())
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// An amount of money in minor units (for USD, cents). Arithmetic is checked: it fails on
/// overflow or on mixing currencies rather than silently producing a wrong amount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units; may be negative for refunds and adjustments.
    pub amount_minor: i64,
    /// The currency of the amount.
    pub currency: Currency,
}

impl Money {
    /// An amount of `amount_minor` minor units of `currency`.
    pub fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// `self + other`, refusing mixed currencies and overflow.
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency.clone()))
    }

    /// `self - other`, refusing mixed currencies and overflow.
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount_minor
            .checked_sub(other.amount_minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency.clone()))
    }

    /// `self * factor`, refusing overflow (for example a per-tester budget times seats).
    pub fn checked_mul(&self, factor: i64) -> Result<Money, MoneyError> {
        let amount = self
            .amount_minor
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency.clone()))
    }

    /// The share `basis_points / 10_000` of this amount, rounded toward zero, so a fee never
    /// exceeds its exact value. Used for platform fees expressed in basis points.
    pub fn checked_basis_points(&self, basis_points: i64) -> Result<Money, MoneyError> {
        let product = i128::from(self.amount_minor) * i128::from(basis_points);
        let amount = i64::try_from(product / 10_000).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency.clone()))
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.amount_minor < 0
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency.to_string(),
                right: other.currency.to_string(),
            })
        }
    }
}

impl fmt::Display for Money {
    /// Formats as `12.34 USD` assuming two decimal places, which holds for every currency the
    /// platform accepts today.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let magnitude = self.amount_minor.unsigned_abs();
        write!(
            formatter,
            "{sign}{}.{:02} {}",
            magnitude / 100,
            magnitude % 100,
            self.currency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::usd())
    }

    #[test]
    fn adds_and_subtracts_exactly() {
        assert_eq!(usd(1_999).checked_add(&usd(1)).unwrap(), usd(2_000));
        assert_eq!(usd(500).checked_sub(&usd(750)).unwrap(), usd(-250));
        assert_eq!(usd(5_000).checked_mul(3).unwrap(), usd(15_000));
    }

    #[test]
    fn refuses_overflow_and_mixed_currencies() {
        assert_eq!(
            usd(i64::MAX).checked_add(&usd(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(usd(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        let euros = Money::new(1, Currency::new("EUR").unwrap());
        assert_eq!(
            usd(1).checked_add(&euros),
            Err(MoneyError::CurrencyMismatch {
                left: "USD".into(),
                right: "EUR".into()
            })
        );
    }

    #[test]
    fn basis_points_round_toward_zero() {
        assert_eq!(usd(999).checked_basis_points(1_500).unwrap(), usd(149));
        assert_eq!(usd(-999).checked_basis_points(1_500).unwrap(), usd(-149));
    }

    #[test]
    fn currency_codes_are_three_upper_case_letters() {
        assert!(Currency::new("usd").is_err());
        assert!(Currency::new("USDT").is_err());
        assert_eq!(Currency::new("GBP").unwrap().code(), "GBP");
    }

    #[test]
    fn displays_two_decimal_places() {
        assert_eq!(usd(345_000).to_string(), "3450.00 USD");
        assert_eq!(usd(-5).to_string(), "-0.05 USD");
    }
}
