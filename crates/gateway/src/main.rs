//! The `gateway` binary: reads the configuration, installs logging, runs the gateway until
//! SIGINT or SIGTERM, then shuts it down gracefully.
//!
//! `gateway [--config FILE] [--demo]`

use std::path::PathBuf;

use anyhow::Context;
use gateway::config::{Config, LogFormat};

const USAGE: &str = "usage: gateway [--config FILE] [--demo]

  --config FILE  read settings from a TOML file (also PEERTEST_CONFIG); the environment wins
  --demo         seed demo users and organizations (same as DEMO_DATA=true)

Every setting is listed in .env.sample.";

struct Arguments {
    config_file: Option<PathBuf>,
    demo: bool,
}

fn parse_arguments() -> anyhow::Result<Option<Arguments>> {
    let mut arguments = Arguments {
        config_file: std::env::var_os("PEERTEST_CONFIG").map(PathBuf::from),
        demo: false,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(argument) = raw.next() {
        match argument.as_str() {
            "--config" => {
                arguments.config_file =
                    Some(PathBuf::from(raw.next().context("--config needs a file")?))
            }
            "--demo" => arguments.demo = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => anyhow::bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(Some(arguments))
}

fn install_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .with_context(|| format!("LOG_FILTER {:?} is not a valid filter", config.log_filter))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Resolves when the process is asked to stop (SIGINT from a terminal, SIGTERM from a service
/// manager).
async fn stop_requested() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for SIGTERM; only SIGINT stops the gateway");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Stack of each runtime thread. A GraphQL request nests resolver futures several layers deep;
/// unoptimised builds make those futures large, and 2 MiB (tokio's default) is not always enough.
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let Some(arguments) = parse_arguments()? else {
        return Ok(());
    };
    let mut config = Config::load(arguments.config_file.as_deref(), std::env::vars())?;
    config.demo_data |= arguments.demo;
    install_logging(&config)?;
    let running = gateway::start(config.clone()).await?;
    println!();
    println!("PeerTest Hub gateway is running.");
    println!("  GraphQL API and IDE: {}", running.graphql_url());
    println!(
        "  Health: http://{0}/healthz  Readiness: http://{0}/readyz  Metrics: http://{0}/metrics",
        running.local_addr()
    );
    match &config.mongodb_uri {
        Some(_) => println!(
            "  Database: MongoDB at MONGODB_URI, database {}",
            config.database_name
        ),
        None => println!(
            "  Database: embedded store in {}",
            config.data_dir.join("store").display()
        ),
    }
    if config.demo_data {
        println!();
        println!("Demo logins (mutation login(input: {{email, password}})):");
        for account in gateway::demo::ACCOUNTS {
            println!(
                "  {:<7} {:<28} password {}",
                account.role_label(),
                account.email,
                gateway::demo::DEMO_PASSWORD
            );
        }
    }
    println!();
    println!("Press Ctrl-C to stop.");
    stop_requested().await;
    tracing::info!("stop requested; draining in-flight requests");
    running.shutdown().await;
    Ok(())
}
