//! E-mail delivery end to end: the gateway's worker sends identity's outbox to a real SMTP server
//! (aiosmtpd on loopback), and the tests read what that server received: headers, both parts,
//! and a link that works when followed through the API.

use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Document};
use foundation::ManualClock;
use notifications::email::DeliveryReport;
use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, LOGIN_DOCUMENT, STRONG_PASSWORD};
use crate::smtp_server::{ReceivedEmail, SmtpServer};

const PUBLIC_BASE_URL: &str = "https://app.peertest.test";
const FROM: &str = "PeerTest Hub <no-reply@peertest.test>";
const JWT_SECRET: &str = "an e-mail test secret of at least thirty-two bytes";

fn send_through(smtp: &SmtpServer) -> impl FnOnce(&mut gateway::Config) + '_ {
    move |config| {
        config.public_base_url = PUBLIC_BASE_URL.into();
        config.email_from = FROM.into();
        config.jwt_secret = Some(JWT_SECRET.into());
        config.encryption_key = Some("5a".repeat(32));
        config.smtp = Some(gateway::config::SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(smtp.address.port()),
            security: gateway::config::SmtpSecurityChoice::Plain,
            username: None,
            password: None,
            timeout_seconds: 10,
        });
    }
}

/// A gateway sending through `smtp`, with identity's clock (outbox times) in the test's hand.
async fn start_with_identity_clock(smtp: &SmtpServer) -> (TestGateway, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
    let gateway = TestGateway::start_with_clocks(
        Arc::new(foundation::SystemClock),
        clock.clone(),
        send_through(smtp),
    )
    .await;
    (gateway, clock)
}

/// The token in `link`, which must be `PUBLIC_BASE_URL/<page>?token=...`.
fn token_in(link: &str, page: &str) -> String {
    let prefix = format!("{PUBLIC_BASE_URL}/{page}?token=");
    link.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{link} is not a {prefix} link"))
        .to_owned()
}

/// The one link to `page` in the text part, checked to be the same in the HTML part's button.
fn link_in(email: &ReceivedEmail, page: &str) -> String {
    let prefix = format!("{PUBLIC_BASE_URL}/{page}?token=");
    let line = email
        .text()
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} link in the text part: {}", email.text()));
    assert!(
        email.html().contains(&format!("href=\"{line}\"")),
        "the HTML part links elsewhere: {}",
        email.html()
    );
    line.to_owned()
}

async fn outbox(gateway: &TestGateway) -> Vec<Document> {
    use futures_util::TryStreamExt;
    gateway
        .database
        .collection::<Document>("outbox")
        .find(doc! {})
        .await
        .expect("the outbox is readable")
        .try_collect()
        .await
        .expect("the outbox is readable")
}

fn sent(count: usize) -> DeliveryReport {
    DeliveryReport {
        sent: count,
        ..DeliveryReport::default()
    }
}

#[tokio::test]
async fn registering_sends_a_verification_email_whose_link_verifies_the_account() {
    let smtp = SmtpServer::start();
    let gateway = TestGateway::start_with(send_through(&smtp)).await;
    let email = "new.client@example.com";
    gateway.register(email, "CLIENT").await;

    assert_eq!(gateway.deliver_due_emails().await, sent(1));
    let received = smtp.received_by(email);
    assert_eq!(received.len(), 1, "{received:?}");
    let message = &received[0];
    assert_eq!(message.mail_from, "no-reply@peertest.test");
    assert_eq!(message.header("From"), Some(FROM));
    assert_eq!(message.header("To"), Some(email));
    assert_eq!(
        message.header("Subject"),
        Some("Confirm your email address")
    );
    assert_eq!(message.content_type, "multipart/alternative");
    assert!(
        message.text().starts_with("Hello Test Person,\n"),
        "{}",
        message.text()
    );
    assert!(message
        .text()
        .contains("Open this link to confirm your email address:"));
    assert!(
        message.html().contains("<p>Hello Test Person,</p>"),
        "{}",
        message.html()
    );
    assert!(message.html().contains(">Confirm my address</a>"));
    let link = link_in(message, "verify-email");

    let verified = gateway
        .ok(
            None,
            "mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { user { email emailVerified status } } }",
            json!({ "input": { "token": token_in(&link, "verify-email") } }),
        )
        .await;
    assert_eq!(
        verified["verifyEmail"]["user"],
        json!({ "email": email, "emailVerified": true, "status": "ACTIVE" })
    );
    assert!(
        outbox(&gateway).await.is_empty(),
        "a sent message leaves the outbox"
    );
    assert_eq!(
        gateway.deliver_due_emails().await,
        DeliveryReport::default()
    );
    assert_eq!(smtp.received_by(email).len(), 1, "sent once");
    gateway.stop().await;
}

