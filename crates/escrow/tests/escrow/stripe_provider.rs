//! The Stripe provider over HTTP. PaymentIntents (authorize, capture, cancel) and refunds run
//! against localstripe behind the front; Connect transfers and Stripe's error answers run against
//! the front's own documented responses (localstripe has no Connect); idempotency runs through the
//! front's implementation of Stripe's rules (localstripe ignores the header). Then the three-seat
//! flow of the sandbox test once more, paid through Stripe.

use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, Document};
use escrow::{
    customer_key, AuthorizeRequest, CancelAuthorizationRequest, CaptureRequest, ConnectedAccounts,
    CreateCustomerRequest, EscrowError, EscrowStatus, PaymentMethods, PaymentProvider,
    PayoutStatus, ProviderError, ProviderKeys, RefundRequest, StripeProvider, StripeSecretKey,
    StripeSettings, TransferRequest, UsersConnectedAccounts,
};
use foundation::{Currency, Money};
use futures_util::future::BoxFuture;
use marketplace::{ErrorCategory, JobAction, ReviewDecision};

use super::{buckets, client, rejection, world_paying_through, DAY};
use stripe_fake::{Localstripe, StripeFront};

const TEST_CARD: &str = "pm_card_visa";

/// A lookup for tests that never transfer.
#[derive(Debug)]
struct NoConnectedAccounts;

impl ConnectedAccounts for NoConnectedAccounts {
    fn transfer_destination(
        &self,
        tester_id: ObjectId,
    ) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            Err(ProviderError::RecipientNotReady {
                reason: format!("no account for {tester_id}"),
            })
        })
    }
}

fn usd(cents: i64) -> Money {
    Money::new(cents, Currency::usd())
}

pub(crate) fn provider_at(
    api_base: String,
    accounts: Arc<dyn ConnectedAccounts>,
) -> StripeProvider {
    let mut settings = StripeSettings::new(StripeSecretKey::new("sk_test_escrow"));
    settings.api_base = api_base;
    settings.request_timeout = Duration::from_secs(10);
    StripeProvider::new(settings, accounts).expect("valid Stripe settings")
}

/// localstripe behind a front, and a provider talking to it.
async fn localstripe_provider() -> (Localstripe, StripeFront, StripeProvider) {
    let localstripe = Localstripe::start();
    let front = StripeFront::start(Some(localstripe.url())).await;
    let provider = provider_at(front.url(), Arc::new(NoConnectedAccounts));
    (localstripe, front, provider)
}

/// A paying client's card as it is saved: their customer, a SetupIntent on it confirmed in the
/// "browser" with the test card `test_card`, and the payment method it set up.
pub(crate) async fn saved_card(
    front: &StripeFront,
    provider: &StripeProvider,
    user_id: ObjectId,
    test_card: &str,
) -> SavedCard {
    let customer_id = provider
        .create_customer(CreateCustomerRequest {
            idempotency_key: customer_key(user_id),
            user_id,
            email: "client@example.com".into(),
            name: "Client".into(),
        })
        .await
        .expect("a customer");
    let intent = provider
        .create_setup_intent(customer_id.clone(), format!("setup:{}", ObjectId::new()))
        .await
        .expect("a SetupIntent");
    assert_eq!(intent.customer_id.as_deref(), Some(customer_id.as_str()));
    front
        .confirm_setup_intent_in_browser(&intent.id, &intent.client_secret, test_card)
        .await;
    let confirmed = provider.setup_intent(intent.id).await.expect("read back");
    let payment_method_id = confirmed
        .saved_method_for(&customer_id)
        .expect("a succeeded SetupIntent of this customer")
        .to_owned();
    SavedCard {
        customer_id,
        payment_method_id,
    }
}

/// A customer and the payment method saved on it.
pub(crate) struct SavedCard {
    pub customer_id: String,
    pub payment_method_id: String,
}

