//! The escrow mutations that are not a marketplace step: `refundEscrow` (an admin returns
//! unreleased money to the client: goodwill, a support case) and `releasePayout` (the job's
//! client, or an admin, pays an approved tester now instead of at the end of the dispute window,
//! or retries a failed transfer). Both take an idempotency key ([`crate::idempotency`]).
//! Who may see the results follows `Job.escrow` and `Submission.payout`. And
//! `connectPayoutAccount`: a tester connects the account their payouts are transferred to. And
//! the client's side: `createPaymentSetupIntent` and `savePaymentMethod` save the payment method
//! their jobs are charged to, on their own customer at the provider.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use super::access::{actor, caller_standing};
use super::escrow_types::{EscrowRefund, Payout};
use super::jobs::job_id;
use super::submissions::submission_id;
use super::types::{Job, Submission};
use crate::error::{ApiError, ApiResult};
use crate::idempotency::{once, step_key};
use crate::loaders::{load, JobLoader};
use crate::viewer::{HasRole, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// `NOT_FOUND` for a `what`.
fn not_found(what: &'static str) -> impl FnOnce() -> ApiError {
    move || ApiError::NotFound(format!("{what} not found"))
}

/// The submission `id`, read now (not through the request's loader cache).
async fn submission_by_id(
    ctx: &Context<'_>,
    id: bson::oid::ObjectId,
) -> ApiResult<marketplace::Submission> {
    services(ctx)
        .marketplace()
        .submissions_by_ids(&[id])
        .await?
        .remove(&id)
        .ok_or_else(not_found("submission"))
}

/// Longest refund reason kept.
const MAX_REASON_LENGTH: usize = 500;

/// Input of `refundEscrow`.
#[derive(InputObject)]
pub struct RefundEscrowInput {
    /// The job whose escrow pays the refund.
    pub job_id: ID,
    /// Cents to return; at most what the escrow holds unreleased and unreserved.
    pub amount_cents: i64,
    /// Why (kept in the ledger and sent to the provider).
    pub reason: String,
    /// Makes a retry safe (see `JobMoneyInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// A refund made.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct RefundEscrowPayload {
    /// The job.
    pub job: Job,
    /// The refund (PENDING while the provider has not confirmed it).
    pub refund: EscrowRefund,
}

/// Input of `connectPayoutAccount`. The account is always the signed-in tester's, and the
/// provider sends them back to this platform's pages.
#[derive(InputObject, Default)]
pub struct ConnectPayoutAccountInput {
    /// The account's country (ISO 3166-1 alpha-2, e.g. `US`, `DE`); the platform's when left out.
    /// Used only when the account is created.
    pub country: Option<String>,
}

/// Input of `releasePayout`.
#[derive(InputObject)]
pub struct ReleasePayoutInput {
    /// The approved submission whose payout to release.
    pub submission_id: ID,
    /// Makes a retry safe (see `JobMoneyInput.idempotencyKey`).
    pub idempotency_key: Option<String>,
}

/// A payout released.
#[derive(SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct ReleasePayoutPayload {
    /// The submission.
    pub submission: Submission,
    /// Its payout: PAID, FAILED when the provider refused, or HELD when the tester cannot
    /// receive transfers yet (it goes as soon as they can).
    pub payout: Payout,
}

/// A tester's payout account as the API shows it.
#[derive(SimpleObject)]
pub struct PayoutAccountInfo {
    /// The provider's account id.
    pub account_id: String,
    /// PENDING while onboarding, VERIFIED once it can receive transfers, RESTRICTED when the
    /// provider disabled it.
    pub status: PayoutAccountStatus,
}

/// Where a tester's payout account is.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "identity::PayoutAccountStatus")]
pub enum PayoutAccountStatus {
    /// Onboarding is not finished; payouts wait (held) until it is.
    Pending,
    /// Can receive transfers.
    Verified,
    /// The provider disabled transfers; payouts wait.
    Restricted,
}

impl PayoutAccountInfo {
    /// The account stored on `user`, if any.
    pub fn of(user: &identity::User) -> Option<Self> {
        let data = user.tester_data.as_ref()?;
        let account_id = data.stripe_connect_id.clone()?;
        let status = data
            .stripe_connect_status
            .as_deref()
            .and_then(identity::PayoutAccountStatus::parse)
            .unwrap_or(identity::PayoutAccountStatus::Pending);
        Some(Self {
            account_id,
            status: status.into(),
        })
    }
}

