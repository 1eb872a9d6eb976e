//! The gateway's one typed configuration: read from an optional TOML file, then from the
//! environment, with unknown file keys rejected.
//!
//! Every key is a field of [`Config`]; its TOML spelling is the field name (`bind_addr`) and its
//! environment spelling is the same name upper-cased (`BIND_ADDR`). Keys of a section are written
//! in the section's TOML table (`[ai]` then `base_url = ...`) and in the environment with the
//! section's name in front (`AI_BASE_URL`). The environment wins over the file so a deployment can
//! override one value without editing the file. `.env.sample` and the README list every key; a
//! unit test keeps [`KEYS`] and `.env.sample` in step.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use marketplace::{EnhancementProvider, OpenAiCompatible, PassThrough};
use serde::Deserialize;

/// Where the gateway runs; production refuses the conveniences meant for a laptop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Secrets may be generated and kept in the data directory; the embedded store is allowed.
    Development,
    /// `JWT_SECRET`, `ENCRYPTION_KEY` and `MONGODB_URI` are required; demo data is refused.
    Production,
}

/// Who may introspect the schema (`GRAPHQL_INTROSPECTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrospectionSetting {
    /// Every caller.
    Everyone,
    /// Partner API keys with the `INTROSPECT` scope.
    IntrospectKeys,
    /// Nobody.
    Nobody,
}

/// Who must send registered documents (`GRAPHQL_TRUSTED_DOCUMENTS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustedDocumentsSetting {
    /// Any caller may send any document.
    Off,
    /// Users and anonymous callers only the manifest's documents; API keys any.
    FirstParty,
}

/// How log lines are written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// The whole configuration of a gateway process. Its `Debug` output redacts every secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port the HTTP server listens on. Port 0 picks a free port.
    #[serde(default = "default_bind_addr")]
    pub bind_addr: SocketAddr,
    /// Connection string of a real MongoDB (a replica set in production). Unset: the gateway
    /// starts the embedded store in-process, persisting to `data_dir`.
    #[serde(default)]
    pub mongodb_uri: Option<String>,
    /// Directory for the embedded store's files and, in development, the generated secrets.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Name of the MongoDB database holding every collection.
    #[serde(default = "default_database_name")]
    pub database_name: String,
    /// `development` or `production`.
    #[serde(default = "default_environment")]
    pub environment: Environment,
    /// Secret that signs access tokens (HS256), at least 32 characters. Unset in development: one
    /// is generated once and kept in `<data_dir>/jwt_secret`.
    #[serde(default)]
    pub jwt_secret: Option<String>,
    /// Key that encrypts two-factor secrets at rest: 64 hex characters (32 bytes). Unset in
    /// development: one is generated once and kept in `<data_dir>/encryption_key`.
    #[serde(default)]
    pub encryption_key: Option<String>,
    /// Keys `ENCRYPTION_KEY` replaced (64 hex characters each, comma-separated): project
    /// credentials sealed under them still open, and are re-sealed under the current key at
    /// start-up. Drop them once the start-up log reports nothing left to re-seal.
    #[serde(default)]
    pub previous_encryption_keys: Vec<String>,
    /// Base URL of the web front end; links in verification and password-reset e-mails start
    /// with it.
    #[serde(default = "default_public_base_url")]
    pub public_base_url: String,
    /// Seed the demo users and organizations at start-up (idempotent). `--demo` sets it.
    #[serde(default)]
    pub demo_data: bool,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
    /// Which log lines to keep, in `tracing`'s env-filter syntax (`info`, `gateway=debug`).
    #[serde(default = "default_log_filter")]
    pub log_filter: String,
    /// Addresses of reverse proxies whose `x-forwarded-for` header is believed. Empty: the client
    /// address is always the socket's peer.
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Deepest selection set a query may nest.
    #[serde(default = "default_graphql_max_depth")]
    pub graphql_max_depth: usize,
    /// Highest complexity (roughly, number of fields resolved) a query may have.
    #[serde(default = "default_graphql_max_complexity")]
    pub graphql_max_complexity: usize,
    /// Longest GraphQL query text, in bytes.
    #[serde(default = "default_graphql_max_query_bytes")]
    pub graphql_max_query_bytes: usize,
    /// Most lexical tokens in one GraphQL query.
    #[serde(default = "default_graphql_max_tokens")]
    pub graphql_max_tokens: usize,
    /// Most root fields (`__typename` and aliases included) one operation may select.
    #[serde(default = "default_graphql_max_root_fields")]
    pub graphql_max_root_fields: usize,
    /// Most aliased fields one document may hold.
    #[serde(default = "default_graphql_max_aliases")]
    pub graphql_max_aliases: usize,
    /// Complexity a signed-in user may spend per minute (also their largest burst).
    #[serde(default = "default_graphql_cost_per_minute_user")]
    pub graphql_cost_per_minute_user: u32,
    /// Complexity an anonymous caller may spend per minute, per client address.
    #[serde(default = "default_graphql_cost_per_minute_address")]
    pub graphql_cost_per_minute_address: u32,
    /// Complexity an API key of a `team` organization may spend per minute.
    #[serde(default = "default_graphql_cost_per_minute_team_key")]
    pub graphql_cost_per_minute_team_key: u32,
    /// Complexity an API key of an `enterprise` organization may spend per minute.
    #[serde(default = "default_graphql_cost_per_minute_enterprise_key")]
    pub graphql_cost_per_minute_enterprise_key: u32,
    /// Memory for parsed and validated documents kept by hash, in bytes; 0 keeps none.
    #[serde(default = "default_graphql_document_cache_bytes")]
    pub graphql_document_cache_bytes: usize,
    /// Who may introspect the schema: `everyone`, `introspect_keys` (API keys with the
    /// `INTROSPECT` scope) or `nobody`. Unset: `everyone` in development, `introspect_keys` in
    /// production.
    #[serde(default)]
    pub graphql_introspection: Option<IntrospectionSetting>,
    /// `first_party`: users and anonymous callers may only run the documents of
    /// `GRAPHQL_TRUSTED_DOCUMENTS_FILE`; API keys any. `off` (default): any caller any document.
    #[serde(default)]
    pub graphql_trusted_documents: Option<TrustedDocumentsSetting>,
    /// The trusted-documents manifest written when the single-page app is built: a JSON object
    /// of SHA-256 hash (hex) to document text. Its documents also answer APQ lookups.
    #[serde(default)]
    pub graphql_trusted_documents_file: Option<PathBuf>,
    /// Serve the GraphiQL IDE on `GET /graphql` to browsers. Unset: on in development, off in
    /// production.
    #[serde(default)]
    pub graphiql: Option<bool>,
    /// Bearer token `GET /metrics` requires (at least 32 characters; a secret, never logged).
    /// Unset: `/metrics` is open in development and answers 404 in production.
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// Also count MongoDB commands by name and outcome in `/metrics`
    /// (`mongodb_commands_by_name_total`). Off by default: the driver can only report names
    /// through its command monitoring, which copies every command and decodes every reply a
    /// second time (a fifth of the gateway's CPU on a large answer). The total
    /// (`mongodb_commands_total`) is always counted, at no such cost.
    #[serde(default)]
    pub metrics_mongodb_command_names: bool,
    /// Largest request body `/graphql` accepts, in bytes; larger ones get 413 before they are
    /// read.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Seconds a client has to send a request's headers before the connection is closed.
    #[serde(default = "default_header_read_timeout_seconds")]
    pub header_read_timeout_seconds: u64,
    /// Seconds a client has to send a request's body.
    #[serde(default = "default_body_read_timeout_seconds")]
    pub body_read_timeout_seconds: u64,
    /// Seconds one HTTP request may take, body read included; then it is answered 408.
    #[serde(default = "default_request_timeout_seconds")]
    pub request_timeout_seconds: u64,
    /// Browser origins (`https://app.example.com`) allowed to call `/graphql` across sites
    /// (CORS) and to open `/graphql/ws`. Empty: no cross-site browser access.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
    /// Seconds a shutdown waits for in-flight requests before closing their connections.
    #[serde(default = "default_shutdown_grace_seconds")]
    pub shutdown_grace_seconds: u64,
    /// Seconds between runs of the escrow's background work (auto-approvals, due transfers,
    /// reconcile).
    #[serde(default = "default_escrow_work_interval_seconds")]
    pub escrow_work_interval_seconds: u64,
    /// Days a notification is kept before MongoDB's TTL index removes it.
    #[serde(default = "default_notification_retention_days")]
    pub notification_retention_days: u64,
    /// Milliseconds between passes of the worker that turns domain events into notifications.
    #[serde(default = "default_notification_work_interval_milliseconds")]
    pub notification_work_interval_milliseconds: u64,
    /// This instance's name: its notifications change stream's resume token is kept under it,
    /// so a restarted instance resumes where it stopped. Give each instance its own.
    #[serde(default = "default_instance_name")]
    pub instance_name: String,
    /// Most live-subscription connections (WebSocket and SSE together) one user holds open on
    /// this instance.
    #[serde(default = "default_subscription_connections_per_user")]
    pub subscription_connections_per_user: u64,
    /// Seconds between keep-alive pings on live-subscription connections.
    #[serde(default = "default_subscription_keep_alive_seconds")]
    pub subscription_keep_alive_seconds: u64,
    /// Days a sign-in session lasts from its login, however often its refresh token is rotated;
    /// then the user signs in again.
    #[serde(default = "default_session_max_lifetime_days")]
    pub session_max_lifetime_days: u64,
    /// Most password hashes (argon2id, 19 MiB each) computed at once, which bounds the memory a
    /// burst of logins can take.
    #[serde(default = "default_password_hashing_concurrency")]
    pub password_hashing_concurrency: u64,
    /// Milliseconds a login or registration waits for a hashing slot before it is refused with
    /// 429 and `Retry-After`.
    #[serde(default = "default_password_hashing_wait_milliseconds")]
    pub password_hashing_wait_milliseconds: u64,
    /// Stripe secret key. Set: money moves through Stripe and the sandbox is never used. Unset:
    /// the sandbox settles instantly and every escrow says `provider: SANDBOX`.
    #[serde(default)]
    pub stripe_secret_key: Option<String>,
    /// Stripe's API base URL (a test double's in tests).
    #[serde(default = "default_stripe_api_base")]
    pub stripe_api_base: String,
    /// The signing secret (`whsec_…`) of the Stripe webhook endpoint `POST /webhooks/stripe`.
    /// Set: Stripe's events are verified with it and applied (payments, refunds, transfers,
    /// connected accounts). Unset: the endpoint answers 404. A secret: never logged.
    #[serde(default)]
    pub stripe_webhook_secret: Option<String>,
    /// Test only: start the embedded store with MongoDB's test commands (`configureFailPoint`),
    /// so end-to-end tests can make a database write fail. Refused in production and with
    /// `MONGODB_URI`.
    #[serde(default)]
    pub embedded_test_commands: bool,
    /// `sandbox` or `stripe`. Unset: Stripe when `STRIPE_SECRET_KEY` is set, else the sandbox,
    /// except in production, which refuses to start without Stripe keys unless `sandbox` is
    /// chosen here explicitly (so a forgotten key can never mean money that is not real).
    #[serde(default)]
    pub payment_provider: Option<PaymentProviderChoice>,
    /// The money limits every publish is held to (`[money]`, `MONEY_*`).
    #[serde(default)]
    pub money: MoneyConfig,
    /// The AI provider that enhances journeys and submission summaries (`[ai]`). Unset:
    /// enhancement returns the text unchanged and says no AI provider is configured.
    #[serde(default)]
    pub ai: Option<AiConfig>,
    /// The `From` of every e-mail the platform sends, as `Name <address>` or an address.
    #[serde(default = "default_email_from")]
    pub email_from: String,
    /// Seconds between runs of the e-mail delivery worker (outbox: verification, password reset,
    /// invitations, security notices).
    #[serde(default = "default_email_delivery_interval_seconds")]
    pub email_delivery_interval_seconds: u64,
    /// The SMTP server e-mails go through (`[smtp]`). Unset: every e-mail is written to the log
    /// (subject and link), which development uses and production refuses.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
}

