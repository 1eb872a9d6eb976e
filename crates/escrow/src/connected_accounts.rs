//! The connected-account seam: where a Stripe provider learns which Stripe account pays a
//! tester. Testers connect a Stripe account through identity, which keeps its id and status on
//! the user (`tester_data.stripe_connect_id`, `tester_data.stripe_connect_status`); a transfer
//! waits until that status is `verified`, so money never leaves for an account Stripe would
//! refuse or hold.
//!
//! [`UsersConnectedAccounts`] reads those two fields of identity's `users` through the driver. Like
//! [`crate::UsersTesterTotals`] it is a documented exception to data ownership (ARCHITECTURE.md):
//! two fields, read only, until identity offers an implementation of [`ConnectedAccounts`].

use std::fmt::Debug;

use bson::oid::ObjectId;
use bson::{doc, Document};
use futures_util::future::BoxFuture;
use mongodb::{Collection, Database};

use crate::provider::ProviderError;

/// The status identity stores once Stripe lets the account receive transfers.
pub const CONNECT_STATUS_VERIFIED: &str = "verified";

/// Resolves a tester to the connected account their payouts are transferred to.
pub trait ConnectedAccounts: Send + Sync + Debug {
    /// The tester's connected account id, if it can receive transfers now.
    ///
    /// [`ProviderError::RecipientNotReady`] when the tester has no account or its status is not
    /// `verified` (the payout stays held); [`ProviderError::Unavailable`] when the lookup
    /// itself failed.
    fn transfer_destination(
        &self,
        tester_id: ObjectId,
    ) -> BoxFuture<'_, Result<String, ProviderError>>;
}

/// Reads `users.tester_data.stripe_connect_id` and `stripe_connect_status`.
#[derive(Debug, Clone)]
pub struct UsersConnectedAccounts {
    users: Collection<Document>,
}

impl UsersConnectedAccounts {
    /// Reads identity's `users` collection in `database`.
    pub fn new(database: &Database) -> Self {
        Self {
            users: database.collection("users"),
        }
    }
}

impl ConnectedAccounts for UsersConnectedAccounts {
    fn transfer_destination(
        &self,
        tester_id: ObjectId,
    ) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            let user = self
                .users
                .find_one(doc! { "_id": tester_id })
                .projection(doc! {
                    "tester_data.stripe_connect_id": 1,
                    "tester_data.stripe_connect_status": 1,
                })
                .await
                .map_err(|error| ProviderError::Unavailable {
                    reason: format!("reading the tester's connected account: {error}"),
                })?;
            let tester_data = user
                .as_ref()
                .and_then(|user| user.get_document("tester_data").ok());
            let account_id = tester_data
                .and_then(|data| data.get_str("stripe_connect_id").ok())
                .filter(|id| !id.is_empty());
            let status = tester_data.and_then(|data| data.get_str("stripe_connect_status").ok());
            destination_if_verified(tester_id, account_id, status)
        })
    }
}

/// The account id when its status lets it receive transfers, a typed "not ready" otherwise.
pub(crate) fn destination_if_verified(
    tester_id: ObjectId,
    account_id: Option<&str>,
    status: Option<&str>,
) -> Result<String, ProviderError> {
    match (account_id, status) {
        (Some(account_id), Some(CONNECT_STATUS_VERIFIED)) => Ok(account_id.to_owned()),
        (None, _) => Err(ProviderError::RecipientNotReady {
            reason: format!("tester {tester_id} has not connected a payout account"),
        }),
        (Some(_), status) => Err(ProviderError::RecipientNotReady {
            reason: format!(
                "the payout account of tester {tester_id} is `{}`, not `{CONNECT_STATUS_VERIFIED}`",
                status.unwrap_or("unknown")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verified_account_receives_transfers() {
        let tester = ObjectId::from_bytes([7; 12]);
        assert_eq!(
            destination_if_verified(tester, Some("acct_1"), Some("verified")),
            Ok("acct_1".to_owned())
        );
        for status in [Some("pending"), Some("restricted"), None] {
            assert!(matches!(
                destination_if_verified(tester, Some("acct_1"), status),
                Err(ProviderError::RecipientNotReady { .. })
            ));
        }
        assert!(matches!(
            destination_if_verified(tester, None, Some("verified")),
            Err(ProviderError::RecipientNotReady { .. })
        ));
    }
}
