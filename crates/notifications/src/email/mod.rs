//! E-mail delivery: the outbox worker, the SMTP or log transport, and the templates.
//!
//! [`OutboxDelivery`] sends identity's outbox (verification, password reset, invitations,
//! security notices); [`Mailer::send_notification`] is how the notification worker e-mails one
//! notification. Both render through the same templates (a text and an HTML part) and go out
//! through the same [`Mailer`]: SMTP with lettre when configured, else a log line that shows the
//! subject and the link, so nothing is ever silently dropped.

mod error;
mod mailer;
mod notification;
mod retry;
mod settings;
mod template;
mod worker;

pub use error::EmailError;
pub use mailer::{Mailer, Transport};
pub use notification::NotificationEmail;
pub use retry::RetryPolicy;
pub use settings::{EmailSettings, SmtpPassword, SmtpSecurity, SmtpSettings};
pub use template::RenderedEmail;
pub use worker::{DeliveryReport, OutboxDelivery};
