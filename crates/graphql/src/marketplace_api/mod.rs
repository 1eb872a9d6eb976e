//! The marketplace domain's GraphQL surface: projects, jobs, seats, submissions and AI test
//! templates. Resolvers translate arguments, build the marketplace [`marketplace::Actor`] from
//! the viewer ([`access`]), call `marketplace::MarketplaceService`, and map its errors. Read
//! visibility is decided here ([`visibility`]); who may change what is decided by the domain
//! crate. References between objects go through the per-request loaders
//! ([`crate::loaders`]).

pub mod access;
pub mod escrow_types;
pub mod jobs;
pub mod money;
pub mod projects;
pub mod submissions;
pub mod templates;
pub mod types;

use async_graphql::MergedObject;

/// Every marketplace query.
#[derive(MergedObject, Default)]
pub struct MarketplaceQuery(
    projects::ProjectQuery,
    jobs::JobQuery,
    submissions::SubmissionQuery,
    templates::TemplateQuery,
    escrow_types::EscrowQuery,
);

/// Every marketplace mutation.
#[derive(MergedObject, Default)]
pub struct MarketplaceMutation(
    projects::ProjectMutation,
    jobs::JobMutation,
    submissions::SubmissionMutation,
    templates::TemplateMutation,
    money::MoneyMutation,
);
