//! Integration tests of escrow with the marketplace, against the embedded MongoDB-compatible
//! store through the official driver, on the sandbox provider; `stripe_provider` runs the Stripe
//! provider against localstripe and a local Stripe front (`stripe-fake`). Each test starts its
//! own server; time moves only through a manual clock.

#[path = "escrow/stripe_provider.rs"]
mod stripe_provider;
#[path = "escrow/webhooks.rs"]
mod webhooks;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use embedded_mongo::{EmbeddedMongo, ServerConfig};
use escrow::{
    check_invariant, Authorization, AuthorizeRequest, CancelAuthorizationRequest, Capture,
    CaptureRequest, DisputeSettlement, EscrowActor, EscrowError, EscrowEventType, EscrowService,
    EscrowSettings, EscrowStatus, EscrowTransaction, IdempotencyKey, PaymentProvider, PayoutStatus,
    ProviderError, ProviderName, ProviderRefund, RefundRequest, RefundStatus, Sandbox,
    SandboxMovementKind, Transfer, TransferRequest,
};
use foundation::{Clock, ManualClock};
use futures_util::future::BoxFuture;
use futures_util::TryStreamExt;
use marketplace::{
    Actor, ActorRole, ErrorCategory, ExperienceLevel, Job, JobAction, JobStatus,
    MarketplaceService, MarketplaceSettings, NewJob, NewProject, OrganizationLimits,
    ReviewDecision, SubmissionPayoutStatus, SubmissionStatus, TestType, TesterLevel, TesterProfile,
    Visibility,
};
use mongodb::{Client, Database};

/// An established, verified account: no money rule but the caps applies.
const PAYER: marketplace::PayerStanding = marketplace::PayerStanding {
    caller_verified: true,
    account_created_at: bson::DateTime::from_millis(0),
};
const LIMITS: OrganizationLimits = OrganizationLimits {
    max_projects: 100,
    max_concurrent_jobs: 100,
};
const DAY: Duration = Duration::from_secs(86_400);
const PER_SEAT: i64 = 2_500;

/// A provider that forwards to the sandbox and then "crashes": for the next `n` calls of a kind,
/// the money moves but the caller hears `Unavailable`, exactly what escrow sees when the process
/// dies between the provider call and its database write.
#[derive(Debug, Default)]
struct CrashAfterCall {
    sandbox: Sandbox,
    captures: AtomicUsize,
    transfers: AtomicUsize,
    refunds: AtomicUsize,
}

fn crashed<T>(counter: &AtomicUsize, answer: Result<T, ProviderError>) -> Result<T, ProviderError> {
    let crash = counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    match answer {
        Ok(_) if crash => Err(ProviderError::Unavailable {
            reason: "connection reset after the request was sent".into(),
        }),
        other => other,
    }
}

impl PaymentProvider for CrashAfterCall {
    fn name(&self) -> ProviderName {
        ProviderName::Sandbox
    }
    fn authorize(
        &self,
        request: AuthorizeRequest,
    ) -> BoxFuture<'_, Result<Authorization, ProviderError>> {
        self.sandbox.authorize(request)
    }
    fn capture(&self, request: CaptureRequest) -> BoxFuture<'_, Result<Capture, ProviderError>> {
        Box::pin(async move { crashed(&self.captures, self.sandbox.capture(request).await) })
    }
    fn cancel_authorization(
        &self,
        request: CancelAuthorizationRequest,
    ) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.sandbox.cancel_authorization(request)
    }
    fn refund(
        &self,
        request: RefundRequest,
    ) -> BoxFuture<'_, Result<ProviderRefund, ProviderError>> {
        Box::pin(async move { crashed(&self.refunds, self.sandbox.refund(request).await) })
    }
    fn transfer(&self, request: TransferRequest) -> BoxFuture<'_, Result<Transfer, ProviderError>> {
        Box::pin(async move { crashed(&self.transfers, self.sandbox.transfer(request).await) })
    }
}

struct World {
    _server: EmbeddedMongo,
    database: Database,
    clock: Arc<ManualClock>,
    provider: Arc<CrashAfterCall>,
    /// What escrow pays through: `provider`, unless a test chose another.
    payments: Arc<dyn PaymentProvider>,
    escrow: EscrowService,
    marketplace: MarketplaceService,
    /// The saved payment method every client of this world pays with; by default each client's
    /// sandbox customer and method.
    stripe_card: Option<(String, String)>,
}

impl World {
    /// What `owner`'s publishes are charged to.
    fn card(&self, owner: &Actor) -> marketplace::PaymentSource {
        let (customer_id, payment_method_id) = self.stripe_card.clone().unwrap_or_else(|| {
            let hex = owner.user_id.to_hex();
            (format!("cus_sandbox_{hex}"), format!("pm_sandbox_{hex}"))
        });
        marketplace::PaymentSource {
            payer_id: owner.user_id,
            customer_id,
            payment_method_id,
        }
    }
}

async fn world() -> World {
    world_paying_through(|_| None).await
}

/// A world whose escrow pays through the provider `payments` builds from the database (the
/// sandbox-backed [`CrashAfterCall`] when it gives none).
async fn world_paying_through(
    payments: impl FnOnce(&Database) -> Option<Arc<dyn PaymentProvider>>,
) -> World {
    let server = EmbeddedMongo::start(ServerConfig::default())
        .await
        .expect("embedded server starts");
    let client = Client::with_uri_str(server.uri())
        .await
        .expect("driver connects");
    let database = client.database("escrow_tests");
    let clock = Arc::new(ManualClock::new(DateTime::from_millis(1_700_000_000_000)));
    let provider = Arc::new(CrashAfterCall::default());
    let payments = payments(&database).unwrap_or_else(|| provider.clone());
    let (escrow, marketplace) = services(&database, &clock, payments.clone());
    escrow
        .ensure_collections(&database)
        .await
        .expect("escrow collections");
    marketplace
        .ensure_collections(&database)
        .await
        .expect("marketplace collections");
    World {
        _server: server,
        database,
        clock,
        provider,
        payments,
        escrow,
        marketplace,
        stripe_card: None,
    }
}

