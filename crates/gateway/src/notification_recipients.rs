//! Identity as the notifications domain's [`notifications::RecipientDirectory`]: who an
//! organization's owners and admins are and what each person chose to hear, so neither domain
//! crate depends on the other.

use std::collections::{BTreeMap, HashMap};

use bson::oid::ObjectId;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

/// The adapter the gateway hands to `NotificationService`.
#[derive(Debug, Clone)]
pub struct IdentityRecipients(pub identity::IdentityService);

impl notifications::RecipientDirectory for IdentityRecipients {
    fn organization_managers(
        &self,
        organization_id: ObjectId,
    ) -> BoxFuture<'_, Result<Vec<ObjectId>, String>> {
        async move {
            self.0
                .organization_manager_ids(organization_id)
                .await
                .map_err(|error| error.to_string())
        }
        .boxed()
    }

    fn switches<'a>(
        &'a self,
        user_ids: &'a [ObjectId],
    ) -> BoxFuture<'a, Result<HashMap<ObjectId, BTreeMap<String, bool>>, String>> {
        async move {
            self.0
                .notification_switches(user_ids)
                .await
                .map_err(|error| error.to_string())
        }
        .boxed()
    }
}
