//! The collections this crate owns, with the seed's indexes and validators (seed 000, sections 1
//! and 11) plus the collections identity adds: `sessions`, `api_keys`, `outbox`, `rate_limits`,
//! `organization_invitations`.

use std::time::Duration;

use bson::{doc, Document};
use foundation::CollectionSpec;
use mongodb::options::IndexOptions;
use mongodb::IndexModel;

/// Accounts (seed section 1).
pub const USERS: &str = "users";
/// Organizations (seed section 11).
pub const ORGANIZATIONS: &str = "organizations";
/// Refresh-token families, one per login on a device.
pub const SESSIONS: &str = "sessions";
/// Partner API keys (hashed).
pub const API_KEYS: &str = "api_keys";
/// Emails waiting for delivery by the notifications domain.
pub const OUTBOX: &str = "outbox";
/// Invitations to join an organization (`invitation`).
pub const ORGANIZATION_INVITATIONS: &str = "organization_invitations";
/// Request budgets (login guesses, second-factor codes, registrations, reset e-mails), one
/// document per key and window (`rate_limit`).
pub const RATE_LIMITS: &str = "rate_limits";

/// Sessions are kept this long after they expire, so a late replay of a rotated token is still
/// recognised as reuse rather than as an unknown token.
const SESSION_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Budgets are kept one day after their window started; every window is far shorter.
const RATE_LIMIT_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

fn index(keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).build()
}

fn index_with(keys: Document, options: IndexOptions) -> IndexModel {
    IndexModel::builder().keys(keys).options(options).build()
}

fn unique() -> IndexOptions {
    IndexOptions::builder().unique(true).build()
}

fn sparse() -> IndexOptions {
    IndexOptions::builder().sparse(true).build()
}

fn expire_after(duration: Duration) -> IndexOptions {
    IndexOptions::builder().expire_after(duration).build()
}

/// The users validator exactly as the seed defines it.
pub fn users_validator() -> Document {
    doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["email", "password_hash", "full_name", "role", "status"],
            "properties": {
                "email": {
                    "bsonType": "string",
                    "pattern": "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$"
                },
                "role": { "enum": ["client", "tester", "admin"] },
                "status": { "enum": ["active", "suspended", "pending_verification"] }
            }
        }
    }
}

/// The organizations validator. The seed gives none; this one guards the invariants the service
/// relies on: a slug of lower-case letters, digits and dashes, known plan and status, and
/// non-negative limits and usage counters.
pub fn organizations_validator() -> Document {
    doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["name", "slug", "plan", "status", "limits", "usage", "created_by_id"],
            "properties": {
                "name": { "bsonType": "string", "minLength": 1, "maxLength": 200 },
                "slug": { "bsonType": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$" },
                "plan": { "enum": ["team", "enterprise"] },
                "status": { "enum": ["active", "suspended", "trial"] },
                "limits": {
                    "bsonType": "object",
                    "required": ["max_members", "max_concurrent_jobs", "max_projects"],
                    "properties": {
                        "max_members": { "bsonType": ["int", "long"], "minimum": 1 },
                        "max_concurrent_jobs": { "bsonType": ["int", "long"], "minimum": 0 },
                        "max_projects": { "bsonType": ["int", "long"], "minimum": 0 }
                    }
                },
                "usage": {
                    "bsonType": "object",
                    "required": ["member_count", "active_jobs_count", "projects_count"],
                    "properties": {
                        "member_count": { "bsonType": ["int", "long"], "minimum": 0 },
                        "active_jobs_count": { "bsonType": ["int", "long"], "minimum": 0 },
                        "projects_count": { "bsonType": ["int", "long"], "minimum": 0 }
                    }
                },
                "created_by_id": { "bsonType": "objectId" }
            }
        }
    }
}

/// The invitations validator: the fields the lifecycle relies on, with their closed sets.
pub fn organization_invitations_validator() -> Document {
    doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["organization_id", "email", "role", "status", "token_hash", "invited_by_id", "created_at", "expires_at"],
            "properties": {
                "organization_id": { "bsonType": "objectId" },
                "email": { "bsonType": "string", "minLength": 3, "maxLength": 254 },
                "role": { "enum": ["owner", "admin", "member"] },
                "status": { "enum": ["pending", "accepted", "declined", "revoked"] },
                "token_hash": { "bsonType": "string", "minLength": 64, "maxLength": 64 },
                "invited_by_id": { "bsonType": "objectId" },
                "created_at": { "bsonType": "date" },
                "expires_at": { "bsonType": "date" }
            }
        }
    }
}

