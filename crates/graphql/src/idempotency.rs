//! Idempotency keys on the mutations that move money (`publishJob`, `approveSubmission`,
//! `rejectSubmission`, `completeJob`, `cancelJob`, `refundEscrow`, `releasePayout`).
//!
//! A client sends a key as the input's `idempotencyKey` or as the request's `Idempotency-Key`
//! header (the gateway passes it in [`RequestMeta`]); both at once must agree. The key is scoped
//! to the caller, so two clients never share one. The first request with a key runs and its
//! payload is stored (escrow's `escrow_idempotency_keys`, kept a day); a repeat with the same
//! mutation and input gets that stored payload, exactly as first answered, and changes nothing;
//! the same key with another mutation or input is `CONFLICT`. A repeat sent while the first is
//! still running waits for its answer. A request that failed stores nothing, so it may be retried
//! with the same key. A header key applies to every money-moving field of the request, so a
//! request with two such fields needs input keys instead (the second field would be refused as a
//! different request).
//!
//! Without a key, the mutations are still safe to repeat: each is a compare-and-set (a repeat
//! gets `CONFLICT`), and escrow deduplicates every money movement by our own ids.

use std::future::Future;

use async_graphql::Context;
use bson::oid::ObjectId;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::viewer::{viewer, RequestMeta};
use crate::Services;

/// The key a money-moving field runs under: the input's, the header's, or none.
fn client_key(ctx: &Context<'_>, input: Option<&str>) -> ApiResult<Option<String>> {
    let header = ctx
        .data_opt::<RequestMeta>()
        .and_then(|meta| meta.idempotency_key.as_deref());
    match (input, header) {
        (Some(input), Some(header)) if input != header => Err(ApiError::bad_input(
            "idempotencyKey",
            "differs from the Idempotency-Key header; send one of them",
        )),
        (Some(key), _) | (None, Some(key)) => Ok(Some(key.to_string())),
        (None, None) => Ok(None),
    }
}

/// Who the key belongs to: the signed-in user, or the API key.
fn caller(ctx: &Context<'_>) -> ApiResult<ObjectId> {
    let principal = viewer(ctx).principal()?;
    Ok(match principal {
        identity::Principal::User(user) => user.user_id,
        identity::Principal::ApiKey(key) => key.api_key_id,
    })
}

/// The caller-scoped key of this field's request (input or header), if the client sent one.
pub(crate) fn request_key(
    ctx: &Context<'_>,
    input_key: Option<&str>,
) -> ApiResult<Option<escrow::IdempotencyKey>> {
    match client_key(ctx, input_key)? {
        Some(key) => Ok(Some(escrow::IdempotencyKey::from_client(
            caller(ctx)?,
            &key,
        )?)),
        None => Ok(None),
    }
}

/// The key an escrow operation inside this field runs under: derived from the client's key (a
/// retry of the request repeats the operation under the same key), or unique without one.
pub(crate) fn step_key(
    ctx: &Context<'_>,
    input_key: Option<&str>,
    step: &str,
) -> ApiResult<escrow::IdempotencyKey> {
    Ok(request_key(ctx, input_key)?
        .map(|key| key.derived(step))
        .unwrap_or_else(escrow::IdempotencyKey::unique))
}

/// Runs `run` under the request's idempotency key, if any (see the module docs). `operation`
/// names the mutation; `arguments` must describe its whole input except the key.
pub(crate) async fn once<T, F>(
    ctx: &Context<'_>,
    input_key: Option<&str>,
    operation: &str,
    arguments: String,
    run: F,
) -> ApiResult<T>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = ApiResult<T>>,
{
    let Some(key) = request_key(ctx, input_key)? else {
        return run.await;
    };
    ctx.data_unchecked::<Services>()
        .escrow()
        .remember(&key, operation, arguments, run)
        .await
}