/// Escrow and a marketplace wired to it, as the gateway wires them (also used to "restart").
fn services(
    database: &Database,
    clock: &Arc<ManualClock>,
    provider: Arc<dyn PaymentProvider>,
) -> (EscrowService, MarketplaceService) {
    let escrow = EscrowService::new(
        database.clone(),
        EscrowSettings::default(),
        clock.clone(),
        provider,
    );
    let marketplace = MarketplaceService::new(
        database.clone(),
        MarketplaceSettings::new([7; 32]),
        clock.clone(),
    );
    (escrow, marketplace)
}

fn client() -> Actor {
    Actor {
        user_id: ObjectId::new(),
        role: ActorRole::Client,
        organization: None,
        organization_rules: Default::default(),
    }
}

struct Tester {
    actor: Actor,
    profile: TesterProfile,
}

impl World {
    fn sandbox(&self) -> &Sandbox {
        &self.provider.sandbox
    }

    fn now(&self) -> DateTime {
        self.clock.now()
    }

    /// A tester with a `users` document holding zero totals and a verified Stripe connected
    /// account (identity's shape).
    async fn tester(&self) -> Tester {
        let id = ObjectId::new();
        self.database
            .collection::<Document>("users")
            .insert_one(doc! {
                "_id": id,
                "role": "tester",
                "tester_data": {
                    "total_earned_usd": 0_i64,
                    "total_jobs_completed": 0_i64,
                    "stripe_connect_id": format!("acct_{}", id.to_hex()),
                    "stripe_connect_status": "verified",
                },
            })
            .await
            .unwrap();
        Tester {
            actor: Actor {
                user_id: id,
                role: ActorRole::Tester,
                organization: None,
                organization_rules: Default::default(),
            },
            profile: TesterProfile {
                tester_id: id,
                experience_level: ExperienceLevel::Expert,
                qualified: true,
                qualification_expires_at: None,
                devices: vec!["iPhone".into()],
                browsers: vec!["Safari".into()],
                os: vec!["iOS 17".into()],
            },
        }
    }

    async fn totals(&self, tester: &Tester) -> (i64, i64) {
        let user = self
            .database
            .collection::<Document>("users")
            .find_one(doc! { "_id": tester.actor.user_id })
            .await
            .unwrap()
            .unwrap();
        let data = user.get_document("tester_data").unwrap();
        (
            data.get_i64("total_earned_usd").unwrap(),
            data.get_i64("total_jobs_completed").unwrap(),
        )
    }

    async fn draft_job(&self, owner: &Actor, seats: i32) -> Job {
        let project = self
            .marketplace
            .create_project(
                owner,
                NewProject {
                    name: "Shop".into(),
                    description: "Main web shop".into(),
                    project_type: marketplace::ProjectType::Web,
                    url: "https://shop.test".into(),
                    environment: marketplace::ProjectEnvironment::Staging,
                    credentials: None,
                    target_devices: vec![],
                    target_browsers: vec![],
                    target_os: vec![],
                },
                LIMITS,
            )
            .await
            .unwrap();
        self.marketplace
            .create_job(
                owner,
                NewJob {
                    project_id: project.id,
                    title: "Checkout on mobile".into(),
                    description: "Buy something".into(),
                    test_type: TestType::UserJourney,
                    scenario: "A shopper buys a kettle".into(),
                    steps: vec![("Pay".into(), "An order number shows".into())],
                    required_devices: vec!["iPhone".into()],
                    required_browsers: vec![],
                    required_os: vec![],
                    tester_level: TesterLevel::Any,
                    max_testers: seats,
                    budget_per_tester_cents: PER_SEAT,
                    deadline: foundation::clock::add_duration(self.now(), 60 * DAY),
                    estimated_duration_minutes: Some(30),
                    visibility: Visibility::Public,
                    invited_tester_ids: vec![],
                },
            )
            .await
            .unwrap()
    }

    async fn open_job(&self, owner: &Actor, seats: i32) -> Job {
        let job = self.draft_job(owner, seats).await;
        self.escrow
            .publish_job(
                &self.marketplace,
                owner,
                job.id,
                LIMITS,
                PAYER,
                Some(&self.card(owner)),
            )
            .await
            .expect("published")
            .job
    }

    /// `tester` claims a seat and hands in a submission; returns its id.
    async fn submit(&self, job_id: ObjectId, tester: &Tester) -> ObjectId {
        self.marketplace
            .claim_job(&tester.actor, &tester.profile, job_id)
            .await
            .unwrap();
        let draft = self
            .marketplace
            .create_submission(&tester.actor, job_id)
            .await
            .unwrap();
        self.marketplace
            .submit_submission(&tester.actor, draft.id)
            .await
            .unwrap();
        draft.id
    }

    async fn review(&self, owner: &Actor, submission_id: ObjectId, decision: ReviewDecision) {
        decide(
            &self.escrow,
            &self.marketplace,
            owner,
            submission_id,
            decision,
            PAYER,
        )
        .await
        .unwrap();
    }

    async fn move_job(&self, owner: &Actor, job_id: ObjectId, actions: &[JobAction]) {
        for action in actions {
            step_job(&self.escrow, &self.marketplace, owner, job_id, *action)
                .await
                .unwrap();
        }
    }

    async fn escrow_of(&self, job_id: ObjectId) -> EscrowTransaction {
        let escrow = self.escrow.escrow_for_job(job_id).await.unwrap();
        check_invariant(&escrow).expect("the ledger adds up");
        escrow
    }

    async fn raw_submission(&self, id: ObjectId) -> Document {
        self.database
            .collection::<Document>("submissions")
            .find_one(doc! { "_id": id })
            .await
            .unwrap()
            .unwrap()
    }
}

/// (in escrow, held for testers, paid, platform fees, refunded)
fn buckets(escrow: &EscrowTransaction) -> (i64, i64, i64, i64, i64) {
    (
        escrow.in_escrow_cents,
        escrow.held_for_testers_cents,
        escrow.paid_to_testers_cents,
        escrow.platform_fee_cents,
        escrow.refunded_cents,
    )
}

fn rejection() -> ReviewDecision {
    ReviewDecision::Reject {
        feedback: "Steps not followed".into(),
    }
}

