//! Checks of the shipped deploy files (`deploy/`): the compose stack publishes only its proxy,
//! runs MongoDB with authentication, and gives the gateway an environment its production
//! configuration accepts; the systemd unit listens on loopback behind a proxy.

use std::collections::BTreeMap;

const COMPOSE: &str = include_str!("../../../deploy/compose.yaml");
const DOCKERFILE: &str = include_str!("../../../deploy/Dockerfile");
const SYSTEMD_UNIT: &str = include_str!("../../../deploy/peertest-gateway.service");

/// The `services:` of the compose file: each service's lines (a small reader for this file's
/// layout: two-space indentation, services at depth one).
fn services() -> BTreeMap<String, Vec<String>> {
    let mut services = BTreeMap::new();
    let mut in_services = false;
    let mut current: Option<String> = None;
    for line in COMPOSE.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            in_services = line.trim_end() == "services:";
            current = None;
            continue;
        }
        if !in_services {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("  ")
            .filter(|rest| !rest.starts_with(' '))
        {
            if let Some(name) = name
                .trim_end()
                .strip_suffix(':')
                .or_else(|| name.split_once(": &").map(|(name, _)| name))
            {
                current = Some(name.to_string());
                services.insert(name.to_string(), Vec::new());
                continue;
            }
        }
        if let Some(name) = &current {
            services
                .get_mut(name)
                .expect("service started")
                .push(line.to_string());
        }
    }
    services
}

/// Replaces `${NAME:?message}` with a value a test supplies and `${NAME:-default}` with its
/// default.
fn substitute(value: &str, supplied: &BTreeMap<&str, &str>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed") + start;
        let inner = &rest[start + 2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner.split(":?").next().unwrap_or(inner), None),
        };
        match (supplied.get(name), default) {
            (Some(value), _) => out.push_str(value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => panic!("the compose file requires {name}"),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn only_the_proxy_publishes_a_port_and_mongodb_requires_authentication() {
    let services = services();
    assert!(services.contains_key("gateway") && services.contains_key("proxy"));
    let publishing: Vec<&String> = services
        .iter()
        .filter(|(_, lines)| {
            lines
                .iter()
                .any(|line| line.trim_start().starts_with("ports:"))
        })
        .map(|(name, _)| name)
        .collect();
    assert_eq!(publishing, vec!["proxy"]);
    let mongod = services["mongo-1"].join("\n");
    assert!(mongod.contains("\"--auth\"") && mongod.contains("\"--keyFile\""));
    for replica in ["mongo-2", "mongo-3"] {
        assert!(services[replica]
            .iter()
            .any(|line| line.contains("<<: *mongo")));
    }
}

#[test]
fn the_compose_gateway_environment_starts_in_production() {
    let services = services();
    let mut environment: Vec<(String, String)> = DOCKERFILE
        .lines()
        .map(|line| {
            line.trim()
                .trim_start_matches("ENV ")
                .trim_end_matches('\\')
                .trim()
        })
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let supplied = BTreeMap::from([
        ("MONGO_APP_PASSWORD", "0123abcd"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        (
            "ENCRYPTION_KEY",
            "abababababababababababababababababababababababababababababababab",
        ),
        ("PAYMENT_PROVIDER", "sandbox"),
        ("SMTP_HOST", "smtp.example.com"),
        ("EMAIL_FROM", "PeerTest Hub <no-reply@example.com>"),
    ]);
    let lines = &services["gateway"];
    let start = lines
        .iter()
        .position(|line| line.trim() == "environment:")
        .expect("gateway environment");
    for line in &lines[start + 1..] {
        if !line.starts_with("      ") {
            break;
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        let (name, value) = line.trim().split_once(": ").expect("NAME: value");
        environment.push((name.to_string(), substitute(value, &supplied)));
    }
    let uri = &environment
        .iter()
        .find(|(name, _)| name == "MONGODB_URI")
        .expect("MONGODB_URI")
        .1;
    assert!(uri.starts_with("mongodb://peertest:0123abcd@"), "{uri}");
    let config = crate::config::Config::load(None, environment.clone())
        .unwrap_or_else(|error| panic!("{error}: {environment:?}"));
    assert_eq!(config.environment, crate::config::Environment::Production);
    assert_eq!(
        config.trusted_proxies,
        vec!["172.28.0.10".parse::<std::net::IpAddr>().expect("ip")]
    );
}

#[test]
fn the_systemd_unit_listens_on_loopback_behind_a_proxy() {
    assert!(SYSTEMD_UNIT.contains("Environment=BIND_ADDR=127.0.0.1:"));
    assert!(SYSTEMD_UNIT.contains("Environment=TRUSTED_PROXIES=127.0.0.1"));
    assert!(SYSTEMD_UNIT.contains("Environment=ENVIRONMENT=production"));
}
