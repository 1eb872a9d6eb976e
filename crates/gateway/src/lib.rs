//! The PeerTest Hub gateway: turns a [`Config`] into a running HTTP server over MongoDB.
//!
//! [`start`] is the one entry point, used by the binary and by the end-to-end tests alike: it
//! starts the embedded store when no `MONGODB_URI` is given, connects through the official driver
//! (the only data path, even to the embedded store), creates every collection's indexes and
//! validators, seeds demo data when asked, and serves until [`RunningGateway::shutdown`].
//! [`start_with_clock`] is the same with the clock of money and marketplace time injected, for
//! tests that move time (dispute windows, auto-approval).

pub mod config;
pub mod demo;
#[cfg(test)]
mod deploy_files;
pub mod graphql_http;
pub mod http;
pub mod live_connections;
pub mod metrics;
pub mod notification_recipients;
pub mod secrets;
mod serve;
pub mod sse;
pub mod stripe_webhooks;
pub mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use embedded_mongo::{EmbeddedMongo, ServerConfig};
use mongodb::event::cmap::CmapEvent;
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::ClientOptions;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;

use crate::metrics::{CommandOutcome, Metrics};

/// A gateway that is serving requests.
pub struct RunningGateway {
    local_addr: SocketAddr,
    mongodb_uri: String,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    client: mongodb::Client,
    embedded: Option<EmbeddedMongo>,
    background: JoinHandle<()>,
    email_delivery: JoinHandle<()>,
    outbox_delivery: notifications::email::OutboxDelivery,
    notification_work: Vec<JoinHandle<()>>,
    grace: Duration,
    escrow: escrow::EscrowService,
    marketplace: marketplace::MarketplaceService,
    identity: identity::IdentityService,
    trust: trust::TrustService,
    notifications: notifications::NotificationService,
}

impl RunningGateway {
    /// The address the HTTP server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The connection string the gateway's driver uses (the embedded store's, when it runs one);
    /// tests use it to observe side effects through the driver.
    pub fn mongodb_uri(&self) -> &str {
        &self.mongodb_uri
    }

    /// The GraphQL endpoint's URL.
    pub fn graphql_url(&self) -> String {
        let address = self.local_addr;
        let host = if address.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            address.ip().to_string()
        };
        format!("http://{host}:{}/graphql", address.port())
    }

    /// Reveals the ratings whose 14-day window has closed (the background work does it on every
    /// tick); returns how many were revealed. For tests that move the clock.
    pub async fn reveal_due_ratings(&self) -> Result<usize, trust::TrustError> {
        self.trust.reveal_due_ratings(&self.marketplace).await
    }

    /// Runs the escrow's background work once now (auto-approvals, due transfers, reconcile), as
    /// the interval does; for tests that must not wait for the interval.
    pub async fn run_escrow_due_work(&self) -> Result<escrow::DueWorkReport, escrow::EscrowError> {
        self.escrow.run_due_work(&self.marketplace).await
    }

    /// The e-mails waiting in identity's outbox, rendered as the delivery worker will get them
    /// (the stored form keeps tokens sealed); for tests that follow a link from an e-mail.
    pub async fn pending_outbox_messages(
        &self,
    ) -> Result<Vec<identity::OutboxMessage>, identity::IdentityError> {
        self.identity.pending_outbox_messages(1_000).await
    }

    /// Runs the e-mail delivery worker once now (up to one batch of due outbox messages), as the
    /// interval does; for tests that must not wait for the interval.
    pub async fn deliver_due_emails(
        &self,
    ) -> Result<notifications::email::DeliveryReport, notifications::email::EmailError> {
        self.outbox_delivery.deliver_due().await
    }

    /// Records the deadline reminders that are due now, as the background work does; returns
    /// how many jobs were reminded about.
    pub async fn record_deadline_reminders(&self) -> Result<usize, marketplace::MarketplaceError> {
        self.marketplace.record_deadline_reminders().await
    }

    /// Turns the recorded domain events into notifications now, as the interval does; returns
    /// how many notifications were created. For tests that must not wait for the interval.
    pub async fn deliver_notifications(&self) -> Result<usize, notifications::NotificationError> {
        self.notifications.deliver_pending_events().await
    }

    /// Transfers the payouts that are due, without the reconcile that follows in
    /// [`RunningGateway::run_escrow_due_work`]; returns the payouts paid. For tests that look at
    /// what a failed transfer write leaves behind before anything repairs it.
    pub async fn release_due_payouts(&self) -> Result<Vec<escrow::Payout>, escrow::EscrowError> {
        self.escrow.release_due_payouts(&self.marketplace).await
    }

    /// Stops accepting connections, lets in-flight requests finish (up to the configured grace
    /// period), closes the driver's connections, then stops the embedded store if it runs here.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        self.background.abort();
        self.email_delivery.abort();
        for task in &self.notification_work {
            task.abort();
        }
        match tokio::time::timeout(self.grace, self.server).await {
            Ok(Ok(Ok(()))) => tracing::info!("in-flight requests drained"),
            Ok(Ok(Err(error))) => tracing::error!(error = %error, "HTTP server failed"),
            Ok(Err(error)) => tracing::error!(error = %error, "HTTP server task panicked"),
            Err(_) => tracing::warn!(
                grace_seconds = self.grace.as_secs(),
                "grace period over; closing remaining connections"
            ),
        }
        if tokio::time::timeout(Duration::from_secs(5), self.client.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("database client did not close in time");
        }
        if let Some(embedded) = self.embedded {
            embedded.shutdown().await;
            tracing::info!("embedded store stopped");
        }
    }
}

