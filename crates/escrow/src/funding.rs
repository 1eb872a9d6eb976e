//! Funding a job when it is published: create the job's escrow, authorize the client's payment,
//! capture it. Each provider call's key is derived from the escrow id and funding attempt, and
//! each answer is written by compare-and-set before the next call, so funding resumes where it
//! stopped: a repeated publish, or `reconcile` after a crash, continues from the stored status.
//!
//! **Capture timing: at publish.** A job runs for days or weeks, longer than a card
//! authorization stays valid (about 7 days), and testers start working as soon as it is open; so
//! the whole budget is captured at publish and held, which guarantees every approved tester can be
//! paid. Authorization and capture stay two steps (as a Stripe PaymentIntent with manual capture)
//! so a declined card is told apart from a failed capture, and the seed's `authorized` and
//! `captured` events both exist.

use foundation::Money;
use marketplace::{Job, MarketplaceError, PaymentSource};

use crate::error::EscrowError;
use crate::idempotency::IdempotencyKey;
use crate::ledger::{EscrowActor, EscrowTransaction, NewEscrow};
use crate::lifecycle::EscrowStatus;
use crate::provider::{
    AuthorizeRequest, CancelAuthorizationRequest, CaptureRequest, ProviderError, ProviderKeys,
};
use crate::service::EscrowService;

impl EscrowService {
    /// Funds `job` (its whole `total_budget_usd`) by charging `source`, the paying account's
    /// own customer and saved payment method: idempotent per job, so a repeated or racing
    /// publish funds it once. A declined payment may be retried by publishing again, and that
    /// new attempt charges the method given then.
    pub async fn fund_job(
        &self,
        job: &Job,
        source: &PaymentSource,
        actor: EscrowActor,
    ) -> Result<EscrowTransaction, EscrowError> {
        if source.customer_id.is_empty() || source.payment_method_id.is_empty() {
            return Err(MarketplaceError::PaymentMethodRequired.into());
        }
        let key = IdempotencyKey::for_funding(job.id);
        // The source is not part of the arguments: once funded, publishing again is the same
        // request whatever card is saved now.
        let arguments = format!(
            "{}|{}|{}",
            job.id, job.total_budget_cents, job.budget_per_tester_cents
        );
        self.remember(&key, "fund_job", arguments, async {
            self.create_escrow(job, source, actor).await?;
            self.drive_funding(job.id, actor, Some(source)).await
        })
        .await
    }

