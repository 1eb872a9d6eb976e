//! Partner API keys: created by an organization's owners or admins with a scope, shown once
//! (`ptk_<random>`), stored as a SHA-256 hash, listed by prefix only, revocable, with
//! `last_used_at` kept. A key authenticates as its organization with exactly its scope.
//!
//! A key acts on its creator's authority, so it is *held* (refused, not deleted) while the
//! creator could not act themselves: removed from the organization or demoted to member,
//! suspended, or erased. Restoring the creator restores the key; revoking is still the way to
//! end it. A key may carry an expiry (at most [`MAX_API_KEY_LIFETIME`] ahead), like GitHub's
//! fine-grained tokens, and lists show who created it.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use foundation::secret::{generate_token, hash_token};
use futures_util::TryStreamExt;
use mongodb::options::FindOptions;
use serde::{Deserialize, Serialize};

use crate::authorization::{self, can_manage_org};
use crate::error::IdentityError;
use crate::organization::{OrganizationRole, OrganizationStatus};
use crate::principal::{ApiKeyPrincipal, Principal};
use crate::service::IdentityService;
use crate::user::{Role, UserStatus};

/// Every raw API key starts with this, so the gateway can tell keys from JWTs and secret scanners
/// can spot leaked keys.
pub const API_KEY_PREFIX: &str = "ptk_";
/// The furthest ahead a key's expiry may be set.
pub const MAX_API_KEY_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(366 * 24 * 60 * 60);
/// Characters of the raw key kept (in clear) to let people recognise a key in lists.
const DISPLAY_PREFIX_LENGTH: usize = 12;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyScope {
    /// Queries only.
    Read,
    /// Queries and mutations.
    ReadWrite,
    /// Queries and schema introspection (for code generators), where the gateway's
    /// introspection policy admits only such keys.
    Introspect,
}

/// A key as listed: never the secret, only its recognisable prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Identifier.
    #[serde(rename = "_id")]
    pub id: ObjectId,
    /// The organization the key acts as.
    pub organization_id: ObjectId,
    /// A label chosen by its creator.
    pub name: String,
    /// The first characters of the raw key, e.g. `ptk_AbCdEfGh`.
    pub prefix: String,
    /// What the key may do.
    pub scope: ApiKeyScope,
    /// Who created it.
    pub created_by_id: ObjectId,
    /// Creation time.
    pub created_at: DateTime,
    /// Last successful authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime>,
    /// When revoked; a revoked key no longer authenticates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime>,
    /// When it stops authenticating on its own; `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime>,
}

/// A newly created key together with its raw value, which is shown this once only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedApiKey {
    /// The stored key.
    pub api_key: ApiKey,
    /// The raw secret (`ptk_...`) to hand to the partner.
    pub raw_key: String,
}

impl IdentityService {
    /// Whether the key's creator could still manage its organization themselves.
    async fn creator_can_act(
        &self,
        api_key: &ApiKey,
        organization: &crate::organization::Organization,
    ) -> Result<bool, IdentityError> {
        let Some(creator) = self.user(api_key.created_by_id).await? else {
            return Ok(false);
        };
        if creator.status == UserStatus::Suspended || creator.deleted_at.is_some() {
            return Ok(false);
        }
        let manages = organization.member(creator.id).is_some_and(|member| {
            matches!(
                member.role,
                OrganizationRole::Owner | OrganizationRole::Admin
            )
        });
        Ok(manages || creator.role == Role::Admin)
    }