/// A review as the API gives it: approvals and rejections through escrow's use cases (money in
/// the same transaction), revision requests through the marketplace.
async fn decide(
    escrow: &EscrowService,
    market: &MarketplaceService,
    owner: &Actor,
    submission: ObjectId,
    decision: ReviewDecision,
    payer: marketplace::PayerStanding,
) -> Result<marketplace::Submission, EscrowError> {
    match decision {
        ReviewDecision::Approve => {
            escrow
                .approve_submission(market, owner, submission, payer)
                .await
        }
        ReviewDecision::Reject { feedback } => {
            escrow
                .reject_submission(market, owner, submission, feedback, payer)
                .await
        }
        decision => Ok(market
            .review_submission(owner, submission, decision, payer)
            .await?),
    }
}

/// A lifecycle step as the API takes it: completing and cancelling through escrow.
async fn step_job(
    escrow: &EscrowService,
    market: &MarketplaceService,
    owner: &Actor,
    job: ObjectId,
    action: JobAction,
) -> Result<marketplace::Job, EscrowError> {
    match action {
        JobAction::Complete => escrow.complete_job(market, owner, job).await,
        JobAction::Cancel => escrow.cancel_job(market, owner, job).await,
        action => Ok(market.transition_job(owner, job, action).await?),
    }
}

#[tokio::test]
async fn a_three_seat_job_pays_two_approved_testers_and_refunds_the_rejected_seat() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 3).await;
    assert_eq!(job.escrow_status, Some(marketplace::JobEscrowStatus::Held));
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(Some(escrow.id), job.escrow_transaction_id);
    assert_eq!(escrow.provider, "SANDBOX");
    assert_eq!(escrow.status, EscrowStatus::Captured);
    assert_eq!(escrow.captured_cents, 7_500);
    assert_eq!(buckets(&escrow), (7_500, 0, 0, 0, 0));
    assert_eq!(world.sandbox().total(SandboxMovementKind::Captured), 7_500);

    let (ana, ben, cat) = (
        world.tester().await,
        world.tester().await,
        world.tester().await,
    );
    let ana_submission = world.submit(job.id, &ana).await;
    let ben_submission = world.submit(job.id, &ben).await;
    let cat_submission = world.submit(job.id, &cat).await;

    world
        .review(&owner, ana_submission, ReviewDecision::Approve)
        .await;
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::PartiallyReleased);
    assert_eq!(buckets(&escrow), (5_000, 2_125, 0, 375, 0));
    let payout = escrow.payout_for(ana_submission).unwrap();
    assert_eq!(
        (
            payout.amount_cents,
            payout.platform_fee_cents,
            payout.tester_payout_cents
        ),
        (2_500, 375, 2_125)
    );
    assert_eq!(payout.status, PayoutStatus::Held);
    assert_eq!(
        payout.release_after,
        foundation::clock::add_duration(world.now(), 3 * DAY)
    );
    let stored = world.raw_submission(ana_submission).await;
    assert_eq!(stored.get_str("payout_status").unwrap(), "pending");
    assert_eq!(stored.get_i64("payout_amount_usd").unwrap(), 2_125);

    world
        .review(&owner, ben_submission, ReviewDecision::Approve)
        .await;
    world.review(&owner, cat_submission, rejection()).await;
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(buckets(&escrow), (2_500, 4_250, 0, 750, 0));

    world
        .move_job(
            &owner,
            job.id,
            &[
                JobAction::StartTesting,
                JobAction::BeginReview,
                JobAction::Complete,
            ],
        )
        .await;
    // The rejected seat stays in escrow while its tester may still dispute the rejection.
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::PartiallyReleased);
    assert_eq!(buckets(&escrow), (2_500, 4_250, 0, 750, 0));
    assert_eq!(world.sandbox().total(SandboxMovementKind::Refunded), 0);

    world.clock.advance(3 * DAY - Duration::from_secs(1));
    let early = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert!(early.payouts_paid.is_empty());
    assert_eq!(
        buckets(&world.escrow_of(job.id).await),
        (2_500, 4_250, 0, 750, 0)
    );
    world.clock.advance(Duration::from_secs(1));
    let due = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert_eq!(due.payouts_paid.len(), 2);
    assert!(due.reconcile.problems.is_empty());

    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::Released);
    assert_eq!(buckets(&escrow), (0, 0, 4_250, 750, 2_500));
    assert_eq!(world.sandbox().total(SandboxMovementKind::Refunded), 2_500);
    assert_eq!(
        escrow.captured_cents,
        escrow.paid_to_testers_cents
            + escrow.held_for_testers_cents
            + escrow.platform_fee_cents
            + escrow.refunded_cents
            + escrow.in_escrow_cents
    );
    assert_eq!(
        world.sandbox().total(SandboxMovementKind::Transferred),
        4_250
    );
    assert_eq!(world.sandbox().count(SandboxMovementKind::Transferred), 2);
    for tester in [&ana, &ben] {
        assert_eq!(world.totals(tester).await, (2_125, 1));
    }
    assert_eq!(world.totals(&cat).await, (0, 0));
    let paid = world.raw_submission(ana_submission).await;
    assert_eq!(paid.get_str("payout_status").unwrap(), "paid");
    assert_eq!(paid.get_datetime("payout_date").unwrap(), &world.now());
    assert!(world
        .raw_submission(cat_submission)
        .await
        .get("payout_status")
        .is_none());

    let kinds: Vec<EscrowEventType> = escrow.events.iter().map(|e| e.event_type).collect();
    use EscrowEventType::*;
    assert_eq!(
        kinds,
        vec![
            Created,
            Authorized,
            Captured,
            Released,
            PayoutHeld,
            Released,
            PayoutHeld,
            // The window passed: the due transfers, then reconcile refunds the rejected seat.
            PayoutProcessing,
            PayoutPaid,
            PayoutProcessing,
            PayoutPaid,
            RefundRequested,
            Refunded,
        ]
    );
    assert_eq!(escrow.events[0].performed_by, Some(owner.user_id));
    assert_eq!(
        escrow.events[7].performed_by_process.as_deref(),
        Some("payout_release")
    );
    assert_eq!(
        escrow.events[11].performed_by_process.as_deref(),
        Some("reconcile")
    );

    // Running the background job again moves nothing.
    let again = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert!(again.payouts_paid.is_empty() && again.auto_approved.is_empty());
    assert_eq!(world.escrow_of(job.id).await.version, escrow.version);
    assert_eq!(world.sandbox().movements().len(), 5);
}

