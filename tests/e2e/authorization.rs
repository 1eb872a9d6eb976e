//! The authorization table: every query and mutation of the identity surface, called by each
//! kind of caller, with the outcome code each must get.
//!
//! Rows act on the demo client John's account and organization ("the user"); "another user" is
//! the other demo client, Maria, who owns a different organization. Rows are ordered so that no
//! row changes what a later row depends on (`logout` comes last), and membership rows aim at
//! changes that pass authorization and then fail on the data (removing the last owner, adding an
//! unknown address), so every column sees the same organization.

use serde_json::{json, Value};

use crate::harness::{check_table, row, TestGateway, DEMO_PASSWORD, STRONG_PASSWORD};

/// The callers, in column order.
const CALLERS: [&str; 7] = [
    "anonymous",
    "user",
    "another user",
    "tester",
    "admin",
    "read-write API key",
    "read-only API key",
];

const OK: &str = "OK";
const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
const FORBIDDEN: &str = "FORBIDDEN";
const NOT_FOUND: &str = "NOT_FOUND";
const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
const CONFLICT: &str = "CONFLICT";
const NULL: &str = "NULL";

async fn create_key(
    gateway: &TestGateway,
    owner: &str,
    organization_id: &str,
    scope: &str,
) -> Value {
    gateway
        .ok(
            Some(owner),
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }",
            json!({ "input": { "organizationId": organization_id, "name": scope, "scope": scope } }),
        )
        .await["createApiKey"]
        .clone()
}

