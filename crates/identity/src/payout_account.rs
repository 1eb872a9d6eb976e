//! A tester's Stripe Connect payout account status: the `tester_data.stripe_connect_status` of
//! the user whose `tester_data.stripe_connect_id` is the account (seed fields). Payouts wait
//! until it is `verified` (escrow reads these two fields).
//!
//! The status is derived from the facts Stripe reports on the account ([`PayoutAccountStatus::
//! from_account`]) and recorded by [`IdentityService::record_payout_account_status`], which the
//! gateway calls for Stripe's `account.updated` webhook. Onboarding attaches the account to the
//! tester once ([`IdentityService::attach_payout_account`]): the payment provider creates it
//! (escrow's `PayoutAccounts`), identity records its id and first status, and a tester never has
//! two (a unique sparse index on `tester_data.stripe_connect_id` also keeps one account from
//! belonging to two testers).

use bson::doc;
use bson::oid::ObjectId;
use foundation::events::{DomainEvent, DomainEventKind};

use crate::error::IdentityError;
use crate::service::IdentityService;
use crate::user::{Role, User};

/// Whether a tester's connected account can receive transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayoutAccountStatus {
    /// Onboarding or verification not finished; payouts wait.
    Pending,
    /// Transfers are active and payouts enabled; payouts go.
    Verified,
    /// Stripe disabled the account (past-due requirements, rejection, ...); payouts wait until
    /// the tester fixes it.
    Restricted,
}

impl PayoutAccountStatus {
    /// The stored spelling (`pending`, `verified`, `restricted`).
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutAccountStatus::Pending => "pending",
            PayoutAccountStatus::Verified => "verified",
            PayoutAccountStatus::Restricted => "restricted",
        }
    }

    /// The status stored as `spelling`; `None` for anything else.
    pub fn parse(spelling: &str) -> Option<Self> {
        match spelling {
            "pending" => Some(PayoutAccountStatus::Pending),
            "verified" => Some(PayoutAccountStatus::Verified),
            "restricted" => Some(PayoutAccountStatus::Restricted),
            _ => None,
        }
    }

    /// The status for an account as Stripe describes it: `payouts_enabled`,
    /// `capabilities.transfers` (`active`, `inactive`, `pending`) and
    /// `requirements.disabled_reason`. Disabled while Stripe is still verifying
    /// (`requirements.pending_verification`, `under_review`) is pending; disabled for any other
    /// reason is restricted; verified needs transfers active, payouts enabled and nothing
    /// disabled; anything else is still pending.
    pub fn from_account(
        payouts_enabled: bool,
        transfers_capability: Option<&str>,
        disabled_reason: Option<&str>,
    ) -> Self {
        match disabled_reason {
            Some("requirements.pending_verification" | "under_review") => {
                PayoutAccountStatus::Pending
            }
            Some(_) => PayoutAccountStatus::Restricted,
            None if payouts_enabled && transfers_capability == Some("active") => {
                PayoutAccountStatus::Verified
            }
            None => PayoutAccountStatus::Pending,
        }
    }
}

/// What recording an account's status found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutAccountRecorded {
    /// The tester's status changed.
    Changed,
    /// The tester already had that status.
    Unchanged,
    /// No user has this account id.
    UnknownAccount,
}

impl IdentityService {
    /// Records `account_id` as the tester's payout account with its first `status`, unless they
    /// already have one: the first account recorded stays (a racing second request gets the
    /// user with the first), so a tester never ends up with two.
    pub async fn attach_payout_account(
        &self,
        user_id: ObjectId,
        account_id: &str,
        status: PayoutAccountStatus,
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
                        "tester_data.stripe_connect_status": status.as_str(),
                        "updated_at": self.now(),
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        self.require_user(user_id).await
    }

    /// Stores `status` as the connect status of the user whose `tester_data.stripe_connect_id`
    /// is `stripe_account_id`. Idempotent; an id no user has changes nothing.
    pub async fn record_payout_account_status(
        &self,
        stripe_account_id: &str,
        status: PayoutAccountStatus,
    ) -> Result<PayoutAccountRecorded, IdentityError> {
        if stripe_account_id.is_empty() {
            return Ok(PayoutAccountRecorded::UnknownAccount);
        }
        let now = self.clock.now();
        let service = self.clone();
        let changed =
            foundation::transaction_retry::in_transaction(self.users.client(), |mut session| {
                let service = service.clone();
                async move {
                    let outcome = service
                        .record_status_in_session(&mut session, stripe_account_id, status, now)
                        .await;
                    (session, outcome)
                }
            })
            .await?;
        if changed {
            return Ok(PayoutAccountRecorded::Changed);
        }
        let known = self
            .users
            .find_one(doc! { "tester_data.stripe_connect_id": stripe_account_id })
            .projection(doc! { "_id": 1 })
            .await?;
        Ok(if known.is_some() {
            PayoutAccountRecorded::Unchanged
        } else {
            PayoutAccountRecorded::UnknownAccount
        })
    }
}

impl IdentityService {
    /// Sets the status by compare-and-set on a different one and, when it became `verified` or
    /// `restricted`, records the event for the tester in the same transaction (so a webhook
    /// delivered twice tells the tester once). Whether it changed.
    async fn record_status_in_session(
        &self,
        session: &mut mongodb::ClientSession,
        stripe_account_id: &str,
        status: PayoutAccountStatus,
        now: bson::DateTime,
    ) -> Result<bool, IdentityError> {
        let tester = self
            .users
            .find_one(doc! { "tester_data.stripe_connect_id": stripe_account_id })
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?;
        let Some(tester_id) = tester.and_then(|user| user.get_object_id("_id").ok()) else {
            return Ok(false);
        };
        let updated = self
            .users
            .update_one(
                doc! {
                    "_id": tester_id,
                    "tester_data.stripe_connect_id": stripe_account_id,
                    "tester_data.stripe_connect_status": { "$ne": status.as_str() },
                },
                doc! { "$set": {
                    "tester_data.stripe_connect_status": status.as_str(),
                    "updated_at": now,
                }},
            )
            .session(&mut *session)
            .await?;
        if updated.modified_count == 0 {
            return Ok(false);
        }
        let kind = match status {
            PayoutAccountStatus::Verified => Some(DomainEventKind::PayoutAccountVerified),
            PayoutAccountStatus::Restricted => Some(DomainEventKind::PayoutAccountRestricted),
            PayoutAccountStatus::Pending => None,
        };
        if let Some(kind) = kind {
            self.events
                .record(session, DomainEvent::new(kind, [tester_id]), now)
                .await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_enabled_undisabled_account_is_verified() {
        use PayoutAccountStatus::*;
        assert_eq!(
            PayoutAccountStatus::from_account(true, Some("active"), None),
            Verified
        );
        assert_eq!(
            PayoutAccountStatus::from_account(false, Some("active"), None),
            Pending
        );
        assert_eq!(
            PayoutAccountStatus::from_account(true, Some("pending"), None),
            Pending
        );
        assert_eq!(PayoutAccountStatus::from_account(true, None, None), Pending);
        assert_eq!(
            PayoutAccountStatus::from_account(
                false,
                Some("inactive"),
                Some("requirements.pending_verification")
            ),
            Pending
        );
        for reason in ["requirements.past_due", "rejected.fraud", "listed", "other"] {
            assert_eq!(
                PayoutAccountStatus::from_account(true, Some("active"), Some(reason)),
                Restricted,
                "{reason}"
            );
        }
    }
}
