//! Organizations and API keys over HTTP: creation, membership, the member limit, and a read-only
//! key that can read but never mutate.

use serde_json::json;

use crate::harness::{outcome, TestGateway, DEMO_PASSWORD};

const ORGANIZATION: &str = "query($id: ID!) { organization(id: $id) { name slug viewerRole usage { memberCount } limits { maxMembers } members(first: 50) { totalCount edges { node { role email user { fullName } } } } } }";
const INVITE: &str = "mutation($input: InviteOrganizationMemberInput!) { inviteOrganizationMember(input: $input) { invitation { id } } }";

#[tokio::test]
async fn organization_create_membership_and_member_limit() {
    let gateway = TestGateway::start().await;
    let owner = gateway.register("owner@neworg.io", "CLIENT").await;
    let created = gateway
        .ok(
            Some(&owner),
            "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id slug viewerRole usage { memberCount } limits { maxMembers } } } }",
            json!({ "input": { "name": "New Org", "slug": "new-org" } }),
        )
        .await;
    let organization = &created["createOrganization"]["organization"];
    let organization_id = organization["id"].as_str().expect("id").to_string();
    assert_eq!(organization["viewerRole"], "OWNER");
    assert_eq!(organization["usage"]["memberCount"], 1);
    let max_members = organization["limits"]["maxMembers"]
        .as_i64()
        .expect("limit");

    let second = gateway.register("second@neworg.io", "CLIENT").await;
    let taken = gateway
        .graphql(
            Some(&second),
            "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }",
            json!({ "input": { "name": "Copy", "slug": "new-org" } }),
        )
        .await;
    assert_eq!(outcome(&taken), "CONFLICT", "slugs are unique");

    let added = gateway
        .join_organization(
            &owner,
            &organization_id,
            &second,
            "second@neworg.io",
            "MEMBER",
        )
        .await;
    assert_eq!(
        added["acceptOrganizationInvitation"]["organization"]["usage"]["memberCount"],
        2
    );
    let seen_by_member = gateway
        .ok(
            Some(&second),
            ORGANIZATION,
            json!({ "id": organization_id }),
        )
        .await;
    assert_eq!(seen_by_member["organization"]["viewerRole"], "MEMBER");
    assert_eq!(seen_by_member["organization"]["members"]["totalCount"], 2);
    let outsider = gateway.register("outsider@elsewhere.io", "CLIENT").await;
    let hidden = gateway
        .graphql(
            Some(&outsider),
            ORGANIZATION,
            json!({ "id": organization_id }),
        )
        .await;
    assert_eq!(outcome(&hidden), "NOT_FOUND");
    let by_member = gateway
        .graphql(
            Some(&second),
            INVITE,
            json!({ "input": { "organizationId": organization_id, "email": "outsider@elsewhere.io" } }),
        )
        .await;
    assert_eq!(
        outcome(&by_member),
        "FORBIDDEN",
        "plain members cannot invite members"
    );

    for index in 2..max_members {
        let email = format!("filler{index}@neworg.io");
        let filler = gateway.register(&email, "TESTER").await;
        gateway
            .join_organization(&owner, &organization_id, &filler, &email, "MEMBER")
            .await;
    }
    // Inviting is free; joining a full organization is refused.
    gateway
        .ok(
            Some(&owner),
            INVITE,
            json!({ "input": { "organizationId": organization_id, "email": "outsider@elsewhere.io" } }),
        )
        .await;
    gateway.verify_email("outsider@elsewhere.io").await;
    let token = gateway
        .outbox_token("outsider@elsewhere.io", "organization_invitation")
        .await;
    let full = gateway
        .graphql(
            Some(&outsider),
            "mutation($input: AcceptOrganizationInvitationInput!) { acceptOrganizationInvitation(input: $input) { organization { id } } }",
            json!({ "input": { "token": token } }),
        )
        .await;
    assert_eq!(
        outcome(&full),
        "CONFLICT",
        "the plan's member limit is enforced"
    );
    let counted = gateway
        .ok(Some(&owner), ORGANIZATION, json!({ "id": organization_id }))
        .await;
    assert_eq!(counted["organization"]["usage"]["memberCount"], max_members);
    assert_eq!(
        counted["organization"]["members"]["totalCount"],
        max_members
    );
    gateway.stop().await;
}

