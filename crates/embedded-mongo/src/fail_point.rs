//! MongoDB's `failCommand` test fail point, so tests can make the next write (or any command)
//! fail the way a real server or network would: with an error code, or by closing the
//! connection without a reply.
//!
//! As in `mongod`, it exists only on a server started with test commands enabled
//! ([`crate::ServerConfig::enable_test_commands`], `--enable-test-commands`; `mongod` needs
//! `--setParameter enableTestCommands=1`); otherwise `configureFailPoint` is an unknown command.
//! It is configured through the admin database:
//!
//! ```text
//! { configureFailPoint: "failCommand",
//!   mode: { times: 2 } | "alwaysOn" | "off",
//!   data: { failCommands: ["update", ...], errorCode: 50, errmsg: "...", errorLabels: [...],
//!           closeConnection: false, appName: "peertest-gateway",
//!           blockConnection: true, blockTimeMS: 200, writeConcernError: { code: 64, ... } } }
//! ```
//!
//! A command whose name is in `failCommands`, sent by a client whose handshake named `appName`
//! (when given), first waits `blockTimeMS` when `blockConnection` is set; then it is not run: it
//! gets `errorCode` (with `errmsg`, default MongoDB's "Failing command via 'failCommand'
//! failpoint", and `errorLabels`), or, with `closeConnection`, the connection is closed without a
//! reply. With only `writeConcernError` (or only a block) the command runs and its reply carries
//! that `writeConcernError`. Without `errorLabels`, the labels are the ones mongod adds itself:
//! `TransientTransactionError` on a transient code inside a transaction, `RetryableWriteError`
//! on a retryable code of a retryable write or a commit/abort. `{times: n}` fires on the next `n`
//! matching commands and then turns itself off; `{skip: n}` lets the next `n` pass and then fires
//! on every one. `configureFailPoint` itself is never failed.
//!
//! `onPrimaryTransactionalWrite` (what the retryable-writes tests use) acts on retryable writes
//! only (a write with a `txnNumber` outside a transaction): with `failBeforeCommitExceptionCode`
//! the write fails with that code and is not applied; with `closeConnection` the write is applied
//! and remembered for its retry, then the connection closes without a reply.
//!
//! `failGetMoreAfterCursorCheckout` (what drivers' change-stream tests use) fails a `getMore`
//! once its cursor is checked out, with `data.errorCode`; the cursor is killed, as mongod kills a
//! cursor whose `getMore` failed. On a change stream the error carries the label mongod gives it:
//! `ResumableChangeStreamError` for a resumable code (so the driver resumes),
//! `NonResumableChangeStreamError` for 280 and 286. Like mongod it reads only `errorCode` and
//! ignores the `failCommand` fields tests often pass along (`failCommands`, `closeConnection`).
//! Not implemented: the `activationProbability` mode; it is refused, not ignored.

use bson::{doc, Bson, Document};
use parking_lot::Mutex;

use crate::error::{codes, CommandError, CommandResult};

/// The fail point that fails or answers chosen commands.
pub const FAIL_COMMAND: &str = "failCommand";

/// The fail point that acts on retryable writes.
pub const ON_PRIMARY_TRANSACTIONAL_WRITE: &str = "onPrimaryTransactionalWrite";

/// The fail point that fails a `getMore` after its cursor is checked out.
pub const FAIL_GET_MORE_AFTER_CURSOR_CHECKOUT: &str = "failGetMoreAfterCursorCheckout";

/// The message `mongod` sends when no `errmsg` is configured.
const DEFAULT_MESSAGE: &str = "Failing command via 'failCommand' failpoint";

/// How often the fail point fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// On every matching command until turned off.
    AlwaysOn,
    /// On the next `n` matching commands.
    Times(u64),
    /// Not on the next `n` matching commands, then on every one.
    Skip(u64),
}

impl Mode {
    /// Counts one matching command; whether the fail point fires on it, and whether it is
    /// spent afterwards.
    fn step(&mut self) -> (bool, bool) {
        match self {
            Mode::AlwaysOn => (true, false),
            Mode::Times(left) => {
                *left = left.saturating_sub(1);
                (true, *left == 0)
            }
            Mode::Skip(0) => (true, false),
            Mode::Skip(left) => {
                *left -= 1;
                (false, false)
            }
        }
    }
}

/// A configured `onPrimaryTransactionalWrite`.
#[derive(Debug, Clone, PartialEq)]
struct TransactionalWrite {
    mode: Mode,
    close_connection: bool,
    fail_before_commit: Option<i32>,
}

