//! Batch loading for the GraphQL layer's dataloaders: each function is ONE `$in` query on an
//! indexed field, whatever the number of keys (`foundation::batch`).

use std::collections::HashMap;

use bson::oid::ObjectId;
use bson::{doc, Document};
use foundation::batch::{find_batch, group_by_parent};
use futures_util::TryStreamExt;

use crate::error::MarketplaceError;
use crate::job::Job;
use crate::service::MarketplaceService;
use crate::submission::Submission;

/// Newest first, ties by id: the order of every per-parent list.
fn newest_first() -> Option<Document> {
    Some(doc! { "created_at": -1, "_id": -1 })
}

impl MarketplaceService {
    /// The jobs with these ids (missing ids are absent from the map).
    pub async fn jobs_by_ids(
        &self,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Job>, MarketplaceError> {
        let jobs = find_batch(&self.jobs, doc! { "_id": { "$in": ids } }, None).await?;
        Ok(jobs.into_iter().map(|job| (job.id, job)).collect())
    }

    /// The newest `per_parent_limit` jobs of each project, newest first.
    pub async fn jobs_by_project_ids(
        &self,
        project_ids: &[ObjectId],
        per_parent_limit: usize,
    ) -> Result<HashMap<ObjectId, Vec<Job>>, MarketplaceError> {
        let jobs = find_batch(
            &self.jobs,
            doc! { "project_id": { "$in": project_ids } },
            newest_first(),
        )
        .await?;
        Ok(group_by_parent(jobs, per_parent_limit, |job| {
            [job.project_id]
        }))
    }

    /// The submissions with these ids.
    pub async fn submissions_by_ids(
        &self,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Submission>, MarketplaceError> {
        let submissions =
            find_batch(&self.submissions, doc! { "_id": { "$in": ids } }, None).await?;
        Ok(submissions.into_iter().map(|s| (s.id, s)).collect())
    }

    /// The newest `per_parent_limit` non-draft submissions of each job, newest first. Callers
    /// decide who may see them.
    pub async fn submissions_by_job_ids(
        &self,
        job_ids: &[ObjectId],
        per_parent_limit: usize,
    ) -> Result<HashMap<ObjectId, Vec<Submission>>, MarketplaceError> {
        let submissions = find_batch(
            &self.submissions,
            doc! { "job_id": { "$in": job_ids }, "status": { "$ne": "draft" } },
            newest_first(),
        )
        .await?;
        Ok(group_by_parent(
            submissions,
            per_parent_limit,
            |submission| [submission.job_id],
        ))
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
        let jobs = find_batch(
            &self.jobs,
            doc! { "assigned_testers.tester_id": { "$in": tester_ids } },
            newest_first(),
        )
        .await?;
        Ok(group_by_parent(jobs, per_parent_limit, |job| {
            job.assigned_testers
                .iter()
                .map(|seat| seat.tester_id)
                .filter(|tester| tester_ids.contains(tester))
                .collect::<Vec<_>>()
        }))
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
        let total_count = self.projects.count_documents(filter.clone()).await?;
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
    /// One keyset page of the projects made for an organization, newest first (by `_id`, on
    /// the indexed `organization_id`): at most `limit` after (`Forward`) or before
    /// (`Backward`) the project `cursor`, with how many there are. Callers decide who may see
    /// them.
    pub async fn projects_of_organization(
        &self,
        organization_id: ObjectId,
        direction: foundation::PageDirection,
        cursor: Option<ObjectId>,
        limit: u32,
    ) -> Result<foundation::KeysetPage<crate::Project>, MarketplaceError> {
        Ok(foundation::batch::keyset_page_towards(
            &self.projects,
            doc! { "organization_id": organization_id },
            foundation::batch::IdOrder::NewestFirst,
            direction,
            cursor,
            limit,
        )
        .await?)
    }

    /// One keyset page of the jobs made for an organization, newest first, as
    /// [`MarketplaceService::projects_of_organization`] pages projects.
    pub async fn jobs_of_organization(
        &self,
        organization_id: ObjectId,
        direction: foundation::PageDirection,
        cursor: Option<ObjectId>,
        limit: u32,
    ) -> Result<foundation::KeysetPage<Job>, MarketplaceError> {
        Ok(foundation::batch::keyset_page_towards(
            &self.jobs,
            doc! { "organization_id": organization_id },
            foundation::batch::IdOrder::NewestFirst,
            direction,
            cursor,
            limit,
        )
        .await?)
    }

    /// Every submission of each tester, drafts included, newest first, one `$in` query on the
    /// indexed `tester_id`. Callers decide who may see them.
    pub async fn submissions_by_tester_ids(
        &self,
        tester_ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<Submission>>, MarketplaceError> {
        let submissions = find_batch(
            &self.submissions,
            doc! { "tester_id": { "$in": tester_ids } },
            newest_first(),
        )
        .await?;
        Ok(group_by_parent(submissions, usize::MAX, |submission| {
            [submission.tester_id]
        }))
    }
}
