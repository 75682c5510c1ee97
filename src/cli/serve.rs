//! `keyward serve` (and `keyward` alone): settings from flags and environment, then the
//! server until it is stopped.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::error::CliError;
use crate::clock::Clock;
use crate::config::{
    self, ConfigError, DatabaseUrl, MetricsSettings, MetricsToken, Secret, SessionSettings, Settings,
};
use crate::startup::{Application, FirstAdmin};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KEYWARD_BIND", default_value = "127.0.0.1:8080")]
    bind: String,
    /// Sign out after this long without a request (e.g. 30m).
    #[arg(long, env = "KEYWARD_SESSION_IDLE_TIMEOUT", default_value = "30m")]
    session_idle_timeout: String,
    /// Sign out this long after signing in, however active (e.g. 12h).
    #[arg(long, env = "KEYWARD_SESSION_ABSOLUTE_TIMEOUT", default_value = "12h")]
    session_absolute_timeout: String,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "KEYWARD_WORKERS")]
    workers: Option<String>,
    /// Reverse proxies (IP addresses, comma-separated) whose X-Forwarded-For names the
    /// client, for the per-address limits.
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// How long a verified key is trusted without reading the database, in
    /// milliseconds: how long another process's change can take to be seen. 0 turns
    /// the cache off.
    #[arg(long, env = "KEYWARD_KEY_CACHE_TTL_MS", default_value = "1000")]
    key_cache_ttl_ms: String,
    /// How often scheduled work runs, in milliseconds: "grace ended" and "expired"
    /// history events, and removing expired sessions.
    #[arg(long, env = "KEYWARD_SWEEP_INTERVAL_MS", default_value = "60000")]
    sweep_interval_ms: String,
    /// How long a change's request body may take to arrive before it is refused with
    /// 408 and nothing changed (e.g. 10s).
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT", default_value = "10s")]
    body_timeout: String,
    /// Requests each management token may send per minute, through all instances together.
    #[arg(long, env = "KEYWARD_TOKEN_REQUESTS_PER_MINUTE", default_value = "300")]
    token_requests_per_minute: String,
    /// Days the request log keeps each key's requests; 0 keeps none (and the sweep
    /// removes what was kept before).
    #[arg(long, env = "KEYWARD_REQUEST_LOG_DAYS", default_value = "7")]
    request_log_days: String,
    /// How long a stop signal (SIGTERM, Ctrl-C) waits for open connections to be
    /// answered and closed before the server exits anyway (e.g. 30s).
    #[arg(long, env = "KEYWARD_DRAIN_TIMEOUT", default_value = "30s")]
    drain_timeout: String,
    /// Cookies without `Secure`, so a dashboard served over plain HTTP on a private
    /// network can sign in (logged as a warning at every start). Serve over HTTPS instead
    /// wherever you can.
    #[arg(long, env = "KEYWARD_INSECURE_COOKIES", default_value = "false")]
    insecure_cookies: String,
    /// Serve Prometheus metrics (`GET /metrics`) on a listener of their own at this
    /// address (e.g. 127.0.0.1:9090), without a token: keep it off the public network.
    #[arg(long, env = "KEYWARD_METRICS_BIND", default_value = "")]
    metrics_bind: String,
    /// File holding the bearer token (at least 32 characters) that opens `GET /metrics`
    /// on the main listener; KEYWARD_METRICS_TOKEN gives it inline. Without either,
    /// and without KEYWARD_METRICS_BIND, metrics are served nowhere.
    #[arg(long, env = "KEYWARD_METRICS_TOKEN_FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Redis to count rate limits in for every instance together (e.g.
    /// redis://127.0.0.1:6379/0); without it they are shared through Postgres, or kept
    /// per instance on SQLite.
    #[arg(long, env = "KEYWARD_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
}

