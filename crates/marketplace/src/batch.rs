//! Batch loading for the GraphQL layer's dataloaders: each function is ONE `$in` query on an
//! indexed field, whatever the number of keys.

use std::collections::HashMap;

use bson::doc;
use bson::oid::ObjectId;
use futures_util::TryStreamExt;

use crate::error::MarketplaceError;
use crate::job::Job;
use crate::service::MarketplaceService;
use crate::submission::Submission;

/// Documents asked for in a batch query's first reply, so one batch is one command (not a `find`
/// plus `getMore`s) up to this many documents or 16 MiB.
pub(crate) const LOADER_BATCH_SIZE: u32 = 10_000;

impl MarketplaceService {
    /// The jobs with these ids (missing ids are absent from the map).
    pub async fn jobs_by_ids(
        &self,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Job>, MarketplaceError> {
        let jobs: Vec<Job> = self
            .jobs
            .find(doc! { "_id": { "$in": ids } })
            .batch_size(LOADER_BATCH_SIZE)
            .await?
            .try_collect()
            .await?;
        Ok(jobs.into_iter().map(|job| (job.id, job)).collect())
    }

    /// The newest `per_parent_limit` jobs of each project, newest first.
    pub async fn jobs_by_project_ids(
        &self,
        project_ids: &[ObjectId],
        per_parent_limit: usize,
    ) -> Result<HashMap<ObjectId, Vec<Job>>, MarketplaceError> {
        let jobs: Vec<Job> = self
            .jobs
            .find(doc! { "project_id": { "$in": project_ids } })
            .batch_size(LOADER_BATCH_SIZE)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<Job>> = HashMap::new();
        for job in jobs {
            let list = grouped.entry(job.project_id).or_default();
            if list.len() < per_parent_limit {
                list.push(job);
            }
        }
        Ok(grouped)
    }

    /// The submissions with these ids.
    pub async fn submissions_by_ids(
        &self,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Submission>, MarketplaceError> {
        let submissions: Vec<Submission> = self
            .submissions
            .find(doc! { "_id": { "$in": ids } })
            .batch_size(LOADER_BATCH_SIZE)
            .await?
            .try_collect()
            .await?;
        Ok(submissions.into_iter().map(|s| (s.id, s)).collect())
    }

    /// The newest `per_parent_limit` non-draft submissions of each job, newest first. Callers
    /// decide who may see them.
    pub async fn submissions_by_job_ids(
        &self,
        job_ids: &[ObjectId],
        per_parent_limit: usize,
    ) -> Result<HashMap<ObjectId, Vec<Submission>>, MarketplaceError> {
        let submissions: Vec<Submission> = self
            .submissions
            .find(doc! { "job_id": { "$in": job_ids }, "status": { "$ne": "draft" } })
            .batch_size(LOADER_BATCH_SIZE)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<Submission>> = HashMap::new();
        for submission in submissions {
            let list = grouped.entry(submission.job_id).or_default();
            if list.len() < per_parent_limit {
                list.push(submission);
            }
        }
        Ok(grouped)
    }
}

impl MarketplaceService {
    /// The newest `per_parent_limit` jobs each tester holds a seat on, one `$in` query on the
    /// indexed `assigned_testers.tester_id`.
    pub async fn jobs_by_tester_ids(
        &self,
        tester_ids: &[ObjectId],
        per_parent_limit: usize,
    ) -> Result<HashMap<ObjectId, Vec<Job>>, MarketplaceError> {
        let jobs: Vec<Job> = self
            .jobs
            .find(doc! { "assigned_testers.tester_id": { "$in": tester_ids } })
            .batch_size(LOADER_BATCH_SIZE)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<Job>> = HashMap::new();
        for job in jobs {
            for seat in &job.assigned_testers {
                if !tester_ids.contains(&seat.tester_id) {
                    continue;
                }
                let list = grouped.entry(seat.tester_id).or_default();
                if list.len() < per_parent_limit {
                    list.push(job.clone());
                }
            }
        }
        Ok(grouped)
    }

    /// Projects owned by the caller's client account or organization whose name or description
    /// match `text` (the `projects` text index), best match first, at most `limit`.
    pub async fn search_projects(
        &self,
        actor: &crate::Actor,
        text: &str,
        limit: i64,
    ) -> Result<Vec<crate::Project>, MarketplaceError> {
        Ok(self
            .search_projects_page(actor, text, 0, limit)
            .await?
            .items)
    }

    /// One page of [`MarketplaceService::search_projects`]: the matches from position `offset`
    /// of the ranking (best match first, ties by `_id`), at most `limit`, with how many match in
    /// all.
    pub async fn search_projects_page(
        &self,
        actor: &crate::Actor,
        text: &str,
        offset: u64,
        limit: i64,
    ) -> Result<foundation::KeysetPage<crate::Project>, MarketplaceError> {
        crate::bounds::text("text", text, true, crate::bounds::MAX_NAME_CHARS)?;
        // The caller's own projects outside any organization, plus their current
        // organization's: projects created for an organization they left are not theirs.
        let mut owners = vec![doc! { "client_id": actor.user_id, "organization_id": null }];
        if let Some((organization_id, _)) = actor.organization {
            owners.push(doc! { "organization_id": organization_id });
        }
        let filter = doc! { "$and": [ { "$text": { "$search": text } }, { "$or": owners } ] };
        // Counted by reading the matching ids rather than `countDocuments`: that is an
        // aggregation, and the embedded store's `$match` has no text index to run `$text` on.
        // The owner's projects are few (bounded by the plan's `max_projects` plus archives).
        let matching: Vec<bson::Document> = self
            .projects
            .clone_with_type::<bson::Document>()
            .find(filter.clone())
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        let total_count = matching.len() as u64;
        // One more than asked tells whether a next page exists.
        let mut items: Vec<crate::Project> = self
            .projects
            .find(filter)
            .projection(doc! { "score": { "$meta": "textScore" } })
            .sort(doc! { "score": { "$meta": "textScore" }, "_id": 1 })
            .skip(offset)
            .limit(limit.saturating_add(1))
            .await?
            .try_collect()
            .await?;
        let has_next_page = items.len() as i64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(foundation::KeysetPage {
            items,
            has_next_page,
            total_count,
        })
    }

    /// `(approved, reviewed)` submissions of `tester_id` (reviewed: approved or rejected), the
    /// figures of the seed's `success_rate`.
    pub async fn tester_review_counts(
        &self,
        tester_id: ObjectId,
    ) -> Result<(u64, u64), MarketplaceError> {
        let approved = self
            .submissions
            .count_documents(doc! { "tester_id": tester_id, "status": "approved" })
            .await?;
        let reviewed = self
            .submissions
            .count_documents(doc! {
                "tester_id": tester_id,
                "status": { "$in": ["approved", "rejected"] },
            })
            .await?;
        Ok((approved, reviewed))
    }
}

impl MarketplaceService {
    /// Every project made for each organization, newest first, one `$in` query on the indexed
    /// `organization_id`. Callers decide who may see them.
    pub async fn projects_by_organization_ids(
        &self,
        organization_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<crate::Project>>, MarketplaceError> {
        let projects: Vec<crate::Project> = self
            .projects
            .find(doc! { "organization_id": { "$in": organization_ids } })
            .batch_size(LOADER_BATCH_SIZE)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<crate::Project>> = HashMap::new();
        for project in projects {
            if let Some(organization_id) = project.organization_id {
                grouped.entry(organization_id).or_default().push(project);
            }
        }
        Ok(grouped)
    }

    /// Every job made for each organization, newest first, one `$in` query on the indexed
    /// `organization_id`. Callers decide who may see them.
    pub async fn jobs_by_organization_ids(
        &self,
        organization_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<Job>>, MarketplaceError> {
        let jobs: Vec<Job> = self
            .jobs
            .find(doc! { "organization_id": { "$in": organization_ids } })
            .batch_size(LOADER_BATCH_SIZE)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<Job>> = HashMap::new();
        for job in jobs {
            if let Some(organization_id) = job.organization_id {
                grouped.entry(organization_id).or_default().push(job);
            }
        }
        Ok(grouped)
    }

    /// Every submission of each tester, drafts included, newest first, one `$in` query on the
    /// indexed `tester_id`. Callers decide who may see them.
    pub async fn submissions_by_tester_ids(
        &self,
        tester_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<Submission>>, MarketplaceError> {
        let submissions: Vec<Submission> = self
            .submissions
            .find(doc! { "tester_id": { "$in": tester_ids } })
            .batch_size(LOADER_BATCH_SIZE)
            .sort(doc! { "created_at": -1, "_id": -1 })
            .await?
            .try_collect()
            .await?;
        let mut grouped: HashMap<ObjectId, Vec<Submission>> = HashMap::new();
        for submission in submissions {
            grouped
                .entry(submission.tester_id)
                .or_default()
                .push(submission);
        }
        Ok(grouped)
    }
}
