//! Who is acting: a logged-in user (from an access token) or a partner API key (acting as its
//! organization with its scope). Transports obtain one from
//! [`IdentityService::authenticate_bearer`](crate::IdentityService::authenticate_bearer) and pass it
//! to every operation that needs authorization.

use bson::oid::ObjectId;

use crate::api_key::ApiKeyScope;
use crate::error::IdentityError;
use crate::organization::OrganizationPlan;
use crate::user::Role;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user holding a valid access token.
    User(UserPrincipal),
    /// A partner system holding an organization's API key.
    ApiKey(ApiKeyPrincipal),
}

/// A user authenticated by an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPrincipal {
    /// The user.
    pub user_id: ObjectId,
    /// Their platform role.
    pub role: Role,
    /// The session (refresh-token family) the access token belongs to.
    pub session_id: ObjectId,
}

/// A partner system authenticated by an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyPrincipal {
    /// The key.
    pub api_key_id: ObjectId,
    /// The organization the key acts as.
    pub organization_id: ObjectId,
    /// What the key may do.
    pub scope: ApiKeyScope,
    /// The organization's plan, which sets the key's request budget.
    pub plan: OrganizationPlan,
}

impl Principal {
    /// The acting user, if a user is acting.
    pub fn user_id(&self) -> Option<ObjectId> {
        match self {
            Principal::User(user) => Some(user.user_id),
            Principal::ApiKey(_) => None,
        }
    }

    /// The acting user's role, if a user is acting.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::User(user) => Some(user.role),
            Principal::ApiKey(_) => None,
        }
    }

    /// Whether this caller may perform mutations: users may (subject to per-operation checks);
    /// API keys only with the `read_write` scope.
    pub fn can_write(&self) -> bool {
        match self {
            Principal::User(_) => true,
            Principal::ApiKey(key) => key.scope == ApiKeyScope::ReadWrite,
        }
    }

    /// The user behind this principal, or `Forbidden` for API keys (operations on one's own
    /// account, sessions and two-factor settings need a person).
    pub fn require_user(&self) -> Result<&UserPrincipal, IdentityError> {
        match self {
            Principal::User(user) => Ok(user),
            Principal::ApiKey(_) => Err(IdentityError::Forbidden {
                action: "act on a user account with an API key",
            }),
        }
    }

    /// `Ok` when the caller may mutate; `InsufficientScope` for read-only API keys. Transports
    /// call this before every mutation.
    pub fn require_write(&self) -> Result<(), IdentityError> {
        if self.can_write() {
            Ok(())
        } else {
            Err(IdentityError::InsufficientScope)
        }
    }
}
