//! What the e-mail delivery needs to know, handed over by the gateway's configuration.

use std::time::Duration;

use super::retry::RetryPolicy;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    StartTls,
    /// TLS from the first byte, "implicit TLS" (port 465 by default).
    Tls,
    /// No encryption at all, for a local relay or test server (port 25 by default); never with
    /// credentials.
    Plain,
}

impl SmtpSecurity {
    /// The port this security usually runs on.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        }
    }
}

/// The SMTP password; its `Debug` output is redacted so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    /// Wraps the password.
    pub fn new(password: String) -> Self {
        Self(password)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmtpPassword {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("<redacted>")
    }
}

/// An SMTP server to send through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name (checked against the certificate under TLS) or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// User name for `AUTH`, with `password`.
    pub username: Option<String>,
    /// Password for `AUTH`.
    pub password: Option<SmtpPassword>,
    /// How long one message may take to send, connection included, before the attempt counts as
    /// failed (and is retried).
    pub timeout: Duration,
}

/// Everything e-mail delivery is configured with.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// The SMTP server; `None` writes every e-mail to the log instead (development).
    pub smtp: Option<SmtpSettings>,
    /// The `From` mailbox, e.g. `PeerTest Hub <no-reply@peertest.example>`.
    pub from: String,
    /// Base URL of the web front end; notification links are built on it.
    pub public_base_url: String,
    /// When failed e-mails are tried again.
    pub retry: RetryPolicy,
    /// Most messages one worker run sends.
    pub batch_size: usize,
    /// How long a claimed message stays reserved for the worker that claimed it. Longer than
    /// `timeout`, so a message being sent is never claimed by a second worker.
    pub lease: Duration,
}

impl EmailSettings {
    /// Log delivery, the default retry policy, 50 messages a run, 5-minute leases.
    pub fn new(from: String, public_base_url: String) -> Self {
        Self {
            smtp: None,
            from,
            public_base_url,
            retry: RetryPolicy::default(),
            batch_size: 50,
            lease: Duration::from_secs(5 * 60),
        }
    }
}
