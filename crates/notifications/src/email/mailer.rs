//! [`Mailer`]: turns a rendered e-mail into a MIME message and sends it over SMTP (lettre), or
//! writes it to the log when no SMTP server is configured.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::error::EmailError;
use super::settings::{EmailSettings, SmtpSecurity, SmtpSettings};
use super::template::RenderedEmail;

/// Where e-mails go.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The log: one `info` line per e-mail with its recipient, subject and link. Development
    /// only (the link is a live token); production refuses to start without SMTP.
    Log,
}

/// Sends rendered e-mails from the configured sender through the configured transport.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    public_base_url: String,
    timeout: std::time::Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Log => "log",
        };
        formatter
            .debug_struct("Mailer")
            .field("transport", &transport)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    /// A mailer for `settings`: SMTP when `settings.smtp` is set, else the log.
    pub fn new(settings: &EmailSettings) -> Result<Self, EmailError> {
        let from: Mailbox = settings.from.parse().map_err(|error| {
            EmailError::InvalidSettings(format!("the sender {:?}: {error}", settings.from))
        })?;
        let (transport, timeout) = match &settings.smtp {
            Some(smtp) => (Transport::Smtp(smtp_transport(smtp)?), smtp.timeout),
            None => (Transport::Log, std::time::Duration::from_secs(30)),
        };
        Ok(Self {
            transport,
            from,
            public_base_url: settings.public_base_url.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// Whether e-mails go to the log rather than to a mail server.
    pub fn writes_to_log(&self) -> bool {
        matches!(self.transport, Transport::Log)
    }

    /// The base of the links the mailer builds.
    pub(crate) fn public_base_url(&self) -> &str {
        &self.public_base_url
    }

    /// Sends `email` once, with `headers` (name, value) added. A message that takes longer than
    /// the SMTP timeout fails as [`EmailError::Unavailable`], so a sender never outlives the
    /// lease of the message it is sending.
    pub async fn send(
        &self,
        email: &RenderedEmail,
        headers: &[(&'static str, String)],
    ) -> Result<(), EmailError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|error| EmailError::InvalidRecipient(format!("{:?}: {error}", email.to)))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone());
        for (name, value) in headers {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value.clone(),
            ));
        }
        let message = builder
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(email.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(email.html.clone()),
                    ),
            )
            .map_err(|error| EmailError::Build(error.to_string()))?;
        match &self.transport {
            Transport::Log => {
                tracing::info!(
                    to = %email.to,
                    subject = %email.subject,
                    link = %email.link.as_deref().unwrap_or("-"),
                    "e-mail written to the log (no SMTP server configured)"
                );
                Ok(())
            }
            Transport::Smtp(transport) => {
                match tokio::time::timeout(self.timeout, transport.send(message)).await {
                    Ok(Ok(_response)) => Ok(()),
                    Ok(Err(error)) if error.is_permanent() => {
                        Err(EmailError::Rejected(error.to_string()))
                    }
                    Ok(Err(error)) => Err(EmailError::Unavailable(error.to_string())),
                    Err(_elapsed) => Err(EmailError::Unavailable(format!(
                        "no answer within {} s",
                        self.timeout.as_secs()
                    ))),
                }
            }
        }
    }
}

/// lettre's transport for `smtp`: STARTTLS required, implicit TLS, or plain.
fn smtp_transport(smtp: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, EmailError> {
    let tls_parameters = || {
        TlsParameters::new(smtp.host.clone())
            .map_err(|error| EmailError::InvalidSettings(format!("TLS for {}: {error}", smtp.host)))
    };
    let tls = match smtp.security {
        SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
        SmtpSecurity::Plain => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.as_str())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    match (&smtp.username, &smtp.password) {
        (Some(username), Some(password)) => {
            if smtp.security == SmtpSecurity::Plain {
                return Err(EmailError::InvalidSettings(
                    "SMTP credentials are never sent over a plain connection; use starttls or tls"
                        .into(),
                ));
            }
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().to_owned(),
            ));
        }
        (None, None) => {}
        _ => {
            return Err(EmailError::InvalidSettings(
                "SMTP username and password go together".into(),
            ))
        }
    }
    Ok(builder.build())
}