    async fn create_escrow(
        &self,
        job: &Job,
        source: &PaymentSource,
        actor: EscrowActor,
    ) -> Result<(), EscrowError> {
        if job.total_budget_cents < 0 || job.budget_per_tester_cents < 0 {
            return Err(EscrowError::InvalidAmount {
                reason: "a job's budget cannot be negative".into(),
            });
        }
        let now = self.now();
        let escrow = EscrowTransaction::new(
            NewEscrow {
                job_id: job.id,
                client_id: job.client_id,
                provider: self.provider.name().as_str(),
                amount: job.total_budget_cents,
                budget_per_tester: job.budget_per_tester_cents,
                currency: self.settings.currency.code().to_owned(),
                platform_fee_basis_points: i64::from(self.settings.platform_fee_basis_points),
                customer_id: source.customer_id.clone(),
                payment_method_id: source.payment_method_id.clone(),
                expires_at: foundation::clock::add_duration(
                    now,
                    self.settings.authorization_validity,
                ),
            },
            now,
            actor,
        );
        match self.escrows.insert_one(&escrow).await {
            Ok(_) => Ok(()),
            Err(error) if foundation::collection::is_duplicate_key(&error) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Moves the job's escrow forward until it is captured (or fails). With a `restart` source
    /// (a publish), a failed or expired escrow starts a new funding attempt charging it; without
    /// (reconcile), it is left alone. An attempt charges the customer and payment method stored
    /// on the escrow for it.
    pub(crate) async fn drive_funding(
        &self,
        job_id: bson::oid::ObjectId,
        actor: EscrowActor,
        restart: Option<&PaymentSource>,
    ) -> Result<EscrowTransaction, EscrowError> {
        loop {
            let escrow = self.escrow_for_job(job_id).await?;
            let attempt = escrow.funding_attempt;
            let amount = Money::new(escrow.amount_cents, self.settings.currency.clone());
            match escrow.status {
                status if status.is_funded() => return Ok(escrow),
                EscrowStatus::Failed | EscrowStatus::Expired if restart.is_some() => {
                    let Some(source) = restart else {
                        unreachable!("matched on a restart source")
                    };
                    let validity = self.settings.authorization_validity;
                    self.change_funding(job_id, |escrow, now| {
                        if matches!(escrow.status, EscrowStatus::Failed | EscrowStatus::Expired)
                            && escrow.funding_attempt == attempt
                        {
                            let expires = foundation::clock::add_duration(now, validity);
                            escrow.retry_funding(source, expires, now, actor)?;
                        }
                        Ok(())
                    })
                    .await?;
                }
                EscrowStatus::Failed | EscrowStatus::Expired => {
                    return Err(EscrowError::PaymentDeclined(format!(
                        "the escrow is {}",
                        escrow.status.as_str()
                    )))
                }
                EscrowStatus::Pending => {
                    let (Some(customer_id), Some(payment_method_id)) = (
                        escrow.stripe_customer_id.clone(),
                        escrow.stripe_payment_method_id.clone(),
                    ) else {
                        // Written before payers paid with their own methods: never charge
                        // anyone else instead.
                        return Err(MarketplaceError::PaymentMethodRequired.into());
                    };
                    let answer = self
                        .provider
                        .authorize(AuthorizeRequest {
                            idempotency_key: ProviderKeys::authorize(escrow.id, attempt),
                            escrow_id: escrow.id,
                            funding_attempt: attempt,
                            job_id,
                            client_id: escrow.client_id,
                            customer_id,
                            payment_method_id,
                            amount,
                            transfer_group: ProviderKeys::transfer_group(job_id),
                        })
                        .await;
                    match answer {
                        Ok(authorization) => {
                            self.change_funding(job_id, |escrow, now| {
                                if escrow.status == EscrowStatus::Pending
                                    && escrow.funding_attempt == attempt
                                {
                                    escrow.authorize(
                                        authorization.payment_id.clone(),
                                        now,
                                        actor,
                                    )?;
                                }
                                Ok(())
                            })
                            .await?;
                        }
                        Err(error) => {
                            return Err(self.funding_refused(job_id, attempt, actor, error).await)
                        }
                    }
                }
                EscrowStatus::Authorized if self.now() >= escrow.expires_at => {
                    let payment_id = escrow.stripe_payment_intent_id.clone().unwrap_or_default();
                    self.provider
                        .cancel_authorization(CancelAuthorizationRequest {
                            idempotency_key: ProviderKeys::cancel(escrow.id, attempt),
                            payment_id,
                        })
                        .await?;
                    self.change_funding(job_id, |escrow, now| {
                        if escrow.status == EscrowStatus::Authorized
                            && escrow.funding_attempt == attempt
                        {
                            escrow.expire(now, actor)?;
                        }
                        Ok(())
                    })
                    .await?;
                }
                EscrowStatus::Authorized => {
                    let answer = self
                        .provider
                        .capture(CaptureRequest {
                            idempotency_key: ProviderKeys::capture(escrow.id, attempt),
                            payment_id: escrow.stripe_payment_intent_id.clone().unwrap_or_default(),
                            amount,
                        })
                        .await;
                    match answer {
                        Ok(capture) => {
                            self.change_funding(job_id, |escrow, now| {
                                if escrow.status == EscrowStatus::Authorized
                                    && escrow.funding_attempt == attempt
                                {
                                    escrow.capture(capture.charge_id.clone(), now, actor)?;
                                }
                                Ok(())
                            })
                            .await?;
                        }
                        Err(error) => {
                            return Err(self.funding_refused(job_id, attempt, actor, error).await)
                        }
                    }
                }
                _ => unreachable!("every unfunded status is matched above"),
            }
        }
    }

    /// Records a definite refusal as `failed`; anything else is left for a retry.
    async fn funding_refused(
        &self,
        job_id: bson::oid::ObjectId,
        attempt: i32,
        actor: EscrowActor,
        error: ProviderError,
    ) -> EscrowError {
        if let ProviderError::Declined { reason } = &error {
            let recorded = self
                .change_funding(job_id, |escrow, now| {
                    if matches!(
                        escrow.status,
                        EscrowStatus::Pending | EscrowStatus::Authorized
                    ) && escrow.funding_attempt == attempt
                    {
                        escrow.fail(reason, now, actor)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(recording) = recorded {
                return recording;
            }
        }
        error.into()
    }
}