fn authorize_request(
    escrow_id: ObjectId,
    job_id: ObjectId,
    cents: i64,
    card: &SavedCard,
) -> AuthorizeRequest {
    AuthorizeRequest {
        idempotency_key: ProviderKeys::authorize(escrow_id, 1),
        escrow_id,
        funding_attempt: 1,
        job_id,
        client_id: ObjectId::new(),
        customer_id: card.customer_id.clone(),
        payment_method_id: card.payment_method_id.clone(),
        amount: usd(cents),
        transfer_group: ProviderKeys::transfer_group(job_id),
    }
}

#[tokio::test]
async fn an_authorization_is_a_confirmed_manual_capture_payment_intent_that_capture_settles() {
    let (_localstripe, front, provider) = localstripe_provider().await;
    let card = saved_card(&front, &provider, ObjectId::new(), TEST_CARD).await;
    let (escrow_id, job_id) = (ObjectId::new(), ObjectId::new());

    let authorization = provider
        .authorize(authorize_request(escrow_id, job_id, 7_500, &card))
        .await
        .expect("authorized");
    assert!(authorization.payment_id.starts_with("pi_"));
    let sent = &front.requests_to("POST", "/v1/payment_intents")[0];
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(ProviderKeys::authorize(escrow_id, 1).as_str())
    );
    assert_eq!(sent.form_value("amount"), Some("7500"));
    assert_eq!(sent.form_value("currency"), Some("usd"));
    assert_eq!(sent.form_value("capture_method"), Some("manual"));
    assert_eq!(sent.form_value("confirm"), Some("true"));
    // The client's own customer and saved card, charged off-session: never a platform card.
    assert_eq!(sent.form_value("customer"), Some(card.customer_id.as_str()));
    assert_eq!(
        sent.form_value("payment_method"),
        Some(card.payment_method_id.as_str())
    );
    assert_eq!(sent.form_value("off_session"), Some("true"));
    let group = ProviderKeys::transfer_group(job_id);
    assert_eq!(sent.form_value("transfer_group"), Some(group.as_str()));
    let intent_path = format!("/v1/payment_intents/{}", authorization.payment_id);
    let intent = front.upstream_json(&intent_path).await;
    assert_eq!(intent["status"], "requires_capture");
    assert_eq!(intent["amount"], 7_500);
    assert_eq!(intent["capture_method"], "manual");
    assert_eq!(intent["customer"], card.customer_id.as_str());
    assert_eq!(intent["payment_method"], card.payment_method_id.as_str());
    // Our ids travel with the PaymentIntent, so its webhooks can be matched to the escrow.
    assert_eq!(intent["metadata"]["escrow_id"], escrow_id.to_hex());
    assert_eq!(intent["metadata"]["funding_attempt"], "1");

    let capture = provider
        .capture(CaptureRequest {
            idempotency_key: ProviderKeys::capture(escrow_id, 1),
            payment_id: authorization.payment_id.clone(),
            amount: usd(7_500),
        })
        .await
        .expect("captured");
    let intent = front.upstream_json(&intent_path).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["latest_charge"]["id"], capture.charge_id.as_str());
    assert_eq!(intent["latest_charge"]["captured"], true);
    let capture_request = &front.requests_to("POST", &format!("{intent_path}/capture"))[0];
    assert_eq!(
        capture_request.form_value("amount_to_capture"),
        Some("7500")
    );
    assert_eq!(
        capture_request.idempotency_key.as_deref(),
        Some(ProviderKeys::capture(escrow_id, 1).as_str())
    );
}

#[tokio::test]
async fn cancelling_an_authorization_cancels_the_payment_intent() {
    let (_localstripe, front, provider) = localstripe_provider().await;
    let card = saved_card(&front, &provider, ObjectId::new(), TEST_CARD).await;
    let escrow_id = ObjectId::new();
    let authorization = provider
        .authorize(authorize_request(escrow_id, ObjectId::new(), 5_000, &card))
        .await
        .unwrap();
    provider
        .cancel_authorization(CancelAuthorizationRequest {
            idempotency_key: ProviderKeys::cancel(escrow_id, 1),
            payment_id: authorization.payment_id.clone(),
        })
        .await
        .expect("cancelled");
    let intent = front
        .upstream_json(&format!("/v1/payment_intents/{}", authorization.payment_id))
        .await;
    assert_eq!(intent["status"], "canceled");
}

