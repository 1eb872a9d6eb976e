//! Command dispatch: one handler per MongoDB command, replying in MongoDB's shapes. Anything
//! else is code 59 (CommandNotFound).
//!
//! Handlers are synchronous (the store is) and run on the blocking pool; the two commands that
//! wait — the awaitable `hello` and `getMore` on a change stream — are served asynchronously.
//! Every reply carries `$clusterTime` and `operationTime`, as a replica-set member's do.

mod catalog;
mod diagnostics;
mod reads;
mod streams;
pub mod surface;
mod writes;

use std::sync::Arc;

use bson::{doc, Bson, Document};

use crate::error::{codes, CommandError, CommandResult};
use crate::server::{Connection, ServerState};
use crate::session::TransactionArguments;
use crate::storage::Transaction;

/// What a handler sees of the command it runs.
pub struct Context<'a> {
    pub state: &'a ServerState,
    pub connection: &'a Connection,
    /// The command name, the body's first key.
    pub name: &'a str,
    /// `$db`.
    pub database: &'a str,
    pub body: &'a Document,
}

type Handler = fn(&Context<'_>, Option<&mut Transaction>) -> CommandResult<Document>;

/// A command the server knows.
struct Command {
    run: Handler,
    /// May run inside a multi-document transaction.
    in_transaction: bool,
    /// Applied once when retried with the same `lsid` and `txnNumber`.
    retryable_write: bool,
}

const fn plain(run: Handler) -> Command {
    Command {
        run,
        in_transaction: false,
        retryable_write: false,
    }
}

const fn transactional(run: Handler) -> Command {
    Command {
        run,
        in_transaction: true,
        retryable_write: false,
    }
}

const fn write(run: Handler) -> Command {
    Command {
        run,
        in_transaction: true,
        retryable_write: true,
    }
}

/// Every command name this server answers, for `listCommands`.
const COMMAND_NAMES: &[&str] = &[
    "abortTransaction",
    "aggregate",
    "authenticate",
    "buildInfo",
    "collMod",
    "collStats",
    "commitTransaction",
    "connectionStatus",
    "count",
    "create",
    "createIndexes",
    "createSearchIndexes",
    "dbStats",
    "delete",
    "distinct",
    "drop",
    "dropDatabase",
    "dropIndexes",
    "dropSearchIndex",
    "endSessions",
    "find",
    "findAndModify",
    "getCmdLineOpts",
    "getLog",
    "getMore",
    "getParameter",
    "hello",
    "hostInfo",
    "insert",
    "isMaster",
    "killAllSessions",
    "killCursors",
    "killSessions",
    "listCollections",
    "listCommands",
    "listDatabases",
    "listIndexes",
    "logout",
    "ping",
    "refreshSessions",
    "replSetGetStatus",
    "saslContinue",
    "saslStart",
    "serverStatus",
    "startSession",
    "update",
    "updateSearchIndex",
    "whatsmyuri",
];

fn command(name: &str) -> Option<Command> {
    Some(match name {
        "ping" => plain(diagnostics::ping),
        "buildInfo" | "buildinfo" => plain(diagnostics::build_info),
        "getParameter" => plain(diagnostics::get_parameter),
        "getCmdLineOpts" => plain(diagnostics::get_cmd_line_opts),
        "hostInfo" => plain(diagnostics::host_info),
        "whatsmyuri" => plain(diagnostics::whats_my_uri),
        "connectionStatus" => plain(diagnostics::connection_status),
        "serverStatus" => plain(diagnostics::server_status),
        "getLog" => plain(diagnostics::get_log),
        "listCommands" => plain(diagnostics::list_commands),
        "replSetGetStatus" => plain(diagnostics::repl_set_get_status),
        "saslStart" | "saslContinue" | "authenticate" | "logout" => {
            plain(diagnostics::authentication)
        }
        "endSessions" | "killSessions" => plain(diagnostics::end_sessions),
        "refreshSessions" | "killAllSessions" => plain(diagnostics::ping),
        "startSession" => plain(diagnostics::start_session),
        "dbStats" => plain(catalog::db_stats),
        "collStats" => plain(catalog::coll_stats),
        "listDatabases" => plain(catalog::list_databases),
        "listCollections" => plain(catalog::list_collections),
        "create" => transactional(catalog::create),
        "collMod" => plain(catalog::coll_mod),
        "drop" => plain(catalog::drop),
        "dropDatabase" => plain(catalog::drop_database),
        "renameCollection" => plain(catalog::rename_collection),
        "createIndexes" => transactional(catalog::create_indexes),
        "listIndexes" => plain(catalog::list_indexes),
        "dropIndexes" | "deleteIndexes" => plain(catalog::drop_indexes),
        "insert" => write(writes::insert),
        "update" => write(writes::update),
        "delete" => write(writes::delete),
        "findAndModify" | "findandmodify" => write(writes::find_and_modify),
        "find" => transactional(reads::find),
        "getMore" => transactional(reads::get_more),
        "killCursors" => transactional(reads::kill_cursors),
        "count" => plain(reads::count),
        "distinct" => transactional(reads::distinct),
        "aggregate" => transactional(reads::aggregate),
        "commitTransaction" | "abortTransaction" => transactional(outside_transaction),
        "configureFailPoint" => plain(diagnostics::configure_fail_point),
        "createSearchIndexes" | "updateSearchIndex" | "dropSearchIndex" => {
            plain(catalog::search_index_command)
        }
        _ => return None,
    })
}

/// Runs one OP_MSG command and returns its reply (an error reply when it fails).
pub async fn execute(state: Arc<ServerState>, connection: Connection, body: Document) -> Document {
    let reply = match dispatch(&state, connection, body).await {
        Ok(reply) => reply,
        Err(error) => error.to_reply(),
    };
    with_cluster_time(&state, reply)
}

/// The reply to a command that failed before it ran (an injected failure), shaped like every
/// other reply.
pub fn error_reply(state: &ServerState, error: CommandError) -> Document {
    with_cluster_time(state, error.to_reply())
}

/// Runs a legacy OP_QUERY command: only the handshake (`isMaster`/`hello`) is served, as in
/// MongoDB 7.0.
pub async fn execute_legacy(
    state: Arc<ServerState>,
    connection: Connection,
    namespace: &str,
    mut query: Document,
) -> Document {
    let name = query.keys().next().cloned().unwrap_or_default();
    let database = namespace.strip_suffix(".$cmd");
    match database {
        Some(database) if matches!(name.as_str(), "isMaster" | "ismaster" | "hello") => {
            query.insert("$db", database);
            execute(state, connection, query).await
        }
        _ => {
            let mut reply = CommandError::new(
                352,
                format!(
                    "Unsupported OP_QUERY command: {name}. The client driver may require an \
                     upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal"
                ),
            )
            .to_reply();
            reply.insert("codeName", "UnsupportedOpQueryCommand");
            reply
        }
    }
}

async fn dispatch(
    state: &Arc<ServerState>,
    connection: Connection,
    body: Document,
) -> CommandResult<Document> {
    let Some(name) = body.keys().next().cloned() else {
        return Err(CommandError::failed_to_parse("empty command document"));
    };
    let database = match body.get("$db") {
        Some(Bson::String(database)) => database.clone(),
        Some(other) => {
            return Err(CommandError::type_mismatch(format!(
                "BSON field '$db' is the wrong type '{}', expected type 'string'",
                type_name(other)
            )))
        }
        None => {
            return Err(CommandError::new(
                40571,
                "OP_MSG requests require a $db argument",
            ))
        }
    };
    validate_database_name(&database)?;
    state.local_sessions.touch(&body)?;
    tracing::debug!(
        connection = connection.id,
        command = %name,
        database = %database,
        "command"
    );
    match name.as_str() {
        "hello" | "isMaster" | "ismaster" => {
            return diagnostics::hello(state, &connection, &name, &body).await
        }
        "getMore" => {
            if let Some(Ok(id)) = body.get("getMore").map(cursor_id) {
                if state.cursors.is_change_stream(id) {
                    return streams::get_more(state, &database, &body).await;
                }
            }
        }
        _ => {}
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let context = Context {
            state: &state,
            connection: &connection,
            name: &name,
            database: &database,
            body: &body,
        };
        run_blocking(&context)
    })
    .await
    .unwrap_or_else(|error| {
        tracing::error!(%error, "command handler failed");
        Err(CommandError::new(
            codes::INTERNAL_ERROR,
            "the command failed unexpectedly on the server",
        ))
    })
}

