//! Sessions and tokens: login, refresh-token rotation with reuse detection, logout, listing and
//! revoking sessions per device, and authenticating bearer tokens.
//!
//! A session is one refresh-token family: created by a login on a device, it holds the hash of the
//! current refresh token and the hashes of every token it rotated away. Presenting a rotated token
//! again means two parties hold the family's tokens, so the whole family is revoked. A session
//! ends `session_max_lifetime` (30 days) after its login however often it is refreshed, and it
//! remembers only the last [`ROTATED_TOKEN_HISTORY`] rotated hashes.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use foundation::clock::add_duration;
use foundation::secret::{generate_token, hash_token};
use futures_util::TryStreamExt;
use mongodb::options::FindOptions;
use serde::Deserialize;

use crate::error::IdentityError;
use crate::organization::Organization;
use crate::principal::{Principal, UserPrincipal};
use crate::rate_limit::{address_or_unknown, Budget};
use crate::service::IdentityService;
use crate::user::{normalize_email, Role, User, UserStatus};

/// How many rotated refresh-token hashes a session remembers for reuse detection. A session
/// rotating more often than this within its lifetime forgets its oldest tokens, which then
/// count as unknown (refused) rather than reused (refused and the family revoked).
pub const ROTATED_TOKEN_HISTORY: i64 = 64;

/// Who a credential authenticates, with the records the check read on the way, for the request
/// to reuse.
#[derive(Debug, Clone)]
pub struct Authentication {
    /// The caller.
    pub principal: Principal,
    /// The signed-in user's record (`None` for an API key).
    pub user: Option<User>,
    /// The organization the caller acts for: the user's, or the API key's.
    pub organization: Option<Organization>,
}

/// Where a request comes from; recorded on sessions and used for throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// A device label chosen by the client (e.g. "Sarah's iPhone").
    pub device: Option<String>,
    /// The HTTP `User-Agent`.
    pub user_agent: Option<String>,
    /// The client's IP address as the gateway sees it.
    pub ip: Option<String>,
}

/// The second factor offered at login by an account with two-factor authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// A 6-digit code from the authenticator app.
    Totp(String),
    /// One of the one-time recovery codes; consumed on use.
    RecoveryCode(String),
}

/// Login input.
#[derive(Debug, Clone)]
pub struct LoginInput {
    /// Email (normalized before lookup).
    pub email: String,
    /// Password.
    pub password: String,
    /// Required when the account has two-factor authentication on.
    pub second_factor: Option<SecondFactor>,
    /// The client, for the session record and throttling.
    pub client: ClientInfo,
}

/// Tokens handed to a client after login or refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTokens {
    /// HS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// When the access token expires.
    pub expires_at: DateTime,
    /// Opaque refresh token; single use, exchanged by `refresh` for a new pair.
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime,
    /// The session (refresh-token family).
    pub session_id: ObjectId,
    /// The logged-in user.
    pub user_id: ObjectId,
}

/// A session as shown to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifier (also the token family id).
    pub id: ObjectId,
    /// Owner.
    pub user_id: ObjectId,
    /// Device label given at login.
    pub device: Option<String>,
    /// User agent at the last use.
    pub user_agent: Option<String>,
    /// IP address at the last use.
    pub ip: Option<String>,
    /// Login time.
    pub created_at: DateTime,
    /// Last login or refresh.
    pub last_used_at: DateTime,
    /// When the current refresh token expires.
    pub expires_at: DateTime,
    /// Whether the session was revoked.
    pub revoked: bool,
    /// Whether this is the session of the asking access token.
    pub current: bool,
}

#[derive(Debug, Deserialize)]
struct StoredSession {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: ObjectId,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    user_agent: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    created_at: DateTime,
    last_used_at: DateTime,
    expires_at: DateTime,
    /// The session's absolute end; absent on sessions stored before it existed.
    #[serde(default)]
    ends_at: Option<DateTime>,
    #[serde(default)]
    revoked: bool,
}

impl StoredSession {
    fn into_session(self, current_session: Option<ObjectId>) -> Session {
        Session {
            current: current_session == Some(self.id),
            id: self.id,
            user_id: self.user_id,
            device: self.device,
            user_agent: self.user_agent,
            ip: self.ip,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            expires_at: self.expires_at,
            revoked: self.revoked,
        }
    }
}

/// The fields of a user that login needs, including secrets.
#[derive(Debug, Deserialize)]
pub(crate) struct Credentials {
    #[serde(rename = "_id")]
    pub(crate) id: ObjectId,
    pub(crate) password_hash: String,
    pub(crate) role: Role,
    pub(crate) status: UserStatus,
    #[serde(default)]
    pub(crate) two_factor_enabled: bool,
}

