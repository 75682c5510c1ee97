//! `keyward serve` (and `keyward` alone): settings from flags and environment, then the
//! server until it is stopped.

use std::io::Write;
use std::path::Path;

use clap::Args;

use super::error::CliError;
use crate::clock::Clock;
use crate::config::{self, ConfigError, DatabaseUrl, Secret, SessionSettings, Settings};
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
    /// Requests each management token may send per minute (on each instance).
    #[arg(long, env = "KEYWARD_TOKEN_REQUESTS_PER_MINUTE", default_value = "300")]
    token_requests_per_minute: String,
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
    })
}

pub(crate) fn serve(
    database: DatabaseUrl,
    secret_file: Option<&Path>,
    args: ServeArgs,
) -> Result<(), CliError> {
    let settings = settings(database, secret_file, args)?;
    let backend = settings.database.backend_name();
    actix_web::rt::System::new().block_on(async move {
        let mut app = Application::build(settings.clone(), Clock::default())?;
        if let Some(admin) = app.take_first_admin() {
            print_first_admin(&admin);
        }
        let address = std::net::SocketAddr::new(settings.bind.ip(), app.port());
        println!("Keyward is listening on http://{address} ({backend})");
        std::io::stdout().flush()?;
        app.run_until_stopped().await?;
        Ok(())
    })
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