fn run_blocking(context: &Context<'_>) -> CommandResult<Document> {
    let name = context.name;
    let Some(command) = command(name) else {
        return Err(CommandError::new(
            codes::COMMAND_NOT_FOUND,
            format!("no such command: '{name}'"),
        ));
    };
    surface::check(name, context.body)?;
    let sessions = &context.state.sessions;
    let store = &context.state.store;
    let arguments = TransactionArguments::parse(context.body)?;
    let in_transaction = arguments
        .as_ref()
        .is_some_and(|arguments| arguments.in_transaction());
    if let Some(snapshot) = check_read_concern(name, context.body, in_transaction)? {
        return snapshot_read(context, &command, snapshot);
    }
    match arguments {
        None => (command.run)(context, None),
        Some(arguments) if arguments.in_transaction() => {
            if !matches!(context.database, "admin")
                && matches!(name, "commitTransaction" | "abortTransaction")
            {
                return Err(CommandError::new(
                    13,
                    format!("{name} may only be run against the admin database."),
                ));
            }
            match name {
                "commitTransaction" => {
                    sessions.commit(store, &arguments)?;
                    Ok(doc! {"ok": 1.0})
                }
                "abortTransaction" => {
                    sessions.abort(&arguments)?;
                    Ok(doc! {"ok": 1.0})
                }
                _ if !command.in_transaction => Err(CommandError::new(
                    codes::OPERATION_NOT_SUPPORTED_IN_TRANSACTION,
                    format!("Cannot run '{name}' in a multi-document transaction."),
                )),
                _ => sessions.run_in_transaction(store, &arguments, |transaction| {
                    (command.run)(context, Some(transaction))
                }),
            }
        }
        Some(arguments) => {
            if command.retryable_write {
                sessions.run_retryable_write(&arguments, || (command.run)(context, None))
            } else {
                (command.run)(context, None)
            }
        }
    }
}

