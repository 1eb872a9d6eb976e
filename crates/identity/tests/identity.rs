//! Integration tests of the identity service against the embedded MongoDB-compatible store,
//! through the official driver. Each test starts its own server and uses a manual clock, so expiry
//! and throttling windows are crossed without sleeping.

use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, DateTime, Document};
use embedded_mongo::{EmbeddedMongo, ServerConfig};
use foundation::ManualClock;
use identity::{
    ApiKeyScope, AuthTokens, ClientInfo, CreateOrganizationInput, IdentityError, IdentityService,
    IdentitySettings, InviteMemberInput, LoginInput, Organization, OrganizationPlan,
    OrganizationRole, OutboxKind, PasswordHashingSettings, Principal, ProfileUpdate,
    ProvisionUserInput, RegisterInput, RegistrationRole, Role, SecondFactor, User, UserStatus,
};
use mongodb::{Client, Database};

const PASSWORD: &str = "correct horse 42";

struct Fixture {
    _server: EmbeddedMongo,
    database: Database,
    clock: Arc<ManualClock>,
    service: IdentityService,
}

fn test_settings() -> IdentitySettings {
    let mut settings =
        IdentitySettings::new("a test secret of at least thirty-two bytes", [42; 32]);
    // Cheap argon2 parameters keep the suite fast; the algorithm and code path are the real ones.
    settings.password_hashing = PasswordHashingSettings {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    };
    settings.plan_limits.team.max_members = 3;
    settings.login_throttle.max_failures_per_account_and_address = 3;
    settings.login_throttle.max_failures_per_address = 5;
    // Fixtures register many accounts from one address; the registration limits have their own
    // test with the defaults.
    settings.account_requests.registrations_per_address = 1_000;
    settings.account_requests.registrations_per_email = 1_000;
    settings.public_base_url = "https://app.peertest.test".into();
    settings
}

async fn fixture() -> Fixture {
    let server = EmbeddedMongo::start(ServerConfig::default())
        .await
        .expect("embedded server starts");
    let client = Client::with_uri_str(server.uri())
        .await
        .expect("driver connects");
    let database = client.database("identity_tests");
    let clock = Arc::new(ManualClock::new(DateTime::now()));
    let service = IdentityService::new(database.clone(), test_settings(), clock.clone())
        .expect("valid settings");
    service
        .ensure_collections(&database)
        .await
        .expect("collections are created");
    Fixture {
        _server: server,
        database,
        clock,
        service,
    }
}

fn client_at(ip: &str) -> ClientInfo {
    ClientInfo {
        device: Some("laptop".into()),
        user_agent: Some("tests/1.0".into()),
        ip: Some(ip.into()),
    }
}

fn register_input(email: &str, role: RegistrationRole) -> RegisterInput {
    RegisterInput {
        email: email.into(),
        password: PASSWORD.into(),
        full_name: "Test Person".into(),
        role,
        profile: None,
        client_data: None,
        tester_data: None,
    }
}

fn login_input(email: &str, password: &str) -> LoginInput {
    LoginInput {
        email: email.into(),
        password: password.into(),
        second_factor: None,
        client: client_at("10.0.0.1"),
    }
}

impl Fixture {
    async fn register(&self, email: &str, role: RegistrationRole) -> User {
        self.service
            .register(register_input(email, role), &client_at("10.0.0.1"))
            .await
            .expect("registration succeeds")
    }

    async fn login(&self, email: &str) -> AuthTokens {
        self.service
            .login(login_input(email, PASSWORD))
            .await
            .expect("login succeeds")
    }

    async fn principal(&self, tokens: &AuthTokens) -> Principal {
        self.service
            .authenticate_access_token(&tokens.access_token)
            .await
            .expect("access token is valid")
    }

    async fn signed_in(&self, email: &str, role: RegistrationRole) -> (User, Principal) {
        let user = self.register(email, role).await;
        let tokens = self.login(email).await;
        (user, self.principal(&tokens).await)
    }

    async fn admin(&self) -> Principal {
        self.service
            .provision_user(ProvisionUserInput {
                email: "admin@peertest.io".into(),
                password: PASSWORD.into(),
                full_name: "PeerTest Admin".into(),
                role: Role::Admin,
                profile: None,
                client_data: None,
                tester_data: None,
            })
            .await
            .expect("admin is provisioned");
        let tokens = self.login("admin@peertest.io").await;
        self.principal(&tokens).await
    }

    async fn raw_user(&self, email: &str) -> Document {
        self.database
            .collection::<Document>("users")
            .find_one(doc! { "email": email })
            .await
            .unwrap()
            .unwrap()
    }

    async fn count(&self, collection: &str, filter: Document) -> u64 {
        self.database
            .collection::<Document>(collection)
            .count_documents(filter)
            .await
            .unwrap()
    }

    /// The token of the newest invitation e-mail to `email`, taken as the delivery worker takes
    /// it: the message is then marked sent, so a later invitation's e-mail is the one found next.
    async fn invitation_token(&self, email: &str) -> String {
        let message = self
            .service
            .pending_outbox_messages(1_000)
            .await
            .unwrap()
            .into_iter()
            .rfind(|message| {
                message.to == email && message.kind == OutboxKind::OrganizationInvitation
            })
            .expect("an invitation e-mail was queued");
        self.service
            .mark_outbox_message_sent(message.id)
            .await
            .unwrap();
        message
            .link
            .expect("invitations carry a link")
            .split_once("?token=")
            .expect("link carries a token")
            .1
            .to_owned()
    }

    /// Confirms `email` with the token from its verification e-mail.
    async fn confirm_email(&self, email: &str) {
        let token = self
            .outbox_token(email, OutboxKind::EmailVerification)
            .await;
        self.service
            .verify_email(&token)
            .await
            .expect("the address is confirmed");
    }

    /// `inviter` invites `email`; its user confirms the address if needed, signs in and accepts
    /// the invitation with the e-mail's token: how people join an organization.
    async fn invite_and_accept(
        &self,
        inviter: &Principal,
        organization_id: ObjectId,
        email: &str,
        role: OrganizationRole,
    ) -> Result<Organization, IdentityError> {
        self.service
            .invite_organization_member(
                inviter,
                InviteMemberInput {
                    organization_id,
                    email: email.to_owned(),
                    role,
                },
            )
            .await?;
        let token = self.invitation_token(email).await;
        let user = self.service.user_by_email(email).await.unwrap().unwrap();
        if !user.email_verified {
            self.confirm_email(email).await;
        }
        let invitee = self.principal(&self.login(email).await).await;
        self.service
            .accept_organization_invitation(&invitee, &token)
            .await
    }