#[tokio::test]
async fn a_hundred_concurrent_duplicate_approvals_pay_exactly_once() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 2).await;
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;

    let mut reviews = Vec::new();
    for _ in 0..100 {
        let (escrow, marketplace) = (world.escrow.clone(), world.marketplace.clone());
        let owner = owner.clone();
        reviews.push(tokio::spawn(async move {
            escrow
                .approve_submission(&marketplace, &owner, submission, PAYER)
                .await
        }));
    }
    let mut approved = 0;
    for review in reviews {
        match review.await.unwrap() {
            Ok(_) => approved += 1,
            Err(error) => assert_eq!(error.category(), ErrorCategory::Conflict, "{error:?}"),
        }
    }
    assert_eq!(approved, 1);

    let key = IdempotencyKey::from_client(owner.user_id, "approve-once").unwrap();
    let mut payouts = Vec::new();
    for _ in 0..100 {
        let (escrow, marketplace, key) =
            (world.escrow.clone(), world.marketplace.clone(), key.clone());
        let actor = EscrowActor::User(owner.user_id);
        payouts.push(tokio::spawn(async move {
            escrow
                .pay_approved_submission(&marketplace, submission, actor, &key)
                .await
        }));
    }
    let mut payout_ids = Vec::new();
    for payout in payouts {
        payout_ids.push(
            payout
                .await
                .unwrap()
                .expect("a duplicate gets the payout")
                .payout_id,
        );
    }
    payout_ids.dedup();
    assert_eq!(payout_ids.len(), 1);
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.payouts.len(), 1);
    assert_eq!(buckets(&escrow), (2_500, 2_125, 0, 375, 0));

    // Inside the dispute window a release that does not waive it is refused.
    let early = world
        .escrow
        .release_payout(
            &world.marketplace,
            submission,
            false,
            EscrowActor::Platform("test"),
            PAYER,
            &IdempotencyKey::from_client(owner.user_id, "too-early").unwrap(),
        )
        .await;
    assert!(
        matches!(early, Err(EscrowError::PayoutStillHeld)),
        "{early:?}"
    );
    world.clock.advance(3 * DAY);
    let release_key = IdempotencyKey::from_client(owner.user_id, "release-once").unwrap();
    let mut releases = Vec::new();
    for _ in 0..100 {
        let (escrow, marketplace, key) = (
            world.escrow.clone(),
            world.marketplace.clone(),
            release_key.clone(),
        );
        releases.push(tokio::spawn(async move {
            escrow
                .release_payout(
                    &marketplace,
                    submission,
                    false,
                    EscrowActor::Platform("test"),
                    PAYER,
                    &key,
                )
                .await
        }));
    }
    for release in releases {
        let payout = release.await.unwrap().expect("every release answers");
        assert!(matches!(
            payout.status,
            PayoutStatus::Paid | PayoutStatus::Processing
        ));
    }
    world.escrow.reconcile(&world.marketplace).await.unwrap();
    assert_eq!(world.sandbox().count(SandboxMovementKind::Transferred), 1);
    assert_eq!(world.totals(&tester).await, (2_125, 1));
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(buckets(&escrow), (2_500, 0, 2_125, 375, 0));
    let paid_events = escrow
        .events
        .iter()
        .filter(|event| event.event_type == EscrowEventType::PayoutPaid)
        .count();
    assert_eq!(paid_events, 1);
}

#[tokio::test]
async fn an_unreviewed_submission_is_approved_after_ten_days_and_paid_once_even_across_restarts() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 1).await;
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;

    world.clock.advance(10 * DAY - Duration::from_secs(1));
    let early = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert!(early.auto_approved.is_empty());

    world.clock.advance(Duration::from_secs(1));
    let due = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert_eq!(due.auto_approved, vec![submission]);
    let stored = world.raw_submission(submission).await;
    assert_eq!(stored.get_str("status").unwrap(), "approved");
    assert!(stored.get_bool("auto_approved").unwrap());
    let escrow = world.escrow_of(job.id).await;
    let released = escrow
        .events
        .iter()
        .find(|event| event.event_type == EscrowEventType::Released)
        .unwrap();
    assert_eq!(
        released.performed_by_process.as_deref(),
        Some("auto_approval")
    );
    assert_eq!(
        escrow.payout_for(submission).unwrap().status,
        PayoutStatus::Held
    );

    // A restarted process (new services over the same database) finds nothing left to approve.
    let (escrow_service, marketplace) =
        services(&world.database, &world.clock, world.payments.clone());
    let restarted = escrow_service.run_due_work(&marketplace).await.unwrap();
    assert!(restarted.auto_approved.is_empty());
    assert_eq!(world.escrow_of(job.id).await.payouts.len(), 1);

    world.clock.advance(3 * DAY);
    let paid = escrow_service.run_due_work(&marketplace).await.unwrap();
    assert_eq!(paid.payouts_paid.len(), 1);
    assert_eq!(world.totals(&tester).await, (2_125, 1));
    assert_eq!(world.sandbox().count(SandboxMovementKind::Transferred), 1);
    let job = marketplace.job(job.id).await.unwrap();
    assert_eq!(job.approved_submission_count, 1);
}

