//! Organization invitations over HTTP: nobody joins without accepting, the answer never tells
//! whether an address has an account, the token works only for the invited (confirmed) address,
//! expired, revoked and declined invitations stay unused, only owners and admins invite, and
//! invitations are rate limited per organization.

use std::sync::Arc;
use std::time::Duration;

use bson::doc;
use foundation::ManualClock;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::harness::{outcome, TestGateway, STRONG_PASSWORD};

const CREATE_ORGANIZATION: &str = "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }";
const INVITE: &str = "mutation($input: InviteOrganizationMemberInput!) { inviteOrganizationMember(input: $input) { invitation { id email role status organizationName invitedByName createdAt expiresAt } } }";
const ACCEPT: &str = "mutation($input: AcceptOrganizationInvitationInput!) { acceptOrganizationInvitation(input: $input) { organization { id viewerRole usage { memberCount } } } }";
const DECLINE: &str = "mutation($input: DeclineOrganizationInvitationInput!) { declineOrganizationInvitation(input: $input) { invitation { status } } }";
const REVOKE: &str = "mutation($input: RevokeOrganizationInvitationInput!) { revokeOrganizationInvitation(input: $input) { invitation { status } } }";
const ADD_MEMBER: &str = "mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) { organization { id usage { memberCount } } } }";
const ORGANIZATION: &str = "query($id: ID!) { organization(id: $id) { usage { memberCount } members(first: 50) { totalCount } invitations(first: 100) { totalCount edges { node { id email role status } } } } }";
const MY_INVITATIONS: &str = "{ me { organization { id } organizationInvitations { id email role status organizationName invitedByName expiresAt } } }";

