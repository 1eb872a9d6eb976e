//! The platform admins' directory: every user and every organization, narrowed by a filter and
//! read newest first in pages keyed by `_id` (ObjectIds grow with creation time), with the number
//! the filter matches. Only platform admins may read it.

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::TryStreamExt;
use serde::de::DeserializeOwned;

use crate::authorization;
use crate::error::IdentityError;
use crate::organization::{Organization, OrganizationStatus};
use crate::principal::Principal;
use crate::service::IdentityService;
use crate::user::{Role, User, UserStatus};

/// Longest `search` text: a name or e-mail fragment, not a document.
pub const MAX_SEARCH_CHARS: usize = 100;

/// Narrows the user directory; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Only this platform role.
    pub role: Option<Role>,
    /// Only this account status.
    pub status: Option<UserStatus>,
    /// Only users whose e-mail address or name contains this text (any case).
    pub search: Option<String>,
}

/// Narrows the organization directory; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationFilter {
    /// Only this status.
    pub status: Option<OrganizationStatus>,
    /// Only organizations whose name or slug contains this text (any case).
    pub search: Option<String>,
}

/// One page of a directory: newest first, `total_count` the number the filter matches.
pub type DirectoryPage<T> = foundation::KeysetPage<T>;

/// The `$regex` that matches `text` literally, in any case.
fn contains(text: &str) -> Document {
    let mut pattern = String::with_capacity(text.len() * 2);
    for character in text.chars() {
        if "\\.^$|?*+()[]{}".contains(character) {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    doc! { "$regex": pattern, "$options": "i" }
}

/// The search condition over `fields`, or `None` when no search was given; refuses a blank or
/// oversized text.
fn search_condition(
    search: Option<&str>,
    fields: [&str; 2],
) -> Result<Option<Document>, IdentityError> {
    let Some(search) = search else {
        return Ok(None);
    };
    let search = search.trim();
    if search.is_empty() || search.chars().count() > MAX_SEARCH_CHARS {
        return Err(IdentityError::InvalidInput {
            field: "filter.search",
            reason: format!("must have 1 to {MAX_SEARCH_CHARS} characters"),
        });
    }
    Ok(Some(doc! {
        "$or": fields.map(|field| doc! { field: contains(search) }).to_vec()
    }))
}

fn stored_name<T: serde::Serialize>(value: T) -> Result<bson::Bson, IdentityError> {
    Ok(bson::to_bson(&value)?)
}

impl IdentityService {
    /// A page of users matching `filter`, newest first, after the user `after` when given, at
    /// most `limit`. Platform admins only.
    pub async fn list_users(
        &self,
        actor: &Principal,
        filter: &UserFilter,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<DirectoryPage<User>, IdentityError> {
        authorization::require(authorization::can_administer_users(actor), "list users")?;
        let mut conditions = Vec::new();
        if let Some(role) = filter.role {
            conditions.push(doc! { "role": stored_name(role)? });
        }
        if let Some(status) = filter.status {
            conditions.push(doc! { "status": stored_name(status)? });
        }
        if let Some(search) = search_condition(filter.search.as_deref(), ["email", "full_name"])? {
            conditions.push(search);
        }
        self.directory_page(&self.users, conditions, after, limit)
            .await
    }

    /// A page of organizations matching `filter`, newest first, after the organization `after`
    /// when given, at most `limit`. Platform admins only.
    pub async fn list_organizations(
        &self,
        actor: &Principal,
        filter: &OrganizationFilter,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<DirectoryPage<Organization>, IdentityError> {
        authorization::require(
            authorization::can_administer_users(actor),
            "list organizations",
        )?;
        let mut conditions = Vec::new();
        if let Some(status) = filter.status {
            conditions.push(doc! { "status": stored_name(status)? });
        }
        if let Some(search) = search_condition(filter.search.as_deref(), ["name", "slug"])? {
            conditions.push(search);
        }
        self.directory_page(&self.organizations, conditions, after, limit)
            .await
    }

    async fn directory_page<T: DeserializeOwned>(
        &self,
        collection: &mongodb::Collection<Document>,
        conditions: Vec<Document>,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<DirectoryPage<T>, IdentityError> {
        let matching = if conditions.is_empty() {
            doc! {}
        } else {
            doc! { "$and": conditions.clone() }
        };
        let total_count = collection.count_documents(matching.clone()).await?;
        let mut page_conditions = conditions;
        if let Some(after) = after {
            page_conditions.push(doc! { "_id": { "$lt": after } });
        }
        let page_filter = if page_conditions.is_empty() {
            doc! {}
        } else {
            doc! { "$and": page_conditions }
        };
        // One more than asked tells whether a next page exists.
        let documents: Vec<Document> = collection
            .find(page_filter)
            .sort(doc! { "_id": -1 })
            .limit(i64::from(limit) + 1)
            .await?
            .try_collect()
            .await?;
        let has_next_page = documents.len() > limit as usize;
        let items = documents
            .into_iter()
            .take(limit as usize)
            .map(|document| bson::from_document(document).map_err(IdentityError::from))
            .collect::<Result<Vec<T>, _>>()?;
        Ok(DirectoryPage {
            items,
            has_next_page,
            total_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_matches_its_text_literally() {
        let condition = contains("a.b*(c)");
        assert_eq!(condition.get_str("$regex"), Ok("a\\.b\\*\\(c\\)"));
        assert_eq!(condition.get_str("$options"), Ok("i"));
    }

    #[test]
    fn blank_and_oversized_searches_are_refused_naming_the_field() {
        for search in ["   ", &"x".repeat(MAX_SEARCH_CHARS + 1)] {
            assert!(matches!(
                search_condition(Some(search), ["email", "full_name"]),
                Err(IdentityError::InvalidInput {
                    field: "filter.search",
                    ..
                })
            ));
        }
        assert!(search_condition(None, ["email", "full_name"])
            .expect("no search")
            .is_none());
    }
}
