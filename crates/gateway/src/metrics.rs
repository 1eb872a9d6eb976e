//! Prometheus metrics kept in process: HTTP requests by route and status with latencies, MongoDB
//! commands sent, and (opt-in) MongoDB commands by name and outcome as the driver reports them.
//!
//! The registry is a handful of counters behind a mutex: the gateway's request rate does not
//! justify a metrics dependency, and the text format is simple to write correctly.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Default)]
struct Registry {
    requests: BTreeMap<(String, String, u16), u64>,
    latencies: BTreeMap<String, Histogram>,
    mongodb_commands: BTreeMap<(String, &'static str), u64>,
}

/// The process's metrics; shared by the HTTP layer and the driver's event handler.
#[derive(Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Commands sent: one per connection the driver checks out of its pool.
    mongodb_commands_sent: AtomicU64,
}

/// How a MongoDB command ended, as a label value.
#[derive(Debug, Clone, Copy)]
pub enum CommandOutcome {
    /// The server answered `ok: 1`.
    Succeeded,
    /// The command failed (server error or network).
    Failed,
}

impl Metrics {
    /// Records one finished HTTP request. `route` is the matched route template, never the raw
    /// path, so label cardinality stays bounded.
    pub fn record_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *registry
            .requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let histogram = registry.latencies.entry(route.to_string()).or_default();
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum_seconds += seconds;
    }

    /// Records one MongoDB command sent (the driver checked a connection out for it). Lock-free:
    /// it runs for every command.
    pub fn record_mongodb_command_sent(&self) {
        self.mongodb_commands_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one MongoDB command the driver finished, by name (opt-in, see
    /// `Config::metrics_mongodb_command_names`).
    pub fn record_mongodb_command(&self, command_name: &str, outcome: CommandOutcome) {
        let outcome = match outcome {
            CommandOutcome::Succeeded => "succeeded",
            CommandOutcome::Failed => "failed",
        };
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *registry
            .mongodb_commands
            .entry((command_name.to_string(), outcome))
            .or_default() += 1;
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP http_requests_total HTTP requests handled, by route, method and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        for ((route, method, status), count) in &registry.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP http_request_duration_seconds Time to answer an HTTP request, by route.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (route, histogram) in &registry.latencies {
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {bucket}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum_seconds
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
        out.push_str("# HELP mongodb_commands_total MongoDB commands sent by the driver.\n");
        out.push_str("# TYPE mongodb_commands_total counter\n");
        let _ = writeln!(
            out,
            "mongodb_commands_total {}",
            self.mongodb_commands_sent.load(Ordering::Relaxed)
        );
        if !registry.mongodb_commands.is_empty() {
            out.push_str("# HELP mongodb_commands_by_name_total MongoDB commands the driver finished, by command name and outcome.\n");
            out.push_str("# TYPE mongodb_commands_by_name_total counter\n");
        }
        for ((command, outcome), count) in &registry.mongodb_commands {
            let _ = writeln!(
                out,
                "mongodb_commands_by_name_total{{command=\"{command}\",outcome=\"{outcome}\"}} {count}"
            );
        }
        out
    }
}

/// The Prometheus text of the GraphQL document cache's lookups (`graphql::documents`).
pub fn render_document_cache(counts: graphql::documents::CacheCounts) -> String {
    let mut out = String::new();
    out.push_str("# HELP graphql_document_cache_lookups_total Documents looked up by hash before parsing, by outcome (a hit is neither parsed nor validated).\n");
    out.push_str("# TYPE graphql_document_cache_lookups_total counter\n");
    let _ = writeln!(
        out,
        "graphql_document_cache_lookups_total{{outcome=\"hit\"}} {}",
        counts.hits
    );
    let _ = writeln!(
        out,
        "graphql_document_cache_lookups_total{{outcome=\"miss\"}} {}",
        counts.misses
    );
    out.push_str("# HELP graphql_document_preparation_seconds_total Time spent looking up, parsing, checking and validating GraphQL documents.\n");
    out.push_str("# TYPE graphql_document_preparation_seconds_total counter\n");
    let _ = writeln!(
        out,
        "graphql_document_preparation_seconds_total {}",
        counts.preparing_nanos as f64 / 1e9
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_and_status_with_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.record_request("/graphql", "POST", 200, Duration::from_millis(20));
        metrics.record_request("/graphql", "POST", 200, Duration::from_millis(300));
        let text = metrics.render();
        assert!(text
            .contains("http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"} 2"));
        assert!(text
            .contains("http_request_duration_seconds_bucket{route=\"/graphql\",le=\"0.025\"} 1"));
        assert!(
            text.contains("http_request_duration_seconds_bucket{route=\"/graphql\",le=\"0.5\"} 2")
        );
        assert!(text.contains("http_request_duration_seconds_count{route=\"/graphql\"} 2"));
    }

    #[test]
    fn mongodb_commands_are_counted_by_name_and_outcome() {
        let metrics = Metrics::default();
        metrics.record_mongodb_command("find", CommandOutcome::Succeeded);
        metrics.record_mongodb_command("find", CommandOutcome::Succeeded);
        metrics.record_mongodb_command("insert", CommandOutcome::Failed);
        metrics.record_mongodb_command_sent();
        let text = metrics.render();
        assert!(text
            .contains("mongodb_commands_by_name_total{command=\"find\",outcome=\"succeeded\"} 2"));
        assert!(text
            .contains("mongodb_commands_by_name_total{command=\"insert\",outcome=\"failed\"} 1"));
        assert!(text.contains("mongodb_commands_total 1\n"));
    }

    #[test]
    fn without_names_only_the_total_is_shown() {
        let metrics = Metrics::default();
        metrics.record_mongodb_command_sent();
        metrics.record_mongodb_command_sent();
        let text = metrics.render();
        assert!(text.contains("mongodb_commands_total 2\n"));
        assert!(!text.contains("mongodb_commands_by_name_total"));
    }
}
