//! [`OutboxDelivery`]: the worker that sends identity's outbox, safe to run in every gateway
//! instance at once.
//!
//! Each message is claimed with a lease (identity's compare-and-set), rendered, sent, and then
//! deleted (sent) or rescheduled by the retry policy (failed); both outcomes are recorded only
//! under the lease. Messages are claimed one at a time, so a lease covers exactly one send, and
//! the lease outlasts the send's timeout: a message is never sent by two workers.

use std::time::Duration;

use identity::{ClaimedOutboxMessage, IdentityService, OutboxRetry};

use super::error::EmailError;
use super::mailer::Mailer;
use super::retry::RetryPolicy;
use super::settings::EmailSettings;
use super::template;

/// What one run of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages sent (and deleted from the outbox).
    pub sent: usize,
    /// Messages that failed and will be tried again.
    pub retrying: usize,
    /// Messages that failed for good.
    pub failed: usize,
}

/// Sends identity's outbox through a [`Mailer`].
#[derive(Debug, Clone)]
pub struct OutboxDelivery {
    identity: IdentityService,
    mailer: Mailer,
    retry: RetryPolicy,
    batch_size: usize,
    lease: Duration,
}

impl OutboxDelivery {
    /// A worker for `identity`'s outbox with `settings`.
    pub fn new(identity: IdentityService, settings: &EmailSettings) -> Result<Self, EmailError> {
        let mailer = Mailer::new(settings)?;
        if let Some(smtp) = &settings.smtp {
            if smtp.timeout >= settings.lease {
                return Err(EmailError::InvalidSettings(
                    "the SMTP timeout must be shorter than the delivery lease".into(),
                ));
            }
        }
        Ok(Self {
            identity,
            mailer,
            retry: settings.retry,
            batch_size: settings.batch_size.max(1),
            lease: settings.lease,
        })
    }

    /// The mailer, for e-mailing notifications through the same transport.
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Sends up to a batch of due messages, one claim at a time; stops early when none is due.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, EmailError> {
        let mut report = DeliveryReport::default();
        for _ in 0..self.batch_size {
            let mut claimed = self.identity.claim_outbox_messages(1, self.lease).await?;
            let Some(claimed) = claimed.pop() else { break };
            self.deliver(claimed, &mut report).await?;
        }
        Ok(report)
    }

    async fn deliver(
        &self,
        claimed: ClaimedOutboxMessage,
        report: &mut DeliveryReport,
    ) -> Result<(), EmailError> {
        let message = &claimed.message;
        let outcome = match template::outbox_email(message) {
            Ok(email) => self.mailer.send(&email, &[]).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => {
                if !self
                    .identity
                    .complete_outbox_delivery(message.id, &claimed.lease)
                    .await?
                {
                    tracing::warn!(message_id = %message.id, "e-mail sent after its lease lapsed");
                }
                report.sent += 1;
            }
            Err(error) => {
                let attempt = u32::try_from(message.attempts.saturating_add(1)).unwrap_or(u32::MAX);
                let retry_after = if error.is_transient() {
                    self.retry.delay_after(attempt)
                } else {
                    None
                };
                let recorded = self
                    .identity
                    .record_outbox_delivery_failure(
                        message.id,
                        &claimed.lease,
                        &error.to_string(),
                        retry_after,
                    )
                    .await?;
                match recorded {
                    OutboxRetry::Scheduled(at) => {
                        report.retrying += 1;
                        tracing::warn!(message_id = %message.id, kind = ?message.kind, attempt, error = %error, retry_at = %at, "e-mail not sent; will retry");
                    }
                    OutboxRetry::Failed => {
                        report.failed += 1;
                        tracing::error!(message_id = %message.id, kind = ?message.kind, attempt, error = %error, "e-mail not sent; given up");
                    }
                    OutboxRetry::LeaseLost => {
                        tracing::warn!(message_id = %message.id, error = %error, "e-mail failed after its lease lapsed");
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs [`OutboxDelivery::deliver_due`] every `every` (the first run one interval after
    /// start), forever; a failed run is logged and the next tick tries again. A full batch is
    /// followed at once by the next one.
    pub async fn run(self, every: Duration) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            loop {
                match self.deliver_due().await {
                    Ok(report) => {
                        if report != DeliveryReport::default() {
                            tracing::debug!(?report, "e-mail delivery run done");
                        }
                        if report.sent + report.retrying + report.failed < self.batch_size {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::error!(error = %error, "e-mail delivery failed; retrying next tick");
                        break;
                    }
                }
            }
        }
    }
}
