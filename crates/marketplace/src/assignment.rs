//! Seats on a job: a tester claims one atomically, withdraws to free it, and moves it through the
//! assignment lifecycle (assigned → in_progress → submitted → completed), each step a
//! compare-and-set inside the job document. A seat records the equipment the tester declared when
//! claiming it, and a withdrawn seat moves to the job's `withdrawn_testers` history instead of
//! vanishing; a tester who withdrew cannot claim the same job again.

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use foundation::events::{DomainEvent, DomainEventKind};
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use crate::actor::{ActorRole, TesterProfile};
use crate::error::MarketplaceError;
use crate::job::{Job, JobStatus, TesterLevel, Visibility};
use crate::service::MarketplaceService;
use crate::Actor;

/// Where a tester's seat is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    /// Seat taken, not started.
    Assigned,
    /// Tester is testing.
    InProgress,
    /// Tester submitted results.
    Submitted,
    /// Client approved the results.
    Completed,
}

impl AssignmentStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStatus::Assigned => "assigned",
            AssignmentStatus::InProgress => "in_progress",
            AssignmentStatus::Submitted => "submitted",
            AssignmentStatus::Completed => "completed",
        }
    }
}

/// The assignment lifecycle: every allowed (from, to). A revision request sends a submitted
/// assignment back to in_progress.
pub const ASSIGNMENT_TRANSITIONS: &[(AssignmentStatus, AssignmentStatus)] = &[
    (AssignmentStatus::Assigned, AssignmentStatus::InProgress),
    (AssignmentStatus::InProgress, AssignmentStatus::Submitted),
    (AssignmentStatus::Submitted, AssignmentStatus::InProgress),
    (AssignmentStatus::Submitted, AssignmentStatus::Completed),
];

/// Whether the table allows `from` → `to`.
pub fn assignment_transition_allowed(from: AssignmentStatus, to: AssignmentStatus) -> bool {
    ASSIGNMENT_TRANSITIONS.contains(&(from, to))
}

/// One tester's seat on a job (an element of `jobs.assigned_testers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The tester.
    pub tester_id: ObjectId,
    /// When the seat was taken.
    pub assigned_at: DateTime,
    /// Lifecycle status.
    pub status: AssignmentStatus,
    /// The equipment the tester declared when claiming (what qualified them). Equipment is
    /// self-declared and editable, so the seat keeps what it was taken with: later profile edits
    /// change neither the seat nor what its client sees. `None` on seats claimed before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_with: Option<SeatEquipment>,
}

/// The devices, browsers and operating systems a tester declared when claiming a seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SeatEquipment {
    /// Devices.
    pub devices: Vec<String>,
    /// Browsers.
    pub browsers: Vec<String>,
    /// Operating systems.
    pub os: Vec<String>,
}

/// A seat its tester gave back (an element of `jobs.withdrawn_testers`): history the client sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawnSeat {
    /// The tester.
    pub tester_id: ObjectId,
    /// When the seat was taken.
    pub assigned_at: DateTime,
    /// Where the seat was when given back (assigned or in progress).
    pub status_at_withdrawal: AssignmentStatus,
    /// The equipment the seat was claimed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_with: Option<SeatEquipment>,
    /// When it was given back.
    pub withdrawn_at: DateTime,
}

/// Whether `tester` meets the job's requirements and visibility rules (the same rules the claim
/// filter expresses in MongoDB; used to explain a refused claim), with the qualification judged
/// at `now`.
pub fn tester_qualifies(job: &Job, tester: &TesterProfile, now: DateTime) -> bool {
    let level_ok = match job.tester_level {
        TesterLevel::Any => true,
        TesterLevel::Beginner => true,
        TesterLevel::Intermediate => {
            tester.experience_level >= crate::ExperienceLevel::Intermediate
        }
        TesterLevel::Expert => tester.experience_level >= crate::ExperienceLevel::Expert,
    };
    let no_requirements = job.required_devices.is_empty()
        && job.required_browsers.is_empty()
        && job.required_os.is_empty();
    let owns_any =
        |required: &[String], owned: &[String]| required.iter().any(|r| owned.contains(r));
    let equipment_ok = no_requirements
        || owns_any(&job.required_devices, &tester.devices)
        || owns_any(&job.required_browsers, &tester.browsers)
        || owns_any(&job.required_os, &tester.os);
    let visible =
        job.visibility == Visibility::Public || job.invited_tester_ids.contains(&tester.tester_id);
    tester.is_qualified_at(now) && level_ok && equipment_ok && visible
}

