//! Identity (with the marketplace's qualification rule) as the notifications domain's
//! [`notifications::RecipientDirectory`]: who an organization's owners and admins are, which
//! testers qualify for a job, and what each person chose to hear, so no domain crate depends on
//! another.

use std::collections::{BTreeMap, HashMap};

use bson::oid::ObjectId;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

/// Testers read per page while matching a job's qualifying testers.
const TESTER_PAGE: i64 = 1_000;

/// The adapter the gateway hands to `NotificationService`.
#[derive(Debug, Clone)]
pub struct IdentityRecipients {
    /// Who the people are.
    pub identity: identity::IdentityService,
    /// Which jobs they qualify for.
    pub marketplace: marketplace::MarketplaceService,
}

impl notifications::RecipientDirectory for IdentityRecipients {
    fn organization_managers(
        &self,
        organization_id: ObjectId,
    ) -> BoxFuture<'_, Result<Vec<ObjectId>, String>> {
        async move {
            self.identity
                .organization_manager_ids(organization_id)
                .await
                .map_err(|error| error.to_string())
        }
        .boxed()
    }

    fn qualified_testers(&self, job_id: ObjectId) -> BoxFuture<'_, Result<Vec<ObjectId>, String>> {
        async move {
            let job = self
                .marketplace
                .job(job_id)
                .await
                .map_err(|error| error.to_string())?;
            let now = self.marketplace.now();
            let mut qualified = Vec::new();
            let mut after = None;
            loop {
                let page = self
                    .identity
                    .qualified_testers_page(after, TESTER_PAGE)
                    .await
                    .map_err(|error| error.to_string())?;
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                let full = page.len() as i64 == TESTER_PAGE;
                qualified.extend(
                    page.iter()
                        .filter_map(graphql::marketplace_api::access::tester_profile_of)
                        .filter(|profile| marketplace::tester_qualifies(&job, profile, now))
                        .map(|profile| profile.tester_id),
                );
                if !full {
                    break;
                }
            }
            Ok(qualified)
        }
        .boxed()
    }

    fn switches<'a>(
        &'a self,
        user_ids: &'a [ObjectId],
    ) -> BoxFuture<'a, Result<HashMap<ObjectId, BTreeMap<String, bool>>, String>> {
        async move {
            self.identity
                .notification_switches(user_ids)
                .await
                .map_err(|error| error.to_string())
        }
        .boxed()
    }
}
