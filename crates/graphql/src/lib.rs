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

mod arguments;
pub mod batcher;
pub mod cost;
pub mod documents;
pub mod error;
mod extension;
mod idempotency;
pub mod identity_api;
pub mod limits;
pub mod loaders;
pub mod marketplace_api;
pub mod node;
pub mod notifications_api;
pub mod persisted;
pub mod relay;
pub mod scalars;
pub mod trust_api;
pub mod variables;
pub mod viewer;

use async_graphql::parser::types::OperationType;
use async_graphql::{ErrorExtensions, MergedObject, Schema};

pub use error::{finish_response, ApiError, ApiResult, ErrorCode};
pub use limits::{LimitExceeded, SchemaLimits};
pub use viewer::{RequestMeta, Viewer};

/// The domain services resolvers call. Cloning is one reference count: every request loader
/// holds a clone (about twenty per request and per subscription), and a copy of the services
/// themselves would be hundreds of bytes each.
#[derive(Clone)]
pub struct Services(std::sync::Arc<ServiceSet>);

/// What [`Services`] shares.
#[derive(Clone)]
struct ServiceSet {
    identity: identity::IdentityService,
    marketplace: marketplace::MarketplaceService,
    escrow: escrow::EscrowService,
    trust: trust::TrustService,
    notifications: notifications::NotificationService,
    live: notifications::LiveNotifications,
    job_changes: marketplace::JobChanges,
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
        notifications: notifications::NotificationService,
        live: notifications::LiveNotifications,
        job_changes: marketplace::JobChanges,
    ) -> Self {
        Services(std::sync::Arc::new(ServiceSet {
            identity,
            marketplace,
            escrow,
            trust,
            notifications,
            live,
            job_changes,
            payout_onboarding: None,
            payment_methods: None,
        }))
    }

    /// The same services, letting clients save the payment method their jobs are charged to
    /// through `methods` (without it, `createPaymentSetupIntent` and `savePaymentMethod` answer
    /// `SERVICE_UNAVAILABLE`).
    pub fn with_payment_methods(
        mut self,
        methods: std::sync::Arc<dyn escrow::PaymentMethods>,
    ) -> Self {
        std::sync::Arc::make_mut(&mut self.0).payment_methods = Some(methods);
        self
    }

    /// Clients' customers and SetupIntents at the payment provider, when configured.
    pub fn payment_methods(&self) -> Option<&std::sync::Arc<dyn escrow::PaymentMethods>> {
        self.0.payment_methods.as_ref()
    }

    /// The same services, letting testers connect payout accounts through `onboarding`
    /// (without it, `connectPayoutAccount` answers `SERVICE_UNAVAILABLE`).
    pub fn with_payout_onboarding(mut self, onboarding: PayoutOnboarding) -> Self {
        std::sync::Arc::make_mut(&mut self.0).payout_onboarding = Some(onboarding);
        self
    }

    /// Payout-account onboarding, when configured.
    pub fn payout_onboarding(&self) -> Option<&PayoutOnboarding> {
        self.0.payout_onboarding.as_ref()
    }

    /// In-app notifications and their preferences.
    pub fn notifications(&self) -> &notifications::NotificationService {
        &self.0.notifications
    }

    /// This instance's live fan-out of notifications.
    pub fn live(&self) -> &notifications::LiveNotifications {
        &self.0.live
    }

    /// This instance's live fan-out of job changes.
    pub fn job_changes(&self) -> &marketplace::JobChanges {
        &self.0.job_changes
    }

    /// Ratings, disputes, qualification tests and client accountability.
    pub fn trust(&self) -> &trust::TrustService {
        &self.0.trust
    }

    /// Money held for jobs, payouts and refunds.
    pub fn escrow(&self) -> &escrow::EscrowService {
        &self.0.escrow
    }

    /// Projects, jobs, seats, submissions and test templates.
    pub fn marketplace(&self) -> &marketplace::MarketplaceService {
        &self.0.marketplace
    }

    /// Accounts, sessions, organizations and API keys.
    pub fn identity(&self) -> &identity::IdentityService {
        &self.0.identity
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
    notifications_api::NotificationMutation,
);

/// The executable schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, notifications_api::SubscriptionRoot>;

/// The executable schema with the limits and introspection policy every request goes through.
#[derive(Clone)]
pub struct Api {
    /// The schema.
    pub schema: AppSchema,
    /// What one document may ask for.
    pub limits: SchemaLimits,
    /// Who may read the schema through introspection.
    pub introspection: IntrospectionPolicy,
    /// The input types variables are coerced against before execution.
    pub input_types: variables::InputTypes,
    /// Documents known by hash: the trusted manifest and those registered through APQ.
    pub persisted: std::sync::Arc<persisted::PersistedDocuments>,
    /// Validated documents by hash, so a repeated document is parsed and validated once.
    pub documents: std::sync::Arc<documents::DocumentCache>,
}

