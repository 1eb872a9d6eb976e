//! Demo data for a newcomer's first run: an admin, two clients each owning an organization, and
//! three testers with different devices and browsers. Seeding is idempotent: accounts that exist
//! are left as they are.
//!
//! Projects and test templates are owned by the marketplace issue and will be seeded there.

use anyhow::Context;

/// The password of every demo account (shown in the start-up banner and the README).
pub const DEMO_PASSWORD: &str = "PeerTest-demo-2024";

/// The demo account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoRole {
    /// Operates the platform.
    Admin,
    /// Posts jobs; owns the given organization.
    Client {
        /// Organization name.
        organization: &'static str,
        /// Organization slug.
        slug: &'static str,
        /// Company name in the client profile.
        company: &'static str,
    },
    /// Takes jobs with these devices and browsers.
    Tester {
        /// Devices the tester owns.
        devices: &'static [&'static str],
        /// Browsers the tester uses.
        browsers: &'static [&'static str],
        /// Experience level.
        experience_level: &'static str,
    },
}

/// One demo account.
#[derive(Debug, Clone, Copy)]
pub struct DemoAccount {
    /// Login email.
    pub email: &'static str,
    /// Display name.
    pub full_name: &'static str,
    /// Role and role-specific data.
    pub role: DemoRole,
}

impl DemoAccount {
    /// `admin`, `client` or `tester`, for the banner.
    pub fn role_label(&self) -> &'static str {
        match self.role {
            DemoRole::Admin => "admin",
            DemoRole::Client { .. } => "client",
            DemoRole::Tester { .. } => "tester",
        }
    }
}

/// Every demo account, in the order the banner lists them.
pub const ACCOUNTS: &[DemoAccount] = &[
    DemoAccount {
        email: "admin@peertest.io",
        full_name: "PeerTest Admin",
        role: DemoRole::Admin,
    },
    DemoAccount {
        email: "john.doe@techcorp.com",
        full_name: "John Doe",
        role: DemoRole::Client {
            organization: "TechCorp QA Team",
            slug: "techcorp-qa",
            company: "TechCorp Inc.",
        },
    },
    DemoAccount {
        email: "maria.garcia@shoplane.io",
        full_name: "Maria Garcia",
        role: DemoRole::Client {
            organization: "ShopLane Engineering",
            slug: "shoplane",
            company: "ShopLane Ltd.",
        },
    },
    DemoAccount {
        email: "sarah.tester@gmail.com",
        full_name: "Sarah Johnson",
        role: DemoRole::Tester {
            devices: &["iPhone 14 Pro", "iPad Air", "MacBook Pro"],
            browsers: &["Safari", "Chrome"],
            experience_level: "expert",
        },
    },
    DemoAccount {
        email: "li.wei@testers.dev",
        full_name: "Li Wei",
        role: DemoRole::Tester {
            devices: &["Samsung Galaxy S23", "Pixel 8"],
            browsers: &["Chrome", "Samsung Internet"],
            experience_level: "intermediate",
        },
    },
    DemoAccount {
        email: "omar.haddad@testers.dev",
        full_name: "Omar Haddad",
        role: DemoRole::Tester {
            devices: &["Windows 11 PC", "Ubuntu 22.04 laptop"],
            browsers: &["Firefox", "Edge"],
            experience_level: "beginner",
        },
    },
];

/// Creates every demo account (and each client's organization) that does not exist yet.
pub async fn seed(services: &graphql::Services) -> anyhow::Result<()> {
    let identity = services.identity();
    for account in ACCOUNTS {
        if identity
            .user_by_email(account.email)
            .await
            .with_context(|| format!("looking up {}", account.email))?
            .is_some()
        {
            continue;
        }
        let (role, client_data, tester_data) = match account.role {
            DemoRole::Admin => (identity::Role::Admin, None, None),
            DemoRole::Client { company, .. } => (
                identity::Role::Client,
                Some(identity::ClientDataUpdate {
                    company_name: Some(company.to_string()),
                    industry: Some("SaaS".to_string()),
                    team_size: Some("11-50".to_string()),
                    ..Default::default()
                }),
                None,
            ),
            DemoRole::Tester {
                devices,
                browsers,
                experience_level,
            } => (
                identity::Role::Tester,
                None,
                Some(identity::TesterDataUpdate {
                    specializations: Some(vec!["web".to_string(), "mobile".to_string()]),
                    experience_level: Some(experience_level.to_string()),
                    devices: Some(devices.iter().map(|device| device.to_string()).collect()),
                    browsers: Some(browsers.iter().map(|browser| browser.to_string()).collect()),
                    ..Default::default()
                }),
            ),
        };
        let user = identity
            .provision_user(identity::ProvisionUserInput {
                email: account.email.to_string(),
                password: DEMO_PASSWORD.to_string(),
                full_name: account.full_name.to_string(),
                role,
                profile: None,
                client_data,
                tester_data,
            })
            .await
            .with_context(|| format!("creating {}", account.email))?;
        if let DemoRole::Client {
            organization, slug, ..
        } = account.role
        {
            // Seeding acts as the new client, who has no session yet; the session id only labels
            // the principal and is never looked up by organization creation.
            let owner = identity::Principal::User(identity::UserPrincipal {
                user_id: user.id,
                role: user.role,
                session_id: bson::oid::ObjectId::new(),
            });
            identity
                .create_organization(
                    &owner,
                    identity::CreateOrganizationInput {
                        name: organization.to_string(),
                        slug: slug.to_string(),
                        description: None,
                        website: None,
                        industry: Some("SaaS".to_string()),
                        size: Some("11-50".to_string()),
                        plan: identity::OrganizationPlan::Team,
                        billing_email: None,
                    },
                )
                .await
                .with_context(|| format!("creating organization {slug}"))?;
        }
        tracing::info!(email = account.email, "seeded demo account");
    }
    Ok(())
}