#[tokio::test]
async fn every_operation_for_every_kind_of_caller() {
    let gateway = TestGateway::start().await;
    let (john, _) = gateway.login("john.doe@techcorp.com", DEMO_PASSWORD).await;
    let (maria, _) = gateway
        .login("maria.garcia@shoplane.io", DEMO_PASSWORD)
        .await;
    let (sarah, _) = gateway.login("sarah.tester@gmail.com", DEMO_PASSWORD).await;
    let (admin, _) = gateway.login("admin@peertest.io", DEMO_PASSWORD).await;
    let john_view = gateway
        .ok(Some(&john), "{ me { id organization { id } } }", json!({}))
        .await;
    let john_id = john_view["me"]["id"].as_str().expect("id").to_string();
    let organization_id = john_view["me"]["organization"]["id"]
        .as_str()
        .expect("organization")
        .to_string();
    let li_wei = gateway.login("li.wei@testers.dev", DEMO_PASSWORD).await.0;
    let li_wei_id = gateway.ok(Some(&li_wei), "{ me { id } }", json!({})).await["me"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let read_write_key = create_key(&gateway, &john, &organization_id, "READ_WRITE").await;
    let read_only_key = create_key(&gateway, &john, &organization_id, "READ").await;
    let spare_key_id = create_key(&gateway, &john, &organization_id, "READ").await["apiKey"]["id"]
        .as_str()
        .expect("key id")
        .to_string();
    let unknown_session_id = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .encode(format!("Session:{}", bson::oid::ObjectId::new().to_hex()))
    };
    let unknown_organization_id = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!(
            "Organization:{}",
            bson::oid::ObjectId::new().to_hex()
        ))
    };
    let credentials: [Option<String>; 7] = [
        None,
        Some(john.clone()),
        Some(maria.clone()),
        Some(sarah.clone()),
        Some(admin.clone()),
        Some(
            read_write_key["secret"]
                .as_str()
                .expect("secret")
                .to_string(),
        ),
        Some(
            read_only_key["secret"]
                .as_str()
                .expect("secret")
                .to_string(),
        ),
    ];

    let org = organization_id.clone();
    let org2 = organization_id.clone();
    let org3 = organization_id.clone();
    let org4 = organization_id.clone();
    let org5 = organization_id.clone();
    let org6 = organization_id.clone();
    let org7 = organization_id.clone();
    let li = li_wei_id.clone();
    let li2 = li_wei_id.clone();
    let john_member = john_id.clone();
    let li4 = li_wei_id.clone();
    let john_node = john_id.clone();
    let session = unknown_session_id.clone();
    let john_session = gateway
        .ok(
            Some(&john),
            "{ sessions { edges { node { id current } } } }",
            json!({}),
        )
        .await["sessions"]["edges"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|edge| edge["node"]["current"] == json!(true))
        .expect("the current session")["node"]["id"]
        .as_str()
        .expect("session id")
        .to_string();
    let spare_node = spare_key_id.clone();
    let org8 = organization_id.clone();
    let org9 = organization_id.clone();
    let spare = spare_key_id.clone();
    let rows = vec![
        row("query me", "{ me { id } }", |_| json!({}),
            [UNAUTHENTICATED, OK, OK, OK, OK, FORBIDDEN, FORBIDDEN]),
        row("query sessions", "{ sessions { totalCount } }", |_| json!({}),
            [UNAUTHENTICATED, OK, OK, OK, OK, FORBIDDEN, FORBIDDEN]),
        row("query organization", "query($id: ID!) { organization(id: $id) { slug } }",
            move |_| json!({ "id": org }),
            [UNAUTHENTICATED, OK, NOT_FOUND, NOT_FOUND, OK, OK, OK]),
        row("query organization.apiKeys", "query($id: ID!) { organization(id: $id) { apiKeys { totalCount } } }",
            move |_| json!({ "id": org2 }),
            [UNAUTHENTICATED, OK, NOT_FOUND, NOT_FOUND, OK, FORBIDDEN, FORBIDDEN]),
        // Users are found by id by themselves, admins and their organization (its keys too);
        // to anyone else the id answers like one that names nobody.
        row("query node", "query($id: ID!) { node(id: $id) { id } }",
            move |_| json!({ "id": john_node }),
            [UNAUTHENTICATED, OK, NULL, NULL, OK, OK, OK]),
        // A session answers through `node` to its owner only; an API key to its organization's
        // owners and admins and platform admins (never to keys, which cannot manage keys).
        row("query node (a session)", "query($id: ID!) { node(id: $id) { id ... on Session { current } } }",
            move |_| json!({ "id": john_session }),
            [UNAUTHENTICATED, OK, NULL, NULL, NULL, NULL, NULL]),
        row("query node (an API key)", "query($id: ID!) { node(id: $id) { id ... on ApiKey { name } } }",
            move |_| json!({ "id": spare_node }),
            [UNAUTHENTICATED, OK, NULL, NULL, OK, NULL, NULL]),
        row("query users (directory)", "{ users(first: 5) { totalCount edges { node { id } } } }",
            |_| json!({}),
            [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("query organizations (directory)", "{ organizations(first: 5) { totalCount edges { node { id } } } }",
            |_| json!({}),
            [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("field Organization.projects", "query($id: ID!) { organization(id: $id) { projects { totalCount } } }",
            move |_| json!({ "id": org8 }),
            [UNAUTHENTICATED, OK, NOT_FOUND, NOT_FOUND, OK, OK, OK]),
        row("field Organization.jobs", "query($id: ID!) { organization(id: $id) { jobs { totalCount } } }",
            move |_| json!({ "id": org9 }),
            [UNAUTHENTICATED, OK, NOT_FOUND, NOT_FOUND, OK, OK, OK]),
        row("mutation register", "mutation($input: RegisterInput!) { register(input: $input) { user { id } } }",
            |column| json!({ "input": { "email": format!("table{column}@example.com"), "password": STRONG_PASSWORD, "fullName": "Table", "role": "TESTER" } }),
            [OK, OK, OK, OK, OK, OK, FORBIDDEN]),
        row("mutation login", "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
            |_| json!({ "input": { "email": "omar.haddad@testers.dev", "password": DEMO_PASSWORD } }),
            [OK, OK, OK, OK, OK, OK, FORBIDDEN]),
        row("mutation refresh", "mutation { refresh(input: { refreshToken: \"not-a-token\" }) { accessToken } }",
            |_| json!({}),
            [UNAUTHENTICATED, UNAUTHENTICATED, UNAUTHENTICATED, UNAUTHENTICATED, UNAUTHENTICATED, UNAUTHENTICATED, FORBIDDEN]),
        row("mutation updateProfile", "mutation { updateProfile(input: { profile: { timezone: \"Europe/Paris\" } }) { user { id } } }",
            |_| json!({}),
            [UNAUTHENTICATED, OK, OK, OK, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation revokeSession", "mutation($input: RevokeSessionInput!) { revokeSession(input: $input) { ok } }",
            move |_| json!({ "input": { "sessionId": session } }),
            [UNAUTHENTICATED, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, FORBIDDEN, FORBIDDEN]),
        row("mutation verifyEmail", "mutation { verifyEmail(input: { token: \"not-a-token\" }) { user { id } } }",
            |_| json!({}),
            [BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, FORBIDDEN]),
        row("mutation resendVerificationEmail", "mutation { resendVerificationEmail(input: {}) { ok } }",
            |_| json!({}),
            [UNAUTHENTICATED, OK, OK, OK, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation requestPasswordReset", "mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { ok } }",
            |column| json!({ "input": { "email": format!("nobody{column}@example.com") } }),
            [OK, OK, OK, OK, OK, OK, FORBIDDEN]),
        row("mutation resetPassword", "mutation { resetPassword(input: { token: \"not-a-token\", newPassword: \"Brand-New-Passw0rd\" }) { ok } }",
            |_| json!({}),
            [BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, FORBIDDEN]),
        // The account operations act on the caller only; a wrong password passes authorization
        // and then fails on the data, so no row changes an account.
        row("query exportMyData", "{ exportMyData { json } }", |_| json!({}),
            [UNAUTHENTICATED, OK, OK, OK, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation changePassword", "mutation($input: ChangePasswordInput!) { changePassword(input: $input) { ok } }",
            |_| json!({ "input": { "currentPassword": "Not-The-Password-1", "newPassword": "Brand-New-Passw0rd" } }),
            [UNAUTHENTICATED, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, FORBIDDEN, FORBIDDEN]),
        row("mutation eraseMyAccount", "mutation($input: EraseMyAccountInput!) { eraseMyAccount(input: $input) { ok } }",
            |_| json!({ "input": { "password": "Not-The-Password-1" } }),
            [UNAUTHENTICATED, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, FORBIDDEN, FORBIDDEN]),
        row("mutation enrollTwoFactor", "mutation($input: EnrollTwoFactorInput!) { enrollTwoFactor(input: $input) { secret } }",
            |_| json!({ "input": { "password": DEMO_PASSWORD } }),
            [UNAUTHENTICATED, OK, OK, OK, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation confirmTwoFactor", "mutation($input: ConfirmTwoFactorInput!) { confirmTwoFactor(input: $input) { recoveryCodes } }",
            |_| json!({ "input": { "password": DEMO_PASSWORD, "code": "000000" } }),
            [UNAUTHENTICATED, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, BAD_USER_INPUT, FORBIDDEN, FORBIDDEN]),
        row("mutation disableTwoFactor", "mutation($input: DisableTwoFactorInput!) { disableTwoFactor(input: $input) { ok } }",
            |_| json!({ "input": { "password": DEMO_PASSWORD, "totpCode": "000000" } }),
            [UNAUTHENTICATED, CONFLICT, CONFLICT, CONFLICT, CONFLICT, FORBIDDEN, FORBIDDEN]),
        row("mutation suspendUser", "mutation($input: UserIdInput!) { suspendUser(input: $input) { user { status } } }",
            move |_| json!({ "input": { "userId": li } }),
            [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation reactivateUser", "mutation($input: UserIdInput!) { reactivateUser(input: $input) { user { status } } }",
            move |_| json!({ "input": { "userId": li2 } }),
            [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation createOrganization", "mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }",
            |column| json!({ "input": { "name": "Table Org", "slug": format!("table-org-{column}") } }),
            [UNAUTHENTICATED, CONFLICT, CONFLICT, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation inviteOrganizationMember", "mutation($input: InviteOrganizationMemberInput!) { inviteOrganizationMember(input: $input) { invitation { id } } }",
            { let org = org3.clone(); move |_| json!({ "input": { "organizationId": org, "email": "nobody-here@example.com" } }) },
            [UNAUTHENTICATED, OK, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation addOrganizationMember (deprecated: invites)", "mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) { organization { id } } }",
            move |_| json!({ "input": { "organizationId": org3, "email": "nobody-here@example.com" } }),
            [UNAUTHENTICATED, OK, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation removeOrganizationMember", "mutation($input: RemoveOrganizationMemberInput!) { removeOrganizationMember(input: $input) { organization { id } } }",
            move |_| json!({ "input": { "organizationId": org4, "userId": john_member } }),
            [UNAUTHENTICATED, CONFLICT, FORBIDDEN, FORBIDDEN, CONFLICT, FORBIDDEN, FORBIDDEN]),
        row("mutation changeOrganizationMemberRole", "mutation($input: ChangeOrganizationMemberRoleInput!) { changeOrganizationMemberRole(input: $input) { organization { id } } }",
            move |_| json!({ "input": { "organizationId": org5, "userId": li4, "role": "ADMIN" } }),
            [UNAUTHENTICATED, NOT_FOUND, FORBIDDEN, FORBIDDEN, NOT_FOUND, FORBIDDEN, FORBIDDEN]),
        // Re-sets the default, so later rows see the same organization.
        row("mutation updateOrganization", "mutation($input: UpdateOrganizationInput!) { updateOrganization(input: $input) { organization { id } } }",
            { let org = org6.clone(); move |_| json!({ "input": { "organizationId": org, "settings": { "requireApprovalForJobs": true } } }) },
            [UNAUTHENTICATED, OK, NOT_FOUND, NOT_FOUND, OK, FORBIDDEN, FORBIDDEN]),
        // Aimed at an organization that does not exist: only the admin gets past the guard.
        row("mutation suspendOrganization", "mutation($input: OrganizationIdInput!) { suspendOrganization(input: $input) { organization { id } } }",
            { let unknown = unknown_organization_id.clone(); move |_| json!({ "input": { "organizationId": unknown } }) },
            [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, NOT_FOUND, FORBIDDEN, FORBIDDEN]),
        row("mutation reactivateOrganization", "mutation($input: OrganizationIdInput!) { reactivateOrganization(input: $input) { organization { id } } }",
            { let unknown = unknown_organization_id.clone(); move |_| json!({ "input": { "organizationId": unknown } }) },
            [UNAUTHENTICATED, FORBIDDEN, FORBIDDEN, FORBIDDEN, NOT_FOUND, FORBIDDEN, FORBIDDEN]),
        row("mutation createApiKey", "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }",
            move |_| json!({ "input": { "organizationId": org6, "name": "table", "scope": "READ" } }),
            [UNAUTHENTICATED, OK, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("mutation revokeApiKey", "mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { id } } }",
            move |_| json!({ "input": { "apiKeyId": spare } }),
            [UNAUTHENTICATED, OK, FORBIDDEN, FORBIDDEN, OK, FORBIDDEN, FORBIDDEN]),
        row("query organization after the changes", "query($id: ID!) { organization(id: $id) { usage { memberCount } } }",
            move |_| json!({ "id": org7 }),
            [UNAUTHENTICATED, OK, NOT_FOUND, NOT_FOUND, OK, OK, OK]),
        row("mutation logout", "mutation { logout(input: {}) { ok } }", |_| json!({}),
            [UNAUTHENTICATED, OK, OK, OK, OK, FORBIDDEN, FORBIDDEN]),
    ];

    check_table(&gateway, CALLERS, &credentials, &rows).await;
    // The users' sessions ended with the `logout` row; the API key still reads.
    let members = gateway
        .ok(credentials[5].as_deref(), "query($id: ID!) { organization(id: $id) { usage { memberCount } members { totalCount } } }", json!({ "id": organization_id }))
        .await;
    assert_eq!(
        members["organization"]["usage"]["memberCount"],
        members["organization"]["members"]["totalCount"],
        "refused mutations left the organization as it was"
    );
    gateway.stop().await;
}