/// The MongoDB conditions under which `tester` qualifies for a job (level, equipment, visibility).
pub(crate) fn qualification_filter(tester: &TesterProfile) -> Vec<Document> {
    let mut levels = vec!["any".to_string()];
    levels.extend(
        tester
            .experience_level
            .at_or_below()
            .into_iter()
            .map(|level| level.as_str().to_string()),
    );
    vec![
        doc! { "tester_level": { "$in": levels } },
        doc! { "$or": [
            { "required_devices": { "$in": &tester.devices } },
            { "required_browsers": { "$in": &tester.browsers } },
            { "required_os": { "$in": &tester.os } },
            { "required_devices": { "$size": 0 }, "required_browsers": { "$size": 0 }, "required_os": { "$size": 0 } },
        ]},
        doc! { "$or": [
            { "visibility": "public" },
            { "invited_tester_ids": tester.tester_id },
        ]},
    ]
}

impl MarketplaceService {
    /// Takes a seat on an open job for `tester`, in one conditional update: the job must be open,
    /// its deadline not passed (by the service clock), have a free seat, not already seat this
    /// tester nor have seated them before (a tester who withdrew may not come back, so seats
    /// cannot be cycled), and the tester must qualify. The seat records the tester's declared
    /// equipment. When the update matches nothing the job is re-read to say why (JobNotOpen,
    /// DeadlinePassed, AlreadyClaimed, WithdrewBefore, NotQualified, SeatsFull); nothing was
    /// written.
    pub async fn claim_job(
        &self,
        actor: &Actor,
        tester: &TesterProfile,
        job_id: ObjectId,
    ) -> Result<Job, MarketplaceError> {
        if actor.role != ActorRole::Tester || actor.user_id != tester.tester_id {
            return Err(MarketplaceError::Forbidden {
                action: "claim jobs for someone else",
            });
        }
        let now = self.now();
        if !tester.is_qualified_at(now) {
            return Err(MarketplaceError::NotQualified);
        }
        let assignment = bson::to_bson(&Assignment {
            tester_id: tester.tester_id,
            assigned_at: now,
            status: AssignmentStatus::Assigned,
            claimed_with: Some(SeatEquipment {
                devices: tester.devices.clone(),
                browsers: tester.browsers.clone(),
                os: tester.os.clone(),
            }),
        })?;
        let mut conditions = vec![
            doc! { "_id": job_id },
            doc! { "status": JobStatus::Open.as_str() },
            doc! { "deadline": { "$gt": now } },
            doc! { "assigned_testers.tester_id": { "$ne": tester.tester_id } },
            doc! { "withdrawn_testers.tester_id": { "$ne": tester.tester_id } },
            doc! { "$expr": { "$lt": [ { "$size": "$assigned_testers" }, "$max_testers" ] } },
        ];
        conditions.extend(qualification_filter(tester));
        let filter = doc! { "$and": conditions };
        let update = doc! {
            "$push": { "assigned_testers": assignment },
            "$set": { "updated_at": now },
        };
        let (filter, update) = (&filter, &update);
        let tester_id = tester.tester_id;
        // One transaction: the seat and the client's `seat_claimed` event commit together.
        let claimed = self
            .in_transaction(|mut session| async move {
                let outcome = self
                    .claim_in_session(&mut session, filter, update, tester_id, now)
                    .await;
                (session, outcome)
            })
            .await?;
        if let Some(job) = claimed {
            return Ok(job);
        }
        let job = self.job(job_id).await?;
        Err(if job.status != JobStatus::Open {
            MarketplaceError::JobNotOpen
        } else if job.deadline <= now {
            MarketplaceError::DeadlinePassed
        } else if job
            .assigned_testers
            .iter()
            .any(|seat| seat.tester_id == tester.tester_id)
        {
            MarketplaceError::AlreadyClaimed
        } else if job
            .withdrawn_testers
            .iter()
            .any(|seat| seat.tester_id == tester.tester_id)
        {
            MarketplaceError::WithdrewBefore
        } else if !tester_qualifies(&job, tester, self.now()) {
            MarketplaceError::NotQualified
        } else {
            MarketplaceError::SeatsFull
        })
    }