/// What a configured `failCommand` does.
#[derive(Debug, Clone, PartialEq)]
struct FailCommand {
    mode: Mode,
    commands: Vec<String>,
    error_code: Option<i32>,
    message: String,
    /// `None` when not configured: then mongod's own labelling applies.
    error_labels: Option<Vec<String>>,
    close_connection: bool,
    app_name: Option<String>,
    block: Option<std::time::Duration>,
    write_concern_error: Option<Document>,
}

/// What the fail point does to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Injected {
    /// Reply with this error; `labels_configured` is false when mongod's own labels apply.
    Fail {
        error: CommandError,
        labels_configured: bool,
    },
    /// Close the connection without replying.
    CloseConnection,
    /// Run the command, then add this `writeConcernError` to a successful reply.
    WriteConcernError(Document),
    /// Run the command normally (the fail point only blocked it).
    Run,
    /// Run the command (so a retry finds it done), then close the connection without replying.
    RunThenClose,
}

/// An injection: how long to block the connection first, then what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Injection {
    pub block: Option<std::time::Duration>,
    pub injected: Injected,
}

/// Codes mongod labels `TransientTransactionError` inside a transaction.
const TRANSIENT_TRANSACTION_CODES: &[i32] = &[
    codes::LOCK_TIMEOUT,
    codes::WRITE_CONFLICT,
    codes::SNAPSHOT_TOO_OLD,
    codes::SNAPSHOT_UNAVAILABLE,
    codes::NO_SUCH_TRANSACTION,
    codes::PREPARED_TRANSACTION_IN_PROGRESS,
    6,
    7,
    89,
    91,
    189,
    9001,
    10107,
    11600,
    11602,
    13435,
    13436,
];

/// Codes mongod labels `ResumableChangeStreamError` on a change stream's `getMore`: the retriable
/// and network errors, the stale-routing ones, `FailedToSatisfyReadPreference` and
/// `RetryChangeStream`.
const RESUMABLE_CHANGE_STREAM_CODES: &[i32] = &[
    6, 7, 63, 89, 91, 133, 150, 189, 234, 262, 9001, 10107, 11600, 11602, 13388, 13435, 13436,
];

/// Codes after which a change stream cannot resume (`NonResumableChangeStreamError`).
const NON_RESUMABLE_CHANGE_STREAM_CODES: &[i32] = &[
    codes::CHANGE_STREAM_FATAL_ERROR,
    codes::CHANGE_STREAM_HISTORY_LOST,
];

/// Codes the retryable-writes specification retries, which mongod labels `RetryableWriteError`.
const RETRYABLE_WRITE_CODES: &[i32] = &[
    6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
];

/// Adds the labels mongod itself gives `error` for a command in `body`: inside a transaction a
/// transient code is `TransientTransactionError`; on a retryable write (or a commit or abort) a
/// retryable code is `RetryableWriteError`.
pub fn label_as_mongod(mut error: CommandError, body: &Document) -> CommandError {
    let name = body.keys().next().map(String::as_str).unwrap_or_default();
    let in_transaction = matches!(body.get("autocommit"), Some(Bson::Boolean(false)));
    let commit_or_abort = matches!(name, "commitTransaction" | "abortTransaction");
    if in_transaction && !commit_or_abort && TRANSIENT_TRANSACTION_CODES.contains(&error.code) {
        error = error.with_label("TransientTransactionError");
    }
    let retryable_write = body.contains_key("txnNumber")
        && (commit_or_abort
            || (!in_transaction
                && matches!(name, "insert" | "update" | "delete" | "findAndModify")));
    if retryable_write && RETRYABLE_WRITE_CODES.contains(&error.code) {
        error = error.with_label("RetryableWriteError");
    }
    error
}

/// The server's fail points (only `failCommand`), shared by every connection.
#[derive(Debug, Default)]
pub struct FailPoints {
    fail_command: Mutex<Option<FailCommand>>,
    transactional_write: Mutex<Option<TransactionalWrite>>,
    /// `failGetMoreAfterCursorCheckout`: when it fires, and the code it fails with.
    get_more_after_checkout: Mutex<Option<(Mode, i32)>>,
    /// How many commands the fail point failed since the server started (`count` in the reply).
    fired: Mutex<u64>,
}

