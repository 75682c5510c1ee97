//! The real `keyward` binary, with a clean environment, and a server process of it; its
//! key commands on a test server's database or through its management API from a
//! machine with neither database nor secret, and what they print.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use super::app::TestApp;
use super::db::{Backend, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// The binary with a clean environment: only what the test sets.
pub fn keyward(database_url: &str) -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "DATABASE_URL",
        "KEYWARD_BIND",
        "KEYWARD_SECRET",
        "KEYWARD_SECRET_FILE",
        "KEYWARD_SESSION_IDLE_TIMEOUT",
        "KEYWARD_SESSION_ABSOLUTE_TIMEOUT",
        "KEYWARD_WORKERS",
        "KEYWARD_URL",
        "KEYWARD_TOKEN",
        "KEYWARD_INSECURE_COOKIES",
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.env("DATABASE_URL", database_url);
    command
}

/// A server process, killed when the test ends, pass or fail.
pub struct ServerProcess(pub Child);

impl ServerProcess {
    /// Sends the process SIGTERM, as a service manager stops it.
    pub fn terminate(&self) {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `keyward` in the test's folder (the README's first command on SQLite) and reads
/// standard output up to the listening line; `configure` changes the command just before
/// it starts
/// (standard error is discarded unless `configure` sends it elsewhere).
pub fn start_server_with(
    db: &TestDb,
    backend: Backend,
    configure: impl FnOnce(&mut Command),
) -> (ServerProcess, Vec<String>, String) {
    start_server_at(&db.url_string(), db.dir.path(), backend, configure)
}

/// [`start_server_with`] on the database at `url`, run in `folder`.
pub fn start_server_at(
    url: &str,
    folder: &std::path::Path,
    backend: Backend,
    configure: impl FnOnce(&mut Command),
) -> (ServerProcess, Vec<String>, String) {
    let mut command = keyward(url);
    if backend == Backend::Sqlite {
        // The README's first command: no DATABASE_URL, a keyward.db in the current folder.
        command.env_remove("DATABASE_URL");
    } else {
        command.env("KEYWARD_SECRET", "s".repeat(64));
    }
    command
        .current_dir(folder)
        .env("KEYWARD_BIND", "127.0.0.1:0")
        .env("KEYWARD_WORKERS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    configure(&mut command);
    let mut child = ServerProcess(command.spawn().expect("the server starts"));
    let mut reader = BufReader::new(child.0.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the server exited early: {lines:?}"
        );
        if let Some(rest) = line.strip_prefix("Keyward is listening on ") {
            let address = rest.split_whitespace().next().unwrap().to_owned();
            return (child, lines, address);
        }
        lines.push(line.trim_end().to_owned());
    }
}

/// What the command printed on standard output.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the command failed with exactly one line on standard error containing `needle`.
pub fn assert_one_line_error(output: &Output, needle: &str) {
    assert!(!output.status.success(), "it succeeded: {}", stdout(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.starts_with("keyward: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
}

/// The key commands with the test server's secret, so both compute the same digests.
pub fn run_key(url: &str, args: &[&str]) -> Output {
    keyward(url)
        .env("KEYWARD_SECRET", "test-secret-".repeat(8))
        .arg("key")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// The demo merchant's live keys, newest first.
pub fn key_rows(app: &TestApp) -> Vec<keyward::db::keys::KeyRow> {
    keyward::db::keys::list(&mut app.db.get().unwrap(), &app.demo_merchant_id()).unwrap()
}

/// The merchant's live key named `name`.
pub fn key_named(app: &TestApp, name: &str) -> keyward::db::keys::KeyRow {
    key_rows(app)
        .into_iter()
        .find(|row| row.name == name)
        .unwrap_or_else(|| panic!("no key named {name}"))
}

/// The stored version with this ID, deleted ones included.
pub fn key_by_id(app: &TestApp, id: &keyward::domain::KeyId) -> keyward::db::keys::KeyRow {
    keyward::db::keys::find_any(&mut app.db.get().unwrap(), id)
        .unwrap()
        .expect("the key is stored")
}

/// What the command printed on standard error.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Standard output read as JSON, the command having succeeded.
pub fn json_of(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}: {}", stdout(output)))
}

/// An object's field names, sorted.
pub fn fields(value: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"))
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// The API's `Key` resource's fields, sorted.
pub const KEY_FIELDS: [&str; 17] = [
    "allowed_ips",
    "created_at",
    "created_by",
    "description",
    "environment",
    "expires_at",
    "grace_ends_at",
    "id",
    "last_used_at",
    "lifetime_days",
    "lineage_id",
    "masked_key",
    "name",
    "rate_limit_per_minute",
    "scopes",
    "status",
    "version",
];

/// A folder with nothing in it, and a `DATABASE_URL` into a folder that does not exist
/// there: the machine a remote command runs on.
pub fn elsewhere() -> (tempfile::TempDir, String) {
    let here = tempfile::tempdir().unwrap();
    let nowhere = format!("sqlite://{}/no/such/folder/keyward.db", here.path().display());
    (here, nowhere)
}

/// Runs `command` off the test's runtime, which serves the test server meanwhile.
pub async fn output_of(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap()
}

/// `keyward key ARGS` on a machine with no database or secret, through the test server's
/// management API with `token` (given by KEYWARD_URL and KEYWARD_TOKEN).
pub async fn run_remote(app: &TestApp, token: &str, args: &[&str]) -> Output {
    let (here, nowhere) = elsewhere();
    let mut command = keyward(&nowhere);
    command
        .current_dir(here.path())
        .env("KEYWARD_URL", &app.address)
        .env("KEYWARD_TOKEN", token)
        .arg("key")
        .args(args);
    let output = output_of(command).await;
    assert_eq!(
        std::fs::read_dir(here.path()).unwrap().count(),
        0,
        "a remote command writes nothing here"
    );
    output
}