#[tokio::test]
async fn read_only_api_key_reads_but_cannot_mutate() {
    let gateway = TestGateway::start().await;
    let (owner, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let me = gateway
        .ok(Some(&owner), "{ me { organization { id } } }", json!({}))
        .await;
    let organization_id = me["me"]["organization"]["id"]
        .as_str()
        .expect("the demo client owns an organization")
        .to_string();
    let created = gateway
        .ok(
            Some(&owner),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id prefix scope } } }",
            json!({ "input": { "organizationId": organization_id, "name": "dashboard", "scope": "READ" } }),
        )
        .await;
    let secret = created["createApiKey"]["secret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    assert!(secret.starts_with("ptk_"));
    assert!(secret.starts_with(
        created["createApiKey"]["apiKey"]["prefix"]
            .as_str()
            .expect("prefix")
    ));

    let read = gateway
        .ok(
            Some(&secret),
            ORGANIZATION,
            json!({ "id": organization_id }),
        )
        .await;
    assert_eq!(read["organization"]["slug"], "techcorp-qa");
    let members_before = read["organization"]["members"]["totalCount"].clone();

    let mutation = gateway
        .graphql(
            Some(&secret),
            INVITE,
            json!({ "input": { "organizationId": organization_id, "email": "li.wei@testers.dev" } }),
        )
        .await;
    assert_eq!(outcome(&mutation), "FORBIDDEN");
    let after = gateway
        .ok(Some(&owner), ORGANIZATION, json!({ "id": organization_id }))
        .await;
    assert_eq!(
        after["organization"]["members"]["totalCount"],
        members_before
    );

    let listed = gateway
        .ok(
            Some(&owner),
            "query($id: ID!) { organization(id: $id) { apiKeys { totalCount edges { node { name lastUsedAt revokedAt } } } } }",
            json!({ "id": organization_id }),
        )
        .await;
    assert_eq!(listed["organization"]["apiKeys"]["totalCount"], 1);
    assert!(
        listed["organization"]["apiKeys"]["edges"][0]["node"]["lastUsedAt"].is_string(),
        "last use is recorded"
    );

    let key_id = created["createApiKey"]["apiKey"]["id"].clone();
    gateway
        .ok(
            Some(&owner),
            "mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { revokedAt } } }",
            json!({ "input": { "apiKeyId": key_id } }),
        )
        .await;
    let revoked = gateway
        .graphql(
            Some(&secret),
            ORGANIZATION,
            json!({ "id": organization_id }),
        )
        .await;
    assert_eq!(outcome(&revoked), "UNAUTHENTICATED");
    gateway.stop().await;
}

/// A client outside any organization gets the limits of their plan (`membership_tier`, set by
/// billing): three projects on `starter`, twenty on `pro`, and `membershipTier` reads it back.
#[tokio::test]
async fn an_individual_clients_plan_decides_how_many_projects_they_may_have() {
    let gateway = TestGateway::start().await;
    let client = gateway
        .register_verified("solo.client@example.com", "CLIENT")
        .await;
    let create =
        "mutation($input: CreateProjectInput!) { createProject(input: $input) { project { id } } }";
    let project = |n: usize| json!({ "input": { "name": format!("Plan project {n}") } });
    for n in 0..3 {
        gateway.ok(Some(&client), create, project(n)).await;
    }
    let refused = gateway.graphql(Some(&client), create, project(3)).await;
    assert_eq!(outcome(&refused), "CONFLICT", "{refused}");

    // Billing moves the client to `pro` (it writes the seed's field; the API offers no way to).
    let id = crate::batching::own_id(&gateway, &client).await;
    gateway
        .database
        .collection::<bson::Document>("users")
        .update_one(
            bson::doc! { "_id": id },
            bson::doc! { "$set": { "client_data.membership_tier": "pro" } },
        )
        .await
        .expect("plan changed");
    gateway.ok(Some(&client), create, project(3)).await;
    let tier = gateway
        .ok(
            Some(&client),
            "{ me { clientData { membershipTier } } }",
            json!({}),
        )
        .await;
    assert_eq!(tier["me"]["clientData"]["membershipTier"], "pro");
    gateway.stop().await;
}