/// Every owned collection.
pub fn specs() -> Vec<CollectionSpec> {
    vec![
        CollectionSpec::new(USERS)
            .validator(users_validator())
            .index(index_with(doc! { "email": 1 }, unique()))
            .index(index(doc! { "role": 1, "status": 1 }))
            .index(index(doc! { "organization_id": 1 }))
            .index(index(doc! { "tester_data.qualification_status": 1 }))
            .index(index(doc! { "tester_data.specializations": 1 }))
            .index(index(doc! { "created_at": -1 }))
            .index(index_with(doc! { "email_verification_token": 1 }, sparse()))
            .index(index_with(doc! { "password_reset_token": 1 }, sparse()))
            // One payout account belongs to one tester; found by id for account.updated.
            .index(index_with(
                doc! { "tester_data.stripe_connect_id": 1 },
                IndexOptions::builder().unique(true).sparse(true).build(),
            )),
        CollectionSpec::new(ORGANIZATIONS)
            .validator(organizations_validator())
            .index(index_with(doc! { "slug": 1 }, unique()))
            .index(index(doc! { "status": 1 }))
            .index(index(doc! { "created_by_id": 1 }))
            .index(index(doc! { "members.user_id": 1 })),
        CollectionSpec::new(SESSIONS)
            .index(index(doc! { "user_id": 1, "revoked": 1 }))
            .index(index_with(doc! { "current_token_hash": 1 }, unique()))
            .index(index(doc! { "rotated_token_hashes": 1 }))
            .index(index_with(
                doc! { "expires_at": 1 },
                expire_after(SESSION_RETENTION),
            )),
        CollectionSpec::new(API_KEYS)
            .index(index_with(doc! { "key_hash": 1 }, unique()))
            .index(index(doc! { "organization_id": 1, "created_at": -1 })),
        CollectionSpec::new(OUTBOX)
            .index(index(doc! { "status": 1, "created_at": 1 }))
            .index(index(doc! { "user_id": 1, "created_at": -1 }))
            // A message whose link expired is useless and must not linger.
            .index(index_with(
                doc! { "expires_at": 1 },
                expire_after(Duration::ZERO),
            )),
        CollectionSpec::new(ORGANIZATION_INVITATIONS)
            .validator(organization_invitations_validator())
            // One pending invitation per (organization, address): a repeat invite refreshes it.
            .index(index_with(
                doc! { "organization_id": 1, "email": 1 },
                IndexOptions::builder()
                    .unique(true)
                    .partial_filter_expression(doc! { "status": "pending" })
                    .build(),
            ))
            .index(index_with(doc! { "token_hash": 1 }, unique()))
            .index(index(doc! { "email": 1, "status": 1, "created_at": -1 }))
            .index(index(
                doc! { "organization_id": 1, "status": 1, "created_at": -1 },
            )),
        CollectionSpec::new(RATE_LIMITS).index(index_with(
            doc! { "window_start": 1 },
            expire_after(RATE_LIMIT_RETENTION),
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_spec_has_the_seed_indexes_and_validator() {
        let specs = specs();
        let users = specs.iter().find(|spec| spec.name == USERS).unwrap();
        assert_eq!(users.indexes.len(), 9);
        let payout_account = users
            .indexes
            .iter()
            .find(|index| index.keys == doc! { "tester_data.stripe_connect_id": 1 })
            .expect("the payout account index");
        let options = payout_account.options.as_ref().expect("options");
        assert_eq!(
            (options.unique, options.sparse),
            (Some(true), Some(true)),
            "one payout account belongs to one tester"
        );
        assert_eq!(users.indexes[0].keys, doc! { "email": 1 });
        assert_eq!(
            users.indexes[0]
                .options
                .as_ref()
                .and_then(|options| options.unique),
            Some(true)
        );
        let schema = users
            .validator
            .as_ref()
            .unwrap()
            .get_document("$jsonSchema")
            .unwrap();
        assert_eq!(
            schema.get_array("required").unwrap(),
            &vec![
                "email".into(),
                "password_hash".into(),
                "full_name".into(),
                "role".into(),
                "status".into()
            ]
        );
    }

    #[test]
    fn one_pending_invitation_per_organization_and_address_is_a_unique_partial_index() {
        let specs = specs();
        let invitations = specs
            .iter()
            .find(|spec| spec.name == ORGANIZATION_INVITATIONS)
            .expect("the invitations spec");
        let pending = invitations
            .indexes
            .iter()
            .find(|index| index.keys == doc! { "organization_id": 1, "email": 1 })
            .and_then(|index| index.options.as_ref())
            .expect("the pending-invitation index");
        assert_eq!(pending.unique, Some(true));
        assert_eq!(
            pending.partial_filter_expression,
            Some(doc! { "status": "pending" }),
            "answered invitations do not block a new one"
        );
        let token = invitations
            .indexes
            .iter()
            .find(|index| index.keys == doc! { "token_hash": 1 })
            .and_then(|index| index.options.as_ref())
            .expect("the token index");
        assert_eq!(token.unique, Some(true));
        assert!(invitations.validator.is_some());
    }

    #[test]
    fn every_owned_collection_has_a_spec() {
        let names: Vec<String> = specs().into_iter().map(|spec| spec.name).collect();
        assert_eq!(
            names,
            [
                USERS,
                ORGANIZATIONS,
                SESSIONS,
                API_KEYS,
                OUTBOX,
                ORGANIZATION_INVITATIONS,
                RATE_LIMITS
            ]
        );
    }
}
