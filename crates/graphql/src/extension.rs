//! The schema's one async-graphql extension: cached validation, cost charging and the literal
//! argument check, in that order.
//!
//! One extension rather than three because async-graphql runs every field of a request through
//! the chain of all its extensions (a boxed future per extension per field, whether or not the
//! extension looks at fields); on an answer with thousands of fields, each extension more is
//! measurable.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Value};

use crate::cost::{CostLimiter, OperationCost};
use crate::documents::DocumentCache;

/// The factory installed once on the schema; each request gets its own [`GatewayExtension`].
pub(crate) struct Gateway {
    pub(crate) documents: Arc<DocumentCache>,
    pub(crate) costs: Arc<CostLimiter>,
}

impl ExtensionFactory for Gateway {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GatewayExtension {
            documents: self.documents.clone(),
            cost: OperationCost::new(self.costs.clone()),
        })
    }
}

struct GatewayExtension {
    documents: Arc<DocumentCache>,
    cost: OperationCost,
}

#[async_trait::async_trait]
impl Extension for GatewayExtension {
    /// Validation answered from the document cache, then charged, so that cached validations
    /// are charged too.
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = crate::documents::validate_cached(&self.documents, ctx, next).await?;
        self.cost.charge(ctx, result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        self.cost.report(&mut response);
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        crate::arguments::check(ctx, &info)?;
        next.run(ctx, info).await
    }
}
