//! The entry point for e-mailing one in-app notification: [`Mailer::send_notification`].
//!
//! The notification worker calls it for each notification whose recipient wants e-mail for its
//! type, and records `sent_email` / `email_sent_at` on the notification when it returns `Ok`. It
//! sends once and does not retry by itself: on a transient error ([`EmailError::is_transient`])
//! the caller tries again later with the same [`super::RetryPolicy`] the outbox uses.

use super::error::EmailError;
use super::mailer::Mailer;
use super::template::{self, greeting, Wording};

/// Longest notification message put in an e-mail; the rest is in the app.
const MAX_MESSAGE_CHARS: usize = 2_000;

/// One notification to e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationEmail {
    /// Recipient address.
    pub to: String,
    /// Recipient's name for the greeting, if known.
    pub recipient_name: Option<String>,
    /// The notification's type as stored (seed section 8: `job_published`, `payment_received`,
    /// ...); sent as the `X-PeerTest-Notification-Type` header so mail rules can sort on it.
    pub notification_type: String,
    /// The notification's title: the subject line.
    pub title: String,
    /// The notification's message: the body.
    pub message: String,
    /// Where in the application the notification points, as a path (`/jobs/65f...`); the e-mail
    /// links to it on `PUBLIC_BASE_URL`.
    pub link: Option<String>,
}

impl Mailer {
    /// Renders `notification` (text and HTML) and sends it once.
    ///
    /// Errors: [`EmailError::InvalidLink`] when the link is not an application path,
    /// [`EmailError::InvalidRecipient`] / [`EmailError::Rejected`] when no attempt can succeed,
    /// [`EmailError::Unavailable`] when a later one may.
    pub async fn send_notification(
        &self,
        notification: &NotificationEmail,
    ) -> Result<(), EmailError> {
        let link = notification
            .link
            .as_deref()
            .map(|path| self.application_link(path))
            .transpose()?;
        let message: String = notification
            .message
            .chars()
            .take(MAX_MESSAGE_CHARS)
            .collect();
        let email = template::render(Wording {
            to: &notification.to,
            subject: &notification.title,
            greeting: greeting(notification.recipient_name.as_deref()),
            lead: &message,
            action: link.as_deref().map(|link| (link, "Open in PeerTest Hub")),
            closing: "You get this e-mail because e-mail is on for this kind of notification; \
                      change that in your notification preferences.",
        })?;
        let kind = template::one_line(&notification.notification_type, 64);
        self.send(&email, &[("X-PeerTest-Notification-Type", kind)])
            .await
    }

    /// `path` on the public base URL. Only paths are accepted, so a notification can never send
    /// its reader to another site.
    fn application_link(&self, path: &str) -> Result<String, EmailError> {
        let acceptable = path.starts_with('/')
            && !path.starts_with("//")
            && !path.contains('\\')
            && path.len() <= 2_000
            && !path
                .chars()
                .any(|character| character.is_control() || character == ' ');
        if !acceptable {
            return Err(EmailError::InvalidLink(path.chars().take(100).collect()));
        }
        Ok(format!("{}{path}", self.public_base_url()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::EmailSettings;

    fn mailer() -> Mailer {
        Mailer::new(&EmailSettings::new(
            "PeerTest Hub <no-reply@peertest.test>".into(),
            "https://app.peertest.test/".into(),
        ))
        .expect("log mailer")
    }

    #[test]
    fn a_notification_link_is_a_path_on_the_public_base_url() {
        assert_eq!(
            mailer()
                .application_link("/jobs/abc?tab=seats")
                .expect("a path"),
            "https://app.peertest.test/jobs/abc?tab=seats"
        );
    }

    #[test]
    fn a_notification_link_can_never_leave_the_application() {
        for link in [
            "https://evil.example/phish",
            "//evil.example/phish",
            "/\\evil.example",
            "jobs/abc",
            "/jobs/a b",
            "/jobs/\r\nBcc: x",
        ] {
            let refused = mailer().application_link(link);
            assert!(
                matches!(refused, Err(EmailError::InvalidLink(_))),
                "{link:?} gave {refused:?}"
            );
        }
    }

    /// A log writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_notification_without_smtp_is_written_to_the_log_with_its_subject_and_link() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mailer = mailer();
        assert!(mailer.writes_to_log());
        let sent = mailer
            .send_notification(&NotificationEmail {
                to: "tess@example.com".into(),
                recipient_name: Some("Tess".into()),
                notification_type: "job_published".into(),
                title: "A new job matches you".into(),
                message: "Checkout flow testing is open.".into(),
                link: Some("/jobs/abc".into()),
            })
            .await;
        assert!(matches!(sent, Ok(())), "{sent:?}");
        let log = String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("UTF-8");
        assert!(log.contains("e-mail written to the log"), "{log}");
        assert!(log.contains("to=tess@example.com"), "{log}");
        assert!(log.contains("subject=A new job matches you"), "{log}");
        assert!(
            log.contains("link=https://app.peertest.test/jobs/abc"),
            "{log}"
        );
    }

    #[tokio::test]
    async fn a_notification_to_a_malformed_address_is_refused_for_good() {
        let refused = mailer()
            .send_notification(&NotificationEmail {
                to: "not an address".into(),
                recipient_name: None,
                notification_type: "job_published".into(),
                title: "t".into(),
                message: "m".into(),
                link: None,
            })
            .await;
        match refused {
            Err(error @ EmailError::InvalidRecipient(_)) => assert!(!error.is_transient()),
            other => panic!("expected InvalidRecipient, got {other:?}"),
        }
    }
}