/// How the SMTP connection is secured (`SMTP_SECURITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurityChoice {
    /// STARTTLS, required (port 587 by default).
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
    /// No encryption, for a local relay or test server (port 25 by default); never with
    /// credentials.
    Plain,
}

/// An SMTP server (`[smtp]` in the file, `SMTP_*` in the environment). Setting any of its keys
/// requires `host`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name (checked against the server's certificate) or address.
    pub host: String,
    /// Port. Unset: 587, 465 or 25 after `security`.
    #[serde(default)]
    pub port: Option<u16>,
    /// `starttls` (default), `tls` or `plain`.
    #[serde(default = "default_smtp_security")]
    pub security: SmtpSecurityChoice,
    /// User name for authentication, with `password`.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for authentication. A secret: never logged, `Debug` shows it redacted.
    #[serde(default)]
    pub password: Option<String>,
    /// Seconds one message may take to send before the attempt fails and is retried (1-120).
    #[serde(default = "default_smtp_timeout_seconds")]
    pub timeout_seconds: u64,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

impl SmtpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_string()));
        if self.host.trim().is_empty() {
            return invalid("SMTP_HOST must not be empty");
        }
        if self.port == Some(0) {
            return invalid("SMTP_PORT must be between 1 and 65535");
        }
        if self.username.is_some() != self.password.is_some() {
            return invalid("SMTP_USERNAME and SMTP_PASSWORD go together");
        }
        if self.security == SmtpSecurityChoice::Plain && self.password.is_some() {
            return invalid(
                "SMTP_SECURITY=plain would send SMTP_PASSWORD unencrypted; use starttls or tls",
            );
        }
        if !(1..=120).contains(&self.timeout_seconds) {
            return invalid("SMTP_TIMEOUT_SECONDS must be between 1 and 120");
        }
        Ok(())
    }
}

/// The e-mail delivery settings for `config`: SMTP when `[smtp]` is set, else the log.
pub fn email_settings(config: &Config) -> notifications::email::EmailSettings {
    use notifications::email::{SmtpPassword, SmtpSecurity, SmtpSettings};
    let mut settings = notifications::email::EmailSettings::new(
        config.email_from.clone(),
        config.public_base_url.clone(),
    );
    settings.smtp = config.smtp.as_ref().map(|smtp| {
        let security = match smtp.security {
            SmtpSecurityChoice::Starttls => SmtpSecurity::StartTls,
            SmtpSecurityChoice::Tls => SmtpSecurity::Tls,
            SmtpSecurityChoice::Plain => SmtpSecurity::Plain,
        };
        SmtpSettings {
            host: smtp.host.clone(),
            port: smtp.port.unwrap_or_else(|| security.default_port()),
            security,
            username: smtp.username.clone(),
            password: smtp.password.clone().map(SmtpPassword::new),
            timeout: Duration::from_secs(smtp.timeout_seconds),
        }
    });
    settings
}

/// Which payment provider moves money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentProviderChoice {
    /// Settles instantly and moves no real money (development, demos, staging).
    Sandbox,
    /// Stripe, with `STRIPE_SECRET_KEY`.
    Stripe,
}

/// The money limits (`[money]` in the file, `MONEY_*` in the environment); amounts are US cents.
/// They become marketplace's `MoneyLimits`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyConfig {
    /// Seats one job may have (default 100).
    #[serde(default = "default_max_seats_per_job")]
    pub max_seats_per_job: u32,
    /// The most one job's total budget may be (default 5,000,000 = $50,000).
    #[serde(default = "default_max_job_budget_cents")]
    pub max_job_budget_cents: u64,
    /// The most an organization (or a client without one) may have committed to published jobs
    /// not yet completed or cancelled (default 25,000,000 = $250,000).
    #[serde(default = "default_max_account_committed_cents")]
    pub max_account_committed_cents: u64,
    /// Accounts younger than this many days are new (default 30).
    #[serde(default = "default_new_account_days")]
    pub new_account_days: u64,
    /// What a new account may fund per UTC day (default 1,000,000 = $10,000).
    #[serde(default = "default_new_account_daily_funding_cents")]
    pub new_account_daily_funding_cents: u64,
}

impl Default for MoneyConfig {
    fn default() -> Self {
        Self {
            max_seats_per_job: default_max_seats_per_job(),
            max_job_budget_cents: default_max_job_budget_cents(),
            max_account_committed_cents: default_max_account_committed_cents(),
            new_account_days: default_new_account_days(),
            new_account_daily_funding_cents: default_new_account_daily_funding_cents(),
        }
    }
}

