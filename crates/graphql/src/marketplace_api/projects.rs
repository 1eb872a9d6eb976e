//! Projects: the `project` and `searchProjects` queries, `User.projects`, and create, update and
//! archive.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use bson::oid::ObjectId;

use super::access::{actor, limits_for};
use super::types::Project;
use crate::error::{ApiError, ApiResult};
use crate::loaders::{load, ProjectLoader, ProjectsByClientLoader};
use crate::relay::{connection_from_list, page_request, GlobalId, ListConnection, NodeType};
use crate::viewer::{Authenticated, SignedInUser};
use crate::Services;
use marketplace::visibility::{organization_listing_visible, project_visible};

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Decodes a project ID argument.
pub fn project_id(id: &ID, field: &str) -> ApiResult<ObjectId> {
    GlobalId::decode_as(id, NodeType::Project, field)
}

/// A project the caller may see, or `NOT_FOUND`.
pub async fn visible_project(ctx: &Context<'_>, id: ObjectId) -> ApiResult<Project> {
    let actor = actor(ctx).await?;
    load(ctx, ProjectLoader(services(ctx).clone()), id)
        .await?
        .filter(|project| project_visible(&actor, project))
        .map(Project)
        .ok_or_else(|| ApiError::NotFound("project not found".to_string()))
}

/// The projects a client owns, newest first, as `viewer` may see them (`User.projects`).
pub async fn projects_of(
    ctx: &Context<'_>,
    client_id: ObjectId,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<ListConnection<Project>> {
    let actor = actor(ctx).await?;
    let projects = load(
        ctx,
        ProjectsByClientLoader(services(ctx).clone()),
        client_id,
    )
    .await?
    .unwrap_or_default()
    .into_iter()
    .filter(|project| project_visible(&actor, project))
    .collect();
    connection_from_list(&page_request(first, after, last, before), projects, Project)
}

/// The projects made for an organization, newest first (`Organization.projects`): for its
/// members and admins, `FORBIDDEN` for anyone else.
pub async fn projects_of_organization(
    ctx: &Context<'_>,
    organization_id: ObjectId,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> ApiResult<ListConnection<Project>> {
    let actor = actor(ctx).await?;
    if !organization_listing_visible(&actor, organization_id) {
        return Err(ApiError::Forbidden(
            "only the organization's members and admins may list its projects".to_string(),
        ));
    }
    // Read one page at a time in MongoDB: an organization's projects grow without bound.
    let (direction, cursor, limit) = crate::relay::keyset_request(first, after, last, before)?;
    let mut page = services(ctx)
        .marketplace()
        .projects_of_organization(organization_id, direction, cursor, limit)
        .await?;
    page.items
        .retain(|project| project_visible(&actor, project));
    Ok(crate::relay::keyset_connection_towards(
        direction,
        cursor,
        page,
        |project| project.id,
        Project,
    ))
}

/// Project queries.
#[derive(Default)]
pub struct ProjectQuery;

/// Project queries.
#[Object]
impl ProjectQuery {
    /// One project: visible to its client, members of its organization and admins.
    #[graphql(guard = "Authenticated")]
    async fn project(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Project> {
        visible_project(ctx, project_id(&id, "id")?).await
    }

    /// Full-text search over the name and description of the projects the caller (or their
    /// organization) owns, best match first; `after` continues from a cursor of a previous page.
    #[graphql(
        guard = "Authenticated",
        complexity = "crate::relay::page_cost(Some(first), None, child_complexity)"
    )]
    async fn search_projects(
        &self,
        ctx: &Context<'_>,
        text: String,
        #[graphql(default = 20, validator(minimum = 1, maximum = 100))] first: i32,
        after: Option<String>,
    ) -> ApiResult<ListConnection<Project>> {
        if text.trim().is_empty() {
            return Err(ApiError::bad_input("text", "must not be empty"));
        }
        // A cursor is the position of an item in the ranking; the next page starts after it.
        let offset = match after.as_deref() {
            Some(after) => foundation::Cursor::decode(after)
                .and_then(|cursor| cursor.offset())
                .map_err(|_| ApiError::bad_input("after", "is not a cursor of this search"))?
                .saturating_add(1),
            None => 0,
        };
        let actor = actor(ctx).await?;
        let page = services(ctx)
            .marketplace()
            .search_projects_page(&actor, &text, offset, i64::from(first))
            .await?;
        let mut connection = ListConnection::with_additional_fields(
            offset > 0,
            page.has_next_page,
            crate::relay::ConnectionTotals {
                total_count: page.total_count,
            },
        );
        connection.edges = page
            .items
            .into_iter()
            .enumerate()
            .map(|(index, project)| {
                async_graphql::connection::Edge::new(
                    foundation::Cursor::from_offset(offset + index as u64).encode(),
                    Project(project),
                )
            })
            .collect();
        Ok(connection)
    }
}

/// What kind of product a project is.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::ProjectType")]
pub enum ProjectType {
    /// A website or web app.
    Web,
    /// A mobile app.
    Mobile,
    /// An API.
    Api,
    /// A desktop application.
    Desktop,
    /// A stored value this API version does not know. Refused as input (`BAD_USER_INPUT`).
    Other,
}

/// Where the product under test runs.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "marketplace::ProjectEnvironment")]
pub enum ProjectEnvironment {
    /// Live.
    Production,
    /// A staging copy.
    Staging,
    /// A development build.
    Development,
    /// A stored value this API version does not know. Refused as input (`BAD_USER_INPUT`).
    Other,
}

/// Login details for the product under test; stored encrypted.
#[derive(InputObject)]
pub struct ProjectCredentialsInput {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Anything else testers need.
    #[graphql(default)]
    pub additional_info: String,
}

impl From<ProjectCredentialsInput> for marketplace::ProjectCredentials {
    fn from(input: ProjectCredentialsInput) -> Self {
        marketplace::ProjectCredentials {
            username: input.username,
            password: input.password,
            additional_info: input.additional_info,
        }
    }
}

/// Input of `createProject`.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// Name (required).
    pub name: String,
    /// Description.
    #[graphql(default)]
    pub description: String,
    /// What kind of product it is.
    #[graphql(default_with = "ProjectType::Web")]
    pub project_type: ProjectType,
    /// Where the product runs.
    #[graphql(default)]
    pub url: String,
    /// Which environment testers use.
    #[graphql(default_with = "ProjectEnvironment::Staging")]
    pub environment: ProjectEnvironment,
    /// Login details testers need; stored encrypted.
    pub credentials: Option<ProjectCredentialsInput>,
    /// Target devices.
    #[graphql(default)]
    pub target_devices: Vec<String>,
    /// Target browsers.
    #[graphql(default)]
    pub target_browsers: Vec<String>,
    /// Target operating systems.
    #[graphql(default)]
    pub target_os: Vec<String>,
}