fn settings(
    database: DatabaseUrl,
    secret_file: Option<&Path>,
    args: ServeArgs,
) -> Result<Settings, ConfigError> {
    let bind = config::parse_bind(&args.bind)?;
    let session = SessionSettings {
        idle_timeout: config::parse_duration("KEYWARD_SESSION_IDLE_TIMEOUT", &args.session_idle_timeout)?,
        absolute_timeout: config::parse_duration(
            "KEYWARD_SESSION_ABSOLUTE_TIMEOUT",
            &args.session_absolute_timeout,
        )?,
    };
    if session.idle_timeout > session.absolute_timeout {
        return Err(ConfigError::IdleLongerThanAbsolute);
    }
    let secret = Secret::load(std::env::var("KEYWARD_SECRET").ok(), secret_file, &database)?;
    Ok(Settings {
        database,
        bind,
        secret,
        session,
        workers: args.workers.as_deref().map(config::parse_workers).transpose()?,
        trusted_proxies: config::parse_trusted_proxies(&args.trusted_proxies)?,
        key_cache_ttl: config::parse_cache_ttl(&args.key_cache_ttl_ms)?,
        sweep_interval: config::parse_sweep_interval(&args.sweep_interval_ms)?,
        body_timeout: config::parse_duration("KEYWARD_BODY_TIMEOUT", &args.body_timeout)?.unsigned_abs(),
        token_requests_per_minute: config::parse_token_rate(&args.token_requests_per_minute)?,
        request_log_days: config::parse_request_log_days(&args.request_log_days)?,
        drain_timeout: config::parse_duration("KEYWARD_DRAIN_TIMEOUT", &args.drain_timeout)?.unsigned_abs(),
        insecure_cookies: config::parse_insecure_cookies(&args.insecure_cookies)?,
        // Read from the environment only, like the secret: a flag would show in `ps`.
        metrics: MetricsSettings {
            bind: config::parse_metrics_bind(&args.metrics_bind)?,
            token: MetricsToken::load(
                std::env::var("KEYWARD_METRICS_TOKEN").ok(),
                args.metrics_token_file.as_deref(),
            )?,
        },
        redis_url: args
            .redis_url
            .as_deref()
            .filter(|raw| !raw.trim().is_empty())
            .map(config::RedisUrl::parse)
            .transpose()?,
    })
}

pub(crate) fn serve(
    database: DatabaseUrl,
    secret_file: Option<&Path>,
    args: ServeArgs,
) -> Result<(), CliError> {
    let settings = settings(database, secret_file, args)?;
    let backend = settings.database.backend_name();
    let system = actix_web::rt::System::new();
    let served = system.block_on(async move {
        let mut app = Application::build(settings.clone(), Clock::default())?;
        if let Some(admin) = app.take_first_admin() {
            print_first_admin(&admin);
        }
        let address = std::net::SocketAddr::new(settings.bind.ip(), app.port());
        println!("Keyward is listening on http://{address} ({backend})");
        if let Some(port) = app.metrics_port() {
            let metrics = std::net::SocketAddr::new(
                settings.metrics.bind.map_or(settings.bind.ip(), |bind| bind.ip()),
                port,
            );
            println!("Metrics are served on http://{metrics}/metrics");
        }
        std::io::stdout().flush()?;
        app.run_until_stopped().await?;
        Ok(())
    });
    // Dropping the runtime would wait for every blocking thread, and one may be stuck
    // on a statement a frozen database never answers (its caller gave up long ago).
    // Everything worth finishing (the drain, the last usage flush) is done by now: the
    // process ends here rather than wait on such a thread past the drain time.
    std::mem::forget(system);
    served
}

fn print_first_admin(admin: &FirstAdmin) {
    println!(
        "Created the merchant \"{}\" and its first admin. Sign in with:",
        admin.merchant
    );
    println!("  Email:    {}", admin.email);
    println!("  Password: {}", admin.password.expose());
    println!("The password is shown only this once; store it somewhere safe.");
}