#[tokio::test]
async fn a_refund_returns_part_of_a_captured_payment() {
    let (_localstripe, front, provider) = localstripe_provider().await;
    let card = saved_card(&front, &provider, ObjectId::new(), TEST_CARD).await;
    let escrow_id = ObjectId::new();
    let authorization = provider
        .authorize(authorize_request(escrow_id, ObjectId::new(), 7_500, &card))
        .await
        .unwrap();
    let capture = provider
        .capture(CaptureRequest {
            idempotency_key: ProviderKeys::capture(escrow_id, 1),
            payment_id: authorization.payment_id.clone(),
            amount: usd(7_500),
        })
        .await
        .unwrap();
    let refund_id = ObjectId::new();
    let refund = provider
        .refund(RefundRequest {
            idempotency_key: ProviderKeys::refund(refund_id),
            refund_id,
            escrow_id,
            job_id: ObjectId::new(),
            payment_id: authorization.payment_id.clone(),
            amount: usd(2_500),
            reason: "seat not paid".into(),
        })
        .await
        .expect("refunded");
    assert!(refund.refund_id.starts_with("re_"));
    let stored = front
        .upstream_json(&format!("/v1/refunds/{}", refund.refund_id))
        .await;
    assert_eq!(stored["amount"], 2_500);
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["charge"], capture.charge_id.as_str());
    assert_eq!(stored["metadata"]["refund_id"], refund_id.to_hex());
    assert_eq!(stored["metadata"]["escrow_id"], escrow_id.to_hex());
    let sent = &front.requests_to("POST", "/v1/refunds")[0];
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(ProviderKeys::refund(refund_id).as_str())
    );
    assert_eq!(
        sent.form_value("payment_intent"),
        Some(authorization.payment_id.as_str())
    );
}

#[tokio::test]
async fn a_declined_card_is_a_definite_decline_the_client_sees_as_a_conflict() {
    let (_localstripe, front, provider) = localstripe_provider().await;
    let card = saved_card(
        &front,
        &provider,
        ObjectId::new(),
        "pm_card_chargeCustomerFail",
    )
    .await;
    let answer = provider
        .authorize(authorize_request(
            ObjectId::new(),
            ObjectId::new(),
            5_000,
            &card,
        ))
        .await;
    let Err(ProviderError::Declined { reason }) = answer else {
        panic!("expected a decline, got {answer:?}");
    };
    assert!(reason.contains("card_declined"), "{reason}");
    let error = EscrowError::from(ProviderError::Declined { reason });
    assert!(matches!(error, EscrowError::PaymentDeclined(_)));
    assert_eq!(error.category(), ErrorCategory::Conflict);
}

#[tokio::test]
async fn a_repeated_key_creates_one_payment_intent_and_the_key_with_another_amount_is_refused() {
    let (_localstripe, front, provider) = localstripe_provider().await;
    let card = saved_card(&front, &provider, ObjectId::new(), TEST_CARD).await;
    let escrow_id = ObjectId::new();
    let request = authorize_request(escrow_id, ObjectId::new(), 5_000, &card);
    let first = provider.authorize(request.clone()).await.unwrap();
    // The same request again (a retry after a timeout) gets the first answer.
    let again = provider.authorize(request.clone()).await.unwrap();
    assert_eq!(again, first);
    let intents = front.upstream_json("/v1/payment_intents").await;
    assert_eq!(intents["data"].as_array().unwrap().len(), 1, "{intents}");

    let other_amount = provider
        .authorize(AuthorizeRequest {
            amount: usd(6_000),
            ..request
        })
        .await;
    assert_eq!(
        other_amount,
        Err(ProviderError::IdempotencyMismatch {
            key: ProviderKeys::authorize(escrow_id, 1)
        })
    );
    let error = EscrowError::from(other_amount.unwrap_err());
    assert!(matches!(error, EscrowError::IdempotencyKeyReused { .. }));
    assert_eq!(error.category(), ErrorCategory::Conflict);
    let intents = front.upstream_json("/v1/payment_intents").await;
    assert_eq!(intents["data"].as_array().unwrap().len(), 1);
    let sent = front.requests_to("POST", "/v1/payment_intents");
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|request| request.idempotency_key.as_deref()
        == Some(ProviderKeys::authorize(escrow_id, 1).as_str())));
}

