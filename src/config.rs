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
    /// `KEYWARD_KEY_CACHE_TTL_MS` is out of range.
    #[error("KEYWARD_KEY_CACHE_TTL_MS: `{0}` is not a number of milliseconds from 0 to 60000")]
    BadCacheTtl(String),
    /// `KEYWARD_SWEEP_INTERVAL_MS` is out of range.
    #[error("KEYWARD_SWEEP_INTERVAL_MS: `{0}` is not a number of milliseconds from 100 to 3600000")]
    BadSweepInterval(String),
    /// `KEYWARD_TRUSTED_PROXIES` holds something that is not an IP address.
    #[error("KEYWARD_TRUSTED_PROXIES: `{0}` is not an IP address")]
    BadProxy(String),
    /// An environment variable has a value the command line refuses.
    #[error("{0}")]
    Environment(String),
    /// The idle timeout is longer than the absolute one.
    #[error("KEYWARD_SESSION_IDLE_TIMEOUT must not be longer than KEYWARD_SESSION_ABSOLUTE_TIMEOUT")]
    IdleLongerThanAbsolute,
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

/// Hides the password of a `postgres://user:password@host/db` URL.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
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
}

/// How long a request body may take to arrive unless configured.
pub const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
