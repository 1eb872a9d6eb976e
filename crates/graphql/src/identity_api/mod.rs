//! The identity domain's GraphQL surface: accounts, sessions, two-factor authentication,
//! organizations and API keys. Resolvers translate arguments, call `identity::IdentityService`
//! with the viewer's principal, and map its errors; the authorization rules themselves live in
//! the identity crate.

pub mod accounts;
pub mod directory;
pub mod organizations;
pub mod personal_data;
pub mod two_factor;
pub mod types;

use async_graphql::MergedObject;

/// Every identity query.
#[derive(MergedObject, Default)]
pub struct IdentityQuery(
    accounts::AccountQuery,
    organizations::OrganizationQuery,
    personal_data::PersonalDataQuery,
    directory::DirectoryQuery,
);

/// Every identity mutation.
#[derive(MergedObject, Default)]
pub struct IdentityMutation(
    accounts::AccountMutation,
    two_factor::TwoFactorMutation,
    organizations::OrganizationMutation,
    personal_data::PersonalDataMutation,
);