/// A tester document with a connected account in `status`, and a lookup reading `users`.
async fn tester_with_account(
    database: &mongodb::Database,
    status: &str,
) -> (ObjectId, String, Arc<dyn ConnectedAccounts>) {
    let tester_id = ObjectId::new();
    let account = format!("acct_{}", &tester_id.to_hex()[..16]);
    database
        .collection::<Document>("users")
        .insert_one(doc! {
            "_id": tester_id,
            "role": "tester",
            "tester_data": { "stripe_connect_id": &account, "stripe_connect_status": status },
        })
        .await
        .unwrap();
    (
        tester_id,
        account,
        Arc::new(UsersConnectedAccounts::new(database)),
    )
}

fn transfer_request(tester_id: ObjectId, payout_id: ObjectId, job_id: ObjectId) -> TransferRequest {
    TransferRequest {
        idempotency_key: ProviderKeys::transfer(payout_id, 1),
        payout_id,
        tester_id,
        amount: usd(2_125),
        transfer_group: ProviderKeys::transfer_group(job_id),
    }
}

#[tokio::test]
async fn a_transfer_goes_to_the_testers_connected_account_in_the_jobs_transfer_group() {
    let world = world_paying_through(|_| None).await;
    let (tester_id, account, accounts) = tester_with_account(&world.database, "verified").await;
    let front = StripeFront::start(None).await;
    let provider = provider_at(front.url(), accounts);
    let (payout_id, job_id) = (ObjectId::new(), ObjectId::new());

    let transfer = provider
        .transfer(transfer_request(tester_id, payout_id, job_id))
        .await
        .expect("transferred");
    assert!(transfer.transfer_id.starts_with("tr_"));
    let sent = front.requests_to("POST", "/v1/transfers");
    assert_eq!(sent.len(), 1);
    let sent = &sent[0];
    assert_eq!(
        sent.idempotency_key.as_deref(),
        Some(ProviderKeys::transfer(payout_id, 1).as_str())
    );
    assert_eq!(sent.form_value("destination"), Some(account.as_str()));
    assert_eq!(sent.form_value("amount"), Some("2125"));
    assert_eq!(sent.form_value("currency"), Some("usd"));
    let group = ProviderKeys::transfer_group(job_id);
    assert_eq!(sent.form_value("transfer_group"), Some(group.as_str()));

    // A retry with the same key is answered with the same transfer.
    let again = provider
        .transfer(transfer_request(tester_id, payout_id, job_id))
        .await
        .unwrap();
    assert_eq!(again, transfer);
}

#[tokio::test]
async fn a_tester_without_a_verified_account_is_not_ready_and_nothing_is_sent() {
    let world = world_paying_through(|_| None).await;
    let (tester_id, _, accounts) = tester_with_account(&world.database, "pending").await;
    let front = StripeFront::start(None).await;
    let provider = provider_at(front.url(), accounts);
    let answer = provider
        .transfer(transfer_request(
            tester_id,
            ObjectId::new(),
            ObjectId::new(),
        ))
        .await;
    assert!(
        matches!(answer, Err(ProviderError::RecipientNotReady { ref reason }) if reason.contains("pending")),
        "{answer:?}"
    );
    assert!(front.requests().is_empty());
    let error = EscrowError::from(answer.unwrap_err());
    assert!(matches!(error, EscrowError::PayoutAccountNotReady(_)));
    assert_eq!(error.category(), ErrorCategory::Conflict);
}

