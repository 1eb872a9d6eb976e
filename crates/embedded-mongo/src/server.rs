//! The TCP server: accepts connections, decodes messages, runs commands, and the in-process
//! handle [`EmbeddedMongo`] the gateway and tests start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::commands;
use crate::cursor::CursorRegistry;
use crate::error::CommandError;
use crate::fail_point::{self, FailPoints, Injected, Injection};
use crate::session::SessionRegistry;
use crate::storage::{Store, StoreOptions, StoreTuning};
use crate::wire::{self, FrameError, Request};

/// How to run the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address to bind; loopback by default (the store has no authentication).
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Durable storage directory; `None` keeps data in memory.
    pub data_dir: Option<PathBuf>,
    /// The replica-set name reported by `hello`.
    pub replica_set_name: String,
    /// How often the TTL monitor removes expired documents (MongoDB's default: 60 seconds).
    pub ttl_interval: std::time::Duration,
    /// Serve the test-only commands (`configureFailPoint` with MongoDB's `failCommand`, see
    /// [`crate::fail_point`]), as `mongod --setParameter enableTestCommands=1` does. Off by
    /// default: only tests turn it on.
    pub enable_test_commands: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            data_dir: None,
            replica_set_name: "rs0".to_string(),
            ttl_interval: std::time::Duration::from_secs(60),
            enable_test_commands: false,
        }
    }
}

/// Everything a connection needs, shared by all of them.
pub struct ServerState {
    pub store: Store,
    pub config: ServerConfig,
    /// The `host:port` this member reports in `hello` (`me`, `hosts`, `primary`).
    pub advertised_host: String,
    /// `topologyVersion.processId`: changes on every start so drivers notice restarts.
    pub process_id: ObjectId,
    pub cursors: CursorRegistry,
    pub sessions: SessionRegistry,
    /// Every session seen, for `$listLocalSessions`.
    pub local_sessions: crate::local_sessions::LocalSessions,
    /// Test fail points; only reachable when `config.enable_test_commands` is set.
    pub fail_points: FailPoints,
    pub started: Instant,
    /// Becomes true when the server shuts down; long waits (awaitable `hello`, change-stream
    /// `getMore`) watch it so they end promptly.
    pub shutdown: watch::Receiver<bool>,
    next_connection_id: AtomicI64,
    next_request_id: AtomicI32,
}

impl ServerState {
    /// Resolves once the server is shutting down.
    pub async fn stopped(&self) {
        let mut shutdown = self.shutdown.clone();
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    fn next_request_id(&self) -> i32 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// The client side of one connection, as commands see it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `connectionId` in `hello`, increasing from 1.
    pub id: i64,
    pub peer: SocketAddr,
    /// `client.application.name` from the connection's handshake, when the driver sent one
    /// (matched by the `failCommand` fail point's `appName`).
    pub app_name: Arc<parking_lot::Mutex<Option<String>>>,
}

/// A running server.
pub struct EmbeddedMongo {
    address: SocketAddr,
    state: Arc<ServerState>,
    stop: watch::Sender<bool>,
    accept_task: Option<tokio::task::JoinHandle<()>>,
}

impl EmbeddedMongo {
    /// Opens the store and starts serving; returns once the listener is bound.
    pub async fn start(config: ServerConfig) -> std::io::Result<EmbeddedMongo> {
        let options = StoreOptions {
            data_dir: config.data_dir.clone(),
        };
        let tuning = StoreTuning {
            ttl_interval: config.ttl_interval,
            ..StoreTuning::default()
        };
        let store = tokio::task::spawn_blocking(move || Store::open_tuned(options, tuning))
            .await
            .map_err(std::io::Error::other)?
            .map_err(|error| std::io::Error::other(error.message))?;
        let listener = TcpListener::bind(SocketAddr::new(config.bind, config.port)).await?;
        let address = listener.local_addr()?;
        if !address.ip().is_loopback() {
            tracing::warn!(
                %address,
                "embedded-mongo is listening on a NON-LOOPBACK address: it has NO AUTHENTICATION, \
                 anyone who can reach this address can read and change every database"
            );
        }
        let advertised_ip = if address.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            address.ip()
        };
        let (stop, shutdown) = watch::channel(false);
        let state = Arc::new(ServerState {
            store,
            config,
            advertised_host: SocketAddr::new(advertised_ip, address.port()).to_string(),
            process_id: ObjectId::new(),
            cursors: CursorRegistry::default(),
            sessions: SessionRegistry::default(),
            local_sessions: Default::default(),
            fail_points: FailPoints::default(),
            started: Instant::now(),
            shutdown,
            next_connection_id: AtomicI64::new(1),
            next_request_id: AtomicI32::new(1),
        });
        let accept_task = tokio::spawn(accept_connections(listener, state.clone()));
        tracing::info!(%address, "embedded-mongo listening");
        Ok(EmbeddedMongo {
            address,
            state,
            stop,
            accept_task: Some(accept_task),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// A connection string for drivers (`directConnection=true`).
    pub fn uri(&self) -> String {
        format!("mongodb://{}/?directConnection=true", self.address)
    }

    /// A connection string that discovers the server as the replica set it reports.
    pub fn replica_set_uri(&self) -> String {
        format!(
            "mongodb://{}/?replicaSet={}",
            self.state.advertised_host, self.state.config.replica_set_name
        )
    }

    /// Stops accepting, closes connections, flushes the store.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.accept_task.take() {
            let _ = task.await;
        }
        let store = self.state.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.shutdown()).await;
        tracing::info!(address = %self.address, "embedded-mongo stopped");
    }
}