/// A gateway whose identity clock the test moves, and an organization owned by a new client.
async fn organization_with_owner(gateway: &TestGateway, slug: &str) -> (String, String) {
    let owner = gateway
        .register_verified(&format!("owner@{slug}.io"), "CLIENT")
        .await;
    let organization = gateway
        .ok(
            Some(&owner),
            CREATE_ORGANIZATION,
            json!({ "input": { "name": format!("Org {slug}"), "slug": slug } }),
        )
        .await["createOrganization"]["organization"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    (owner, organization)
}

async fn invite(gateway: &TestGateway, bearer: &str, organization: &str, email: &str) -> Value {
    gateway
        .graphql(
            Some(bearer),
            INVITE,
            json!({ "input": { "organizationId": organization, "email": email } }),
        )
        .await
}

async fn organization_view(gateway: &TestGateway, owner: &str, organization: &str) -> Value {
    gateway
        .ok(Some(owner), ORGANIZATION, json!({ "id": organization }))
        .await["organization"]
        .clone()
}

async fn stored_invitations(gateway: &TestGateway) -> u64 {
    gateway
        .database
        .collection::<bson::Document>("organization_invitations")
        .count_documents(doc! {})
        .await
        .expect("count")
}

fn accept_variables(token: &str) -> Value {
    json!({ "input": { "token": token } })
}

#[tokio::test]
async fn an_admins_invitation_makes_no_one_a_member_until_the_invitee_accepts() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "acme").await;
    let admin = gateway.register_verified("admin@acme.io", "CLIENT").await;
    gateway
        .join_organization(&owner, &organization, &admin, "admin@acme.io", "ADMIN")
        .await;
    let invitee = gateway.register_verified("dev@example.io", "TESTER").await;

    let sent = invite(&gateway, &admin, &organization, "DEV@example.io").await;
    assert_eq!(outcome(&sent), "OK", "{sent}");
    let invitation = &sent["data"]["inviteOrganizationMember"]["invitation"];
    assert_eq!(invitation["email"], "dev@example.io");
    assert_eq!(invitation["status"], "PENDING");
    assert_eq!(invitation["role"], "MEMBER");
    assert_eq!(invitation["organizationName"], "Org acme");

    let before = organization_view(&gateway, &admin, &organization).await;
    assert_eq!(before["usage"]["memberCount"], 2, "owner and admin only");
    assert_eq!(before["members"]["totalCount"], 2);
    assert_eq!(before["invitations"]["totalCount"], 1);
    let mine = gateway.ok(Some(&invitee), MY_INVITATIONS, json!({})).await;
    assert!(mine["me"]["organization"].is_null(), "not a member yet");
    let listed = &mine["me"]["organizationInvitations"];
    assert_eq!(listed.as_array().expect("list").len(), 1);
    assert_eq!(listed[0]["organizationName"], "Org acme");
    assert_eq!(listed[0]["role"], "MEMBER");
    assert_eq!(listed[0]["invitedByName"], "Test Person");
    assert!(listed[0]["expiresAt"].is_string());
    let hidden = gateway
        .graphql(Some(&invitee), ORGANIZATION, json!({ "id": organization }))
        .await;
    assert_eq!(
        outcome(&hidden),
        "NOT_FOUND",
        "an invitee cannot read the organization yet"
    );

    let message = gateway
        .outbox_message("dev@example.io", "organization_invitation")
        .await;
    assert!(message
        .link
        .as_deref()
        .expect("link")
        .contains("/accept-invitation?token="));
    assert_eq!(
        message.user_id, None,
        "an invitation e-mail names an address, not an account"
    );
    let token = gateway
        .outbox_token("dev@example.io", "organization_invitation")
        .await;
    let stored = gateway
        .database
        .collection::<bson::Document>("organization_invitations")
        .find_one(doc! { "email": "dev@example.io" })
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        stored.get_str("token_hash").expect("hash"),
        foundation::secret::hash_token(&token),
        "only the token's hash is stored"
    );
    assert!(
        !format!("{stored:?}").contains(&token),
        "the token itself is not stored"
    );

    let accepted = gateway
        .ok(Some(&invitee), ACCEPT, accept_variables(&token))
        .await;
    let joined = &accepted["acceptOrganizationInvitation"]["organization"];
    assert_eq!(joined["viewerRole"], "MEMBER");
    assert_eq!(joined["usage"]["memberCount"], 3);
    let after = organization_view(&gateway, &admin, &organization).await;
    assert_eq!(after["members"]["totalCount"], 3);
    assert_eq!(
        after["invitations"]["totalCount"], 0,
        "an accepted invitation is no longer pending"
    );
    let mine = gateway.ok(Some(&invitee), MY_INVITATIONS, json!({})).await;
    assert_eq!(mine["me"]["organization"]["id"], organization.as_str());
    assert_eq!(mine["me"]["organizationInvitations"], json!([]));

    let again = gateway
        .graphql(Some(&invitee), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(outcome(&again), "CONFLICT", "a token works once: {again}");
    assert_eq!(
        organization_view(&gateway, &admin, &organization).await["usage"]["memberCount"],
        3
    );
    gateway.stop().await;
}

/// The answer with what necessarily differs (ids, times, the address itself) blanked.
fn normalised(mut body: Value) -> Value {
    let invitation = &mut body["data"]["inviteOrganizationMember"]["invitation"];
    for field in ["id", "createdAt", "expiresAt", "email"] {
        invitation[field] = json!("<normalised>");
    }
    body
}

#[tokio::test]
async fn invite_answers_are_identical_for_a_registered_and_an_unregistered_address() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "probe").await;
    gateway.register_verified("known@target.io", "TESTER").await;

    let known = invite(&gateway, &owner, &organization, "known@target.io").await;
    let unknown = invite(&gateway, &owner, &organization, "nobody@target.io").await;
    assert_eq!(outcome(&known), "OK", "{known}");
    assert_eq!(normalised(known.clone()), normalised(unknown.clone()));
    let fields = |body: &Value| {
        let mut names: Vec<String> = body["data"]["inviteOrganizationMember"]["invitation"]
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    };
    assert_eq!(fields(&known), fields(&unknown));

    // The e-mails differ only in their address and token; neither names an account.
    let to_known = gateway
        .outbox_message("known@target.io", "organization_invitation")
        .await;
    let to_unknown = gateway
        .outbox_message("nobody@target.io", "organization_invitation")
        .await;
    assert_eq!((to_known.user_id, to_unknown.user_id), (None, None));
    assert_eq!(to_known.subject, to_unknown.subject);
    let without_link = |message: &identity::OutboxMessage| {
        message
            .body
            .replace(message.link.as_deref().expect("link"), "<link>")
    };
    assert_eq!(without_link(&to_known), without_link(&to_unknown));

    // Bad addresses are refused the same way whoever they might belong to, and store nothing.
    let stored = stored_invitations(&gateway).await;
    for email in ["not-an-address", &format!("{}@target.io", "a".repeat(300))] {
        let refused = invite(&gateway, &owner, &organization, email).await;
        assert_eq!(outcome(&refused), "BAD_USER_INPUT");
        assert_eq!(refused["errors"][0]["extensions"]["field"], "email");
    }
    assert_eq!(stored_invitations(&gateway).await, stored);
    gateway.stop().await;
}

