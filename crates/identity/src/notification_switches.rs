//! A user's notification switches: every boolean of `users.notification_preferences`, the seed's
//! fields (`email_new_job`, `in_app_notifications`, ...) and the per-type, per-channel ones the
//! notifications domain adds beside them (`email_<type>`, `in_app_<type>`).
//!
//! Identity stores them and bounds their names; what each name means (which notification type
//! and channel) is the notifications domain's knowledge, so identity never interprets them.

use std::collections::{BTreeMap, HashMap};

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};
use futures_util::TryStreamExt;

use crate::error::IdentityError;
use crate::service::IdentityService;

/// The most switches one user keeps; more than every type times every channel.
pub const MAX_NOTIFICATION_SWITCHES: usize = 64;

/// A user's switches by name; a name absent means "on".
pub type NotificationSwitches = BTreeMap<String, bool>;

/// Whether `name` can be a switch: `email_` or `in_app_` and then 1 to 48 of `a-z` and `_`.
pub fn is_switch_name(name: &str) -> bool {
    let rest = name
        .strip_prefix("email_")
        .or_else(|| name.strip_prefix("in_app_"));
    rest.is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 48
            && rest
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
    })
}

fn switches_of(document: &Document) -> NotificationSwitches {
    document
        .get_document("notification_preferences")
        .map(|preferences| {
            preferences
                .iter()
                .filter_map(|(name, value)| match value {
                    Bson::Boolean(on) => Some((name.clone(), *on)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

impl IdentityService {
    /// The switches of each of `user_ids` that exists, in one query.
    pub async fn notification_switches(
        &self,
        user_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, NotificationSwitches>, IdentityError> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let users: Vec<Document> = self
            .users
            .find(doc! { "_id": { "$in": user_ids } })
            .projection(doc! { "_id": 1, "notification_preferences": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(users
            .iter()
            .filter_map(|user| Some((user.get_object_id("_id").ok()?, switches_of(user))))
            .collect())
    }

    /// Sets `changes` on `user_id`'s switches (each name checked by [`is_switch_name`], at most
    /// [`MAX_NOTIFICATION_SWITCHES`] kept) and returns them all.
    pub async fn set_notification_switches(
        &self,
        user_id: ObjectId,
        changes: &[(String, bool)],
    ) -> Result<NotificationSwitches, IdentityError> {
        if changes.len() > MAX_NOTIFICATION_SWITCHES {
            return Err(IdentityError::InvalidInput {
                field: "preferences",
                reason: format!("at most {MAX_NOTIFICATION_SWITCHES} changes at once"),
            });
        }
        let mut sets = Document::new();
        for (name, on) in changes {
            if !is_switch_name(name) {
                return Err(IdentityError::InvalidInput {
                    field: "preferences",
                    reason: format!("`{name}` is not a notification preference"),
                });
            }
            sets.insert(format!("notification_preferences.{name}"), *on);
        }
        let current = self.notification_switches(&[user_id]).await?;
        let Some(current) = current.get(&user_id) else {
            return Err(IdentityError::UserNotFound);
        };
        let mut merged = current.clone();
        merged.extend(changes.iter().cloned());
        if merged.len() > MAX_NOTIFICATION_SWITCHES {
            return Err(IdentityError::InvalidInput {
                field: "preferences",
                reason: format!("at most {MAX_NOTIFICATION_SWITCHES} preferences are kept"),
            });
        }
        if sets.is_empty() {
            return Ok(merged);
        }
        sets.insert("updated_at", self.now());
        let updated = self
            .users
            .update_one(doc! { "_id": user_id }, doc! { "$set": sets })
            .await?;
        if updated.matched_count == 0 {
            return Err(IdentityError::UserNotFound);
        }
        Ok(self
            .notification_switches(&[user_id])
            .await?
            .remove(&user_id)
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_names_are_a_channel_and_a_plain_lowercase_type() {
        assert!(is_switch_name("email_new_job"));
        assert!(is_switch_name("in_app_payout_held"));
        assert!(is_switch_name("in_app_notifications"));
        assert!(!is_switch_name("email_"));
        assert!(!is_switch_name("sms_new_job"));
        assert!(!is_switch_name("email_$where"));
        assert!(!is_switch_name("email_a.b"));
        assert!(!is_switch_name(&format!("email_{}", "a".repeat(49))));
    }
}