#[tokio::test]
async fn stripe_error_answers_map_to_declined_unavailable_and_key_reuse() {
    let world = world_paying_through(|_| None).await;
    let (tester_id, _, accounts) = tester_with_account(&world.database, "verified").await;
    let front = StripeFront::start(None).await;
    let provider = provider_at(front.url(), accounts.clone());
    let job_id = ObjectId::new();

    // Stripe's documented answer when the platform balance cannot cover a transfer.
    front.fail_next_transfer(
        400,
        r#"{"error":{"code":"balance_insufficient","doc_url":"https://stripe.com/docs/error-codes/balance-insufficient","message":"You have insufficient available funds in your Stripe account.","type":"invalid_request_error"}}"#,
    );
    let answer = provider
        .transfer(transfer_request(tester_id, ObjectId::new(), job_id))
        .await;
    let Err(ProviderError::Declined { reason }) = answer else {
        panic!("expected a decline, got {answer:?}");
    };
    assert!(reason.contains("balance_insufficient"), "{reason}");

    // Stripe's own failure and rate limiting: no definite answer, retry later with the same key.
    for (status, body) in [
        (
            500,
            r#"{"error":{"message":"An unknown error occurred","type":"api_error"}}"#,
        ),
        (
            429,
            r#"{"error":{"code":"rate_limit","message":"Too many requests hit the API too quickly.","type":"invalid_request_error"}}"#,
        ),
    ] {
        front.fail_next_transfer(status, body);
        let answer = provider
            .transfer(transfer_request(tester_id, ObjectId::new(), job_id))
            .await;
        assert!(
            matches!(answer, Err(ProviderError::Unavailable { .. })),
            "{status}: {answer:?}"
        );
        let error = EscrowError::from(answer.unwrap_err());
        assert_eq!(error.category(), ErrorCategory::Unavailable);
    }

    // The same transfer key with another amount.
    let payout_id = ObjectId::new();
    provider
        .transfer(transfer_request(tester_id, payout_id, job_id))
        .await
        .unwrap();
    let mut other = transfer_request(tester_id, payout_id, job_id);
    other.amount = usd(9_999);
    assert_eq!(
        provider.transfer(other).await,
        Err(ProviderError::IdempotencyMismatch {
            key: ProviderKeys::transfer(payout_id, 1)
        })
    );

    // Nobody listening: the network failed, nothing is known.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = provider_at(closed_url, accounts);
    let answer = unreachable
        .transfer(transfer_request(tester_id, ObjectId::new(), job_id))
        .await;
    assert!(
        matches!(answer, Err(ProviderError::Unavailable { .. })),
        "{answer:?}"
    );
}