#[tokio::test]
async fn a_different_signed_in_user_cannot_accept_someone_elses_invitation_with_its_token() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "victim").await;
    invite(&gateway, &owner, &organization, "invited@victim.io").await;
    let token = gateway
        .outbox_token("invited@victim.io", "organization_invitation")
        .await;

    let attacker = gateway
        .register_verified("attacker@evil.io", "CLIENT")
        .await;
    let stolen = gateway
        .graphql(Some(&attacker), ACCEPT, accept_variables(&token))
        .await;
    let bogus = gateway
        .graphql(Some(&attacker), ACCEPT, accept_variables("no-such-token"))
        .await;
    assert_eq!(outcome(&stolen), "NOT_FOUND");
    assert_eq!(
        stolen["errors"][0]["message"], bogus["errors"][0]["message"],
        "a stolen token answers like a token that names nothing"
    );
    let declined = gateway
        .graphql(
            Some(&attacker),
            DECLINE,
            json!({ "input": { "token": token } }),
        )
        .await;
    assert_eq!(outcome(&declined), "NOT_FOUND", "nor can they decline it");

    // Registering the invited address is not enough: it must be confirmed.
    let unconfirmed = gateway.register("invited@victim.io", "TESTER").await;
    let refused = gateway
        .graphql(Some(&unconfirmed), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(outcome(&refused), "NOT_FOUND");
    let unconfirmed_me = gateway
        .ok(Some(&unconfirmed), MY_INVITATIONS, json!({}))
        .await;
    assert_eq!(
        unconfirmed_me["me"]["organizationInvitations"],
        json!([]),
        "an unconfirmed address lists no invitations"
    );

    let view = organization_view(&gateway, &owner, &organization).await;
    assert_eq!(view["usage"]["memberCount"], 1, "nobody joined");
    assert_eq!(view["invitations"]["edges"][0]["node"]["status"], "PENDING");
    let attacker_me = gateway.ok(Some(&attacker), MY_INVITATIONS, json!({})).await;
    assert!(attacker_me["me"]["organization"].is_null());
    assert_eq!(attacker_me["me"]["organizationInvitations"], json!([]));

    gateway.verify_email("invited@victim.io").await;
    let accepted = gateway
        .ok(Some(&unconfirmed), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(
        accepted["acceptOrganizationInvitation"]["organization"]["usage"]["memberCount"], 2,
        "the invitation still works for the person it was sent to"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn an_expired_invitation_is_refused_and_changes_nothing() {
    let clock = Arc::new(ManualClock::new(bson::DateTime::now()));
    let gateway =
        TestGateway::start_with_clocks(Arc::new(foundation::SystemClock), clock.clone(), |_| {})
            .await;
    let (owner, organization) = organization_with_owner(&gateway, "late").await;
    gateway.register_verified("slow@late.io", "TESTER").await;
    invite(&gateway, &owner, &organization, "slow@late.io").await;
    let token = gateway
        .outbox_token("slow@late.io", "organization_invitation")
        .await;

    clock.advance(Duration::from_secs(7 * 24 * 60 * 60 + 1));
    // Access tokens expired with the clock too: sign in again.
    let (invitee, _) = gateway.login("slow@late.io", STRONG_PASSWORD).await;
    let (owner, _) = gateway.login("owner@late.io", STRONG_PASSWORD).await;
    let refused = gateway
        .graphql(Some(&invitee), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(outcome(&refused), "CONFLICT");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("expired"),
        "{refused}"
    );
    let mine = gateway.ok(Some(&invitee), MY_INVITATIONS, json!({})).await;
    assert!(mine["me"]["organization"].is_null());
    assert_eq!(
        mine["me"]["organizationInvitations"],
        json!([]),
        "expired ones are not listed"
    );
    let view = organization_view(&gateway, &owner, &organization).await;
    assert_eq!(view["usage"]["memberCount"], 1);
    assert_eq!(view["invitations"]["totalCount"], 0);

    // Inviting again refreshes the same invitation with a new link that works.
    invite(&gateway, &owner, &organization, "slow@late.io").await;
    assert_eq!(stored_invitations(&gateway).await, 1);
    let fresh = gateway
        .outbox_token("slow@late.io", "organization_invitation")
        .await;
    assert_ne!(fresh, token);
    let old_link = gateway
        .graphql(Some(&invitee), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(
        outcome(&old_link),
        "NOT_FOUND",
        "a refresh kills the old link"
    );
    let accepted = gateway
        .ok(Some(&invitee), ACCEPT, accept_variables(&fresh))
        .await;
    assert_eq!(
        accepted["acceptOrganizationInvitation"]["organization"]["usage"]["memberCount"],
        2
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_revoked_invitation_cannot_be_accepted() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "revoke").await;
    let invitee = gateway.register_verified("maybe@revoke.io", "TESTER").await;
    let sent = invite(&gateway, &owner, &organization, "maybe@revoke.io").await;
    let invitation_id = sent["data"]["inviteOrganizationMember"]["invitation"]["id"].clone();
    let token = gateway
        .outbox_token("maybe@revoke.io", "organization_invitation")
        .await;

    let by_invitee = gateway
        .graphql(
            Some(&invitee),
            REVOKE,
            json!({ "input": { "invitationId": invitation_id } }),
        )
        .await;
    assert_eq!(
        outcome(&by_invitee),
        "NOT_FOUND",
        "only the organization revokes"
    );
    let revoked = gateway
        .ok(
            Some(&owner),
            REVOKE,
            json!({ "input": { "invitationId": invitation_id } }),
        )
        .await;
    assert_eq!(
        revoked["revokeOrganizationInvitation"]["invitation"]["status"],
        "REVOKED"
    );

    let refused = gateway
        .graphql(Some(&invitee), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(outcome(&refused), "CONFLICT");
    assert!(refused["errors"][0]["message"]
        .as_str()
        .expect("message")
        .contains("revoked"));
    let view = organization_view(&gateway, &owner, &organization).await;
    assert_eq!(view["usage"]["memberCount"], 1);
    assert_eq!(view["invitations"]["totalCount"], 0);
    let mine = gateway.ok(Some(&invitee), MY_INVITATIONS, json!({})).await;
    assert!(mine["me"]["organization"].is_null());
    gateway.stop().await;
}

#[tokio::test]
async fn a_declined_invitation_cannot_be_accepted_afterwards() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "nothanks").await;
    let invitee = gateway.register_verified("no@thanks.io", "TESTER").await;
    invite(&gateway, &owner, &organization, "no@thanks.io").await;
    let token = gateway
        .outbox_token("no@thanks.io", "organization_invitation")
        .await;
    let mine = gateway.ok(Some(&invitee), MY_INVITATIONS, json!({})).await;
    let invitation_id = mine["me"]["organizationInvitations"][0]["id"].clone();

    let declined = gateway
        .ok(
            Some(&invitee),
            DECLINE,
            json!({ "input": { "invitationId": invitation_id } }),
        )
        .await;
    assert_eq!(
        declined["declineOrganizationInvitation"]["invitation"]["status"],
        "DECLINED"
    );
    let refused = gateway
        .graphql(Some(&invitee), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(outcome(&refused), "CONFLICT");
    let both = gateway
        .graphql(
            Some(&invitee),
            DECLINE,
            json!({ "input": { "invitationId": invitation_id, "token": token } }),
        )
        .await;
    assert_eq!(outcome(&both), "BAD_USER_INPUT");
    assert_eq!(
        organization_view(&gateway, &owner, &organization).await["usage"]["memberCount"],
        1
    );
    gateway.stop().await;
}

#[tokio::test]
async fn plain_members_outsiders_and_api_keys_cannot_invite_and_admins_cannot_invite_owners() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "roles").await;
    let member = gateway.register_verified("member@roles.io", "CLIENT").await;
    gateway
        .join_organization(&owner, &organization, &member, "member@roles.io", "MEMBER")
        .await;
    let admin = gateway.register_verified("admin@roles.io", "CLIENT").await;
    gateway
        .join_organization(&owner, &organization, &admin, "admin@roles.io", "ADMIN")
        .await;
    let outsider = gateway
        .register_verified("outsider@else.io", "CLIENT")
        .await;
    let key = gateway
        .ok(
            Some(&owner),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
            json!({ "input": { "organizationId": organization, "name": "ci", "scope": "READ_WRITE" } }),
        )
        .await["createApiKey"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let stored = stored_invitations(&gateway).await;

    for (caller, bearer) in [
        ("member", &member),
        ("outsider", &outsider),
        ("API key", &key),
    ] {
        let refused = invite(&gateway, bearer, &organization, "friend@roles.io").await;
        assert_eq!(outcome(&refused), "FORBIDDEN", "{caller}: {refused}");
        let deprecated = gateway
            .graphql(
                Some(bearer),
                ADD_MEMBER,
                json!({ "input": { "organizationId": organization, "email": "friend@roles.io" } }),
            )
            .await;
        assert_eq!(outcome(&deprecated), "FORBIDDEN", "{caller}: {deprecated}");
    }
    let as_owner = gateway
        .graphql(
            Some(&admin),
            INVITE,
            json!({ "input": { "organizationId": organization, "email": "boss@roles.io", "role": "OWNER" } }),
        )
        .await;
    assert_eq!(
        outcome(&as_owner),
        "FORBIDDEN",
        "granting ownership needs an owner"
    );
    let listed = gateway
        .graphql(Some(&member), ORGANIZATION, json!({ "id": organization }))
        .await;
    assert_eq!(
        outcome(&listed),
        "FORBIDDEN",
        "members do not read the invitation list"
    );
    assert_eq!(
        stored_invitations(&gateway).await,
        stored,
        "nothing was stored"
    );

    let by_admin = gateway
        .graphql(
            Some(&admin),
            INVITE,
            json!({ "input": { "organizationId": organization, "email": "peer@roles.io", "role": "ADMIN" } }),
        )
        .await;
    assert_eq!(
        outcome(&by_admin),
        "OK",
        "admins invite members and admins: {by_admin}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_invitation_rate_limit_answers_rate_limited_and_stores_nothing_more() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "spam").await;
    for index in 0..50 {
        let sent = invite(
            &gateway,
            &owner,
            &organization,
            &format!("target{index}@spam.io"),
        )
        .await;
        assert_eq!(outcome(&sent), "OK", "invitation {index}: {sent}");
    }
    assert_eq!(stored_invitations(&gateway).await, 50);
    let refused = invite(&gateway, &owner, &organization, "one-more@spam.io").await;
    assert_eq!(outcome(&refused), "RATE_LIMITED");
    assert!(refused["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .is_some_and(|seconds| seconds > 0));
    // A refresh is an e-mail too, so it is refused as well.
    let refresh = invite(&gateway, &owner, &organization, "target0@spam.io").await;
    assert_eq!(outcome(&refresh), "RATE_LIMITED");
    assert_eq!(stored_invitations(&gateway).await, 50);
    let queued = gateway
        .database
        .collection::<bson::Document>("outbox")
        .count_documents(doc! { "kind": "organization_invitation" })
        .await
        .expect("count");
    assert_eq!(queued, 50, "no e-mail beyond the budget");
    gateway.stop().await;
}

#[tokio::test]
async fn the_deprecated_add_organization_member_no_longer_adds_a_member() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "legacy").await;
    let person = gateway
        .register_verified("person@legacy.io", "TESTER")
        .await;
    let person_id = gateway.ok(Some(&person), "{ me { id } }", json!({})).await["me"]["id"].clone();

    let by_id = gateway
        .graphql(
            Some(&owner),
            ADD_MEMBER,
            json!({ "input": { "organizationId": organization, "userId": person_id } }),
        )
        .await;
    assert_eq!(outcome(&by_id), "BAD_USER_INPUT");
    assert_eq!(by_id["errors"][0]["extensions"]["field"], "userId");
    assert_eq!(stored_invitations(&gateway).await, 0);

    let by_email = gateway
        .ok(
            Some(&owner),
            ADD_MEMBER,
            json!({ "input": { "organizationId": organization, "email": "person@legacy.io" } }),
        )
        .await;
    assert_eq!(
        by_email["addOrganizationMember"]["organization"]["usage"]["memberCount"], 1,
        "the organization is unchanged"
    );
    let unknown = gateway
        .ok(
            Some(&owner),
            ADD_MEMBER,
            json!({ "input": { "organizationId": organization, "email": "ghost@legacy.io" } }),
        )
        .await;
    assert_eq!(
        unknown,
        json!({ "addOrganizationMember": by_email["addOrganizationMember"].clone() }),
        "same answer for an address without an account"
    );
    let mine = gateway.ok(Some(&person), MY_INVITATIONS, json!({})).await;
    assert!(mine["me"]["organization"].is_null(), "not added");
    assert_eq!(
        mine["me"]["organizationInvitations"]
            .as_array()
            .expect("list")
            .len(),
        1,
        "invited instead"
    );

    let token = gateway
        .outbox_token("person@legacy.io", "organization_invitation")
        .await;
    gateway
        .ok(Some(&person), ACCEPT, accept_variables(&token))
        .await;
    assert_eq!(
        organization_view(&gateway, &owner, &organization).await["usage"]["memberCount"],
        2,
        "they join by accepting"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn concurrent_invitations_to_one_address_in_any_case_keep_one_pending_invitation() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "race").await;
    let answers = join_all((0..10).map(|index| {
        let email = if index % 2 == 0 {
            "Twice@Race.io"
        } else {
            "twice@race.io"
        };
        invite(&gateway, &owner, &organization, email)
    }))
    .await;
    for answer in &answers {
        assert_eq!(outcome(answer), "OK", "{answer}");
    }
    assert_eq!(
        stored_invitations(&gateway).await,
        1,
        "one pending invitation per address"
    );
    let view = organization_view(&gateway, &owner, &organization).await;
    assert_eq!(view["invitations"]["totalCount"], 1);
    assert_eq!(
        view["invitations"]["edges"][0]["node"]["email"],
        "twice@race.io"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn concurrent_acceptances_of_one_invitation_add_the_member_once() {
    let gateway = TestGateway::start().await;
    let (owner, organization) = organization_with_owner(&gateway, "twice").await;
    let invitee = gateway.register_verified("eager@twice.io", "TESTER").await;
    invite(&gateway, &owner, &organization, "eager@twice.io").await;
    let token = gateway
        .outbox_token("eager@twice.io", "organization_invitation")
        .await;
    let answers =
        join_all((0..8).map(|_| gateway.graphql(Some(&invitee), ACCEPT, accept_variables(&token))))
            .await;
    let joined = answers
        .iter()
        .filter(|answer| outcome(answer) == "OK")
        .count();
    let refused = answers
        .iter()
        .filter(|answer| outcome(answer) == "CONFLICT")
        .count();
    assert_eq!((joined, refused), (1, 7), "{answers:?}");
    let view = organization_view(&gateway, &owner, &organization).await;
    assert_eq!(view["usage"]["memberCount"], 2);
    assert_eq!(view["members"]["totalCount"], 2);
    gateway.stop().await;
}
