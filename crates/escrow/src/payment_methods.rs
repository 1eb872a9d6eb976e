//! Clients' payment methods at the payment provider: each paying client has one customer, and
//! a job's budget is charged to the payment method the client saved on it (Stripe's "save a
//! card with a SetupIntent, charge it off-session later" flow). Nothing here trusts an id the
//! client sends: a payment method is taken only from a SetupIntent the provider says succeeded
//! for the client's own customer ([`SetupIntent::saved_method_for`]).
//!
//! [`StripeProvider`] creates the customer with an idempotency key derived from the user id
//! ([`customer_key`]), so two racing first requests get the same customer, and the SetupIntent
//! with `usage=off_session` (the browser confirms it with Stripe.js and its `client_secret`).
//!
//! [`Sandbox`] customers and SetupIntents are derived from the user id (`cus_sandbox_<id>`,
//! `seti_sandbox_<id>`, `pm_sandbox_<id>`), and a sandbox SetupIntent is `succeeded` as soon as
//! it is created: there is no card to enter, so the demo can save a method and publish without
//! Stripe.js.

use std::collections::HashMap;
use std::fmt::Debug;

use bson::oid::ObjectId;
use futures_util::future::BoxFuture;
use miniserde::json::Value;
use stripe_core::customer::CreateCustomer;
use stripe_core::setup_intent::{CreateSetupIntent, CreateSetupIntentUsage, RetrieveSetupIntent};

use crate::provider::ProviderError;
use crate::sandbox::Sandbox;
use crate::stripe_provider::{expandable_id, required_string, string_field, StripeProvider};

/// Longest SetupIntent id accepted from a client (Stripe's are far shorter).
pub const MAX_SETUP_INTENT_ID_LENGTH: usize = 255;

/// Create the customer of a paying client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCustomerRequest {
    /// Derived from the user's id ([`customer_key`]), so a retry or a racing request finds the
    /// same customer.
    pub idempotency_key: String,
    /// The client.
    pub user_id: ObjectId,
    /// Their e-mail (receipts).
    pub email: String,
    /// Their name.
    pub name: String,
}

/// A SetupIntent as escrow reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupIntent {
    /// The provider's id (`seti_…`).
    pub id: String,
    /// What the browser confirms it with (Stripe.js); never stored.
    pub client_secret: String,
    /// Its status (`requires_payment_method`, `requires_action`, `succeeded`, ...).
    pub status: String,
    /// The customer it was created for.
    pub customer_id: Option<String>,
    /// The payment method it set up, once there is one.
    pub payment_method_id: Option<String>,
}

/// Why a SetupIntent cannot give the caller a payment method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupIntentRefusal {
    /// It was made for another customer (or none): someone else's card.
    NotYours,
    /// It has not succeeded (yet), so no payment method is set up.
    NotSucceeded,
}

impl SetupIntent {
    /// The payment method this SetupIntent saved for `customer_id`: only when it was created
    /// for that very customer and has succeeded.
    pub fn saved_method_for(&self, customer_id: &str) -> Result<&str, SetupIntentRefusal> {
        if self.customer_id.as_deref() != Some(customer_id) {
            return Err(SetupIntentRefusal::NotYours);
        }
        match (&*self.status, &self.payment_method_id) {
            ("succeeded", Some(method)) if !method.is_empty() => Ok(method),
            _ => Err(SetupIntentRefusal::NotSucceeded),
        }
    }
}

/// A provider's customers and SetupIntents. Object safe.
pub trait PaymentMethods: Send + Sync + Debug {
    /// Creates the client's customer (once per idempotency key) and returns its id.
    fn create_customer(
        &self,
        request: CreateCustomerRequest,
    ) -> BoxFuture<'_, Result<String, ProviderError>>;

    /// Creates an off-session SetupIntent for `customer_id`.
    fn create_setup_intent(
        &self,
        customer_id: String,
        idempotency_key: String,
    ) -> BoxFuture<'_, Result<SetupIntent, ProviderError>>;

    /// Reads a SetupIntent as the provider has it now; an id the provider does not know is
    /// [`ProviderError::Declined`].
    fn setup_intent(
        &self,
        setup_intent_id: String,
    ) -> BoxFuture<'_, Result<SetupIntent, ProviderError>>;
}

/// The key a client's customer is created under: one customer per user, however often asked.
pub fn customer_key(user_id: ObjectId) -> String {
    format!("client:{}:customer", user_id.to_hex())
}

const SANDBOX_CUSTOMER_PREFIX: &str = "cus_sandbox_";
const SANDBOX_SETUP_INTENT_PREFIX: &str = "seti_sandbox_";

impl PaymentMethods for Sandbox {
    fn create_customer(
        &self,
        request: CreateCustomerRequest,
    ) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            Ok(format!(
                "{SANDBOX_CUSTOMER_PREFIX}{}",
                request.user_id.to_hex()
            ))
        })
    }

    fn create_setup_intent(
        &self,
        customer_id: String,
        _idempotency_key: String,
    ) -> BoxFuture<'_, Result<SetupIntent, ProviderError>> {
        Box::pin(async move {
            let Some(owner) = customer_id.strip_prefix(SANDBOX_CUSTOMER_PREFIX) else {
                return Err(ProviderError::Declined {
                    reason: format!("no such customer: {customer_id}"),
                });
            };
            Ok(sandbox_setup_intent(owner))
        })
    }

    fn setup_intent(
        &self,
        setup_intent_id: String,
    ) -> BoxFuture<'_, Result<SetupIntent, ProviderError>> {
        Box::pin(async move {
            setup_intent_id
                .strip_prefix(SANDBOX_SETUP_INTENT_PREFIX)
                .and_then(|owner| ObjectId::parse_str(owner).ok())
                .map(|owner| sandbox_setup_intent(&owner.to_hex()))
                .ok_or_else(|| ProviderError::Declined {
                    reason: format!("no such setup intent: {setup_intent_id}"),
                })
        })
    }
}

