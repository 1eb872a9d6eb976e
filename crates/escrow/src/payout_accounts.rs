//! Tester payout accounts at the payment provider: creating a tester's connected account and the
//! link where they finish onboarding (identity, bank details, terms). Identity stores the
//! account's id and status on the user; a transfer waits until that status is `verified`
//! ([`crate::ConnectedAccounts`]), which Stripe's `account.updated` webhook sets.
//!
//! [`Sandbox`] accounts are verified at once and need no onboarding (`acct_sandbox_<tester id>`).
//! [`StripeProvider`] creates an Express-style account (Stripe hosts onboarding and a light
//! dashboard; the platform pays the fees and carries the losses) with the `transfers` capability
//! requested, keyed by the tester's id so a retry never creates a second account, and an
//! `account_onboarding` account link.

use std::collections::HashMap;
use std::fmt::Debug;

use bson::oid::ObjectId;
use futures_util::future::BoxFuture;
use stripe_connect::account::{
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesTransfers,
    CreateAccountController, CreateAccountControllerFees, CreateAccountControllerFeesPayer,
    CreateAccountControllerLosses, CreateAccountControllerLossesPayments,
    CreateAccountControllerStripeDashboard, CreateAccountControllerStripeDashboardType,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};

use crate::provider::ProviderError;
use crate::sandbox::Sandbox;
use crate::stripe_provider::{required_string, StripeProvider};

/// Create a connected account for a tester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayoutAccountRequest {
    /// Derived from the tester's id, so a retry finds the same account.
    pub idempotency_key: String,
    /// The tester.
    pub tester_id: ObjectId,
    /// Their email (prefills onboarding).
    pub email: String,
    /// The account's country (ISO 3166-1 alpha-2); the platform's when `None`.
    pub country: Option<String>,
}

/// A connected account the provider created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutAccount {
    /// The provider's account id (`acct_...`); stored as `tester_data.stripe_connect_id`.
    pub account_id: String,
    /// Whether it can receive transfers already (sandbox accounts can; Stripe accounts wait for
    /// onboarding and `account.updated`).
    pub verified: bool,
}

/// Where a tester finishes onboarding, and where the provider sends them afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardingLinkRequest {
    /// The connected account.
    pub account_id: String,
    /// Where the tester lands when the link expired and a new one is needed.
    pub refresh_url: String,
    /// Where the tester lands when onboarding is done (or left).
    pub return_url: String,
}

/// A provider's connected accounts. Object safe.
pub trait PayoutAccounts: Send + Sync + Debug {
    /// Creates the tester's connected account (once per idempotency key).
    fn create_account(
        &self,
        request: CreatePayoutAccountRequest,
    ) -> BoxFuture<'_, Result<PayoutAccount, ProviderError>>;

    /// A single-use URL where the tester completes onboarding.
    fn onboarding_link(
        &self,
        request: OnboardingLinkRequest,
    ) -> BoxFuture<'_, Result<String, ProviderError>>;
}

/// The key a tester's account is created under: one account per tester, however often asked.
pub fn payout_account_key(tester_id: ObjectId) -> String {
    format!("tester:{}:connect", tester_id.to_hex())
}

impl PayoutAccounts for Sandbox {
    fn create_account(
        &self,
        request: CreatePayoutAccountRequest,
    ) -> BoxFuture<'_, Result<PayoutAccount, ProviderError>> {
        Box::pin(async move {
            Ok(PayoutAccount {
                account_id: format!("acct_sandbox_{}", request.tester_id.to_hex()),
                verified: true,
            })
        })
    }

    fn onboarding_link(
        &self,
        request: OnboardingLinkRequest,
    ) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            // Sandbox accounts are verified when created: there is nothing to fill in.
            Ok(request.return_url)
        })
    }
}

impl StripeProvider {
    async fn create_connected_account(
        &self,
        request: CreatePayoutAccountRequest,
    ) -> Result<PayoutAccount, ProviderError> {
        let controller = CreateAccountController {
            fees: Some(CreateAccountControllerFees {
                payer: Some(CreateAccountControllerFeesPayer::Application),
            }),
            losses: Some(CreateAccountControllerLosses {
                payments: Some(CreateAccountControllerLossesPayments::Application),
            }),
            requirement_collection: None,
            stripe_dashboard: Some(CreateAccountControllerStripeDashboard {
                type_: Some(CreateAccountControllerStripeDashboardType::Express),
            }),
        };
        let mut capabilities = CreateAccountCapabilities::new();
        capabilities.transfers = Some(CreateAccountCapabilitiesTransfers {
            requested: Some(true),
        });
        let mut create = CreateAccount::new();
        if let Some(country) = request.country {
            create = create.country(country);
        }
        let create = create
            .controller(controller)
            .capabilities(capabilities)
            .email(request.email)
            .metadata(HashMap::from([(
                "tester_id".to_owned(),
                request.tester_id.to_hex(),
            )]));
        let account = self.send(create, &request.idempotency_key).await?;
        Ok(PayoutAccount {
            account_id: required_string(&account, "id")?,
            verified: false,
        })
    }

    async fn create_onboarding_link(
        &self,
        request: OnboardingLinkRequest,
    ) -> Result<String, ProviderError> {
        let link =
            CreateAccountLink::new(request.account_id, CreateAccountLinkType::AccountOnboarding)
                .refresh_url(request.refresh_url)
                .return_url(request.return_url);
        // Links are single-use and short-lived: each request asks for a fresh one.
        let key = format!("account_link:{}", ObjectId::new().to_hex());
        let link = self.send(link, &key).await?;
        required_string(&link, "url")
    }
}

impl PayoutAccounts for StripeProvider {
    fn create_account(
        &self,
        request: CreatePayoutAccountRequest,
    ) -> BoxFuture<'_, Result<PayoutAccount, ProviderError>> {
        Box::pin(self.create_connected_account(request))
    }

    fn onboarding_link(
        &self,
        request: OnboardingLinkRequest,
    ) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(self.create_onboarding_link(request))
    }
}