#[tokio::test]
async fn a_crash_between_the_provider_and_the_database_is_repaired_by_a_retry_or_reconcile() {
    let world = world().await;
    let owner = client();

    // Capture: the provider captured, escrow never heard; publishing again completes funding.
    let draft = world.draft_job(&owner, 2).await;
    world.provider.captures.store(1, Ordering::SeqCst);
    let refused = world
        .escrow
        .publish_job(
            &world.marketplace,
            &owner,
            draft.id,
            LIMITS,
            PAYER,
            Some(&world.card(&owner)),
        )
        .await
        .unwrap_err();
    // The provider's answer was lost: an outage (retry later), not a conflict.
    assert_eq!(refused.category(), ErrorCategory::Unavailable);
    assert_eq!(
        world.escrow_of(draft.id).await.status,
        EscrowStatus::Authorized
    );
    assert_eq!(
        world.marketplace.job(draft.id).await.unwrap().status,
        JobStatus::Draft
    );
    let job = world
        .escrow
        .publish_job(
            &world.marketplace,
            &owner,
            draft.id,
            LIMITS,
            PAYER,
            Some(&world.card(&owner)),
        )
        .await
        .unwrap()
        .job;
    assert_eq!(world.escrow_of(job.id).await.status, EscrowStatus::Captured);
    assert_eq!(world.sandbox().count(SandboxMovementKind::Captured), 1);
    assert_eq!(world.sandbox().total(SandboxMovementKind::Captured), 5_000);

    // Transfer: the tester was paid, escrow never heard; reconcile asks again with the same key.
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;
    world
        .review(&owner, submission, ReviewDecision::Approve)
        .await;
    world.clock.advance(3 * DAY);
    world.provider.transfers.store(1, Ordering::SeqCst);
    let swept = world
        .escrow
        .release_due_payouts(&world.marketplace)
        .await
        .unwrap();
    assert!(swept.is_empty());
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(
        escrow.payout_for(submission).unwrap().status,
        PayoutStatus::Processing
    );
    assert_eq!(world.sandbox().count(SandboxMovementKind::Transferred), 1);
    assert_eq!(
        world
            .raw_submission(submission)
            .await
            .get_str("payout_status")
            .unwrap(),
        "processing"
    );
    assert_eq!(world.totals(&tester).await, (0, 0));

    let report = world.escrow.reconcile(&world.marketplace).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(
        escrow.payout_for(submission).unwrap().status,
        PayoutStatus::Paid
    );
    assert_eq!(world.sandbox().count(SandboxMovementKind::Transferred), 1);
    assert_eq!(world.totals(&tester).await, (2_125, 1));

    // Refund: the client got the money back, escrow never heard; reconcile records it once.
    world.provider.refunds.store(1, Ordering::SeqCst);
    world.move_job(&owner, job.id, &[JobAction::Cancel]).await;
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.refunds[0].status, RefundStatus::Pending);
    assert_eq!(escrow.available_cents(), 0);
    world.escrow.reconcile(&world.marketplace).await.unwrap();
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.refunds.len(), 1);
    assert_eq!(escrow.refunds[0].status, RefundStatus::Succeeded);
    assert_eq!(buckets(&escrow), (0, 0, 2_125, 375, 2_500));
    assert_eq!(world.sandbox().count(SandboxMovementKind::Refunded), 1);
    assert_eq!(escrow.status, EscrowStatus::Released);
}

#[tokio::test]
async fn reconcile_pays_approvals_and_refunds_cancellations_whose_hook_was_lost() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 3).await;
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;
    // The same marketplace, but the process died before escrow's hook ran.
    let forgetful = MarketplaceService::new(
        world.database.clone(),
        MarketplaceSettings::new([7; 32]),
        world.clock.clone(),
    );
    forgetful
        .review_submission(&owner, submission, ReviewDecision::Approve, PAYER)
        .await
        .unwrap();
    forgetful
        .transition_job(&owner, job.id, JobAction::Cancel)
        .await
        .unwrap();
    assert!(world.escrow_of(job.id).await.payouts.is_empty());

    let report = world.escrow.reconcile(&world.marketplace).await.unwrap();
    assert_eq!((report.escrows_examined, report.escrows_repaired), (1, 1));
    assert!(report.problems.is_empty());
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(buckets(&escrow), (0, 2_125, 0, 375, 5_000));
    assert_eq!(
        escrow
            .events
            .last()
            .unwrap()
            .performed_by_process
            .as_deref(),
        Some("reconcile")
    );
    let again = world.escrow.reconcile(&world.marketplace).await.unwrap();
    assert_eq!(again.escrows_repaired, 0);
    assert_eq!(world.sandbox().count(SandboxMovementKind::Refunded), 1);
}

#[tokio::test]
async fn a_repeated_refund_returns_the_first_and_other_arguments_under_its_key_are_refused() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 2).await;
    let key = IdempotencyKey::from_client(owner.user_id, "goodwill-1").unwrap();
    let actor = EscrowActor::User(owner.user_id);
    let first = world
        .escrow
        .refund(
            &world.marketplace,
            job.id,
            1_000,
            "goodwill",
            actor,
            PAYER,
            &key,
        )
        .await
        .unwrap();
    let again = world
        .escrow
        .refund(
            &world.marketplace,
            job.id,
            1_000,
            "goodwill",
            actor,
            PAYER,
            &key,
        )
        .await
        .unwrap();
    assert_eq!(first, again);
    let other = world
        .escrow
        .refund(
            &world.marketplace,
            job.id,
            1_200,
            "goodwill",
            actor,
            PAYER,
            &key,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(other, EscrowError::IdempotencyKeyReused { .. }),
        "{other:?}"
    );
    assert_eq!(other.category(), ErrorCategory::Conflict);
    let too_much = world
        .escrow
        .refund(
            &world.marketplace,
            job.id,
            5_000,
            "goodwill",
            actor,
            PAYER,
            &IdempotencyKey::from_client(owner.user_id, "goodwill-2").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        too_much,
        EscrowError::InsufficientEscrow {
            available: 4_000,
            requested: 5_000
        }
    ));
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::PartiallyRefunded);
    assert_eq!(buckets(&escrow), (4_000, 0, 0, 0, 1_000));
    assert_eq!(world.sandbox().total(SandboxMovementKind::Refunded), 1_000);
}

#[tokio::test]
async fn a_dispute_freezes_a_held_payout_and_its_reversal_refunds_the_client() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 1).await;
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;
    world
        .review(&owner, submission, ReviewDecision::Approve)
        .await;
    let dispute = ObjectId::new();
    let admin = EscrowActor::User(ObjectId::new());
    let frozen = world
        .escrow
        .freeze_payout(
            &world.marketplace,
            submission,
            dispute,
            admin,
            &IdempotencyKey::from_client(dispute, "freeze").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(frozen.status, PayoutStatus::Frozen);
    world.clock.advance(5 * DAY);
    let due = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert!(due.payouts_paid.is_empty());
    let refund = world
        .escrow
        .reverse_payout(
            &world.marketplace,
            submission,
            admin,
            &IdempotencyKey::from_client(dispute, "reverse").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        (refund.amount_cents, refund.status),
        (2_500, RefundStatus::Succeeded)
    );
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::Refunded);
    assert_eq!(buckets(&escrow), (0, 0, 0, 0, 2_500));
    assert_eq!(
        world
            .raw_submission(submission)
            .await
            .get_str("payout_status")
            .unwrap(),
        "reversed"
    );
    assert_eq!(world.sandbox().count(SandboxMovementKind::Transferred), 0);
    assert_eq!(world.totals(&tester).await, (0, 0));
}

