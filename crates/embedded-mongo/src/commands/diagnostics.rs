//! The handshake (`hello`/`isMaster`, including the awaitable form driver monitors use) and the
//! diagnostic and session commands drivers and tools send on connect.

use std::sync::Arc;
use std::time::Duration;

use bson::oid::ObjectId;
use bson::{doc, Bson, Document};

use super::{type_name, Context, COMMAND_NAMES};
use crate::error::{codes, CommandError, CommandResult};
use crate::server::{Connection, ServerState};
use crate::session::session_key;
use crate::storage::Transaction;
use crate::wire::{MAX_BSON_OBJECT_SIZE, MAX_MESSAGE_SIZE_BYTES, MAX_WRITE_BATCH_SIZE};

/// The MongoDB version this server reports.
pub const VERSION: &str = "7.0.0";
/// MongoDB 7.0's wire version.
pub const MAX_WIRE_VERSION: i32 = 21;
/// The longest `maxAwaitTimeMS` honoured by the awaitable `hello`.
const MAX_AWAIT: Duration = Duration::from_secs(60);

/// `hello`/`isMaster`. With `topologyVersion` and `maxAwaitTimeMS` (the streaming monitor of
/// drivers) it answers only after `maxAwaitTimeMS`, because this server's topology never
/// changes; answering at once would make the monitor spin.
pub async fn hello(
    state: &Arc<ServerState>,
    connection: &Connection,
    name: &str,
    body: &Document,
) -> CommandResult<Document> {
    let max_await = match body.get("maxAwaitTimeMS") {
        None => None,
        Some(value) => match super::optional_integer(name, "maxAwaitTimeMS", Some(value))? {
            Some(milliseconds) if milliseconds < 0 => {
                return Err(CommandError::bad_value(
                    "maxAwaitTimeMS must be a non-negative integer",
                ))
            }
            other => other.map(|milliseconds| Duration::from_millis(milliseconds as u64)),
        },
    };
    if let (Some(Bson::Document(topology)), Some(max_await)) =
        (body.get("topologyVersion"), max_await)
    {
        let same_process = topology.get("processId") == Some(&Bson::ObjectId(state.process_id));
        let same_counter = matches!(
            topology.get("counter"),
            Some(Bson::Int64(0)) | Some(Bson::Int32(0))
        );
        if same_process && same_counter {
            tokio::select! {
                _ = tokio::time::sleep(max_await.min(MAX_AWAIT)) => {}
                _ = state.stopped() => {}
            }
        }
    }
    if let Ok(app_name) = body
        .get_document("client")
        .and_then(|client| client.get_document("application"))
        .and_then(|application| application.get_str("name"))
    {
        *connection.app_name.lock() = Some(app_name.to_string());
    }
    Ok(hello_reply(state, connection, name, body))
}

/// `configureFailPoint`: only on a server started with test commands (otherwise unknown, as in
/// `mongod`), only against `admin`; see [`crate::fail_point`].
pub fn configure_fail_point(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    if !context.state.config.enable_test_commands {
        return Err(CommandError::new(
            codes::COMMAND_NOT_FOUND,
            format!("no such command: '{}'", context.name),
        ));
    }
    if context.database != "admin" {
        return Err(CommandError::new(
            codes::UNAUTHORIZED,
            "configureFailPoint may only be run against the admin database.",
        ));
    }
    context.state.fail_points.configure(context.body)
}

