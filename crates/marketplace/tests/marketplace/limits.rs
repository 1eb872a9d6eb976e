//! Organization limits under concurrency (the usage counters), claims after a job's deadline, and
//! reviews on a job that no longer takes them.

use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, Document};
use marketplace::{
    Actor, ActorRole, ErrorCategory, JobAction, JobStatus, MarketplaceError, OrgRole,
    OrganizationLimits, ReviewDecision, SubmissionStatus,
};

use super::{client, conflict, content, fixture, new_job, new_project, tester, Fixture, LIMITS};

fn organization_member(organization: ObjectId) -> Actor {
    Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Client,
        organization: Some((organization, OrgRole::Member)),
        organization_rules: Default::default(),
    }
}

impl Fixture {
    /// The owner's usage counter as stored.
    async fn usage_counter(&self, owner_id: ObjectId) -> Document {
        self.database
            .collection::<Document>("usage_counters")
            .find_one(doc! { "_id": owner_id })
            .await
            .unwrap()
            .expect("usage counter stored")
    }

    /// Asserts the owner's counters equal the real number of active projects and running jobs.
    async fn assert_usage_matches(&self, owner: Document, owner_id: ObjectId) -> (i64, i64) {
        let mut projects = owner.clone();
        projects.insert("status", doc! { "$in": ["active", "draft"] });
        let mut jobs = owner;
        jobs.insert("status", doc! { "$in": ["open", "in_progress", "review"] });
        let real_projects = self
            .database
            .collection::<Document>("projects")
            .count_documents(projects)
            .await
            .unwrap() as i64;
        let real_jobs = self
            .database
            .collection::<Document>("jobs")
            .count_documents(jobs)
            .await
            .unwrap() as i64;
        let counter = self.usage_counter(owner_id).await;
        assert_eq!(counter.get_i64("projects_count").unwrap(), real_projects);
        assert_eq!(counter.get_i64("active_jobs_count").unwrap(), real_jobs);
        (real_projects, real_jobs)
    }
}

#[tokio::test]
async fn twenty_concurrent_project_creates_under_a_limit_of_three_create_exactly_three() {
    let fixture = fixture().await;
    let organization = ObjectId::new();
    let limits = OrganizationLimits {
        max_projects: 3,
        max_concurrent_jobs: 10,
    };
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let service = fixture.service.clone();
        let member = organization_member(organization);
        tasks.push(tokio::spawn(async move {
            service
                .create_project(&member, new_project(false), limits)
                .await
        }));
    }
    let (mut created, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(error) => {
                assert!(
                    matches!(error, MarketplaceError::ProjectLimitReached { limit: 3 }),
                    "{error:?}"
                );
                assert!(conflict(&error));
                refused += 1;
            }
        }
    }
    assert_eq!((created, refused), (3, 17));
    let owner = doc! { "organization_id": organization };
    assert_eq!(
        fixture.assert_usage_matches(owner, organization).await,
        (3, 0)
    );
}

