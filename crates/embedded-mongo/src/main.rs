//! The `embedded-mongo` binary: serves the embedded store until killed.
//!
//! `embedded-mongo [--port N] [--bind ADDR] [--data-dir DIR]`

fn main() -> anyhow::Result<()> {
    embedded_mongo::server::run_binary()
}
