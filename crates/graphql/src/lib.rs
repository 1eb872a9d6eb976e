//! PeerTest Hub's GraphQL schema: per-domain query and mutation objects merged into one schema,
//! plus the conventions every domain follows.
//!
//! Conventions (each later issue follows them): camelCase fields; Relay global IDs with
//! `node(id:)` ([`relay`]); cursor connections with `totalCount` for every list; every mutation
//! takes one `input` argument and returns a payload object; every error carries a stable
//! `extensions.code` ([`error`]); authorization requirements are visible as guards ([`viewer`]).
//!
//! The crate never sees HTTP: the gateway passes a [`Viewer`] and [`RequestMeta`] with each
//! request and calls [`execute`].

pub mod error;
mod idempotency;
pub mod identity_api;
pub mod loaders;
pub mod marketplace_api;
pub mod node;
pub mod relay;
pub mod scalars;
pub mod trust_api;
pub mod viewer;

use async_graphql::{EmptySubscription, MergedObject, Schema};

pub use error::{finish_response, ApiError, ApiResult, ErrorCode};
pub use viewer::{RequestMeta, Viewer};

/// The domain services resolvers call. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    identity: identity::IdentityService,
    marketplace: marketplace::MarketplaceService,
    escrow: escrow::EscrowService,
    trust: trust::TrustService,
    payout_onboarding: Option<PayoutOnboarding>,
    payment_methods: Option<std::sync::Arc<dyn escrow::PaymentMethods>>,
}

/// Where testers connect the account their payouts go to: the provider's connected accounts and
/// the pages the provider sends them back to after onboarding.
#[derive(Clone, Debug)]
pub struct PayoutOnboarding {
    /// The provider (sandbox or Stripe).
    pub accounts: std::sync::Arc<dyn escrow::PayoutAccounts>,
    /// Where a tester lands after onboarding.
    pub return_url: String,
    /// Where a tester lands when an onboarding link expired.
    pub refresh_url: String,
}

impl Services {
    /// Bundles the domain services.
    pub fn new(
        identity: identity::IdentityService,
        marketplace: marketplace::MarketplaceService,
        escrow: escrow::EscrowService,
        trust: trust::TrustService,
    ) -> Self {
        Services {
            identity,
            marketplace,
            escrow,
            trust,
            payout_onboarding: None,
            payment_methods: None,
        }
    }

    /// The same services, letting clients save the payment method their jobs are charged to
    /// through `methods` (without it, `createPaymentSetupIntent` and `savePaymentMethod` answer
    /// `SERVICE_UNAVAILABLE`).
    pub fn with_payment_methods(
        mut self,
        methods: std::sync::Arc<dyn escrow::PaymentMethods>,
    ) -> Self {
        self.payment_methods = Some(methods);
        self
    }

    /// Clients' customers and SetupIntents at the payment provider, when configured.
    pub fn payment_methods(&self) -> Option<&std::sync::Arc<dyn escrow::PaymentMethods>> {
        self.payment_methods.as_ref()
    }

    /// The same services, letting testers connect payout accounts through `onboarding`
    /// (without it, `connectPayoutAccount` answers `SERVICE_UNAVAILABLE`).
    pub fn with_payout_onboarding(mut self, onboarding: PayoutOnboarding) -> Self {
        self.payout_onboarding = Some(onboarding);
        self
    }

    /// Payout-account onboarding, when configured.
    pub fn payout_onboarding(&self) -> Option<&PayoutOnboarding> {
        self.payout_onboarding.as_ref()
    }

    /// Ratings (and later disputes and qualification tests).
    pub fn trust(&self) -> &trust::TrustService {
        &self.trust
    }

    /// Money held for jobs, payouts and refunds.
    pub fn escrow(&self) -> &escrow::EscrowService {
        &self.escrow
    }

    /// Projects, jobs, seats, submissions and test templates.
    pub fn marketplace(&self) -> &marketplace::MarketplaceService {
        &self.marketplace
    }