impl FailPoints {
    /// Runs `configureFailPoint` (already known to be allowed and sent to `admin`).
    pub fn configure(&self, body: &Document) -> CommandResult<Document> {
        let name = match body.get("configureFailPoint") {
            Some(Bson::String(name)) => name.as_str(),
            _ => {
                return Err(CommandError::type_mismatch(
                    "configureFailPoint must name a fail point",
                ))
            }
        };
        if ![
            FAIL_COMMAND,
            ON_PRIMARY_TRANSACTIONAL_WRITE,
            FAIL_GET_MORE_AFTER_CURSOR_CHECKOUT,
        ]
        .contains(&name)
        {
            return Err(CommandError::bad_value(format!(
                "Cannot find failpoint: {name} (this server has {FAIL_COMMAND}, \
                 {ON_PRIMARY_TRANSACTIONAL_WRITE} and {FAIL_GET_MORE_AFTER_CURSOR_CHECKOUT})"
            )));
        }
        let mode = match body.get("mode") {
            Some(Bson::String(mode)) if mode == "off" => None,
            Some(Bson::String(mode)) if mode == "alwaysOn" => Some(Mode::AlwaysOn),
            Some(Bson::Document(mode)) => Some(times(mode)?),
            Some(other) => {
                return Err(CommandError::bad_value(format!(
                    "mode must be \"off\", \"alwaysOn\", {{times: n}} or {{skip: n}}, not {other}"
                )))
            }
            None => return Err(CommandError::bad_value("configureFailPoint needs a mode")),
        };
        if name == FAIL_GET_MORE_AFTER_CURSOR_CHECKOUT {
            let configured = match mode {
                None | Some(Mode::Times(0)) => None,
                Some(mode) => Some((mode, get_more_error_code(body.get("data"))?)),
            };
            *self.get_more_after_checkout.lock() = configured;
            let count = *self.fired.lock();
            return Ok(doc! { "count": i64::try_from(count).unwrap_or(i64::MAX), "ok": 1.0 });
        }
        if name == ON_PRIMARY_TRANSACTIONAL_WRITE {
            let configured = match mode {
                None | Some(Mode::Times(0)) => None,
                Some(mode) => Some(transactional_write(mode, body.get("data"))?),
            };
            *self.transactional_write.lock() = configured;
            let count = *self.fired.lock();
            return Ok(doc! { "count": i64::try_from(count).unwrap_or(i64::MAX), "ok": 1.0 });
        }
        let configured = match mode {
            None | Some(Mode::Times(0)) => None,
            Some(mode) => Some(fail_command(mode, body.get("data"))?),
        };
        *self.fail_command.lock() = configured;
        let count = *self.fired.lock();
        Ok(doc! { "count": i64::try_from(count).unwrap_or(i64::MAX), "ok": 1.0 })
    }

    /// The error a `getMore` whose cursor was just checked out fails with, if
    /// `failGetMoreAfterCursorCheckout` fires on it; `change_stream` when the cursor is a change
    /// stream's, which decides the error's label. The caller kills the cursor.
    pub fn fail_get_more(&self, change_stream: bool) -> Option<CommandError> {
        let mut slot = self.get_more_after_checkout.lock();
        let (mode, code) = slot.as_mut()?;
        let code = *code;
        let (fires, spent) = mode.step();
        if spent {
            *slot = None;
        }
        if !fires {
            return None;
        }
        *self.fired.lock() += 1;
        let mut error = CommandError::new(
            code,
            "Failing getMore via 'failGetMoreAfterCursorCheckout' failpoint",
        );
        if change_stream && RESUMABLE_CHANGE_STREAM_CODES.contains(&code) {
            error = error.with_label("ResumableChangeStreamError");
        }
        if change_stream && NON_RESUMABLE_CHANGE_STREAM_CODES.contains(&code) {
            error = error.with_label("NonResumableChangeStreamError");
        }
        Some(error)
    }

    /// What `onPrimaryTransactionalWrite` does to the command `body`, if it is a retryable write
    /// and the fail point fires on it.
    pub fn intercept_write(&self, body: &Document) -> Option<Injection> {
        let name = body.keys().next().map(String::as_str).unwrap_or_default();
        let retryable_write = body.contains_key("txnNumber")
            && !body.contains_key("autocommit")
            && matches!(
                name,
                "insert" | "update" | "delete" | "findAndModify" | "findandmodify"
            );
        if !retryable_write {
            return None;
        }
        let mut slot = self.transactional_write.lock();
        let point = slot.as_mut()?;
        let (fires, spent) = point.mode.step();
        let injected = match (fires, point.fail_before_commit, point.close_connection) {
            (false, _, _) => None,
            (true, Some(code), _) => Some(Injected::Fail {
                error: CommandError::new(
                    code,
                    "Failing write via 'onPrimaryTransactionalWrite' failpoint",
                ),
                labels_configured: false,
            }),
            (true, None, true) => Some(Injected::RunThenClose),
            (true, None, false) => Some(Injected::Run),
        };
        if spent {
            *slot = None;
        }
        if injected.is_some() {
            *self.fired.lock() += 1;
        }
        injected.map(|injected| Injection {
            block: None,
            injected,
        })
    }