fn hello_reply(
    state: &ServerState,
    connection: &Connection,
    name: &str,
    body: &Document,
) -> Document {
    let host = state.advertised_host.clone();
    let time = state.store.cluster_time();
    let now = bson::DateTime::now();
    let mut reply = Document::new();
    if matches!(body.get("helloOk"), Some(Bson::Boolean(true))) {
        reply.insert("helloOk", true);
    }
    reply.insert(
        "topologyVersion",
        doc! {"processId": state.process_id, "counter": 0i64},
    );
    reply.insert("hosts", vec![Bson::String(host.clone())]);
    reply.insert("setName", state.config.replica_set_name.clone());
    reply.insert("setVersion", 1);
    if name == "hello" {
        reply.insert("isWritablePrimary", true);
    } else {
        reply.insert("ismaster", true);
    }
    reply.insert("secondary", false);
    reply.insert("primary", host.clone());
    reply.insert("me", host);
    reply.insert("electionId", election_id());
    reply.insert(
        "lastWrite",
        doc! {
            "opTime": {"ts": time, "t": 1i64},
            "lastWriteDate": now,
            "majorityOpTime": {"ts": time, "t": 1i64},
            "majorityWriteDate": now,
        },
    );
    reply.insert("maxBsonObjectSize", MAX_BSON_OBJECT_SIZE);
    reply.insert("maxMessageSizeBytes", MAX_MESSAGE_SIZE_BYTES);
    reply.insert("maxWriteBatchSize", MAX_WRITE_BATCH_SIZE);
    reply.insert("localTime", now);
    reply.insert("logicalSessionTimeoutMinutes", 30);
    reply.insert(
        "connectionId",
        super::count_value(connection.id.max(0) as u64),
    );
    reply.insert("minWireVersion", 0);
    reply.insert("maxWireVersion", MAX_WIRE_VERSION);
    reply.insert("readOnly", false);
    reply.insert("ok", 1.0);
    reply
}

/// A fixed election id: this single member has always been primary in term 1.
fn election_id() -> ObjectId {
    ObjectId::from_bytes([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1])
}

pub fn ping(_: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    Ok(doc! {"ok": 1.0})
}

pub fn build_info(_: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    Ok(doc! {
        "version": VERSION,
        "gitVersion": "embedded-mongo",
        "modules": [],
        "allocator": "system",
        "javascriptEngine": "none",
        "sysInfo": "deprecated",
        "versionArray": [7, 0, 0, 0],
        "openssl": {"running": "disabled", "compiled": "disabled"},
        "buildEnvironment": {"distmod": "embedded", "target_os": std::env::consts::OS, "target_arch": std::env::consts::ARCH},
        "bits": 64,
        "debug": false,
        "maxBsonObjectSize": MAX_BSON_OBJECT_SIZE,
        "storageEngines": ["embedded"],
        "ok": 1.0,
    })
}

/// The parameters `getParameter` knows, with their values.
fn parameters(enable_test_commands: bool) -> Document {
    doc! {
        // Drivers' test runners read this to decide whether fail points are available.
        "enableTestCommands": enable_test_commands,
        "featureCompatibilityVersion": {"version": "7.0"},
        "authenticationMechanisms": [],
        "logLevel": 0,
        "cursorTimeoutMillis": 600_000i64,
        "transactionLifetimeLimitSeconds": 60,
        "maxTransactionLockRequestTimeoutMillis": 5,
        "internalQueryMaxBlockingSortMemoryUsageBytes": 104_857_600,
        "changeStreamOptions": {"preAndPostImages": {"expireAfterSeconds": "off"}},
    }
}

pub fn get_parameter(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let all = parameters(context.state.config.enable_test_commands);
    let everything = matches!(context.body.get("getParameter"), Some(Bson::String(star)) if star == "*")
        || matches!(context.body.get("getParameter"), Some(Bson::Document(options)) if options.get_bool("allParameters") == Ok(true));
    let mut reply = Document::new();
    if everything {
        reply = all;
    } else {
        for (key, _) in context.body.iter().skip(1) {
            if let Some(value) = all.get(key) {
                reply.insert(key.clone(), value.clone());
            }
        }
        if reply.is_empty() {
            return Err(CommandError::new(
                codes::INVALID_OPTIONS,
                "no option found to get",
            ));
        }
    }
    reply.insert("ok", 1.0);
    Ok(reply)
}

pub fn get_cmd_line_opts(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let config = &context.state.config;
    let mut parsed = doc! {
        "net": {"bindIp": config.bind.to_string(), "port": i32::from(config.port)},
        "replication": {"replSet": config.replica_set_name.clone()},
    };
    if let Some(directory) = &config.data_dir {
        parsed.insert("storage", doc! {"dbPath": directory.display().to_string()});
    }
    Ok(doc! {"argv": ["embedded-mongo"], "parsed": parsed, "ok": 1.0})
}

