//! Typed settings, read from flags and the environment, checked before anything starts.

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::Duration;

/// The smallest server secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 64;

/// A setting that is missing or wrong. Each message names the setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `DATABASE_URL` has a scheme Keyward does not speak.
    #[error("DATABASE_URL: unsupported scheme `{0}` (use sqlite://PATH, a bare path, or postgres://…)")]
    UnsupportedScheme(String),
    /// `DATABASE_URL` is empty.
    #[error("DATABASE_URL: must not be empty")]
    EmptyDatabaseUrl,
    /// `DATABASE_URL` is a libpq `key=value` connection string, which would otherwise be
    /// taken for a SQLite file name (password and all). Not echoed: it may hold one.
    #[error(
        "DATABASE_URL: a `key=value` connection string is not supported; give Postgres as postgres://USER:PASSWORD@HOST:PORT/DATABASE"
    )]
    KeyValueDatabaseUrl,
    /// The SQLite file's folder does not exist.
    #[error("DATABASE_URL: the folder `{0}` for the SQLite database does not exist")]
    MissingDatabaseFolder(PathBuf),
    /// The secret is shorter than [`MIN_SECRET_BYTES`].
    #[error("{source_name}: the secret must be at least {MIN_SECRET_BYTES} bytes long (it has {len})")]
    SecretTooShort {
        /// Which setting held it.
        source_name: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// Postgres needs a secret every instance shares.
    #[error(
        "KEYWARD_SECRET or KEYWARD_SECRET_FILE is required with Postgres, so that every instance shares one secret"
    )]
    SecretRequired,
    /// The secret file could not be read or written.
    #[error("{setting}: cannot use `{path}`")]
    SecretFile {
        /// The setting that named the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The secret file lets group or others read or write it.
    #[error(
        "{setting}: `{path}` can be read or written by group or others (mode {mode:04o}); make it private to its owner: chmod 600 {path}"
    )]
    SecretFileExposed {
        /// The setting that named the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `KEYWARD_BIND` is not a socket address.
    #[error("KEYWARD_BIND: `{0}` is not an address such as 127.0.0.1:8080")]
    BadBind(String),
    /// A timeout is not a duration.
    #[error("{setting}: `{value}` is not a duration from 1s to 366d, such as 30m, 12h or 90s")]
    BadDuration {
        /// The setting.
        setting: &'static str,
        /// What it held.
        value: String,
    },
    /// `KEYWARD_WORKERS` is not a thread count.
    #[error("KEYWARD_WORKERS: `{0}` is not a number of worker threads from 1 to 256")]
    BadWorkers(String),
    /// `KEYWARD_TOKEN_REQUESTS_PER_MINUTE` is out of range.
    #[error("KEYWARD_TOKEN_REQUESTS_PER_MINUTE: `{0}` is not a number of requests from 1 to 1000000")]
    BadTokenRate(String),
    /// `KEYWARD_REQUEST_LOG_DAYS` is out of range.
    #[error("KEYWARD_REQUEST_LOG_DAYS: `{0}` is not a number of days from 0 to 365")]
    BadRequestLogDays(String),
    /// `KEYWARD_KEY_CACHE_TTL_MS` is out of range.
    #[error("KEYWARD_KEY_CACHE_TTL_MS: `{0}` is not a number of milliseconds from 0 to 60000")]
    BadCacheTtl(String),
    /// `KEYWARD_SWEEP_INTERVAL_MS` is out of range.
    #[error("KEYWARD_SWEEP_INTERVAL_MS: `{0}` is not a number of milliseconds from 100 to 3600000")]
    BadSweepInterval(String),
    /// `KEYWARD_INSECURE_COOKIES` is not `true` or `false`.
    #[error("KEYWARD_INSECURE_COOKIES: `{0}` is not true or false")]
    BadInsecureCookies(String),
    /// `KEYWARD_TRUSTED_PROXIES` holds something that is not an IP address.
    #[error("KEYWARD_TRUSTED_PROXIES: `{0}` is not an IP address")]
    BadProxy(String),
    /// `KEYWARD_REDIS_URL` is not a Redis URL.
    #[error("KEYWARD_REDIS_URL: `{0}` is not a Redis URL such as redis://127.0.0.1:6379/0")]
    BadRedisUrl(String),
    /// An environment variable has a value the command line refuses.
    #[error("{0}")]
    Environment(String),
    /// `KEYWARD_METRICS_BIND` is not a socket address.
    #[error("KEYWARD_METRICS_BIND: `{0}` is not an address such as 127.0.0.1:9090")]
    BadMetricsBind(String),
    /// The metrics token is shorter than [`MIN_METRICS_TOKEN_BYTES`].
    #[error(
        "{setting}: the metrics token must be at least {MIN_METRICS_TOKEN_BYTES} characters long (it has {len})"
    )]
    MetricsTokenTooShort {
        /// Which setting held it.
        setting: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The metrics token holds something an `Authorization` header cannot carry.
    #[error("{0}: the metrics token must be printable ASCII without spaces")]
    BadMetricsToken(&'static str),
    /// The idle timeout is longer than the absolute one.
    #[error("KEYWARD_SESSION_IDLE_TIMEOUT must not be longer than KEYWARD_SESSION_ABSOLUTE_TIMEOUT")]
    IdleLongerThanAbsolute,
}

/// The shortest metrics token accepted, in bytes.
pub const MIN_METRICS_TOKEN_BYTES: usize = 32;

/// The bearer token `GET /metrics` on the main listener asks for. Its `Debug` never
/// prints it.
#[derive(Clone)]
pub struct MetricsToken(Vec<u8>);

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(<redacted>)")
    }
}

