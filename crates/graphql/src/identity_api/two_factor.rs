//! TOTP two-factor authentication: enrol (secret and `otpauth://` URL), confirm with a first code
//! (which returns the one-time recovery codes), disable. Each needs the account's password again;
//! wrong passwords and codes count against the account's second-factor budget.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::accounts::SuccessPayload;
use crate::error::{ApiError, ApiResult};
use crate::viewer::{viewer, SignedInUser};
use crate::Services;

/// Result of `enrollTwoFactor`.
#[derive(SimpleObject)]
pub struct EnrollTwoFactorPayload {
    /// The shared secret in base32, for typing into an authenticator app.
    pub secret: String,
    /// The `otpauth://totp/...` URL, usually shown as a QR code.
    pub otpauth_url: String,
}

/// Input of `enrollTwoFactor`.
#[derive(InputObject)]
pub struct EnrollTwoFactorInput {
    /// The account's password: a stolen access token alone cannot change the second factor.
    pub password: String,
}

/// Input of `confirmTwoFactor`.
#[derive(InputObject)]
pub struct ConfirmTwoFactorInput {
    /// The account's password.
    pub password: String,
    /// The current 6-digit code from the authenticator app.
    pub code: String,
}

/// Result of `confirmTwoFactor`.
#[derive(SimpleObject)]
pub struct ConfirmTwoFactorPayload {
    /// One-time recovery codes, shown only now; each replaces a TOTP code once.
    pub recovery_codes: Vec<String>,
}

/// Input of `disableTwoFactor`: a current TOTP code or a recovery code.
#[derive(InputObject)]
pub struct DisableTwoFactorInput {
    /// The account's password.
    pub password: String,
    /// A current 6-digit code.
    pub totp_code: Option<String>,
    /// A one-time recovery code instead.
    pub recovery_code: Option<String>,
}

/// Two-factor mutations; all need a signed-in user.
#[derive(Default)]
pub struct TwoFactorMutation;

/// Two-factor mutations.
#[Object]
impl TwoFactorMutation {
    /// Starts enrolment (password required): returns a new secret. Logins need no code until
    /// `confirmTwoFactor`.
    #[graphql(guard = "SignedInUser")]
    async fn enroll_two_factor(
        &self,
        ctx: &Context<'_>,
        input: EnrollTwoFactorInput,
    ) -> ApiResult<EnrollTwoFactorPayload> {
        let principal = viewer(ctx).principal()?;
        let enrollment = ctx
            .data_unchecked::<Services>()
            .identity()
            .begin_two_factor_enrollment(principal, &input.password)
            .await?;
        Ok(EnrollTwoFactorPayload {
            secret: enrollment.secret_base32,
            otpauth_url: enrollment.otpauth_url,
        })
    }

    /// Finishes enrolment with the password and a code from the app; from now on logins need a
    /// second factor, and the user is e-mailed.
    #[graphql(guard = "SignedInUser")]
    async fn confirm_two_factor(
        &self,
        ctx: &Context<'_>,
        input: ConfirmTwoFactorInput,
    ) -> ApiResult<ConfirmTwoFactorPayload> {
        let principal = viewer(ctx).principal()?;
        let recovery_codes = ctx
            .data_unchecked::<Services>()
            .identity()
            .confirm_two_factor_enrollment(principal, &input.password, &input.code)
            .await?;
        Ok(ConfirmTwoFactorPayload { recovery_codes })
    }

    /// Turns two-factor authentication off; needs the password and a current code or a recovery
    /// code, and e-mails the user. `RATE_LIMITED` after 5 wrong attempts in 15 minutes.
    #[graphql(guard = "SignedInUser")]
    async fn disable_two_factor(
        &self,
        ctx: &Context<'_>,
        input: DisableTwoFactorInput,
    ) -> ApiResult<SuccessPayload> {
        let principal = viewer(ctx).principal()?;
        let second_factor = match (input.totp_code, input.recovery_code) {
            (Some(code), _) => identity::SecondFactor::Totp(code),
            (None, Some(code)) => identity::SecondFactor::RecoveryCode(code),
            (None, None) => {
                return Err(ApiError::bad_input(
                    "totpCode",
                    "give a current code or a recovery code",
                ))
            }
        };
        ctx.data_unchecked::<Services>()
            .identity()
            .disable_two_factor(principal, &input.password, second_factor)
            .await?;
        Ok(SuccessPayload {
            ok: true,
            client_mutation_id: None,
        })
    }
}