impl Drop for EmbeddedMongo {
    fn drop(&mut self) {
        // Without an explicit shutdown the tasks still stop accepting and close connections.
        let _ = self.stop.send(true);
    }
}

async fn accept_connections(listener: TcpListener, state: Arc<ServerState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = state.next_connection_id.fetch_add(1, Ordering::Relaxed);
                    let connection = Connection { id, peer, app_name: Arc::default() };
                    connections.spawn(serve_connection(state.clone(), stream, connection));
                }
                Err(error) => {
                    // Running out of file descriptors must not end the server; back off briefly.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = state.stopped() => break,
        }
    }
    drop(listener);
    // Connections watch the same signal; give them a moment to finish their current reply.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}

async fn serve_connection(state: Arc<ServerState>, stream: TcpStream, connection: Connection) {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    tracing::debug!(connection = connection.id, peer = %connection.peer, "connection opened");
    loop {
        let frame = tokio::select! {
            frame = wire::read_frame(&mut reader) => frame,
            _ = state.stopped() => break,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(FrameError::Closed) => break,
            Err(error) => {
                tracing::debug!(connection = connection.id, %error, "closing connection");
                break;
            }
        };
        let reply = tokio::select! {
            reply = respond(&state, &connection, frame) => reply,
            _ = state.stopped() => break,
        };
        match reply {
            Ok(Some(outgoing)) => {
                if writer.write_all(&outgoing.bytes).await.is_err() {
                    break;
                }
                if let Some(stream) = outgoing.stream {
                    // The client reads replies until one comes without `moreToCome`; it sends
                    // nothing meanwhile, so any input (or end of input) ends the stream.
                    tokio::select! {
                        _ = stream_hello(&state, &connection, stream, &mut writer) => {}
                        _ = wire::read_frame(&mut reader) => {}
                        _ = state.stopped() => {}
                    }
                    break;
                }
            }
            Ok(None) => {}
            Err(reason) => {
                tracing::debug!(connection = connection.id, reason, "closing connection");
                break;
            }
        }
    }
    let _ = writer.shutdown().await;
    tracing::debug!(connection = connection.id, "connection closed");
}

/// An encoded reply, and the streaming `hello` it opened, if any.
struct Outgoing {
    bytes: Vec<u8>,
    stream: Option<HelloStream>,
}

/// A streaming `hello` (exhaustAllowed, topologyVersion and maxAwaitTimeMS): after the first
/// reply the server keeps answering, each reply flagged `moreToCome` and answering the one
/// before it, as mongod does for drivers' streaming monitors.
struct HelloStream {
    body: bson::Document,
    previous_reply_id: i32,
}

/// Whether a request asks for a streamed `hello`.
fn wants_hello_stream(flags: u32, body: &bson::Document) -> bool {
    let name = body.keys().next().map(String::as_str).unwrap_or_default();
    flags & wire::FLAG_EXHAUST_ALLOWED != 0
        && matches!(name, "hello" | "isMaster" | "ismaster")
        && matches!(body.get("topologyVersion"), Some(bson::Bson::Document(_)))
        && body.contains_key("maxAwaitTimeMS")
}