    /// The claim's conditional update and, when it seated the tester, the `seat_claimed` event
    /// for the job's client, inside the caller's transaction.
    async fn claim_in_session(
        &self,
        session: &mut mongodb::ClientSession,
        filter: &bson::Document,
        update: &bson::Document,
        tester_id: ObjectId,
        now: bson::DateTime,
    ) -> Result<Option<Job>, MarketplaceError> {
        let claimed = self
            .jobs
            .find_one_and_update(filter.clone(), update.clone())
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        if let Some(job) = &claimed {
            let event = DomainEvent::new(DomainEventKind::SeatClaimed, [job.client_id])
                .with_job(job.id)
                .with_related_user(tester_id)
                .with_payload(doc! { "job_title": &job.title });
            self.events.record(session, event, now).await?;
        }
        Ok(claimed)
    }

    /// Gives the tester's seat back while the job is open or in progress and the tester has not
    /// submitted; the seat is free for another tester and moves, in the same compare-and-set on
    /// the seat as read, to the job's `withdrawn_testers` history (withdrawing leaves a trace).
    pub async fn withdraw_from_job(
        &self,
        actor: &Actor,
        job_id: ObjectId,
    ) -> Result<Job, MarketplaceError> {
        let releasable = [AssignmentStatus::Assigned, AssignmentStatus::InProgress];
        let job = self.job(job_id).await?;
        let Some(seat) = job
            .assigned_testers
            .iter()
            .find(|seat| seat.tester_id == actor.user_id)
        else {
            return Err(MarketplaceError::NotAssigned);
        };
        if !releasable.contains(&seat.status) {
            return Err(MarketplaceError::InvalidAssignmentTransition {
                from: seat.status.as_str(),
                to: "withdrawn",
            });
        }
        let running = [JobStatus::Open.as_str(), JobStatus::InProgress.as_str()];
        if !running.contains(&job.status.as_str()) {
            return Err(MarketplaceError::InvalidJobTransition {
                from: job.status.as_str(),
                action: "release a seat",
            });
        }
        let now = self.now();
        let history = bson::to_bson(&WithdrawnSeat {
            tester_id: seat.tester_id,
            assigned_at: seat.assigned_at,
            status_at_withdrawal: seat.status,
            claimed_with: seat.claimed_with.clone(),
            withdrawn_at: now,
        })?;
        let withdrawn = self
            .jobs
            .find_one_and_update(
                doc! {
                    "_id": job_id,
                    "status": { "$in": running.to_vec() },
                    "assigned_testers": { "$elemMatch": {
                        "tester_id": actor.user_id,
                        "status": seat.status.as_str(),
                        "assigned_at": seat.assigned_at,
                    }},
                },
                doc! {
                    "$pull": { "assigned_testers": { "tester_id": actor.user_id } },
                    "$push": { "withdrawn_testers": history },
                    "$set": { "updated_at": now },
                },
            )
            .return_document(ReturnDocument::After)
            .await?;
        // A concurrent step moved the seat or the job between the read and the write: the
        // caller retries against the new state rather than withdrawing from a seat it did not see.
        withdrawn.ok_or(MarketplaceError::SeatChanged)
    }

    /// The tester starts testing: their seat moves assigned → in_progress.
    pub async fn start_assignment(
        &self,
        actor: &Actor,
        job_id: ObjectId,
    ) -> Result<Job, MarketplaceError> {
        self.move_assignment(
            None,
            job_id,
            actor.user_id,
            AssignmentStatus::Assigned,
            AssignmentStatus::InProgress,
        )
        .await
    }

    /// Moves one seat `from` → `to` by compare-and-set on its status (optionally inside a
    /// transaction session).
    pub(crate) async fn move_assignment(
        &self,
        session: Option<&mut mongodb::ClientSession>,
        job_id: ObjectId,
        tester_id: ObjectId,
        from: AssignmentStatus,
        to: AssignmentStatus,
    ) -> Result<Job, MarketplaceError> {
        if !assignment_transition_allowed(from, to) {
            return Err(MarketplaceError::InvalidAssignmentTransition {
                from: from.as_str(),
                to: to.as_str(),
            });
        }
        let filter = doc! {
            "_id": job_id,
            "assigned_testers": { "$elemMatch": { "tester_id": tester_id, "status": from.as_str() } },
        };
        let update = doc! { "$set": {
            "assigned_testers.$.status": to.as_str(),
            "updated_at": self.now(),
        }};
        let action = self
            .jobs
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After);
        let moved = match session {
            Some(session) => action.session(session).await?,
            None => action.await?,
        };
        if let Some(job) = moved {
            return Ok(job);
        }
        let job = match self.jobs.find_one(doc! { "_id": job_id }).await? {
            Some(job) => job,
            None => return Err(MarketplaceError::JobNotFound),
        };
        match job
            .assigned_testers
            .iter()
            .find(|seat| seat.tester_id == tester_id)
        {
            None => Err(MarketplaceError::NotAssigned),
            Some(seat) => Err(MarketplaceError::InvalidAssignmentTransition {
                from: seat.status.as_str(),
                to: to.as_str(),
            }),
        }
    }
}