/// A tester's payout account after `connectPayoutAccount`.
#[derive(SimpleObject)]
pub struct ConnectPayoutAccountPayload {
    /// The account.
    pub payout_account: PayoutAccountInfo,
    /// Where to finish onboarding (a single-use link, valid for minutes); `null` once verified.
    pub onboarding_url: Option<String>,
}

/// A SetupIntent the browser confirms with Stripe.js (`stripe.confirmCardSetup(clientSecret)`).
/// On the sandbox provider it is already `succeeded`: there is no card to enter, so
/// `savePaymentMethod` can follow at once.
#[derive(SimpleObject)]
pub struct CreatePaymentSetupIntentPayload {
    /// The SetupIntent's id, given back to `savePaymentMethod`.
    pub setup_intent_id: String,
    /// For Stripe.js in the caller's browser only; it is never stored.
    pub client_secret: String,
    /// The provider's status (`requires_payment_method` until the browser confirms it).
    pub status: String,
}

/// Input of `savePaymentMethod`.
#[derive(InputObject)]
pub struct SavePaymentMethodInput {
    /// A SetupIntent made by `createPaymentSetupIntent` for the caller and confirmed in the
    /// browser. A raw payment method id is never accepted.
    pub setup_intent_id: String,
}

/// The payment method jobs are charged to after `savePaymentMethod`.
#[derive(SimpleObject)]
pub struct SavePaymentMethodPayload {
    /// The provider's payment method id, now the caller's default.
    pub payment_method_id: String,
}

/// A client's own account, active with a verified e-mail: the only one who may save the payment
/// method their jobs are charged to.
async fn verified_client(ctx: &Context<'_>) -> ApiResult<identity::User> {
    let user_id = crate::viewer::viewer(ctx).user()?.user_id;
    let user = services(ctx).identity().require_user(user_id).await?;
    if !user.email_verified || user.status != identity::UserStatus::Active {
        return Err(ApiError::Forbidden(
            "verify your e-mail address (and keep the account active) before saving a payment method"
                .to_string(),
        ));
    }
    Ok(user)
}

fn payment_methods<'a>(
    ctx: &Context<'a>,
) -> ApiResult<&'a std::sync::Arc<dyn escrow::PaymentMethods>> {
    services(ctx).payment_methods().ok_or_else(|| {
        ApiError::ServiceUnavailable("payments are not configured on this server".to_string())
    })
}

/// A SetupIntent id as the provider spells them (`seti_` and letters, digits, `_`), so nothing
/// else reaches the provider's URL.
fn setup_intent_id(raw: &str) -> ApiResult<String> {
    let id = raw.trim();
    let well_formed = id.len() <= escrow::MAX_SETUP_INTENT_ID_LENGTH
        && id.len() > "seti_".len()
        && id.starts_with("seti_")
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if !well_formed {
        return Err(ApiError::bad_input(
            "setupIntentId",
            "must be a SetupIntent id (`seti_…`) from createPaymentSetupIntent",
        ));
    }
    Ok(id.to_string())
}

/// Escrow mutations.
#[derive(Default)]
pub struct MoneyMutation;

/// Escrow mutations.
#[Object]
impl MoneyMutation {
    /// Returns `amountCents` of a job's unreleased escrow to its client. Admins only: money
    /// reserved for open seats must stay until the job ends (cancelling or completing the job
    /// refunds it by itself). Takes an idempotency key.
    #[graphql(guard = "HasRole(identity::Role::Admin)")]
    async fn refund_escrow(
        &self,
        ctx: &Context<'_>,
        input: RefundEscrowInput,
    ) -> ApiResult<RefundEscrowPayload> {
        let id = job_id(&input.job_id, "jobId")?;
        let reason = input.reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_LENGTH {
            return Err(ApiError::bad_input(
                "reason",
                format!("must be 1 to {MAX_REASON_LENGTH} characters"),
            ));
        }
        if input.amount_cents <= 0 {
            return Err(ApiError::bad_input("amountCents", "must be more than zero"));
        }
        let user = crate::viewer::viewer(ctx).user()?.user_id;
        let standing = caller_standing(ctx).await?;
        let arguments = format!("{}\n{}\n{reason}", id.to_hex(), input.amount_cents);
        let key = input.idempotency_key.as_deref();
        let refund_key = step_key(ctx, key, "refund")?;
        let run = async {
            let refund = services(ctx)
                .escrow()
                .refund(
                    services(ctx).marketplace(),
                    id,
                    input.amount_cents,
                    &reason,
                    escrow::EscrowActor::User(user),
                    standing,
                    &refund_key,
                )
                .await?;
            let job = services(ctx)
                .marketplace()
                .jobs_by_ids(&[id])
                .await?
                .remove(&id)
                .ok_or_else(not_found("job"))?;
            Ok(RefundEscrowPayload {
                job: Job(job),
                refund: EscrowRefund(refund),
            })
        };
        once(ctx, key, "refundEscrow", arguments, run).await
    }

