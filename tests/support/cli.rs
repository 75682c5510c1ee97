//! The real `keyward` binary, with a clean environment, and a server process of it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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
        "RUST_LOG",
    ] {
        command.env_remove(var);
    }
    command.env("DATABASE_URL", database_url);
    command
}

/// A server process, killed when the test ends, pass or fail.
pub struct ServerProcess(pub Child);

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
    let mut command = keyward(&db.url_string());
    if backend == Backend::Sqlite {
        // The README's first command: no DATABASE_URL, a keyward.db in the current folder.
        command.env_remove("DATABASE_URL");
    } else {
        command.env("KEYWARD_SECRET", "s".repeat(64));
    }
    command
        .current_dir(db.dir.path())
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