/// Sends the rest of a streamed `hello`: one reply per `maxAwaitTimeMS` (the awaitable
/// `hello` waits that long because the topology version is this server's), until the
/// connection or the server closes.
async fn stream_hello(
    state: &Arc<ServerState>,
    connection: &Connection,
    mut stream: HelloStream,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
) {
    stream.body.insert(
        "topologyVersion",
        bson::doc! {"processId": state.process_id, "counter": 0i64},
    );
    loop {
        let reply = commands::execute(state.clone(), connection.clone(), stream.body.clone()).await;
        let ok = reply.get_f64("ok").is_ok_and(|ok| ok == 1.0);
        let reply_id = state.next_request_id();
        let flags = if ok { wire::FLAG_MORE_TO_COME } else { 0 };
        let Ok(bytes) =
            wire::encode_op_msg_with_flags(reply_id, stream.previous_reply_id, flags, &reply)
        else {
            return;
        };
        if writer.write_all(&bytes).await.is_err() || !ok {
            return;
        }
        stream.previous_reply_id = reply_id;
    }
}

/// Runs one message and encodes its reply; `Ok(None)` when the client asked for none and `Err`
/// when the connection must be closed.
async fn respond(
    state: &Arc<ServerState>,
    connection: &Connection,
    frame: wire::Frame,
) -> Result<Option<Outgoing>, &'static str> {
    let op_code = frame.header.op_code;
    if !matches!(op_code, wire::OP_MSG | wire::OP_QUERY | wire::OP_COMPRESSED) {
        return Err("unsupported opcode");
    }
    let request_id = frame.header.request_id;
    let decoded = wire::verify_checksum(&frame).and_then(|()| wire::decode_request(&frame));
    let mut stream_body = None;
    let (reply, legacy) = match decoded {
        Ok(Request::Message { flags, body }) => {
            if wants_hello_stream(flags, &body) {
                stream_body = Some(body.clone());
            }
            let injected = if state.config.enable_test_commands {
                let name = body.keys().next().map(String::as_str).unwrap_or_default();
                let app_name = connection.app_name.lock().clone();
                state
                    .fail_points
                    .intercept(name, app_name.as_deref())
                    .or_else(|| state.fail_points.intercept_write(&body))
            } else {
                None
            };
            let injected = match injected {
                Some(Injection { block, injected }) => {
                    if let Some(block) = block {
                        tokio::time::sleep(block).await;
                    }
                    Some(injected)
                }
                None => None,
            };
            let reply = match injected {
                Some(Injected::CloseConnection) => {
                    return Err("closed by the failCommand fail point")
                }
                Some(Injected::Fail {
                    error,
                    labels_configured,
                }) => {
                    let error = if labels_configured {
                        error
                    } else {
                        fail_point::label_as_mongod(error, &body)
                    };
                    commands::error_reply(state, error)
                }
                Some(Injected::WriteConcernError(write_concern_error)) => {
                    let mut reply =
                        commands::execute(state.clone(), connection.clone(), body).await;
                    if reply.get_f64("ok").is_ok_and(|ok| ok == 1.0) {
                        reply.insert("writeConcernError", write_concern_error);
                    }
                    reply
                }
                Some(Injected::RunThenClose) => {
                    commands::execute(state.clone(), connection.clone(), body).await;
                    return Err("closed by the onPrimaryTransactionalWrite fail point");
                }
                Some(Injected::Run) | None => {
                    commands::execute(state.clone(), connection.clone(), body).await
                }
            };
            if flags & wire::FLAG_MORE_TO_COME != 0 {
                return Ok(None);
            }
            (reply, false)
        }
        Ok(Request::Query { namespace, query }) => (
            commands::execute_legacy(state.clone(), connection.clone(), &namespace, query).await,
            true,
        ),
        Err(error) => (error.to_reply(), op_code == wire::OP_QUERY),
    };
    let reply_id = state.next_request_id();
    // Only a successful hello opens a stream; its reply says more replies follow.
    let stream = stream_body
        .filter(|_| reply.get_f64("ok").is_ok_and(|ok| ok == 1.0))
        .map(|body| HelloStream {
            body,
            previous_reply_id: reply_id,
        });
    let flags = if stream.is_some() {
        wire::FLAG_MORE_TO_COME
    } else {
        0
    };
    let encode = |body: &bson::Document, flags: u32| {
        if legacy {
            wire::encode_op_reply(reply_id, request_id, body)
        } else {
            wire::encode_op_msg_with_flags(reply_id, request_id, flags, body)
        }
    };
    match encode(&reply, flags) {
        Ok(bytes) => Ok(Some(Outgoing { bytes, stream })),
        Err(error) => encode(&error.to_reply(), 0)
            .or_else(|_| {
                encode(
                    &CommandError::new(1, "reply could not be encoded").to_reply(),
                    0,
                )
            })
            .map(|bytes| {
                Some(Outgoing {
                    bytes,
                    stream: None,
                })
            })
            .map_err(|_| "reply could not be encoded"),
    }
}