    /// What to do instead of running `command` for a client named `app_name`, if the fail point
    /// is set for it; counts one firing of `{times: n}`.
    pub fn intercept(&self, command: &str, app_name: Option<&str>) -> Option<Injection> {
        if command == "configureFailPoint" {
            return None;
        }
        let mut slot = self.fail_command.lock();
        let fail = slot.as_mut()?;
        if !fail.commands.iter().any(|name| name == command) {
            return None;
        }
        if fail
            .app_name
            .as_deref()
            .is_some_and(|wanted| Some(wanted) != app_name)
        {
            return None;
        }
        let (fires, spent) = fail.mode.step();
        if !fires {
            return None;
        }
        let injected = if fail.close_connection {
            Injected::CloseConnection
        } else if let Some(code) = fail.error_code {
            let mut error = CommandError::new(code, fail.message.clone());
            error.labels = fail.error_labels.clone().unwrap_or_default();
            Injected::Fail {
                error,
                labels_configured: fail.error_labels.is_some(),
            }
        } else if let Some(write_concern_error) = &fail.write_concern_error {
            Injected::WriteConcernError(write_concern_error.clone())
        } else {
            Injected::Run
        };
        let injected = Injection {
            block: fail.block,
            injected,
        };
        if spent {
            *slot = None;
        }
        *self.fired.lock() += 1;
        Some(injected)
    }
}

fn times(mode: &Document) -> CommandResult<Mode> {
    let mut keys = mode.keys();
    let kind = match (keys.next().map(String::as_str), keys.next()) {
        (Some(kind @ ("times" | "skip")), None) => kind,
        _ => {
            return Err(CommandError::bad_value(format!(
                "only {{times: n}} and {{skip: n}} are supported as a mode document, not {mode}"
            )))
        }
    };
    let field = format!("mode.{kind}");
    match crate::commands::whole_number("configureFailPoint", &field, mode.get(kind))? {
        Some(count) if count >= 0 && kind == "times" => Ok(Mode::Times(count as u64)),
        Some(count) if count >= 0 => Ok(Mode::Skip(count as u64)),
        _ => Err(CommandError::bad_value(format!(
            "{field} must be a non-negative integer"
        ))),
    }
}

/// The `errorCode` of `failGetMoreAfterCursorCheckout`'s data, which it needs. mongod reads no
/// other field; the `failCommand` fields tests pass along with it are accepted, as there.
fn get_more_error_code(data: Option<&Bson>) -> CommandResult<i32> {
    let Some(Bson::Document(data)) = data else {
        return Err(CommandError::bad_value(
            "failGetMoreAfterCursorCheckout needs a data document with errorCode",
        ));
    };
    for key in data.keys() {
        if !matches!(
            key.as_str(),
            "errorCode" | "failCommands" | "closeConnection"
        ) {
            return Err(CommandError::bad_value(format!(
                "failGetMoreAfterCursorCheckout data field `{key}` is not supported here"
            )));
        }
    }
    crate::commands::whole_number(
        "failGetMoreAfterCursorCheckout",
        "errorCode",
        data.get("errorCode"),
    )?
    .and_then(|code| i32::try_from(code).ok())
    .ok_or_else(|| CommandError::bad_value("failGetMoreAfterCursorCheckout needs an int errorCode"))
}

fn transactional_write(mode: Mode, data: Option<&Bson>) -> CommandResult<TransactionalWrite> {
    let mut point = TransactionalWrite {
        mode,
        close_connection: false,
        fail_before_commit: None,
    };
    let empty = Document::new();
    let data = match data {
        Some(Bson::Document(data)) => data,
        None => &empty,
        Some(_) => {
            return Err(CommandError::bad_value(
                "onPrimaryTransactionalWrite data must be a document",
            ))
        }
    };
    for (key, value) in data {
        match (key.as_str(), value) {
            ("closeConnection", Bson::Boolean(close)) => point.close_connection = *close,
            ("failBeforeCommitExceptionCode", value) => {
                let code = crate::commands::whole_number(
                    "onPrimaryTransactionalWrite",
                    "failBeforeCommitExceptionCode",
                    Some(value),
                )?
                .and_then(|code| i32::try_from(code).ok())
                .ok_or_else(|| {
                    CommandError::bad_value("failBeforeCommitExceptionCode must be an int")
                })?;
                point.fail_before_commit = Some(code);
            }
            (other, _) => {
                return Err(CommandError::bad_value(format!(
                    "onPrimaryTransactionalWrite data field `{other}` is not supported here (or has the wrong type)"
                )))
            }
        }
    }
    Ok(point)
}

