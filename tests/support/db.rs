//! A database of its own for each test, on SQLite and on Postgres.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use keyward::config::DatabaseUrl;
use std::sync::OnceLock;
use tempfile::TempDir;

/// The local Postgres the suite creates its databases on.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test once per backend: `db_test!(name)` makes `name::sqlite` and
/// `name::postgres` from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! db_test {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )+};
}

fn postgres_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        keyward::db::prepare_tls();
        PgConnection::establish(POSTGRES_ADMIN_URL).is_ok()
    })
}

/// A database of its own for one test, removed when dropped. `None` means the test is
/// skipped: Postgres is not running here and this is not CI (where that fails).
pub struct TestDb {
    pub url: DatabaseUrl,
    pub dir: TempDir,
    postgres_name: Option<String>,
}

impl TestDb {
    pub fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temp dir");
        match backend {
            Backend::Sqlite => Some(Self {
                url: DatabaseUrl::Sqlite(dir.path().join("keyward.db")),
                dir,
                postgres_name: None,
            }),
            Backend::Postgres => {
                if !postgres_available() {
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("Postgres is required in CI but does not answer at {POSTGRES_ADMIN_URL}");
                    }
                    eprintln!("skipped: Postgres does not answer at {POSTGRES_ADMIN_URL}");
                    return None;
                }
                let name = format!("kw_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(POSTGRES_ADMIN_URL).expect("Postgres answers");
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("a fresh Postgres database");
                Some(Self {
                    url: DatabaseUrl::Postgres(format!("postgres://postgres@127.0.0.1:5432/{name}")),
                    dir,
                    postgres_name: Some(name),
                })
            }
        }
    }

    /// The URL as `DATABASE_URL` takes it.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.clone(),
        }
    }

    /// Makes the database disappear under a running server.
    pub fn destroy(&self) {
        match (&self.url, &self.postgres_name) {
            (_, Some(name)) => drop_postgres_database(name),
            (DatabaseUrl::Sqlite(path), None) => {
                std::fs::remove_file(path).expect("the SQLite file exists");
            }
            (DatabaseUrl::Postgres(_), None) => unreachable!("a Postgres TestDb has a name"),
        }
    }
}

fn drop_postgres_database(name: &str) {
    if let Ok(mut admin) = PgConnection::establish(POSTGRES_ADMIN_URL) {
        let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name {
            drop_postgres_database(name);
        }
    }
}