/// Starts the gateway as configured and returns once it accepts requests.
pub async fn start(config: Config) -> anyhow::Result<RunningGateway> {
    start_with_clock(config, Arc::new(foundation::SystemClock)).await
}

/// [`start`], with `clock` as the time of escrow and the marketplace (deadlines, dispute windows,
/// auto-approval, webhook signature freshness). For tests that move time with a
/// `foundation::ManualClock`; identity keeps the system clock, so tokens and sessions stay valid
/// while the test's clock jumps days ahead.
pub async fn start_with_clock(
    config: Config,
    clock: Arc<dyn foundation::Clock>,
) -> anyhow::Result<RunningGateway> {
    start_with_clocks(config, clock, Arc::new(foundation::SystemClock)).await
}

/// [`start_with_clock`], with `identity_clock` as identity's time too (token and session expiry,
/// throttling windows), for tests that cross those without sleeping.
pub async fn start_with_clocks(
    config: Config,
    clock: Arc<dyn foundation::Clock>,
    identity_clock: Arc<dyn foundation::Clock>,
) -> anyhow::Result<RunningGateway> {
    let metrics = Arc::new(Metrics::default());
    let (uri, embedded) = match &config.mongodb_uri {
        Some(uri) => (uri.clone(), None),
        None => {
            let store_dir = config.data_dir.join("store");
            std::fs::create_dir_all(&store_dir)
                .with_context(|| format!("creating {}", store_dir.display()))?;
            let server = EmbeddedMongo::start(ServerConfig {
                data_dir: Some(store_dir.clone()),
                enable_test_commands: config.embedded_test_commands,
                ..Default::default()
            })
            .await
            .with_context(|| format!("starting the embedded store in {}", store_dir.display()))?;
            tracing::info!(address = %server.local_addr(), data_dir = %store_dir.display(), "embedded store started");
            (server.uri(), Some(server))
        }
    };
    let client = connect(&uri, metrics.clone(), config.metrics_mongodb_command_names).await?;
    let database = client.database(&config.database_name);
    database
        .run_command(bson::doc! { "ping": 1 })
        .await
        .context("MongoDB did not answer ping")?;
    let secrets = secrets::Secrets::resolve(&config)?;
    let specs = identity::IdentityService::collections()
        .into_iter()
        .chain(marketplace::MarketplaceService::collections())
        .chain(escrow::EscrowService::collections())
        .chain(trust::TrustService::collections())
        .chain(notifications::NotificationService::collections());
    for spec in specs {
        foundation::ensure_collection(&database, &spec)
            .await
            .with_context(|| {
                format!(
                    "creating collection {} with its indexes and validator",
                    spec.name
                )
            })?;
    }
    let credentials_key = secrets.derived_key("marketplace/credentials");
    let mut identity_settings =
        identity::IdentitySettings::new(secrets.jwt_secret, secrets.encryption_key);
    identity_settings.public_base_url = config.public_base_url.clone();
    identity_settings.session_max_lifetime = Duration::from_secs(
        config
            .session_max_lifetime_days
            .saturating_mul(24 * 60 * 60),
    );
    identity_settings.max_concurrent_password_hashes =
        usize::try_from(config.password_hashing_concurrency).unwrap_or(usize::MAX);
    identity_settings.password_hash_wait =
        Duration::from_millis(config.password_hashing_wait_milliseconds);
    let identity =
        identity::IdentityService::new(database.clone(), identity_settings, identity_clock)
            .context("configuring the identity service")?;
    let payments = payment_provider(&config, &database)?;
    let escrow = escrow::EscrowService::new(
        database.clone(),
        escrow::EscrowSettings::default(),
        clock.clone(),
        payments.provider,
    );
    escrow
        .settings()
        .validate()
        .context("checking the escrow settings")?;
    let trust = trust::TrustService::new(&database, clock.clone());
    let mut marketplace_settings = marketplace::MarketplaceSettings::new(credentials_key);
    marketplace_settings.previous_credentials_keys =
        secrets::Secrets::previous_derived_keys(&config, "marketplace/credentials");
    marketplace_settings.money = config.money.limits()?;
    let marketplace =
        marketplace::MarketplaceService::new(database.clone(), marketplace_settings, clock.clone())
            .with_enhancer(config::enhancement_provider(config.ai.as_ref())?);
    if !config.previous_encryption_keys.is_empty() {
        let resealed = marketplace
            .reseal_credentials()
            .await
            .context("re-sealing project credentials under the current ENCRYPTION_KEY")?;
        tracing::info!(
            projects = resealed,
            "project credentials re-sealed under the current key; once a start reports 0, PREVIOUS_ENCRYPTION_KEYS can go"
        );
    }
    let background = tokio::spawn(escrow_due_work(
        escrow.clone(),
        marketplace.clone(),
        trust.clone(),
        Duration::from_secs(config.escrow_work_interval_seconds),
    ));
    let outbox_delivery = notifications::email::OutboxDelivery::new(
        identity.clone(),
        &config::email_settings(&config),
    )
    .context("configuring e-mail delivery")?;
    if outbox_delivery.mailer().writes_to_log() {
        tracing::warn!("no SMTP server configured: e-mails are written to the log");
    }
    let email_delivery = tokio::spawn(
        outbox_delivery
            .clone()
            .run(Duration::from_secs(config.email_delivery_interval_seconds)),
    );
    let notifications = notifications::NotificationService::new(
        &database,
        notifications::NotificationSettings {
            retention: Duration::from_secs(
                config
                    .notification_retention_days
                    .saturating_mul(24 * 60 * 60),
            ),
            ..Default::default()
        },
        clock.clone(),
        Arc::new(notification_recipients::IdentityRecipients {
            identity: identity.clone(),
            marketplace: marketplace.clone(),
        }),
    );
    let live = notifications::LiveNotifications::new();
    let job_changes = marketplace::JobChanges::new();
    let notification_work = vec![
        tokio::spawn(job_change_stream(marketplace.clone(), job_changes.clone())),
        tokio::spawn(notification_delivery(
            notifications.clone(),
            Duration::from_millis(config.notification_work_interval_milliseconds),
        )),
        tokio::spawn(
            live.clone()
                .run(database.clone(), config.instance_name.clone()),
        ),
    ];
    let stripe_webhooks =
        config
            .stripe_webhook_secret
            .as_ref()
            .map(|secret| stripe_webhooks::StripeWebhooks {
                secret: escrow::WebhookSecret::new(secret.clone()),
                accounts: stripe_webhooks::IdentityPayoutAccounts(identity.clone()),
            });
    let base_url = config.public_base_url.trim_end_matches('/');
    let services = graphql::Services::new(
        identity.clone(),
        marketplace.clone(),
        escrow.clone(),
        trust.clone(),
        notifications.clone(),
        live,
        job_changes,
    )
    .with_payout_onboarding(graphql::PayoutOnboarding {
        accounts: payments.accounts,
        return_url: format!("{base_url}/payouts/onboarding/done"),
        refresh_url: format!("{base_url}/payouts/onboarding/expired"),
    })
    .with_payment_methods(payments.methods);
    if config.demo_data {
        demo::seed(&services).await.context("seeding demo data")?;
    }
    let api = graphql::build_schema(
        services.clone(),
        config.schema_limits(),
        config.introspection_policy(),
        config.persisted_documents()?,
    );
    let state = Arc::new(http::AppState {
        api,
        services,
        database,
        metrics,
        trusted_proxies: config.trusted_proxies.clone(),
        stripe_webhooks,
        surface: surface(&config)?,
        live: live_connections::LiveConnections::new(
            usize::try_from(config.subscription_connections_per_user).unwrap_or(usize::MAX),
            Duration::from_secs(config.subscription_keep_alive_seconds),
        ),
    });
    let listener = tokio::net::TcpListener::bind(config.bind_addr)
        .await
        .with_context(|| format!("binding {}", config.bind_addr))?;
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = http::router(state);
    let header_read_timeout = Duration::from_secs(config.header_read_timeout_seconds);
    let server = tokio::spawn(serve::serve(listener, app, header_read_timeout, async {
        let _ = stopped.await;
    }));
    tracing::info!(address = %local_addr, "gateway listening");
    Ok(RunningGateway {
        local_addr,
        mongodb_uri: uri,
        stop,
        server,
        client,
        embedded,
        background,
        email_delivery,
        outbox_delivery,
        notification_work,
        grace: Duration::from_secs(config.shutdown_grace_seconds),
        escrow,
        marketplace,
        identity,
        trust,
        notifications,
    })
}