    /// The token inside the newest outbox link of `kind` sent to `email`, as the delivery
    /// worker reads it. Reset e-mails are queued after the answer, so this waits for one.
    async fn outbox_token(&self, email: &str, kind: OutboxKind) -> String {
        for _ in 0..200 {
            let messages = self.service.pending_outbox_messages(1_000).await.unwrap();
            if let Some(message) = messages
                .into_iter()
                .rfind(|message| message.to == email && message.kind == kind)
            {
                let link = message.link.expect("link e-mails carry a link");
                return link
                    .split_once("?token=")
                    .expect("link carries a token")
                    .1
                    .to_owned();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {kind:?} e-mail to {email} was queued");
    }
}

fn totp_code(secret_base32: &str, clock: &ManualClock) -> String {
    let secret = identity::totp::base32_decode(secret_base32).unwrap();
    let seconds = u64::try_from(clock.now_seconds()).unwrap();
    identity::totp::code_at(&secret, seconds)
}

trait Seconds {
    fn now_seconds(&self) -> i64;
}

impl Seconds for ManualClock {
    fn now_seconds(&self) -> i64 {
        use foundation::Clock;
        self.now().timestamp_millis() / 1_000
    }
}

#[tokio::test]
async fn register_login_refresh_rotates_and_reusing_a_rotated_token_revokes_the_family() {
    let fx = fixture().await;
    let user = fx
        .register("  Sarah.Tester@Gmail.com ", RegistrationRole::Tester)
        .await;
    assert_eq!(user.email, "sarah.tester@gmail.com");
    assert_eq!(user.role, Role::Tester);
    assert_eq!(user.status, UserStatus::PendingVerification);
    assert_eq!(
        user.tester_data.as_ref().unwrap().qualification_status,
        Some(identity::QualificationStatus::Pending)
    );
    assert!(user.client_data.is_none());
    let stored = fx.raw_user("sarah.tester@gmail.com").await;
    assert!(stored
        .get_str("password_hash")
        .unwrap()
        .starts_with("$argon2id$"));

    let first = fx.login("sarah.tester@gmail.com").await;
    let principal = fx.principal(&first).await;
    assert_eq!(principal.user_id(), Some(user.id));
    assert_eq!(principal.role(), Some(Role::Tester));
    let after_login = fx.service.user(user.id).await.unwrap().unwrap();
    assert_eq!(after_login.login_count, 1);
    assert!(after_login.last_login.is_some());

    let second = fx
        .service
        .refresh(&first.refresh_token, client_at("10.0.0.1"))
        .await
        .expect("refresh rotates");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(fx.principal(&second).await.user_id(), Some(user.id));

    let reuse = fx
        .service
        .refresh(&first.refresh_token, client_at("10.9.9.9"))
        .await;
    assert!(
        matches!(reuse, Err(IdentityError::RefreshTokenReused)),
        "{reuse:?}"
    );
    // The whole family is gone: the newest refresh token and the access tokens stop working.
    let newest = fx
        .service
        .refresh(&second.refresh_token, client_at("10.0.0.1"))
        .await;
    assert!(
        matches!(newest, Err(IdentityError::InvalidRefreshToken)),
        "{newest:?}"
    );
    let access = fx
        .service
        .authenticate_access_token(&second.access_token)
        .await;
    assert!(
        matches!(access, Err(IdentityError::SessionRevoked)),
        "{access:?}"
    );
    let unknown = fx
        .service
        .refresh("not-a-token", ClientInfo::default())
        .await;
    assert!(matches!(unknown, Err(IdentityError::InvalidRefreshToken)));
}

#[tokio::test]
async fn access_tokens_expire_after_fifteen_minutes_and_refresh_tokens_after_seven_days() {
    let fx = fixture().await;
    fx.register("client@techcorp.com", RegistrationRole::Client)
        .await;
    let tokens = fx.login("client@techcorp.com").await;
    fx.clock.advance(Duration::from_secs(15 * 60));
    let expired = fx
        .service
        .authenticate_access_token(&tokens.access_token)
        .await;
    assert!(matches!(expired, Err(IdentityError::InvalidAccessToken)));
    fx.clock.advance(Duration::from_secs(7 * 24 * 60 * 60));
    let stale = fx
        .service
        .refresh(&tokens.refresh_token, ClientInfo::default())
        .await;
    assert!(matches!(stale, Err(IdentityError::InvalidRefreshToken)));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_give_the_same_error_and_change_nothing() {
    let fx = fixture().await;
    let user = fx
        .register("john.doe@techcorp.com", RegistrationRole::Client)
        .await;
    let wrong = fx
        .service
        .login(login_input("john.doe@techcorp.com", "wrong password 1"))
        .await;
    let unknown = fx
        .service
        .login(login_input("nobody@techcorp.com", PASSWORD))
        .await;
    assert!(matches!(wrong, Err(IdentityError::InvalidCredentials)));
    assert!(matches!(unknown, Err(IdentityError::InvalidCredentials)));
    assert_eq!(
        wrong.unwrap_err().to_string(),
        unknown.unwrap_err().to_string()
    );
    let after = fx.service.user(user.id).await.unwrap().unwrap();
    assert_eq!(after.login_count, 0);
    assert_eq!(after.last_login, None);
    assert_eq!(after.version, user.version);
    assert_eq!(fx.count("sessions", doc! {}).await, 0);
}

#[tokio::test]
async fn registration_refuses_malformed_email_weak_password_and_duplicates_without_writing() {
    let fx = fixture().await;
    let malformed = fx
        .service
        .register(
            register_input("not-an-email", RegistrationRole::Client),
            &client_at("10.0.0.1"),
        )
        .await;
    assert!(matches!(malformed, Err(IdentityError::InvalidEmail { .. })));
    let mut weak = register_input("weak@techcorp.com", RegistrationRole::Client);
    weak.password = "password".into();
    match fx.service.register(weak, &client_at("10.0.0.1")).await {
        Err(IdentityError::WeakPassword { reason }) => {
            assert_eq!(reason, "must be at least 10 characters")
        }
        other => panic!("expected a weak password error, got {other:?}"),
    }
    let mut no_digit = register_input("weak@techcorp.com", RegistrationRole::Client);
    no_digit.password = "onlyletters here".into();
    assert!(matches!(
        fx.service.register(no_digit, &client_at("10.0.0.1")).await,
        Err(IdentityError::WeakPassword { .. })
    ));
    assert_eq!(fx.count("users", doc! {}).await, 0);
    assert_eq!(fx.count("outbox", doc! {}).await, 0);

    fx.register("dup@techcorp.com", RegistrationRole::Client)
        .await;
    let duplicate = fx
        .service
        .register(
            register_input(" DUP@techcorp.com", RegistrationRole::Tester),
            &client_at("10.0.0.1"),
        )
        .await;
    assert!(
        matches!(duplicate, Err(IdentityError::EmailTaken)),
        "{duplicate:?}"
    );
    assert_eq!(fx.count("users", doc! {}).await, 1);
    assert_eq!(fx.count("outbox", doc! {}).await, 1);
}

#[tokio::test]
async fn suspended_users_cannot_log_in_or_use_existing_tokens_until_reactivated() {
    let fx = fixture().await;
    let admin = fx.admin().await;
    let (user, principal) = fx
        .signed_in("tester@peertest.io", RegistrationRole::Tester)
        .await;
    let tokens = fx.login("tester@peertest.io").await;

    let not_admin = fx.service.suspend_user(&principal, user.id).await;
    assert!(matches!(not_admin, Err(IdentityError::Forbidden { .. })));

    let suspended = fx
        .service
        .suspend_user(&admin, user.id)
        .await
        .expect("admin suspends");
    assert_eq!(suspended.status, UserStatus::Suspended);
    let login = fx
        .service
        .login(login_input("tester@peertest.io", PASSWORD))
        .await;
    assert!(matches!(login, Err(IdentityError::AccountSuspended)));
    assert!(fx
        .service
        .authenticate_access_token(&tokens.access_token)
        .await
        .is_err());
    assert!(fx
        .service
        .refresh(&tokens.refresh_token, ClientInfo::default())
        .await
        .is_err());
    assert_eq!(
        fx.count("sessions", doc! { "user_id": user.id, "revoked": false })
            .await,
        0
    );

    let reactivated = fx
        .service
        .reactivate_user(&admin, user.id)
        .await
        .expect("admin reactivates");
    assert_eq!(reactivated.status, UserStatus::PendingVerification);
    fx.login("tester@peertest.io").await;
}

#[tokio::test]
async fn email_verification_activates_the_account_once_and_expires_after_a_day() {
    let fx = fixture().await;
    let user = fx
        .register("verify@techcorp.com", RegistrationRole::Client)
        .await;
    let token = fx
        .outbox_token("verify@techcorp.com", OutboxKind::EmailVerification)
        .await;
    let stored = fx.raw_user("verify@techcorp.com").await;
    assert_ne!(
        stored.get_str("email_verification_token").unwrap(),
        token,
        "only the hash is stored"
    );

    let verified = fx
        .service
        .verify_email(&token)
        .await
        .expect("token verifies");
    assert!(verified.email_verified);
    assert_eq!(verified.status, UserStatus::Active);
    assert!(matches!(
        fx.service.verify_email(&token).await,
        Err(IdentityError::InvalidEmailVerificationToken)
    ));

    let other = fx
        .register("late@techcorp.com", RegistrationRole::Tester)
        .await;
    let late_token = fx
        .outbox_token("late@techcorp.com", OutboxKind::EmailVerification)
        .await;
    fx.clock.advance(Duration::from_secs(24 * 60 * 60 + 1));
    assert!(matches!(
        fx.service.verify_email(&late_token).await,
        Err(IdentityError::InvalidEmailVerificationToken)
    ));
    assert!(
        !fx.service
            .user(other.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert_ne!(user.id, other.id);
}

#[tokio::test]
async fn password_reset_changes_the_password_once_and_revokes_every_session() {
    let fx = fixture().await;
    let user = fx
        .register("reset@techcorp.com", RegistrationRole::Client)
        .await;
    let phone = fx.login("reset@techcorp.com").await;
    let laptop = fx.login("reset@techcorp.com").await;
    fx.service
        .request_password_reset("Reset@TechCorp.com", &client_at("10.0.0.1"))
        .await
        .unwrap();
    fx.service
        .request_password_reset("nobody@techcorp.com", &client_at("10.0.0.1"))
        .await
        .expect("unknown emails look the same");
    let token = fx
        .outbox_token("reset@techcorp.com", OutboxKind::PasswordReset)
        .await;

    let weak = fx.service.reset_password(&token, "short").await;
    assert!(matches!(weak, Err(IdentityError::WeakPassword { .. })));
    fx.service
        .reset_password(&token, "a brand new passphrase 7")
        .await
        .expect("reset succeeds");
    assert!(matches!(
        fx.service
            .reset_password(&token, "another passphrase 8")
            .await,
        Err(IdentityError::InvalidPasswordResetToken)
    ));
    for tokens in [&phone, &laptop] {
        assert!(matches!(
            fx.service
                .authenticate_access_token(&tokens.access_token)
                .await,
            Err(IdentityError::SessionRevoked)
        ));
        assert!(fx
            .service
            .refresh(&tokens.refresh_token, ClientInfo::default())
            .await
            .is_err());
    }
    assert!(matches!(
        fx.service
            .login(login_input("reset@techcorp.com", PASSWORD))
            .await,
        Err(IdentityError::InvalidCredentials)
    ));
    let fresh = fx
        .service
        .login(login_input(
            "reset@techcorp.com",
            "a brand new passphrase 7",
        ))
        .await
        .unwrap();
    assert_eq!(fresh.user_id, user.id);
}

#[tokio::test]
async fn password_reset_links_expire_after_an_hour() {
    let fx = fixture().await;
    fx.register("slow@techcorp.com", RegistrationRole::Client)
        .await;
    fx.service
        .request_password_reset("slow@techcorp.com", &client_at("10.0.0.1"))
        .await
        .unwrap();
    let token = fx
        .outbox_token("slow@techcorp.com", OutboxKind::PasswordReset)
        .await;
    fx.clock.advance(Duration::from_secs(60 * 60 + 1));
    assert!(matches!(
        fx.service
            .reset_password(&token, "a brand new passphrase 7")
            .await,
        Err(IdentityError::InvalidPasswordResetToken)
    ));
}

#[tokio::test]
async fn two_factor_login_needs_a_code_and_recovery_codes_work_once() {
    let fx = fixture().await;
    let (user, principal) = fx
        .signed_in("secure@techcorp.com", RegistrationRole::Client)
        .await;
    let enrollment = fx
        .service
        .begin_two_factor_enrollment(&principal, PASSWORD)
        .await
        .unwrap();
    assert!(enrollment
        .otpauth_url
        .starts_with("otpauth://totp/PeerTest%20Hub:secure%40techcorp.com?secret="));
    let stored = fx.raw_user("secure@techcorp.com").await;
    assert_ne!(
        stored.get_str("two_factor_secret").unwrap(),
        enrollment.secret_base32,
        "stored encrypted"
    );

    let wrong = fx
        .service
        .confirm_two_factor_enrollment(&principal, PASSWORD, "000000")
        .await;
    assert!(
        matches!(wrong, Err(IdentityError::InvalidTwoFactorCode))
            || totp_code(&enrollment.secret_base32, &fx.clock) == "000000"
    );
    let recovery_codes = fx
        .service
        .confirm_two_factor_enrollment(
            &principal,
            PASSWORD,
            &totp_code(&enrollment.secret_base32, &fx.clock),
        )
        .await
        .expect("confirmation succeeds");
    assert_eq!(recovery_codes.len(), 10);
    assert!(
        fx.service
            .user(user.id)
            .await
            .unwrap()
            .unwrap()
            .two_factor_enabled
    );

    let without_code = fx
        .service
        .login(login_input("secure@techcorp.com", PASSWORD))
        .await;
    assert!(matches!(
        without_code,
        Err(IdentityError::TwoFactorRequired)
    ));

    // The confirmation code's time step is spent; the next step's code logs in once.
    let mut with_reused_code = login_input("secure@techcorp.com", PASSWORD);
    with_reused_code.second_factor = Some(SecondFactor::Totp(totp_code(
        &enrollment.secret_base32,
        &fx.clock,
    )));
    assert!(matches!(
        fx.service.login(with_reused_code).await,
        Err(IdentityError::InvalidTwoFactorCode)
    ));
    fx.clock.advance(Duration::from_secs(30));
    let mut with_code = login_input("secure@techcorp.com", PASSWORD);
    with_code.second_factor = Some(SecondFactor::Totp(totp_code(
        &enrollment.secret_base32,
        &fx.clock,
    )));
    assert_eq!(fx.service.login(with_code).await.unwrap().user_id, user.id);

    let mut with_recovery = login_input("secure@techcorp.com", PASSWORD);
    with_recovery.second_factor =
        Some(SecondFactor::RecoveryCode(recovery_codes[0].to_uppercase()));
    assert_eq!(
        fx.service
            .login(with_recovery.clone())
            .await
            .unwrap()
            .user_id,
        user.id
    );
    assert!(matches!(
        fx.service.login(with_recovery).await,
        Err(IdentityError::InvalidTwoFactorCode)
    ));
    assert_eq!(
        fx.service
            .remaining_recovery_codes(&principal)
            .await
            .unwrap(),
        9
    );

    fx.service
        .disable_two_factor(
            &principal,
            PASSWORD,
            SecondFactor::RecoveryCode(recovery_codes[1].clone()),
        )
        .await
        .expect("disabling with a recovery code");
    fx.login("secure@techcorp.com").await;
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_per_address_until_the_window_passes() {
    let fx = fixture().await;
    fx.register("target@techcorp.com", RegistrationRole::Client)
        .await;
    for _ in 0..3 {
        let failed = fx
            .service
            .login(login_input("target@techcorp.com", "wrong password 1"))
            .await;
        assert!(matches!(failed, Err(IdentityError::InvalidCredentials)));
    }
    fx.clock.advance(Duration::from_secs(60));
    // Even the right password is refused while the account is throttled.
    match fx
        .service
        .login(login_input("target@techcorp.com", PASSWORD))
        .await
    {
        Err(IdentityError::RateLimited { retry_after_secs }) => {
            assert_eq!(retry_after_secs, 15 * 60 - 60)
        }
        other => panic!("expected throttling, got {other:?}"),
    }
    fx.clock.advance(Duration::from_secs(15 * 60 - 60 + 1));
    fx.login("target@techcorp.com").await;

    // Per address: failures against different accounts from one address add up.
    let attacker = ClientInfo {
        ip: Some("203.0.113.7".into()),
        ..ClientInfo::default()
    };
    for index in 0..5 {
        let mut input = login_input(&format!("victim{index}@techcorp.com"), "wrong password 1");
        input.client = attacker.clone();
        assert!(matches!(
            fx.service.login(input).await,
            Err(IdentityError::InvalidCredentials)
        ));
    }
    let mut blocked = login_input("target@techcorp.com", PASSWORD);
    blocked.client = attacker;
    assert!(matches!(
        fx.service.login(blocked).await,
        Err(IdentityError::RateLimited { .. })
    ));
    fx.login("target@techcorp.com").await;
}

#[tokio::test]
async fn sessions_are_listed_per_device_and_revocable() {
    let fx = fixture().await;
    fx.register("multi@techcorp.com", RegistrationRole::Tester)
        .await;
    let laptop = fx.login("multi@techcorp.com").await;
    let mut phone_input = login_input("multi@techcorp.com", PASSWORD);
    phone_input.client.device = Some("phone".into());
    fx.clock.advance(Duration::from_secs(1));
    let phone = fx.service.login(phone_input).await.unwrap();
    let on_laptop = fx.principal(&laptop).await;

    let sessions = fx.service.list_sessions(&on_laptop).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].device.as_deref(), Some("phone"));
    assert!(!sessions[0].current);
    assert!(sessions[1].current);

    fx.service
        .revoke_session(&on_laptop, phone.session_id)
        .await
        .unwrap();
    assert!(fx
        .service
        .authenticate_access_token(&phone.access_token)
        .await
        .is_err());
    assert!(matches!(
        fx.service.revoke_session(&on_laptop, ObjectId::new()).await,
        Err(IdentityError::SessionNotFound)
    ));
    fx.service.logout(&on_laptop).await.unwrap();
    assert!(matches!(
        fx.service
            .authenticate_access_token(&laptop.access_token)
            .await,
        Err(IdentityError::SessionRevoked)
    ));
}

#[tokio::test]
async fn profile_updates_touch_only_editable_fields_and_respect_the_version() {
    let fx = fixture().await;
    let (user, principal) = fx
        .signed_in("profile@peertest.io", RegistrationRole::Tester)
        .await;
    let update = ProfileUpdate {
        expected_version: Some(user.version),
        full_name: Some("Sarah Johnson".into()),
        tester_data: Some(identity::TesterDataUpdate {
            devices: Some(vec!["iPhone 14 Pro".into()]),
            hourly_rate_cents: Some(3_500),
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = fx.service.update_profile(&principal, update).await.unwrap();
    assert_eq!(updated.full_name, "Sarah Johnson");
    let tester = updated.tester_data.unwrap();
    assert_eq!(tester.devices, vec!["iPhone 14 Pro".to_string()]);
    assert_eq!(tester.hourly_rate_cents, Some(3_500));
    assert_eq!(
        tester.qualification_status,
        Some(identity::QualificationStatus::Pending)
    );
    assert_eq!(updated.version, user.version + 1);

    let stale = ProfileUpdate {
        expected_version: Some(user.version),
        full_name: Some("X".into()),
        ..Default::default()
    };
    assert!(matches!(
        fx.service.update_profile(&principal, stale).await,
        Err(IdentityError::VersionConflict)
    ));
    let wrong_role = ProfileUpdate {
        client_data: Some(Default::default()),
        ..Default::default()
    };
    assert!(matches!(
        fx.service.update_profile(&principal, wrong_role).await,
        Err(IdentityError::InvalidInput {
            field: "client_data",
            ..
        })
    ));
}

#[tokio::test]
async fn users_are_batch_loaded_by_id() {
    let fx = fixture().await;
    let first = fx
        .register("one@techcorp.com", RegistrationRole::Client)
        .await;
    let second = fx
        .register("two@techcorp.com", RegistrationRole::Tester)
        .await;
    let mut loaded = fx
        .service
        .users_by_ids(&[second.id, first.id, ObjectId::new()])
        .await
        .unwrap();
    loaded.sort_by_key(|user| user.email.clone());
    let emails: Vec<&str> = loaded.iter().map(|user| user.email.as_str()).collect();
    assert_eq!(emails, ["one@techcorp.com", "two@techcorp.com"]);
    assert!(fx.service.users_by_ids(&[]).await.unwrap().is_empty());
}

fn organization_input(slug: &str) -> CreateOrganizationInput {
    CreateOrganizationInput {
        name: "TechCorp QA Team".into(),
        slug: slug.into(),
        description: None,
        website: None,
        industry: Some("SaaS".into()),
        size: Some("51-200".into()),
        plan: OrganizationPlan::Team,
        billing_email: Some("billing@techcorp.com".into()),
    }
}

#[tokio::test]
async fn organizations_track_members_roles_and_the_member_limit() {
    let fx = fixture().await;
    let (owner, owner_principal) = fx
        .signed_in("owner@techcorp.com", RegistrationRole::Client)
        .await;
    let (_, tester_principal) = fx
        .signed_in("tester@techcorp.com", RegistrationRole::Tester)
        .await;
    assert!(matches!(
        fx.service
            .create_organization(&tester_principal, organization_input("testers"))
            .await,
        Err(IdentityError::Forbidden { .. })
    ));

    let organization = fx
        .service
        .create_organization(&owner_principal, organization_input("techcorp-qa"))
        .await
        .unwrap();
    assert_eq!(organization.usage.member_count, 1);
    assert_eq!(organization.limits.max_members, 3);
    let owner_now = fx.service.user(owner.id).await.unwrap().unwrap();
    assert_eq!(owner_now.organization_id, Some(organization.id));
    assert_eq!(
        owner_now.organization_role,
        Some(identity::OrganizationRole::Owner)
    );

    let (_, rival) = fx
        .signed_in("rival@othercorp.com", RegistrationRole::Client)
        .await;
    assert!(matches!(
        fx.service
            .create_organization(&rival, organization_input("techcorp-qa"))
            .await,
        Err(IdentityError::SlugTaken)
    ));
    assert_eq!(
        fx.service
            .user(rival.user_id().unwrap())
            .await
            .unwrap()
            .unwrap()
            .organization_id,
        None
    );
    // An outsider is refused before any membership lookup, for members and non-members alike,
    // so the answer does not reveal who belongs to the organization.
    for target in [owner.id, ObjectId::new()] {
        assert!(matches!(
            fx.service
                .remove_organization_member(&rival, organization.id, target)
                .await,
            Err(IdentityError::Forbidden { .. })
        ));
    }

    let (admin_user, admin_principal) = fx
        .signed_in("lead@techcorp.com", RegistrationRole::Client)
        .await;
    let with_admin = fx
        .invite_and_accept(
            &owner_principal,
            organization.id,
            "lead@techcorp.com",
            OrganizationRole::Admin,
        )
        .await
        .unwrap();
    assert_eq!(with_admin.usage.member_count, 2);

    let member = fx
        .register("member@techcorp.com", RegistrationRole::Client)
        .await;
    let invite_input = |email: &str| InviteMemberInput {
        organization_id: organization.id,
        email: email.to_owned(),
        role: OrganizationRole::Member,
    };
    assert!(matches!(
        fx.service
            .invite_organization_member(&rival, invite_input("member@techcorp.com"))
            .await,
        Err(IdentityError::Forbidden { .. })
    ));
    let full = fx
        .invite_and_accept(
            &admin_principal,
            organization.id,
            "member@techcorp.com",
            OrganizationRole::Member,
        )
        .await
        .unwrap();
    assert_eq!(full.usage.member_count, 3);
    assert_eq!(full.members.len(), 3);

    let extra = fx
        .register("extra@techcorp.com", RegistrationRole::Client)
        .await;
    match fx
        .invite_and_accept(
            &owner_principal,
            organization.id,
            "extra@techcorp.com",
            OrganizationRole::Member,
        )
        .await
    {
        Err(IdentityError::MemberLimitReached { max_members }) => assert_eq!(max_members, 3),
        other => panic!("expected the member limit, got {other:?}"),
    }
    assert_eq!(
        fx.service
            .user(extra.id)
            .await
            .unwrap()
            .unwrap()
            .organization_id,
        None
    );
    assert!(matches!(
        fx.invite_and_accept(
            &owner_principal,
            organization.id,
            "member@techcorp.com",
            OrganizationRole::Member,
        )
        .await,
        Err(IdentityError::AlreadyInOrganization)
    ));

    // An org admin cannot touch owners; the last owner can be neither removed nor demoted.
    assert!(matches!(
        fx.service
            .remove_organization_member(&admin_principal, organization.id, owner.id)
            .await,
        Err(IdentityError::Forbidden { .. })
    ));
    assert!(matches!(
        fx.service
            .remove_organization_member(&owner_principal, organization.id, owner.id)
            .await,
        Err(IdentityError::LastOwner)
    ));
    assert!(matches!(
        fx.service
            .change_organization_member_role(
                &owner_principal,
                organization.id,
                owner.id,
                OrganizationRole::Member
            )
            .await,
        Err(IdentityError::LastOwner)
    ));

    let promoted = fx
        .service
        .change_organization_member_role(
            &owner_principal,
            organization.id,
            admin_user.id,
            OrganizationRole::Owner,
        )
        .await
        .unwrap();
    assert_eq!(
        promoted.member(admin_user.id).unwrap().role,
        OrganizationRole::Owner
    );
    let smaller = fx
        .service
        .remove_organization_member(&admin_principal, organization.id, member.id)
        .await
        .unwrap();
    assert_eq!(smaller.usage.member_count, 2);
    assert_eq!(
        fx.service
            .user(member.id)
            .await
            .unwrap()
            .unwrap()
            .organization_id,
        None
    );
    let stored = fx
        .database
        .collection::<Document>("organizations")
        .find_one(doc! { "_id": organization.id })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.get_array("members").unwrap().len() as i64,
        stored
            .get_document("usage")
            .unwrap()
            .get_i64("member_count")
            .unwrap()
    );
    let now_fits = fx
        .invite_and_accept(
            &owner_principal,
            organization.id,
            "extra@techcorp.com",
            OrganizationRole::Member,
        )
        .await
        .unwrap();
    assert_eq!(now_fits.usage.member_count, 3);
}

#[tokio::test]
async fn api_keys_act_as_their_organization_with_exactly_their_scope() {
    let fx = fixture().await;
    let (_, owner) = fx
        .signed_in("owner@partner.io", RegistrationRole::Client)
        .await;
    let (_, outsider) = fx
        .signed_in("outsider@partner.io", RegistrationRole::Client)
        .await;
    let organization = fx
        .service
        .create_organization(&owner, organization_input("partner"))
        .await
        .unwrap();

    assert!(matches!(
        fx.service
            .create_api_key(&outsider, organization.id, "ci", ApiKeyScope::Read, None)
            .await,
        Err(IdentityError::Forbidden { .. })
    ));
    let read_only = fx
        .service
        .create_api_key(
            &owner,
            organization.id,
            "dashboard",
            ApiKeyScope::Read,
            None,
        )
        .await
        .unwrap();
    let read_write = fx
        .service
        .create_api_key(&owner, organization.id, "ci", ApiKeyScope::ReadWrite, None)
        .await
        .unwrap();
    assert!(read_only.raw_key.starts_with("ptk_"));
    assert_eq!(read_only.api_key.prefix, read_only.raw_key[..12]);

    let reader = fx
        .service
        .authenticate_bearer(&read_only.raw_key)
        .await
        .unwrap();
    assert!(
        matches!(&reader, Principal::ApiKey(key) if key.organization_id == organization.id && key.scope == ApiKeyScope::Read)
    );
    assert!(matches!(
        reader.require_write(),
        Err(IdentityError::InsufficientScope)
    ));
    assert!(fx
        .service
        .organization_for(&reader, organization.id)
        .await
        .is_ok());
    let denied = fx
        .service
        .invite_organization_member(
            &reader,
            InviteMemberInput {
                organization_id: organization.id,
                email: "new@partner.io".into(),
                role: OrganizationRole::Member,
            },
        )
        .await;
    assert!(
        matches!(denied, Err(IdentityError::InsufficientScope)),
        "{denied:?}"
    );
    let writer = fx
        .service
        .authenticate_api_key(&read_write.raw_key)
        .await
        .unwrap();
    assert!(writer.require_write().is_ok());

    let listed = fx
        .service
        .list_api_keys(&owner, organization.id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .any(|key| key.id == read_only.api_key.id && key.last_used_at.is_some()));
    let stored = fx
        .database
        .collection::<Document>("api_keys")
        .find_one(doc! { "_id": read_only.api_key.id })
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.get_str("key_hash").unwrap(), read_only.raw_key);

    let revoked = fx
        .service
        .revoke_api_key(&owner, read_only.api_key.id)
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(matches!(
        fx.service.authenticate_api_key(&read_only.raw_key).await,
        Err(IdentityError::InvalidApiKey)
    ));
    assert!(matches!(
        fx.service.authenticate_api_key("ptk_made-up").await,
        Err(IdentityError::InvalidApiKey)
    ));
}

#[tokio::test]
async fn collections_are_created_idempotently_and_the_users_validator_guards_the_seed_rules() {
    let fx = fixture().await;
    fx.service
        .ensure_collections(&fx.database)
        .await
        .expect("a second run is harmless");
    let names = fx.database.list_collection_names().await.unwrap();
    for expected in [
        "users",
        "organizations",
        "sessions",
        "api_keys",
        "outbox",
        "rate_limits",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
    let invalid = fx
        .database
        .collection::<Document>("users")
        .insert_one(doc! { "email": "x@y.io", "password_hash": "h", "full_name": "X", "role": "superuser", "status": "active" })
        .await;
    assert!(
        invalid.is_err(),
        "the seed validator refuses an unknown role"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_registrations_with_one_email_create_exactly_one_account() {
    let fx = fixture().await;
    let attempts = (0..4).map(|_| {
        let service = fx.service.clone();
        tokio::spawn(async move {
            service
                .register(
                    register_input("race@techcorp.com", RegistrationRole::Client),
                    &client_at("10.0.0.1"),
                )
                .await
        })
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let created = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Ok(_))))
        .count();
    let taken = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Err(IdentityError::EmailTaken))))
        .count();
    assert_eq!((created, taken), (1, 3));
    assert_eq!(
        fx.count("users", doc! { "email": "race@techcorp.com" })
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_refreshes_of_one_token_never_both_rotate() {
    let fx = fixture().await;
    fx.register("twice@techcorp.com", RegistrationRole::Tester)
        .await;
    let tokens = fx.login("twice@techcorp.com").await;
    let attempts = (0..2).map(|_| {
        let service = fx.service.clone();
        let token = tokens.refresh_token.clone();
        tokio::spawn(async move { service.refresh(&token, ClientInfo::default()).await })
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let rotated = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Ok(_))))
        .count();
    assert!(
        rotated <= 1,
        "at most one refresh may rotate the token: {outcomes:?}"
    );
    let reused = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Err(IdentityError::RefreshTokenReused))))
        .count();
    assert_eq!(rotated + reused, 2, "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_acceptances_cannot_overshoot_the_member_limit() {
    let fx = fixture().await;
    let (_, owner) = fx
        .signed_in("owner@race.io", RegistrationRole::Client)
        .await;
    let organization = fx
        .service
        .create_organization(&owner, organization_input("race"))
        .await
        .unwrap();
    let mut candidates = Vec::new();
    for index in 0..4 {
        let email = format!("candidate{index}@race.io");
        fx.register(&email, RegistrationRole::Client).await;
        fx.confirm_email(&email).await;
        fx.service
            .invite_organization_member(
                &owner,
                InviteMemberInput {
                    organization_id: organization.id,
                    email: email.clone(),
                    role: OrganizationRole::Member,
                },
            )
            .await
            .unwrap();
        let token = fx.invitation_token(&email).await;
        let principal = fx.principal(&fx.login(&email).await).await;
        candidates.push((principal, token));
    }
    let attempts = candidates.into_iter().map(|(principal, token)| {
        let service = fx.service.clone();
        tokio::spawn(async move {
            service
                .accept_organization_invitation(&principal, &token)
                .await
        })
    });
    let outcomes = futures_util::future::join_all(attempts).await;
    let added = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(Ok(_))))
        .count();
    assert_eq!(added, 2, "two seats were left: {outcomes:?}");
    let stored = fx
        .service
        .organization(organization.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.usage.member_count, 3);
    assert_eq!(stored.members.len(), 3);
    let mirrored = fx
        .count("users", doc! { "organization_id": organization.id })
        .await;
    assert_eq!(mirrored, 3, "only actual members point at the organization");
}

#[tokio::test]
async fn changing_the_password_keeps_the_current_session_and_revokes_the_others() {
    let fx = fixture().await;
    fx.register("change@techcorp.com", RegistrationRole::Client)
        .await;
    let here = fx.login("change@techcorp.com").await;
    let elsewhere = fx.login("change@techcorp.com").await;
    let principal = fx.principal(&here).await;
    assert!(matches!(
        fx.service
            .change_password(&principal, "not my password 1", "a brand new passphrase 7")
            .await,
        Err(IdentityError::PasswordMismatch {
            field: "current_password"
        })
    ));
    fx.service
        .change_password(&principal, PASSWORD, "a brand new passphrase 7")
        .await
        .unwrap();
    assert!(fx
        .service
        .authenticate_access_token(&here.access_token)
        .await
        .is_ok());
    assert!(matches!(
        fx.service
            .authenticate_access_token(&elsewhere.access_token)
            .await,
        Err(IdentityError::SessionRevoked)
    ));
    assert!(fx
        .service
        .login(login_input(
            "change@techcorp.com",
            "a brand new passphrase 7"
        ))
        .await
        .is_ok());
}

/// Other domains with nothing running on anyone.
struct NothingRunning;

impl identity::ErasureBlockers for NothingRunning {
    fn blockers(
        &self,
        _user_id: bson::oid::ObjectId,
    ) -> futures_util::future::BoxFuture<'_, Result<Vec<String>, IdentityError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Other domains with a payout still held for everyone.
struct PayoutHeld;

impl identity::ErasureBlockers for PayoutHeld {
    fn blockers(
        &self,
        _user_id: bson::oid::ObjectId,
    ) -> futures_util::future::BoxFuture<'_, Result<Vec<String>, IdentityError>> {
        Box::pin(async { Ok(vec!["a payout is held".to_string()]) })
    }
}

#[tokio::test]
async fn an_erasure_something_still_runs_on_is_refused_and_changes_nothing() {
    let fx = fixture().await;
    let (user, principal) = fx
        .signed_in("keep.me@techcorp.com", RegistrationRole::Tester)
        .await;
    let refused = fx
        .service
        .erase_account(&principal, PASSWORD, &PayoutHeld)
        .await;
    match refused {
        Err(IdentityError::ErasureBlocked { blockers }) => {
            assert_eq!(blockers, vec!["a payout is held".to_string()])
        }
        other => panic!("expected ErasureBlocked, got {other:?}"),
    }
    let kept = fx.service.user(user.id).await.unwrap().unwrap();
    assert_eq!(kept.email, "keep.me@techcorp.com");
    assert!(kept.deleted_at.is_none());
}

#[tokio::test]
async fn erasing_an_account_removes_personal_data_and_blocks_login() {
    let fx = fixture().await;
    let (user, principal) = fx
        .signed_in("erase.me@techcorp.com", RegistrationRole::Tester)
        .await;
    let export = fx.service.export_user_data(&principal).await.unwrap();
    assert_eq!(export.user.email, "erase.me@techcorp.com");
    assert_eq!(export.sessions.len(), 1);
    assert!(!export.sessions[0].contains_key("current_token_hash"));
    assert_eq!(export.emails.len(), 1);
    assert!(!export.emails[0].contains_key("link"));
    assert!(export.to_json().unwrap().contains("erase.me@techcorp.com"));

    assert!(matches!(
        fx.service
            .erase_account(&principal, "wrong password 1", &NothingRunning)
            .await,
        Err(IdentityError::PasswordMismatch { field: "password" })
    ));
    fx.service
        .erase_account(&principal, PASSWORD, &NothingRunning)
        .await
        .unwrap();
    let erased = fx.service.user(user.id).await.unwrap().unwrap();
    assert_eq!(
        erased.email,
        format!("erased-{}@erased.invalid", user.id.to_hex())
    );
    assert_eq!(erased.full_name, "Erased user");
    assert_eq!(erased.status, UserStatus::Suspended);
    assert!(erased.deleted_at.is_some());
    assert!(erased.tester_data.is_none());
    assert!(fx
        .service
        .authenticate_access_token(&"x".repeat(3))
        .await
        .is_err());
    assert!(matches!(
        fx.service
            .login(login_input("erase.me@techcorp.com", PASSWORD))
            .await,
        Err(IdentityError::InvalidCredentials)
    ));
    assert_eq!(
        fx.count("sessions", doc! { "user_id": user.id, "revoked": false })
            .await,
        0
    );
    // The address is free again for a new, unrelated account.
    fx.register("erase.me@techcorp.com", RegistrationRole::Client)
        .await;
}

#[tokio::test]
async fn concurrent_wrong_logins_reserve_at_most_the_pair_budget_and_spare_other_addresses() {
    let fx = fixture().await;
    fx.register("raced@techcorp.com", RegistrationRole::Client)
        .await;
    let guesses = (0..50).map(|n| {
        let service = fx.service.clone();
        tokio::spawn(async move {
            service
                .login(login_input(
                    "raced@techcorp.com",
                    &format!("wrong guess {n}"),
                ))
                .await
        })
    });
    let outcomes = futures_util::future::join_all(guesses).await;
    let evaluated = outcomes
        .iter()
        .filter(|outcome| {
            matches!(
                outcome.as_ref().expect("task"),
                Err(IdentityError::InvalidCredentials)
            )
        })
        .count();
    let refused = outcomes
        .iter()
        .filter(|outcome| {
            matches!(
                outcome.as_ref().expect("task"),
                Err(IdentityError::RateLimited { .. })
            )
        })
        .count();
    assert_eq!((evaluated, refused), (3, 47));
    let mut elsewhere = login_input("raced@techcorp.com", PASSWORD);
    elsewhere.client = client_at("192.0.2.9");
    fx.service
        .login(elsewhere)
        .await
        .expect("the owner elsewhere is not locked out");
}

#[tokio::test]
async fn sent_outbox_messages_are_deleted_and_expired_ones_are_not_delivered() {
    let fx = fixture().await;
    fx.register("mail@techcorp.com", RegistrationRole::Client)
        .await;
    let pending = fx.service.pending_outbox_messages(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    let message = &pending[0];
    assert_eq!(message.kind, OutboxKind::EmailVerification);
    let link = message.link.as_deref().expect("a link");
    assert!(link.starts_with("https://app.peertest.test/verify-email?token="));
    assert!(message.body.contains(link));
    let stored = fx
        .database
        .collection::<Document>("outbox")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert!(!stored
        .to_string()
        .contains(link.split_once("token=").unwrap().1));

    fx.service
        .mark_outbox_message_sent(message.id)
        .await
        .unwrap();
    assert_eq!(
        fx.count("outbox", doc! {}).await,
        0,
        "sent messages are purged"
    );

    fx.register("late.mail@techcorp.com", RegistrationRole::Client)
        .await;
    fx.clock.advance(Duration::from_secs(24 * 60 * 60 + 1));
    assert!(
        fx.service
            .pending_outbox_messages(10)
            .await
            .unwrap()
            .is_empty(),
        "a message whose link expired is never delivered"
    );
}

#[tokio::test]
async fn registrations_and_reset_requests_are_limited_per_address_and_per_target() {
    let fx = fixture().await;
    let mut settings = test_settings();
    settings.account_requests = identity::AccountRequestLimits::default();
    let service = IdentityService::new(fx.database.clone(), settings, fx.clock.clone()).unwrap();
    let from = client_at("198.51.100.1");
    for n in 0..10 {
        service
            .register(
                register_input(&format!("bulk{n}@techcorp.com"), RegistrationRole::Tester),
                &from,
            )
            .await
            .expect("within the limit");
    }
    assert!(matches!(
        service
            .register(
                register_input("bulk10@techcorp.com", RegistrationRole::Tester),
                &from
            )
            .await,
        Err(IdentityError::RateLimited { .. })
    ));
    // Malformed input is refused without spending the budget.
    let elsewhere = client_at("198.51.100.2");
    for _ in 0..12 {
        assert!(matches!(
            service
                .register(
                    register_input("not-an-email", RegistrationRole::Tester),
                    &elsewhere
                )
                .await,
            Err(IdentityError::InvalidEmail { .. })
        ));
    }
    for n in 0..3 {
        service
            .request_password_reset(
                "bulk0@techcorp.com",
                &client_at(&format!("198.51.100.{}", 10 + n)),
            )
            .await
            .expect("within the per-target limit");
    }
    assert!(matches!(
        service
            .request_password_reset("bulk0@techcorp.com", &client_at("198.51.100.20"))
            .await,
        Err(IdentityError::RateLimited { .. })
    ));
    fx.clock.advance(Duration::from_secs(60 * 60 + 1));
    service
        .register(
            register_input("bulk10@techcorp.com", RegistrationRole::Tester),
            &from,
        )
        .await
        .expect("a new window");
}

#[tokio::test]
async fn erasing_an_account_forgets_invitations_to_its_address_and_its_name_on_those_it_sent() {
    let fx = fixture().await;
    let (_, owner) = fx
        .signed_in("owner@erase.io", RegistrationRole::Client)
        .await;
    let organization = fx
        .service
        .create_organization(&owner, organization_input("erase"))
        .await
        .unwrap();
    let (_, invitee) = fx
        .signed_in("invitee@erase.io", RegistrationRole::Tester)
        .await;
    let invite = |email: &str| InviteMemberInput {
        organization_id: organization.id,
        email: email.to_owned(),
        role: OrganizationRole::Member,
    };
    fx.service
        .invite_organization_member(&owner, invite("invitee@erase.io"))
        .await
        .unwrap();
    fx.service
        .erase_account(&invitee, PASSWORD, &NothingRunning)
        .await
        .unwrap();
    assert_eq!(
        fx.count(
            "organization_invitations",
            doc! { "email": "invitee@erase.io" }
        )
        .await,
        0
    );
    assert_eq!(
        fx.count(
            "outbox",
            doc! { "to": "invitee@erase.io", "kind": "organization_invitation" }
        )
        .await,
        0
    );

    let (admin_user, admin) = fx
        .signed_in("admin@erase.io", RegistrationRole::Client)
        .await;
    fx.invite_and_accept(
        &owner,
        organization.id,
        "admin@erase.io",
        OrganizationRole::Admin,
    )
    .await
    .unwrap();
    fx.service
        .invite_organization_member(&admin, invite("someone@erase.io"))
        .await
        .unwrap();
    fx.service
        .erase_account(&admin, PASSWORD, &NothingRunning)
        .await
        .unwrap();
    let sent = fx
        .service
        .pending_organization_invitations(&owner, organization.id)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].invited_by_id, admin_user.id);
    assert_eq!(sent[0].invited_by_name, "Erased user");
}