    /// Starts saving the signed-in client's payment method: creates their customer at the
    /// payment provider the first time (never a second one, even for racing requests) and an
    /// off-session SetupIntent on it. The browser confirms it with Stripe.js and the returned
    /// `clientSecret`, then calls `savePaymentMethod`. Clients with a verified e-mail only. On
    /// the sandbox provider the SetupIntent is already `succeeded`.
    #[graphql(guard = "HasRole(identity::Role::Client)")]
    async fn create_payment_setup_intent(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<CreatePaymentSetupIntentPayload> {
        let methods = payment_methods(ctx)?;
        let user = verified_client(ctx).await?;
        let stored = user
            .client_data
            .as_ref()
            .and_then(|data| data.stripe_customer_id.clone());
        let customer_id = match stored {
            Some(customer_id) => customer_id,
            None => {
                let created = methods
                    .create_customer(escrow::CreateCustomerRequest {
                        idempotency_key: escrow::customer_key(user.id),
                        user_id: user.id,
                        email: user.email.clone(),
                        name: user.full_name.clone(),
                    })
                    .await
                    .map_err(escrow::EscrowError::from)?;
                // The first id stored wins; a racing request's answer is the same user.
                services(ctx)
                    .identity()
                    .attach_stripe_customer(user.id, &created)
                    .await?
                    .client_data
                    .and_then(|data| data.stripe_customer_id)
                    .ok_or_else(|| {
                        ApiError::Internal("the customer was not recorded".to_string())
                    })?
            }
        };
        // Each SetupIntent is a fresh request: the browser may abandon one and ask again.
        let key = format!("setup_intent:{}", bson::oid::ObjectId::new().to_hex());
        let intent = methods
            .create_setup_intent(customer_id, key)
            .await
            .map_err(escrow::EscrowError::from)?;
        Ok(CreatePaymentSetupIntentPayload {
            setup_intent_id: intent.id,
            client_secret: intent.client_secret,
            status: intent.status,
        })
    }

    /// Saves the payment method a confirmed SetupIntent set up as the signed-in client's
    /// default, which their jobs are charged to. The server reads the SetupIntent from the
    /// provider and accepts it only when it was made for the caller's own customer and has
    /// succeeded; anything else is refused and nothing is stored. Clients with a verified e-mail
    /// only.
    #[graphql(guard = "HasRole(identity::Role::Client)")]
    async fn save_payment_method(
        &self,
        ctx: &Context<'_>,
        input: SavePaymentMethodInput,
    ) -> ApiResult<SavePaymentMethodPayload> {
        let id = setup_intent_id(&input.setup_intent_id)?;
        let methods = payment_methods(ctx)?;
        let user = verified_client(ctx).await?;
        let not_yours =
            || ApiError::Forbidden("this SetupIntent was not made for your account".to_string());
        let customer_id = user
            .client_data
            .as_ref()
            .and_then(|data| data.stripe_customer_id.clone())
            .ok_or_else(not_yours)?;
        let intent = match methods.setup_intent(id).await {
            Ok(intent) => intent,
            Err(escrow::ProviderError::Declined { .. }) => {
                return Err(ApiError::NotFound("SetupIntent not found".to_string()))
            }
            Err(error) => return Err(escrow::EscrowError::from(error).into()),
        };
        let payment_method_id = match intent.saved_method_for(&customer_id) {
            Ok(method) => method.to_string(),
            Err(escrow::SetupIntentRefusal::NotYours) => return Err(not_yours()),
            Err(escrow::SetupIntentRefusal::NotSucceeded) => {
                return Err(ApiError::Conflict(format!(
                    "the SetupIntent is `{}`, not `succeeded`: confirm it in the browser first",
                    intent.status
                )))
            }
        };
        services(ctx)
            .identity()
            .save_default_payment_method(user.id, &customer_id, &payment_method_id)
            .await?;
        Ok(SavePaymentMethodPayload { payment_method_id })
    }

    /// Connects the signed-in tester's payout account: creates it at the payment provider the
    /// first time (never a second one) and answers with a fresh onboarding link while it is not
    /// verified. Payouts wait, held, until the provider verifies the account. Testers only.
    #[graphql(guard = "HasRole(identity::Role::Tester)")]
    async fn connect_payout_account(
        &self,
        ctx: &Context<'_>,
        input: Option<ConnectPayoutAccountInput>,
    ) -> ApiResult<ConnectPayoutAccountPayload> {
        let input = input.unwrap_or_default();
        let country = input
            .country
            .map(|country| country.trim().to_ascii_uppercase());
        if let Some(country) = &country {
            if country.len() != 2 || !country.bytes().all(|byte| byte.is_ascii_uppercase()) {
                return Err(ApiError::bad_input(
                    "country",
                    "must be a two-letter ISO 3166-1 country code",
                ));
            }
        }
        let Some(onboarding) = services(ctx).payout_onboarding() else {
            return Err(ApiError::ServiceUnavailable(
                "payout accounts are not configured on this server".to_string(),
            ));
        };
        let user_id = crate::viewer::viewer(ctx).user()?.user_id;
        let identity = services(ctx).identity();
        let mut user = identity.require_user(user_id).await?;
        if PayoutAccountInfo::of(&user).is_none() {
            let account = onboarding
                .accounts
                .create_account(escrow::CreatePayoutAccountRequest {
                    idempotency_key: escrow::payout_account_key(user_id),
                    tester_id: user_id,
                    email: user.email.clone(),
                    country,
                })
                .await
                .map_err(escrow::EscrowError::from)?;
            user = identity
                .attach_payout_account(
                    user_id,
                    &account.account_id,
                    if account.verified {
                        identity::PayoutAccountStatus::Verified
                    } else {
                        identity::PayoutAccountStatus::Pending
                    },
                )
                .await?;
        }
        let payout_account = PayoutAccountInfo::of(&user)
            .ok_or_else(|| ApiError::Internal("the payout account was not recorded".to_string()))?;
        let onboarding_url = if payout_account.status == PayoutAccountStatus::Verified {
            None
        } else {
            Some(
                onboarding
                    .accounts
                    .onboarding_link(escrow::OnboardingLinkRequest {
                        account_id: payout_account.account_id.clone(),
                        refresh_url: onboarding.refresh_url.clone(),
                        return_url: onboarding.return_url.clone(),
                    })
                    .await
                    .map_err(escrow::EscrowError::from)?,
            )
        };
        Ok(ConnectPayoutAccountPayload {
            payout_account,
            onboarding_url,
        })
    }

    /// Pays an approved submission's tester now: the job's client (or their organization's
    /// owners and admins) gives up the rest of the dispute window, or an admin releases it; a
    /// failed transfer is retried. A payout frozen by a dispute is refused. Takes an
    /// idempotency key.
    #[graphql(guard = "SignedInUser")]
    async fn release_payout(
        &self,
        ctx: &Context<'_>,
        input: ReleasePayoutInput,
    ) -> ApiResult<ReleasePayoutPayload> {
        let id = submission_id(&input.submission_id, "submissionId")?;
        let key = input.idempotency_key.as_deref();
        let release_key = step_key(ctx, key, "release")?;
        let run = async {
            let actor = actor(ctx).await?;
            let submission = submission_by_id(ctx, id).await?;
            let job = load(ctx, JobLoader(services(ctx).clone()), submission.job_id)
                .await?
                .ok_or_else(not_found("submission"))?;
            if !actor.administers(job.client_id, job.organization_id) {
                // The tester and the organization's plain members know the submission exists.
                if actor.user_id == submission.tester_id
                    || actor.manages(job.client_id, job.organization_id)
                {
                    return Err(ApiError::Forbidden(
                        "only the job's client, their organization's owners and admins, and admins may release a payout"
                            .to_string(),
                    ));
                }
                // Anyone else may not learn the submission exists.
                return Err(ApiError::NotFound("submission not found".to_string()));
            }
            let standing = caller_standing(ctx).await?;
            let payout = services(ctx)
                .escrow()
                .release_payout(
                    services(ctx).marketplace(),
                    id,
                    true,
                    escrow::EscrowActor::User(actor.user_id),
                    standing,
                    &release_key,
                )
                .await?;
            // Read again: the payout moved the submission's `payout_status`.
            let submission = submission_by_id(ctx, id).await?;
            Ok(ReleasePayoutPayload {
                submission: Submission(submission),
                payout: Payout(payout),
            })
        };
        once(ctx, key, "releasePayout", id.to_hex(), run).await
    }
}
