//! The TCP server: accepts connections, decodes messages, runs commands, and the in-process
//! handle [`EmbeddedMongo`] the gateway and tests start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; loopback by default (the store has no authentication).
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Durable storage directory; `None` keeps data in memory.
    pub data_dir: Option<PathBuf>,
    /// The replica-set name reported by `hello`.
    pub replica_set_name: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            data_dir: None,
            replica_set_name: "rs0".to_string(),
        }
    }
}

/// A running server.
pub struct EmbeddedMongo {
    address: SocketAddr,
}

impl EmbeddedMongo {
    /// Opens the store and starts serving; returns once the listener is bound.
    pub async fn start(config: ServerConfig) -> std::io::Result<EmbeddedMongo> {
        let _ = config;
        todo!("issue #2: server")
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// A connection string for drivers (`directConnection=true`).
    pub fn uri(&self) -> String {
        format!("mongodb://{}/?directConnection=true", self.address)
    }

    /// Stops accepting, closes connections, flushes the store.
    pub async fn shutdown(self) {
        todo!("issue #2: server")
    }
}

/// The binary's entry point: parses `--port`, `--bind`, `--data-dir` and serves until killed.
pub fn run_binary() -> anyhow::Result<()> {
    todo!("issue #2: server")
}