fn fail_command(mode: Mode, data: Option<&Bson>) -> CommandResult<FailCommand> {
    let data = match data {
        Some(Bson::Document(data)) => data,
        _ => {
            return Err(CommandError::bad_value(
                "failCommand needs a data document with failCommands",
            ))
        }
    };
    let mut fail = FailCommand {
        mode,
        commands: Vec::new(),
        error_code: None,
        message: DEFAULT_MESSAGE.to_string(),
        error_labels: None,
        close_connection: false,
        app_name: None,
        block: None,
        write_concern_error: None,
    };
    let mut block_connection = false;
    let mut block_time = None;
    for (key, value) in data {
        match (key.as_str(), value) {
            ("failCommands", Bson::Array(names)) => {
                fail.commands = strings(names, "failCommands")?;
            }
            ("errorCode", value) => {
                let code = crate::commands::whole_number("failCommand", "errorCode", Some(value))?
                    .and_then(|code| i32::try_from(code).ok())
                    .ok_or_else(|| CommandError::bad_value("errorCode must be an int"))?;
                fail.error_code = Some(code);
            }
            ("errmsg", Bson::String(message)) => fail.message = message.clone(),
            ("errorLabels", Bson::Array(labels)) => {
                fail.error_labels = Some(strings(labels, "errorLabels")?);
            }
            ("blockConnection", Bson::Boolean(block)) => block_connection = *block,
            ("blockTimeMS", value) => {
                let milliseconds =
                    crate::commands::whole_number("failCommand", "blockTimeMS", Some(value))?
                        .filter(|milliseconds| (0..=600_000).contains(milliseconds))
                        .ok_or_else(|| {
                            CommandError::bad_value("blockTimeMS must be between 0 and 600000")
                        })?;
                block_time = Some(std::time::Duration::from_millis(milliseconds as u64));
            }
            ("writeConcernError", Bson::Document(error)) => {
                if !matches!(error.get("code"), Some(Bson::Int32(_) | Bson::Int64(_))) {
                    return Err(CommandError::bad_value(
                        "writeConcernError needs an integer code",
                    ));
                }
                fail.write_concern_error = Some(error.clone());
            }
            ("closeConnection", Bson::Boolean(close)) => fail.close_connection = *close,
            ("appName", Bson::String(name)) => fail.app_name = Some(name.clone()),
            (other, _) => {
                return Err(CommandError::bad_value(format!(
                    "failCommand data field `{other}` is not supported here (or has the wrong type)"
                )))
            }
        }
    }
    if fail.commands.is_empty() {
        return Err(CommandError::bad_value(
            "failCommand needs a non-empty failCommands list",
        ));
    }
    match (block_connection, block_time) {
        (true, Some(time)) => fail.block = Some(time),
        (true, None) => return Err(CommandError::bad_value("blockConnection needs blockTimeMS")),
        (false, _) => {}
    }
    if fail.error_code.is_none()
        && !fail.close_connection
        && fail.write_concern_error.is_none()
        && fail.block.is_none()
    {
        return Err(CommandError::bad_value(
            "failCommand needs errorCode, closeConnection, writeConcernError or blockConnection",
        ));
    }
    Ok(fail)
}