impl MetricsToken {
    /// Parses a token given by `setting`: at least [`MIN_METRICS_TOKEN_BYTES`] of
    /// printable ASCII, no space (it travels in an `Authorization` header).
    pub fn parse(raw: &str, setting: &'static str) -> Result<Self, ConfigError> {
        if !raw.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(ConfigError::BadMetricsToken(setting));
        }
        if raw.len() < MIN_METRICS_TOKEN_BYTES {
            return Err(ConfigError::MetricsTokenTooShort {
                setting,
                len: raw.len(),
            });
        }
        Ok(Self(raw.as_bytes().to_vec()))
    }

    /// Reads the token from `KEYWARD_METRICS_TOKEN` or, without it, the file
    /// `KEYWARD_METRICS_TOKEN_FILE` names (private to its owner, like the secret's);
    /// `None` when neither is set or the one set is blank.
    pub fn load(from_env: Option<String>, file: Option<&Path>) -> Result<Option<Self>, ConfigError> {
        if let Some(token) = from_env.filter(|token| !token.trim().is_empty()) {
            return Self::parse(token.trim(), "KEYWARD_METRICS_TOKEN").map(Some);
        }
        let Some(path) = file else {
            return Ok(None);
        };
        let bytes = read_private_file("KEYWARD_METRICS_TOKEN_FILE", path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ConfigError::BadMetricsToken("KEYWARD_METRICS_TOKEN_FILE"))?;
        Self::parse(text.trim(), "KEYWARD_METRICS_TOKEN_FILE").map(Some)
    }

    /// Whether `presented` is this token, compared in constant time: both are hashed
    /// first, so neither their bytes nor their lengths show in the time it takes.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use sha2::Digest;
        use subtle::ConstantTimeEq;
        Sha256::digest(&self.0).ct_eq(&Sha256::digest(presented)).into()
    }
}

/// Where `GET /metrics` is served. With neither set it is served nowhere: the main
/// listener answers it 404.
#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// A listener of its own that serves only `/metrics`, without a token.
    pub bind: Option<SocketAddr>,
    /// The bearer token that opens `/metrics` on the main listener.
    pub token: Option<MetricsToken>,
}

/// Parses `KEYWARD_METRICS_BIND`; blank means no listener of its own.
pub fn parse_metrics_bind(raw: &str) -> Result<Option<SocketAddr>, ConfigError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse()
        .map(Some)
        .map_err(|_| ConfigError::BadMetricsBind(raw.to_owned()))
}

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A Postgres connection URL.
    Postgres(String),
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            DatabaseUrl::Postgres(url) => write!(f, "Postgres({})", redact_password(url)),
        }
    }
}

