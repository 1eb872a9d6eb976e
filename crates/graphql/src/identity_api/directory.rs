//! The platform admins' directory: `users(filter:, first:, after:)` and
//! `organizations(filter:, first:, after:)`, connections newest first with a real cursor and the
//! number the filter matches. Identity decides who may read it (platform admins).

use async_graphql::{Context, InputObject, Object};

use super::organizations::{Organization, OrganizationStatus};
use super::types::{Role, User, UserStatus};
use crate::error::ApiResult;
use crate::relay::{decode_id_cursor, keyset_connection, ListConnection};
use crate::viewer::{viewer, HasRole};
use crate::Services;

/// Narrows `users`; every given condition must hold.
#[derive(InputObject, Default)]
pub struct UserFilterInput {
    /// Only this platform role.
    pub role: Option<Role>,
    /// Only this account status.
    pub status: Option<UserStatus>,
    /// Only users whose e-mail address or name contains this text, in any case (1 to 100
    /// characters).
    pub search: Option<String>,
}

/// Narrows `organizations`; every given condition must hold.
#[derive(InputObject, Default)]
pub struct OrganizationFilterInput {
    /// Only this status.
    pub status: Option<OrganizationStatus>,
    /// Only organizations whose name or slug contains this text, in any case (1 to 100
    /// characters).
    pub search: Option<String>,
}

/// The admins' directory queries.
#[derive(Default)]
pub struct DirectoryQuery;

/// The admins' directory queries.
#[Object]
impl DirectoryQuery {
    /// Every user matching `filter`, newest first. Platform admins only.
    #[graphql(
        guard = "HasRole(identity::Role::Admin)",
        complexity = "crate::relay::page_cost(Some(first), None, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilterInput>,
        #[graphql(default = 20, validator(minimum = 0, maximum = 100))] first: i32,
        after: Option<String>,
    ) -> ApiResult<ListConnection<User>> {
        let filter = filter.unwrap_or_default();
        let after_id = after.as_deref().map(decode_id_cursor).transpose()?;
        let page = ctx
            .data_unchecked::<Services>()
            .identity()
            .list_users(
                viewer(ctx).principal()?,
                &identity::UserFilter {
                    role: filter.role.map(Into::into),
                    status: filter.status.map(Into::into),
                    search: filter.search,
                },
                after_id,
                first.unsigned_abs(),
            )
            .await?;
        Ok(keyset_connection(
            after.is_some(),
            page,
            |user| user.id,
            User::new,
        ))
    }

    /// Every organization matching `filter`, newest first. Platform admins only.
    #[graphql(
        guard = "HasRole(identity::Role::Admin)",
        complexity = "crate::relay::page_cost(Some(first), None, child_complexity)"
    )]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        filter: Option<OrganizationFilterInput>,
        #[graphql(default = 20, validator(minimum = 0, maximum = 100))] first: i32,
        after: Option<String>,
    ) -> ApiResult<ListConnection<Organization>> {
        let filter = filter.unwrap_or_default();
        let after_id = after.as_deref().map(decode_id_cursor).transpose()?;
        let page = ctx
            .data_unchecked::<Services>()
            .identity()
            .list_organizations(
                viewer(ctx).principal()?,
                &identity::OrganizationFilter {
                    status: filter.status.map(Into::into),
                    search: filter.search,
                },
                after_id,
                first.unsigned_abs(),
            )
            .await?;
        Ok(keyset_connection(
            after.is_some(),
            page,
            |organization| organization.id,
            Organization,
        ))
    }
}
