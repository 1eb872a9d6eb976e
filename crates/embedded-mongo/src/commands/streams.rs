//! Change streams on the wire: `aggregate` with a leading `$changeStream` opens a tailable
//! cursor, and `getMore` on it waits up to `maxTimeMS` for new events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};

use super::reads::{checkout_error, GetMoreArguments};
use super::Context;
use crate::cursor::{ChangeStream, Cursor};
use crate::error::{codes, CommandError, CommandResult};
use crate::server::ServerState;

/// How long a change-stream `getMore` waits for events when the client names no `maxTimeMS`,
/// as MongoDB does for awaitData cursors.
const DEFAULT_AWAIT: Duration = Duration::from_millis(1000);
/// Events read from the log per batch when the client names no batch size.
const DEFAULT_EVENTS_PER_BATCH: usize = 1000;
/// Longest pause between two looks at the change log, in case a wake-up is missed.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Opens a change stream for `aggregate` and returns its first batch.
pub fn open(
    context: &Context<'_>,
    collection: Option<&str>,
    options: &Document,
    later_stages: &[Bson],
    batch_size: Option<usize>,
) -> CommandResult<Document> {
    let store = &context.state.store;
    let mut stream =
        ChangeStream::open(store, context.database, collection, options, later_stages)?;
    let batch = match batch_size {
        Some(0) => Vec::new(),
        size => stream.next_batch(store, size.unwrap_or(DEFAULT_EVENTS_PER_BATCH))?,
    };
    let token = stream.post_batch_resume_token();
    let namespace = stream.namespace.clone();
    let id = if stream.invalidated {
        0
    } else {
        context
            .state
            .cursors
            .register(Cursor::ChangeStream(Box::new(stream)))
    };
    Ok(doc! {
        "cursor": {
            "firstBatch": batch,
            "postBatchResumeToken": token,
            "id": id,
            "ns": namespace,
        },
        "ok": 1.0,
    })
}

/// `getMore` on a change stream: returns as soon as events arrive, or an empty batch after
/// `maxTimeMS`.
pub async fn get_more(
    state: &Arc<ServerState>,
    database: &str,
    body: &Document,
) -> CommandResult<Document> {
    let arguments = GetMoreArguments::parse(database, body)?;
    let wait = match super::optional_integer("getMore", "maxTimeMS", body.get("maxTimeMS"))? {
        Some(milliseconds) if milliseconds < 0 => {
            return Err(CommandError::bad_value("maxTimeMS must be non-negative"))
        }
        Some(milliseconds) if milliseconds > 0 => Duration::from_millis(milliseconds as u64),
        _ => DEFAULT_AWAIT,
    };
    let cursor = state
        .cursors
        .check_out(arguments.id, &arguments.namespace)
        .map_err(|error| checkout_error(&arguments, error))?;
    if let Some(error) = state.fail_points.fail_get_more(true) {
        state.cursors.remove(arguments.id);
        return Err(error);
    }
    let mut stream = match cursor {
        Cursor::ChangeStream(stream) => stream,
        other => {
            state.cursors.check_in(arguments.id, other);
            return Err(CommandError::new(292, "cursor changed kind while in use"));
        }
    };
    let deadline = Instant::now() + wait;
    let notifier = state.store.change_notifier();
    let max_events = arguments.batch_size.unwrap_or(DEFAULT_EVENTS_PER_BATCH);
    let batch = loop {
        // Register for the wake-up before looking, so an event between the look and the wait
        // is not missed.
        let notified = notifier.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let store = state.store.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let batch = stream.next_batch(&store, max_events);
            (stream, batch)
        })
        .await;
        let (returned, batch) = match joined {
            Ok(result) => result,
            Err(_) => {
                state.cursors.remove(arguments.id);
                return Err(CommandError::new(
                    codes::INTERNAL_ERROR,
                    "the change stream failed unexpectedly on the server",
                ));
            }
        };
        stream = returned;
        match batch {
            Err(error) => {
                state.cursors.remove(arguments.id);
                return Err(error);
            }
            Ok(batch) if !batch.is_empty() || stream.invalidated => break batch,
            Ok(_) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            break Vec::new();
        }
        let pause = (deadline - now).min(POLL_INTERVAL);
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(pause) => {}
            _ = state.stopped() => break Vec::new(),
        }
    };
    let token = stream.post_batch_resume_token();
    let namespace = stream.namespace.clone();
    let id = if stream.invalidated {
        state.cursors.remove(arguments.id);
        0
    } else {
        state
            .cursors
            .check_in(arguments.id, Cursor::ChangeStream(stream));
        arguments.id
    };
    Ok(doc! {
        "cursor": {
            "nextBatch": batch,
            "postBatchResumeToken": token,
            "id": id,
            "ns": namespace,
        },
        "ok": 1.0,
    })
}