#[tokio::test]
async fn escrow_collections_have_a_unique_job_index_and_expiring_idempotency_keys() {
    let world = world().await;
    let indexes: Vec<_> = world
        .database
        .collection::<Document>("escrow_transactions")
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let job_index = indexes
        .iter()
        .find(|index| index.keys == doc! { "job_id": 1 })
        .expect("job_id index");
    assert_eq!(job_index.options.as_ref().unwrap().unique, Some(true));
    let keys: Vec<_> = world
        .database
        .collection::<Document>("escrow_idempotency_keys")
        .list_indexes()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let ttl = keys
        .iter()
        .find(|index| index.keys == doc! { "expires_at": 1 })
        .expect("ttl index");
    assert_eq!(
        ttl.options.as_ref().unwrap().expire_after,
        Some(Duration::from_secs(0))
    );
    // Publishing stores one key record, expiring a day later.
    let owner = client();
    world.open_job(&owner, 1).await;
    let record = world
        .database
        .collection::<Document>("escrow_idempotency_keys")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.get_str("status").unwrap(), "completed");
    assert_eq!(
        record.get_datetime("expires_at").unwrap(),
        &foundation::clock::add_duration(world.now(), DAY)
    );
}

#[tokio::test]
async fn the_submission_payout_status_follows_a_failed_and_retried_transfer() {
    #[derive(Debug, Default)]
    struct DecliningOnce {
        sandbox: Sandbox,
        declined: AtomicUsize,
    }
    impl PaymentProvider for DecliningOnce {
        fn name(&self) -> ProviderName {
            ProviderName::Sandbox
        }
        fn authorize(
            &self,
            request: AuthorizeRequest,
        ) -> BoxFuture<'_, Result<Authorization, ProviderError>> {
            self.sandbox.authorize(request)
        }
        fn capture(
            &self,
            request: CaptureRequest,
        ) -> BoxFuture<'_, Result<Capture, ProviderError>> {
            self.sandbox.capture(request)
        }
        fn cancel_authorization(
            &self,
            request: CancelAuthorizationRequest,
        ) -> BoxFuture<'_, Result<(), ProviderError>> {
            self.sandbox.cancel_authorization(request)
        }
        fn refund(
            &self,
            request: RefundRequest,
        ) -> BoxFuture<'_, Result<ProviderRefund, ProviderError>> {
            self.sandbox.refund(request)
        }
        fn transfer(
            &self,
            request: TransferRequest,
        ) -> BoxFuture<'_, Result<Transfer, ProviderError>> {
            if self.declined.fetch_add(1, Ordering::SeqCst) == 0 {
                return Box::pin(async {
                    Err(ProviderError::Declined {
                        reason: "account not verified".into(),
                    })
                });
            }
            self.sandbox.transfer(request)
        }
    }
    let world = world().await;
    let provider = Arc::new(DecliningOnce::default());
    let escrow = EscrowService::new(
        world.database.clone(),
        EscrowSettings::default(),
        world.clock.clone(),
        provider.clone(),
    );
    let marketplace = world.marketplace.clone();
    let owner = client();
    let job = world.draft_job(&owner, 1).await;
    escrow
        .publish_job(
            &marketplace,
            &owner,
            job.id,
            LIMITS,
            PAYER,
            Some(&world.card(&owner)),
        )
        .await
        .unwrap();
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;
    escrow
        .approve_submission(&marketplace, &owner, submission, PAYER)
        .await
        .unwrap();
    world.clock.advance(3 * DAY);
    let first = escrow.run_due_work(&marketplace).await.unwrap();
    assert!(first.payouts_paid.is_empty());
    let stored = marketplace.submissions_by_ids(&[submission]).await.unwrap();
    assert_eq!(
        stored[&submission].payout_status,
        Some(SubmissionPayoutStatus::Failed)
    );
    assert_eq!(stored[&submission].status, SubmissionStatus::Approved);
    let second = escrow.run_due_work(&marketplace).await.unwrap();
    assert_eq!(second.payouts_paid.len(), 1);
    assert_eq!(second.payouts_paid[0].transfer_attempts, 2);
    assert_eq!(world.totals(&tester).await, (2_125, 1));
}

#[tokio::test]
async fn an_unverified_caller_cannot_approve_release_or_refund_whoever_calls_the_domain() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 2).await;
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;
    let unverified = marketplace::PayerStanding::of_caller(false);

    let approve = world
        .escrow
        .approve_submission(&world.marketplace, &owner, submission, unverified)
        .await
        .unwrap_err();
    assert!(
        matches!(
            approve,
            EscrowError::Marketplace(marketplace::MarketplaceError::AccountNotVerified)
        ),
        "{approve:?}"
    );
    assert_eq!(approve.category(), ErrorCategory::Forbidden);
    assert!(world.escrow_of(job.id).await.payouts.is_empty());

    world
        .review(&owner, submission, ReviewDecision::Approve)
        .await;
    world.clock.advance(3 * DAY);
    let release = world
        .escrow
        .release_payout(
            &world.marketplace,
            submission,
            true,
            EscrowActor::User(owner.user_id),
            unverified,
            &IdempotencyKey::from_client(owner.user_id, "release-unverified").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(release.category(), ErrorCategory::Forbidden, "{release:?}");
    let refund = world
        .escrow
        .refund(
            &world.marketplace,
            job.id,
            1_000,
            "goodwill",
            EscrowActor::User(owner.user_id),
            unverified,
            &IdempotencyKey::from_client(owner.user_id, "refund-unverified").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(refund.category(), ErrorCategory::Forbidden, "{refund:?}");
    // Nothing moved: the payout is still held and nothing was refunded.
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.payouts.len(), 1);
    assert_eq!(escrow.payouts[0].status, PayoutStatus::Held);
    assert_eq!(escrow.refunded_cents, 0);
    assert!(escrow.refunds.is_empty());
}