/// Commands that may read at `readConcern: {level: "snapshot"}` outside a transaction.
const SNAPSHOT_READS: &[&str] = &["find", "aggregate", "distinct"];

/// A snapshot read outside a transaction: at `atClusterTime`, or now when none was given.
struct SnapshotRead {
    at: Option<bson::Timestamp>,
}

/// MongoDB's read-concern rules: a known level, and `snapshot` outside a transaction only on
/// the commands that support snapshot reads (as mongod, code 72 `InvalidOptions`). Returns the
/// snapshot read to serve, if this is one.
fn check_read_concern(
    name: &str,
    body: &Document,
    in_transaction: bool,
) -> CommandResult<Option<SnapshotRead>> {
    let Some(read_concern) = body.get("readConcern") else {
        return Ok(None);
    };
    let Bson::Document(read_concern) = read_concern else {
        return Err(wrong_type(name, "readConcern", read_concern, "object"));
    };
    let level = match read_concern.get("level") {
        None => "local",
        Some(Bson::String(level)) => level.as_str(),
        Some(other) => return Err(wrong_type(name, "readConcern.level", other, "string")),
    };
    if !matches!(
        level,
        "local" | "majority" | "linearizable" | "available" | "snapshot"
    ) {
        return Err(CommandError::bad_value(format!(
            "Enumeration value '{level}' for field 'readConcern.level' is not a valid value."
        )));
    }
    let at = match read_concern.get("atClusterTime") {
        None => None,
        Some(Bson::Timestamp(at)) if level == "snapshot" => Some(*at),
        Some(Bson::Timestamp(_)) => {
            return Err(CommandError::new(
                codes::INVALID_OPTIONS,
                "atClusterTime is only supported for snapshot read concern",
            ))
        }
        Some(other) => {
            return Err(wrong_type(
                name,
                "readConcern.atClusterTime",
                other,
                "timestamp",
            ))
        }
    };
    if level != "snapshot" || in_transaction {
        return Ok(None);
    }
    if !SNAPSHOT_READS.contains(&name) {
        return Err(CommandError::new(
            codes::INVALID_OPTIONS,
            format!(
                "Command {name} does not support {{ readConcern: {{ level: \"snapshot\" }} }} :: caused by :: read concern not supported"
            ),
        ));
    }
    Ok(Some(SnapshotRead { at }))
}