fn bounded(text: &Option<String>, max: usize) -> Option<String> {
    text.as_ref().map(|value| value.chars().take(max).collect())
}

impl IdentityService {
    /// Logs in with email and password (and a second factor when the account has 2FA). Unknown
    /// email and wrong password both give `InvalidCredentials` after the same argon2 work.
    ///
    /// Before anything is evaluated the attempt is reserved against two budgets (`rate_limit`):
    /// the (account, client address) pair and the client address. A reservation that turns out
    /// not to be a wrong guess is given back, so only failures count; past either limit the
    /// answer is `RateLimited` whatever the password, and concurrent guesses cannot overshoot.
    /// An attacker elsewhere spends their own pair's budget, never the owner's.
    pub async fn login(&self, input: LoginInput) -> Result<AuthTokens, IdentityError> {
        let email =
            normalize_email(&input.email).unwrap_or_else(|_| input.email.trim().to_lowercase());
        // No account has a longer address; the key stays small whatever the client sends.
        let email: String = email.chars().take(254).collect();
        let address = address_or_unknown(input.client.ip.as_deref()).to_owned();
        let limits = self.settings.login_throttle;
        let pair_key = format!("login:{email}|{address}");
        let pair = self
            .reserve_attempt(&Budget {
                key: pair_key.clone(),
                limit: limits.max_failures_per_account_and_address,
                window: limits.window,
            })
            .await?;
        let from_address = match self
            .reserve_attempt(&Budget {
                key: format!("login-address:{address}"),
                limit: limits.max_failures_per_address,
                window: limits.window,
            })
            .await
        {
            Ok(reservation) => reservation,
            Err(error) => {
                self.release_attempt(&pair).await?;
                return Err(error);
            }
        };
        let outcome = self.evaluate_login(&email, &input).await;
        match &outcome {
            Ok(_) => {
                // The owner got in from here: this pair's failures are forgiven. The address
                // only gets this attempt back, so one good password does not refill an
                // attacker's budget against other accounts.
                self.clear_budget(&pair_key).await?;
                self.release_attempt(&from_address).await?;
            }
            Err(IdentityError::InvalidCredentials | IdentityError::InvalidTwoFactorCode) => {
                tracing::info!("login failed; attempt counted");
            }
            Err(_) => {
                // Not a wrong guess (suspended, second factor missing, hashing saturated, a
                // database failure): the attempt does not count.
                self.release_attempt(&pair).await?;
                self.release_attempt(&from_address).await?;
            }
        }
        outcome
    }

    async fn evaluate_login(
        &self,
        email: &str,
        input: &LoginInput,
    ) -> Result<AuthTokens, IdentityError> {
        let stored = self.users.find_one(doc! { "email": email }).await?;
        let credentials: Option<Credentials> = stored.map(bson::from_document).transpose()?;
        let password_ok = self
            .verify_password(
                &input.password,
                credentials
                    .as_ref()
                    .map(|found| found.password_hash.clone()),
            )
            .await?;
        let credentials = match credentials {
            Some(credentials) if password_ok => credentials,
            _ => return Err(IdentityError::InvalidCredentials),
        };
        // Suspension is only revealed to someone who knows the password.
        if credentials.status == UserStatus::Suspended {
            return Err(IdentityError::AccountSuspended);
        }
        if credentials.two_factor_enabled {
            let Some(second_factor) = &input.second_factor else {
                return Err(IdentityError::TwoFactorRequired);
            };
            self.check_second_factor_counted(credentials.id, second_factor)
                .await?;
        }
        let now = self.now();
        self.users
            .update_one(
                doc! { "_id": credentials.id },
                doc! { "$set": { "last_login": now }, "$inc": { "login_count": 1_i64 } },
            )
            .await?;
        tracing::info!(user_id = %credentials.id, "login succeeded");
        self.open_session(credentials.id, credentials.role, &input.client)
            .await
    }

    async fn open_session(
        &self,
        user_id: ObjectId,
        role: Role,
        client: &ClientInfo,
    ) -> Result<AuthTokens, IdentityError> {
        let now = self.now();
        let session_id = ObjectId::new();
        let refresh_token = generate_token();
        let ends_at = add_duration(now, self.settings.session_max_lifetime);
        let refresh_expires_at = add_duration(now, self.settings.refresh_token_ttl).min(ends_at);
        let session = doc! {
            "_id": session_id,
            "family_id": session_id,
            "user_id": user_id,
            "current_token_hash": hash_token(&refresh_token),
            "rotated_token_hashes": [],
            "device": bounded(&client.device, 200),
            "user_agent": bounded(&client.user_agent, 500),
            "ip": bounded(&client.ip, 64),
            "created_at": now,
            "last_used_at": now,
            "expires_at": refresh_expires_at,
            "ends_at": ends_at,
            "revoked": false,
        };
        self.sessions.insert_one(session).await?;
        self.tokens_for(user_id, role, session_id, refresh_token, refresh_expires_at)
    }

