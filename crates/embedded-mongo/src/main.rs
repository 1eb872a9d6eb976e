//! The `embedded-mongo` binary: serves the embedded store until killed.
//!
//! `embedded-mongo [--port N] [--bind ADDR] [--data-dir DIR] [--replica-set NAME]`

fn main() -> anyhow::Result<()> {
    embedded_mongo::server::run_binary()
}