#[tokio::test]
async fn publishing_without_a_payment_method_reserves_and_charges_nothing() {
    let world = world().await;
    let owner = client();
    let draft = world.draft_job(&owner, 2).await;
    let refused = world
        .escrow
        .publish_job(&world.marketplace, &owner, draft.id, LIMITS, PAYER, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            EscrowError::Marketplace(marketplace::MarketplaceError::PaymentMethodRequired)
        ),
        "{refused:?}"
    );
    assert_eq!(refused.category(), ErrorCategory::FailedPrecondition);
    assert_eq!(world.provider.sandbox.movements(), vec![]);
    assert!(matches!(
        world.escrow.escrow_for_job(draft.id).await,
        Err(EscrowError::EscrowNotFound)
    ));
    let still = world.marketplace.job(draft.id).await.unwrap();
    assert_eq!(still.status, marketplace::JobStatus::Draft);
}

mod random_sequences {
    //! Random sequences of marketplace and escrow operations, disputes opened and settled
    //! included; after every step every escrow's
    //! ledger adds up and no cent was created or destroyed across the sandbox.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Publish,
        Claim(usize),
        Submit(usize),
        Approve(usize),
        Reject(usize),
        RequestRevision(usize),
        StartTesting,
        BeginReview,
        Complete,
        Cancel,
        Refund(i64),
        AdvanceDays(u32),
        /// A party disputes tester `t`'s reviewed submission (escrow's side, as trust drives it).
        Dispute(usize),
        /// The dispute of tester `t`'s submission is settled: 0 pays the tester, 1 refunds the
        /// client, 2 splits with the given cents back to the client.
        Settle(usize, u8, i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            2 => Just(Step::Publish),
            3 => (0..4_usize).prop_map(Step::Claim),
            3 => (0..4_usize).prop_map(Step::Submit),
            3 => (0..4_usize).prop_map(Step::Approve),
            2 => (0..4_usize).prop_map(Step::Reject),
            1 => (0..4_usize).prop_map(Step::RequestRevision),
            1 => Just(Step::StartTesting),
            1 => Just(Step::BeginReview),
            1 => Just(Step::Complete),
            1 => Just(Step::Cancel),
            1 => (1..3_000_i64).prop_map(Step::Refund),
            2 => (0..12_u32).prop_map(Step::AdvanceDays),
            2 => (0..4_usize).prop_map(Step::Dispute),
            2 => (0..4_usize, 0..3_u8, 1..6_000_i64)
                .prop_map(|(t, kind, cents)| Step::Settle(t, kind, cents)),
        ]
    }

    /// Every approved submission has its payout, unless the escrow cannot cover the seat (the
    /// client's refunds or a cancellation took the money first).
    async fn check_payouts(world: &World, job_id: ObjectId) {
        let Ok(escrow) = world.escrow.escrow_for_job(job_id).await else {
            return;
        };
        let submissions = world
            .marketplace
            .submissions_by_job_ids(&[job_id], usize::MAX)
            .await
            .unwrap()
            .remove(&job_id)
            .unwrap_or_default();
        for submission in submissions {
            if submission.status == SubmissionStatus::Approved
                && escrow.payout_for(submission.id).is_none()
            {
                assert!(
                    escrow.status.is_funded()
                        && escrow.available_cents() < escrow.budget_per_tester_cents,
                    "approved submission without a payout: {escrow:?}"
                );
            }
        }
    }

    async fn check_world(world: &World, testers: &[Tester]) {
        let escrows: Vec<EscrowTransaction> = world
            .database
            .collection::<EscrowTransaction>("escrow_transactions")
            .find(doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let mut still_ours = 0;
        let mut paid = 0;
        for escrow in &escrows {
            check_invariant(escrow).expect("ledger adds up");
            still_ours +=
                escrow.in_escrow_cents + escrow.held_for_testers_cents + escrow.platform_fee_cents;
            paid += escrow.paid_to_testers_cents;
        }
        let sandbox = world.sandbox();
        let captured = sandbox.total(SandboxMovementKind::Captured);
        let refunded = sandbox.total(SandboxMovementKind::Refunded);
        let transferred = sandbox.total(SandboxMovementKind::Transferred);
        assert_eq!(
            captured - refunded - transferred,
            still_ours,
            "money conserved"
        );
        assert_eq!(transferred, paid);
        let mut earned = 0;
        for tester in testers {
            earned += world.totals(tester).await.0;
        }
        assert_eq!(earned, paid, "tester totals follow payouts");
    }

    async fn run(steps: Vec<Step>) {
        let world = world().await;
        let owner = client();
        let job = world.draft_job(&owner, 3).await;
        let mut testers = Vec::new();
        for _ in 0..4 {
            testers.push(world.tester().await);
        }
        let mut submissions: Vec<Option<ObjectId>> = vec![None; 4];
        let market = &world.marketplace;
        for step in steps {
            match step {
                Step::Publish => {
                    let _ = world
                        .escrow
                        .publish_job(
                            market,
                            &owner,
                            job.id,
                            LIMITS,
                            PAYER,
                            Some(&world.card(&owner)),
                        )
                        .await;
                }
                Step::Claim(t) => {
                    let _ = market
                        .claim_job(&testers[t].actor, &testers[t].profile, job.id)
                        .await;
                }
                Step::Submit(t) => {
                    if submissions[t].is_none() {
                        if let Ok(draft) = market.create_submission(&testers[t].actor, job.id).await
                        {
                            submissions[t] = Some(draft.id);
                        }
                    }
                    if let Some(id) = submissions[t] {
                        let _ = market.submit_submission(&testers[t].actor, id).await;
                    }
                }
                Step::Approve(t) | Step::Reject(t) | Step::RequestRevision(t) => {
                    let decision = match step {
                        Step::Approve(_) => ReviewDecision::Approve,
                        Step::Reject(_) => rejection(),
                        _ => ReviewDecision::RequestRevision {
                            notes: "more detail".into(),
                        },
                    };
                    if let Some(id) = submissions[t] {
                        let _ = decide(&world.escrow, market, &owner, id, decision, PAYER).await;
                    }
                }
                Step::StartTesting | Step::BeginReview | Step::Complete | Step::Cancel => {
                    let action = match step {
                        Step::StartTesting => JobAction::StartTesting,
                        Step::BeginReview => JobAction::BeginReview,
                        Step::Complete => JobAction::Complete,
                        _ => JobAction::Cancel,
                    };
                    let _ = step_job(&world.escrow, market, &owner, job.id, action).await;
                }
                Step::Refund(amount) => {
                    let key = IdempotencyKey::from_client(owner.user_id, &ObjectId::new().to_hex())
                        .unwrap();
                    let _ = world
                        .escrow
                        .refund(
                            market,
                            job.id,
                            amount,
                            "goodwill",
                            EscrowActor::User(owner.user_id),
                            PAYER,
                            &key,
                        )
                        .await;
                }
                Step::Dispute(t) | Step::Settle(t, ..) => {
                    let Some(id) = submissions[t] else {
                        continue;
                    };
                    let submission = market
                        .submissions_by_ids(&[id])
                        .await
                        .unwrap()
                        .remove(&id)
                        .unwrap();
                    let actor = EscrowActor::User(owner.user_id);
                    let mut session = world.database.client().start_session().await.unwrap();
                    session.start_transaction().await.unwrap();
                    let outcome = match step {
                        Step::Dispute(_) => world
                            .escrow
                            .open_dispute_in(
                                &mut session,
                                market,
                                &submission,
                                ObjectId::new(),
                                actor,
                            )
                            .await
                            .map(|_| None),
                        Step::Settle(_, kind, cents) => {
                            let settlement = match kind {
                                0 => DisputeSettlement::PayTester,
                                1 => DisputeSettlement::RefundClient,
                                _ => DisputeSettlement::Split {
                                    refund_cents: cents,
                                },
                            };
                            world
                                .escrow
                                .settle_dispute_in(
                                    &mut session,
                                    market,
                                    job.id,
                                    id,
                                    settlement,
                                    actor,
                                )
                                .await
                                .map(|money| money.refund.map(|refund| refund.refund_id))
                        }
                        _ => unreachable!("matched above"),
                    };
                    match outcome {
                        Ok(refund) => {
                            session.commit_transaction().await.unwrap();
                            if let Some(refund_id) = refund {
                                let _ = world
                                    .escrow
                                    .finish_dispute_refund(market, job.id, refund_id, actor)
                                    .await;
                            }
                        }
                        Err(_) => session.abort_transaction().await.unwrap(),
                    }
                }
                Step::AdvanceDays(days) => {
                    world.clock.advance(DAY * days);
                    let report = world.escrow.run_due_work(market).await.unwrap();
                    for problem in &report.reconcile.problems {
                        // Only an approval the client's earlier refunds left unfunded may stay open.
                        assert!(
                            problem.error.starts_with("escrow holds"),
                            "unexpected reconcile problem: {problem:?}"
                        );
                    }
                }
            }
            check_world(&world, &testers).await;
            check_payouts(&world, job.id).await;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn random_marketplace_sequences_never_create_or_destroy_money(
            steps in proptest::collection::vec(step(), 1..40)
        ) {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(steps));
        }
    }
}

