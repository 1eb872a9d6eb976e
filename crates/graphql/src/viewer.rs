//! Who is calling: the [`Viewer`] resolved once per request from the `Authorization` header, and
//! the guards that make each field's requirement visible in its signature.
//!
//! Guards only check who the caller is (signed in, which role, a user rather than a key, a key
//! that may write). Whether the caller may touch a particular object (its own organization, its
//! own session) is decided by the domain crate, which knows the data.

use std::net::IpAddr;

use async_graphql::{Context, Guard};
use identity::{Principal, Role, UserPrincipal};

use crate::error::ApiError;

/// The caller of the current request.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// No credentials were presented.
    Anonymous,
    /// Credentials were presented but are invalid, expired, revoked or belong to a suspended
    /// user; the message is what `UNAUTHENTICATED` errors say.
    Rejected(String),
    /// A signed-in user or a partner API key.
    Authenticated(Principal),
}

impl Viewer {
    /// The authenticated principal, or `UNAUTHENTICATED`.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        match self {
            Viewer::Authenticated(principal) => Ok(principal),
            Viewer::Anonymous => Err(ApiError::Unauthenticated(
                "sign in (or present an API key) to do this".to_string(),
            )),
            Viewer::Rejected(reason) => Err(ApiError::Unauthenticated(reason.clone())),
        }
    }

    /// The signed-in user, `FORBIDDEN` for an API key, `UNAUTHENTICATED` for anyone else.
    pub fn user(&self) -> Result<&UserPrincipal, ApiError> {
        Ok(self.principal()?.require_user()?)
    }

    /// Whether the caller is an API key that may not mutate.
    pub fn is_read_only_key(&self) -> bool {
        matches!(self, Viewer::Authenticated(principal) if !principal.can_write())
    }

    /// Whether a partner API key is calling (not a user, not an anonymous caller).
    pub fn is_api_key(&self) -> bool {
        matches!(self, Viewer::Authenticated(identity::Principal::ApiKey(_)))
    }
}

/// Facts about the HTTP request the resolvers need (throttling, session labels, logs).
#[derive(Debug, Clone)]
pub struct RequestMeta {
    /// The request id echoed in `x-request-id` and in error extensions.
    pub request_id: String,
    /// The caller's address (see the gateway's trusted-proxy rule).
    pub client_ip: IpAddr,
    /// The `User-Agent` header, which labels the session a login creates.
    pub user_agent: Option<String>,
    /// The `Idempotency-Key` header, applied to the request's money-moving mutation.
    pub idempotency_key: Option<String>,
}

/// The viewer of the request in `ctx`; anonymous when the transport set none (SDL export, tests).
pub fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    static ANONYMOUS: Viewer = Viewer::Anonymous;
    ctx.data_opt::<Viewer>().unwrap_or(&ANONYMOUS)
}

/// Requires a signed-in user (an API key is refused).
pub struct SignedInUser;

impl Guard for SignedInUser {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        viewer(ctx).user().map(|_| ()).map_err(Into::into)
    }
}

/// Requires a signed-in user with this platform role.
pub struct HasRole(pub Role);

impl Guard for HasRole {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let user = viewer(ctx).user()?;
        if user.role != self.0 {
            return Err(ApiError::Forbidden(format!(
                "only the {} role may do this",
                self.0.as_str()
            ))
            .into());
        }
        Ok(())
    }
}

/// Requires any credentials: a signed-in user or an API key.
pub struct Authenticated;

impl Guard for Authenticated {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        viewer(ctx).principal().map(|_| ()).map_err(Into::into)
    }
}
