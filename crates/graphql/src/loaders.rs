//! Per-request dataloaders: every reference along client → project → job → submission → tester
//! (and template, and a job's escrow) is resolved by one `$in` query per batch on an indexed field, so a nested
//! query costs one MongoDB command per level whatever its fan-out.
//!
//! Loaders live for one request (their caches must not outlive the request's authorization) and
//! are installed by [`install_seeded`]. One-to-many loaders return a parent's whole list, newest
//! first; resolvers page it in memory with [`crate::relay::connection_from_list`], which gives
//! every parent its own pagination and `totalCount` without a query per parent.
//!
//! Batching is [`crate::batcher`]'s: no timer, every lookup of a level in one `$in`, a key in
//! flight never asked again, values shared (`Arc`) so a user referenced by a thousand
//! submissions is read and held once.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use bson::oid::ObjectId;

use crate::batcher::{Batch, Caching, Loader, Passes};
use crate::error::{ApiError, ApiResult};
use crate::Services;

/// A request's loader of one kind (in the request's data).
pub type RequestLoader<B> = Loader<B>;

/// Declares a loader over one batch function of the services.
macro_rules! batch_loader {
    ($(#[$doc:meta])* $name:ident: $value:ty, |$services:ident, $keys:ident| $body:expr) => {
        $(#[$doc])*
        pub struct $name(pub Services);

        impl Batch for $name {
            type Value = $value;

            async fn load(
                &self,
                $keys: &[ObjectId],
            ) -> Result<HashMap<ObjectId, $value>, ApiError> {
                let $services = &self.0;
                Ok($body)
            }
        }
    };
}

batch_loader!(
    /// Users by id.
    UserLoader: identity::User,
    |services, keys| services
        .identity()
        .users_by_ids(keys)
        .await?
        .into_iter()
        .map(|user| (user.id, user))
        .collect()
);

batch_loader!(
    /// Organizations by id (their settings decide what members may do with jobs).
    OrganizationLoader: identity::Organization,
    |services, keys| services
        .identity()
        .organizations_by_ids(keys)
        .await?
        .into_iter()
        .map(|organization| (organization.id, organization))
        .collect()
);

batch_loader!(
    /// Projects by id.
    ProjectLoader: marketplace::Project,
    |services, keys| services.marketplace().projects_by_ids(keys).await?
);

batch_loader!(
    /// Every project of each client, newest first.
    ProjectsByClientLoader: Vec<marketplace::Project>,
    |services, keys| services
        .marketplace()
        .projects_by_client_ids(keys, usize::MAX)
        .await?
);

batch_loader!(
    /// Every submission of each tester, drafts included, newest first.
    SubmissionsByTesterLoader: Vec<marketplace::Submission>,
    |services, keys| services
        .marketplace()
        .submissions_by_tester_ids(keys)
        .await?
);

batch_loader!(
    /// Each organization's counted projects and running jobs.
    OrganizationUsageLoader: marketplace::OrganizationUsageCounts,
    |services, keys| services.marketplace().organization_usages(keys).await?
);

batch_loader!(
    /// Jobs by id.
    JobLoader: marketplace::Job,
    |services, keys| services.marketplace().jobs_by_ids(keys).await?
);

batch_loader!(
    /// Every job of each project, newest first.
    JobsByProjectLoader: Vec<marketplace::Job>,
    |services, keys| services
        .marketplace()
        .jobs_by_project_ids(keys, usize::MAX)
        .await?
);

batch_loader!(
    /// Every job each tester holds a seat on, newest first.
    JobsByTesterLoader: Vec<marketplace::Job>,
    |services, keys| services
        .marketplace()
        .jobs_by_tester_ids(keys, usize::MAX)
        .await?
);

batch_loader!(
    /// Every non-draft submission of each job, newest first.
    SubmissionsByJobLoader: Vec<marketplace::Submission>,
    |services, keys| services
        .marketplace()
        .submissions_by_job_ids(keys, usize::MAX)
        .await?
);

batch_loader!(
    /// The newest credential reads of each project (at most
    /// `marketplace::CREDENTIAL_TRAIL_LIMIT`), newest first.
    CredentialReadsByProjectLoader: Vec<marketplace::CredentialRead>,
    |services, keys| services
        .marketplace()
        .credential_reads_by_project_ids(keys, marketplace::CREDENTIAL_TRAIL_LIMIT)
        .await?
);

batch_loader!(
    /// AI test templates by id.
    TemplateLoader: marketplace::AiTestTemplate,
    |services, keys| services.marketplace().templates_by_ids(keys).await?
);

batch_loader!(
    /// The escrow of each job (none for drafts).
    EscrowByJobLoader: escrow::EscrowTransaction,
    |services, keys| services.escrow().escrows_by_job_ids(keys).await?
);

batch_loader!(
    /// The payout of each submission (only that payout is read, not its job's whole escrow).
    PayoutBySubmissionLoader: escrow::Payout,
    |services, keys| services.escrow().payouts_by_submission_ids(keys).await?
);

batch_loader!(
    /// Every rating of each submission (both sides, hidden or not; resolvers filter).
    RatingsBySubmissionLoader: Vec<trust::Rating>,
    |services, keys| services.trust().ratings_by_submission_ids(keys).await?
);

batch_loader!(
    /// Every dispute of each submission, oldest first (resolvers filter).
    DisputesBySubmissionLoader: Vec<trust::Dispute>,
    |services, keys| services.trust().disputes_by_submission_ids(keys).await?
);

batch_loader!(
    /// Each user's revealed public ratings, newest first.
    PublicRatingsByUserLoader: Vec<trust::Rating>,
    |services, keys| services.trust().public_ratings_by_user_ids(keys).await?
);

batch_loader!(
    /// Each user's summary of revealed ratings received.
    RatingSummaryLoader: trust::RatingSummary,
    |services, keys| services.trust().rating_summaries(keys).await?
);

batch_loader!(
    /// Each client's accountability figures.
    ClientAccountabilityLoader: trust::ClientAccountability,
    |services, keys| services
        .trust()
        .client_accountability(services.marketplace(), keys)
        .await?
);

/// The loaders of a subscription: they batch the lookups of one event's answer but remember
/// nothing between events, so every event shows the data as it is when that event is resolved
/// (a cache would answer a job's tenth change with the submissions its first change read).
pub fn install_for_stream(
    request: async_graphql::Request,
    services: &Services,
) -> async_graphql::Request {
    install_with(request, services, Caching::None, Passes::default())
}

/// Adds a fresh set of loaders to `request`, each caching what it read for the rest of the
/// request. The user and organization loaders start with what authentication read (the
/// signed-in user, the organization acted for), so the request does not read them again.
/// Batches go out when `passes` says the request is idle: run its future under
/// [`Passes::count`].
pub fn install_seeded(
    request: async_graphql::Request,
    services: &Services,
    viewer_records: crate::ViewerRecords,
    passes: Passes,
) -> async_graphql::Request {
    let users = Loader::new(
        UserLoader(services.clone()),
        Caching::Request,
        passes.clone(),
    );
    if let Some(user) = viewer_records.user {
        users.feed_many(vec![(user.id, user)]);
    }
    let organizations = Loader::new(
        OrganizationLoader(services.clone()),
        Caching::Request,
        passes.clone(),
    );
    if let Some(organization) = viewer_records.organization {
        organizations.feed_many(vec![(organization.id, organization)]);
    }
    install_rest(
        request,
        services,
        users,
        organizations,
        Caching::Request,
        passes,
    )
}

fn install_with(
    request: async_graphql::Request,
    services: &Services,
    caching: Caching,
    passes: Passes,
) -> async_graphql::Request {
    let users = Loader::new(UserLoader(services.clone()), caching, passes.clone());
    let organizations = Loader::new(
        OrganizationLoader(services.clone()),
        caching,
        passes.clone(),
    );
    install_rest(request, services, users, organizations, caching, passes)
}

fn install_rest(
    request: async_graphql::Request,
    services: &Services,
    users: RequestLoader<UserLoader>,
    organizations: RequestLoader<OrganizationLoader>,
    caching: Caching,
    passes: Passes,
) -> async_graphql::Request {
    fn loader<B: Batch>(batch: B, caching: Caching, passes: &Passes) -> Loader<B> {
        Loader::new(batch, caching, passes.clone())
    }
    let services = || services.clone();
    request
        .data(caching)
        .data(users)
        .data(organizations)
        .data(loader(ProjectLoader(services()), caching, &passes))
        .data(loader(ProjectsByClientLoader(services()), caching, &passes))
        .data(loader(JobLoader(services()), caching, &passes))
        .data(loader(JobsByProjectLoader(services()), caching, &passes))
        .data(loader(JobsByTesterLoader(services()), caching, &passes))
        .data(loader(SubmissionsByJobLoader(services()), caching, &passes))
        .data(loader(
            CredentialReadsByProjectLoader(services()),
            caching,
            &passes,
        ))
        .data(loader(TemplateLoader(services()), caching, &passes))
        .data(loader(EscrowByJobLoader(services()), caching, &passes))
        .data(loader(
            PayoutBySubmissionLoader(services()),
            caching,
            &passes,
        ))
        .data(loader(
            SubmissionsByTesterLoader(services()),
            caching,
            &passes,
        ))
        .data(loader(
            OrganizationUsageLoader(services()),
            caching,
            &passes,
        ))
        .data(loader(
            RatingsBySubmissionLoader(services()),
            caching,
            &passes,
        ))
        .data(loader(
            DisputesBySubmissionLoader(services()),
            caching,
            &passes,
        ))
        .data(loader(
            PublicRatingsByUserLoader(services()),
            caching,
            &passes,
        ))
        .data(loader(RatingSummaryLoader(services()), caching, &passes))
        .data(loader(
            ClientAccountabilityLoader(services()),
            caching,
            &passes,
        ))
}

/// Hands `jobs`, read as a list (a project's, a tester's, an organization's), to the request's
/// job loader, so a field below them that needs its job by id (a submission's payout) does not
/// read it again. Nothing is kept where the loaders do not cache (a subscription's events).
pub async fn remember_jobs(ctx: &Context<'_>, jobs: &[marketplace::Job]) {
    if ctx.data_opt::<Caching>() != Some(&Caching::Request) {
        return;
    }
    if let Some(loader) = ctx.data_opt::<RequestLoader<JobLoader>>() {
        loader.feed_many(jobs.iter().map(|job| (job.id, job.clone())).collect());
    }
}

/// Loads one value through the request's loader of type `T`, shared with everything else in
/// the request that asked for it. Outside a request (SDL export, unit tests) there is none,
/// and the value is loaded alone.
pub async fn load_shared<T: Batch>(
    ctx: &Context<'_>,
    loader: T,
    key: ObjectId,
) -> ApiResult<Option<Arc<T::Value>>> {
    match ctx.data_opt::<RequestLoader<T>>() {
        Some(request_loader) => request_loader.load_one(key).await,
        None => Ok(loader.load(&[key]).await?.remove(&key).map(Arc::new)),
    }
}

/// [`load_shared`], as a value of the caller's own (a copy where the request shares it).
pub async fn load<T: Batch>(
    ctx: &Context<'_>,
    loader: T,
    key: ObjectId,
) -> ApiResult<Option<T::Value>>
where
    T::Value: Clone,
{
    Ok(load_shared(ctx, loader, key)
        .await?
        .map(Arc::unwrap_or_clone))
}

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// One user, batched and shared (a user referenced a thousand times is held once).
pub async fn load_user(ctx: &Context<'_>, id: ObjectId) -> ApiResult<Option<Arc<identity::User>>> {
    load_shared(ctx, UserLoader(services(ctx).clone()), id).await
}
