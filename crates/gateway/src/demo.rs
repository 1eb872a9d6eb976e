//! Demo data for a newcomer's first run: an admin, two clients each owning an organization,
//! three qualified testers with different devices and browsers, and a marketplace to explore:
//! AI test templates (one premium), a project per client (TechCorp's with test credentials),
//! open jobs testers can claim and a draft made from a template. Seeding is idempotent: accounts
//! that exist are left as they are, and the marketplace is seeded once (when John Doe has no
//! project yet).

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
        experience_level: identity::ExperienceLevel,
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
            experience_level: identity::ExperienceLevel::Expert,
        },
    },
    DemoAccount {
        email: "li.wei@testers.dev",
        full_name: "Li Wei",
        role: DemoRole::Tester {
            devices: &["Samsung Galaxy S23", "Pixel 8"],
            browsers: &["Chrome", "Samsung Internet"],
            experience_level: identity::ExperienceLevel::Intermediate,
        },
    },
    DemoAccount {
        email: "omar.haddad@testers.dev",
        full_name: "Omar Haddad",
        role: DemoRole::Tester {
            devices: &["Windows 11 PC", "Ubuntu 22.04 laptop"],
            browsers: &["Firefox", "Edge"],
            experience_level: identity::ExperienceLevel::Beginner,
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
                    experience_level: Some(experience_level),
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
    qualify_testers(services).await?;
    seed_marketplace(services).await
}

async fn demo_user(services: &graphql::Services, email: &str) -> anyhow::Result<identity::User> {
    services
        .identity()
        .user_by_email(email)
        .await?
        .with_context(|| format!("demo account {email} is missing"))
}

fn principal_of(user: &identity::User) -> identity::Principal {
    // Seeding acts without a session; the session id only labels the principal.
    identity::Principal::User(identity::UserPrincipal {
        user_id: user.id,
        role: user.role,
        session_id: bson::oid::ObjectId::new(),
    })
}

/// Marks every demo tester qualified (what passing the qualification test will do).
async fn qualify_testers(services: &graphql::Services) -> anyhow::Result<()> {
    let admin = principal_of(&demo_user(services, "admin@peertest.io").await?);
    for account in ACCOUNTS {
        if let DemoRole::Tester { .. } = account.role {
            let tester = demo_user(services, account.email).await?;
            let qualified = tester
                .tester_data
                .as_ref()
                .and_then(|data| data.qualification_status)
                == Some(identity::QualificationStatus::Qualified);
            if !qualified {
                services
                    .identity()
                    .set_tester_qualification(
                        &admin,
                        tester.id,
                        identity::QualificationStatus::Qualified,
                        Some(85.0),
                    )
                    .await
                    .with_context(|| format!("qualifying {}", account.email))?;
            }
        }
    }
    Ok(())
}

fn template(
    name: &str,
    category: marketplace::TemplateCategory,
    scenario: &str,
    variables: &[(&str, &str)],
    steps: &[(&str, &str)],
    is_premium: bool,
) -> marketplace::NewTemplate {
    marketplace::NewTemplate {
        name: name.to_string(),
        description: format!(
            "{scenario} A reusable journey for {} products.",
            category.as_str()
        ),
        category,
        template_type: marketplace::TemplateType::UserJourney,
        journey_template: marketplace::JourneyTemplate {
            scenario: scenario.to_string(),
            variables: variables
                .iter()
                .map(|(name, example)| marketplace::TemplateVariable {
                    name: name.to_string(),
                    description: format!("The {}", name.replace('_', " ")),
                    example: example.to_string(),
                })
                .collect(),
            steps: steps
                .iter()
                .enumerate()
                .map(|(index, (action, expected))| marketplace::TemplateStep {
                    step_number: index as i32 + 1,
                    action_template: action.to_string(),
                    expected_result_template: expected.to_string(),
                })
                .collect(),
        },
        is_premium,
        openai_system_prompt: String::new(),
        enhancement_instructions: String::new(),
    }
}

/// A published-ready job; `[devices, browsers, os]` are its requirements.
fn job_details(
    project_id: bson::oid::ObjectId,
    title: &str,
    [devices, browsers, os]: [&[&str]; 3],
    seats: i32,
    cents: i64,
    steps: &[(&str, &str)],
) -> marketplace::NewJob {
    let in_three_weeks = bson::DateTime::from_millis(
        bson::DateTime::now().timestamp_millis() + 21 * 24 * 60 * 60 * 1000,
    );
    marketplace::NewJob {
        project_id,
        title: title.to_string(),
        description: format!("{title}: follow the journey and report every bug you meet."),
        test_type: marketplace::TestType::UserJourney,
        scenario: title.to_string(),
        steps: steps
            .iter()
            .map(|(action, expected)| (action.to_string(), expected.to_string()))
            .collect(),
        required_devices: devices.iter().map(|d| d.to_string()).collect(),
        required_browsers: browsers.iter().map(|b| b.to_string()).collect(),
        required_os: os.iter().map(|o| o.to_string()).collect(),
        tester_level: marketplace::TesterLevel::Any,
        max_testers: seats,
        budget_per_tester_cents: cents,
        deadline: in_three_weeks,
        estimated_duration_minutes: Some(45),
        visibility: marketplace::Visibility::Public,
        invited_tester_ids: Vec::new(),
    }
}

/// Templates, projects and jobs, once.
async fn seed_marketplace(services: &graphql::Services) -> anyhow::Result<()> {
    let market = services.marketplace();
    let john = demo_user(services, "john.doe@techcorp.com").await?;
    let johns_card = demo_payment_method(services, &john).await?;
    if !market
        .projects_by_client_ids(&[john.id], 1)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let admin = graphql::marketplace_api::access::actor_of(
        &demo_user(services, "admin@peertest.io").await?,
    );
    services
        .trust()
        .publish_question_bank(&admin, demo_question_bank())
        .await?;
    let checkout = market
        .create_template(
            &admin,
            template(
                "E-commerce checkout",
                marketplace::TemplateCategory::ECommerce,
                "A shopper buys {{product}} and pays with {{payment_method}}.",
                &[
                    ("product", "a blue kettle"),
                    ("payment_method", "a Visa card"),
                ],
                &[
                    ("Search for {{product}}", "Matching products are listed"),
                    ("Add {{product}} to the cart", "The cart shows one item"),
                    (
                        "Check out and pay with {{payment_method}}",
                        "The order is confirmed",
                    ),
                ],
                false,
            ),
        )
        .await?;
    market
        .create_template(
            &admin,
            template(
                "Accessibility audit (premium)",
                marketplace::TemplateCategory::General,
                "A screen-reader user completes {{task}}.",
                &[("task", "sign-up")],
                &[
                    (
                        "Complete {{task}} with a screen reader only",
                        "Every control is announced",
                    ),
                    (
                        "Complete {{task}} with the keyboard only",
                        "Focus is always visible",
                    ),
                ],
                true,
            ),
        )
        .await?;
    let limits = marketplace::OrganizationLimits {
        max_projects: 50,
        max_concurrent_jobs: 25,
    };
    let john_actor = graphql::marketplace_api::access::actor_of(&john);
    let storefront = market
        .create_project(
            &john_actor,
            marketplace::NewProject {
                name: "TechCorp Storefront".to_string(),
                description: "The TechCorp web shop: catalogue, cart and checkout.".to_string(),
                project_type: marketplace::ProjectType::Web,
                url: "https://staging.techcorp.example".to_string(),
                environment: marketplace::ProjectEnvironment::Staging,
                credentials: Some(marketplace::ProjectCredentials {
                    username: "qa@techcorp.example".to_string(),
                    password: "staging-only-pass".to_string(),
                    additional_info: "Use coupon TEST100 for free orders".to_string(),
                }),
                target_devices: vec!["iPhone 14 Pro".into(), "Windows 11 PC".into()],
                target_browsers: vec!["Safari".into(), "Chrome".into(), "Firefox".into()],
                target_os: vec!["iOS".into(), "Windows".into()],
            },
            limits,
        )
        .await?;
    let checkout_job = market
        .create_job(
            &john_actor,
            job_details(
                storefront.id,
                "Checkout on mobile Safari",
                [&["iPhone 14 Pro"], &["Safari"], &["iOS"]],
                3,
                4_500,
                &[
                    (
                        "Open the storefront and search for a kettle",
                        "Kettles are listed",
                    ),
                    (
                        "Add one to the cart and check out",
                        "The order is confirmed",
                    ),
                ],
            ),
        )
        .await?;
    publish_demo_job(
        services,
        &john_actor,
        checkout_job.id,
        limits,
        &john,
        &johns_card,
    )
    .await?;
    let desktop_job = market
        .create_job(
            &john_actor,
            job_details(
                storefront.id,
                "Account settings on desktop browsers",
                [&[], &["Firefox", "Edge", "Chrome"], &["Windows"]],
                2,
                3_000,
                &[
                    ("Sign in and open account settings", "Settings are shown"),
                    ("Change the display name", "The new name shows everywhere"),
                ],
            ),
        )
        .await?;
    publish_demo_job(
        services,
        &john_actor,
        desktop_job.id,
        limits,
        &john,
        &johns_card,
    )
    .await?;
    let values = std::collections::HashMap::from([
        ("product".to_string(), "a TechCorp hoodie".to_string()),
        ("payment_method".to_string(), "PayPal".to_string()),
    ]);
    market
        .create_job_from_template(
            &john_actor,
            checkout.id,
            &values,
            true,
            job_details(
                storefront.id,
                "Hoodie checkout (draft)",
                [&[], &[], &[]],
                5,
                2_500,
                &[],
            ),
        )
        .await?;
    let maria = demo_user(services, "maria.garcia@shoplane.io").await?;
    let marias_card = demo_payment_method(services, &maria).await?;
    let maria_actor = graphql::marketplace_api::access::actor_of(&maria);
    let app = market
        .create_project(
            &maria_actor,
            marketplace::NewProject {
                name: "ShopLane Android app".to_string(),
                description: "ShopLane's grocery delivery app for Android.".to_string(),
                project_type: marketplace::ProjectType::Mobile,
                url: "https://play.example/shoplane".to_string(),
                environment: marketplace::ProjectEnvironment::Production,
                credentials: None,
                target_devices: vec!["Samsung Galaxy S23".into(), "Pixel 8".into()],
                target_browsers: Vec::new(),
                target_os: vec!["Android".into()],
            },
            limits,
        )
        .await?;
    let delivery_job = market
        .create_job(
            &maria_actor,
            job_details(
                app.id,
                "Book a delivery slot",
                [&["Samsung Galaxy S23", "Pixel 8"], &[], &["Android"]],
                2,
                6_000,
                &[
                    (
                        "Fill a basket and choose a delivery slot",
                        "The slot is reserved",
                    ),
                    ("Pay and track the order", "Tracking shows the driver"),
                ],
            ),
        )
        .await?;
    publish_demo_job(
        services,
        &maria_actor,
        delivery_job.id,
        limits,
        &maria,
        &marias_card,
    )
    .await?;
    tracing::info!("seeded demo marketplace: 2 templates, 2 projects, 4 jobs");
    Ok(())
}

/// Saves a demo client's payment method through the same steps a client takes (their customer,
/// a SetupIntent, the method it set up), when the provider's SetupIntent succeeds without a
/// browser: the sandbox's does. On Stripe a card needs the client's browser (Stripe.js), so the
/// demo clients have none and their demo jobs stay drafts.
async fn demo_payment_method(
    services: &graphql::Services,
    user: &identity::User,
) -> anyhow::Result<Option<marketplace::PaymentSource>> {
    let Some(methods) = services.payment_methods() else {
        return Ok(None);
    };
    let customer = methods
        .create_customer(escrow::CreateCustomerRequest {
            idempotency_key: escrow::customer_key(user.id),
            user_id: user.id,
            email: user.email.clone(),
            name: user.full_name.clone(),
        })
        .await?;
    let user = services
        .identity()
        .attach_stripe_customer(user.id, &customer)
        .await?;
    let customer = user
        .client_data
        .and_then(|data| data.stripe_customer_id)
        .context("the demo client's customer was not recorded")?;
    let key = format!("demo:{}:setup_intent", user.id.to_hex());
    let intent = methods.create_setup_intent(customer.clone(), key).await?;
    let Ok(payment_method) = intent.saved_method_for(&customer) else {
        tracing::info!(
            status = %intent.status,
            "demo clients' SetupIntents need a browser on this provider: demo jobs stay drafts"
        );
        return Ok(None);
    };
    services
        .identity()
        .save_default_payment_method(user.id, &customer, payment_method)
        .await?;
    Ok(Some(marketplace::PaymentSource {
        payer_id: user.id,
        customer_id: customer,
        payment_method_id: payment_method.to_owned(),
    }))
}

/// Publishes a demo job charged to `card`; without one it stays a draft.
async fn publish_demo_job(
    services: &graphql::Services,
    actor: &marketplace::Actor,
    job_id: bson::oid::ObjectId,
    limits: marketplace::OrganizationLimits,
    owner: &identity::User,
    card: &Option<marketplace::PaymentSource>,
) -> anyhow::Result<()> {
    if card.is_some() {
        services
            .escrow()
            .publish_job(
                services.marketplace(),
                actor,
                job_id,
                limits,
                payer_of(owner),
                card.as_ref(),
            )
            .await?;
    }
    Ok(())
}

/// A demo client's standing for the money rules: seeded accounts are verified and active, and
/// as young as the seed, so the new-account daily limit applies to the demo jobs too.
fn payer_of(user: &identity::User) -> marketplace::PayerStanding {
    marketplace::PayerStanding {
        caller_verified: user.email_verified && user.status == identity::UserStatus::Active,
        account_created_at: user.created_at,
    }
}

/// The demo's qualification test: two multiple-choice questions, an essay and a practical task.
fn demo_question_bank() -> trust::NewQuestionBank {
    let choice = |id: &str, text: &str, choices: &[&str], correct: &str| trust::BankQuestion {
        question_id: id.into(),
        question_text: text.into(),
        question_type: trust::QuestionType::MultipleChoice,
        choices: choices.iter().map(|choice| choice.to_string()).collect(),
        correct_answer: Some(correct.into()),
        points: 10,
    };
    trust::NewQuestionBank {
        test_version: "v1.0".into(),
        questions: vec![
            choice(
                "q1",
                "What severity should a bug have that stops users from completing a purchase?",
                &["low", "medium", "critical"],
                "critical",
            ),
            choice(
                "q2",
                "Which is the most important part of a bug report?",
                &[
                    "Clear steps to reproduce",
                    "The tester's opinion",
                    "A long title",
                ],
                "Clear steps to reproduce",
            ),
            trust::BankQuestion {
                question_id: "q3".into(),
                question_text: "Describe how you would test a password reset flow.".into(),
                question_type: trust::QuestionType::Essay,
                choices: Vec::new(),
                correct_answer: None,
                points: 20,
            },
        ],
        practical_task: Some(
            "Test the sample checkout flow and document any bugs you find with screenshots.".into(),
        ),
        practical_weight: trust::DEFAULT_PRACTICAL_WEIGHT,
        passing_score: trust::DEFAULT_PASSING_SCORE,
    }
}
