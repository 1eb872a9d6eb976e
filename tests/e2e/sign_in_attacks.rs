//! Issue #10, sign-in and second factor: each test performs an attack over HTTP against the real
//! gateway and asserts that it is refused and changed nothing. Identity runs on a manual clock
//! here, so throttling windows and session lifetimes are crossed without sleeping. Requests
//! without `x-forwarded-for` come from 127.0.0.1 (the attacker); a request naming another address
//! through the trusted loopback proxy stands for someone elsewhere.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bson::doc;
use foundation::ManualClock;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD, STRONG_PASSWORD};

const LOGIN: &str =
    "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken refreshTokenExpiresAt } }";
const REFRESH: &str =
    "mutation($input: RefreshInput!) { refresh(input: $input) { accessToken refreshToken refreshTokenExpiresAt } }";
const ME_TWO_FACTOR: &str = "{ me { twoFactorEnabled } }";

/// An HTTP answer: status, `Retry-After` and the GraphQL body.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn post(
    gateway: &TestGateway,
    bearer: Option<&str>,
    from: Option<&str>,
    query: &str,
    variables: Value,
) -> Answer {
    let mut request = gateway
        .http
        .post(format!("{}/graphql", gateway.base_url))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(address) = from {
        request = request.header("x-forwarded-for", address);
    }
    let response = request
        .send()
        .await
        .expect("the request reaches the gateway");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let body = response.json().await.expect("GraphQL answers are JSON");
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn start_with_identity_clock(
    adjust: impl FnOnce(&mut gateway::Config),
) -> (TestGateway, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
    let gateway =
        TestGateway::start_with_clocks(Arc::new(foundation::SystemClock), clock.clone(), adjust)
            .await;
    (gateway, clock)
}

fn login_variables(email: &str, password: &str) -> Value {
    json!({ "input": { "email": email, "password": password } })
}

/// Counts answers by `extensions.code` of their first error (`OK` without one).
fn tally(answers: &[Answer]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for answer in answers {
        *counts.entry(outcome(&answer.body)).or_insert(0) += 1;
    }
    counts
}

/// Every rate-limited answer is HTTP 429 with a positive `Retry-After`; nothing is a 5xx.
fn assert_refusals_are_429(answers: &[Answer]) {
    for answer in answers {
        assert!(answer.status < 500, "no server error: {}", answer.body);
        if outcome(&answer.body) == "RATE_LIMITED" {
            assert_eq!(answer.status, 429, "{}", answer.body);
            assert!(answer.retry_after.is_some_and(|seconds| seconds >= 1));
        }
    }
}

#[tokio::test]
async fn a_hundred_concurrent_wrong_passwords_are_evaluated_at_most_five_times_and_lock_only_that_address(
) {
    let (gateway, clock) = start_with_identity_clock(|_| {}).await;
    let victim = "victim@example.com";
    gateway.register(victim, "CLIENT").await;

    let guesses = (0..100).map(|n| {
        post(
            &gateway,
            None,
            None,
            LOGIN,
            login_variables(victim, &format!("Wrong-guess-{n}")),
        )
    });
    let answers = join_all(guesses).await;
    let counts = tally(&answers);
    let evaluated = counts.get("UNAUTHENTICATED").copied().unwrap_or(0);
    assert!(
        (1..=5).contains(&evaluated),
        "at most 5 guesses evaluated: {counts:?}"
    );
    assert_eq!(
        counts.get("RATE_LIMITED").copied().unwrap_or(0),
        100 - evaluated
    );
    assert_refusals_are_429(&answers);

    let right_from_attacker = post(
        &gateway,
        None,
        None,
        LOGIN,
        login_variables(victim, STRONG_PASSWORD),
    )
    .await;
    assert_eq!(
        outcome(&right_from_attacker.body),
        "RATE_LIMITED",
        "even the right password is refused from the attacking address"
    );
    assert_eq!(right_from_attacker.status, 429);

    let owner_elsewhere = post(
        &gateway,
        None,
        Some("198.51.100.20"),
        LOGIN,
        login_variables(victim, STRONG_PASSWORD),
    )
    .await;
    assert_eq!(
        outcome(&owner_elsewhere.body),
        "OK",
        "the owner, elsewhere, is not locked out: {}",
        owner_elsewhere.body
    );

    clock.advance(Duration::from_secs(15 * 60 + 1));
    let after_window = post(
        &gateway,
        None,
        None,
        LOGIN,
        login_variables(victim, STRONG_PASSWORD),
    )
    .await;
    assert_eq!(outcome(&after_window.body), "OK", "{}", after_window.body);
    gateway.stop().await;
}

#[tokio::test]
async fn forty_concurrent_guesses_from_one_address_are_evaluated_at_most_twenty_times() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let guesses = (0..40).map(|n| {
        post(
            &gateway,
            None,
            None,
            LOGIN,
            login_variables(&format!("someone{n}@example.com"), "Wrong-guess-1"),
        )
    });
    let answers = join_all(guesses).await;
    let counts = tally(&answers);
    let evaluated = counts.get("UNAUTHENTICATED").copied().unwrap_or(0);
    assert!(
        (1..=20).contains(&evaluated),
        "at most 20 guesses evaluated: {counts:?}"
    );
    assert_eq!(
        counts.get("RATE_LIMITED").copied().unwrap_or(0),
        40 - evaluated
    );
    assert_refusals_are_429(&answers);
    // A reservation that lost every race is refused without being counted; spend what is left.
    for _ in evaluated..20 {
        post(
            &gateway,
            None,
            None,
            LOGIN,
            login_variables("left@example.com", "Wrong-guess-2"),
        )
        .await;
    }
    let next = post(
        &gateway,
        None,
        None,
        LOGIN,
        login_variables("sarah.tester@gmail.com", DEMO_PASSWORD),
    )
    .await;
    assert_eq!(outcome(&next.body), "RATE_LIMITED", "the address is spent");
    let elsewhere = post(
        &gateway,
        None,
        Some("198.51.100.21"),
        LOGIN,
        login_variables("sarah.tester@gmail.com", DEMO_PASSWORD),
    )
    .await;
    assert_eq!(outcome(&elsewhere.body), "OK", "{}", elsewhere.body);
    gateway.stop().await;
}

