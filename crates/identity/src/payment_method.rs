//! A paying client's customer at the payment provider and the payment method they saved on it:
//! `client_data.stripe_customer_id` (seed field) and `client_data.default_payment_method_id`.
//! Job budgets are charged to that method, never to a platform-wide one.
//!
//! The customer is recorded once ([`IdentityService::attach_stripe_customer`]): a conditional
//! `$set` that matches only while the user has none, so when two first requests race, the first
//! stored id stays and both answer with it. The method is recorded only for the customer already
//! stored ([`IdentityService::save_default_payment_method`]); checking that the provider set it up
//! for that customer is the caller's part (escrow's `SetupIntent::saved_method_for`).

use bson::doc;
use bson::oid::ObjectId;

use crate::error::IdentityError;
use crate::service::IdentityService;
use crate::user::{Role, User};

/// Longest provider id stored (Stripe's ids are far shorter).
const MAX_PROVIDER_ID_LENGTH: usize = 255;

fn provider_id(field: &'static str, value: &str) -> Result<(), IdentityError> {
    if value.is_empty() || value.len() > MAX_PROVIDER_ID_LENGTH {
        return Err(IdentityError::InvalidInput {
            field,
            reason: format!("must be 1 to {MAX_PROVIDER_ID_LENGTH} characters"),
        });
    }
    Ok(())
}

impl IdentityService {
    /// Records `customer_id` as the client's customer unless they already have one, and returns
    /// the user as stored: with the first customer recorded, whichever request recorded it.
    /// Clients only.
    pub async fn attach_stripe_customer(
        &self,
        user_id: ObjectId,
        customer_id: &str,
    ) -> Result<User, IdentityError> {
        provider_id("stripe_customer_id", customer_id)?;
        let user = self.require_user(user_id).await?;
        if user.role != Role::Client {
            return Err(IdentityError::Forbidden {
                action: "save a payment method without the client role",
            });
        }
        self.users
            .update_one(
                doc! {
                    "_id": user_id,
                    "role": Role::Client.as_str(),
                    "client_data.stripe_customer_id": null,
                },
                doc! {
                    "$set": {
                        "client_data.stripe_customer_id": customer_id,
                        "updated_at": self.now(),
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        self.require_user(user_id).await
    }

    /// Stores `payment_method_id` as the default payment method of the client whose customer is
    /// `customer_id`. Changes nothing (and says so) when that is no longer the user's customer.
    pub async fn save_default_payment_method(
        &self,
        user_id: ObjectId,
        customer_id: &str,
        payment_method_id: &str,
    ) -> Result<User, IdentityError> {
        provider_id("stripe_customer_id", customer_id)?;
        provider_id("payment_method_id", payment_method_id)?;
        let updated = self
            .users
            .update_one(
                doc! {
                    "_id": user_id,
                    "role": Role::Client.as_str(),
                    "client_data.stripe_customer_id": customer_id,
                },
                doc! {
                    "$set": {
                        "client_data.default_payment_method_id": payment_method_id,
                        "updated_at": self.now(),
                    },
                    "$inc": { "version": 1_i64 },
                },
            )
            .await?;
        if updated.matched_count == 0 {
            return Err(IdentityError::Forbidden {
                action: "save a payment method for another customer",
            });
        }
        self.require_user(user_id).await
    }
}