    /// Creates a key for an organization; owners and admins only (and platform admins). An
    /// expiry, when given, must be in the future and at most [`MAX_API_KEY_LIFETIME`] ahead.
    pub async fn create_api_key(
        &self,
        actor: &Principal,
        organization_id: ObjectId,
        name: &str,
        scope: ApiKeyScope,
        expires_at: Option<DateTime>,
    ) -> Result<CreatedApiKey, IdentityError> {
        let creator_id = actor.require_user()?.user_id;
        let organization = self
            .organization(organization_id)
            .await?
            .ok_or(IdentityError::OrganizationNotFound)?;
        authorization::require(can_manage_org(actor, &organization), "manage API keys")?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(IdentityError::InvalidInput {
                field: "name",
                reason: "must be 1 to 100 characters".into(),
            });
        }
        let now = self.now();
        if let Some(expires_at) = expires_at {
            let latest = foundation::clock::add_duration(now, MAX_API_KEY_LIFETIME);
            if expires_at <= now || expires_at > latest {
                return Err(IdentityError::InvalidInput {
                    field: "expires_at",
                    reason: "must be in the future and at most 366 days ahead".into(),
                });
            }
        }
        let raw_key = format!("{API_KEY_PREFIX}{}", generate_token());
        let api_key = ApiKey {
            id: ObjectId::new(),
            organization_id,
            name: name.to_owned(),
            prefix: raw_key.chars().take(DISPLAY_PREFIX_LENGTH).collect(),
            scope,
            created_by_id: creator_id,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            expires_at,
        };
        let mut document = bson::to_document(&api_key)?;
        document.insert("key_hash", hash_token(&raw_key));
        self.api_keys.insert_one(document).await?;
        Ok(CreatedApiKey { api_key, raw_key })
    }

    /// The key `key_id` when `actor` may manage its organization's keys (its owners and admins,
    /// platform admins); `None` for anyone else, exactly as for an id that names no key.
    pub async fn api_key_for(
        &self,
        actor: &Principal,
        key_id: ObjectId,
    ) -> Result<Option<ApiKey>, IdentityError> {
        let Some(document) = self.api_keys.find_one(doc! { "_id": key_id }).await? else {
            return Ok(None);
        };
        let key: ApiKey = bson::from_document(document)?;
        let Some(organization) = self.organization(key.organization_id).await? else {
            return Ok(None);
        };
        Ok(can_manage_org(actor, &organization).then_some(key))
    }

    /// The organization's keys, newest first; owners and admins only.
    pub async fn list_api_keys(
        &self,
        actor: &Principal,
        organization_id: ObjectId,
    ) -> Result<Vec<ApiKey>, IdentityError> {
        let organization = self
            .organization(organization_id)
            .await?
            .ok_or(IdentityError::OrganizationNotFound)?;
        authorization::require(can_manage_org(actor, &organization), "manage API keys")?;
        let options = FindOptions::builder()
            .sort(doc! { "created_at": -1 })
            .build();
        let documents: Vec<Document> = self
            .api_keys
            .find(doc! { "organization_id": organization_id })
            .with_options(options)
            .await?
            .try_collect()
            .await?;
        documents
            .into_iter()
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .collect()
    }

    /// Revokes a key; owners and admins of its organization only. Revoking twice is harmless.
    pub async fn revoke_api_key(
        &self,
        actor: &Principal,
        api_key_id: ObjectId,
    ) -> Result<ApiKey, IdentityError> {
        let found = self
            .api_keys
            .find_one(doc! { "_id": api_key_id })
            .await?
            .ok_or(IdentityError::ApiKeyNotFound)?;
        let api_key: ApiKey = bson::from_document(found)?;
        let organization = self
            .organization(api_key.organization_id)
            .await?
            .ok_or(IdentityError::OrganizationNotFound)?;
        authorization::require(can_manage_org(actor, &organization), "manage API keys")?;
        self.api_keys
            .update_one(
                doc! { "_id": api_key_id, "revoked_at": null },
                doc! { "$set": { "revoked_at": self.now() } },
            )
            .await?;
        let updated = self
            .api_keys
            .find_one(doc! { "_id": api_key_id })
            .await?
            .ok_or(IdentityError::ApiKeyNotFound)?;
        Ok(bson::from_document(updated)?)
    }

    /// Authenticates a raw key: it must exist, be neither revoked nor expired, belong to an
    /// organization that is not suspended, and its creator must still be able to manage that
    /// organization (an owner or admin of it, or a platform admin) and not be suspended or
    /// erased. Records `last_used_at`.
    pub async fn authenticate_api_key(&self, raw_key: &str) -> Result<Principal, IdentityError> {
        Ok(self.authenticate_api_key_loaded(raw_key).await?.principal)
    }

    /// [`IdentityService::authenticate_api_key`], also returning the key's organization as the
    /// check read it.
    pub async fn authenticate_api_key_loaded(
        &self,
        raw_key: &str,
    ) -> Result<crate::session::Authentication, IdentityError> {
        let raw_key = raw_key.trim();
        if !raw_key.starts_with(API_KEY_PREFIX) {
            return Err(IdentityError::InvalidApiKey);
        }
        let key_hash = hash_token(raw_key);
        let found = self
            .api_keys
            .find_one(doc! { "key_hash": &key_hash, "revoked_at": null })
            .await?
            .ok_or(IdentityError::InvalidApiKey)?;
        let api_key: ApiKey = bson::from_document(found)?;
        let organization = self
            .organization(api_key.organization_id)
            .await?
            .ok_or(IdentityError::InvalidApiKey)?;
        if organization.status == OrganizationStatus::Suspended {
            return Err(IdentityError::InvalidApiKey);
        }
        let now = self.now();
        if api_key
            .expires_at
            .is_some_and(|expires_at| expires_at <= now)
        {
            return Err(IdentityError::InvalidApiKey);
        }
        if !self.creator_can_act(&api_key, &organization).await? {
            tracing::info!(api_key_id = %api_key.id, "API key held: its creator can no longer act");
            return Err(IdentityError::InvalidApiKey);
        }
        self.api_keys
            .update_one(
                doc! { "_id": api_key.id },
                doc! { "$set": { "last_used_at": self.now() } },
            )
            .await?;
        Ok(crate::session::Authentication {
            principal: Principal::ApiKey(ApiKeyPrincipal {
                api_key_id: api_key.id,
                organization_id: api_key.organization_id,
                scope: api_key.scope,
                plan: organization.plan,
            }),
            user: None,
            organization: Some(organization),
        })
    }
}
