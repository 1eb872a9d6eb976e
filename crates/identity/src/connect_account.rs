//! A tester's payout account: the payment provider's connected account that receives their
//! payouts, kept on the user as `tester_data.stripe_connect_id` and `stripe_connect_status`
//! (`pending` until the provider lets it receive transfers, then `verified`; `restricted` when
//! the provider disables it). The provider creates the account (escrow's `PayoutAccounts`); this
//! module records it once per tester. Escrow reads the two fields to decide whether a payout may
//! be transferred.

use bson::doc;
use bson::oid::ObjectId;

use crate::error::IdentityError;
use crate::service::IdentityService;
use crate::user::{Role, User};

/// The stored status of an account that can receive transfers.
pub const PAYOUT_ACCOUNT_VERIFIED: &str = "verified";
/// The stored status of an account still onboarding.
pub const PAYOUT_ACCOUNT_PENDING: &str = "pending";

impl IdentityService {
    /// Records `account_id` as the tester's payout account, unless they already have one: the
    /// first account recorded stays (a racing second request gets the user with the first), so a
    /// tester never ends up with two. `verified` says whether it can receive transfers already.
    pub async fn attach_payout_account(
        &self,
        user_id: ObjectId,
        account_id: &str,
        verified: bool,
    ) -> Result<User, IdentityError> {
        if account_id.is_empty() {
            return Err(IdentityError::InvalidInput {
                field: "accountId",
                reason: "must not be empty".into(),
            });
        }
        let user = self.require_user(user_id).await?;
        if user.role != Role::Tester {
            return Err(IdentityError::Forbidden {
                action: "connect a payout account without the tester role",
            });
        }
        let status = if verified {
            PAYOUT_ACCOUNT_VERIFIED
        } else {
            PAYOUT_ACCOUNT_PENDING
        };
        self.users
            .update_one(
                doc! {
                    "_id": user_id,
                    "role": Role::Tester.as_str(),
                    "tester_data.stripe_connect_id": null,
                },
                doc! {
                    "$set": {
                        "tester_data.stripe_connect_id": account_id,
                        "tester_data.stripe_connect_status": status,
                        "updated_at": self.now(),
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        self.require_user(user_id).await
    }
}