#[tokio::test]
async fn a_clients_first_recorded_customer_stays_and_a_method_is_saved_only_for_it() {
    let fx = fixture().await;
    let client = fx
        .register("payer@techcorp.com", RegistrationRole::Client)
        .await;
    let tester = fx
        .register("tester@gmail.com", RegistrationRole::Tester)
        .await;

    let first = fx
        .service
        .attach_stripe_customer(client.id, "cus_first")
        .await
        .unwrap();
    // A racing request that created another customer gets the user with the first.
    let second = fx
        .service
        .attach_stripe_customer(client.id, "cus_second")
        .await
        .unwrap();
    for user in [&first, &second] {
        assert_eq!(
            user.client_data
                .as_ref()
                .unwrap()
                .stripe_customer_id
                .as_deref(),
            Some("cus_first")
        );
    }

    // Not for another customer, not for a tester, not an unbounded id: nothing stored.
    let other = fx
        .service
        .save_default_payment_method(client.id, "cus_second", "pm_1")
        .await
        .unwrap_err();
    assert!(
        matches!(other, IdentityError::Forbidden { .. }),
        "{other:?}"
    );
    assert!(matches!(
        fx.service
            .attach_stripe_customer(tester.id, "cus_tester")
            .await,
        Err(IdentityError::Forbidden { .. })
    ));
    assert!(matches!(
        fx.service
            .save_default_payment_method(client.id, "cus_first", &"p".repeat(1_000))
            .await,
        Err(IdentityError::InvalidInput { .. })
    ));
    let unchanged = fx.service.require_user(client.id).await.unwrap();
    assert_eq!(
        unchanged.client_data.unwrap().default_payment_method_id,
        None
    );

    let saved = fx
        .service
        .save_default_payment_method(client.id, "cus_first", "pm_1")
        .await
        .unwrap();
    assert_eq!(
        saved
            .client_data
            .unwrap()
            .default_payment_method_id
            .as_deref(),
        Some("pm_1")
    );
}

