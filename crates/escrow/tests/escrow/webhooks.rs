//! Stripe events applied through escrow's public API, on the Stripe provider (localstripe behind
//! the front): an event that arrives before escrow's own write of the same answer pays once;
//! refund events are matched by our metadata, a repeat changes nothing and a failure after
//! success is left for an operator; events about objects that are not ours, and unknown types,
//! change nothing.

use std::sync::Arc;

use bson::oid::ObjectId;
use escrow::{
    AccountUpdateRecorded, ConnectedAccountUpdate, EscrowError, EscrowEventType, EscrowStatus,
    PayoutAccountUpdates, PayoutStatus, ProviderEvent, UsersConnectedAccounts, WebhookOutcome,
    WebhookReceipt,
};
use futures_util::future::BoxFuture;
use marketplace::{JobAction, ReviewDecision};
use serde_json::{json, Value};
use stripe_fake::{Localstripe, StripeFront, WebhookSigner};

use super::stripe_provider::{provider_at, saved_card};
use super::{buckets, client, world_paying_through, World, DAY};

/// No tester accounts in these tests.
#[derive(Debug)]
struct NoAccounts;

impl PayoutAccountUpdates for NoAccounts {
    fn record_account_update<'a>(
        &'a self,
        _: &'a ConnectedAccountUpdate,
    ) -> BoxFuture<'a, Result<AccountUpdateRecorded, EscrowError>> {
        Box::pin(async { Ok(AccountUpdateRecorded::UnknownAccount) })
    }
}

fn event(event_type: &str, object: Value) -> ProviderEvent {
    let envelope = WebhookSigner::event(event_type, object, 1_700_000_000);
    ProviderEvent::parse(envelope.to_string().as_bytes()).expect("an event")
}

async fn apply(world: &World, event: &ProviderEvent) -> WebhookOutcome {
    match world
        .escrow
        .process_provider_event(&world.marketplace, &NoAccounts, event)
        .await
        .expect("processed")
    {
        WebhookReceipt::Processed { outcome, .. } => outcome,
        other => panic!("expected a first processing, got {other:?}"),
    }
}

async fn stripe_world() -> (Localstripe, StripeFront, World) {
    let localstripe = Localstripe::start();
    let front = StripeFront::start(Some(localstripe.url())).await;
    let front_url = front.url();
    let mut world = world_paying_through(|database| {
        Some(Arc::new(provider_at(
            front_url,
            Arc::new(UsersConnectedAccounts::new(database)),
        )))
    })
    .await;
    // The client's card, saved as a client saves it.
    let setup = provider_at(
        front.url(),
        Arc::new(UsersConnectedAccounts::new(&world.database)),
    );
    let card = saved_card(&front, &setup, ObjectId::new(), "pm_card_visa").await;
    world.stripe_card = Some((card.customer_id, card.payment_method_id));
    (localstripe, front, world)
}