#[tokio::test]
async fn a_password_reset_email_carries_a_link_that_sets_the_new_password() {
    let smtp = SmtpServer::start();
    let gateway = TestGateway::start_with(send_through(&smtp)).await;
    let email = "forgetful@example.com";
    gateway.register(email, "TESTER").await;
    gateway.deliver_due_emails().await;
    gateway
        .ok(
            None,
            "mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { ok } }",
            json!({ "input": { "email": email } }),
        )
        .await;
    // The reset is queued after the answer (so timing tells nothing); wait until it is.
    gateway.outbox_message(email, "password_reset").await;

    assert_eq!(gateway.deliver_due_emails().await, sent(1));
    let received = smtp.received_by(email);
    assert_eq!(received.len(), 2, "verification, then reset: {received:?}");
    let reset = &received[1];
    assert_eq!(reset.header("Subject"), Some("Reset your password"));
    assert!(reset
        .text()
        .contains("Open this link to choose a new password:"));
    assert!(reset.text().contains("The link works for one hour."));
    assert!(reset.html().contains(">Choose a new password</a>"));
    let link = link_in(reset, "reset-password");

    let new_password = "Brand-New-Passw0rd-42";
    gateway
        .ok(
            None,
            "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { ok } }",
            json!({ "input": { "token": token_in(&link, "reset-password"), "newPassword": new_password } }),
        )
        .await;
    let old = gateway
        .graphql(
            None,
            LOGIN_DOCUMENT,
            json!({ "input": { "email": email, "password": STRONG_PASSWORD } }),
        )
        .await;
    assert_eq!(outcome(&old), "UNAUTHENTICATED", "{old}");
    gateway.login(email, new_password).await;
    gateway.stop().await;
}