/// The HTTP surface's settings; production without `METRICS_TOKEN` hides `/metrics`.
fn surface(config: &Config) -> anyhow::Result<http::Surface> {
    use sha2::Digest;
    let metrics = match (&config.metrics_token, config.environment) {
        (Some(token), _) => {
            http::MetricsAccess::Token(sha2::Sha256::digest(token.as_bytes()).into())
        }
        (None, config::Environment::Development) => http::MetricsAccess::Open,
        (None, config::Environment::Production) => http::MetricsAccess::Hidden,
    };
    let allowed_origins = config
        .cors_allowed_origins
        .iter()
        .map(|origin| axum::http::HeaderValue::from_str(origin))
        .collect::<Result<Vec<_>, _>>()
        .context("CORS_ALLOWED_ORIGINS")?;
    Ok(http::Surface {
        max_body_bytes: config.max_body_bytes,
        body_read_timeout: Duration::from_secs(config.body_read_timeout_seconds),
        request_timeout: Duration::from_secs(config.request_timeout_seconds),
        allowed_origins,
        graphiql: config.graphiql_enabled(),
        metrics,
    })
}

/// Stripe when a secret key is configured (the sandbox is then never used), else the sandbox,
/// which settles instantly and says so (`provider: SANDBOX`) on every escrow it creates.
fn payment_provider(config: &Config, database: &mongodb::Database) -> anyhow::Result<Payments> {
    let Some(key) = &config.stripe_secret_key else {
        tracing::warn!("no Stripe key configured: money moves through the SANDBOX provider");
        let sandbox = Arc::new(escrow::Sandbox::new());
        return Ok(Payments {
            provider: sandbox.clone(),
            accounts: sandbox.clone(),
            methods: sandbox,
        });
    };
    let mut settings = escrow::StripeSettings::new(escrow::StripeSecretKey::new(key.clone()));
    settings.api_base = config.stripe_api_base.clone();
    let provider = Arc::new(
        escrow::StripeProvider::new(
            settings,
            Arc::new(escrow::UsersConnectedAccounts::new(database)),
        )
        .context("configuring the Stripe provider")?,
    );
    Ok(Payments {
        provider: provider.clone(),
        accounts: provider.clone(),
        methods: provider,
    })
}

