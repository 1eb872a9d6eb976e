//! TOTP two-factor authentication: enrol (secret and `otpauth://` URL), confirm with a first code
//! (which returns the one-time recovery codes), disable.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::accounts::{EmptyInput, SuccessPayload};
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

/// Input of `confirmTwoFactor`.
#[derive(InputObject)]
pub struct ConfirmTwoFactorInput {
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
    /// Starts enrolment: returns a new secret. Logins need no code until `confirmTwoFactor`.
    #[graphql(guard = "SignedInUser")]
    async fn enroll_two_factor(
        &self,
        ctx: &Context<'_>,
        input: EmptyInput,
    ) -> ApiResult<EnrollTwoFactorPayload> {
        let _ = input;
        let principal = viewer(ctx).principal()?;
        let enrollment = ctx
            .data_unchecked::<Services>()
            .identity()
            .begin_two_factor_enrollment(principal)
            .await?;
        Ok(EnrollTwoFactorPayload {
            secret: enrollment.secret_base32,
            otpauth_url: enrollment.otpauth_url,
        })
    }

    /// Finishes enrolment with a code from the app; from now on logins need a second factor.
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
            .confirm_two_factor_enrollment(principal, &input.code)
            .await?;
        Ok(ConfirmTwoFactorPayload { recovery_codes })
    }

    /// Turns two-factor authentication off; needs a current code or a recovery code.
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
            .disable_two_factor(principal, second_factor)
            .await?;
        Ok(SuccessPayload {
            ok: true,
            client_mutation_id: None,
        })
    }
}