#[tokio::test]
async fn while_the_smtp_server_is_down_emails_wait_and_are_delivered_exactly_once_when_it_returns()
{
    let mut smtp = SmtpServer::start();
    let (gateway, clock) = start_with_identity_clock(&smtp).await;
    let addresses = [
        "down.1@example.com",
        "down.2@example.com",
        "down.3@example.com",
    ];
    for address in addresses {
        gateway.register(address, "TESTER").await;
    }
    smtp.stop();

    let report = gateway.deliver_due_emails().await;
    assert_eq!((report.sent, report.retrying, report.failed), (0, 3, 0));
    for message in outbox(&gateway).await {
        assert_eq!(message.get_str("status"), Ok("pending"));
        assert_eq!(message.get_i64("attempts"), Ok(1));
        assert!(message
            .get_str("last_error")
            .expect("the error is kept")
            .contains("unavailable"));
        assert!(
            message.get("lease").is_none(),
            "the lease is released: {message}"
        );
    }
    // Not due before the backoff, even once the server is back.
    assert_eq!(
        gateway.deliver_due_emails().await,
        DeliveryReport::default()
    );
    smtp.resume();
    assert_eq!(
        gateway.deliver_due_emails().await,
        DeliveryReport::default()
    );
    assert!(smtp.received().is_empty());

    clock.advance(Duration::from_secs(31));
    assert_eq!(gateway.deliver_due_emails().await, sent(3));
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(
        gateway.deliver_due_emails().await,
        DeliveryReport::default()
    );
    for address in addresses {
        let received = smtp.received_by(address);
        assert_eq!(received.len(), 1, "{address}: {received:?}");
        assert_eq!(
            received[0].header("Subject"),
            Some("Confirm your email address")
        );
    }
    assert_eq!(smtp.received().len(), 3);
    assert!(outbox(&gateway).await.is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn two_gateway_instances_delivering_at_once_send_each_email_once() {
    let smtp = SmtpServer::start();
    let first = TestGateway::start_with(send_through(&smtp)).await;
    let addresses: Vec<String> = (0..12).map(|n| format!("race.{n}@example.com")).collect();
    for address in &addresses {
        first.register(address, "TESTER").await;
    }
    let uri = first.mongodb_uri().to_owned();
    let second = TestGateway::start_with(|config| {
        send_through(&smtp)(config);
        config.mongodb_uri = Some(uri);
        config.demo_data = false;
    })
    .await;

    let mut total = 0;
    for _ in 0..3 {
        let (a, b) = tokio::join!(first.deliver_due_emails(), second.deliver_due_emails());
        assert_eq!((a.retrying, a.failed, b.retrying, b.failed), (0, 0, 0, 0));
        total += a.sent + b.sent;
    }
    assert_eq!(total, addresses.len());
    let received = smtp.received();
    assert_eq!(received.len(), addresses.len());
    for address in &addresses {
        assert_eq!(smtp.received_by(address).len(), 1, "{address}");
    }
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn a_password_reset_not_sent_within_the_hour_is_never_sent() {
    let smtp = SmtpServer::start();
    let (gateway, clock) = start_with_identity_clock(&smtp).await;
    let email = "late.reset@example.com";
    gateway.register(email, "CLIENT").await;
    gateway
        .ok(
            None,
            "mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { ok } }",
            json!({ "input": { "email": email } }),
        )
        .await;
    gateway.outbox_message(email, "password_reset").await;

    // Every worker was down for an hour: the reset link has expired, the verification has not.
    clock.advance(Duration::from_secs(60 * 60 + 1));
    assert_eq!(gateway.deliver_due_emails().await, sent(1));
    let subjects: Vec<Value> = smtp
        .received_by(email)
        .iter()
        .map(|email| json!(email.header("Subject")))
        .collect();
    assert_eq!(subjects, [json!("Confirm your email address")]);
    gateway.stop().await;
}

#[tokio::test]
async fn an_address_the_server_refuses_fails_at_once_with_the_servers_reply() {
    let smtp = SmtpServer::start();
    let gateway = TestGateway::start_with(send_through(&smtp)).await;
    gateway.register("bounce.me@example.com", "CLIENT").await;

    let report = gateway.deliver_due_emails().await;
    let stored = outbox(&gateway).await;
    assert_eq!(
        (report.sent, report.retrying, report.failed),
        (0, 0, 1),
        "{stored:?}"
    );
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].get_str("status"), Ok("failed"));
    assert_eq!(stored[0].get_i64("attempts"), Ok(1));
    let error = stored[0].get_str("last_error").expect("the last error");
    assert!(error.contains("mailbox unavailable"), "{error}");
    assert_eq!(
        gateway.deliver_due_emails().await,
        DeliveryReport::default()
    );
    assert!(smtp.received().is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn without_smtp_the_worker_writes_emails_to_the_log_and_empties_the_outbox() {
    let gateway = TestGateway::start().await;
    gateway.register("logged@example.com", "CLIENT").await;
    assert_eq!(outbox(&gateway).await.len(), 1);
    assert_eq!(gateway.deliver_due_emails().await, sent(1));
    assert!(outbox(&gateway).await.is_empty());
    gateway.stop().await;
}

#[tokio::test]
async fn a_notification_email_reaches_the_smtp_server_with_its_type_and_application_link() {
    let smtp = SmtpServer::start();
    let mut config = gateway::Config::defaults();
    send_through(&smtp)(&mut config);
    let mailer = notifications::email::Mailer::new(&gateway::config::email_settings(&config))
        .expect("an SMTP mailer");
    mailer
        .send_notification(&notifications::email::NotificationEmail {
            to: "tess@example.com".into(),
            recipient_name: Some("Tess Tester".into()),
            notification_type: "job_published".into(),
            title: "New job: Checkout <flow> testing".into(),
            message: "A job matching your devices is open: 3 seats at $25.00.".into(),
            link: Some("/jobs/65f0a1b2c3d4e5f6a7b8c9d0".into()),
        })
        .await
        .expect("sent");
    let received = smtp.received_by("tess@example.com");
    assert_eq!(received.len(), 1);
    let message = &received[0];
    assert_eq!(
        message.header("Subject"),
        Some("New job: Checkout <flow> testing")
    );
    assert_eq!(
        message.header("X-PeerTest-Notification-Type"),
        Some("job_published")
    );
    let link = format!("{PUBLIC_BASE_URL}/jobs/65f0a1b2c3d4e5f6a7b8c9d0");
    assert!(message.text().contains(&link), "{}", message.text());
    assert!(message.text().contains("3 seats at $25.00."));
    assert!(message.html().contains(&format!("href=\"{link}\"")));
    assert!(message
        .html()
        .contains("<title>New job: Checkout &lt;flow&gt; testing</title>"));

    let refused = mailer
        .send_notification(&notifications::email::NotificationEmail {
            to: "tess@example.com".into(),
            recipient_name: None,
            notification_type: "job_published".into(),
            title: "Phish".into(),
            message: "m".into(),
            link: Some("https://evil.example/login".into()),
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(notifications::email::EmailError::InvalidLink(_))
        ),
        "{refused:?}"
    );
    assert_eq!(smtp.received().len(), 1);
}

#[tokio::test]
async fn a_server_that_offers_no_encryption_gets_nothing_when_starttls_or_tls_is_required() {
    // aiosmtpd here speaks plain SMTP only: a man in the middle stripping STARTTLS looks the same.
    let smtp = SmtpServer::start();
    for security in [
        gateway::config::SmtpSecurityChoice::Starttls,
        gateway::config::SmtpSecurityChoice::Tls,
    ] {
        let gateway = TestGateway::start_with(|config| {
            send_through(&smtp)(config);
            let server = config.smtp.as_mut().expect("[smtp]");
            server.security = security;
            server.username = Some("mailer".into());
            server.password = Some("smtp-secret".into());
        })
        .await;
        gateway.register("careful@example.com", "CLIENT").await;
        let report = gateway.deliver_due_emails().await;
        assert_eq!(
            (report.sent, report.retrying, report.failed),
            (0, 1, 0),
            "{security:?}"
        );
        let stored = outbox(&gateway).await;
        assert_eq!(stored[0].get_str("status"), Ok("pending"));
        let error = stored[0].get_str("last_error").expect("the error is kept");
        assert!(!error.contains("smtp-secret"), "{error}");
        gateway.stop().await;
    }
    assert!(smtp.received().is_empty());
}
