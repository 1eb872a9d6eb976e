//! Access tokens: short-lived HS256 JWTs carrying the user id, role, session id and audience. Expiry is
//! checked against the service's [`foundation::Clock`], not the system clock, so tests can move time.

use bson::oid::ObjectId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::IdentityError;
use crate::user::Role;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id (hex ObjectId).
    pub sub: String,
    /// Role at issue time (`client`, `tester`, `admin`).
    pub role: String,
    /// Session (refresh-token family) id (hex ObjectId).
    pub sid: String,
    /// Issuer.
    pub iss: String,
    /// Audience: the API the token is for. Another service sharing the signing secret cannot
    /// pass its tokens off here, nor ours there.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
}

/// What a verified token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    /// The user.
    pub user_id: ObjectId,
    /// The user's role at issue time.
    pub role: Role,
    /// The session that issued it.
    pub session_id: ObjectId,
}

/// Signing and verification keys for access tokens.
#[derive(Clone)]
pub struct AccessTokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for AccessTokenKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AccessTokenKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl AccessTokenKeys {
    /// Keys from the shared HMAC secret, for tokens from `issuer` meant for `audience`.
    pub fn new(secret: &str, issuer: &str, audience: &str) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// Signs a token for `user_id`/`role`/`session_id`, valid from `now_seconds` for `ttl_seconds`.
    pub fn issue(
        &self,
        user_id: ObjectId,
        role: Role,
        session_id: ObjectId,
        now_seconds: i64,
        ttl_seconds: i64,
    ) -> Result<String, IdentityError> {
        let claims = AccessClaims {
            sub: user_id.to_hex(),
            role: role.as_str().to_owned(),
            sid: session_id.to_hex(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now_seconds,
            exp: now_seconds.saturating_add(ttl_seconds),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|error| IdentityError::Internal(format!("access token signing: {error}")))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry (against `now_seconds`, no
    /// leeway).
    pub fn verify(
        &self,
        token: &str,
        now_seconds: i64,
    ) -> Result<VerifiedAccessToken, IdentityError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the injected clock rather than the system time.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|_| IdentityError::InvalidAccessToken)?;
        let claims = data.claims;
        if claims.aud != self.audience || claims.exp <= now_seconds {
            return Err(IdentityError::InvalidAccessToken);
        }
        let user_id =
            ObjectId::parse_str(&claims.sub).map_err(|_| IdentityError::InvalidAccessToken)?;
        let session_id =
            ObjectId::parse_str(&claims.sid).map_err(|_| IdentityError::InvalidAccessToken)?;
        let role = Role::parse(&claims.role).ok_or(IdentityError::InvalidAccessToken)?;
        Ok(VerifiedAccessToken {
            user_id,
            role,
            session_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const AUDIENCE: &str = "peertest-hub/graphql";

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let keys = AccessTokenKeys::new(SECRET, "peertest-hub", AUDIENCE);
        let (user, session) = (ObjectId::new(), ObjectId::new());
        let token = keys.issue(user, Role::Tester, session, 1_000, 900).unwrap();
        let verified = keys.verify(&token, 1_899).unwrap();
        assert_eq!(
            verified,
            VerifiedAccessToken {
                user_id: user,
                role: Role::Tester,
                session_id: session
            }
        );
        assert!(matches!(
            keys.verify(&token, 1_900),
            Err(IdentityError::InvalidAccessToken)
        ));
    }

    #[test]
    fn tokens_signed_with_another_secret_or_issuer_are_refused() {
        let keys = AccessTokenKeys::new(SECRET, "peertest-hub", AUDIENCE);
        let forged = AccessTokenKeys::new(
            "another secret that is long enough!",
            "peertest-hub",
            AUDIENCE,
        )
        .issue(ObjectId::new(), Role::Admin, ObjectId::new(), 1_000, 900)
        .unwrap();
        assert!(keys.verify(&forged, 1_001).is_err());
        let other_issuer = AccessTokenKeys::new(SECRET, "elsewhere", AUDIENCE)
            .issue(ObjectId::new(), Role::Admin, ObjectId::new(), 1_000, 900)
            .unwrap();
        assert!(keys.verify(&other_issuer, 1_001).is_err());
        let other_audience = AccessTokenKeys::new(SECRET, "peertest-hub", "billing-service")
            .issue(ObjectId::new(), Role::Admin, ObjectId::new(), 1_000, 900)
            .unwrap();
        assert!(matches!(
            keys.verify(&other_audience, 1_001),
            Err(IdentityError::InvalidAccessToken)
        ));
        assert!(keys.verify("not.a.jwt", 1_001).is_err());
    }

    #[test]
    fn claims_carry_sub_role_sid_iss_aud_iat_exp() {
        let keys = AccessTokenKeys::new(SECRET, "peertest-hub", AUDIENCE);
        let (user, session) = (ObjectId::new(), ObjectId::new());
        let token = keys.issue(user, Role::Client, session, 5_000, 900).unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_audience(&[AUDIENCE]);
        let claims = jsonwebtoken::decode::<AccessClaims>(
            &token,
            &DecodingKey::from_secret(SECRET.as_bytes()),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(
            claims,
            AccessClaims {
                sub: user.to_hex(),
                role: "client".into(),
                sid: session.to_hex(),
                iss: "peertest-hub".into(),
                aud: AUDIENCE.into(),
                iat: 5_000,
                exp: 5_900
            }
        );
    }
}