pub fn host_info(_: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get() as i32);
    Ok(doc! {
        "system": {
            "currentTime": bson::DateTime::now(),
            "hostname": "localhost",
            "cpuAddrSize": 64,
            "numCores": cores,
            "cpuArch": std::env::consts::ARCH,
        },
        "os": {"type": std::env::consts::OS, "name": std::env::consts::OS},
        "extra": {},
        "ok": 1.0,
    })
}

pub fn whats_my_uri(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    Ok(doc! {"you": context.connection.peer.to_string(), "ok": 1.0})
}

pub fn connection_status(_: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    Ok(doc! {
        "authInfo": {"authenticatedUsers": [], "authenticatedUserRoles": []},
        "ok": 1.0,
    })
}

pub fn server_status(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let uptime = context.state.started.elapsed();
    Ok(doc! {
        "host": context.state.advertised_host.clone(),
        "version": VERSION,
        "process": "embedded-mongo",
        "pid": i64::from(std::process::id()),
        "uptime": uptime.as_secs_f64(),
        "uptimeMillis": uptime.as_millis() as i64,
        "uptimeEstimate": uptime.as_secs() as i64,
        "localTime": bson::DateTime::now(),
        "storageEngine": {"name": "embedded", "supportsCommittedReads": true, "persistent": context.state.config.data_dir.is_some()},
        "ok": 1.0,
    })
}

pub fn get_log(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    match context.body.get("getLog") {
        Some(Bson::String(name)) if name == "*" => {
            Ok(doc! {"names": ["global", "startupWarnings"], "ok": 1.0})
        }
        Some(Bson::String(name)) if name == "global" || name == "startupWarnings" => {
            Ok(doc! {"totalLinesWritten": 0, "log": [], "ok": 1.0})
        }
        Some(Bson::String(name)) => Err(CommandError::new(
            codes::OPERATION_FAILED,
            format!("No log named '{name}'"),
        )),
        Some(other) => Err(CommandError::type_mismatch(format!(
            "Argument to getLog must be of type String; found {} of type {}",
            other,
            type_name(other)
        ))),
        None => Err(CommandError::type_mismatch(
            "Argument to getLog must be of type String",
        )),
    }
}

pub fn list_commands(_: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let mut commands = Document::new();
    for name in COMMAND_NAMES {
        commands.insert(
            *name,
            doc! {"help": "", "requiresAuth": false, "secondaryOk": false, "adminOnly": false},
        );
    }
    Ok(doc! {"commands": commands, "ok": 1.0})
}

pub fn repl_set_get_status(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    let time = context.state.store.cluster_time();
    let uptime = context.state.started.elapsed().as_secs() as i64;
    Ok(doc! {
        "set": context.state.config.replica_set_name.clone(),
        "date": bson::DateTime::now(),
        "myState": 1,
        "term": 1i64,
        "members": [{
            "_id": 0,
            "name": context.state.advertised_host.clone(),
            "health": 1.0,
            "state": 1,
            "stateStr": "PRIMARY",
            "uptime": uptime,
            "optime": {"ts": time, "t": 1i64},
            "self": true,
        }],
        "ok": 1.0,
    })
}

pub fn authentication(
    context: &Context<'_>,
    _: Option<&mut Transaction>,
) -> CommandResult<Document> {
    if context.name == "logout" {
        return Ok(doc! {"ok": 1.0});
    }
    Err(CommandError::new(
        codes::COMMAND_NOT_SUPPORTED,
        "Authentication not supported: embedded-mongo has no users",
    ))
}

/// `endSessions`/`killSessions`: forgets the listed sessions and aborts their transactions.
pub fn end_sessions(context: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    let keys: Vec<String> = match context.body.get(context.name) {
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Bson::Document(lsid) => session_key(&doc! {"lsid": lsid.clone()}),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    context.state.sessions.end(&keys);
    let lsids: Vec<Document> = match context.body.get(context.name) {
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_document().cloned())
            .collect(),
        _ => Vec::new(),
    };
    context.state.local_sessions.end(&lsids);
    Ok(doc! {"ok": 1.0})
}

pub fn start_session(_: &Context<'_>, _: Option<&mut Transaction>) -> CommandResult<Document> {
    Ok(doc! {
        "id": {"id": bson::Binary::from_uuid(bson::Uuid::new())},
        "timeoutMinutes": 30,
        "ok": 1.0,
    })
}