#[tokio::test]
async fn logins_beyond_the_password_hashing_cap_are_refused_with_429_instead_of_queueing() {
    let (gateway, _clock) = start_with_identity_clock(|config| {
        config.password_hashing_concurrency = 1;
        config.password_hashing_wait_milliseconds = 0;
    })
    .await;
    let shared = &gateway;
    let logins = (0..24).map(|n| {
        let address = format!("198.51.100.{}", 100 + n);
        async move {
            post(
                shared,
                None,
                Some(&address),
                LOGIN,
                login_variables("sarah.tester@gmail.com", DEMO_PASSWORD),
            )
            .await
        }
    });
    let answers = join_all(logins).await;
    let counts = tally(&answers);
    let refused = counts.get("RATE_LIMITED").copied().unwrap_or(0);
    let accepted = counts.get("OK").copied().unwrap_or(0);
    assert_eq!(
        refused + accepted,
        24,
        "only successes and 429s: {counts:?}"
    );
    assert!(
        refused >= 1,
        "one hashing slot cannot serve 24 logins at once: {counts:?}"
    );
    assert!(accepted >= 1, "{counts:?}");
    assert_refusals_are_429(&answers);
    // Refusals for lack of a slot are not guesses: the account is not throttled afterwards.
    let later = post(
        &gateway,
        None,
        Some("198.51.100.100"),
        LOGIN,
        login_variables("sarah.tester@gmail.com", DEMO_PASSWORD),
    )
    .await;
    assert_eq!(outcome(&later.body), "OK", "{}", later.body);
    gateway.stop().await;
}

/// The authenticator code at the identity clock's time, `steps_ahead` 30-second steps later.
fn totp_at(secret_base32: &str, clock: &ManualClock, steps_ahead: u64) -> String {
    let secret = identity::totp::base32_decode(secret_base32).expect("base32 secret");
    let seconds = u64::try_from(foundation::Clock::now(clock).timestamp_millis() / 1_000)
        .expect("after 1970");
    identity::totp::code_at(&secret, seconds + steps_ahead * 30)
}