/// The payment provider, its connected accounts for tester payouts and its customers and
/// SetupIntents for clients' payment methods (one object).
struct Payments {
    provider: Arc<dyn escrow::PaymentProvider>,
    accounts: Arc<dyn escrow::PayoutAccounts>,
    methods: Arc<dyn escrow::PaymentMethods>,
}

/// The escrow's background work (auto-approvals, due transfers, reconcile), the deadline
/// reminders and the reveal of ratings whose window closed, on an interval. Both keep no state and act only by
/// compare-and-set, so a restart or a second gateway running them at the same time never acts
/// twice.
async fn escrow_due_work(
    escrow: escrow::EscrowService,
    marketplace: marketplace::MarketplaceService,
    trust: trust::TrustService,
    every: Duration,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match escrow.run_due_work(&marketplace).await {
            Ok(report) => tracing::debug!(?report, "escrow due work done"),
            Err(error) => {
                tracing::error!(error = %error, "escrow due work failed; retrying next tick")
            }
        }
        match marketplace.record_deadline_reminders().await {
            Ok(reminded) => tracing::debug!(reminded, "deadline reminders recorded"),
            Err(error) => {
                tracing::error!(error = %error, "recording deadline reminders failed; retrying next tick")
            }
        }
        match trust.reveal_due_ratings(&marketplace).await {
            Ok(revealed) => tracing::debug!(revealed, "due ratings revealed"),
            Err(error) => {
                tracing::error!(error = %error, "revealing due ratings failed; retrying next tick")
            }
        }
    }
}

