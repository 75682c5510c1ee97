//! The server's metrics, rendered in the Prometheus text format at `/metrics`.
//!
//! Each server has a registry of its own ([`Metrics`]), carried to every place that
//! records, rather than the `metrics` crate's process-wide recorder: a process may run
//! several servers (the integration tests run dozens in one), and scraping one must show
//! that server's traffic alone. Imports nothing of ours, so every layer may record.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// How often histograms' recent samples are folded into their buckets when nobody
/// scrapes: what keeps their memory bounded between scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The `route` label of a request that matched no route: one value for every unknown
/// address, so probes cannot grow the label set.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const METADATA: Metadata<'static> = Metadata::new("keyward", Level::INFO, Some(module_path!()));

const VERIFICATIONS: &str = "keyward_verifications_total";
const VERIFICATION_SECONDS: &str = "keyward_verification_duration_seconds";
const CACHE_HITS: &str = "keyward_key_cache_hits_total";
const CACHE_MISSES: &str = "keyward_key_cache_misses_total";
const POOL_IN_USE: &str = "keyward_db_pool_connections_in_use";
const POOL_IDLE: &str = "keyward_db_pool_connections_idle";
const POOL_WAITS: &str = "keyward_db_pool_waits_total";
const POOL_WAIT_SECONDS: &str = "keyward_db_pool_wait_duration_seconds";
const FLUSH_LAG: &str = "keyward_usage_flush_lag_seconds";
const FLUSH_BATCH: &str = "keyward_usage_flush_batch_size";
const FLUSH_FAILURES: &str = "keyward_usage_flush_failures_total";
const NOTIFICATIONS: &str = "keyward_change_notifications_total";
const RECONNECTS: &str = "keyward_listener_reconnects_total";
const HTTP_REQUESTS: &str = "keyward_http_requests_total";
const HTTP_SECONDS: &str = "keyward_http_request_duration_seconds";
const SWEEP_RUNS: &str = "keyward_sweep_runs_total";

/// Upper bounds of the latency buckets, in seconds: from half a millisecond (a cached
/// verification) to ten seconds (a request stuck behind the database).
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds of the flush batch buckets, in rows.
const BATCH_BUCKETS: &[f64] = &[1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];

