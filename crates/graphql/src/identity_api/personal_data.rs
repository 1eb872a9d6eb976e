//! A person's data rights (GDPR, seed 002): `changePassword`, `exportMyData` and
//! `eraseMyAccount`. The export gathers what every domain holds about the caller; erasure asks
//! marketplace and escrow what still runs on the caller (through identity's `ErasureBlockers`
//! seam) and lets identity refuse or erase.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use bson::oid::ObjectId;
use futures_util::future::BoxFuture;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::viewer::{viewer, SignedInUser};
use crate::Services;

fn services<'a>(ctx: &Context<'a>) -> &'a Services {
    ctx.data_unchecked::<Services>()
}

/// Input of `changePassword`.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// The account's password now.
    pub current_password: String,
    /// The new password: the same policy as registration.
    pub new_password: String,
}

/// Input of `eraseMyAccount`.
#[derive(InputObject)]
pub struct EraseMyAccountInput {
    /// The account's password, asked again because erasure cannot be undone.
    pub password: String,
}

/// Result of `changePassword` and `eraseMyAccount`.
#[derive(SimpleObject)]
pub struct AccountChangePayload {
    /// Always true; failures are errors.
    pub ok: bool,
}

/// Everything the platform holds about the signed-in person.
#[derive(SimpleObject)]
pub struct PersonalDataExport {
    /// The export as one JSON document (relaxed extended JSON for ids and dates) with the
    /// sections `account` (the user, sessions, organization role, e-mails sent), `marketplace`
    /// (projects and jobs as a client, seats and submissions as a tester), `escrow` (the escrow
    /// rows paying or paying out to the person), `ratings` (given, and received once
    /// revealed) and `qualification_tests` (the person's attempts and answers, without the
    /// answer key). Password hashes, token hashes, second-factor secrets, e-mail links and project
    /// credentials are never in it.
    pub json: String,
}

#[derive(Serialize)]
struct ExportDocument<'a> {
    account: &'a identity::UserDataExport,
    marketplace: &'a marketplace::MarketplacePersonalData,
    escrow: &'a [escrow::EscrowTransaction],
    ratings: &'a [trust::Rating],
    qualification_tests: &'a [trust::QualificationTest],
}

/// Marketplace and escrow tell identity what still runs on a person.
struct RunningWork<'a> {
    services: &'a Services,
}

impl identity::ErasureBlockers for RunningWork<'_> {
    fn blockers(
        &self,
        user_id: ObjectId,
    ) -> BoxFuture<'_, Result<Vec<String>, identity::IdentityError>> {
        Box::pin(async move {
            let internal = |error: String| identity::IdentityError::Internal(error);
            let mut blockers: Vec<String> = self
                .services
                .marketplace()
                .erasure_blockers(user_id)
                .await
                .map_err(|error| internal(error.to_string()))?
                .iter()
                .map(ToString::to_string)
                .collect();
            let owed = self
                .services
                .escrow()
                .payouts_owed_to(user_id)
                .await
                .map_err(|error| internal(error.to_string()))?;
            blockers.extend(owed.iter().map(|payout| {
                format!(
                    "payout {} is still {} (wait until it is paid)",
                    payout.payout_id,
                    payout.status.as_str()
                )
            }));
            Ok(blockers)
        })
    }
}

/// A person's data queries.
#[derive(Default)]
pub struct PersonalDataQuery;

/// A person's data queries.
#[Object]
impl PersonalDataQuery {
    /// Everything the platform holds about the signed-in user, across every domain (GDPR
    /// access and portability). Signed-in users only; API keys may not read it.
    #[graphql(guard = "SignedInUser")]
    async fn export_my_data(&self, ctx: &Context<'_>) -> ApiResult<PersonalDataExport> {
        let principal = viewer(ctx).principal()?;
        let user_id = viewer(ctx).user()?.user_id;
        let services = services(ctx);
        let account = services.identity().export_user_data(principal).await?;
        let marketplace = services.marketplace().personal_data(user_id).await?;
        let escrow = services.escrow().escrows_naming(user_id).await?;
        let ratings = services.trust().ratings_of_person(user_id).await?;
        let qualification_tests = services
            .trust()
            .qualification_tests_of_person(user_id)
            .await?;
        let document = bson::to_bson(&ExportDocument {
            account: &account,
            marketplace: &marketplace,
            escrow: &escrow,
            ratings: &ratings,
            qualification_tests: &qualification_tests,
        })
        .map_err(|error| ApiError::Internal(format!("export encoding: {error}")))?;
        let json = serde_json::to_string_pretty(&document.into_relaxed_extjson())
            .map_err(|error| ApiError::Internal(format!("export encoding: {error}")))?;
        Ok(PersonalDataExport { json })
    }
}

/// A person's data mutations.
#[derive(Default)]
pub struct PersonalDataMutation;

/// A person's data mutations.
#[Object]
impl PersonalDataMutation {
    /// Changes the signed-in user's password. `BAD_USER_INPUT` on `currentPassword` when it is
    /// wrong (wrong attempts are counted; past the limit `RATE_LIMITED`) and on `newPassword`
    /// when it fails the registration policy; either way nothing changes. Every OTHER session of
    /// the account is revoked (their refresh tokens stop working); the session making the change
    /// stays signed in.
    #[graphql(guard = "SignedInUser")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        input: ChangePasswordInput,
    ) -> ApiResult<AccountChangePayload> {
        let principal = viewer(ctx).principal()?;
        services(ctx)
            .identity()
            .change_password(principal, &input.current_password, &input.new_password)
            .await?;
        Ok(AccountChangePayload { ok: true })
    }

    /// Erases the signed-in user's account (GDPR erasure): personal fields removed, e-mail
    /// replaced, password and every session invalidated; ids stay so jobs, submissions and
    /// payments keep their history. `BAD_USER_INPUT` on `password` when it is wrong.
    /// `FAILED_PRECONDITION`, naming each blocker and changing nothing, while a job of theirs is
    /// open, in progress or in review, a seat of theirs is not completed, a submission of theirs
    /// awaits review, or a payout is still owed to them; `CONFLICT` while they are the only owner
    /// of an organization.
    #[graphql(guard = "SignedInUser")]
    async fn erase_my_account(
        &self,
        ctx: &Context<'_>,
        input: EraseMyAccountInput,
    ) -> ApiResult<AccountChangePayload> {
        let principal = viewer(ctx).principal()?;
        let services = services(ctx);
        services
            .identity()
            .erase_account(principal, &input.password, &RunningWork { services })
            .await?;
        Ok(AccountChangePayload { ok: true })
    }
}