/// True for a libpq connection string such as `host=db user=app password=…`: a word
/// that starts with one of libpq's connection keywords and `=`.
fn is_libpq_keywords(raw: &str) -> bool {
    const KEYWORDS: [&str; 8] = [
        "host", "hostaddr", "port", "dbname", "user", "password", "sslmode", "service",
    ];
    raw.split_whitespace().any(|word| {
        word.split_once('=')
            .is_some_and(|(name, _)| KEYWORDS.contains(&name.trim()))
    })
}

/// `text` with every trace of `url`'s password replaced: the password as written, as
/// percent-decoded, and the pieces of it that a URL parser may have read as a host or a
/// port (a raw `/` or `@` in it). For libpq's error messages, which quote what they
/// could not parse.
pub fn without_password(text: &str, url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return text.to_owned();
    };
    // Up to the last `@` of all, as in `redact_password`.
    let Some((user_info, _)) = rest.rsplit_once('@') else {
        return text.to_owned();
    };
    let Some((_, password)) = user_info.split_once(':') else {
        return text.to_owned();
    };
    let decoded = percent_encoding::percent_decode_str(password)
        .decode_utf8_lossy()
        .into_owned();
    let mut secrets: Vec<&str> = vec![password, decoded.as_str()];
    secrets.extend(
        password
            .split(['/', '@', ':', '?', '#'])
            .filter(|piece| piece.len() >= 3),
    );
    secrets.retain(|secret| !secret.is_empty());
    // Longest first, so a piece never leaves the rest of a longer match behind.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    let mut scrubbed = text.to_owned();
    for secret in secrets {
        scrubbed = scrubbed.replace(secret, "<redacted>");
    }
    scrubbed
}

/// Hides the password of a `postgres://user:password@host/db` URL.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Up to the last `@` of all: a password may hold a raw `@`, `/`, `?` or `#`, which
    // a URL parser would read as the end of the authority. Hiding too much is the
    // safe way to be wrong.
    match rest.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:<redacted>@{host}")
        }
        _ => url.to_owned(),
    }
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH`, `sqlite:PATH`, a bare path, or `postgres://…`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(ConfigError::EmptyDatabaseUrl);
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(ConfigError::EmptyDatabaseUrl);
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = raw.split_once("://") {
            return Err(ConfigError::UnsupportedScheme(scheme.to_owned()));
        }
        if is_libpq_keywords(raw) {
            return Err(ConfigError::KeyValueDatabaseUrl);
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(raw)))
    }

    /// Checks what can be checked before connecting: the SQLite file's folder exists.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let DatabaseUrl::Sqlite(path) = self {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(folder) = folder
                && !folder.is_dir()
            {
                return Err(ConfigError::MissingDatabaseFolder(folder.to_owned()));
            }
        }
        Ok(())
    }

    /// The name of the backend, as shown in logs.
    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "SQLite",
            DatabaseUrl::Postgres(_) => "Postgres",
        }
    }
}

/// Where the rate limits of every instance are counted together, parsed from
/// `KEYWARD_REDIS_URL`. Its `Debug` and `Display` never show a password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Parses `redis://[user:password@]host[:port][/db]`; TLS (`rediss://`) is refused,
    /// as this build has no TLS for Redis.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        // The message names the value with its password hidden: it goes to a terminal
        // and to a service manager's log.
        // A query string may carry a password too (`redis+unix://…?pass=`): left out.
        let bad = || {
            let shown = redact_password(raw);
            ConfigError::BadRedisUrl(match shown.split_once('?') {
                Some((before, _)) => format!("{before}?…"),
                None => shown,
            })
        };
        if !raw.starts_with("redis://") {
            return Err(bad());
        }
        let parsed = redis::parse_redis_url(raw).ok_or_else(bad)?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad());
        }
        redis::Client::open(raw).map_err(|_| bad())?;
        Ok(Self(raw.to_owned()))
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", redact_password(&self.0))
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password(&self.0))
    }
}

