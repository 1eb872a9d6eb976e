//! Relay's `Node` interface and the `node(id:)` query that fetches any object by global ID.
//!
//! Users, organizations, projects, jobs, submissions, AI test templates and ratings are nodes. Sessions and API keys have global IDs too (so mutations
//! can name them) but are reached only through their owner's connections.

use async_graphql::{Context, Interface, Object, ID};

use identity::visibility::{user_findable, Reader};

use crate::error::{ApiError, ApiResult};
use crate::identity_api::organizations::Organization;
use crate::identity_api::types::User;
use crate::loaders::load_user;
use crate::marketplace_api::types::{AiTestTemplate, Job, Project, Submission};
use crate::marketplace_api::{jobs, projects, submissions, templates};
use crate::relay::{GlobalId, NodeType};
use crate::viewer::{viewer, Authenticated};
use crate::Services;

/// An object with a global ID that `node(id:)` can fetch.
// A `Node` lives only while one field resolves, so the size of its largest variant costs
// nothing worth a heap allocation per object.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Global ID."))]
pub enum Node {
    /// A user.
    User(User),
    /// An organization.
    Organization(Organization),
    /// A project.
    Project(Project),
    /// A job.
    Job(Job),
    /// A submission.
    Submission(Submission),
    /// An AI test template.
    AiTestTemplate(AiTestTemplate),
    /// A rating.
    Rating(crate::trust_api::ratings::Rating),
}

/// The `node` query.
#[derive(Default)]
pub struct NodeQuery;

/// The `node` query.
#[Object]
impl NodeQuery {
    /// Fetches any object by its global ID. Users to themselves, admins and members (and API
    /// keys) of their organization, with the fields `User` describes; organizations to their
    /// members, admins and their own API keys; marketplace objects to whoever may see them.
    /// Anything else is `NOT_FOUND`, the same answer as for an ID that names nothing.
    #[graphql(guard = "Authenticated")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Node> {
        let global_id = GlobalId::decode(&id, "id")?;
        let not_found = || ApiError::NotFound(format!("no object with ID {}", id.as_str()));
        let identity = ctx.data_unchecked::<Services>().identity();
        match global_id.node_type {
            NodeType::User => {
                let principal = viewer(ctx).principal()?;
                let reader_record = match principal.user_id() {
                    Some(id) => load_user(ctx, id).await?,
                    None => None,
                };
                let reader = Reader {
                    principal,
                    record: reader_record.as_ref(),
                };
                // A hidden user answers exactly like an id that names nobody.
                load_user(ctx, global_id.object_id)
                    .await?
                    .filter(|user| user_findable(reader, user))
                    .map(|user| Node::User(User::new(user)))
                    .ok_or_else(not_found)
            }
            NodeType::Organization => {
                let principal = viewer(ctx).principal()?;
                let organization = identity
                    .organization_for(principal, global_id.object_id)
                    .await?;
                Ok(Node::Organization(Organization(organization)))
            }
            NodeType::Project => Ok(Node::Project(
                projects::visible_project(ctx, global_id.object_id).await?,
            )),
            NodeType::Job => Ok(Node::Job(
                jobs::visible_job(ctx, global_id.object_id).await?,
            )),
            NodeType::Submission => Ok(Node::Submission(
                submissions::visible_submission(ctx, global_id.object_id).await?,
            )),
            NodeType::AiTestTemplate => Ok(Node::AiTestTemplate(
                templates::visible_template(ctx, id.clone()).await?,
            )),
            NodeType::Rating => Ok(Node::Rating(
                crate::trust_api::ratings::visible_rating(ctx, global_id.object_id).await?,
            )),
            NodeType::Session | NodeType::ApiKey | NodeType::OrganizationInvitation => {
                Err(not_found())
            }
        }
    }
}