#[tokio::test]
async fn a_transfer_event_arriving_before_escrows_own_write_pays_and_credits_once() {
    let (_localstripe, front, world) = stripe_world().await;
    let owner = client();
    let job = world.open_job(&owner, 1).await;
    let tester = world.tester().await;
    let submission = world.submit(job.id, &tester).await;
    world
        .review(&owner, submission, ReviewDecision::Approve)
        .await;

    // Stripe's transfer.created is processed while escrow still waits for the transfer's answer.
    let (escrow, marketplace) = (world.escrow.clone(), world.marketplace.clone());
    front.after_answering(
        "POST",
        |path| path == "/v1/transfers",
        move |exchange| {
            let (escrow, marketplace) = (escrow.clone(), marketplace.clone());
            Box::pin(async move {
                let event = event("transfer.created", exchange.body);
                let receipt = escrow
                    .process_provider_event(&marketplace, &NoAccounts, &event)
                    .await
                    .expect("processed");
                assert!(
                    matches!(
                        receipt,
                        WebhookReceipt::Processed {
                            outcome: WebhookOutcome::Applied,
                            ..
                        }
                    ),
                    "{receipt:?}"
                );
            })
        },
    );
    world.clock.advance(3 * DAY);
    let paid = world
        .escrow
        .release_due_payouts(&world.marketplace)
        .await
        .unwrap();
    // The webhook paid it; escrow's own answer found it paid and changed nothing.
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].status, PayoutStatus::Paid);
    let escrow = world.escrow_of(job.id).await;
    let payout = escrow.payout_for(submission).unwrap();
    assert_eq!(payout.status, PayoutStatus::Paid);
    let transfer_id = front.transfers()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        payout.stripe_transfer_id.as_deref(),
        Some(transfer_id.as_str())
    );
    let paid_events = escrow
        .events
        .iter()
        .filter(|event| event.event_type == EscrowEventType::PayoutPaid)
        .count();
    assert_eq!(paid_events, 1);
    assert_eq!(world.totals(&tester).await, (2_125, 1));
    assert_eq!(buckets(&escrow), (0, 0, 2_125, 375, 0));

    // A reversal is recorded for an operator; the payout stays paid.
    let mut reversed = front.transfers()[0].clone();
    reversed["amount_reversed"] = json!(2_125);
    reversed["reversed"] = json!(true);
    assert_eq!(
        apply(&world, &event("transfer.reversed", reversed)).await,
        WebhookOutcome::NeedsAttention
    );
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(
        escrow.payout_for(submission).unwrap().status,
        PayoutStatus::Paid
    );
    assert!(escrow.events.iter().any(|event| event.event_type
        == EscrowEventType::TransferReversed
        && event.amount_cents == 2_125));
    assert_eq!(world.totals(&tester).await, (2_125, 1));
}

#[tokio::test]
async fn refund_events_match_our_metadata_and_disagreements_are_left_for_an_operator() {
    let (_localstripe, front, world) = stripe_world().await;
    let owner = client();
    let job = world.open_job(&owner, 2).await;
    world.move_job(&owner, job.id, &[JobAction::Cancel]).await;
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::Refunded);
    let refund = escrow.refunds[0].clone();
    let stored = front
        .upstream_json(&format!(
            "/v1/refunds/{}",
            refund.stripe_refund_id.as_deref().unwrap()
        ))
        .await;
    assert_eq!(stored["metadata"]["refund_id"], refund.refund_id.to_hex());

    // Stripe confirms what escrow already recorded: nothing changes.
    assert_eq!(
        apply(&world, &event("refund.updated", stored.clone())).await,
        WebhookOutcome::NoChange
    );
    // A failure after success is not undone automatically.
    let mut failed = stored.clone();
    failed["status"] = json!("failed");
    failed["failure_reason"] = json!("expired_or_canceled_card");
    assert_eq!(
        apply(&world, &event("refund.failed", failed)).await,
        WebhookOutcome::NeedsAttention
    );
    // No money moves; the escrow is only flagged for an operator, with the provider's reason.
    let flagged = world.escrow_of(job.id).await;
    let attention = flagged.needs_attention.clone().expect("flagged");
    assert!(
        attention.reason.contains("expired_or_canceled_card"),
        "{attention:?}"
    );
    assert_eq!(
        escrow::EscrowTransaction {
            needs_attention: None,
            version: escrow.version,
            updated_at: escrow.updated_at,
            ..flagged.clone()
        },
        escrow
    );
    let escrow = flagged;

    // Objects that are not ours, and types escrow does not act on, change nothing.
    let stranger =
        json!({ "id": "tr_someone", "metadata": { "payout_id": ObjectId::new().to_hex() } });
    assert_eq!(
        apply(&world, &event("transfer.created", stranger)).await,
        WebhookOutcome::NotOurs
    );
    assert_eq!(
        apply(&world, &event("customer.created", json!({ "id": "cus_1" }))).await,
        WebhookOutcome::Ignored
    );
    assert_eq!(world.escrow_of(job.id).await, escrow);
}