    fn tokens_for(
        &self,
        user_id: ObjectId,
        role: Role,
        session_id: ObjectId,
        refresh_token: String,
        refresh_expires_at: DateTime,
    ) -> Result<AuthTokens, IdentityError> {
        let now_seconds = self.now_seconds();
        let ttl = i64::try_from(self.settings.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
        let access_token = self
            .access_tokens
            .issue(user_id, role, session_id, now_seconds, ttl)?;
        Ok(AuthTokens {
            access_token,
            expires_at: DateTime::from_millis(
                now_seconds.saturating_add(ttl).saturating_mul(1_000),
            ),
            refresh_token,
            refresh_expires_at,
            session_id,
            user_id,
        })
    }

    /// Exchanges a refresh token for a new access and refresh token; the presented token is marked
    /// rotated. Presenting an already-rotated token revokes its whole family (`RefreshTokenReused`).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: ClientInfo,
    ) -> Result<AuthTokens, IdentityError> {
        let presented_hash = hash_token(refresh_token.trim());
        let now = self.now();
        let Some(stored) = self
            .sessions
            .find_one(doc! { "current_token_hash": &presented_hash })
            .await?
        else {
            return self.refuse_unknown_refresh_token(&presented_hash).await;
        };
        let session: StoredSession = bson::from_document(stored)?;
        let ends_at = session.ends_at.unwrap_or_else(|| {
            add_duration(session.created_at, self.settings.session_max_lifetime)
        });
        if session.revoked || session.expires_at <= now || ends_at <= now {
            return Err(IdentityError::InvalidRefreshToken);
        }
        let user = self
            .user(session.user_id)
            .await?
            .ok_or(IdentityError::InvalidRefreshToken)?;
        if user.status == UserStatus::Suspended {
            return Err(IdentityError::AccountSuspended);
        }
        let next_token = generate_token();
        // Rotation slides the refresh token's expiry, never the session's end.
        let refresh_expires_at = add_duration(now, self.settings.refresh_token_ttl).min(ends_at);
        let mut sets = doc! {
            "current_token_hash": hash_token(&next_token),
            "last_used_at": now,
            "expires_at": refresh_expires_at,
        };
        if client.ip.is_some() {
            sets.insert("ip", bounded(&client.ip, 64));
        }
        if client.user_agent.is_some() {
            sets.insert("user_agent", bounded(&client.user_agent, 500));
        }
        // Compare-and-set on the current hash: of two concurrent refreshes with the same token only
        // one rotates; the other sees a rotated token, which is exactly the reuse case.
        let rotated = self
            .sessions
            .update_one(
                doc! { "_id": session.id, "current_token_hash": &presented_hash, "revoked": false },
                doc! { "$set": sets, "$push": { "rotated_token_hashes": {
                    "$each": [&presented_hash],
                    "$slice": -ROTATED_TOKEN_HISTORY,
                } } },
            )
            .await?;
        if rotated.matched_count == 0 {
            self.revoke_family(session.id, "refresh_token_reused")
                .await?;
            return Err(IdentityError::RefreshTokenReused);
        }
        self.tokens_for(
            user.id,
            user.role,
            session.id,
            next_token,
            refresh_expires_at,
        )
    }

    async fn refuse_unknown_refresh_token(
        &self,
        presented_hash: &str,
    ) -> Result<AuthTokens, IdentityError> {
        let reused = self
            .sessions
            .find_one(doc! { "rotated_token_hashes": presented_hash })
            .await?;
        match reused {
            Some(document) => {
                let session: StoredSession = bson::from_document(document)?;
                self.revoke_family(session.id, "refresh_token_reused")
                    .await?;
                tracing::warn!(session_id = %session.id, user_id = %session.user_id, "rotated refresh token reused; family revoked");
                Err(IdentityError::RefreshTokenReused)
            }
            None => Err(IdentityError::InvalidRefreshToken),
        }
    }

    async fn revoke_family(&self, session_id: ObjectId, reason: &str) -> Result<(), IdentityError> {
        self.sessions
            .update_one(
                doc! { "_id": session_id, "revoked": false },
                doc! { "$set": { "revoked": true, "revoked_at": self.now(), "revoked_reason": reason } },
            )
            .await?;
        Ok(())
    }

    /// Revokes every live session of `user_id` (password reset, suspension).
    pub(crate) async fn revoke_all_sessions(
        &self,
        user_id: ObjectId,
        reason: &str,
    ) -> Result<u64, IdentityError> {
        let result = self
            .sessions
            .update_many(
                doc! { "user_id": user_id, "revoked": false },
                doc! { "$set": { "revoked": true, "revoked_at": self.now(), "revoked_reason": reason } },
            )
            .await?;
        Ok(result.modified_count)
    }