    /// Accounts, sessions, organizations and API keys.
    pub fn identity(&self) -> &identity::IdentityService {
        &self.identity
    }
}

/// Every query field, one object per domain.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    node::NodeQuery,
    identity_api::IdentityQuery,
    marketplace_api::MarketplaceQuery,
    trust_api::TrustQuery,
);

/// Every mutation field, one object per domain.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    identity_api::IdentityMutation,
    marketplace_api::MarketplaceMutation,
    trust_api::TrustMutation,
);

/// The executable schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Limits that keep one query from costing too much.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    /// Deepest nesting of selection sets.
    pub max_depth: usize,
    /// Highest complexity (every field counts one, connections count their page size).
    pub max_complexity: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        SchemaLimits {
            max_depth: 12,
            max_complexity: 10_000,
        }
    }
}

/// Builds the schema over the services.
pub fn build_schema(services: Services, limits: SchemaLimits) -> AppSchema {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(services)
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .finish()
}

/// The schema in SDL, as committed in `schema.graphql` (written by `cargo xtask schema`).
pub fn schema_sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .finish()
    .sdl()
}

/// Resolves an `Authorization: Bearer` credential (an access token or a `ptk_` API key) into the
/// request's viewer. Invalid credentials do not fail the request: they make a `Rejected` viewer,
/// so public operations still work and protected ones answer `UNAUTHENTICATED` with the reason.
pub async fn authenticate(services: &Services, bearer: Option<&str>) -> Viewer {
    let Some(token) = bearer else {
        return Viewer::Anonymous;
    };
    match services.identity.authenticate_bearer(token).await {
        Ok(principal) => Viewer::Authenticated(principal),
        Err(error) => {
            let error = ApiError::from(error);
            match error {
                ApiError::Internal(detail) => {
                    tracing::error!(detail = %detail, "credential check failed");
                    Viewer::Rejected("credentials could not be checked".to_string())
                }
                other => Viewer::Rejected(other.to_string()),
            }
        }
    }
}

/// Whether the operation the request selects is a mutation. Unparsable documents answer
/// `false`: execution reports their errors.
pub fn is_mutation(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let operation_type = match (&document.operations, &request.operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .get(name.as_str())
            .map(|operation| operation.node.ty),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .values()
            .next()
            .map(|operation| operation.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation_type == Some(OperationType::Mutation)
}

/// Executes one request for `viewer`, enforcing the rule that a read-only API key never runs a
/// mutation before any resolver runs, and finishes the response (codes, request id).
pub async fn execute(
    schema: &AppSchema,
    services: &Services,
    request: async_graphql::Request,
    viewer: Viewer,
    meta: RequestMeta,
) -> async_graphql::Response {
    let request_id = meta.request_id.clone();
    if viewer.is_read_only_key() && is_mutation(&request) {
        let error: async_graphql::Error =
            ApiError::Forbidden("this API key is read-only: mutations are refused".to_string())
                .into();
        let response = async_graphql::Response::from_errors(vec![
            error.into_server_error(async_graphql::Pos::default())
        ]);
        return finish_response(response, &request_id);
    }
    // Loaders per request: their caches must not outlive the request's authorization.
    let request = loaders::install(request.data(viewer).data(meta), services);
    let response = schema.execute(request).await;
    finish_response(response, &request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selected_operation_decides_whether_a_request_mutates() {
        let single = async_graphql::Request::new("mutation { logout(input: {}) { ok } }");
        assert!(is_mutation(&single));
        let query = async_graphql::Request::new("{ me { id } }");
        assert!(!is_mutation(&query));
        let both = "query A { me { id } } mutation B { logout(input: {}) { ok } }";
        assert!(is_mutation(
            &async_graphql::Request::new(both).operation_name("B")
        ));
        assert!(!is_mutation(
            &async_graphql::Request::new(both).operation_name("A")
        ));
    }

    #[test]
    fn committed_schema_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == schema_sdl(),
            "schema.graphql is stale: run `cargo xtask schema` and commit the result"
        );
    }
}
