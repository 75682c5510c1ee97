use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;

use crate::db_test;
use crate::support::cli::{ServerProcess, keyward, start_server_with};
use crate::support::{Backend, Browser, TestDb, csrf_token_in, field_value, spawn_app};

fn run(database_url: &str, args: &[&str]) -> Output {
    keyward(database_url)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn run_with_stdin(database_url: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = keyward(database_url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the command failed with exactly one line on standard error containing `needle`.
fn assert_one_line_error(output: &Output, needle: &str) {
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

fn generated_password(output: &Output) -> String {
    stdout(output)
        .lines()
        .find_map(|line| line.strip_prefix("Password (shown once): "))
        .expect("a generated password")
        .to_owned()
}

db_test!(
    first_start_creates_the_database_prints_the_admin_once_and_serves_sign_in,
    migrate_applies_the_migrations_once,
    merchant_create_prints_the_id_and_refuses_a_duplicate_name,
    user_create_prints_a_one_time_password_that_signs_in,
    user_create_takes_the_password_from_stdin,
    user_create_makes_support_users,
    user_create_refusals_print_one_line_and_exit_non_zero,
    user_create_refuses_a_weak_password_or_the_email_saying_why,
    user_commands_refuse_an_email_the_dashboard_refuses_with_its_message,
    user_disable_ends_the_users_sessions,
);

/// Starts `keyward` in the test's folder and reads standard output up to the
/// listening line.
fn start_server(db: &TestDb, backend: Backend) -> (ServerProcess, Vec<String>, String) {
    start_server_with(db, backend, |_| {})
}

async fn first_start_creates_the_database_prints_the_admin_once_and_serves_sign_in(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let (server, lines, address) = start_server(&db, backend);
    let email = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("Email:"))
        .map(str::trim);
    let password = lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("Password:"))
        .map(str::trim);
    assert!(lines.iter().any(|l| l.contains("\"Demo Merchant\"")), "{lines:?}");
    assert_eq!(email, Some("admin@example.com"), "{lines:?}");
    let password = password.expect("a printed password").to_owned();
    assert!(password.len() >= 20);
    if backend == Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        assert!(
            db.dir.path().join("keyward.db").is_file(),
            "keyward.db in the current folder"
        );
        let mode = std::fs::metadata(db.dir.path().join("keyward.secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let browser = Browser::new(&address);
    assert_eq!(browser.get("/").await.headers()["location"], "/login");
    let res = browser.sign_in("admin@example.com", &password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(browser.is_signed_in().await);
    drop(server);

    let (_again, lines, address) = start_server(&db, backend);
    assert!(
        !lines.iter().any(|l| l.contains("Password")),
        "no password on a second start: {lines:?}"
    );
    let browser = Browser::new(&address);
    assert_eq!(
        browser.sign_in("admin@example.com", &password).await.status(),
        StatusCode::SEE_OTHER
    );
}

async fn migrate_applies_the_migrations_once(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let first = run(&db.url_string(), &["migrate"]);
    assert!(first.status.success(), "{first:?}");
    let applied: usize = stdout(&first)
        .strip_prefix("Applied ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a count of applied migrations");
    assert!(applied >= 2, "{}", stdout(&first));
    let second = run(&db.url_string(), &["migrate"]);
    assert!(second.status.success());
    assert!(
        stdout(&second).starts_with("Applied 0 migration(s)"),
        "{}",
        stdout(&second)
    );
}

async fn merchant_create_prints_the_id_and_refuses_a_duplicate_name(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let output = run(&db.url_string(), &["merchant", "create", "Acme Outdoor"]);
    assert!(output.status.success(), "{output:?}");
    let id = stdout(&output).trim().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");

    assert_one_line_error(
        &run(&db.url_string(), &["merchant", "create", "acme outdoor"]),
        "exists already",
    );
    assert_one_line_error(
        &run(&db.url_string(), &["merchant", "create", "  "]),
        "must not be empty",
    );
}

async fn user_create_prints_a_one_time_password_that_signs_in(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let output = run(
        &url,
        &[
            "user",
            "create",
            "--email",
            "Ana@Example.com",
            "--name",
            "Ana Lima",
            "--merchant",
            "demo merchant",
            "--role",
            "developer",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout(&output).contains("as developer of \"Demo Merchant\""),
        "{}",
        stdout(&output)
    );
    let password = generated_password(&output);
    let browser = app.browser();
    assert_eq!(
        browser.sign_in("ana@example.com", &password).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = browser.html("/settings/api-credentials").await;
    assert!(
        html.contains("Ana Lima") && html.contains("Developer · Demo Merchant"),
        "{html}"
    );

    // The merchant can also be named by its ID.
    let merchant_id = app.demo_merchant_id();
    let output = run(
        &url,
        &[
            "user",
            "create",
            "--email",
            "vic@example.com",
            "--name",
            "Vic",
            "--merchant",
            &merchant_id,
            "--role",
            "viewer",
        ],
    );
    assert!(output.status.success(), "{output:?}");

    // Each member the command line adds is in the merchant's history, added by "cli".
    let added = |email: &str| {
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'member_added' \
             AND actor_type = 'cli' AND merchant_id = '{merchant_id}' AND details LIKE '%{email}%'"
        ))
    };
    assert_eq!(added("vic@example.com"), 1);
    assert_eq!(added("ana@example.com"), 1);
}

async fn user_create_takes_the_password_from_stdin(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let output = run_with_stdin(
        &app.test_db.url_string(),
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--merchant",
            "Demo Merchant",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "a long chosen password\n",
    );
    assert!(output.status.success(), "{output:?}");
    assert!(!stdout(&output).contains("Password"), "nothing is generated");
    let browser = app.browser();
    assert_eq!(
        browser
            .sign_in("ops@example.com", "a long chosen password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    let short = run_with_stdin(
        &app.test_db.url_string(),
        &[
            "user",
            "create",
            "--email",
            "short@example.com",
            "--name",
            "S",
            "--merchant",
            "Demo Merchant",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "short\n",
    );
    assert_one_line_error(&short, "at least 12 characters");
}

async fn user_create_makes_support_users(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let output = run(
        &app.test_db.url_string(),
        &[
            "user",
            "create",
            "--email",
            "help@keyward.example",
            "--name",
            "Sam Support",
            "--support",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("Created support user help@keyward.example"));
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users WHERE is_support = TRUE"),
        1
    );
    let browser = app.browser();
    let password = generated_password(&output);
    assert_eq!(
        browser.sign_in("help@keyward.example", &password).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = browser.html("/support").await;
    assert!(html.contains("Support staff (read only)"), "{html}");
}

async fn user_create_refusals_print_one_line_and_exit_non_zero(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let create = |email: &str, merchant: &str, role: &str| {
        run(
            &url,
            &[
                "user",
                "create",
                "--email",
                email,
                "--name",
                "N",
                "--merchant",
                merchant,
                "--role",
                role,
            ],
        )
    };
    assert_one_line_error(
        &create("x@example.com", "No Such Shop", "admin"),
        "no merchant has the name or ID \"No Such Shop\"",
    );
    assert_one_line_error(
        &create(&app.admin_email, "Demo Merchant", "admin"),
        "exists already",
    );
    assert_one_line_error(
        &create("y@example.com", "Demo Merchant", "owner"),
        "unknown role `owner`",
    );
    assert_one_line_error(
        &create("not-an-email", "Demo Merchant", "admin"),
        "Email is not valid",
    );
    assert_one_line_error(
        &run(
            &url,
            &["user", "create", "--email", "z@example.com", "--name", "Z"],
        ),
        "--support",
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users"),
        1,
        "nothing was created"
    );
}

async fn user_create_refuses_a_weak_password_or_the_email_saying_why(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let create = |password: &str| {
        run_with_stdin(
            &app.test_db.url_string(),
            &[
                "user",
                "create",
                "--email",
                "ops@example.com",
                "--name",
                "Ops",
                "--support",
                "--password-stdin",
            ],
            &format!("{password}\n"),
        )
    };
    assert_one_line_error(
        &create("password1234"),
        "Password is too easy to guess. This is a very common password.",
    );
    assert_one_line_error(
        &create("iloveyou2026"),
        "This is similar to a commonly used password.",
    );
    assert_one_line_error(
        &create("OPS@example.com"),
        "Password is not valid: it must not be your email address",
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users"),
        1,
        "nothing was created"
    );
}

async fn user_commands_refuse_an_email_the_dashboard_refuses_with_its_message(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = app.signed_in_admin().await;
    for (email, message) in [
        (
            "ana@example..com",
            "Email is not valid: the part after @ must be a domain such as example.com",
        ),
        (
            "<ana>@example.com",
            "Email is not valid: the part before @ may hold only letters a to z, digits and",
        ),
    ] {
        let output = run(
            &app.test_db.url_string(),
            &[
                "user",
                "create",
                "--email",
                email,
                "--name",
                "Ana",
                "--merchant",
                "Demo Merchant",
                "--role",
                "viewer",
            ],
        );
        assert_one_line_error(&output, message);
        assert_one_line_error(
            &run(&app.test_db.url_string(), &["user", "disable", "--email", email]),
            message,
        );

        let html = admin.html("/settings/members").await;
        let res = admin
            .post_form(
                "/settings/members",
                &[
                    ("csrf_token", csrf_token_in(&html).unwrap().as_str()),
                    ("nonce", field_value(&html, "nonce").unwrap().as_str()),
                    ("email", email),
                    ("name", "Ana"),
                    ("role", "viewer"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{email}");
        let page = res.text().await.unwrap();
        assert!(page.contains(message), "{message:?} not on the dashboard: {page}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users"),
        1,
        "nothing was created"
    );
}

async fn user_disable_ends_the_users_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let output = run(
        &app.test_db.url_string(),
        &["user", "disable", "--email", &app.admin_email],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(!browser.is_signed_in().await, "signed out on the next request");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        0
    );
    let again = app.browser();
    assert_eq!(
        again
            .sign_in(&app.admin_email, &app.admin_password)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    assert_one_line_error(
        &run(
            &app.test_db.url_string(),
            &["user", "disable", "--email", "ghost@example.com"],
        ),
        "no user has the email ghost@example.com",
    );
}

#[test]
fn wrong_settings_stop_the_start_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("k.db").display());
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 6] = [
        (
            "mysql://root@localhost/k",
            &[],
            "DATABASE_URL: unsupported scheme `mysql`",
        ),
        (
            "sqlite:///no/such/folder/k.db",
            &[],
            "DATABASE_URL: the folder `/no/such/folder`",
        ),
        (
            &sqlite,
            &[("KEYWARD_SECRET", "too short")],
            "KEYWARD_SECRET: the secret must be at least 64 bytes",
        ),
        (&sqlite, &[("KEYWARD_BIND", "localhost")], "KEYWARD_BIND:"),
        (
            &sqlite,
            &[("KEYWARD_SESSION_IDLE_TIMEOUT", "forever")],
            "KEYWARD_SESSION_IDLE_TIMEOUT:",
        ),
        (
            "postgres://postgres@127.0.0.1:5432/test",
            &[],
            "KEYWARD_SECRET or KEYWARD_SECRET_FILE is required",
        ),
    ];
    for (url, env, needle) in cases {
        let output = keyward(url)
            .args(["serve"])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_one_line_error(&output, needle);
        assert_eq!(output.status.code(), Some(2), "{needle}");
    }
    let missing_file = keyward(&sqlite)
        .env("KEYWARD_SECRET_FILE", dir.path().join("nope"))
        .output()
        .unwrap();
    assert_one_line_error(&missing_file, "KEYWARD_SECRET_FILE: cannot use");
}

/// Runs `keyward serve` until it exits, failing the test if it starts listening instead.
fn refused_start(command: &mut Command) -> Output {
    use std::io::Read;
    let mut child = ServerProcess(
        command
            .env("KEYWARD_BIND", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs"),
    );
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        assert!(
            !line.starts_with("Keyward is listening"),
            "the server started: {line}"
        );
    }
    let mut stderr = Vec::new();
    child.0.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
    Output {
        status: child.0.wait().unwrap(),
        stdout: Vec::new(),
        stderr,
    }
}

#[test]
fn a_secret_file_that_group_or_others_can_read_stops_the_start_with_one_line_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("k.db").display());
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s".repeat(64)).unwrap();
    for mode in [0o640, 0o604] {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        let output = refused_start(keyward(&sqlite).arg("serve").env("KEYWARD_SECRET_FILE", &secret));
        assert_one_line_error(
            &output,
            &format!("KEYWARD_SECRET_FILE: `{}` can be read", secret.display()),
        );
        assert_eq!(output.status.code(), Some(2), "{mode:o}");
    }
    // The secret Keyward keeps beside a SQLite database, opened up after it was made.
    let beside = dir.path().join("keyward.secret");
    std::fs::write(&beside, "s".repeat(64)).unwrap();
    std::fs::set_permissions(&beside, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = refused_start(keyward(&sqlite).arg("serve"));
    assert_one_line_error(
        &output,
        &format!("keyward.secret: `{}` can be read", beside.display()),
    );
    assert!(!dir.path().join("k.db").exists(), "stopped before the database");
}

#[test]
fn the_sqlite_database_and_its_wal_and_shm_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::create(Backend::Sqlite).expect("SQLite is never skipped");
    // The files exist while the server holds the database open.
    let (_server, _, _) = start_server(&db, Backend::Sqlite);
    for name in ["keyward.db", "keyward.db-wal", "keyward.db-shm"] {
        let mode = std::fs::metadata(db.dir.path().join(name))
            .unwrap_or_else(|err| panic!("{name}: {err}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name} has mode {:o}", mode & 0o777);
    }
}

#[test]
fn a_refused_postgres_connection_is_reported_with_its_real_cause() {
    let output = keyward("postgres://postgres@127.0.0.1:1/keyward")
        .args(["migrate"])
        .output()
        .unwrap();
    assert_one_line_error(&output, "cannot connect to the database");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("127.0.0.1") && stderr.contains("refused"),
        "{stderr}"
    );
}

#[test]
fn a_bad_environment_value_without_a_subcommand_names_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("k.db").display());
    let output = keyward(&sqlite).env("KEYWARD_WORKERS", "abc").output().unwrap();
    assert_one_line_error(&output, "KEYWARD_WORKERS");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["merchant", "create", "--help"],
        &["user", "create", "--help"],
        &["user", "disable", "--help"],
        &["key", "create", "--help"],
        &["key", "list", "--help"],
        &["key", "rotate", "--help"],
        &["key", "revoke", "--help"],
        &["key", "disable", "--help"],
        &["key", "enable", "--help"],
    ] {
        let output = keyward("sqlite://unused.db").args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        assert!(
            stdout(&output).contains("Usage: keyward"),
            "{args:?}: {}",
            stdout(&output)
        );
    }
}

db_test!(
    key_create_prints_the_key_alone_and_list_shows_it_masked,
    key_rotate_revoke_disable_and_enable_follow_the_dashboards_rules,
);

/// The key commands with the test server's secret, so both compute the same digests.
fn run_key(url: &str, args: &[&str]) -> Output {
    keyward(url)
        .env("KEYWARD_SECRET", "test-secret-".repeat(8))
        .arg("key")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn key_rows(app: &crate::support::TestApp) -> Vec<keyward::db::keys::KeyRow> {
    keyward::db::keys::list(&mut app.db.get().unwrap(), &app.demo_merchant_id()).unwrap()
}

async fn key_create_prints_the_key_alone_and_list_shows_it_masked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let output = run_key(
        &url,
        &[
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "From CLI",
            "--scope",
            "orders:read",
            "--scope",
            "feeds:upload",
            "--expires-in-days",
            "30",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let printed = stdout(&output);
    assert_eq!(printed.lines().count(), 1, "the key alone: {printed}");
    let key = keyward::domain::ApiKey::parse(printed.trim()).expect("a valid key");
    let row = key_rows(&app)
        .into_iter()
        .find(|row| row.name == "From CLI")
        .unwrap();
    let pepper = keyward::startup::key_pepper(&crate::support::test_secret());
    assert_eq!(row.key_hash, key.digest(&pepper), "the server's pepper");
    assert_eq!(
        (
            row.scopes.to_stored().as_str(),
            row.lifetime_days,
            row.created_by.as_str()
        ),
        ("orders:read feeds:upload", Some(30), "cli")
    );
    let events =
        keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &row.merchant_id, &row.id).unwrap();
    assert_eq!(
        (
            events[0].event_type.as_str(),
            events[0].actor_type.as_str(),
            events[0].actor_name.as_str()
        ),
        ("generated", "cli", "cli")
    );

    let list = stdout(&run_key(&url, &["list", "--merchant", &row.merchant_id]));
    assert!(list.starts_with("ID"), "{list}");
    let line = list
        .lines()
        .find(|line| line.starts_with(row.id.as_str()))
        .expect("the key is listed");
    for column in [key.masked().as_str(), "From CLI", "ACTIVE", "1", "never"] {
        assert!(line.contains(column), "{column} missing from {line}");
    }
    assert!(!list.contains(key.expose()));

    // The dashboard shows it like any other key.
    let browser = app.signed_in_admin().await;
    let page = browser.html("/settings/api-credentials").await;
    assert!(page.contains("From CLI") && page.contains(&key.masked()));

    assert_one_line_error(
        &run_key(&url, &["create", "--merchant", "Nobody", "--name", "X"]),
        "no merchant has the name or ID",
    );
    assert_one_line_error(
        &run_key(
            &url,
            &["create", "--merchant", "Demo Merchant", "--name", "from cli"],
        ),
        "already named",
    );
    assert_one_line_error(
        &run_key(
            &url,
            &[
                "create",
                "--merchant",
                "Demo Merchant",
                "--name",
                "Y",
                "--scope",
                "root",
            ],
        ),
        "unknown scope `root`",
    );
}

async fn key_rotate_revoke_disable_and_enable_follow_the_dashboards_rules(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let create = |name: &str| run_key(&url, &["create", "--merchant", "Demo Merchant", "--name", name]);
    assert!(create("Rotating").status.success());
    let v1 = key_rows(&app)
        .into_iter()
        .find(|row| row.name == "Rotating")
        .unwrap();

    let output = run_key(&url, &["rotate", &v1.id, "--grace", "1h"]);
    assert!(output.status.success(), "{output:?}");
    let new_key = stdout(&output).trim().to_owned();
    keyward::domain::ApiKey::parse(&new_key).expect("the new key alone");
    let v2 = key_rows(&app)
        .into_iter()
        .find(|row| row.name == "Rotating" && row.version == 2)
        .unwrap();
    assert_one_line_error(&run_key(&url, &["rotate", &v2.id]), "still in its grace period");
    assert_one_line_error(
        &run_key(&url, &["rotate", &v2.id, "--grace", "forever"]),
        "Grace period",
    );

    assert!(run_key(&url, &["disable", &v2.id]).status.success());
    assert_one_line_error(&run_key(&url, &["disable", &v2.id]), "disabled already");
    assert!(run_key(&url, &["enable", &v2.id]).status.success());
    assert!(run_key(&url, &["revoke", &v2.id]).status.success());
    assert_one_line_error(&run_key(&url, &["enable", &v2.id]), "revoked");
    assert_one_line_error(&run_key(&url, &["rotate", &v2.id]), "revoked");
    assert_one_line_error(&run_key(&url, &["revoke", "not-a-key-id"]), "no key has the ID");

    // The merchant's limit holds for the CLI too.
    for name in ["A", "B", "C", "D", "E"] {
        assert!(create(name).status.success(), "{name}");
    }
    assert_one_line_error(&create("F"), "has 5 active keys and its key policy allows 5");

    let events =
        keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &v2.merchant_id, &v2.id).unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|event| (event.event_type.as_str(), event.actor_name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("generated", "cli"),
            ("revealed", "cli"),
            ("disabled", "cli"),
            ("enabled", "cli"),
            ("revoked", "cli")
        ]
    );
}

db_test!(sigterm_writes_the_usage_counted_since_the_last_flush);

async fn sigterm_writes_the_usage_counted_since_the_last_flush(backend: Backend) {
    let Some(db) = TestDb::create(backend) else { return };
    let (mut server, _, address) = start_server(&db, backend);
    let mut create = keyward(&db.url_string());
    if backend == Backend::Postgres {
        create.env("KEYWARD_SECRET", "s".repeat(64));
    }
    let output = create
        .args([
            "key",
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "Shutdown",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let key = stdout(&output).trim().to_owned();
    {
        let client = reqwest::Client::new();
        for _ in 0..5 {
            let res = client
                .get(format!("{address}/api/v1/whoami"))
                .header("Authorization", format!("ApiKey {key}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
    }
    // Straight away, well inside the one-second flush interval.
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.0.wait().unwrap();
    assert!(status.success(), "a graceful stop: {status:?}");

    let db_handle = keyward::db::Db::connect(&db.url).unwrap();
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let total =
        diesel::sql_query("SELECT CAST(COALESCE(SUM(succeeded), 0) AS BIGINT) AS n FROM key_usage_hourly")
            .get_result::<Total>(&mut **db_handle.get().unwrap())
            .unwrap();
    assert_eq!(total.n, 5, "every request was counted");
}