/// Amounts above this many cents ($10 billion) are refused: far beyond any job, and far from
/// where sums of them could overflow.
const MAX_CONFIGURED_CENTS: u64 = 1_000_000_000_000;

impl MoneyConfig {
    /// The marketplace's limits, or why these are not usable.
    pub fn limits(&self) -> Result<marketplace::MoneyLimits, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid(message);
        if self.max_seats_per_job == 0 || self.max_seats_per_job > 10_000 {
            return Err(invalid("MONEY_MAX_SEATS_PER_JOB must be 1 to 10000".into()));
        }
        for (name, value) in [
            ("MONEY_MAX_JOB_BUDGET_CENTS", self.max_job_budget_cents),
            (
                "MONEY_MAX_ACCOUNT_COMMITTED_CENTS",
                self.max_account_committed_cents,
            ),
            (
                "MONEY_NEW_ACCOUNT_DAILY_FUNDING_CENTS",
                self.new_account_daily_funding_cents,
            ),
        ] {
            if value == 0 || value > MAX_CONFIGURED_CENTS {
                return Err(invalid(format!(
                    "{name} must be 1 to {MAX_CONFIGURED_CENTS}"
                )));
            }
        }
        if self.new_account_days > 3_650 {
            return Err(invalid(
                "MONEY_NEW_ACCOUNT_DAYS must be at most 3650".into(),
            ));
        }
        let limits = marketplace::MoneyLimits {
            max_seats_per_job: self.max_seats_per_job as i32,
            max_job_budget_cents: self.max_job_budget_cents as i64,
            max_account_committed_cents: self.max_account_committed_cents as i64,
            new_account_age: Duration::from_secs(self.new_account_days * 86_400),
            new_account_daily_funding_cents: self.new_account_daily_funding_cents as i64,
        };
        limits
            .validate()
            .map_err(|reason| invalid(format!("[money]: {reason}")))?;
        Ok(limits)
    }
}

fn default_max_seats_per_job() -> u32 {
    100
}
fn default_max_job_budget_cents() -> u64 {
    5_000_000
}
fn default_max_account_committed_cents() -> u64 {
    25_000_000
}
fn default_new_account_days() -> u64 {
    30
}
fn default_new_account_daily_funding_cents() -> u64 {
    1_000_000
}

/// An OpenAI-compatible chat-completions API (`[ai]` in the file, `AI_*` in the environment).
/// Setting any of its keys requires `base_url`, `model` and `api_key`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiConfig {
    /// Base URL of the API, e.g. `https://api.openai.com/v1`; requests go to
    /// `<base_url>/chat/completions`. Production accepts plain `http` only on the loopback
    /// interface, because the key travels with every request.
    pub base_url: String,
    /// Model named in every request, e.g. `gpt-4o-mini`.
    pub model: String,
    /// Bearer key for the API. A secret: `Debug` output shows it redacted.
    pub api_key: String,
    /// Seconds one enhancement may take, reply included, before it fails as unavailable (1-300).
    #[serde(default = "default_ai_timeout_seconds")]
    pub timeout_seconds: u64,
}

impl std::fmt::Debug for AiConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &"<redacted>")
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

/// The enhancement provider the marketplace should use: [`OpenAiCompatible`] when `[ai]` is
/// configured, else [`PassThrough`]. Hand it to `MarketplaceService::with_enhancer`.
pub fn enhancement_provider(
    ai: Option<&AiConfig>,
) -> Result<Arc<dyn EnhancementProvider>, ConfigError> {
    let Some(ai) = ai else {
        return Ok(Arc::new(PassThrough));
    };
    let provider = OpenAiCompatible::new(
        &ai.base_url,
        ai.model.clone(),
        ai.api_key.clone(),
        Duration::from_secs(ai.timeout_seconds),
    )
    .map_err(|error| ConfigError::Invalid(format!("[ai]: {error}")))?;
    Ok(Arc::new(provider))
}

impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Config")
            .field("bind_addr", &self.bind_addr)
            .field(
                "mongodb_uri",
                &self
                    .mongodb_uri
                    .as_ref()
                    .map(|_| "<set, may hold credentials>"),
            )
            .field("data_dir", &self.data_dir)
            .field("database_name", &self.database_name)
            .field("environment", &self.environment)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "previous_encryption_keys",
                &format_args!("<{} redacted>", self.previous_encryption_keys.len()),
            )
            .field("public_base_url", &self.public_base_url)
            .field("demo_data", &self.demo_data)
            .field("log_format", &self.log_format)
            .field("log_filter", &self.log_filter)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("graphql_max_depth", &self.graphql_max_depth)
            .field("graphql_max_complexity", &self.graphql_max_complexity)
            .field("graphql_max_query_bytes", &self.graphql_max_query_bytes)
            .field("graphql_max_tokens", &self.graphql_max_tokens)
            .field("graphql_max_root_fields", &self.graphql_max_root_fields)
            .field("graphql_max_aliases", &self.graphql_max_aliases)
            .field(
                "graphql_cost_per_minute_user",
                &self.graphql_cost_per_minute_user,
            )
            .field(
                "graphql_cost_per_minute_address",
                &self.graphql_cost_per_minute_address,
            )
            .field(
                "graphql_cost_per_minute_team_key",
                &self.graphql_cost_per_minute_team_key,
            )
            .field(
                "graphql_cost_per_minute_enterprise_key",
                &self.graphql_cost_per_minute_enterprise_key,
            )
            .field(
                "graphql_document_cache_bytes",
                &self.graphql_document_cache_bytes,
            )
            .field("graphql_introspection", &self.graphql_introspection)
            .field("graphql_trusted_documents", &self.graphql_trusted_documents)
            .field(
                "graphql_trusted_documents_file",
                &self.graphql_trusted_documents_file,
            )
            .field("graphiql", &self.graphiql)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "metrics_mongodb_command_names",
                &self.metrics_mongodb_command_names,
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field(
                "header_read_timeout_seconds",
                &self.header_read_timeout_seconds,
            )
            .field("body_read_timeout_seconds", &self.body_read_timeout_seconds)
            .field("request_timeout_seconds", &self.request_timeout_seconds)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("shutdown_grace_seconds", &self.shutdown_grace_seconds)
            .field(
                "escrow_work_interval_seconds",
                &self.escrow_work_interval_seconds,
            )
            .field(
                "notification_retention_days",
                &self.notification_retention_days,
            )
            .field(
                "notification_work_interval_milliseconds",
                &self.notification_work_interval_milliseconds,
            )
            .field("instance_name", &self.instance_name)
            .field(
                "subscription_connections_per_user",
                &self.subscription_connections_per_user,
            )
            .field(
                "subscription_keep_alive_seconds",
                &self.subscription_keep_alive_seconds,
            )
            .field("session_max_lifetime_days", &self.session_max_lifetime_days)
            .field(
                "password_hashing_concurrency",
                &self.password_hashing_concurrency,
            )
            .field(
                "password_hashing_wait_milliseconds",
                &self.password_hashing_wait_milliseconds,
            )
            .field(
                "stripe_secret_key",
                &self.stripe_secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("stripe_api_base", &self.stripe_api_base)
            .field(
                "stripe_webhook_secret",
                &self.stripe_webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("embedded_test_commands", &self.embedded_test_commands)
            .field("payment_provider", &self.payment_provider)
            .field("money", &self.money)
            .field("ai", &self.ai)
            .field("email_from", &self.email_from)
            .field(
                "email_delivery_interval_seconds",
                &self.email_delivery_interval_seconds,
            )
            .field("smtp", &self.smtp)
            .finish()
    }
}