/// The server secret: signs session cookies and derives the key pepper. Its `Debug`
/// never prints it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    fn parse(bytes: Vec<u8>, source_name: &'static str) -> Result<Self, ConfigError> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::SecretTooShort {
                source_name,
                len: bytes.len(),
            });
        }
        Ok(Self(bytes))
    }

    /// Wraps a secret given in code (tests, tools); it must be at least 64 bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ConfigError> {
        Self::parse(bytes, "secret")
    }

    /// A 64-byte key for one purpose, derived so that no two purposes share a key.
    pub fn derive(&self, purpose: &str) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (i, half) in out.chunks_mut(32).enumerate() {
            let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
            mac.update(purpose.as_bytes());
            mac.update(&[u8::try_from(i).expect("two halves")]);
            half.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// Reads the secret from `KEYWARD_SECRET` or `KEYWARD_SECRET_FILE`; on SQLite with
    /// neither, reads or creates `keyward.secret` beside the database (mode 0600).
    pub fn load(
        from_env: Option<String>,
        file: Option<&Path>,
        database: &DatabaseUrl,
    ) -> Result<Self, ConfigError> {
        if let Some(secret) = from_env {
            return Self::parse(secret.into_bytes(), "KEYWARD_SECRET");
        }
        if let Some(path) = file {
            let bytes = read_private_file("KEYWARD_SECRET_FILE", path)?;
            return Self::parse(trim_line_end(bytes), "KEYWARD_SECRET_FILE");
        }
        match database {
            DatabaseUrl::Postgres(_) => Err(ConfigError::SecretRequired),
            DatabaseUrl::Sqlite(db_path) => Self::load_or_create_beside(db_path),
        }
    }

    fn load_or_create_beside(db_path: &Path) -> Result<Self, ConfigError> {
        let path = db_path.with_file_name("keyward.secret");
        match read_private_file("keyward.secret", &path) {
            Ok(bytes) => Self::parse(trim_line_end(bytes), "keyward.secret"),
            Err(ConfigError::SecretFile { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let secret = crate::domain::random_token(86);
                write_private_file(&path, secret.as_bytes()).map_err(|source| ConfigError::SecretFile {
                    setting: "keyward.secret",
                    path: path.clone(),
                    source,
                })?;
                Self::parse(secret.into_bytes(), "keyward.secret")
            }
            Err(err) => Err(err),
        }
    }
}

/// Reads a secret file, refusing one that group or others may read or write: whoever
/// reads the secret can forge sessions, and whoever writes it can replace it.
fn read_private_file(setting: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let file_error = |source| ConfigError::SecretFile {
        setting,
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(file_error)?;
    // The mode of the file opened, not of whatever the path names a moment later.
    let mode = file.metadata().map_err(file_error)?.permissions().mode() & 0o7777;
    if mode & 0o066 != 0 {
        return Err(ConfigError::SecretFileExposed {
            setting,
            path: path.to_owned(),
            mode,
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(file_error)?;
    Ok(bytes)
}

fn trim_line_end(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    bytes
}

/// Writes a new file readable by its owner only; fails if it already exists, so two
/// processes starting at once never overwrite each other's secret.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The longest duration a setting takes: a year.
const MAX_DURATION_SECONDS: i64 = 366 * 24 * 60 * 60;

/// Parses a duration such as `90s`, `30m`, `12h` or `7d`, from one second to a year.
pub fn parse_duration(setting: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::BadDuration {
        setting,
        value: raw.to_owned(),
    };
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = raw.split_at(split);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(bad()),
    };
    let seconds = number.checked_mul(unit_seconds).ok_or_else(bad)?;
    if !(1..=MAX_DURATION_SECONDS).contains(&seconds) {
        return Err(bad());
    }
    Ok(Duration::seconds(seconds))
}

/// How long a signed-in session lasts.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// Signed out after this long without a request.
    pub idle_timeout: Duration,
    /// Signed out this long after signing in, however active.
    pub absolute_timeout: Duration,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::minutes(30),
            absolute_timeout: Duration::hours(12),
        }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The database.
    pub database: DatabaseUrl,
    /// The address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The server secret.
    pub secret: Secret,
    /// Session lifetimes.
    pub session: SessionSettings,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long a verified key state is trusted; zero turns the cache off.
    pub key_cache_ttl: std::time::Duration,
    /// How often scheduled work (lapse events, expired sessions) runs.
    pub sweep_interval: std::time::Duration,
    /// How long a dashboard change's body may take to arrive before it is answered 408.
    pub body_timeout: std::time::Duration,
    /// Requests each management token may send per minute.
    pub token_requests_per_minute: u32,
    /// Days the request log keeps a row; 0 keeps no request at all.
    pub request_log_days: u32,
    /// How long a stop signal waits for open connections to close before exiting.
    pub drain_timeout: std::time::Duration,
    /// Cookies without `Secure`, for a dashboard served over plain HTTP on a private
    /// network: browsers then keep them over HTTP, and send them to anyone on the path.
    pub insecure_cookies: bool,
    /// Where `/metrics` is served, if anywhere.
    pub metrics: MetricsSettings,
    /// Where rate limits are shared between instances; without it, through Postgres
    /// (or per instance on SQLite).
    pub redis_url: Option<RedisUrl>,
}

/// Parses `KEYWARD_INSECURE_COOKIES`: `true` or `false` (also `1`/`0`, `yes`/`no`).
pub fn parse_insecure_cookies(raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::BadInsecureCookies(raw.to_owned())),
    }
}