/// The sandbox's SetupIntent of the customer of user `owner` (hex): already succeeded.
fn sandbox_setup_intent(owner: &str) -> SetupIntent {
    SetupIntent {
        id: format!("{SANDBOX_SETUP_INTENT_PREFIX}{owner}"),
        client_secret: format!("{SANDBOX_SETUP_INTENT_PREFIX}{owner}_secret_sandbox"),
        status: "succeeded".into(),
        customer_id: Some(format!("{SANDBOX_CUSTOMER_PREFIX}{owner}")),
        payment_method_id: Some(format!("pm_sandbox_{owner}")),
    }
}

impl StripeProvider {
    async fn create_stripe_customer(
        &self,
        request: CreateCustomerRequest,
    ) -> Result<String, ProviderError> {
        let create = CreateCustomer::new()
            .email(request.email)
            .name(request.name)
            .metadata(HashMap::from([(
                "user_id".to_owned(),
                request.user_id.to_hex(),
            )]));
        let customer = self.send(create, &request.idempotency_key).await?;
        required_string(&customer, "id")
    }

    async fn create_stripe_setup_intent(
        &self,
        customer_id: String,
        idempotency_key: String,
    ) -> Result<SetupIntent, ProviderError> {
        let create = CreateSetupIntent::new()
            .customer(customer_id)
            .usage(CreateSetupIntentUsage::OffSession);
        let intent = self.send(create, &idempotency_key).await?;
        setup_intent_of(&intent)
    }

    async fn retrieve_stripe_setup_intent(
        &self,
        setup_intent_id: String,
    ) -> Result<SetupIntent, ProviderError> {
        let intent = self
            .get(RetrieveSetupIntent::new(setup_intent_id.as_str()))
            .await?;
        setup_intent_of(&intent)
    }
}

fn setup_intent_of(intent: &Value) -> Result<SetupIntent, ProviderError> {
    Ok(SetupIntent {
        id: required_string(intent, "id")?,
        client_secret: string_field(intent, "client_secret")
            .unwrap_or_default()
            .to_owned(),
        status: required_string(intent, "status")?,
        customer_id: expandable_id(intent, "customer"),
        payment_method_id: expandable_id(intent, "payment_method"),
    })
}

impl PaymentMethods for StripeProvider {
    fn create_customer(
        &self,
        request: CreateCustomerRequest,
    ) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(self.create_stripe_customer(request))
    }

    fn create_setup_intent(
        &self,
        customer_id: String,
        idempotency_key: String,
    ) -> BoxFuture<'_, Result<SetupIntent, ProviderError>> {
        Box::pin(self.create_stripe_setup_intent(customer_id, idempotency_key))
    }

    fn setup_intent(
        &self,
        setup_intent_id: String,
    ) -> BoxFuture<'_, Result<SetupIntent, ProviderError>> {
        Box::pin(self.retrieve_stripe_setup_intent(setup_intent_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(customer: Option<&str>, status: &str, method: Option<&str>) -> SetupIntent {
        SetupIntent {
            id: "seti_1".into(),
            client_secret: "seti_1_secret".into(),
            status: status.into(),
            customer_id: customer.map(str::to_owned),
            payment_method_id: method.map(str::to_owned),
        }
    }

    #[test]
    fn only_a_succeeded_setup_intent_of_the_callers_own_customer_gives_a_payment_method() {
        let mine = intent(Some("cus_a"), "succeeded", Some("pm_1"));
        assert_eq!(mine.saved_method_for("cus_a"), Ok("pm_1"));
        assert_eq!(
            mine.saved_method_for("cus_b"),
            Err(SetupIntentRefusal::NotYours)
        );
        assert_eq!(
            intent(None, "succeeded", Some("pm_1")).saved_method_for("cus_a"),
            Err(SetupIntentRefusal::NotYours)
        );
        for status in ["requires_payment_method", "requires_action", "canceled"] {
            assert_eq!(
                intent(Some("cus_a"), status, Some("pm_1")).saved_method_for("cus_a"),
                Err(SetupIntentRefusal::NotSucceeded),
                "{status}"
            );
        }
        assert_eq!(
            intent(Some("cus_a"), "succeeded", None).saved_method_for("cus_a"),
            Err(SetupIntentRefusal::NotSucceeded)
        );
    }

    #[tokio::test]
    async fn a_sandbox_setup_intent_is_succeeded_for_its_own_customer_only() {
        let sandbox = Sandbox::new();
        let (alice, bob) = (ObjectId::new(), ObjectId::new());
        let customer = sandbox
            .create_customer(CreateCustomerRequest {
                idempotency_key: customer_key(alice),
                user_id: alice,
                email: "a@example.com".into(),
                name: "A".into(),
            })
            .await
            .unwrap();
        let created = sandbox
            .create_setup_intent(customer.clone(), "k".into())
            .await
            .unwrap();
        let read = sandbox.setup_intent(created.id.clone()).await.unwrap();
        assert_eq!(read, created);
        assert_eq!(
            read.saved_method_for(&customer),
            Ok(format!("pm_sandbox_{}", alice.to_hex()).as_str())
        );
        let bobs_customer = format!("cus_sandbox_{}", bob.to_hex());
        assert_eq!(
            read.saved_method_for(&bobs_customer),
            Err(SetupIntentRefusal::NotYours)
        );
        assert!(matches!(
            sandbox.setup_intent("seti_sandbox_nothex".into()).await,
            Err(ProviderError::Declined { .. })
        ));
    }
}