fn strings(values: &[Bson], field: &str) -> CommandResult<Vec<String>> {
    values
        .iter()
        .map(|value| match value {
            Bson::String(text) => Ok(text.clone()),
            other => Err(CommandError::type_mismatch(format!(
                "{field} holds strings, not {other}"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configure(points: &FailPoints, body: Document) -> CommandResult<Document> {
        points.configure(&body)
    }

    #[test]
    fn times_fails_that_many_matching_commands_then_turns_off() {
        let points = FailPoints::default();
        configure(
            &points,
            doc! { "configureFailPoint": "failCommand", "mode": { "times": 2 },
            "data": { "failCommands": ["update"], "errorCode": 50 } },
        )
        .unwrap();
        assert_eq!(points.intercept("find", None), None);
        for _ in 0..2 {
            let Some(Injection {
                injected: Injected::Fail { error, .. },
                ..
            }) = points.intercept("update", None)
            else {
                panic!("expected an injected failure");
            };
            assert_eq!(error.code, 50);
            assert_eq!(error.message, DEFAULT_MESSAGE);
        }
        assert_eq!(points.intercept("update", None), None);
    }

    #[test]
    fn app_name_close_connection_and_off_are_honoured() {
        let points = FailPoints::default();
        configure(
            &points,
            doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": { "failCommands": ["insert"], "closeConnection": true, "appName": "gw" } },
        )
        .unwrap();
        assert_eq!(points.intercept("insert", Some("other")), None);
        assert_eq!(points.intercept("insert", None), None);
        let close = Some(Injection {
            block: None,
            injected: Injected::CloseConnection,
        });
        assert_eq!(points.intercept("insert", Some("gw")), close);
        assert_eq!(points.intercept("insert", Some("gw")), close);
        let reply = configure(
            &points,
            doc! { "configureFailPoint": "failCommand", "mode": "off" },
        )
        .unwrap();
        assert_eq!(reply.get_i64("count").unwrap(), 2);
        assert_eq!(points.intercept("insert", Some("gw")), None);
    }

    #[test]
    fn unsupported_modes_and_data_are_refused() {
        let points = FailPoints::default();
        for body in [
            doc! { "configureFailPoint": "otherPoint", "mode": "alwaysOn" },
            doc! { "configureFailPoint": "failCommand", "mode": { "activationProbability": 0.5 },
            "data": { "failCommands": ["find"], "errorCode": 2 } },
            doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": { "failCommands": ["find"] } },
            doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": { "failCommands": ["find"], "errorCode": 2, "blockConnection": true } },
            doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": { "failCommands": ["find"], "writeConcernError": { "errmsg": "x" } } },
            doc! { "configureFailPoint": "onPrimaryTransactionalWrite", "mode": "alwaysOn",
            "data": { "closeConnection": "yes" } },
            doc! { "configureFailPoint": "failGetMoreAfterCursorCheckout", "mode": "alwaysOn" },
        ] {
            assert!(configure(&points, body.clone()).is_err(), "{body}");
        }
        assert_eq!(points.intercept("find", None), None);
    }

    #[test]
    fn every_code_the_fail_points_label_has_mongods_name() {
        for code in TRANSIENT_TRANSACTION_CODES
            .iter()
            .chain(RETRYABLE_WRITE_CODES)
            .chain(RESUMABLE_CHANGE_STREAM_CODES)
            .chain(NON_RESUMABLE_CHANGE_STREAM_CODES)
        {
            let name = crate::error::code_name(*code);
            assert!(!name.starts_with("Location"), "{code} has no name: {name}");
        }
    }

    #[test]
    fn a_get_more_fail_point_labels_change_stream_errors_only() {
        let points = FailPoints::default();
        let configure_get_more = |code: i32| {
            configure(
                &points,
                doc! { "configureFailPoint": FAIL_GET_MORE_AFTER_CURSOR_CHECKOUT,
                "mode": { "times": 1 }, "data": { "errorCode": code, "failCommands": ["getMore"] } },
            )
            .expect("configured");
        };
        configure_get_more(234);
        let error = points.fail_get_more(true).expect("fires");
        assert_eq!(
            (error.code, error.labels.clone()),
            (234, vec!["ResumableChangeStreamError".to_string()])
        );
        assert_eq!(points.fail_get_more(true), None, "spent after one");
        configure_get_more(6);
        assert_eq!(
            points.fail_get_more(false).expect("fires").labels,
            Vec::<String>::new()
        );
    }

    #[test]
    fn injected_errors_get_mongods_labels_unless_labels_were_configured() {
        let in_transaction = doc! {"insert": "c", "txnNumber": 1i64, "autocommit": false};
        let error = label_as_mongod(CommandError::new(24, "x"), &in_transaction);
        assert_eq!(error.labels, vec!["TransientTransactionError".to_string()]);
        let retryable = doc! {"insert": "c", "txnNumber": 1i64};
        let error = label_as_mongod(CommandError::new(91, "x"), &retryable);
        assert_eq!(error.labels, vec!["RetryableWriteError".to_string()]);
        let plain = doc! {"find": "c"};
        assert!(label_as_mongod(CommandError::new(91, "x"), &plain)
            .labels
            .is_empty());
    }
}
