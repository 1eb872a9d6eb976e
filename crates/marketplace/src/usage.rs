//! Usage counters behind the organization limits: one `usage_counters` document per owner (an
//! organization, or a client without one) counting its active projects (`projects_count`) and
//! its running jobs (`active_jobs_count`), the seed's names for an organization's usage.
//!
//! Every change to either set runs in the transaction that moves the counter: creating a project
//! or publishing a job takes a unit with a conditional `$inc` that matches only while the counter
//! is below the limit; archiving a project or a job leaving the running states gives it back.
//! Racing requests write the same counter document, so MongoDB lets one commit and retries the
//! others against the new value: a limit cannot be overrun, and the counter always equals the
//! real count. A counter that does not exist yet (an owner from before the counters, or a new
//! one) is created inside the same transaction from a count of the owner's documents. The same
//! document holds the money an owner has committed (see `commitment`).

use bson::oid::ObjectId;
use bson::{doc, Document};
use mongodb::ClientSession;

use crate::error::MarketplaceError;
use crate::job::JobStatus;
use crate::project::ProjectStatus;
use crate::service::MarketplaceService;

/// Whose limits apply: the organization a project or job belongs to, or its client when it has
/// none. Every project and job belongs to exactly one owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsageOwner {
    /// Owned on behalf of an organization.
    Organization(ObjectId),
    /// Owned by a client outside any organization.
    Client(ObjectId),
}

impl UsageOwner {
    /// The owner of something with this client and organization.
    pub(crate) fn of(client_id: ObjectId, organization_id: Option<ObjectId>) -> Self {
        match organization_id {
            Some(organization_id) => UsageOwner::Organization(organization_id),
            None => UsageOwner::Client(client_id),
        }
    }

    /// The counter document's `_id`: the organization's or the client's id.
    fn id(self) -> ObjectId {
        match self {
            UsageOwner::Organization(id) | UsageOwner::Client(id) => id,
        }
    }

    fn owner_type(self) -> &'static str {
        match self {
            UsageOwner::Organization(_) => "organization",
            UsageOwner::Client(_) => "client",
        }
    }

    /// The filter selecting the owner's projects or jobs (a client's own ones exclude those made
    /// for an organization, which count against that organization).
    pub(crate) fn owns(self) -> Document {
        match self {
            UsageOwner::Organization(id) => doc! { "organization_id": id },
            UsageOwner::Client(id) => doc! { "client_id": id, "organization_id": null },
        }
    }
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsageCounter {
    /// Active and draft projects, limited by `max_projects`.
    Projects,
    /// Open, in-progress and in-review jobs, limited by `max_concurrent_jobs`.
    RunningJobs,
}

impl UsageCounter {
    fn field(self) -> &'static str {
        match self {
            UsageCounter::Projects => "projects_count",
            UsageCounter::RunningJobs => "active_jobs_count",
        }
    }
}

/// Project statuses that count against `max_projects`.
pub(crate) const COUNTED_PROJECT_STATUSES: &[ProjectStatus] =
    &[ProjectStatus::Active, ProjectStatus::Draft];

/// Job statuses that count against `max_concurrent_jobs`.
pub(crate) const RUNNING_JOB_STATUSES: &[JobStatus] =
    &[JobStatus::Open, JobStatus::InProgress, JobStatus::Review];

/// Whether a job in `status` counts against `max_concurrent_jobs`.
pub(crate) fn is_running(status: JobStatus) -> bool {
    RUNNING_JOB_STATUSES.contains(&status)
}

/// The filters selecting the owner's counted projects and running jobs.
fn counted_filters(owner: UsageOwner) -> Result<(Document, Document), MarketplaceError> {
    let mut projects = owner.owns();
    let counted: Vec<_> = COUNTED_PROJECT_STATUSES
        .iter()
        .map(bson::to_bson)
        .collect::<Result<_, _>>()?;
    projects.insert("status", doc! { "$in": counted });
    let mut jobs = owner.owns();
    let running: Vec<&str> = RUNNING_JOB_STATUSES.iter().map(|s| s.as_str()).collect();
    jobs.insert("status", doc! { "$in": running });
    Ok((projects, jobs))
}

/// What an organization uses of its project and job limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrganizationUsageCounts {
    /// Active and draft projects (counted against `max_projects`).
    pub projects_count: i64,
    /// Open, in-progress and in-review jobs (counted against `max_concurrent_jobs`).
    pub active_jobs_count: i64,
}

/// The owner's counter, known to exist in the current transaction. Get it with
/// [`MarketplaceService::usage_counter`] *before* the transaction changes any counted project or
/// job: a counter created from a count that already sees the change would count it twice.
#[derive(Debug)]
pub(crate) struct ExistingCounter {
    owner: UsageOwner,
}

impl ExistingCounter {
    /// The counter document's `_id`.
    pub(crate) fn id(&self) -> ObjectId {
        self.owner.id()
    }
}