#[tokio::test]
async fn a_claimed_outbox_message_is_leased_to_one_worker_until_the_lease_lapses() {
    let fx = fixture().await;
    fx.register("lease@techcorp.com", RegistrationRole::Client)
        .await;
    let lease_for = Duration::from_secs(300);
    let first = fx
        .service
        .claim_outbox_messages(10, lease_for)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].message.to, "lease@techcorp.com");
    assert_eq!(
        first[0].message.lead,
        "Open this link to confirm your email address:"
    );
    assert!(fx
        .service
        .claim_outbox_messages(10, lease_for)
        .await
        .unwrap()
        .is_empty());

    // The first worker died: once its lease lapses, another worker takes the message, and the
    // dead worker's lease can no longer record anything.
    fx.clock.advance(lease_for + Duration::from_secs(1));
    let second = fx
        .service
        .claim_outbox_messages(10, lease_for)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].lease, first[0].lease);
    assert!(!fx
        .service
        .complete_outbox_delivery(first[0].message.id, &first[0].lease)
        .await
        .unwrap());
    assert_eq!(
        fx.service
            .record_outbox_delivery_failure(first[0].message.id, &first[0].lease, "late", None)
            .await
            .unwrap(),
        identity::OutboxRetry::LeaseLost
    );
    assert!(fx
        .service
        .complete_outbox_delivery(second[0].message.id, &second[0].lease)
        .await
        .unwrap());
    assert_eq!(fx.count("outbox", doc! {}).await, 0);
}