/// Registers `email`, enrols and confirms two-factor; returns the access token and the secret.
async fn with_two_factor(
    gateway: &TestGateway,
    clock: &ManualClock,
    email: &str,
) -> (String, String) {
    let access = gateway.register(email, "TESTER").await;
    let enrolled = gateway
        .ok(
            Some(&access),
            "mutation($input: EnrollTwoFactorInput!) { enrollTwoFactor(input: $input) { secret } }",
            json!({ "input": { "password": STRONG_PASSWORD } }),
        )
        .await;
    let secret = enrolled["enrollTwoFactor"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    gateway
        .ok(
            Some(&access),
            "mutation($input: ConfirmTwoFactorInput!) { confirmTwoFactor(input: $input) { recoveryCodes } }",
            json!({ "input": { "password": STRONG_PASSWORD, "code": totp_at(&secret, clock, 0) } }),
        )
        .await;
    (access, secret)
}

async fn two_factor_enabled(gateway: &TestGateway, access: &str) -> bool {
    gateway.ok(Some(access), ME_TWO_FACTOR, json!({})).await["me"]["twoFactorEnabled"]
        .as_bool()
        .expect("the owner sees the flag")
}

#[tokio::test]
async fn aliased_disable_two_factor_guesses_stop_after_five_and_two_factor_stays_on() {
    let (gateway, clock) = start_with_identity_clock(|_| {}).await;
    let email = "guarded@example.com";
    let (access, secret) = with_two_factor(&gateway, &clock, email).await;
    let enabled_notice = gateway.outbox_message(email, "two_factor_enabled").await;
    assert_eq!(
        enabled_notice.subject,
        "Two-factor authentication was turned on"
    );
    assert_eq!(enabled_notice.link, None);

    // One request, thirty aliased guesses, with the password an attacker would not have: the
    // password check comes first and counts too.
    let aliases: String = (0..30)
        .map(|n| {
            format!(
                "g{n}: disableTwoFactor(input: {{ password: \"{STRONG_PASSWORD}\", totpCode: \"{:06}\" }}) {{ ok }} ",
                (n * 7_919) % 1_000_000
            )
        })
        .collect();
    let right_now = totp_at(&secret, &clock, 0);
    let aliases = aliases.replace(&format!("\"{right_now}\""), "\"999999x\"");
    let answer = post(
        &gateway,
        Some(&access),
        None,
        &format!("mutation {{ {aliases} }}"),
        json!({}),
    )
    .await;
    let errors = answer.body["errors"].as_array().expect("errors").clone();
    let codes: Vec<&str> = errors
        .iter()
        .map(|error| error["extensions"]["code"].as_str().unwrap_or("NO_CODE"))
        .collect();
    let evaluated = codes
        .iter()
        .filter(|code| **code == "BAD_USER_INPUT")
        .count();
    let limited = codes.iter().filter(|code| **code == "RATE_LIMITED").count();
    assert_eq!((evaluated, limited), (5, 25), "{codes:?}");
    assert_eq!(answer.status, 429);
    assert!(
        two_factor_enabled(&gateway, &access).await,
        "two-factor stays on"
    );

    let with_right_code = post(
        &gateway,
        Some(&access),
        None,
        "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { ok } }",
        json!({ "input": { "password": STRONG_PASSWORD, "totpCode": totp_at(&secret, &clock, 0) } }),
    )
    .await;
    assert_eq!(outcome(&with_right_code.body), "RATE_LIMITED");
    assert!(two_factor_enabled(&gateway, &access).await);

    // Logging in spends the same budget: a guessed code at login is refused too.
    let login_guess = post(
        &gateway,
        None,
        Some("198.51.100.30"),
        LOGIN,
        json!({ "input": { "email": email, "password": STRONG_PASSWORD, "totpCode": "123456" } }),
    )
    .await;
    assert_eq!(outcome(&login_guess.body), "RATE_LIMITED");

    clock.advance(Duration::from_secs(15 * 60 + 1));
    let signed_in = gateway
        .ok(
            None,
            LOGIN,
            json!({ "input": { "email": email, "password": STRONG_PASSWORD, "totpCode": totp_at(&secret, &clock, 0) } }),
        )
        .await;
    let access = (signed_in["login"]["accessToken"]
        .as_str()
        .expect("access token")
        .to_string(),);
    clock.advance(Duration::from_secs(30));
    let without_password = post(
        &gateway,
        Some(&access.0),
        None,
        "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { ok } }",
        json!({ "input": { "password": "Not-the-password-1", "totpCode": totp_at(&secret, &clock, 0) } }),
    )
    .await;
    assert_eq!(
        outcome(&without_password.body),
        "UNAUTHENTICATED",
        "a stolen access token alone cannot turn two-factor off"
    );
    assert!(two_factor_enabled(&gateway, &access.0).await);
    gateway
        .ok(
            Some(&access.0),
            "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { ok } }",
            json!({ "input": { "password": STRONG_PASSWORD, "totpCode": totp_at(&secret, &clock, 0) } }),
        )
        .await;
    assert!(!two_factor_enabled(&gateway, &access.0).await);
    let disabled_notice = gateway.outbox_message(email, "two_factor_disabled").await;
    assert_eq!(
        disabled_notice.subject,
        "Two-factor authentication was turned off"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn enrolling_two_factor_with_a_stolen_access_token_alone_is_refused() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let access = gateway.register("stolen@example.com", "CLIENT").await;
    let attempt = post(
        &gateway,
        Some(&access),
        None,
        "mutation($input: EnrollTwoFactorInput!) { enrollTwoFactor(input: $input) { secret } }",
        json!({ "input": { "password": "Guessed-password-1" } }),
    )
    .await;
    assert_eq!(outcome(&attempt.body), "UNAUTHENTICATED");
    let stored = gateway
        .database
        .collection::<bson::Document>("users")
        .find_one(doc! { "email": "stolen@example.com" })
        .await
        .expect("user read")
        .expect("user");
    assert!(
        !stored.contains_key("two_factor_secret"),
        "no secret was stored"
    );
    gateway.stop().await;
}

const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }";

#[tokio::test]
async fn forty_concurrent_registrations_from_one_address_create_at_most_ten_accounts() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let users = gateway.database.collection::<bson::Document>("users");
    let before = users.count_documents(doc! {}).await.expect("count");
    let attempts = (0..40).map(|n| {
        post(
            &gateway,
            None,
            None,
            REGISTER,
            json!({ "input": { "email": format!("bulk{n}@example.com"), "password": STRONG_PASSWORD, "fullName": "Bulk", "role": "TESTER" } }),
        )
    });
    let answers = join_all(attempts).await;
    let counts = tally(&answers);
    let created = users.count_documents(doc! {}).await.expect("count") - before;
    assert_eq!(created, 10, "{counts:?}");
    assert_eq!(counts.get("OK").copied(), Some(10), "{counts:?}");
    assert_eq!(counts.get("RATE_LIMITED").copied(), Some(30), "{counts:?}");
    assert_refusals_are_429(&answers);
    gateway.stop().await;
}