/// Input of `updateProject`: only the fields given change.
#[derive(InputObject)]
pub struct UpdateProjectInput {
    /// The project.
    pub project_id: ID,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New URL.
    pub url: Option<String>,
    /// New credentials (replace the old ones).
    pub credentials: Option<ProjectCredentialsInput>,
    /// New target devices.
    pub target_devices: Option<Vec<String>>,
    /// New target browsers.
    pub target_browsers: Option<Vec<String>>,
    /// New target operating systems.
    pub target_os: Option<Vec<String>>,
}

/// Input naming one project.
#[derive(InputObject)]
pub struct ProjectIdInput {
    /// The project.
    pub project_id: ID,
}

/// A project after a change.
#[derive(SimpleObject)]
pub struct ProjectPayload {
    /// The project.
    pub project: Project,
}

/// Project mutations.
#[derive(Default)]
pub struct ProjectMutation;

/// Project mutations.
#[Object]
impl ProjectMutation {
    /// Creates a project owned by the calling client (and their organization), within the
    /// organization's `maxProjects` (or the client's tier limit). Clients and admins only.
    #[graphql(guard = "SignedInUser")]
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        input: CreateProjectInput,
    ) -> ApiResult<ProjectPayload> {
        let actor = actor(ctx).await?;
        let limits = limits_for(ctx, &actor).await?;
        let project = services(ctx)
            .marketplace()
            .create_project(
                &actor,
                marketplace::NewProject {
                    name: input.name,
                    description: input.description,
                    project_type: input.project_type.into(),
                    url: input.url,
                    environment: input.environment.into(),
                    credentials: input.credentials.map(Into::into),
                    target_devices: input.target_devices,
                    target_browsers: input.target_browsers,
                    target_os: input.target_os,
                },
                limits,
            )
            .await?;
        Ok(ProjectPayload {
            project: Project(project),
        })
    }

    /// Changes a project; its client and members of its organization may.
    #[graphql(guard = "SignedInUser")]
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        input: UpdateProjectInput,
    ) -> ApiResult<ProjectPayload> {
        let id = project_id(&input.project_id, "projectId")?;
        let actor = actor(ctx).await?;
        let project = services(ctx)
            .marketplace()
            .update_project(
                &actor,
                id,
                marketplace::ProjectUpdate {
                    name: input.name,
                    description: input.description,
                    url: input.url,
                    credentials: input.credentials.map(Into::into),
                    target_devices: input.target_devices,
                    target_browsers: input.target_browsers,
                    target_os: input.target_os,
                },
            )
            .await?;
        Ok(ProjectPayload {
            project: Project(project),
        })
    }

    /// Archives a project; its client and its organization's owners and admins may.
    #[graphql(guard = "SignedInUser")]
    async fn archive_project(
        &self,
        ctx: &Context<'_>,
        input: ProjectIdInput,
    ) -> ApiResult<ProjectPayload> {
        let id = project_id(&input.project_id, "projectId")?;
        let actor = actor(ctx).await?;
        let project = services(ctx)
            .marketplace()
            .archive_project(&actor, id)
            .await?;
        Ok(ProjectPayload {
            project: Project(project),
        })
    }
}