/// Serves a snapshot read from the committed version as of its cluster time, and reports that
/// time (`atClusterTime`) so the session's later reads see the same version.
fn snapshot_read(
    context: &Context<'_>,
    command: &Command,
    snapshot: SnapshotRead,
) -> CommandResult<Document> {
    let store = &context.state.store;
    let now = store.cluster_time();
    let at = snapshot.at.unwrap_or(now);
    if (at.time, at.increment) > (now.time, now.increment) {
        return Err(CommandError::new(
            codes::SNAPSHOT_UNAVAILABLE,
            format!(
                "readConcern atClusterTime value {{ ts: Timestamp({}, {}) }} is greater than the latest cluster time",
                at.time, at.increment
            ),
        ));
    }
    let Some(mut view) = store.snapshot_at(at) else {
        return Err(CommandError::new(
            codes::SNAPSHOT_TOO_OLD,
            format!(
                "Read timestamp Timestamp({}, {}) is older than the oldest available timestamp.",
                at.time, at.increment
            ),
        ));
    };
    let mut reply = (command.run)(context, Some(&mut view))?;
    match reply.get_mut("cursor") {
        Some(Bson::Document(cursor)) => {
            cursor.insert("atClusterTime", at);
        }
        _ => {
            reply.insert("atClusterTime", at);
        }
    }
    Ok(reply)
}

/// `commitTransaction`/`abortTransaction` without `txnNumber` and `autocommit: false`.
fn outside_transaction(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    Err(CommandError::new(
        codes::INVALID_OPTIONS,
        format!("{} must be run within a transaction", context.name),
    ))
}

fn with_cluster_time(state: &ServerState, mut reply: Document) -> Document {
    let time = state.store.cluster_time();
    reply.insert(
        "$clusterTime",
        doc! {
            "clusterTime": time,
            "signature": {
                "hash": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0; 20] },
                "keyId": 0i64,
            },
        },
    );
    reply.insert("operationTime", time);
    reply
}

/// A count as MongoDB renders it: an int when it fits, a long beyond that.
fn count_value(count: u64) -> Bson {
    match i32::try_from(count) {
        Ok(count) => Bson::Int32(count),
        Err(_) => Bson::Int64(count.min(i64::MAX as u64) as i64),
    }
}

/// MongoDB's name for a value's BSON type, as used in its error messages.
pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

fn wrong_type(command: &str, field: &str, value: &Bson, expected: &str) -> CommandError {
    CommandError::type_mismatch(format!(
        "BSON field '{command}.{field}' is the wrong type '{}', expected type '{expected}'",
        type_name(value)
    ))
}

fn missing_field(command: &str, field: &str) -> CommandError {
    CommandError::new(
        40414,
        format!("BSON field '{command}.{field}' is missing but a required field"),
    )
}