impl MarketplaceService {
    /// Takes one unit of `counter` if it is below `limit`; `false` (and nothing written) when
    /// the limit is reached.
    pub(crate) async fn take_usage(
        &self,
        session: &mut ClientSession,
        existing: &ExistingCounter,
        counter: UsageCounter,
        limit: u32,
    ) -> Result<bool, MarketplaceError> {
        let taken = self
            .usage_counters
            .update_one(
                doc! { "_id": existing.owner.id(), counter.field(): { "$lt": i64::from(limit) } },
                doc! {
                    "$inc": { counter.field(): 1_i64 },
                    "$set": { "updated_at": self.now() },
                },
            )
            .session(&mut *session)
            .await?;
        Ok(taken.matched_count == 1)
    }

    /// Gives one unit of `counter` back; never goes below zero.
    pub(crate) async fn release_usage(
        &self,
        session: &mut ClientSession,
        existing: &ExistingCounter,
        counter: UsageCounter,
    ) -> Result<(), MarketplaceError> {
        self.usage_counters
            .update_one(
                doc! { "_id": existing.owner.id(), counter.field(): { "$gt": 0_i64 } },
                doc! {
                    "$inc": { counter.field(): -1_i64 },
                    "$set": { "updated_at": self.now() },
                },
            )
            .session(&mut *session)
            .await?;
        Ok(())
    }

    /// Each organization's counted projects and running jobs, for display: its counter (one
    /// `$in` query for all of them), which always equals the real count, or a count of its
    /// documents before the counter's first use.
    pub async fn organization_usages(
        &self,
        organization_ids: &[ObjectId],
    ) -> Result<std::collections::HashMap<ObjectId, OrganizationUsageCounts>, MarketplaceError>
    {
        let stored: Vec<Document> = futures_util::TryStreamExt::try_collect(
            self.usage_counters
                .find(doc! { "_id": { "$in": organization_ids } })
                .await?,
        )
        .await?;
        let mut usages = std::collections::HashMap::new();
        for counter in stored {
            let Ok(id) = counter.get_object_id("_id") else {
                continue;
            };
            let number = |counted: UsageCounter| {
                counter
                    .get_i64(counted.field())
                    .or_else(|_| counter.get_i32(counted.field()).map(i64::from))
                    .unwrap_or(0)
            };
            usages.insert(
                id,
                OrganizationUsageCounts {
                    projects_count: number(UsageCounter::Projects),
                    active_jobs_count: number(UsageCounter::RunningJobs),
                },
            );
        }
        for &organization_id in organization_ids {
            if usages.contains_key(&organization_id) {
                continue;
            }
            let (projects, jobs) = counted_filters(UsageOwner::Organization(organization_id))?;
            usages.insert(
                organization_id,
                OrganizationUsageCounts {
                    projects_count: self.projects.count_documents(projects).await? as i64,
                    active_jobs_count: self.jobs.count_documents(jobs).await? as i64,
                },
            );
        }
        Ok(usages)
    }

    /// The committed value of `counter` for `owner`, or `None` before its first use. Outside a
    /// transaction, so only good for failing early; the transaction decides.
    pub(crate) async fn usage(
        &self,
        owner: UsageOwner,
        counter: UsageCounter,
    ) -> Result<Option<i64>, MarketplaceError> {
        let stored = self
            .usage_counters
            .find_one(doc! { "_id": owner.id() })
            .await?;
        Ok(stored.and_then(|stored| stored.get_i64(counter.field()).ok()))
    }

    /// The owner's counter in this transaction, created from a count of its projects and running
    /// jobs as the transaction's snapshot sees them when it does not exist yet. Call before the
    /// transaction changes a counted document (see [`ExistingCounter`]). Two transactions creating
    /// the same counter write the same `_id`, so one of them conflicts and runs again.
    pub(crate) async fn usage_counter(
        &self,
        session: &mut ClientSession,
        owner: UsageOwner,
    ) -> Result<ExistingCounter, MarketplaceError> {
        let existing = self
            .usage_counters
            .find_one(doc! { "_id": owner.id() })
            .session(&mut *session)
            .await?;
        if let Some(existing) = existing {
            if !existing.contains_key("committed_cents") {
                // A counter from before money commitments: start from the reserved jobs.
                let committed = self.committed_cents_of(session, owner).await?;
                self.usage_counters
                    .update_one(
                        doc! { "_id": owner.id(), "committed_cents": { "$exists": false } },
                        doc! { "$set": { "committed_cents": committed } },
                    )
                    .session(&mut *session)
                    .await?;
            }
            return Ok(ExistingCounter { owner });
        }
        let (projects, jobs) = counted_filters(owner)?;
        let projects_count = self
            .projects
            .count_documents(projects)
            .session(&mut *session)
            .await?;
        let active_jobs_count = self
            .jobs
            .count_documents(jobs)
            .session(&mut *session)
            .await?;
        let committed_cents = self.committed_cents_of(session, owner).await?;
        self.usage_counters
            .insert_one(doc! {
                "_id": owner.id(),
                "owner_type": owner.owner_type(),
                "projects_count": projects_count as i64,
                "active_jobs_count": active_jobs_count as i64,
                "committed_cents": committed_cents,
                "updated_at": self.now(),
            })
            .session(&mut *session)
            .await?;
        Ok(ExistingCounter { owner })
    }
}