#[tokio::test]
async fn concurrent_claims_never_hand_one_outbox_message_to_two_workers() {
    let fx = fixture().await;
    for number in 0..20 {
        fx.register(
            &format!("race{number}@techcorp.com"),
            RegistrationRole::Client,
        )
        .await;
    }
    let claims = (0..8).map(|_| {
        let service = fx.service.clone();
        tokio::spawn(async move {
            service
                .claim_outbox_messages(5, Duration::from_secs(300))
                .await
                .unwrap()
        })
    });
    let mut ids: Vec<ObjectId> = Vec::new();
    for claim in claims {
        ids.extend(
            claim
                .await
                .unwrap()
                .into_iter()
                .map(|claimed| claimed.message.id),
        );
    }
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((claimed, ids.len()), (20, 20));
}

#[tokio::test]
async fn a_failed_outbox_message_waits_for_its_retry_time_then_fails_with_the_last_error() {
    let fx = fixture().await;
    fx.register("retry@techcorp.com", RegistrationRole::Client)
        .await;
    let lease_for = Duration::from_secs(300);
    let claimed = fx
        .service
        .claim_outbox_messages(1, lease_for)
        .await
        .unwrap()
        .remove(0);
    let retry = fx
        .service
        .record_outbox_delivery_failure(
            claimed.message.id,
            &claimed.lease,
            "connection refused",
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let identity::OutboxRetry::Scheduled(at) = retry else {
        panic!("expected a retry, got {retry:?}");
    };
    assert_eq!(
        at,
        foundation::clock::add_duration(
            foundation::Clock::now(fx.clock.as_ref()),
            Duration::from_secs(60)
        )
    );
    assert!(
        fx.service
            .claim_outbox_messages(1, lease_for)
            .await
            .unwrap()
            .is_empty(),
        "not before its retry time"
    );
    fx.clock.advance(Duration::from_secs(61));
    let again = fx
        .service
        .claim_outbox_messages(1, lease_for)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.message.attempts, 1);
    assert_eq!(
        fx.service
            .record_outbox_delivery_failure(again.message.id, &again.lease, "mailbox unknown", None)
            .await
            .unwrap(),
        identity::OutboxRetry::Failed
    );
    let stored = fx
        .database
        .collection::<Document>("outbox")
        .find_one(doc! {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.get_str("status").unwrap(), "failed");
    assert_eq!(stored.get_str("last_error").unwrap(), "mailbox unknown");
    assert_eq!(stored.get_i64("attempts").unwrap(), 2);
    fx.clock.advance(Duration::from_secs(3_600));
    assert!(fx
        .service
        .claim_outbox_messages(1, lease_for)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_retry_that_would_come_after_the_link_expires_fails_the_message_instead() {
    let fx = fixture().await;
    fx.register("expiring@techcorp.com", RegistrationRole::Client)
        .await;
    let claimed = fx
        .service
        .claim_outbox_messages(1, Duration::from_secs(300))
        .await
        .unwrap()
        .remove(0);
    // The verification link lasts 24 hours; a retry in 25 would send a dead link.
    assert_eq!(
        fx.service
            .record_outbox_delivery_failure(
                claimed.message.id,
                &claimed.lease,
                "connection refused",
                Some(Duration::from_secs(25 * 3_600)),
            )
            .await
            .unwrap(),
        identity::OutboxRetry::Failed
    );
}

#[tokio::test]
async fn an_outbox_message_whose_link_expired_is_never_claimed() {
    let fx = fixture().await;
    fx.register("stale@techcorp.com", RegistrationRole::Client)
        .await;
    fx.clock.advance(Duration::from_secs(24 * 3_600 + 1));
    assert!(fx
        .service
        .claim_outbox_messages(10, Duration::from_secs(300))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn authentication_returns_the_user_and_organization_it_read_and_refuses_a_vanished_user() {
    let fx = fixture().await;
    let (owner, owner_principal) = fx
        .signed_in("lead@labs.example", RegistrationRole::Client)
        .await;
    let tokens = fx.login("lead@labs.example").await;
    let before = fx
        .service
        .authenticate_bearer_loaded(&tokens.access_token)
        .await
        .expect("valid token");
    assert_eq!(before.user.as_ref().map(|user| user.id), Some(owner.id));
    assert!(before.organization.is_none(), "no organization yet");

    let organization = fx
        .service
        .create_organization(&owner_principal, organization_input("labs"))
        .await
        .expect("organization created");
    let after = fx
        .service
        .authenticate_bearer_loaded(&tokens.access_token)
        .await
        .expect("valid token");
    assert_eq!(
        after.organization.as_ref().map(|found| found.id),
        Some(organization.id)
    );
    assert_eq!(
        after.user.and_then(|user| user.organization_id),
        Some(organization.id)
    );

    // A session whose user record is gone authenticates nobody.
    fx.database
        .collection::<Document>("users")
        .delete_one(doc! { "_id": owner.id })
        .await
        .expect("deleted");
    assert!(matches!(
        fx.service
            .authenticate_bearer_loaded(&tokens.access_token)
            .await,
        Err(IdentityError::InvalidAccessToken)
    ));
}
