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
        // The caller's own projects outside any organization, plus their current
        // organization's: projects created for an organization they left are not theirs.
        let mut owners = vec![doc! { "client_id": actor.user_id, "organization_id": null }];
        if let Some((organization_id, _)) = actor.organization {
            owners.push(doc! { "organization_id": organization_id });
        }
        let owner = doc! { "$or": owners };
        let projects = self
            .projects
            .find(doc! { "$and": [ { "$text": { "$search": text } }, owner ] })
            .projection(doc! { "score": { "$meta": "textScore" } })
            .sort(doc! { "score": { "$meta": "textScore" } })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(projects)
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
