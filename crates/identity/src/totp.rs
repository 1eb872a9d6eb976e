//! Time-based one-time passwords, implemented here from RFC 6238 (TOTP) over RFC 4226 (HOTP) with
//! HMAC-SHA1, 6 digits and 30-second steps: the parameters every authenticator app supports.
//! Implemented with `hmac` + `sha1` rather than a TOTP crate so the few lines that matter are
//! visible and tested against the RFC's own vectors.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per time step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock drift tolerated either side of the current one.
pub const ALLOWED_DRIFT_STEPS: u64 = 1;
/// Secret length in bytes (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, the form authenticator apps expect for secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut output = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0_u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            output.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
    }
    if bits > 0 {
        output.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    output
}

/// Decodes RFC 4648 base32 (upper or lower case, padding and spaces ignored); `None` on any other
/// character. Lets tests and tools turn a displayed secret back into bytes.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut output = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u64 = 0;
    let mut bits = 0_u32;
    for character in text.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let upper = character.to_ascii_uppercase();
        let value = BASE32_ALPHABET
            .iter()
            .position(|&letter| char::from(letter) == upper)?;
        buffer = (buffer << 5) | value as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            output.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(output)
}

/// The HOTP value (RFC 4226 section 5.3) of `secret` at `counter`.
pub fn hotp(secret: &[u8], counter: u64) -> u32 {
    // HMAC accepts keys of any length, so construction cannot fail; fall back to an impossible
    // code rather than panicking should that ever change.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let truncated = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    truncated % 10_u32.pow(DIGITS)
}

/// The time step containing `unix_seconds`.
pub fn time_step(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The 6-digit code for `unix_seconds`, zero-padded.
pub fn code_at(secret: &[u8], unix_seconds: u64) -> String {
    format!("{:06}", hotp(secret, time_step(unix_seconds)))
}

/// Checks `code` against the current step and one step either side. Returns the matching step, so
/// the caller can refuse a code whose step was already used (replay protection).
pub fn verify(secret: &[u8], code: &str, unix_seconds: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let current = time_step(unix_seconds);
    let first = current.saturating_sub(ALLOWED_DRIFT_STEPS);
    (first..=current + ALLOWED_DRIFT_STEPS).find(|&step| {
        let expected = format!("{:06}", hotp(secret, step));
        foundation::secret::constant_time_eq(expected.as_bytes(), code.as_bytes())
    })
}

/// The `otpauth://totp/...` URL that authenticator apps read from a QR code.
pub fn otpauth_url(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent_encode(issuer),
        percent_encode(account),
        base32_encode(secret),
        percent_encode(issuer)
    )
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, value) in expected.into_iter().enumerate() {
            assert_eq!(hotp(RFC_SECRET, counter as u64), value);
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_sha1_vectors() {
        // The RFC lists 8-digit values; the 6-digit code is their last six digits.
        assert_eq!(code_at(RFC_SECRET, 59), "287082");
        assert_eq!(code_at(RFC_SECRET, 1_111_111_109), "081804");
        assert_eq!(code_at(RFC_SECRET, 1_234_567_890), "005924");
        assert_eq!(code_at(RFC_SECRET, 2_000_000_000), "279037");
    }

    #[test]
    fn verify_accepts_one_step_of_drift_and_returns_the_step() {
        let now = 1_234_567_890;
        assert_eq!(
            verify(RFC_SECRET, &code_at(RFC_SECRET, now), now),
            Some(time_step(now))
        );
        assert_eq!(
            verify(RFC_SECRET, &code_at(RFC_SECRET, now - 30), now),
            Some(time_step(now) - 1)
        );
        assert_eq!(
            verify(RFC_SECRET, &code_at(RFC_SECRET, now + 30), now),
            Some(time_step(now) + 1)
        );
        assert_eq!(
            verify(RFC_SECRET, &code_at(RFC_SECRET, now - 90), now),
            None
        );
        assert_eq!(verify(RFC_SECRET, "12345", now), None);
        assert_eq!(verify(RFC_SECRET, "abcdef", now), None);
    }

    #[test]
    fn base32_matches_rfc_4648_vectors_without_padding() {
        assert_eq!(base32_encode(b""), "");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_encode(b"fo"), "MZXQ");
        assert_eq!(base32_encode(b"foo"), "MZXW6");
        assert_eq!(base32_encode(b"foob"), "MZXW6YQ");
        assert_eq!(base32_encode(b"fooba"), "MZXW6YTB");
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn base32_decoding_inverts_encoding() {
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw6ytboi======").unwrap(), b"foobar");
        let secret: Vec<u8> = (0..20).collect();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
        assert_eq!(base32_decode("MZ1"), None);
    }

    #[test]
    fn otpauth_url_encodes_issuer_and_account() {
        assert_eq!(
            otpauth_url("PeerTest Hub", "a+b@x.io", b"foobar"),
            "otpauth://totp/PeerTest%20Hub:a%2Bb%40x.io?secret=MZXW6YTBOI&issuer=PeerTest%20Hub&algorithm=SHA1&digits=6&period=30"
        );
    }
}