/// One server's metrics: cheap to clone, every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    verification_seconds: Histogram,
    cache_hits: Counter,
    cache_misses: Counter,
    pool_in_use: Gauge,
    pool_idle: Gauge,
    pool_waits: Counter,
    pool_wait_seconds: Histogram,
    flush_lag: Gauge,
    flush_batch: Histogram,
    flush_failures: Counter,
    notifications: Counter,
    reconnects: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry, every series without labels already at zero, so a scrape
    /// before any traffic shows them all.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Full(FLUSH_BATCH.into()), BATCH_BUCKETS)
            })
            .expect("the bucket lists are not empty")
            .build_recorder();
        for (name, help) in [
            (
                VERIFICATIONS,
                "Key verifications (whoami and forward-auth), by outcome: accepted or the error code",
            ),
            (CACHE_HITS, "Verifications answered from the key cache"),
            (
                CACHE_MISSES,
                "Verifications that had to look for the key beyond the cache",
            ),
            (
                POOL_WAITS,
                "Database work that waited for a free pooled connection",
            ),
            (
                FLUSH_FAILURES,
                "Usage flushes that failed and were kept for the next one",
            ),
            (
                NOTIFICATIONS,
                "Change notifications heard on the change channel, from any instance (Postgres)",
            ),
            (
                RECONNECTS,
                "Times the change listener's connection failed and it connected again",
            ),
            (
                HTTP_REQUESTS,
                "HTTP requests answered, by route pattern and status",
            ),
            (
                SWEEP_RUNS,
                "Scheduled sweep steps, by step and result (ok, skipped, failed)",
            ),
        ] {
            recorder.describe_counter(KeyName::from_const_str(name), None, SharedString::const_str(help));
        }
        for (name, help) in [
            (POOL_IN_USE, "Pooled database connections in use at the scrape"),
            (POOL_IDLE, "Pooled database connections idle at the scrape"),
            (
                FLUSH_LAG,
                "Age of the oldest usage count the last flush wrote, in seconds",
            ),
        ] {
            recorder.describe_gauge(KeyName::from_const_str(name), None, SharedString::const_str(help));
        }
        for (name, help) in [
            (VERIFICATION_SECONDS, "Time to verify a key, in seconds"),
            (
                POOL_WAIT_SECONDS,
                "Time spent waiting for a free pooled connection, in seconds",
            ),
            (
                FLUSH_BATCH,
                "Rows one usage flush wrote: hourly counters and request log rows",
            ),
            (
                HTTP_SECONDS,
                "Time to answer an HTTP request, by route pattern, in seconds",
            ),
        ] {
            recorder.describe_histogram(KeyName::from_const_str(name), None, SharedString::const_str(help));
        }
        let counter = |name: &'static str| recorder.register_counter(&Key::from_static_name(name), &METADATA);
        let gauge = |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        let histogram =
            |name: &'static str| recorder.register_histogram(&Key::from_static_name(name), &METADATA);
        let inner = Inner {
            handle: recorder.handle(),
            verification_seconds: histogram(VERIFICATION_SECONDS),
            cache_hits: counter(CACHE_HITS),
            cache_misses: counter(CACHE_MISSES),
            pool_in_use: gauge(POOL_IN_USE),
            pool_idle: gauge(POOL_IDLE),
            pool_waits: counter(POOL_WAITS),
            pool_wait_seconds: histogram(POOL_WAIT_SECONDS),
            flush_lag: gauge(FLUSH_LAG),
            flush_batch: histogram(FLUSH_BATCH),
            flush_failures: counter(FLUSH_FAILURES),
            notifications: counter(NOTIFICATIONS),
            reconnects: counter(RECONNECTS),
            recorder,
        };
        Self(Arc::new(inner))
    }

    fn labelled_counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.0
            .recorder
            .register_counter(&Key::from_parts(name, labels), &METADATA)
    }

    /// A key verification ended with `outcome` (`accepted`, or the API error code it
    /// was refused with) after `took`.
    pub fn verification(&self, outcome: &'static str, took: Duration) {
        self.labelled_counter(VERIFICATIONS, vec![Label::from_static_parts("outcome", outcome)])
            .increment(1);
        self.0.verification_seconds.record(took.as_secs_f64());
    }

    /// A verification found its key in the cache (`hit`) or had to look further.
    pub fn key_cache_lookup(&self, hit: bool) {
        if hit {
            self.0.cache_hits.increment(1);
        } else {
            self.0.cache_misses.increment(1);
        }
    }

    /// Database work waited `waited` for a pooled connection.
    pub fn pool_wait(&self, waited: Duration) {
        self.0.pool_waits.increment(1);
        self.0.pool_wait_seconds.record(waited.as_secs_f64());
    }

    /// The pool's connections right now, set just before a scrape renders.
    pub fn pool_connections(&self, in_use: u32, idle: u32) {
        self.0.pool_in_use.set(in_use);
        self.0.pool_idle.set(idle);
    }

    /// A usage flush wrote `rows` rows, the oldest count among them `lag` old.
    pub fn usage_flushed(&self, rows: usize, lag: Duration) {
        self.0.flush_batch.record(rows as f64);
        self.0.flush_lag.set(lag.as_secs_f64());
    }

    /// A usage flush failed; its counts wait for the next one.
    pub fn usage_flush_failed(&self) {
        self.0.flush_failures.increment(1);
    }

    /// The change listener heard `count` notifications.
    pub fn change_notifications(&self, count: u64) {
        self.0.notifications.increment(count);
    }

    /// The change listener lost its connection and is about to connect again.
    pub fn listener_reconnect(&self) {
        self.0.reconnects.increment(1);
    }

    /// An HTTP request to `route` (a route pattern, or [`UNMATCHED_ROUTE`]) was
    /// answered with `status` after `took`.
    pub fn http_request(&self, route: &str, status: u16, took: Duration) {
        let route = SharedString::from_owned(route.to_owned());
        self.labelled_counter(
            HTTP_REQUESTS,
            vec![
                Label::new("route", route.clone()),
                Label::new("status", status.to_string()),
            ],
        )
        .increment(1);
        self.0
            .recorder
            .register_histogram(
                &Key::from_parts(HTTP_SECONDS, vec![Label::new("route", route)]),
                &METADATA,
            )
            .record(took.as_secs_f64());
    }

    /// A sweep step ran with `result` (`ok`, `skipped` while another instance swept,
    /// or `failed`).
    pub fn sweep_run(&self, step: &'static str, result: &'static str) {
        self.labelled_counter(
            SWEEP_RUNS,
            vec![
                Label::from_static_parts("step", step),
                Label::from_static_parts("result", result),
            ],
        )
        .increment(1);
    }

    /// Everything recorded, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.0.handle.render()
    }

    /// Folds histograms' recent samples into their buckets; run every
    /// [`UPKEEP_INTERVAL`] so that they stay small between scrapes.
    pub fn upkeep(&self) {
        self.0.handle.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_registry_renders_only_what_was_recorded_in_it() {
        let one = Metrics::new();
        let other = Metrics::new();
        one.verification("accepted", Duration::from_millis(2));
        one.verification("key_revoked", Duration::from_millis(3));
        one.http_request("/api/v1/whoami", 200, Duration::from_millis(4));
        let text = one.render();
        assert!(
            text.contains("keyward_verifications_total{outcome=\"accepted\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("keyward_verifications_total{outcome=\"key_revoked\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("keyward_verification_duration_seconds_count 2"),
            "{text}"
        );
        assert!(
            text.contains("keyward_http_requests_total{route=\"/api/v1/whoami\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE keyward_verification_duration_seconds histogram"),
            "{text}"
        );
        let untouched = other.render();
        assert!(!untouched.contains("outcome="), "{untouched}");
        assert!(
            untouched.contains("keyward_key_cache_hits_total 0"),
            "{untouched}"
        );
    }
}