impl Context<'_> {
    /// The command's options: the body without its name and the generic arguments.
    fn options(&self) -> Document {
        self.body
            .iter()
            .skip(1)
            .filter(|(key, _)| !surface::GENERIC_ARGUMENTS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// The collection named by the command's first field.
    fn collection(&self) -> CommandResult<String> {
        match self.body.get(self.name) {
            Some(Bson::String(collection)) => {
                validate_collection_name(self.database, collection)?;
                Ok(collection.clone())
            }
            Some(other) => Err(CommandError::new(
                codes::INVALID_NAMESPACE,
                format!("collection name has invalid type {}", type_name(other)),
            )),
            None => Err(CommandError::new(
                codes::INVALID_NAMESPACE,
                "missing collection name",
            )),
        }
    }

    fn namespace(&self, collection: &str) -> String {
        format!("{}.{collection}", self.database)
    }

    /// Checks the command's `hint` against the collection's indexes, as mongod's planner does:
    /// a name or key pattern of an existing index, or `{$natural: ±1}`. A hint cannot change a
    /// result (the store plans its own scans), so a valid one needs nothing more; a collection
    /// that does not exist has nothing to check, as on mongod (an empty result).
    fn check_hint(&self, collection: &str) -> CommandResult<()> {
        let Some(hint) = self.body.get("hint") else {
            return Ok(());
        };
        let Ok(indexes) = self.state.store.list_indexes(self.database, collection) else {
            return Ok(());
        };
        let same_key = |key: &Document, wanted: &Document| {
            key.len() == wanted.len()
                && key.iter().zip(wanted.iter()).all(|((a, x), (b, y))| {
                    a == b && crate::compare::compare_bson(x, y) == std::cmp::Ordering::Equal
                })
        };
        let known = match hint {
            Bson::String(name) => indexes
                .iter()
                .any(|index| index.get_str("name").ok() == Some(name.as_str())),
            Bson::Document(wanted) => {
                let natural = wanted.len() == 1
                    && matches!(
                        wanted.get("$natural"),
                        Some(Bson::Int32(1 | -1)) | Some(Bson::Int64(1 | -1))
                    )
                    || matches!(wanted.get("$natural"), Some(Bson::Double(value)) if wanted.len() == 1 && (*value == 1.0 || *value == -1.0));
                natural
                    || indexes.iter().any(|index| {
                        index
                            .get_document("key")
                            .is_ok_and(|key| same_key(key, wanted))
                    })
            }
            other => return Err(wrong_type(self.name, "hint", other, "object")),
        };
        if known {
            Ok(())
        } else {
            Err(CommandError::bad_value(
                "error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index",
            ))
        }
    }

    /// The command's `let` (variables for `$expr` and pipeline updates), each evaluated once.
    /// The command's `collation`, `None` when absent or simple (binary comparison).
    pub(crate) fn collation(&self) -> CommandResult<Option<crate::collation::Collation>> {
        match self.body.get("collation") {
            None => Ok(None),
            Some(value) => crate::collation::Collation::parse(value),
        }
    }

    fn let_variables(&self) -> CommandResult<Option<crate::expression::Variables>> {
        match self.document("let")? {
            Some(definitions) => crate::expression::Variables::new()
                .with_let(&definitions)
                .map(Some),
            None => Ok(None),
        }
    }

    fn document(&self, field: &str) -> CommandResult<Option<Document>> {
        match self.body.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::Document(document)) => Ok(Some(document.clone())),
            Some(other) => Err(wrong_type(self.name, field, other, "object")),
        }
    }

    fn boolean(&self, field: &str) -> CommandResult<Option<bool>> {
        optional_boolean(self.name, field, self.body.get(field))
    }

    fn integer(&self, field: &str) -> CommandResult<Option<i64>> {
        optional_integer(self.name, field, self.body.get(field))
    }

    fn non_negative(&self, field: &str) -> CommandResult<Option<u64>> {
        match self.integer(field)? {
            Some(value) if value < 0 => Err(CommandError::new(
                51024,
                format!("BSON field '{field}' value must be >= 0, actual value '{value}'"),
            )),
            other => Ok(other.map(|value| value as u64)),
        }
    }

    fn documents(&self, field: &str) -> CommandResult<Vec<Document>> {
        let Some(value) = self.body.get(field) else {
            return Err(missing_field(self.name, field));
        };
        let Bson::Array(items) = value else {
            return Err(wrong_type(self.name, field, value, "array"));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Bson::Document(document) => Ok(document.clone()),
                other => Err(wrong_type(
                    self.name,
                    &format!("{field}.{index}"),
                    other,
                    "object",
                )),
            })
            .collect()
    }

    /// `cursor.batchSize` of cursor-returning commands other than `find`.
    fn cursor_batch_size(&self) -> CommandResult<Option<usize>> {
        match self.body.get("cursor") {
            None => Ok(None),
            Some(Bson::Document(cursor)) => {
                match optional_integer(self.name, "cursor.batchSize", cursor.get("batchSize"))? {
                    Some(size) if size < 0 => Err(CommandError::new(
                        51024,
                        format!("BSON field 'batchSize' value must be >= 0, actual value '{size}'"),
                    )),
                    other => Ok(other.map(|size| size as usize)),
                }
            }
            Some(other) => Err(wrong_type(self.name, "cursor", other, "object")),
        }
    }
}