#[tokio::test]
async fn a_key_whose_request_died_is_taken_over_after_it_goes_stale_and_a_failure_frees_it() {
    let world = world().await;
    let caller = ObjectId::new();
    let key = IdempotencyKey::from_client(caller, "transfer-42").expect("key");

    // A request that fails stores nothing: the same key runs again and its answer is kept.
    let failed: Result<i64, EscrowError> = world
        .escrow
        .remember(&key, "op", "a".into(), async {
            Err(EscrowError::InvalidAmount {
                reason: "first try fails".into(),
            })
        })
        .await;
    assert!(failed.is_err());

    // A request that dies mid-way (its future dropped, as in a crash) leaves the key started.
    let died = tokio::time::timeout(
        Duration::from_millis(200),
        world.escrow.remember(&key, "op", "a".into(), async {
            std::future::pending::<Result<i64, EscrowError>>().await
        }),
    )
    .await;
    assert!(died.is_err(), "the run never finishes");

    // Two minutes later the key is stale: the next request runs and its answer stands.
    world.clock.advance(Duration::from_secs(121));
    let answer: i64 = world
        .escrow
        .remember(&key, "op", "a".into(), async { Ok::<_, EscrowError>(7) })
        .await
        .expect("stale key taken over");
    assert_eq!(answer, 7);
    let repeat: i64 = world
        .escrow
        .remember(&key, "op", "a".into(), async { Ok::<_, EscrowError>(8) })
        .await
        .expect("stored answer");
    assert_eq!(repeat, 7, "the first answer, not a second run");
    let other: Result<i64, EscrowError> = world
        .escrow
        .remember(&key, "op", "b".into(), async { Ok::<_, EscrowError>(9) })
        .await;
    assert!(matches!(
        other,
        Err(EscrowError::IdempotencyKeyReused { ref key }) if key == "transfer-42"
    ));
}

#[tokio::test]
async fn concurrent_approvals_of_one_job_from_two_processes_each_hold_one_payout() {
    let world = world().await;
    let owner = client();
    let job = world.open_job(&owner, 8).await;
    let mut submissions = Vec::new();
    for _ in 0..8 {
        let tester = world.tester().await;
        submissions.push(world.submit(job.id, &tester).await);
    }
    // A second gateway process: its own services, so its approvals do not take this one's turns
    // and meet this process's only as write conflicts in the database.
    let (other_escrow, other_marketplace) =
        services(&world.database, &world.clock, world.payments.clone());
    let mut approvals = Vec::new();
    for (index, submission) in submissions.iter().copied().enumerate() {
        let (escrow, marketplace) = if index % 2 == 0 {
            (world.escrow.clone(), world.marketplace.clone())
        } else {
            (other_escrow.clone(), other_marketplace.clone())
        };
        let owner = owner.clone();
        approvals.push(tokio::spawn(async move {
            escrow
                .approve_submission(&marketplace, &owner, submission, PAYER)
                .await
        }));
    }
    for approval in approvals {
        let approved = approval.await.unwrap().expect("every seat is approved");
        assert_eq!(approved.status, marketplace::SubmissionStatus::Approved);
    }
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.payouts.len(), 8);
    assert_eq!(buckets(&escrow), (0, 8 * 2_125, 0, 8 * 375, 0));

    // The payouts the API reads per submission are exactly the ledger's, and only those asked.
    let asked = [submissions[0], submissions[5], ObjectId::new()];
    let read = world
        .escrow
        .payouts_by_submission_ids(&asked)
        .await
        .expect("payouts read");
    assert_eq!(read.len(), 2);
    for submission in &asked[..2] {
        assert_eq!(read.get(submission), escrow.payout_for(*submission));
    }
    assert!(world
        .escrow
        .payouts_by_submission_ids(&[])
        .await
        .expect("nothing asked")
        .is_empty());
}