fn default_bind_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
fn default_database_name() -> String {
    "peertest_hub".to_string()
}
fn default_environment() -> Environment {
    Environment::Development
}
fn default_public_base_url() -> String {
    "http://localhost:8080".to_string()
}
fn default_log_format() -> LogFormat {
    LogFormat::Text
}
fn default_log_filter() -> String {
    "info".to_string()
}
fn default_graphql_max_depth() -> usize {
    12
}
fn default_graphql_max_complexity() -> usize {
    10_000
}
fn default_graphql_max_query_bytes() -> usize {
    graphql::SchemaLimits::default().max_query_bytes
}
fn default_graphql_max_tokens() -> usize {
    graphql::SchemaLimits::default().max_tokens
}
fn default_graphql_max_root_fields() -> usize {
    graphql::SchemaLimits::default().max_root_fields
}
fn default_graphql_max_aliases() -> usize {
    graphql::SchemaLimits::default().max_aliases
}
fn default_graphql_cost_per_minute_user() -> u32 {
    graphql::cost::CostBudgets::default().user_per_minute
}
fn default_graphql_cost_per_minute_address() -> u32 {
    graphql::cost::CostBudgets::default().address_per_minute
}
fn default_graphql_cost_per_minute_team_key() -> u32 {
    graphql::cost::CostBudgets::default().team_key_per_minute
}
fn default_graphql_cost_per_minute_enterprise_key() -> u32 {
    graphql::cost::CostBudgets::default().enterprise_key_per_minute
}
fn default_graphql_document_cache_bytes() -> usize {
    graphql::SchemaLimits::default().document_cache_bytes
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_header_read_timeout_seconds() -> u64 {
    10
}
fn default_body_read_timeout_seconds() -> u64 {
    30
}
fn default_request_timeout_seconds() -> u64 {
    60
}
fn default_shutdown_grace_seconds() -> u64 {
    20
}
fn default_escrow_work_interval_seconds() -> u64 {
    60
}
fn default_notification_retention_days() -> u64 {
    30
}
fn default_notification_work_interval_milliseconds() -> u64 {
    1_000
}
fn default_instance_name() -> String {
    "gateway".to_string()
}
fn default_subscription_connections_per_user() -> u64 {
    8
}
fn default_subscription_keep_alive_seconds() -> u64 {
    15
}
fn default_session_max_lifetime_days() -> u64 {
    30
}
fn default_password_hashing_concurrency() -> u64 {
    4
}
fn default_password_hashing_wait_milliseconds() -> u64 {
    2_000
}
fn default_stripe_api_base() -> String {
    escrow::STRIPE_API_BASE.to_string()
}
fn default_ai_timeout_seconds() -> u64 {
    30
}
fn default_email_from() -> String {
    "PeerTest Hub <no-reply@peertest.localhost>".to_string()
}
fn default_email_delivery_interval_seconds() -> u64 {
    10
}
fn default_smtp_security() -> SmtpSecurityChoice {
    SmtpSecurityChoice::Starttls
}
fn default_smtp_timeout_seconds() -> u64 {
    30
}

/// How an environment variable's text becomes a typed TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Kept as text.
    Text,
    /// `true`/`false`/`1`/`0`.
    Boolean,
    /// A non-negative integer.
    Integer,
    /// A comma-separated list of text items.
    List,
}

/// Every configuration key and how to read it from the environment; a key inside a section is
/// written `section.key`.
pub const KEYS: &[(&str, KeyKind)] = &[
    ("bind_addr", KeyKind::Text),
    ("mongodb_uri", KeyKind::Text),
    ("data_dir", KeyKind::Text),
    ("database_name", KeyKind::Text),
    ("environment", KeyKind::Text),
    ("jwt_secret", KeyKind::Text),
    ("encryption_key", KeyKind::Text),
    ("previous_encryption_keys", KeyKind::List),
    ("public_base_url", KeyKind::Text),
    ("demo_data", KeyKind::Boolean),
    ("log_format", KeyKind::Text),
    ("log_filter", KeyKind::Text),
    ("trusted_proxies", KeyKind::List),
    ("graphql_max_depth", KeyKind::Integer),
    ("graphql_max_complexity", KeyKind::Integer),
    ("graphql_max_query_bytes", KeyKind::Integer),
    ("graphql_max_tokens", KeyKind::Integer),
    ("graphql_max_root_fields", KeyKind::Integer),
    ("graphql_max_aliases", KeyKind::Integer),
    ("graphql_cost_per_minute_user", KeyKind::Integer),
    ("graphql_cost_per_minute_address", KeyKind::Integer),
    ("graphql_cost_per_minute_team_key", KeyKind::Integer),
    ("graphql_cost_per_minute_enterprise_key", KeyKind::Integer),
    ("graphql_document_cache_bytes", KeyKind::Integer),
    ("graphql_introspection", KeyKind::Text),
    ("graphql_trusted_documents", KeyKind::Text),
    ("graphql_trusted_documents_file", KeyKind::Text),
    ("graphiql", KeyKind::Boolean),
    ("metrics_token", KeyKind::Text),
    ("metrics_mongodb_command_names", KeyKind::Boolean),
    ("max_body_bytes", KeyKind::Integer),
    ("header_read_timeout_seconds", KeyKind::Integer),
    ("body_read_timeout_seconds", KeyKind::Integer),
    ("request_timeout_seconds", KeyKind::Integer),
    ("cors_allowed_origins", KeyKind::List),
    ("shutdown_grace_seconds", KeyKind::Integer),
    ("escrow_work_interval_seconds", KeyKind::Integer),
    ("notification_retention_days", KeyKind::Integer),
    ("notification_work_interval_milliseconds", KeyKind::Integer),
    ("instance_name", KeyKind::Text),
    ("subscription_connections_per_user", KeyKind::Integer),
    ("subscription_keep_alive_seconds", KeyKind::Integer),
    ("session_max_lifetime_days", KeyKind::Integer),
    ("password_hashing_concurrency", KeyKind::Integer),
    ("password_hashing_wait_milliseconds", KeyKind::Integer),
    ("stripe_secret_key", KeyKind::Text),
    ("stripe_api_base", KeyKind::Text),
    ("stripe_webhook_secret", KeyKind::Text),
    ("embedded_test_commands", KeyKind::Boolean),
    ("payment_provider", KeyKind::Text),
    ("money.max_seats_per_job", KeyKind::Integer),
    ("money.max_job_budget_cents", KeyKind::Integer),
    ("money.max_account_committed_cents", KeyKind::Integer),
    ("money.new_account_days", KeyKind::Integer),
    ("money.new_account_daily_funding_cents", KeyKind::Integer),
    ("ai.base_url", KeyKind::Text),
    ("ai.model", KeyKind::Text),
    ("ai.api_key", KeyKind::Text),
    ("ai.timeout_seconds", KeyKind::Integer),
    ("email_from", KeyKind::Text),
    ("email_delivery_interval_seconds", KeyKind::Integer),
    ("smtp.host", KeyKind::Text),
    ("smtp.port", KeyKind::Integer),
    ("smtp.security", KeyKind::Text),
    ("smtp.username", KeyKind::Text),
    ("smtp.password", KeyKind::Text),
    ("smtp.timeout_seconds", KeyKind::Integer),
];

/// Keys that existed once, with why they went: a deployment that still sets one (in the file or
/// the environment) is refused at start with that reason, rather than having it silently ignored.
pub const REMOVED_KEYS: &[(&str, &str)] = &[(
    "stripe_payment_method",
    "was removed (#10): job budgets are no longer charged to one platform-wide payment method but \
     to each client's own Stripe customer and the payment method they saved \
     (createPaymentSetupIntent, then savePaymentMethod); delete the setting",
)];

