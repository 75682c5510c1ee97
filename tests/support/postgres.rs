//! A Postgres server of a test's own, which the test may kill, freeze and start again
//! without disturbing any other test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection};

/// Where Postgres 15 installs its server binaries on Debian and Ubuntu.
pub const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

/// `None` and one `skipped:` line when `what` is missing here; a failure in CI.
pub fn prerequisite(available: bool, what: &str) -> Option<()> {
    if available {
        return Some(());
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is required in CI");
    }
    eprintln!("skipped: {what} is not available");
    None
}

fn run(command: &mut Command) {
    let output = command.output().expect("the command runs");
    assert!(output.status.success(), "{command:?}: {output:?}");
}

/// A Postgres server of this test's own, in a temporary folder on a free port, so that
/// stopping it disturbs nothing else on the machine. Killed when dropped.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    port: u16,
    server: Option<Child>,
}

impl PrivatePostgres {
    /// Initialises a cluster; `None` (skipped) without the binaries or root, which
    /// `runuser` needs to run them as `postgres` (they refuse to run as root).
    pub fn create() -> Option<Self> {
        let usable = std::path::Path::new(POSTGRES_BIN).join("postgres").exists()
            && Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|out| out.stdout == b"0\n")
            && Command::new("id")
                .arg("postgres")
                .output()
                .is_ok_and(|out| out.status.success());
        prerequisite(usable, "Postgres 15's binaries, root and the postgres user")?;
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("chown").arg("postgres:postgres").arg(dir.path()));
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let pg = Self {
            dir,
            port,
            server: None,
        };
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{POSTGRES_BIN}/initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(pg.data()));
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start(&mut self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{POSTGRES_BIN}/postgres"))
            .arg("-D")
            .arg(self.data())
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, away from the test's signals.
            .process_group(0)
            .spawn()
            .expect("postgres starts");
        self.server = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while PgConnection::establish(&self.url("postgres")).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private Postgres did not come up: {}",
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates the database `name` on the running server; returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        use diesel::connection::SimpleConnection;
        PgConnection::establish(&self.url("postgres"))
            .unwrap()
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        self.url(name)
    }

    /// Sends `signal` to every process of the server: the postmaster and each backend,
    /// which Postgres puts in sessions of their own, so a process group would miss them.
    /// Returns the processes signalled.
    fn signal(&self, signal: &str) -> Vec<u32> {
        let child = self.server.as_ref().expect("the private Postgres is running");
        let processes = server_processes(child.id());
        let mut kill = Command::new("kill");
        kill.arg(signal)
            .arg("--")
            .args(processes.iter().map(u32::to_string));
        let _ = kill.stderr(Stdio::null()).status();
        processes
    }

    /// Stops every process of the server without ending any (`SIGSTOP`): connections
    /// stay open and the kernel still accepts new ones, but nothing ever answers, as
    /// with a hung server or a network that drops packets silently.
    pub fn freeze(&self) {
        // Again, for a backend forked while the first signals went out.
        self.signal("-STOP");
        self.signal("-STOP");
    }

    /// Lets a frozen server carry on (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// Kills the server and all its backends at once, as a crash or a lost machine does,
    /// and waits until none of them runs.
    pub fn kill(&mut self) {
        if self.server.is_none() {
            return;
        }
        let processes = self.signal("-KILL");
        if let Some(mut child) = self.server.take() {
            let _ = child.wait();
        }
        // Until each is reaped, not only dead: a new postmaster refuses to start while
        // the PID in the old one's lock file still names a process, even a zombie. No
        // panic past the deadline (this also runs in `drop`): `start` then says why.
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes.iter().any(|pid| parent_of(*pid).is_some()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The parent of a process, from `/proc`; `None` once it is gone.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's name in parentheses: state, then parent.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// `root` and every process descending from it, parents first.
fn server_processes(root: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| parent_of(pid).map(|parent| (pid, parent)))
                .collect()
        })
        .unwrap_or_default();
    let mut tree = vec![root];
    let mut next = 0;
    while next < tree.len() {
        let parent = tree[next];
        tree.extend(all.iter().filter(|(_, of)| *of == parent).map(|(pid, _)| *pid));
        next += 1;
    }
    tree
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill();
    }
}
