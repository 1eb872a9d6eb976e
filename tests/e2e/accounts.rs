//! Accounts over HTTP: the token lifecycle, refused logins and registrations, two-factor
//! authentication, password reset and e-mail verification.

use bson::doc;
use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, STRONG_PASSWORD};

const ME: &str = "{ me { id email fullName role status loginCount } }";
const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { email } } }";
const REFRESH: &str =
    "mutation($input: RefreshInput!) { refresh(input: $input) { accessToken refreshToken } }";
const REGISTER: &str =
    "mutation($input: RegisterInput!) { register(input: $input) { user { id email status } } }";

async fn count_users(gateway: &TestGateway) -> u64 {
    gateway
        .database
        .collection::<bson::Document>("users")
        .count_documents(doc! {})
        .await
        .expect("count users")
}

/// The authenticator code `steps_ahead` 30-second steps from now (the server accepts one step of
/// drift, and each step only once).
fn totp_code(secret_base32: &str, steps_ahead: u64) -> String {
    let secret = identity::totp::base32_decode(secret_base32).expect("base32 secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    identity::totp::code_at(&secret, now + 30 * steps_ahead)
}

#[tokio::test]
async fn register_login_me_refresh_reuse_and_logout() {
    let gateway = TestGateway::start().await;
    let registered = gateway
        .ok(
            None,
            REGISTER,
            json!({ "input": { "email": "  New.Tester@Example.COM ", "password": STRONG_PASSWORD, "fullName": "New Tester", "role": "TESTER" } }),
        )
        .await;
    assert_eq!(
        registered["register"]["user"]["email"],
        "new.tester@example.com"
    );
    assert_eq!(
        registered["register"]["user"]["status"],
        "PENDING_VERIFICATION"
    );

    let (access, refresh) = gateway
        .login("new.tester@example.com", STRONG_PASSWORD)
        .await;
    let me = gateway.ok(Some(&access), ME, json!({})).await;
    assert_eq!(me["me"]["email"], "new.tester@example.com");
    assert_eq!(me["me"]["role"], "TESTER");
    assert_eq!(me["me"]["loginCount"], 1);

    let rotated = gateway
        .ok(
            None,
            REFRESH,
            json!({ "input": { "refreshToken": refresh } }),
        )
        .await;
    let new_refresh = rotated["refresh"]["refreshToken"]
        .as_str()
        .expect("rotated token");
    let new_access = rotated["refresh"]["accessToken"]
        .as_str()
        .expect("new access token");
    assert_ne!(new_refresh, refresh, "refresh rotates the token");
    assert_eq!(
        outcome(&gateway.graphql(Some(new_access), ME, json!({})).await),
        "OK"
    );

    let reuse = gateway
        .graphql(
            None,
            REFRESH,
            json!({ "input": { "refreshToken": refresh } }),
        )
        .await;
    assert_eq!(outcome(&reuse), "UNAUTHENTICATED");
    let after_reuse = gateway
        .graphql(
            None,
            REFRESH,
            json!({ "input": { "refreshToken": new_refresh } }),
        )
        .await;
    assert_eq!(
        outcome(&after_reuse),
        "UNAUTHENTICATED",
        "reusing a rotated token revokes the whole family"
    );
    assert_eq!(
        outcome(&gateway.graphql(Some(new_access), ME, json!({})).await),
        "UNAUTHENTICATED"
    );

    let (access, _) = gateway
        .login("new.tester@example.com", STRONG_PASSWORD)
        .await;
    let logout = gateway
        .ok(
            Some(&access),
            "mutation { logout(input: {}) { ok } }",
            json!({}),
        )
        .await;
    assert_eq!(logout["logout"]["ok"], true);
    assert_eq!(
        outcome(&gateway.graphql(Some(&access), ME, json!({})).await),
        "UNAUTHENTICATED"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn refused_logins_and_registrations_have_codes_and_change_nothing() {
    let gateway = TestGateway::start().await;
    let users_before = count_users(&gateway).await;
    let login =
        |email: &str, password: &str| json!({ "input": { "email": email, "password": password } });

    let wrong_password = gateway
        .graphql(
            None,
            LOGIN,
            login("john.doe@techcorp.com", "not-the-password-1"),
        )
        .await;
    assert_eq!(outcome(&wrong_password), "UNAUTHENTICATED");
    let unknown_email = gateway
        .graphql(None, LOGIN, login("nobody@techcorp.com", STRONG_PASSWORD))
        .await;
    assert_eq!(outcome(&unknown_email), "UNAUTHENTICATED");
    assert_eq!(
        wrong_password["errors"][0]["message"], unknown_email["errors"][0]["message"],
        "the answer does not reveal which accounts exist"
    );

    let malformed = gateway
        .graphql(
            None,
            REGISTER,
            json!({ "input": { "email": "not-an-email", "password": STRONG_PASSWORD, "fullName": "X", "role": "CLIENT" } }),
        )
        .await;
    assert_eq!(outcome(&malformed), "BAD_USER_INPUT");
    assert_eq!(malformed["errors"][0]["extensions"]["field"], "email");

    let weak = gateway
        .graphql(
            None,
            REGISTER,
            json!({ "input": { "email": "weak@example.com", "password": "short", "fullName": "X", "role": "CLIENT" } }),
        )
        .await;
    assert_eq!(outcome(&weak), "BAD_USER_INPUT");
    assert_eq!(weak["errors"][0]["extensions"]["field"], "password");

    let duplicate = gateway
        .graphql(
            None,
            REGISTER,
            json!({ "input": { "email": "JOHN.DOE@techcorp.com", "password": STRONG_PASSWORD, "fullName": "X", "role": "CLIENT" } }),
        )
        .await;
    assert_eq!(outcome(&duplicate), "CONFLICT");
    assert_eq!(count_users(&gateway).await, users_before);

    let (admin, _) = gateway
        .login("admin@peertest.io", crate::harness::DEMO_PASSWORD)
        .await;
    let (client, _) = gateway
        .login("maria.garcia@shoplane.io", crate::harness::DEMO_PASSWORD)
        .await;
    let maria = gateway.ok(Some(&client), ME, json!({})).await;
    let maria_id = maria["me"]["id"].clone();
    let suspended = gateway
        .ok(
            Some(&admin),
            "mutation($input: UserIdInput!) { suspendUser(input: $input) { user { status } } }",
            json!({ "input": { "userId": maria_id } }),
        )
        .await;
    assert_eq!(suspended["suspendUser"]["user"]["status"], "SUSPENDED");
    let suspended_login = gateway
        .graphql(
            None,
            LOGIN,
            login("maria.garcia@shoplane.io", crate::harness::DEMO_PASSWORD),
        )
        .await;
    assert_eq!(outcome(&suspended_login), "FORBIDDEN");
    assert_eq!(
        outcome(&gateway.graphql(Some(&client), ME, json!({})).await),
        "UNAUTHENTICATED",
        "a suspended user's existing token stops working"
    );
    gateway
        .ok(
            Some(&admin),
            "mutation($input: UserIdInput!) { reactivateUser(input: $input) { user { status } } }",
            json!({ "input": { "userId": maria_id } }),
        )
        .await;
    gateway
        .login("maria.garcia@shoplane.io", crate::harness::DEMO_PASSWORD)
        .await;
    gateway.stop().await;
}

#[tokio::test]
async fn two_factor_enrolment_then_login_needs_a_code() {
    let gateway = TestGateway::start().await;
    let email = "sarah.tester@gmail.com";
    let (access, _) = gateway.login(email, crate::harness::DEMO_PASSWORD).await;
    let enrolled = gateway
        .ok(
            Some(&access),
            "mutation($input: EnrollTwoFactorInput!) { enrollTwoFactor(input: $input) { secret otpauthUrl } }",
            json!({ "input": { "password": crate::harness::DEMO_PASSWORD } }),
        )
        .await;
    let secret = enrolled["enrollTwoFactor"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert!(enrolled["enrollTwoFactor"]["otpauthUrl"]
        .as_str()
        .expect("url")
        .starts_with("otpauth://totp/"));
    let wrong = gateway
        .graphql(
            Some(&access),
            "mutation($input: ConfirmTwoFactorInput!) { confirmTwoFactor(input: $input) { recoveryCodes } }",
            json!({ "input": { "password": crate::harness::DEMO_PASSWORD, "code": "000000" } }),
        )
        .await;
    assert_eq!(outcome(&wrong), "BAD_USER_INPUT");
    let confirmed = gateway
        .ok(
            Some(&access),
            "mutation($input: ConfirmTwoFactorInput!) { confirmTwoFactor(input: $input) { recoveryCodes } }",
            json!({ "input": { "password": crate::harness::DEMO_PASSWORD, "code": totp_code(&secret, 0) } }),
        )
        .await;
    let recovery_codes: Vec<String> = confirmed["confirmTwoFactor"]["recoveryCodes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| code.as_str().expect("code").to_string())
        .collect();
    assert!(recovery_codes.len() >= 8);

    let without_code = gateway
        .graphql(
            None,
            LOGIN,
            json!({ "input": { "email": email, "password": crate::harness::DEMO_PASSWORD } }),
        )
        .await;
    assert_eq!(outcome(&without_code), "UNAUTHENTICATED");
    let replayed = gateway
        .graphql(
            None,
            LOGIN,
            json!({ "input": { "email": email, "password": crate::harness::DEMO_PASSWORD, "totpCode": totp_code(&secret, 0) } }),
        )
        .await;
    assert_eq!(
        outcome(&replayed),
        "BAD_USER_INPUT",
        "the code that confirmed enrolment cannot be replayed"
    );
    let with_code = gateway
        .ok(
            None,
            LOGIN,
            json!({ "input": { "email": email, "password": crate::harness::DEMO_PASSWORD, "totpCode": totp_code(&secret, 1) } }),
        )
        .await;
    assert_eq!(with_code["login"]["user"]["email"], email);
    let recovery = json!({ "input": { "email": email, "password": crate::harness::DEMO_PASSWORD, "recoveryCode": recovery_codes[0] } });
    gateway.ok(None, LOGIN, recovery.clone()).await;
    assert_eq!(
        outcome(&gateway.graphql(None, LOGIN, recovery).await),
        "BAD_USER_INPUT",
        "a recovery code works once"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn password_reset_revokes_sessions_and_email_verification_activates() {
    let gateway = TestGateway::start().await;
    let email = "fresh.client@example.com";
    let access = gateway.register(email, "CLIENT").await;

    let token = gateway.outbox_token(email, "email_verification").await;
    let verified = gateway
        .ok(
            None,
            "mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { user { emailVerified status } } }",
            json!({ "input": { "token": token } }),
        )
        .await;
    assert_eq!(verified["verifyEmail"]["user"]["emailVerified"], true);
    assert_eq!(verified["verifyEmail"]["user"]["status"], "ACTIVE");
    let again = gateway
        .graphql(
            None,
            "mutation($input: VerifyEmailInput!) { verifyEmail(input: $input) { user { id } } }",
            json!({ "input": { "token": token } }),
        )
        .await;
    assert_eq!(
        outcome(&again),
        "BAD_USER_INPUT",
        "verification tokens are single-use"
    );

    gateway
        .ok(
            None,
            "mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { ok } }",
            json!({ "input": { "email": email } }),
        )
        .await;
    let unknown: Value = gateway
        .graphql(
            None,
            "mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { ok } }",
            json!({ "input": { "email": "nobody@example.com" } }),
        )
        .await;
    assert_eq!(
        outcome(&unknown),
        "OK",
        "unknown addresses get the same answer"
    );
    let reset_token = gateway.outbox_token(email, "password_reset").await;
    let new_password = "Another-Strong-Passw0rd";
    gateway
        .ok(
            None,
            "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) { ok } }",
            json!({ "input": { "token": reset_token, "newPassword": new_password } }),
        )
        .await;
    assert_eq!(
        outcome(&gateway.graphql(Some(&access), ME, json!({})).await),
        "UNAUTHENTICATED",
        "a password reset revokes every session"
    );
    let old = gateway
        .graphql(
            None,
            LOGIN,
            json!({ "input": { "email": email, "password": STRONG_PASSWORD } }),
        )
        .await;
    assert_eq!(outcome(&old), "UNAUTHENTICATED");
    gateway.login(email, new_password).await;
    gateway.stop().await;
}