    /// Logs out: revokes the session of the caller's access token.
    pub async fn logout(&self, actor: &Principal) -> Result<(), IdentityError> {
        let user = actor.require_user()?;
        self.revoke_family(user.session_id, "logout").await
    }

    /// The caller's live sessions (one per device login), most recently used first.
    pub async fn list_sessions(&self, actor: &Principal) -> Result<Vec<Session>, IdentityError> {
        let user = actor.require_user()?;
        let options = FindOptions::builder()
            .sort(doc! { "last_used_at": -1 })
            .build();
        let documents: Vec<Document> = self
            .sessions
            .find(doc! { "user_id": user.user_id, "revoked": false, "expires_at": { "$gt": self.now() } })
            .with_options(options)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| {
                let stored: StoredSession = bson::from_document(document)?;
                Ok(stored.into_session(Some(user.session_id)))
            })
            .collect()
    }

    /// Revokes one of the caller's sessions (e.g. a lost phone). `SessionNotFound` if it is not theirs.
    pub async fn revoke_session(
        &self,
        actor: &Principal,
        session_id: ObjectId,
    ) -> Result<(), IdentityError> {
        let user = actor.require_user()?;
        let result = self
            .sessions
            .update_one(
                doc! { "_id": session_id, "user_id": user.user_id },
                doc! { "$set": { "revoked": true, "revoked_at": self.now(), "revoked_reason": "revoked_by_user" } },
            )
            .await?;
        if result.matched_count == 0 {
            return Err(IdentityError::SessionNotFound);
        }
        Ok(())
    }

    /// Verifies an access token and checks that its session is live and its user not suspended.
    /// The returned role is the user's current role.
    pub async fn authenticate_access_token(&self, token: &str) -> Result<Principal, IdentityError> {
        Ok(self
            .authenticate_access_token_loaded(token)
            .await?
            .principal)
    }

    /// [`IdentityService::authenticate_access_token`], also returning the user record and their
    /// organization as it read them, so the request that follows need not read them again. The
    /// session, the user and the organization are one command: an aggregation from the session
    /// that looks up the other two.
    pub async fn authenticate_access_token_loaded(
        &self,
        token: &str,
    ) -> Result<Authentication, IdentityError> {
        let verified = self
            .access_tokens
            .verify(token.trim(), self.now_seconds())?;
        let pipeline = vec![
            doc! { "$match": {
                "_id": verified.session_id, "user_id": verified.user_id, "revoked": false,
            } },
            doc! { "$limit": 1 },
            doc! { "$lookup": {
                "from": crate::collections::USERS, "localField": "user_id",
                "foreignField": "_id", "as": "user",
            } },
            doc! { "$lookup": {
                "from": crate::collections::ORGANIZATIONS, "localField": "user.organization_id",
                "foreignField": "_id", "as": "organization",
            } },
            doc! { "$project": { "_id": 0, "user": 1, "organization": 1 } },
        ];
        let Some(found) = self.sessions.aggregate(pipeline).await?.try_next().await? else {
            return Err(IdentityError::SessionRevoked);
        };
        let first = |field: &str| -> Option<Document> {
            match found.get_array(field) {
                Ok(array) => array.first().and_then(|value| value.as_document()).cloned(),
                Err(_) => None,
            }
        };
        let user: User =
            bson::from_document(first("user").ok_or(IdentityError::InvalidAccessToken)?)?;
        if user.status == UserStatus::Suspended {
            return Err(IdentityError::AccountSuspended);
        }
        let organization = first("organization")
            .map(bson::from_document::<Organization>)
            .transpose()?;
        let principal = Principal::User(UserPrincipal {
            user_id: user.id,
            role: user.role,
            session_id: verified.session_id,
        });
        Ok(Authentication {
            principal,
            user: Some(user),
            organization,
        })
    }

    /// Authenticates the value of an `Authorization: Bearer` header: partner API keys start with
    /// `ptk_`, anything else is treated as an access token.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Principal, IdentityError> {
        Ok(self.authenticate_bearer_loaded(token).await?.principal)
    }

    /// [`IdentityService::authenticate_bearer`], also returning the records authentication read
    /// (the signed-in user, or none for an API key; the organization acted for).
    pub async fn authenticate_bearer_loaded(
        &self,
        token: &str,
    ) -> Result<Authentication, IdentityError> {
        let token = token.trim();
        if token.starts_with(crate::api_key::API_KEY_PREFIX) {
            self.authenticate_api_key_loaded(token).await
        } else {
            self.authenticate_access_token_loaded(token).await
        }
    }
}