/// Who may run `__schema` / `__type` queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntrospectionPolicy {
    /// Every caller, signed in or not (development).
    Everyone,
    /// Partner API keys with the `INTROSPECT` scope only (production's default, as public APIs
    /// that publish their schema elsewhere do).
    IntrospectKeys,
    /// Nobody.
    Nobody,
}

impl IntrospectionPolicy {
    fn admits(self, viewer: &Viewer) -> bool {
        match self {
            IntrospectionPolicy::Everyone => true,
            IntrospectionPolicy::Nobody => false,
            IntrospectionPolicy::IntrospectKeys => matches!(
                viewer,
                Viewer::Authenticated(identity::Principal::ApiKey(key))
                    if key.scope == identity::ApiKeyScope::Introspect
            ),
        }
    }
}

/// Builds the schema over the services. The depth limit is [`limits::check`]'s (it leaves
/// introspection out); complexity is async-graphql's.
pub fn build_schema(
    services: Services,
    limits: SchemaLimits,
    introspection: IntrospectionPolicy,
    persisted: persisted::PersistedDocuments,
) -> Api {
    let documents = std::sync::Arc::new(documents::DocumentCache::new(limits.document_cache_bytes));
    let schema = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        notifications_api::SubscriptionRoot,
    )
    .data(services)
    .limit_complexity(limits.max_complexity)
    .extension(extension::Gateway {
        documents: documents.clone(),
        costs: std::sync::Arc::new(cost::CostLimiter::new(limits.cost)),
    })
    .finish();
    let input_types = variables::InputTypes::from_sdl(&schema.sdl());
    Api {
        schema,
        limits,
        introspection,
        input_types,
        persisted: std::sync::Arc::new(persisted),
        documents,
    }
}

/// The schema in SDL, as committed in `schema.graphql` (written by `cargo xtask schema`).
pub fn schema_sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        notifications_api::SubscriptionRoot,
    )
    .finish()
    .sdl()
    // async-graphql answers `__schema { description }` with a fixed sentence; the file states
    // it too, so a schema rebuilt from introspection (with `schemaDescription`) equals the file.
    .replacen(
        "\nschema {",
        &format!("\n\"\"\"\n{SCHEMA_DESCRIPTION}\n\"\"\"\nschema {{"),
        1,
    )
}

/// What async-graphql's introspection reports as the schema's description.
const SCHEMA_DESCRIPTION: &str = "A GraphQL Schema defines the capabilities of a GraphQL server. It exposes all available types and directives on the server, as well as the entry points for query, mutation, and subscription operations.";

/// Resolves an `Authorization: Bearer` credential (an access token or a `ptk_` API key) into the
/// request's viewer. Invalid credentials do not fail the request: they make a `Rejected` viewer,
/// so public operations still work and protected ones answer `UNAUTHENTICATED` with the reason.
pub async fn authenticate(services: &Services, bearer: Option<&str>) -> Viewer {
    authenticate_with_records(services, bearer).await.0
}

/// What authentication read on the way (the signed-in user, the organization acted for), for
/// [`execute_authenticated`] to hand to the request's loaders (so `me` and every authorization
/// check reuse them instead of reading them again).
#[derive(Debug, Clone, Default)]
pub struct ViewerRecords {
    /// The signed-in user (none for an API key or an anonymous caller).
    pub user: Option<identity::User>,
    /// The organization the caller acts for.
    pub organization: Option<identity::Organization>,
}

/// [`authenticate`], also returning the records authentication read.
pub async fn authenticate_with_records(
    services: &Services,
    bearer: Option<&str>,
) -> (Viewer, ViewerRecords) {
    let Some(token) = bearer else {
        return (Viewer::Anonymous, ViewerRecords::default());
    };
    match services.identity().authenticate_bearer_loaded(token).await {
        Ok(found) => (
            Viewer::Authenticated(found.principal),
            ViewerRecords {
                user: found.user,
                organization: found.organization,
            },
        ),
        Err(error) => {
            let error = ApiError::from(error);
            let viewer = match error {
                ApiError::Internal(detail) => {
                    tracing::error!(detail = %detail, "credential check failed");
                    Viewer::Rejected("credentials could not be checked".to_string())
                }
                other => Viewer::Rejected(other.to_string()),
            };
            (viewer, ViewerRecords::default())
        }
    }
}

/// Whether the operation the request selects is a mutation. Unparsable documents answer
/// `false`: execution reports their errors.
pub fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    operation_type(&document, request.operation_name.as_deref()) == Some(OperationType::Mutation)
}

