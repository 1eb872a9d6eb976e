//! Relay's `Node` interface and the `node(id:)` query that fetches any object by global ID.
//!
//! Users, organizations, projects, jobs, submissions, AI test templates, ratings, disputes, sessions and
//! API keys and notifications are nodes. As Relay expects, `node` answers `null` for an id that names nothing or
//! something the caller may not see (the two are indistinguishable); only a malformed id is an
//! error (`BAD_USER_INPUT`).

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
    Dispute(crate::trust_api::disputes::Dispute),
    /// A signed-in device (its owner only).
    Session(crate::identity_api::types::Session),
    /// A partner API key (its organization's owners and admins, platform admins).
    ApiKey(crate::identity_api::organizations::ApiKey),
    /// A notification (its recipient only).
    Notification(crate::notifications_api::Notification),
    /// A qualification test (its tester and platform admins).
    QualificationTest(crate::trust_api::qualifications::QualificationTest),
}

/// The `node` query.
#[derive(Default)]
pub struct NodeQuery;

/// The `node` query.
#[Object]
impl NodeQuery {
    /// Fetches any object by its global ID. Users to themselves, admins and members (and API
    /// keys) of their organization, with the fields `User` describes; organizations to their
    /// members, admins and their own API keys; sessions to their owner; API keys to their
    /// organization's owners and admins and platform admins; marketplace objects to whoever may
    /// see them. Anything else is `null`, the same answer as for an ID that names nothing; a
    /// malformed ID is `BAD_USER_INPUT`.
    #[graphql(guard = "Authenticated")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        let global_id = GlobalId::decode(&id, "id")?;
        match find_node(ctx, &id, global_id).await {
            Ok(node) => Ok(node),
            // Hidden and missing answer alike.
            Err(ApiError::NotFound(_) | ApiError::Forbidden(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// The object `global_id` names if the caller may see it.
async fn find_node(ctx: &Context<'_>, id: &ID, global_id: GlobalId) -> ApiResult<Option<Node>> {
    let identity = ctx.data_unchecked::<Services>().identity();
    Ok(match global_id.node_type {
        NodeType::User => {
            let principal = viewer(ctx).principal()?;
            let reader_record = match principal.user_id() {
                Some(id) => load_user(ctx, id).await?,
                None => None,
            };
            let reader = Reader {
                principal,
                record: reader_record.as_deref(),
            };
            load_user(ctx, global_id.object_id)
                .await?
                .filter(|user| user_findable(reader, user))
                .map(|user| Node::User(User::new(user)))
        }
        NodeType::Organization => {
            crate::identity_api::organizations::visible_organization(ctx, global_id.object_id)
                .await?
                .map(Node::Organization)
        }
        NodeType::Project => Some(Node::Project(
            projects::visible_project(ctx, global_id.object_id).await?,
        )),
        NodeType::Job => Some(Node::Job(
            jobs::visible_job(ctx, global_id.object_id).await?,
        )),
        NodeType::Submission => Some(Node::Submission(
            submissions::visible_submission(ctx, global_id.object_id).await?,
        )),
        NodeType::AiTestTemplate => Some(Node::AiTestTemplate(
            templates::visible_template(ctx, id.clone()).await?,
        )),
        NodeType::Rating => Some(Node::Rating(
            crate::trust_api::ratings::visible_rating(ctx, global_id.object_id).await?,
        )),
        NodeType::Dispute => Some(Node::Dispute(
            crate::trust_api::disputes::visible_dispute(ctx, global_id.object_id).await?,
        )),
        NodeType::Session => {
            // Only the owner's own live sessions: the list is theirs and short.
            let principal = viewer(ctx).principal()?;
            if principal.user_id().is_none() {
                return Ok(None);
            }
            identity
                .list_sessions(principal)
                .await?
                .into_iter()
                .find(|session| session.id == global_id.object_id)
                .map(|session| Node::Session(session.into()))
        }
        NodeType::ApiKey => identity
            .api_key_for(viewer(ctx).principal()?, global_id.object_id)
            .await?
            .map(|key| Node::ApiKey(crate::identity_api::organizations::ApiKey(key))),
        NodeType::OrganizationInvitation => None,
        NodeType::QualificationTest => Some(Node::QualificationTest(
            crate::trust_api::qualifications::visible_qualification_test(ctx, global_id.object_id)
                .await?,
        )),
        NodeType::Notification => {
            crate::notifications_api::own_notification(ctx, global_id.object_id)
                .await?
                .map(Node::Notification)
        }
    })
}