fn optional_boolean(
    command: &str,
    field: &str,
    value: Option<&Bson>,
) -> CommandResult<Option<bool>> {
    match value {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Boolean(flag)) => Ok(Some(*flag)),
        Some(Bson::Int32(number)) => Ok(Some(*number != 0)),
        Some(Bson::Int64(number)) => Ok(Some(*number != 0)),
        Some(Bson::Double(number)) => Ok(Some(*number != 0.0)),
        Some(other) => Err(wrong_type(command, field, other, "bool")),
    }
}

fn optional_integer(
    command: &str,
    field: &str,
    value: Option<&Bson>,
) -> CommandResult<Option<i64>> {
    match value {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Int32(number)) => Ok(Some(i64::from(*number))),
        Some(Bson::Int64(number)) => Ok(Some(*number)),
        Some(Bson::Double(number)) if number.fract() == 0.0 && number.abs() < 9.0e18 => {
            Ok(Some(*number as i64))
        }
        Some(Bson::Double(number)) => Err(CommandError::bad_value(format!(
            "BSON field '{command}.{field}' must be a whole number, not {number}"
        ))),
        Some(other) => Err(wrong_type(command, field, other, "long")),
    }
}

/// An optional whole-number argument (int, long or whole double), for code outside the handlers.
pub(crate) fn whole_number(
    command: &str,
    field: &str,
    value: Option<&Bson>,
) -> CommandResult<Option<i64>> {
    optional_integer(command, field, value)
}

/// A cursor id argument (`getMore`, `killCursors`): a long, or an int from older clients.
fn cursor_id(value: &Bson) -> CommandResult<i64> {
    match value {
        Bson::Int64(id) => Ok(*id),
        Bson::Int32(id) => Ok(i64::from(*id)),
        other => Err(CommandError::type_mismatch(format!(
            "BSON field 'getMore' is the wrong type '{}', expected type 'long'",
            type_name(other)
        ))),
    }
}

/// Database names may not be empty, too long, or contain `/\. "$` or NUL, as in MongoDB.
fn validate_database_name(database: &str) -> CommandResult<()> {
    let invalid = database.is_empty()
        || database.len() >= 64
        || database
            .chars()
            .any(|character| matches!(character, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'));
    if invalid {
        return Err(CommandError::new(
            codes::INVALID_NAMESPACE,
            format!("Invalid database name: '{database}'"),
        ));
    }
    Ok(())
}

/// Collection names may not be empty or contain `$` or NUL.
fn validate_collection_name(database: &str, collection: &str) -> CommandResult<()> {
    if collection.is_empty() {
        return Err(CommandError::new(
            codes::INVALID_NAMESPACE,
            format!("Invalid namespace specified '{database}.'"),
        ));
    }
    if collection.contains('$') || collection.contains('\0') {
        return Err(CommandError::new(
            codes::INVALID_NAMESPACE,
            format!("Invalid collection name: {collection}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_commands_have_no_handler_and_known_ones_do() {
        assert!(command("foo").is_none());
        for name in COMMAND_NAMES {
            if !matches!(*name, "hello" | "isMaster") {
                assert!(command(name).is_some(), "{name} has no handler");
            }
        }
    }

    #[test]
    fn only_writes_are_retryable_and_count_is_refused_in_transactions() {
        assert!(command("insert").unwrap().retryable_write);
        assert!(command("findAndModify").unwrap().retryable_write);
        assert!(!command("find").unwrap().retryable_write);
        assert!(!command("count").unwrap().in_transaction);
        assert!(command("find").unwrap().in_transaction);
    }

    #[test]
    fn database_names_with_forbidden_characters_are_invalid_namespace() {
        assert!(validate_database_name("test").is_ok());
        for name in ["", "a.b", "a b", "a$", "a/b"] {
            assert_eq!(
                validate_database_name(name).unwrap_err().code,
                codes::INVALID_NAMESPACE
            );
        }
        assert_eq!(
            validate_collection_name("db", "a$b").unwrap_err().code,
            codes::INVALID_NAMESPACE
        );
    }

    #[test]
    fn integers_accept_whole_doubles_and_refuse_strings() {
        assert_eq!(
            optional_integer("find", "limit", Some(&Bson::Double(3.0))).unwrap(),
            Some(3)
        );
        assert_eq!(
            optional_integer("find", "limit", Some(&Bson::String("3".into())))
                .unwrap_err()
                .code,
            codes::TYPE_MISMATCH
        );
    }
}