#[tokio::test]
async fn concurrent_publishes_open_no_more_jobs_than_the_concurrent_job_limit() {
    let fixture = fixture().await;
    let owner = client();
    let limits = OrganizationLimits {
        max_projects: 10,
        max_concurrent_jobs: 3,
    };
    let project = fixture
        .service
        .create_project(&owner, new_project(false), LIMITS)
        .await
        .unwrap();
    let mut drafts = Vec::new();
    for _ in 0..12 {
        let job = fixture
            .service
            .create_job(&owner, new_job(&fixture, project.id, 1))
            .await
            .unwrap();
        drafts.push(job.id);
    }
    let mut tasks = Vec::new();
    for job_id in drafts.clone() {
        let service = fixture.service.clone();
        let owner = owner.clone();
        tasks.push(tokio::spawn(async move {
            service
                .publish_job(&owner, job_id, limits, super::PAYER, super::SOURCE)
                .await
        }));
    }
    let (mut published, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => published += 1,
            Err(error) => {
                assert!(
                    matches!(
                        error,
                        MarketplaceError::ConcurrentJobLimitReached { limit: 3 }
                    ),
                    "{error:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!((published, refused), (3, 9));
    let jobs = fixture.service.jobs_by_ids(&drafts).await.unwrap();
    let open = jobs
        .values()
        .filter(|job| job.status == JobStatus::Open)
        .count();
    let still_draft = jobs
        .values()
        .filter(|job| job.status == JobStatus::Draft && job.published_at.is_none())
        .count();
    assert_eq!((open, still_draft), (3, 9));
    let mine = doc! { "client_id": owner.user_id, "organization_id": null };
    assert_eq!(
        fixture.assert_usage_matches(mine, owner.user_id).await,
        (1, 3)
    );
}

#[tokio::test]
async fn archiving_a_project_and_cancelling_or_completing_a_job_free_their_slots() {
    let fixture = fixture().await;
    let owner = client();
    let mine = || doc! { "client_id": owner.user_id, "organization_id": null };
    let one_each = OrganizationLimits {
        max_projects: 1,
        max_concurrent_jobs: 1,
    };
    let project = fixture
        .service
        .create_project(&owner, new_project(false), one_each)
        .await
        .unwrap();
    let full = fixture
        .service
        .create_project(&owner, new_project(false), one_each)
        .await
        .unwrap_err();
    assert!(matches!(full, MarketplaceError::ProjectLimitReached { .. }));

    let mut drafts = Vec::new();
    for _ in 0..3 {
        let input = new_job(&fixture, project.id, 1);
        drafts.push(fixture.service.create_job(&owner, input).await.unwrap().id);
    }
    fixture
        .service
        .publish_job(&owner, drafts[0], one_each, super::PAYER, super::SOURCE)
        .await
        .unwrap();
    let busy = fixture
        .service
        .publish_job(&owner, drafts[1], one_each, super::PAYER, super::SOURCE)
        .await
        .unwrap_err();
    assert!(matches!(
        busy,
        MarketplaceError::ConcurrentJobLimitReached { limit: 1 }
    ));
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (1, 1)
    );

    fixture
        .service
        .transition_job(&owner, drafts[0], JobAction::Cancel)
        .await
        .unwrap();
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (1, 0)
    );
    fixture
        .service
        .publish_job(&owner, drafts[1], one_each, super::PAYER, super::SOURCE)
        .await
        .expect("the cancelled job freed its slot");
    for action in [JobAction::StartTesting, JobAction::BeginReview] {
        fixture
            .service
            .transition_job(&owner, drafts[1], action)
            .await
            .unwrap();
    }
    let reviewing = fixture
        .service
        .publish_job(&owner, drafts[2], one_each, super::PAYER, super::SOURCE)
        .await
        .unwrap_err();
    assert!(
        matches!(
            reviewing,
            MarketplaceError::ConcurrentJobLimitReached { .. }
        ),
        "a job in review still runs: {reviewing:?}"
    );
    fixture
        .service
        .transition_job(&owner, drafts[1], JobAction::Complete)
        .await
        .unwrap();
    fixture
        .service
        .publish_job(&owner, drafts[2], one_each, super::PAYER, super::SOURCE)
        .await
        .expect("the completed job freed its slot");
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (1, 1)
    );

    // Cancelling a draft frees nothing: it never took a slot.
    let extra = fixture
        .service
        .create_job(&owner, new_job(&fixture, project.id, 1))
        .await
        .unwrap();
    fixture
        .service
        .transition_job(&owner, extra.id, JobAction::Cancel)
        .await
        .unwrap();
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (1, 1)
    );

    fixture
        .service
        .archive_project(&owner, project.id)
        .await
        .unwrap();
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (0, 1)
    );
    fixture
        .service
        .create_project(&owner, new_project(false), one_each)
        .await
        .expect("the archived project freed its slot");
    let twice = fixture
        .service
        .archive_project(&owner, project.id)
        .await
        .unwrap_err();
    assert!(matches!(twice, MarketplaceError::ProjectArchived));
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (1, 1)
    );
}

#[tokio::test]
async fn a_missing_counter_starts_from_the_owners_real_count() {
    let fixture = fixture().await;
    let owner = client();
    let mut projects = Vec::new();
    for _ in 0..2 {
        let project = fixture
            .service
            .create_project(&owner, new_project(false), LIMITS)
            .await
            .unwrap();
        projects.push(project.id);
    }
    // An owner whose projects predate the counters has none yet.
    fixture
        .database
        .collection::<Document>("usage_counters")
        .delete_many(doc! {})
        .await
        .unwrap();
    let limits = OrganizationLimits {
        max_projects: 2,
        max_concurrent_jobs: 1,
    };
    let error = fixture
        .service
        .create_project(&owner, new_project(false), limits)
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        MarketplaceError::ProjectLimitReached { limit: 2 }
    ));
    fixture
        .service
        .archive_project(&owner, projects[0])
        .await
        .unwrap();
    let mine = || doc! { "client_id": owner.user_id, "organization_id": null };
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (1, 0)
    );
    fixture
        .service
        .create_project(&owner, new_project(false), limits)
        .await
        .unwrap();
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (2, 0)
    );

    // The same holds for running jobs, whether the first change takes or gives back a slot.
    let forget_counters = || async {
        fixture
            .database
            .collection::<Document>("usage_counters")
            .delete_many(doc! {})
            .await
            .unwrap();
    };
    let mut drafts = Vec::new();
    for _ in 0..2 {
        let input = new_job(&fixture, projects[1], 1);
        drafts.push(fixture.service.create_job(&owner, input).await.unwrap().id);
    }
    forget_counters().await;
    fixture
        .service
        .publish_job(&owner, drafts[0], limits, super::PAYER, super::SOURCE)
        .await
        .unwrap();
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (2, 1)
    );
    forget_counters().await;
    let busy = fixture
        .service
        .publish_job(&owner, drafts[1], limits, super::PAYER, super::SOURCE)
        .await
        .unwrap_err();
    assert!(matches!(
        busy,
        MarketplaceError::ConcurrentJobLimitReached { limit: 1 }
    ));
    fixture
        .service
        .transition_job(&owner, drafts[0], JobAction::Cancel)
        .await
        .unwrap();
    assert_eq!(
        fixture.assert_usage_matches(mine(), owner.user_id).await,
        (2, 0)
    );
}

