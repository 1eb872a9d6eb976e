//! Stripe's webhook signature scheme, as documented: the `Stripe-Signature` header is a list of
//! `key=value` pairs, `t=<unix seconds>` and one or more `v1=<hex>` (several while a secret is
//! being rolled; other schemes such as `v0` are ignored), where each `v1` is
//! HMAC-SHA256(endpoint secret, `"<t>.<raw body>"`). A delivery is genuine when one `v1` matches,
//! compared in constant time, and fresh when `t` is within the tolerance of now (300 seconds by
//! default, Stripe's own), which bounds replays of a captured delivery.
//!
//! [`verify_signature`] is a pure function: the caller passes "now" (the service's clock), so tests
//! can sign with any time and move the clock.

use std::fmt;
use std::time::Duration;

use bson::DateTime;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// How far a signature's timestamp may be from now (Stripe's libraries use 300 seconds).
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// The signing secret of a webhook endpoint (`whsec_…`). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps the endpoint's signing secret as Stripe shows it (the whole `whsec_…` text is the
    /// HMAC key).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("WebhookSecret(<redacted>)")
    }
}

/// Why a delivery's signature was refused. The messages are safe to send back: they name what is
/// wrong, never the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("missing Stripe-Signature header")]
    Missing,
    /// The header has no timestamp, an unreadable one, or no `v1` signature.
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    /// The timestamp is further from now than the tolerance.
    #[error("stale Stripe-Signature: signed {age_seconds} s from now, tolerance is {tolerance_seconds} s")]
    Stale {
        /// Seconds between the signature's timestamp and now (absolute).
        age_seconds: i64,
        /// The tolerance in force.
        tolerance_seconds: u64,
    },
    /// No `v1` signature matches the body signed with this endpoint's secret.
    #[error("no Stripe-Signature v1 signature matches the payload")]
    NoMatch,
}

/// Checks `header` (the `Stripe-Signature` value, `None` when absent) against the raw `payload`
/// bytes with `secret`, at `now`, allowing `tolerance` of clock difference.
pub fn verify_signature(
    secret: &WebhookSecret,
    header: Option<&str>,
    payload: &[u8],
    now: DateTime,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header
        .map(str::trim)
        .filter(|header| !header.is_empty())
        .ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for pair in header.split(',') {
        let Some((key, value)) = pair.trim().split_once('=') else {
            return Err(SignatureError::Malformed("expected key=value pairs"));
        };
        match key {
            "t" => {
                let seconds = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("the timestamp is not a number"))?;
                timestamp = Some(seconds);
            }
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no t= timestamp"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no v1= signature"));
    }
    let age_seconds = (now.timestamp_millis() / 1_000).saturating_sub(timestamp);
    let tolerance_seconds = tolerance.as_secs();
    if age_seconds.unsigned_abs() > tolerance_seconds {
        return Err(SignatureError::Stale {
            age_seconds: age_seconds.abs(),
            tolerance_seconds,
        });
    }
    let expected = expected_signature(secret, timestamp, payload);
    let matches = signatures.iter().any(|signature| {
        hex::decode(signature)
            .is_ok_and(|signature| foundation::secret::constant_time_eq(&signature, &expected))
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// HMAC-SHA256(secret, "<timestamp>.<payload>").
fn expected_signature(secret: &WebhookSecret, timestamp: i64, payload: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"ping"}"#;

    fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
        hex::encode(expected_signature(
            &WebhookSecret::new(secret),
            timestamp,
            payload,
        ))
    }

    fn at(seconds: i64) -> DateTime {
        DateTime::from_millis(seconds * 1_000)
    }

    fn verify(header: Option<&str>, now: i64) -> Result<(), SignatureError> {
        verify_signature(
            &WebhookSecret::new(SECRET),
            header,
            BODY,
            at(now),
            SIGNATURE_TOLERANCE,
        )
    }

    #[test]
    fn the_signed_text_is_timestamp_dot_body() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_k").unwrap();
        mac.update(b"1.x");
        assert_eq!(
            expected_signature(&WebhookSecret::new("whsec_k"), 1, b"x"),
            mac.finalize().into_bytes().to_vec()
        );
    }

    #[test]
    fn a_fresh_correct_signature_passes_even_among_other_schemes_and_rolled_secrets() {
        let good = sign(SECRET, 1_000, BODY);
        let old = sign("whsec_previous", 1_000, BODY);
        let header = format!("t=1000,v0=deadbeef,v1={old},v1={good}");
        assert_eq!(verify(Some(&header), 1_100), Ok(()));
        assert_eq!(verify(Some(&format!("t=1000, v1={good}")), 700), Ok(()));
    }

    #[test]
    fn missing_malformed_stale_and_foreign_signatures_are_refused() {
        let good = sign(SECRET, 1_000, BODY);
        assert_eq!(verify(None, 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(Some("  "), 1_000), Err(SignatureError::Missing));
        assert!(matches!(
            verify(Some(&format!("v1={good}")), 1_000),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify(Some("t=1000"), 1_000),
            Err(SignatureError::Malformed(_))
        ));
        assert!(matches!(
            verify(Some(&format!("t=soon,v1={good}")), 1_000),
            Err(SignatureError::Malformed(_))
        ));
        assert_eq!(
            verify(Some(&format!("t=1000,v1={good}")), 1_301),
            Err(SignatureError::Stale {
                age_seconds: 301,
                tolerance_seconds: 300
            })
        );
        assert!(matches!(
            verify(Some(&format!("t=1000,v1={good}")), 699),
            Err(SignatureError::Stale { .. })
        ));
        let foreign = sign("whsec_someone_else", 1_000, BODY);
        assert_eq!(
            verify(Some(&format!("t=1000,v1={foreign}")), 1_000),
            Err(SignatureError::NoMatch)
        );
        // The right signature for another timestamp or another body does not match.
        assert_eq!(
            verify(Some(&format!("t=1001,v1={good}")), 1_000),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(
                &WebhookSecret::new(SECRET),
                Some(&format!("t=1000,v1={good}")),
                b"{}",
                at(1_000),
                SIGNATURE_TOLERANCE
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(Some("t=1000,v1=not-hex"), 1_000),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        assert!(!format!("{:?}", WebhookSecret::new(SECRET)).contains("test_secret"));
    }
}
