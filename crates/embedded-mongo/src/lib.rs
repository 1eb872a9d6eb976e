//! An embedded MongoDB-compatible store: a wire-protocol server that the official drivers talk
//! to, backed by an in-process storage engine with optional on-disk durability.
//!
//! Start it in-process with [`EmbeddedMongo::start`], or run the `embedded-mongo` binary.

pub mod aggregate;
pub mod collation;
pub mod commands;
pub mod compare;
pub mod cursor;
pub mod error;
pub mod expression;
pub mod fail_point;
pub mod local_sessions;
pub mod projection;
pub mod query;
pub mod schema;
pub mod server;
pub mod session;
pub mod storage;
pub mod update;
pub mod wire;

pub use error::{CommandError, CommandResult};
pub use server::{EmbeddedMongo, ServerConfig};