/// Days the request log keeps rows unless configured.
pub const DEFAULT_REQUEST_LOG_DAYS: u32 = 7;

/// Parses `KEYWARD_REQUEST_LOG_DAYS`: 0 to 365 days, 0 turning the log off.
pub fn parse_request_log_days(raw: &str) -> Result<u32, ConfigError> {
    raw.trim()
        .parse()
        .ok()
        .filter(|days| *days <= 365)
        .ok_or_else(|| ConfigError::BadRequestLogDays(raw.to_owned()))
}

/// How long a request body may take to arrive unless configured.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a stop signal waits for open connections unless configured.
pub const DEFAULT_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often scheduled work runs unless configured.
pub const DEFAULT_SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Parses `KEYWARD_SWEEP_INTERVAL_MS`: 100 to 3600000 milliseconds.
pub fn parse_sweep_interval(raw: &str) -> Result<std::time::Duration, ConfigError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| (100..=3_600_000).contains(ms))
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| ConfigError::BadSweepInterval(raw.to_owned()))
}

/// Parses `KEYWARD_KEY_CACHE_TTL_MS`: 0 to 60000 milliseconds.
pub fn parse_cache_ttl(raw: &str) -> Result<std::time::Duration, ConfigError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms <= 60_000)
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| ConfigError::BadCacheTtl(raw.to_owned()))
}

/// Parses `KEYWARD_TRUSTED_PROXIES`: IP addresses separated by commas.
pub fn parse_trusted_proxies(raw: &str) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| entry.parse().map_err(|_| ConfigError::BadProxy(entry.to_owned())))
        .collect()
}

/// Parses `KEYWARD_TOKEN_REQUESTS_PER_MINUTE`: 1 to 1000000.
pub fn parse_token_rate(raw: &str) -> Result<u32, ConfigError> {
    raw.trim()
        .parse()
        .ok()
        .filter(|rate| (1..=1_000_000).contains(rate))
        .ok_or_else(|| ConfigError::BadTokenRate(raw.to_owned()))
}

/// Parses `KEYWARD_WORKERS`: 1 to 256 threads.
pub fn parse_workers(raw: &str) -> Result<usize, ConfigError> {
    raw.trim()
        .parse()
        .ok()
        .filter(|workers| (1..=256).contains(workers))
        .ok_or_else(|| ConfigError::BadWorkers(raw.to_owned()))
}

/// Parses `KEYWARD_BIND`.
pub fn parse_bind(raw: &str) -> Result<SocketAddr, ConfigError> {
    raw.trim()
        .parse()
        .map_err(|_| ConfigError::BadBind(raw.to_owned()))
}

#[cfg(test)]
mod tests;