/// The worker turning domain events into notifications, on an interval. Events are claimed by
/// lease, so several instances running it share the work and each event is delivered once.
async fn notification_delivery(notifications: notifications::NotificationService, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match notifications.deliver_pending_events().await {
            Ok(created) if created > 0 => tracing::debug!(created, "notifications delivered"),
            Ok(_) => {}
            Err(error) => {
                tracing::error!(error = %error, "delivering notifications failed; retrying next tick")
            }
        }
    }
}

/// The instance's one change stream on jobs (`jobChanged`), reopened after a failure.
async fn job_change_stream(
    marketplace: marketplace::MarketplaceService,
    changes: marketplace::JobChanges,
) {
    loop {
        if let Err(error) = marketplace.watch_job_changes(&changes).await {
            tracing::warn!(error = %error, "jobs change stream failed; reopening");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Connects the official driver, counting every command it sends for `/metrics` (and, when
/// `names`, every command it finishes by name and outcome).
///
/// The total comes from the connection pool's checkout events: the driver checks one connection
/// out per command it sends (retries and cursor `getMore`s included) and builds those events
/// from a few scalars. Names need command monitoring, under which the driver copies every
/// command and decodes every reply into a second `Document`, so they are opt-in.
async fn connect(uri: &str, metrics: Arc<Metrics>, names: bool) -> anyhow::Result<mongodb::Client> {
    let mut options = ClientOptions::parse(uri)
        .await
        .context("parsing MONGODB_URI")?;
    options.app_name = Some("peertest-gateway".to_string());
    options.server_selection_timeout = Some(Duration::from_secs(10));
    let sent = metrics.clone();
    options.cmap_event_handler = Some(EventHandler::callback(move |event: CmapEvent| {
        if let CmapEvent::ConnectionCheckedOut(_) = event {
            sent.record_mongodb_command_sent();
        }
    }));
    if names {
        options.command_event_handler =
            Some(EventHandler::callback(
                move |event: CommandEvent| match event {
                    CommandEvent::Succeeded(event) => metrics
                        .record_mongodb_command(&event.command_name, CommandOutcome::Succeeded),
                    CommandEvent::Failed(event) => {
                        metrics.record_mongodb_command(&event.command_name, CommandOutcome::Failed)
                    }
                    _ => {}
                },
            ));
    }
    mongodb::Client::with_options(options).context("configuring the MongoDB client")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn database() -> (EmbeddedMongo, mongodb::Database) {
        let server = EmbeddedMongo::start(ServerConfig::default())
            .await
            .expect("embedded store");
        let client = mongodb::Client::with_uri_str(server.uri())
            .await
            .expect("driver");
        let database = client.database("provider_choice");
        (server, database)
    }

    #[tokio::test]
    async fn stripe_keys_select_stripe_and_the_sandbox_is_only_the_fallback() {
        let (_server, database) = database().await;
        let mut config = Config::defaults();
        let fallback = payment_provider(&config, &database).expect("sandbox");
        assert_eq!(fallback.provider.name(), escrow::ProviderName::Sandbox);
        config.stripe_secret_key = Some("sk_test_123".into());
        let stripe = payment_provider(&config, &database).expect("stripe");
        assert_eq!(stripe.provider.name(), escrow::ProviderName::Stripe);
    }
}