const RESET: &str =
    "mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { ok } }";

async fn reset_messages_to(gateway: &TestGateway, email: &str) -> u64 {
    gateway
        .database
        .collection::<bson::Document>("outbox")
        .count_documents(doc! { "to": email, "kind": "password_reset" })
        .await
        .expect("outbox count")
}

#[tokio::test]
async fn one_request_cannot_queue_thirty_reset_emails_to_one_address() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let email = "maria.garcia@shoplane.io";
    let aliases: String = (0..30)
        .map(|n| format!("r{n}: requestPasswordReset(input: {{ email: \"{email}\" }}) {{ ok }} "))
        .collect();
    let answer = post(
        &gateway,
        None,
        None,
        &format!("mutation {{ {aliases} }}"),
        json!({}),
    )
    .await;
    let errors = answer.body["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(errors.len(), 27, "3 reset e-mails per address per hour");
    assert!(errors
        .iter()
        .all(|error| error["extensions"]["code"] == "RATE_LIMITED"));
    assert_eq!(answer.status, 429);
    // The e-mails are queued after the answer; wait for the three, then check no more came.
    gateway.outbox_message(email, "password_reset").await;
    for _ in 0..100 {
        if reset_messages_to(&gateway, email).await >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(reset_messages_to(&gateway, email).await, 3);

    // Per address: a sweep over many targets stops at ten, known or not, with the same answers.
    let sweep = (0..12).map(|n| {
        post(
            &gateway,
            None,
            Some("198.51.100.40"),
            RESET,
            json!({ "input": { "email": format!("probe{n}@example.com") } }),
        )
    });
    let answers = join_all(sweep).await;
    let counts = tally(&answers);
    assert_eq!(counts.get("OK").copied(), Some(10), "{counts:?}");
    assert_eq!(counts.get("RATE_LIMITED").copied(), Some(2), "{counts:?}");
    assert_refusals_are_429(&answers);
    gateway.stop().await;
}

#[tokio::test]
async fn reset_answers_are_identical_for_known_and_unknown_addresses() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let known = post(
        &gateway,
        None,
        Some("198.51.100.50"),
        RESET,
        json!({ "input": { "email": "sarah.tester@gmail.com" } }),
    )
    .await;
    let unknown = post(
        &gateway,
        None,
        Some("198.51.100.50"),
        RESET,
        json!({ "input": { "email": "nobody.here@example.com" } }),
    )
    .await;
    assert_eq!((known.status, unknown.status), (200, 200));
    assert_eq!(known.body, unknown.body);
    // The lookup happens after the answer; the known address does get its e-mail.
    let message = gateway
        .outbox_message("sarah.tester@gmail.com", "password_reset")
        .await;
    assert!(message
        .link
        .expect("a link")
        .contains("/reset-password?token="));
    gateway.stop().await;
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

#[tokio::test]
async fn a_session_ends_thirty_days_after_login_however_often_it_is_refreshed() {
    let (gateway, clock) = start_with_identity_clock(|_| {}).await;
    let email = "sarah.tester@gmail.com";
    let login = gateway
        .ok(None, LOGIN, login_variables(email, DEMO_PASSWORD))
        .await;
    assert_eq!(
        jwt_claims(login["login"]["accessToken"].as_str().expect("token"))["aud"],
        "peertest-hub/graphql",
        "access tokens name their audience"
    );
    let mut refresh_token = login["login"]["refreshToken"]
        .as_str()
        .expect("refresh")
        .to_string();
    for _ in 0..4 {
        clock.advance(Duration::from_secs(6 * 24 * 60 * 60));
        let refreshed = gateway
            .ok(
                None,
                REFRESH,
                json!({ "input": { "refreshToken": refresh_token } }),
            )
            .await;
        refresh_token = refreshed["refresh"]["refreshToken"]
            .as_str()
            .expect("refresh")
            .to_string();
    }
    // Day 24: the refresh token would slide to day 31, but the session ends on day 30.
    clock.advance(Duration::from_secs(6 * 24 * 60 * 60));
    let past_the_end = post(
        &gateway,
        None,
        None,
        REFRESH,
        json!({ "input": { "refreshToken": refresh_token } }),
    )
    .await;
    assert_eq!(
        outcome(&past_the_end.body),
        "UNAUTHENTICATED",
        "{}",
        past_the_end.body
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_session_remembers_a_bounded_history_of_rotated_refresh_tokens() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let (_, mut refresh_token) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let first = refresh_token.clone();
    for _ in 0..(identity::session::ROTATED_TOKEN_HISTORY + 6) {
        let refreshed = gateway
            .ok(
                None,
                REFRESH,
                json!({ "input": { "refreshToken": refresh_token } }),
            )
            .await;
        refresh_token = refreshed["refresh"]["refreshToken"]
            .as_str()
            .expect("refresh")
            .to_string();
    }
    let session = gateway
        .database
        .collection::<bson::Document>("sessions")
        .find_one(doc! { "revoked": false, "current_token_hash": foundation::secret::hash_token(&refresh_token) })
        .await
        .expect("session read")
        .expect("the live session");
    let history = session
        .get_array("rotated_token_hashes")
        .expect("history")
        .len();
    assert_eq!(
        history,
        usize::try_from(identity::session::ROTATED_TOKEN_HISTORY).expect("small")
    );
    // The oldest token is forgotten, but still refused.
    let replay = post(
        &gateway,
        None,
        None,
        REFRESH,
        json!({ "input": { "refreshToken": first } }),
    )
    .await;
    assert_eq!(outcome(&replay.body), "UNAUTHENTICATED");
    gateway.stop().await;
}

#[tokio::test]
async fn an_access_token_for_another_audience_is_refused() {
    let secret = "an end-to-end secret of at least thirty-two bytes";
    let (gateway, clock) = start_with_identity_clock(|config| {
        config.jwt_secret = Some(secret.to_string());
    })
    .await;
    let (access, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let claims = jwt_claims(&access);
    let user_id = bson::oid::ObjectId::parse_str(claims["sub"].as_str().expect("sub")).expect("id");
    let session_id =
        bson::oid::ObjectId::parse_str(claims["sid"].as_str().expect("sid")).expect("id");
    let now = foundation::Clock::now(clock.as_ref()).timestamp_millis() / 1_000;
    let foreign =
        identity::access_token::AccessTokenKeys::new(secret, "peertest-hub", "billing-service")
            .issue(user_id, identity::Role::Tester, session_id, now, 900)
            .expect("signed");
    let refused = post(&gateway, Some(&foreign), None, "{ me { id } }", json!({})).await;
    assert_eq!(outcome(&refused.body), "UNAUTHENTICATED");
    let accepted = post(&gateway, Some(&access), None, "{ me { id } }", json!({})).await;
    assert_eq!(outcome(&accepted.body), "OK");
    gateway.stop().await;
}

const CREATE_ORGANIZATION: &str = "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }";
const REMOVE_MEMBER: &str = "mutation($input: RemoveOrganizationMemberInput!) { removeOrganizationMember(input: $input) { organization { id } } }";
const CREATE_KEY: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { expiresAt createdBy { fullName } } } }";
const MEMBER_EMAILS: &str =
    "query($id: ID!) { organization(id: $id) { members(first: 10) { edges { node { email } } } } }";

async fn own_id(gateway: &TestGateway, access: &str) -> String {
    gateway.ok(Some(access), "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

#[tokio::test]
async fn a_removed_admins_api_key_is_held_until_they_are_restored() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let owner = gateway.register("owner@keys.io", "CLIENT").await;
    let admin = gateway.register("admin@keys.io", "CLIENT").await;
    let admin_id = own_id(&gateway, &admin).await;
    let organization = gateway
        .ok(
            Some(&owner),
            CREATE_ORGANIZATION,
            json!({ "input": { "name": "Keys", "slug": "keys" } }),
        )
        .await["createOrganization"]["organization"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    gateway
        .join_organization(&owner, &organization, &admin, "admin@keys.io", "ADMIN")
        .await;
    let created = gateway
        .ok(Some(&admin), CREATE_KEY, json!({ "input": { "organizationId": organization, "name": "export", "scope": "READ" } }))
        .await;
    assert_eq!(
        created["createApiKey"]["apiKey"]["createdBy"]["fullName"],
        "Test Person"
    );
    let key = created["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let read = post(
        &gateway,
        Some(&key),
        None,
        MEMBER_EMAILS,
        json!({ "id": organization }),
    )
    .await;
    assert_eq!(outcome(&read.body), "OK", "{}", read.body);

    gateway
        .ok(
            Some(&owner),
            REMOVE_MEMBER,
            json!({ "input": { "organizationId": organization, "userId": admin_id } }),
        )
        .await;
    let held = post(
        &gateway,
        Some(&key),
        None,
        MEMBER_EMAILS,
        json!({ "id": organization }),
    )
    .await;
    assert_eq!(outcome(&held.body), "UNAUTHENTICATED", "{}", held.body);
    assert!(held.body["data"].is_null() || held.body["data"]["organization"].is_null());

    gateway
        .join_organization(&owner, &organization, &admin, "admin@keys.io", "ADMIN")
        .await;
    let restored = post(
        &gateway,
        Some(&key),
        None,
        MEMBER_EMAILS,
        json!({ "id": organization }),
    )
    .await;
    assert_eq!(outcome(&restored.body), "OK", "{}", restored.body);

    let platform_admin = gateway.login("admin@peertest.io", DEMO_PASSWORD).await.0;
    gateway
        .ok(
            Some(&platform_admin),
            "mutation($input: UserIdInput!) { suspendUser(input: $input) { user { id } } }",
            json!({ "input": { "userId": admin_id } }),
        )
        .await;
    let suspended = post(
        &gateway,
        Some(&key),
        None,
        MEMBER_EMAILS,
        json!({ "id": organization }),
    )
    .await;
    assert_eq!(
        outcome(&suspended.body),
        "UNAUTHENTICATED",
        "a suspended creator's key is held"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn api_keys_stop_working_at_their_expiry_and_refuse_unbounded_expiries() {
    let (gateway, clock) = start_with_identity_clock(|_| {}).await;
    let owner = gateway.register("owner@expiring.io", "CLIENT").await;
    let organization = gateway
        .ok(
            Some(&owner),
            CREATE_ORGANIZATION,
            json!({ "input": { "name": "Expiring", "slug": "expiring" } }),
        )
        .await["createOrganization"]["organization"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let now = foundation::Clock::now(clock.as_ref());
    let in_a_day = foundation::clock::add_duration(now, Duration::from_secs(24 * 60 * 60));
    let in_two_years =
        foundation::clock::add_duration(now, Duration::from_secs(2 * 366 * 24 * 60 * 60));
    let too_far = post(&gateway, Some(&owner), None, CREATE_KEY, json!({ "input": { "organizationId": organization, "name": "forever", "scope": "READ", "expiresAt": in_two_years.try_to_rfc3339_string().expect("date") } })).await;
    assert_eq!(outcome(&too_far.body), "BAD_USER_INPUT");
    assert_eq!(
        too_far.body["errors"][0]["extensions"]["field"],
        "expiresAt"
    );
    let keys = gateway.database.collection::<bson::Document>("api_keys");
    assert_eq!(
        keys.count_documents(doc! {}).await.expect("count"),
        0,
        "nothing stored"
    );

    let created = gateway
        .ok(Some(&owner), CREATE_KEY, json!({ "input": { "organizationId": organization, "name": "daily", "scope": "READ", "expiresAt": in_a_day.try_to_rfc3339_string().expect("date") } }))
        .await;
    assert!(created["createApiKey"]["apiKey"]["expiresAt"].is_string());
    let key = created["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let fresh = post(
        &gateway,
        Some(&key),
        None,
        MEMBER_EMAILS,
        json!({ "id": organization }),
    )
    .await;
    assert_eq!(outcome(&fresh.body), "OK", "{}", fresh.body);
    clock.advance(Duration::from_secs(24 * 60 * 60 + 1));
    let expired = post(
        &gateway,
        Some(&key),
        None,
        MEMBER_EMAILS,
        json!({ "id": organization }),
    )
    .await;
    assert_eq!(outcome(&expired.body), "UNAUTHENTICATED");
    gateway.stop().await;
}

#[tokio::test]
async fn the_stored_outbox_message_holds_no_clear_link_or_token() {
    let (gateway, _clock) = start_with_identity_clock(|_| {}).await;
    let email = "links@example.com";
    gateway.register(email, "CLIENT").await;
    let message = gateway.outbox_message(email, "email_verification").await;
    let token = message
        .link
        .as_deref()
        .expect("link")
        .split_once("token=")
        .expect("token")
        .1
        .to_string();
    let stored = gateway
        .database
        .collection::<bson::Document>("outbox")
        .find_one(doc! { "to": email })
        .await
        .expect("outbox read")
        .expect("stored message");
    let raw = stored.to_string();
    assert!(
        !raw.contains(&token),
        "the stored message holds no clear token: {raw}"
    );
    assert!(!stored.contains_key("link") && !stored.contains_key("body"));
    assert!(stored.get_datetime("expires_at").is_ok());
    gateway.stop().await;
}
