//! Escrow over HTTP on the sandbox provider: publishing captures the whole budget, approving holds
//! the tester's pay minus the platform fee, completing refunds the unused seat, and every figure
//! adds up. Who may see the money is checked on the way.

use serde_json::json;

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};
use crate::marketplace::{create_project, hand_in, open_job};

const ESCROW: &str = "query($id: ID!) { job(id: $id) { escrow {
    provider status capturedCents inEscrowCents heldForTestersCents paidToTestersCents
    platformFeeCents refundedCents platformFeeBasisPoints
    payouts { grossCents platformFeeCents testerPayoutCents status tester { fullName } }
    events { eventType amountCents } } } }";

fn figures(body: &serde_json::Value) -> [i64; 6] {
    let escrow = &body["job"]["escrow"];
    [
        "capturedCents",
        "inEscrowCents",
        "heldForTestersCents",
        "paidToTestersCents",
        "platformFeeCents",
        "refundedCents",
    ]
    .map(|field| escrow[field].as_i64().unwrap_or(-1))
}

#[tokio::test]
async fn publishing_approving_and_completing_move_exact_amounts_through_the_sandbox() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (li, _) = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await;
    let project = create_project(&gateway, &john, "Escrow shop").await;
    // Two seats at 5,000 cents.
    let job = open_job(&gateway, &john, &project, 2).await;

    let funded = gateway.ok(Some(&john), ESCROW, json!({ "id": job })).await;
    assert_eq!(funded["job"]["escrow"]["provider"], "SANDBOX");
    assert_eq!(funded["job"]["escrow"]["status"], "CAPTURED");
    assert_eq!(funded["job"]["escrow"]["platformFeeBasisPoints"], 1500);
    assert_eq!(figures(&funded), [10_000, 10_000, 0, 0, 0, 0]);

    // Testers never see the job's money, seated or not.
    for token in [&sarah, &li] {
        let refused = gateway
            .graphql(Some(token), ESCROW, json!({ "id": job }))
            .await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{refused}");
    }

    let submission = hand_in(&gateway, &sarah, &job).await;
    let payout_query = "query($id: ID!) { submission(id: $id) { payout { grossCents platformFeeCents testerPayoutCents status } } }";
    let before = gateway
        .ok(Some(&sarah), payout_query, json!({ "id": submission }))
        .await;
    assert!(before["submission"]["payout"].is_null());
    gateway
        .ok(
            Some(&john),
            "mutation($input: SubmissionMoneyInput!) { approveSubmission(input: $input) { submission { status } } }",
            json!({ "input": { "submissionId": submission } }),
        )
        .await;

    // 15% of 5,000 is 750 for the platform; 4,250 is held for Sarah during the dispute window.
    let payout = gateway
        .ok(Some(&sarah), payout_query, json!({ "id": submission }))
        .await;
    assert_eq!(
        payout["submission"]["payout"],
        json!({ "grossCents": 5000, "platformFeeCents": 750, "testerPayoutCents": 4250, "status": "HELD" })
    );
    let approved = gateway.ok(Some(&john), ESCROW, json!({ "id": job })).await;
    assert_eq!(figures(&approved), [10_000, 5_000, 4_250, 0, 750, 0]);
    assert_eq!(
        approved["job"]["escrow"]["payouts"][0]["tester"]["fullName"],
        "Sarah Johnson"
    );

    for step in ["startJobTesting", "beginJobReview", "completeJob"] {
        let input = if step == "completeJob" {
            "JobMoneyInput"
        } else {
            "JobIdInput"
        };
        let query = format!(
            "mutation($input: {input}!) {{ {step}(input: $input) {{ job {{ status }} }} }}"
        );
        gateway
            .ok(Some(&john), &query, json!({ "input": { "jobId": job } }))
            .await;
    }
    // The unused seat's 5,000 goes back to John; the invariant holds:
    // 10,000 = 0 paid + 4,250 held + 750 fees + 5,000 refunded + 0 in escrow.
    let completed = gateway.ok(Some(&john), ESCROW, json!({ "id": job })).await;
    let [captured, in_escrow, held, paid, fees, refunded] = figures(&completed);
    assert_eq!(
        [captured, in_escrow, held, paid, fees, refunded],
        [10_000, 0, 4_250, 0, 750, 5_000]
    );
    assert_eq!(captured, paid + held + fees + refunded + in_escrow);
    let events: Vec<String> = completed["job"]["escrow"]["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["eventType"].as_str().map(str::to_string))
        .collect();
    assert!(events.contains(&"Captured".to_string()), "{events:?}");
    assert!(events.contains(&"Refunded".to_string()), "{events:?}");
    gateway.stop().await;
}