const USAGE: &str = "\
embedded-mongo: an embedded MongoDB-compatible server (no authentication)

USAGE:
    embedded-mongo [--port N] [--bind ADDR] [--data-dir DIR] [--replica-set NAME]
                   [--enable-test-commands]

OPTIONS:
    --port N            TCP port to listen on (default 27017; 0 picks a free port)
    --bind ADDR         address to bind (default 127.0.0.1); anything but loopback exposes
                        every database to the network without authentication
    --data-dir DIR      keep data durably in DIR (default: memory only)
    --replica-set NAME  replica-set name reported to drivers (default rs0)
    --enable-test-commands
                        serve configureFailPoint (MongoDB's failCommand) for tests; never in
                        production
    --help              print this help
";

/// What the command line asked for.
#[derive(Debug, PartialEq)]
enum Invocation {
    Serve(ServerConfig),
    Help,
}

fn parse_arguments(arguments: impl IntoIterator<Item = String>) -> anyhow::Result<Invocation> {
    let mut config = ServerConfig {
        port: 27017,
        ..ServerConfig::default()
    };
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        let (flag, inline) = match argument.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (argument.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(Invocation::Help);
        }
        if flag == "--enable-test-commands" {
            config.enable_test_commands = true;
            continue;
        }
        let mut value = || -> anyhow::Result<String> {
            inline
                .clone()
                .or_else(|| arguments.next())
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                config.port = text
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--port: '{text}' is not a port number"))?;
            }
            "--bind" => {
                let text = value()?;
                config.bind = if text == "localhost" {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    text.parse()
                        .map_err(|_| anyhow::anyhow!("--bind: '{text}' is not an IP address"))?
                };
            }
            "--data-dir" => config.data_dir = Some(PathBuf::from(value()?)),
            "--replica-set" => config.replica_set_name = value()?,
            other => anyhow::bail!("unknown argument '{other}' (see --help)"),
        }
    }
    Ok(Invocation::Serve(config))
}

/// The binary's entry point: parses `--port`, `--bind`, `--data-dir` and serves until killed.
pub fn run_binary() -> anyhow::Result<()> {
    let config = match parse_arguments(std::env::args().skip(1))? {
        Invocation::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Invocation::Serve(config) => config,
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = EmbeddedMongo::start(config).await?;
        println!("embedded-mongo listening on {}", server.local_addr());
        wait_for_termination().await;
        tracing::info!("termination signal received, flushing and stopping");
        server.shutdown().await;
        anyhow::Ok(())
    })
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(list: &[&str]) -> Vec<String> {
        list.iter().map(|argument| argument.to_string()).collect()
    }

    #[test]
    fn the_binary_defaults_to_loopback_port_27017_in_memory() {
        let Invocation::Serve(config) = parse_arguments(arguments(&[])).unwrap() else {
            panic!("expected serve");
        };
        assert_eq!(config.port, 27017);
        assert_eq!(config.bind, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(config.data_dir, None);
        assert_eq!(config.replica_set_name, "rs0");
        assert!(!config.enable_test_commands);
    }

    #[test]
    fn the_binary_reads_every_option_in_both_spellings() {
        let parsed = parse_arguments(arguments(&[
            "--port",
            "0",
            "--bind=0.0.0.0",
            "--data-dir",
            "/tmp/x",
            "--replica-set=set1",
            "--enable-test-commands",
        ]))
        .unwrap();
        let Invocation::Serve(config) = parsed else {
            panic!("expected serve");
        };
        assert_eq!(config.port, 0);
        assert_eq!(config.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(config.data_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(config.replica_set_name, "set1");
        assert!(config.enable_test_commands);
        assert_eq!(
            parse_arguments(arguments(&["--help"])).unwrap(),
            Invocation::Help
        );
        assert!(parse_arguments(arguments(&["--port", "many"])).is_err());
        assert!(parse_arguments(arguments(&["--verbose"])).is_err());
    }
}