/// The type of the operation a request with `operation_name` selects in `document`.
pub fn operation_type(
    document: &async_graphql::parser::types::ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationType> {
    use async_graphql::parser::types::DocumentOperations;
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| operation.node.ty)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
            .values()
            .next()
            .map(|operation| operation.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// A request refused before execution: no `data` entry (GraphQL over HTTP's "request error").
fn request_error(error: async_graphql::Error, request_id: &str) -> async_graphql::Response {
    let response = async_graphql::Response::from_errors(vec![
        error.into_server_error(async_graphql::Pos::default())
    ]);
    finish_response(response, request_id)
}

/// Checks `request` against the limits, the introspection policy and its variables' types, and
/// hands the parsed document to it so it is parsed once; a refusal is the response to send.
pub fn admit(
    api: &Api,
    request: &mut async_graphql::Request,
    viewer: &Viewer,
    request_id: &str,
) -> Result<(), Box<async_graphql::Response>> {
    let resolved = api
        .persisted
        .resolve(request, viewer)
        .map_err(|error| Box::new(request_error(error, request_id)))?;
    let preparing = std::time::Instant::now();
    let key = documents::key(&request.query, request.operation_name.as_deref());
    let (cached, fresh) = match api.documents.get(&key) {
        Some(cached) => (Some(cached), None),
        None => {
            let checked = limits::check(
                &request.query,
                request.operation_name.as_deref(),
                &api.limits,
            )
            .map_err(|exceeded| {
                let error =
                    async_graphql::Error::new(exceeded.to_string()).extend_with(|_, extensions| {
                        extensions.set("code", ErrorCode::GraphqlValidationFailed.as_str());
                        extensions.set("limit", exceeded.name());
                        extensions.set("field", "query");
                    });
                Box::new(request_error(error, request_id))
            })?;
            (None, checked)
        }
    };
    api.documents.spent_preparing(preparing.elapsed());
    let Some(checked) = cached
        .as_deref()
        .map(documents::CachedDocument::checked)
        .or(fresh.as_ref())
    else {
        return Ok(());
    };
    if checked.introspects && !api.introspection.admits(viewer) {
        let error: async_graphql::Error = ApiError::Forbidden(
            "introspection is not available to this caller; use the published schema.graphql or an API key with the INTROSPECT scope".to_string(),
        )
        .into();
        return Err(Box::new(request_error(error, request_id)));
    }
    if viewer.is_read_only_key()
        && operation_type(&checked.document, request.operation_name.as_deref())
            == Some(OperationType::Mutation)
    {
        let error: async_graphql::Error =
            ApiError::Forbidden("this API key is read-only: mutations are refused".to_string())
                .into();
        return Err(Box::new(request_error(error, request_id)));
    }
    if let Err(invalid) = api.input_types.check(
        &checked.document,
        request.operation_name.as_deref(),
        &request.variables,
    ) {
        let variable = invalid.variable().to_string();
        let error =
            async_graphql::Error::from(ApiError::bad_input(invalid.field(), invalid.to_string()))
                .extend_with(|_, extensions| extensions.set("variable", variable));
        return Err(Box::new(request_error(error, request_id)));
    }
    request
        .data
        .insert(cost::TypenameSelections(checked.typenames));
    let document = checked.document.clone();
    let pending = match (cached, fresh) {
        (Some(cached), _) => documents::PendingDocument::hit(key, &request.variables, cached),
        (None, Some(fresh)) => documents::PendingDocument::miss(key, &request.variables, fresh),
        (None, None) => return Ok(()),
    };
    request.data.insert(pending);
    if let Some(hash) = resolved.register {
        api.persisted.register(hash, &request.query);
    }
    request.set_parsed_query(document);
    Ok(())
}

/// Executes one request for `viewer`: the limits, the introspection policy and the rule that a
/// read-only API key never runs a mutation are checked before any resolver runs; the response
/// is finished (codes, request id).
pub async fn execute(
    api: &Api,
    services: &Services,
    request: async_graphql::Request,
    viewer: Viewer,
    meta: RequestMeta,
) -> async_graphql::Response {
    execute_authenticated(
        api,
        services,
        request,
        viewer,
        ViewerRecords::default(),
        meta,
    )
    .await
}

/// [`execute`] for a viewer whose user record authentication already read
/// ([`authenticate_with_user`]): the request's user loader starts with it.
pub async fn execute_authenticated(
    api: &Api,
    services: &Services,
    mut request: async_graphql::Request,
    viewer: Viewer,
    viewer_records: ViewerRecords,
    meta: RequestMeta,
) -> async_graphql::Response {
    let request_id = meta.request_id.clone();
    if let Err(refusal) = admit(api, &mut request, &viewer, &request_id) {
        return *refusal;
    }
    // Loaders per request: their caches must not outlive the request's authorization.
    let passes = batcher::Passes::default();
    let request = loaders::install_seeded(
        request.data(viewer).data(meta),
        services,
        viewer_records,
        passes.clone(),
    );
    // Tracked, so that its loaders send each batch once the request has nothing else to do.
    let response = passes.count(api.schema.execute(request)).await;
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