/// The environment variable of a key in [`KEYS`]: upper case, a section's dot as `_`
/// (`ai.base_url` is `AI_BASE_URL`).
pub fn env_name(key: &str) -> String {
    key.replace('.', "_").to_uppercase()
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` or `PEERTEST_CONFIG` could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file or a variable is not valid (unknown key, wrong type, bad value).
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads the optional TOML file, overlays the given environment, and checks the result.
    ///
    /// `environment` is passed in (rather than read here) so tests do not touch the process's
    /// variables.
    pub fn load<I>(file: Option<&Path>, environment: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut table = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                        path: path.to_path_buf(),
                        source,
                    })?;
                text.parse::<toml::Table>()
                    .map_err(|error| ConfigError::Invalid(format!("{}: {error}", path.display())))?
            }
            None => toml::Table::new(),
        };
        let variables: std::collections::HashMap<String, String> =
            environment.into_iter().collect();
        for (key, reason) in REMOVED_KEYS {
            let in_environment = variables.contains_key(&env_name(key));
            if in_environment || table.contains_key(*key) {
                let name = if in_environment {
                    env_name(key)
                } else {
                    key.to_string()
                };
                return Err(ConfigError::Invalid(format!("{name} {reason}")));
            }
        }
        for (key, kind) in KEYS {
            let Some(raw) = variables.get(&env_name(key)) else {
                continue;
            };
            if raw.is_empty() {
                continue;
            }
            let value = env_value(key, raw, *kind)?;
            match key.split_once('.') {
                None => {
                    table.insert(key.to_string(), value);
                }
                Some((section, field)) => {
                    let entry = table
                        .entry(section.to_string())
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    let toml::Value::Table(section_table) = entry else {
                        return Err(ConfigError::Invalid(format!(
                            "`{section}` must be a table to take {}",
                            env_name(key)
                        )));
                    };
                    section_table.insert(field.to_string(), value);
                }
            }
        }
        let config = Config::deserialize(toml::Value::Table(table))
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The trusted manifest (read from `GRAPHQL_TRUSTED_DOCUMENTS_FILE`) and the APQ table.
    pub fn persisted_documents(
        &self,
    ) -> Result<graphql::persisted::PersistedDocuments, ConfigError> {
        let mode = match self.graphql_trusted_documents {
            Some(TrustedDocumentsSetting::FirstParty) => {
                graphql::persisted::TrustedDocumentsMode::FirstParty
            }
            Some(TrustedDocumentsSetting::Off) | None => {
                graphql::persisted::TrustedDocumentsMode::Off
            }
        };
        let manifest = match &self.graphql_trusted_documents_file {
            None => String::new(),
            Some(path) => std::fs::read_to_string(path).map_err(|error| {
                ConfigError::Invalid(format!(
                    "GRAPHQL_TRUSTED_DOCUMENTS_FILE {}: {error}",
                    path.display()
                ))
            })?,
        };
        graphql::persisted::PersistedDocuments::new(mode, &manifest).map_err(|message| {
            ConfigError::Invalid(format!("GRAPHQL_TRUSTED_DOCUMENTS_FILE: {message}"))
        })
    }

    /// Who may introspect, after the environment's default.
    pub fn introspection_policy(&self) -> graphql::IntrospectionPolicy {
        let setting = self
            .graphql_introspection
            .unwrap_or(match self.environment {
                Environment::Development => IntrospectionSetting::Everyone,
                Environment::Production => IntrospectionSetting::IntrospectKeys,
            });
        match setting {
            IntrospectionSetting::Everyone => graphql::IntrospectionPolicy::Everyone,
            IntrospectionSetting::IntrospectKeys => graphql::IntrospectionPolicy::IntrospectKeys,
            IntrospectionSetting::Nobody => graphql::IntrospectionPolicy::Nobody,
        }
    }

    /// Whether GraphiQL is served, after the environment's default.
    pub fn graphiql_enabled(&self) -> bool {
        self.graphiql
            .unwrap_or(self.environment == Environment::Development)
    }

    /// The limits every GraphQL document is checked against.
    pub fn schema_limits(&self) -> graphql::SchemaLimits {
        graphql::SchemaLimits {
            max_depth: self.graphql_max_depth,
            max_complexity: self.graphql_max_complexity,
            max_query_bytes: self.graphql_max_query_bytes,
            max_tokens: self.graphql_max_tokens,
            max_root_fields: self.graphql_max_root_fields,
            max_aliases: self.graphql_max_aliases,
            cost: graphql::cost::CostBudgets {
                user_per_minute: self.graphql_cost_per_minute_user,
                address_per_minute: self.graphql_cost_per_minute_address,
                team_key_per_minute: self.graphql_cost_per_minute_team_key,
                enterprise_key_per_minute: self.graphql_cost_per_minute_enterprise_key,
            },
            document_cache_bytes: self.graphql_document_cache_bytes,
        }
    }

    /// Defaults for everything, as a fresh checkout runs.
    pub fn defaults() -> Config {
        Config::deserialize(toml::Value::Table(toml::Table::new()))
            .expect("every field has a default")
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_string()));
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < 32 {
                return invalid("JWT_SECRET must be at least 32 characters");
            }
        }
        if let Some(key) = &self.encryption_key {
            if key.len() != 64 || hex::decode(key).is_err() {
                return invalid("ENCRYPTION_KEY must be 64 hex characters (32 bytes)");
            }
        }
        if self.environment == Environment::Production {
            if self.jwt_secret.is_none() {
                return invalid("JWT_SECRET is required in production");
            }
            if self.encryption_key.is_none() {
                return invalid("ENCRYPTION_KEY is required in production");
            }
            if self.mongodb_uri.is_none() {
                return invalid(
                    "MONGODB_URI is required in production (the embedded store is for development)",
                );
            }
            if self.demo_data {
                return invalid("DEMO_DATA is refused in production");
            }
            if self.embedded_test_commands {
                return invalid("EMBEDDED_TEST_COMMANDS is for tests and refused in production");
            }
            if self.stripe_secret_key.is_none()
                && self.payment_provider != Some(PaymentProviderChoice::Sandbox)
            {
                return invalid(
                    "production needs STRIPE_SECRET_KEY, or PAYMENT_PROVIDER=sandbox to run without real money on purpose",
                );
            }
            if self.smtp.is_none() {
                // The log transport writes verification and reset links, live tokens, to the log.
                return invalid(
                    "production needs SMTP_HOST: without it e-mails, with their sign-in links, would be written to the log",
                );
            }
        }
        match (self.payment_provider, &self.stripe_secret_key) {
            (Some(PaymentProviderChoice::Sandbox), Some(_)) => {
                return invalid(
                    "PAYMENT_PROVIDER=sandbox and STRIPE_SECRET_KEY contradict each other",
                );
            }
            (Some(PaymentProviderChoice::Stripe), None) => {
                return invalid("PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY");
            }
            _ => {}
        }
        self.money.limits()?;
        for key in &self.previous_encryption_keys {
            if key.len() != 64 || hex::decode(key).is_err() {
                return invalid("PREVIOUS_ENCRYPTION_KEYS must be 64 hex characters each");
            }
        }
        if let Some(secret) = &self.stripe_webhook_secret {
            if !secret.starts_with("whsec_") || secret.len() <= "whsec_".len() {
                return invalid(
                    "STRIPE_WEBHOOK_SECRET must be the endpoint's signing secret (whsec_...), not an API key",
                );
            }
        }
        if self.embedded_test_commands && self.mongodb_uri.is_some() {
            return invalid(
                "EMBEDDED_TEST_COMMANDS applies to the embedded store only; unset MONGODB_URI",
            );
        }
        if self.escrow_work_interval_seconds == 0 {
            return invalid("ESCROW_WORK_INTERVAL_SECONDS must be positive");
        }
        if !(1..=365).contains(&self.notification_retention_days) {
            return invalid("NOTIFICATION_RETENTION_DAYS must be between 1 and 365");
        }
        if !(10..=3_600_000).contains(&self.notification_work_interval_milliseconds) {
            return invalid(
                "NOTIFICATION_WORK_INTERVAL_MILLISECONDS must be between 10 and 3600000",
            );
        }
        let name = &self.instance_name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
        {
            return invalid("INSTANCE_NAME must be 1 to 64 letters, digits, '-', '_' or '.'");
        }
        if !(1..=1_000).contains(&self.subscription_connections_per_user) {
            return invalid("SUBSCRIPTION_CONNECTIONS_PER_USER must be between 1 and 1000");
        }
        if !(1..=300).contains(&self.subscription_keep_alive_seconds) {
            return invalid("SUBSCRIPTION_KEEP_ALIVE_SECONDS must be between 1 and 300");
        }
        if !(1..=365).contains(&self.session_max_lifetime_days) {
            return invalid("SESSION_MAX_LIFETIME_DAYS must be between 1 and 365");
        }
        if !(1..=256).contains(&self.password_hashing_concurrency) {
            return invalid("PASSWORD_HASHING_CONCURRENCY must be between 1 and 256");
        }
        if self.password_hashing_wait_milliseconds > 60_000 {
            return invalid("PASSWORD_HASHING_WAIT_MILLISECONDS must be at most 60000");
        }
        if self.graphql_max_depth == 0 || self.graphql_max_complexity == 0 {
            return invalid("GRAPHQL_MAX_DEPTH and GRAPHQL_MAX_COMPLEXITY must be positive");
        }
        if self.graphql_max_query_bytes == 0
            || self.graphql_max_tokens == 0
            || self.graphql_max_root_fields == 0
            || self.graphql_max_aliases == 0
        {
            return invalid(
                "GRAPHQL_MAX_QUERY_BYTES, GRAPHQL_MAX_TOKENS, GRAPHQL_MAX_ROOT_FIELDS and GRAPHQL_MAX_ALIASES must be positive",
            );
        }
        if self.graphql_trusted_documents == Some(TrustedDocumentsSetting::FirstParty)
            && self.graphql_trusted_documents_file.is_none()
        {
            return invalid(
                "GRAPHQL_TRUSTED_DOCUMENTS=first_party needs GRAPHQL_TRUSTED_DOCUMENTS_FILE",
            );
        }
        for (name, budget) in [
            (
                "GRAPHQL_COST_PER_MINUTE_USER",
                self.graphql_cost_per_minute_user,
            ),
            (
                "GRAPHQL_COST_PER_MINUTE_ADDRESS",
                self.graphql_cost_per_minute_address,
            ),
            (
                "GRAPHQL_COST_PER_MINUTE_TEAM_KEY",
                self.graphql_cost_per_minute_team_key,
            ),
            (
                "GRAPHQL_COST_PER_MINUTE_ENTERPRISE_KEY",
                self.graphql_cost_per_minute_enterprise_key,
            ),
        ] {
            // A budget below the complexity limit would refuse, forever, queries the limit admits.
            if (budget as usize) < self.graphql_max_complexity {
                return invalid(&format!(
                    "{name} must be at least GRAPHQL_MAX_COMPLEXITY ({})",
                    self.graphql_max_complexity
                ));
            }
        }
        if self.graphql_max_query_bytes > self.max_body_bytes {
            return invalid("GRAPHQL_MAX_QUERY_BYTES must not exceed MAX_BODY_BYTES");
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            return invalid("MAX_BODY_BYTES must be between 1024 and 67108864");
        }
        for (name, seconds) in [
            (
                "HEADER_READ_TIMEOUT_SECONDS",
                self.header_read_timeout_seconds,
            ),
            ("BODY_READ_TIMEOUT_SECONDS", self.body_read_timeout_seconds),
            ("REQUEST_TIMEOUT_SECONDS", self.request_timeout_seconds),
        ] {
            if !(1..=3600).contains(&seconds) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be between 1 and 3600"
                )));
            }
        }
        if let Some(token) = &self.metrics_token {
            if token.len() < 32 {
                return invalid("METRICS_TOKEN must be at least 32 characters");
            }
        }
        for origin in &self.cors_allowed_origins {
            let scheme_ok = origin.starts_with("https://") || origin.starts_with("http://");
            if !scheme_ok
                || origin.ends_with('/')
                || origin.contains('*')
                || axum::http::HeaderValue::from_str(origin).is_err()
            {
                return Err(ConfigError::Invalid(format!(
                    "CORS_ALLOWED_ORIGINS holds {origin:?}: each must be an exact origin such as https://app.example.com (no path, no wildcard)"
                )));
            }
        }
        if let Some(ai) = &self.ai {
            ai.validate(self.environment)?;
        }
        if let Some(smtp) = &self.smtp {
            smtp.validate()?;
        }
        if self.email_delivery_interval_seconds == 0 {
            return invalid("EMAIL_DELIVERY_INTERVAL_SECONDS must be positive");
        }
        if !self.email_from.contains('@') || self.email_from.chars().any(char::is_control) {
            return invalid(
                "EMAIL_FROM must be an address, optionally with a name: Name <address>",
            );
        }
        Ok(())
    }
}

impl AiConfig {
    fn validate(&self, environment: Environment) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.to_string()));
        let base_url = self.base_url.trim();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return invalid("AI_BASE_URL must be an http or https URL");
        }
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|prefix| base_url.starts_with(prefix));
        if environment == Environment::Production && base_url.starts_with("http://") && !loopback {
            return invalid(
                "AI_BASE_URL must use https in production (the key goes with every request)",
            );
        }
        if self.model.trim().is_empty() {
            return invalid("AI_MODEL must not be empty");
        }
        if self.api_key.trim().is_empty() {
            return invalid("AI_API_KEY must not be empty");
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            return invalid("AI_TIMEOUT_SECONDS must be between 1 and 300");
        }
        Ok(())
    }
}

fn env_value(key: &str, raw: &str, kind: KeyKind) -> Result<toml::Value, ConfigError> {
    let name = env_name(key);
    match kind {
        KeyKind::Text => Ok(toml::Value::String(raw.to_string())),
        KeyKind::Boolean => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" => Ok(toml::Value::Boolean(false)),
            _ => Err(ConfigError::Invalid(format!(
                "{name} must be true or false, not {raw:?}"
            ))),
        },
        KeyKind::Integer => raw
            .parse::<i64>()
            .ok()
            .filter(|value| *value >= 0)
            .map(toml::Value::Integer)
            .ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "{name} must be a non-negative integer, not {raw:?}"
                ))
            }),
        KeyKind::List => Ok(toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_string()))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_every_secret() {
        let mut config = Config::defaults();
        config.jwt_secret = Some("jwt-secret-value-that-is-long-enough-123".into());
        config.encryption_key = Some("ab".repeat(32));
        config.previous_encryption_keys = vec!["cd".repeat(32)];
        config.stripe_secret_key = Some("sk_test_secret".into());
        config.stripe_webhook_secret = Some("whsec_signing_value".into());
        config.metrics_token = Some("metrics-token-value-that-is-long-enough".into());
        config.mongodb_uri = Some("mongodb://user:pw@db".into());
        let printed = format!("{config:?}");
        for secret in [
            "jwt-secret-value",
            &"ab".repeat(32),
            &"cd".repeat(32),
            "sk_test_secret",
            "whsec_signing_value",
            "metrics-token-value",
            "user:pw",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn defaults_run_on_the_embedded_store_in_development() {
        let config = Config::load(None, env(&[])).expect("defaults are valid");
        assert_eq!(config.bind_addr, "127.0.0.1:8080".parse().expect("address"));
        assert_eq!(config.mongodb_uri, None);
        assert_eq!(config.database_name, "peertest_hub");
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.environment, Environment::Development);
        assert!(!config.demo_data);
    }

    #[test]
    fn environment_overrides_typed_values() {
        let config = Config::load(
            None,
            env(&[
                ("BIND_ADDR", "0.0.0.0:9000"),
                ("DEMO_DATA", "true"),
                ("GRAPHQL_MAX_DEPTH", "7"),
                ("TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2"),
                ("UNRELATED_VARIABLE", "ignored"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.bind_addr.port(), 9000);
        assert!(config.demo_data);
        assert_eq!(config.graphql_max_depth, 7);
        assert_eq!(config.trusted_proxies.len(), 2);
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("gateway.toml");
        std::fs::write(&path, "bind_addr = \"127.0.0.1:1\"\nmongo_uri = \"typo\"\n")
            .expect("write");
        let error = Config::load(Some(&path), env(&[])).expect_err("typo rejected");
        assert!(error.to_string().contains("mongo_uri"), "{error}");
    }

    #[test]
    fn the_removed_platform_payment_method_refuses_to_start_and_says_why() {
        let from_environment =
            Config::load(None, env(&[("STRIPE_PAYMENT_METHOD", "pm_card_visa")]))
                .expect_err("an old deployment's variable is refused");
        let message = from_environment.to_string();
        assert!(message.contains("STRIPE_PAYMENT_METHOD"), "{message}");
        assert!(message.contains("was removed"), "{message}");
        assert!(message.contains("savePaymentMethod"), "{message}");
        // Even set empty: an old deployment must notice, not have it ignored.
        assert!(Config::load(None, env(&[("STRIPE_PAYMENT_METHOD", "")])).is_err());

        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("gateway.toml");
        std::fs::write(&path, "stripe_payment_method = \"pm_card_visa\"\n").expect("write");
        let from_file = Config::load(Some(&path), env(&[])).expect_err("refused in the file too");
        let message = from_file.to_string();
        assert!(
            message.contains("stripe_payment_method") && message.contains("was removed"),
            "{message}"
        );
    }

    #[test]
    fn file_values_are_read_and_environment_wins() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("gateway.toml");
        std::fs::write(
            &path,
            "database_name = \"from_file\"\nlog_format = \"json\"\n",
        )
        .expect("write");
        let config =
            Config::load(Some(&path), env(&[("DATABASE_NAME", "from_env")])).expect("valid");
        assert_eq!(config.database_name, "from_env");
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn production_requires_secrets_and_a_real_database() {
        let error = Config::load(None, env(&[("ENVIRONMENT", "production")])).expect_err("refused");
        assert!(error.to_string().contains("JWT_SECRET"), "{error}");
        let key = "ab".repeat(32);
        let config = Config::load(
            None,
            env(&[
                ("ENVIRONMENT", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("ENCRYPTION_KEY", &key),
                ("MONGODB_URI", "mongodb://db-1,db-2,db-3/?replicaSet=rs0"),
                ("PAYMENT_PROVIDER", "sandbox"),
                ("SMTP_HOST", "smtp.example.com"),
            ]),
        )
        .expect("complete production config");
        assert_eq!(config.environment, Environment::Production);
    }

    #[test]
    fn production_without_stripe_keys_refuses_to_start_unless_the_sandbox_is_chosen() {
        let key = "ab".repeat(32);
        let production = |extra: &[(&str, &str)]| {
            let mut variables = env(&[
                ("ENVIRONMENT", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("ENCRYPTION_KEY", &key),
                ("MONGODB_URI", "mongodb://db-1/?replicaSet=rs0"),
                ("SMTP_HOST", "smtp.example.com"),
            ]);
            variables.extend(env(extra));
            Config::load(None, variables)
        };
        let error = production(&[]).expect_err("no keys, no explicit sandbox");
        assert!(
            error.to_string().contains("PAYMENT_PROVIDER=sandbox"),
            "{error}"
        );
        let error =
            production(&[("PAYMENT_PROVIDER", "stripe")]).expect_err("stripe without a key");
        assert!(error.to_string().contains("STRIPE_SECRET_KEY"), "{error}");
        let sandbox = production(&[("PAYMENT_PROVIDER", "sandbox")]).expect("sandbox chosen");
        assert_eq!(
            sandbox.payment_provider,
            Some(PaymentProviderChoice::Sandbox)
        );
        assert!(production(&[("PAYMENT_PROVIDER", "paypal")]).is_err());
        let contradiction = Config::load(
            None,
            env(&[
                ("PAYMENT_PROVIDER", "sandbox"),
                ("STRIPE_SECRET_KEY", "sk_test_1"),
            ]),
        );
        assert!(contradiction.is_err());
        // Development keeps running on the sandbox without being told.
        assert_eq!(
            Config::load(None, env(&[]))
                .expect("defaults")
                .payment_provider,
            None
        );
    }

    #[test]
    fn money_limits_come_from_the_environment_and_nonsense_is_refused() {
        let config = Config::load(
            None,
            env(&[
                ("MONEY_MAX_SEATS_PER_JOB", "20"),
                ("MONEY_MAX_JOB_BUDGET_CENTS", "100000"),
                ("MONEY_MAX_ACCOUNT_COMMITTED_CENTS", "200000"),
                ("MONEY_NEW_ACCOUNT_DAYS", "7"),
                ("MONEY_NEW_ACCOUNT_DAILY_FUNDING_CENTS", "50000"),
            ]),
        )
        .expect("valid limits");
        let limits = config.money.limits().expect("limits");
        assert_eq!(limits.max_seats_per_job, 20);
        assert_eq!(limits.max_job_budget_cents, 100_000);
        assert_eq!(limits.max_account_committed_cents, 200_000);
        assert_eq!(limits.new_account_age, Duration::from_secs(7 * 86_400));
        assert_eq!(limits.new_account_daily_funding_cents, 50_000);
        assert_eq!(
            Config::defaults().money.limits().expect("defaults"),
            marketplace::MoneyLimits::default()
        );
        for (key, value) in [
            ("MONEY_MAX_SEATS_PER_JOB", "0"),
            ("MONEY_MAX_JOB_BUDGET_CENTS", "0"),
            ("MONEY_MAX_JOB_BUDGET_CENTS", "99999999999999999"),
            ("MONEY_MAX_JOB_BUDGET_CENTS", "-5"),
            ("MONEY_MAX_ACCOUNT_COMMITTED_CENTS", "100"),
            ("MONEY_NEW_ACCOUNT_DAYS", "100000"),
        ] {
            assert!(
                Config::load(None, env(&[(key, value)])).is_err(),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn the_webhook_secret_must_be_a_signing_secret_and_test_commands_stay_out_of_production() {
        let config = Config::load(None, env(&[("STRIPE_WEBHOOK_SECRET", "whsec_abc123")]))
            .expect("a signing secret");
        assert_eq!(
            config.stripe_webhook_secret.as_deref(),
            Some("whsec_abc123")
        );
        let error = Config::load(None, env(&[("STRIPE_WEBHOOK_SECRET", "sk_test_abc")]))
            .expect_err("an API key is not a signing secret");
        assert!(error.to_string().contains("whsec_"), "{error}");
        assert!(!error.to_string().contains("sk_test_abc"), "{error}");
        let config = Config::load(None, env(&[("EMBEDDED_TEST_COMMANDS", "true")])).expect("dev");
        assert!(config.embedded_test_commands);
        assert!(Config::load(
            None,
            env(&[
                ("EMBEDDED_TEST_COMMANDS", "true"),
                ("MONGODB_URI", "mongodb://db/")
            ])
        )
        .is_err());
        let key = "ab".repeat(32);
        let error = Config::load(
            None,
            env(&[
                ("ENVIRONMENT", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("ENCRYPTION_KEY", &key),
                ("MONGODB_URI", "mongodb://db-1/?replicaSet=rs0"),
                ("EMBEDDED_TEST_COMMANDS", "true"),
            ]),
        )
        .expect_err("refused in production");
        assert!(
            error.to_string().contains("EMBEDDED_TEST_COMMANDS"),
            "{error}"
        );
    }

    #[test]
    fn production_defaults_close_introspection_graphiql_and_metrics() {
        let development = Config::load(None, env(&[])).expect("defaults are valid");
        assert_eq!(
            development.introspection_policy(),
            graphql::IntrospectionPolicy::Everyone
        );
        assert!(development.graphiql_enabled());
        let key = "ab".repeat(32);
        let production = Config::load(
            None,
            env(&[
                ("ENVIRONMENT", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("ENCRYPTION_KEY", &key),
                ("MONGODB_URI", "mongodb://db-1/?replicaSet=rs0"),
                ("SMTP_HOST", "smtp.example.com"),
                ("PAYMENT_PROVIDER", "sandbox"),
            ]),
        )
        .expect("production");
        assert_eq!(
            production.introspection_policy(),
            graphql::IntrospectionPolicy::IntrospectKeys
        );
        assert!(!production.graphiql_enabled());
        assert_eq!(production.metrics_token, None);
        assert!(production.cors_allowed_origins.is_empty());
        assert_eq!(production.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn cors_origins_must_be_exact_origins_and_the_metrics_token_long() {
        let config = Config::load(
            None,
            env(&[(
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com, http://localhost:3000",
            )]),
        )
        .expect("valid");
        assert_eq!(config.cors_allowed_origins.len(), 2);
        for bad in ["*", "https://app.example.com/", "app.example.com"] {
            let error =
                Config::load(None, env(&[("CORS_ALLOWED_ORIGINS", bad)])).expect_err("refused");
            assert!(
                error.to_string().contains("CORS_ALLOWED_ORIGINS"),
                "{error}"
            );
        }
        let error =
            Config::load(None, env(&[("METRICS_TOKEN", "short-token")])).expect_err("refused");
        assert!(error.to_string().contains("METRICS_TOKEN"), "{error}");
        assert!(!error.to_string().contains("short-token"), "{error}");
        assert!(Config::load(None, env(&[("GRAPHQL_INTROSPECTION", "sometimes")])).is_err());
        assert!(Config::load(None, env(&[("MAX_BODY_BYTES", "10")])).is_err());
        assert!(Config::load(None, env(&[("REQUEST_TIMEOUT_SECONDS", "0")])).is_err());
    }

    #[test]
    fn malformed_values_are_rejected() {
        assert!(Config::load(None, env(&[("DEMO_DATA", "maybe")])).is_err());
        assert!(Config::load(None, env(&[("SHUTDOWN_GRACE_SECONDS", "-3")])).is_err());
        assert!(Config::load(None, env(&[("ENCRYPTION_KEY", "short")])).is_err());
        assert!(Config::load(None, env(&[("BIND_ADDR", "nowhere")])).is_err());
    }

    #[test]
    fn smtp_settings_come_from_the_environment_and_the_password_is_never_shown() {
        let config = Config::load(
            None,
            env(&[
                ("SMTP_HOST", "smtp.example.com"),
                ("SMTP_SECURITY", "tls"),
                ("SMTP_USERNAME", "mailer"),
                ("SMTP_PASSWORD", "smtp-password-value"),
                ("EMAIL_FROM", "PeerTest <hello@peertest.example>"),
            ]),
        )
        .expect("an SMTP server");
        let smtp = config.smtp.as_ref().expect("[smtp]");
        assert_eq!(smtp.security, SmtpSecurityChoice::Tls);
        assert_eq!(smtp.password.as_deref(), Some("smtp-password-value"));
        let settings = email_settings(&config);
        let server = settings.smtp.as_ref().expect("SMTP, not the log");
        assert_eq!(
            (server.host.as_str(), server.port),
            ("smtp.example.com", 465)
        );
        assert_eq!(settings.from, "PeerTest <hello@peertest.example>");
        for shown in [
            format!("{config:?}"),
            format!("{smtp:?}"),
            format!("{settings:?}"),
        ] {
            assert!(!shown.contains("smtp-password-value"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn without_smtp_e_mail_goes_to_the_log_in_development_and_production_refuses_to_start() {
        let development = Config::load(None, env(&[])).expect("defaults");
        assert_eq!(email_settings(&development).smtp, None);
        let key = "ab".repeat(32);
        let error = Config::load(
            None,
            env(&[
                ("ENVIRONMENT", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("ENCRYPTION_KEY", &key),
                ("MONGODB_URI", "mongodb://db-1/?replicaSet=rs0"),
                ("PAYMENT_PROVIDER", "sandbox"),
            ]),
        )
        .expect_err("no SMTP in production");
        assert!(error.to_string().contains("SMTP_HOST"), "{error}");
    }

    #[test]
    fn unusable_smtp_settings_are_refused_naming_the_key() {
        for (variables, named) in [
            (vec![("SMTP_PORT", "587")], "missing field `host`"),
            (
                vec![("SMTP_HOST", "mail"), ("SMTP_USERNAME", "user")],
                "SMTP_USERNAME and SMTP_PASSWORD",
            ),
            (
                vec![
                    ("SMTP_HOST", "mail"),
                    ("SMTP_SECURITY", "plain"),
                    ("SMTP_USERNAME", "user"),
                    ("SMTP_PASSWORD", "secret"),
                ],
                "SMTP_SECURITY=plain",
            ),
            (
                vec![("SMTP_HOST", "mail"), ("SMTP_SECURITY", "ssl")],
                "unknown variant `ssl`",
            ),
            (vec![("SMTP_HOST", "mail"), ("SMTP_PORT", "70000")], "70000"),
            (
                vec![("SMTP_HOST", "mail"), ("SMTP_TIMEOUT_SECONDS", "0")],
                "SMTP_TIMEOUT_SECONDS",
            ),
            (vec![("EMAIL_FROM", "nobody")], "EMAIL_FROM"),
            (
                vec![("EMAIL_DELIVERY_INTERVAL_SECONDS", "0")],
                "EMAIL_DELIVERY_INTERVAL_SECONDS",
            ),
        ] {
            let error = Config::load(None, env(&variables)).expect_err("refused");
            assert!(error.to_string().contains(named), "{variables:?}: {error}");
        }
    }

    #[test]
    fn every_key_has_a_row_in_the_readme_configuration_table() {
        let readme = include_str!("../../../README.md");
        for (key, _) in KEYS {
            let row = format!("| `{}` |", env_name(key));
            assert!(
                readme.contains(&row),
                "{} has no row in README's table",
                env_name(key)
            );
        }
    }

    #[test]
    fn every_key_is_documented_in_env_sample() {
        let sample = include_str!("../../../.env.sample");
        let documented: Vec<&str> = sample
            .lines()
            .filter_map(|line| line.trim_start_matches('#').trim().split_once('='))
            .map(|(key, _)| key.trim())
            .filter(|key| {
                !key.is_empty() && key.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
            .collect();
        for (key, _) in KEYS {
            assert!(
                documented.contains(&env_name(key).as_str()),
                "{} is missing from .env.sample",
                env_name(key)
            );
        }
        for key in documented {
            assert!(
                key == "PEERTEST_CONFIG" || KEYS.iter().any(|(known, _)| env_name(known) == key),
                "{key} in .env.sample is not a configuration key"
            );
        }
    }

    #[test]
    fn without_an_ai_section_enhancement_passes_text_through() {
        let config = Config::load(None, env(&[])).expect("defaults are valid");
        assert_eq!(config.ai, None);
        let provider = enhancement_provider(config.ai.as_ref()).expect("pass-through");
        assert_eq!(format!("{provider:?}"), "PassThrough");
    }

    #[test]
    fn the_ai_section_comes_from_the_file_and_the_environment_wins() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("gateway.toml");
        std::fs::write(
            &path,
            "[ai]\nbase_url = \"https://llm.test/v1\"\nmodel = \"from-file\"\napi_key = \"sk-file\"\n",
        )
        .expect("write");
        let config = Config::load(
            Some(&path),
            env(&[("AI_MODEL", "from-env"), ("AI_TIMEOUT_SECONDS", "5")]),
        )
        .expect("valid");
        let ai = config.ai.as_ref().expect("configured");
        assert_eq!(ai.base_url, "https://llm.test/v1");
        assert_eq!(ai.model, "from-env");
        assert_eq!(ai.api_key, "sk-file");
        assert_eq!(ai.timeout_seconds, 5);
        let provider = enhancement_provider(Some(ai)).expect("provider");
        let printed = format!("{provider:?} {config:?}");
        assert!(printed.contains("OpenAiCompatible"), "{printed}");
        assert!(
            printed.contains("https://llm.test/v1/chat/completions"),
            "{printed}"
        );
        assert!(!printed.contains("sk-file"), "the key leaked: {printed}");
    }

    #[test]
    fn the_ai_section_is_configurable_from_the_environment_alone() {
        let config = Config::load(
            None,
            env(&[
                ("AI_BASE_URL", "http://127.0.0.1:11434/v1"),
                ("AI_MODEL", "llama3"),
                ("AI_API_KEY", "local"),
            ]),
        )
        .expect("valid");
        let ai = config.ai.expect("configured");
        assert_eq!(ai.model, "llama3");
        assert_eq!(ai.timeout_seconds, 30);
    }

    #[test]
    fn an_incomplete_or_unsafe_ai_section_is_rejected() {
        let error = Config::load(None, env(&[("AI_API_KEY", "sk-alone")])).expect_err("refused");
        assert!(error.to_string().contains("base_url"), "{error}");
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("gateway.toml");
        std::fs::write(
            &path,
            "[ai]\nbase_url = \"https://llm.test\"\nmodel = \"m\"\napi_key = \"k\"\nmodle = \"typo\"\n",
        )
        .expect("write");
        let error = Config::load(Some(&path), env(&[])).expect_err("typo rejected");
        assert!(error.to_string().contains("modle"), "{error}");
        let complete = |url: &str| {
            vec![
                ("AI_BASE_URL".to_string(), url.to_string()),
                ("AI_MODEL".to_string(), "m".to_string()),
                ("AI_API_KEY".to_string(), "k".to_string()),
            ]
        };
        assert!(Config::load(None, complete("ftp://llm.test")).is_err());
        let mut slow = complete("https://llm.test");
        slow.push(("AI_TIMEOUT_SECONDS".into(), "0".into()));
        assert!(Config::load(None, slow).is_err());
        let key = "ab".repeat(32);
        let production = |url: &str| {
            let mut variables = complete(url);
            variables.extend(env(&[
                ("ENVIRONMENT", "production"),
                ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
                ("ENCRYPTION_KEY", &key),
                ("MONGODB_URI", "mongodb://db-1/?replicaSet=rs0"),
                ("SMTP_HOST", "smtp.example.com"),
                ("PAYMENT_PROVIDER", "sandbox"),
            ]));
            Config::load(None, variables)
        };
        let error = production("http://llm.internal/v1").expect_err("plain http refused");
        assert!(error.to_string().contains("https"), "{error}");
        assert!(production("http://127.0.0.1:8000/v1").is_ok());
        assert!(production("https://llm.internal/v1").is_ok());
    }
}