#[tokio::test]
async fn the_three_seat_flow_settles_through_stripe_and_a_payout_waits_for_a_verified_account() {
    let localstripe = Localstripe::start();
    let front = StripeFront::start(Some(localstripe.url())).await;
    let front_url = front.url();
    let owner = client();
    let setup = provider_at(front.url(), Arc::new(NoConnectedAccounts));
    let card = saved_card(&front, &setup, owner.user_id, TEST_CARD).await;
    let mut world = world_paying_through(|database| {
        let provider = provider_at(front_url, Arc::new(UsersConnectedAccounts::new(database)));
        Some(Arc::new(provider))
    })
    .await;
    world.stripe_card = Some((card.customer_id.clone(), card.payment_method_id.clone()));
    let job = world.open_job(&owner, 3).await;
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.provider, "STRIPE");
    assert_eq!(escrow.status, EscrowStatus::Captured);
    assert_eq!(buckets(&escrow), (7_500, 0, 0, 0, 0));
    let payment_id = escrow
        .stripe_payment_intent_id
        .clone()
        .expect("a payment intent");
    let intent = front
        .upstream_json(&format!("/v1/payment_intents/{payment_id}"))
        .await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["amount"], 7_500);
    assert_eq!(intent["customer"], card.customer_id.as_str());
    assert_eq!(intent["payment_method"], card.payment_method_id.as_str());
    assert_eq!(
        escrow.stripe_payment_method_id.as_deref(),
        Some(card.payment_method_id.as_str())
    );
    assert_eq!(
        escrow.stripe_charge_id.as_deref(),
        intent["latest_charge"]["id"].as_str()
    );

    let (ana, ben, cat) = (
        world.tester().await,
        world.tester().await,
        world.tester().await,
    );
    // Ben's Stripe account is still being verified.
    world
        .database
        .collection::<Document>("users")
        .update_one(
            doc! { "_id": ben.actor.user_id },
            doc! { "$set": { "tester_data.stripe_connect_status": "pending" } },
        )
        .await
        .unwrap();
    let ana_submission = world.submit(job.id, &ana).await;
    let ben_submission = world.submit(job.id, &ben).await;
    let cat_submission = world.submit(job.id, &cat).await;
    world
        .review(&owner, ana_submission, ReviewDecision::Approve)
        .await;
    world
        .review(&owner, ben_submission, ReviewDecision::Approve)
        .await;
    world.review(&owner, cat_submission, rejection()).await;
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
    // Cat's rejected seat stays in escrow while she may still dispute the rejection: nothing
    // is refunded at completion.
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::PartiallyReleased);
    assert_eq!(buckets(&escrow), (2_500, 4_250, 0, 750, 0));
    let refunds = front.upstream_json("/v1/refunds").await;
    assert_eq!(refunds["data"].as_array().unwrap().len(), 0);

    // The window passes: Ana is paid, Ben's payout waits, Cat's seat goes back to the client.
    world.clock.advance(3 * DAY);
    let due = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert_eq!(due.payouts_paid.len(), 1);
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(buckets(&escrow), (0, 2_125, 2_125, 750, 2_500));
    let refunds = front.upstream_json("/v1/refunds").await;
    let refunds = refunds["data"].as_array().unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["amount"], 2_500);
    assert_eq!(refunds[0]["charge"], intent["latest_charge"]["id"]);
    assert_eq!(
        escrow.payout_for(ben_submission).unwrap().status,
        PayoutStatus::Held
    );
    assert_eq!(
        escrow.payout_for(ben_submission).unwrap().transfer_attempts,
        0
    );

    world
        .database
        .collection::<Document>("users")
        .update_one(
            doc! { "_id": ben.actor.user_id },
            doc! { "$set": { "tester_data.stripe_connect_status": "verified" } },
        )
        .await
        .unwrap();
    let due = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert_eq!(due.payouts_paid.len(), 1);
    let escrow = world.escrow_of(job.id).await;
    assert_eq!(escrow.status, EscrowStatus::Released);
    assert_eq!(buckets(&escrow), (0, 0, 4_250, 750, 2_500));
    for tester in [&ana, &ben] {
        assert_eq!(world.totals(tester).await, (2_125, 1));
    }
    assert_eq!(world.totals(&cat).await, (0, 0));

    let transfers = front.requests_to("POST", "/v1/transfers");
    assert_eq!(transfers.len(), 2);
    let group = ProviderKeys::transfer_group(job.id);
    for (transfer, tester) in transfers.iter().zip([&ana, &ben]) {
        assert_eq!(transfer.form_value("amount"), Some("2125"));
        assert_eq!(transfer.form_value("transfer_group"), Some(group.as_str()));
        let account = format!("acct_{}", tester.actor.user_id.to_hex());
        assert_eq!(transfer.form_value("destination"), Some(account.as_str()));
    }
    let paid = escrow.payout_for(ana_submission).unwrap();
    assert_eq!(paid.status, PayoutStatus::Paid);
    assert!(paid
        .stripe_transfer_id
        .as_deref()
        .is_some_and(|id| id.starts_with("tr_")));

    // Every money-moving request carried a key.
    assert!(front
        .requests()
        .iter()
        .filter(|request| request.method == "POST")
        .all(|request| request.idempotency_key.is_some()));
    let again = world.escrow.run_due_work(&world.marketplace).await.unwrap();
    assert!(again.payouts_paid.is_empty());
    assert_eq!(front.requests_to("POST", "/v1/transfers").len(), 2);
}