#[tokio::test]
async fn a_claim_after_the_deadline_is_refused_as_a_conflict_and_the_job_is_no_longer_listed() {
    let fixture = fixture().await;
    let owner = client();
    let job = fixture.open_job(&owner, 2).await;
    let (actor, profile) = tester();
    let filter = marketplace::AvailableJobsFilter::default();
    let page = foundation::PageRequest::first(10);
    let listed = fixture
        .service
        .available_jobs(&profile, &filter, &page)
        .await
        .unwrap()
        .jobs;
    assert_eq!(listed.len(), 1);

    // The fixture's jobs are due one day after creation.
    fixture.clock.advance(Duration::from_secs(86_400));
    let before = fixture.raw_job(job.id).await;
    let error = fixture
        .service
        .claim_job(&actor, &profile, job.id)
        .await
        .unwrap_err();
    assert!(
        matches!(error, MarketplaceError::DeadlinePassed),
        "{error:?}"
    );
    assert_eq!(error.category(), ErrorCategory::Conflict);
    assert!(error.to_string().contains("deadline has passed"), "{error}");
    assert_eq!(fixture.raw_job(job.id).await, before);
    let listed = fixture
        .service
        .available_jobs(&profile, &filter, &page)
        .await
        .unwrap()
        .jobs;
    assert!(listed.is_empty());
}

#[tokio::test]
async fn reviews_are_refused_once_the_job_is_cancelled_or_completed() {
    let fixture = fixture().await;
    let owner = client();

    // A cancelled job takes no reviews.
    let job = fixture.open_job(&owner, 1).await;
    let (actor, profile) = tester();
    let submission = fixture.submitted(&actor, &profile, job.id).await;
    fixture
        .service
        .transition_job(&owner, job.id, JobAction::Cancel)
        .await
        .unwrap();
    let before = (
        fixture.raw_job(job.id).await,
        fixture.raw_submission(submission).await,
    );
    let error = fixture
        .service
        .review_submission(&owner, submission, ReviewDecision::Approve, super::PAYER)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            MarketplaceError::InvalidJobTransition {
                from: "cancelled",
                action: "review submissions"
            }
        ),
        "{error:?}"
    );
    assert!(conflict(&error));
    assert_eq!(
        (
            fixture.raw_job(job.id).await,
            fixture.raw_submission(submission).await
        ),
        before
    );

    // A job in review takes them; once completed it does not.
    let job = fixture.open_job(&owner, 2).await;
    let (first_actor, first) = tester();
    let (second_actor, second) = tester();
    let reviewed = fixture.submitted(&first_actor, &first, job.id).await;
    let late = fixture.submitted(&second_actor, &second, job.id).await;
    for action in [JobAction::StartTesting, JobAction::BeginReview] {
        fixture
            .service
            .transition_job(&owner, job.id, action)
            .await
            .unwrap();
    }
    let approved = fixture
        .service
        .review_submission(&owner, reviewed, ReviewDecision::Approve, super::PAYER)
        .await
        .unwrap();
    assert_eq!(approved.status, SubmissionStatus::Approved);
    fixture
        .service
        .transition_job(&owner, job.id, JobAction::Complete)
        .await
        .unwrap();
    let error = fixture
        .service
        .review_submission(
            &owner,
            late,
            ReviewDecision::Reject {
                feedback: "too late".into(),
            },
            super::PAYER,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            MarketplaceError::InvalidJobTransition {
                from: "completed",
                ..
            }
        ),
        "{error:?}"
    );
    let stored = fixture.raw_submission(late).await;
    assert_eq!(stored.get_str("status").unwrap(), "submitted");
    assert!(stored.get("client_feedback").is_none());
}

impl Fixture {
    /// Seats the tester on the job and hands in a submission with one bug; its id.
    async fn submitted(
        &self,
        actor: &Actor,
        profile: &marketplace::TesterProfile,
        job_id: ObjectId,
    ) -> ObjectId {
        self.service
            .claim_job(actor, profile, job_id)
            .await
            .unwrap();
        let draft = self.service.create_submission(actor, job_id).await.unwrap();
        self.service
            .save_submission(actor, draft.id, content(1))
            .await
            .unwrap();
        self.service
            .submit_submission(actor, draft.id)
            .await
            .unwrap();
        draft.id
    }
}
