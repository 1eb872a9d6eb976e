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
//!           closeConnection: false, appName: "peertest-gateway" } }
//! ```
//!
//! A command whose name is in `failCommands`, sent by a client whose handshake named `appName`
//! (when given), is not run: it gets `errorCode` (with `errmsg`, default MongoDB's "Failing command
//! via 'failCommand' failpoint", and `errorLabels`, none by default), or, with `closeConnection`,
//! the connection is closed without a reply. `{times: n}` fails the next `n` matching commands and
//! then turns itself off. `configureFailPoint` itself is never failed. Not implemented:
//! `{skip: n}`, `activationProbability`, `blockConnection`, `writeConcernError` and the
//! `RetryableWriteError` label `mongod` adds on its own; they are refused, not ignored.

use bson::{doc, Bson, Document};
use parking_lot::Mutex;

use crate::error::{codes, CommandError, CommandResult};

/// The only fail point this server knows.
pub const FAIL_COMMAND: &str = "failCommand";

/// The message `mongod` sends when no `errmsg` is configured.
const DEFAULT_MESSAGE: &str = "Failing command via 'failCommand' failpoint";

/// How often the fail point fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// On every matching command until turned off.
    AlwaysOn,
    /// On the next `n` matching commands.
    Times(u64),
}

/// What a configured `failCommand` does.
#[derive(Debug, Clone, PartialEq)]
struct FailCommand {
    mode: Mode,
    commands: Vec<String>,
    error_code: Option<i32>,
    message: String,
    error_labels: Vec<String>,
    close_connection: bool,
    app_name: Option<String>,
}

/// What the fail point does to one command instead of running it.
#[derive(Debug, Clone, PartialEq)]
pub enum Injected {
    /// Reply with this error.
    Fail(CommandError),
    /// Close the connection without replying.
    CloseConnection,
}

/// The server's fail points (only `failCommand`), shared by every connection.
#[derive(Debug, Default)]
pub struct FailPoints {
    fail_command: Mutex<Option<FailCommand>>,
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
        if name != FAIL_COMMAND {
            return Err(CommandError::bad_value(format!(
                "Cannot find failpoint: {name} (this server only has {FAIL_COMMAND})"
            )));
        }
        let mode = match body.get("mode") {
            Some(Bson::String(mode)) if mode == "off" => None,
            Some(Bson::String(mode)) if mode == "alwaysOn" => Some(Mode::AlwaysOn),
            Some(Bson::Document(mode)) => Some(times(mode)?),
            Some(other) => {
                return Err(CommandError::bad_value(format!(
                    "mode must be \"off\", \"alwaysOn\" or {{times: n}}, not {other}"
                )))
            }
            None => return Err(CommandError::bad_value("configureFailPoint needs a mode")),
        };
        let configured = match mode {
            None | Some(Mode::Times(0)) => None,
            Some(mode) => Some(fail_command(mode, body.get("data"))?),
        };
        *self.fail_command.lock() = configured;
        let count = *self.fired.lock();
        Ok(doc! { "count": i64::try_from(count).unwrap_or(i64::MAX), "ok": 1.0 })
    }

    /// What to do instead of running `command` for a client named `app_name`, if the fail point
    /// is set for it; counts one firing of `{times: n}`.
    pub fn intercept(&self, command: &str, app_name: Option<&str>) -> Option<Injected> {
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
        let injected = if fail.close_connection {
            Injected::CloseConnection
        } else {
            let code = fail.error_code.unwrap_or(codes::INTERNAL_ERROR);
            let mut error = CommandError::new(code, fail.message.clone());
            error.labels = fail.error_labels.clone();
            Injected::Fail(error)
        };
        if let Mode::Times(left) = &mut fail.mode {
            *left -= 1;
            if *left == 0 {
                *slot = None;
            }
        }
        *self.fired.lock() += 1;
        Some(injected)
    }
}

fn times(mode: &Document) -> CommandResult<Mode> {
    let mut keys = mode.keys();
    match (keys.next().map(String::as_str), keys.next()) {
        (Some("times"), None) => {}
        _ => {
            return Err(CommandError::bad_value(format!(
                "only {{times: n}} is supported as a mode document, not {mode}"
            )))
        }
    }
    match crate::commands::whole_number("configureFailPoint", "mode.times", mode.get("times"))? {
        Some(times) if times >= 0 => Ok(Mode::Times(times as u64)),
        _ => Err(CommandError::bad_value(
            "mode.times must be a non-negative integer",
        )),
    }
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
        error_labels: Vec::new(),
        close_connection: false,
        app_name: None,
    };
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
                fail.error_labels = strings(labels, "errorLabels")?;
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
    if fail.error_code.is_none() && !fail.close_connection {
        return Err(CommandError::bad_value(
            "failCommand needs errorCode or closeConnection: true",
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
            let Some(Injected::Fail(error)) = points.intercept("update", None) else {
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
        assert_eq!(
            points.intercept("insert", Some("gw")),
            Some(Injected::CloseConnection)
        );
        assert_eq!(
            points.intercept("insert", Some("gw")),
            Some(Injected::CloseConnection)
        );
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
            doc! { "configureFailPoint": "failCommand", "mode": { "skip": 1 },
            "data": { "failCommands": ["find"], "errorCode": 2 } },
            doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": { "failCommands": ["find"] } },
            doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn",
            "data": { "failCommands": ["find"], "errorCode": 2, "blockConnection": true } },
        ] {
            assert!(configure(&points, body.clone()).is_err(), "{body}");
        }
        assert_eq!(points.intercept("find", None), None);
    }
}