/// One page of a tester's available jobs.
#[derive(Debug, Clone)]
pub struct AvailableJobsPage {
    /// The jobs, newest first.
    pub jobs: Vec<Job>,
    /// The position of the first job in the whole list.
    pub start: u64,
    /// Whether more jobs follow.
    pub has_next_page: bool,
    /// How many jobs the whole list holds.
    pub total_count: u64,
}

/// Narrowing of a tester's available jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvailableJobsFilter {
    /// Only this kind of test.
    pub test_type: Option<crate::job::TestType>,
    /// Only jobs paying at least this much per tester, in US cents.
    pub min_budget_per_tester_cents: Option<i64>,
}

impl MarketplaceService {
    /// Open jobs before their deadline with a free seat that `tester` qualifies for and has not
    /// claimed: public ones plus invited-only ones they were invited to (private jobs are never
    /// listed), newest first. Forward pagination only (`first`/`after`, the cursor being the
    /// position of the last item seen, as in every connection); two commands: the page and the
    /// total count.
    pub async fn available_jobs(
        &self,
        tester: &TesterProfile,
        filter: &AvailableJobsFilter,
        page: &foundation::PageRequest,
    ) -> Result<AvailableJobsPage, MarketplaceError> {
        let page = page
            .validate()
            .map_err(|error| MarketplaceError::InvalidInput {
                field: "page",
                reason: error.to_string(),
            })?;
        if page.direction != foundation::PageDirection::Forward {
            return Err(MarketplaceError::InvalidInput {
                field: "page",
                reason: "available jobs page forward only".into(),
            });
        }
        let offset = match &page.cursor {
            Some(cursor) => cursor
                .offset()
                .map_err(|error| MarketplaceError::InvalidInput {
                    field: "after",
                    reason: error.to_string(),
                })?
                .saturating_add(1),
            None => 0,
        };
        if !tester.is_qualified_at(self.now()) {
            return Ok(AvailableJobsPage {
                jobs: Vec::new(),
                start: offset,
                has_next_page: false,
                total_count: 0,
            });
        }
        let mut conditions = vec![
            doc! { "status": JobStatus::Open.as_str() },
            doc! { "deadline": { "$gt": self.now() } },
            doc! { "visibility": { "$in": ["public", "invited_only"] } },
            doc! { "assigned_testers.tester_id": { "$ne": tester.tester_id } },
            doc! { "withdrawn_testers.tester_id": { "$ne": tester.tester_id } },
            doc! { "$expr": { "$lt": [ { "$size": "$assigned_testers" }, "$max_testers" ] } },
        ];
        conditions.extend(qualification_filter(tester));
        if let Some(test_type) = filter.test_type {
            conditions.push(doc! { "test_type": bson::to_bson(&test_type)? });
        }
        if let Some(minimum) = filter.min_budget_per_tester_cents {
            conditions.push(doc! { "budget_per_tester_usd": { "$gte": minimum } });
        }
        let filter = doc! { "$and": conditions };
        let total_count = self.jobs.count_documents(filter.clone()).await?;
        let mut jobs: Vec<Job> = futures_util::TryStreamExt::try_collect(
            self.jobs
                .find(filter)
                .sort(doc! { "published_at": -1, "_id": -1 })
                .skip(offset)
                .limit(page.limit + 1)
                .await?,
        )
        .await?;
        let has_next_page = jobs.len() as i64 > page.limit;
        jobs.truncate(page.limit as usize);
        Ok(AvailableJobsPage {
            jobs,
            start: offset,
            has_next_page,
            total_count,
        })
    }
}
