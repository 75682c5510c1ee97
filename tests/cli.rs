use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;

use crate::db_test;
use crate::support::cli::{
    KEY_FIELDS, ServerProcess, assert_one_line_error, elsewhere, fields, json_of, key_by_id, key_named,
    key_rows, keyward, output_of, run_key, run_remote, start_server_with, stderr, stdout,
};
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
    let cases: [Case; 9] = [
        (
            "mysql://root@localhost/k",
            &[],
            "DATABASE_URL: unsupported scheme `mysql`",
        ),
        (
            "host=127.0.0.1 user=alice password=S3cretPW dbname=x",
            &[],
            "DATABASE_URL: a `key=value` connection string is not supported",
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
            &[("KEYWARD_METRICS_TOKEN", "too-short")],
            "KEYWARD_METRICS_TOKEN: the metrics token must be at least 32 characters",
        ),
        (
            &sqlite,
            &[("KEYWARD_METRICS_BIND", "9090")],
            "KEYWARD_METRICS_BIND:",
        ),
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
    // libpq quotes what it could not parse; the one line keeps the password out.
    for url in [
        "postgres://alice:S3cret%zzPW@127.0.0.1:5432/x",
        "postgres://alice:S3cretPW@[::1:5432/x",
    ] {
        let output = keyward(url)
            .args(["migrate"])
            .env("KEYWARD_SECRET", "s".repeat(64))
            .output()
            .unwrap();
        assert_one_line_error(&output, "cannot connect to the database");
        assert!(!stderr(&output).contains("S3cret"), "{url}: {}", stderr(&output));
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
        &["key", "show", "--help"],
        &["key", "edit", "--help"],
        &["key", "renew", "--help"],
        &["key", "delete", "--help"],
        &["key", "duplicate", "--help"],
        &["key", "history", "--help"],
        &["key", "requests", "--help"],
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
    server.terminate();
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

db_test!(
    key_show_edit_renew_and_history_work_on_a_key_as_the_dashboard_does,
    key_duplicate_copies_a_keys_settings_and_delete_follows_the_policy,
    key_commands_print_the_management_apis_resources_with_json,
    remote_key_show_reads_through_the_api_with_no_database_or_secret_here,
    remote_errors_print_the_apis_message_and_code_and_exit_non_zero,
);

async fn key_show_edit_renew_and_history_work_on_a_key_as_the_dashboard_does(backend: Backend) {
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
            "Checkout",
            "--description",
            "The checkout service",
            "--scope",
            "orders:read",
            "--rate-limit",
            "60",
            "--expires-in-days",
            "30",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let row = key_named(&app, "Checkout");
    assert_eq!(
        (
            row.description.as_str(),
            row.rate_limit_per_minute,
            row.lifetime_days
        ),
        ("The checkout service", Some(60), Some(30))
    );

    let shown = run_key(&url, &["show", &row.id]);
    assert!(shown.status.success(), "{shown:?}");
    let text = stdout(&shown);
    for (label, value) in [
        ("ID", row.id.as_str()),
        ("Name", "Checkout"),
        ("Description", "The checkout service"),
        ("Key", row.masked_key.as_str()),
        ("Status", "ACTIVE"),
        ("Version", "1"),
        ("Scopes", "orders:read"),
        ("Rate limit", "60 requests a minute"),
        ("Lifetime", "30 days"),
        ("Created", "by cli"),
        ("Last used", "never"),
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("{label}  ")) || line.starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no {label} line in:\n{text}"));
        assert!(line.contains(value), "{value} not in {line}");
    }
    // Every value starts in one column, after the longest label ("Description").
    for line in text.lines() {
        let (label, value) = line.split_at("Description".len() + 2);
        assert!(
            !label.trim().is_empty() && !value.starts_with(' '),
            "not aligned: {text}"
        );
    }

    let edited = run_key(
        &url,
        &[
            "edit",
            &row.id,
            "--name",
            "Checkout v2",
            "--scope",
            "orders:write",
            "--scope",
            "feeds:upload",
        ],
    );
    assert!(edited.status.success(), "{edited:?}");
    assert_eq!(
        stderr(&edited).trim(),
        format!("Edited Checkout v2 ({}).", row.masked_key)
    );
    let after = key_by_id(&app, &row.id);
    let mut scopes = after.scopes.names();
    scopes.sort_unstable();
    assert_eq!(
        (after.name.as_str(), after.description.as_str(), scopes),
        (
            "Checkout v2",
            "The checkout service",
            vec!["feeds:upload", "orders:write"]
        ),
        "what was not given kept its value"
    );
    assert!(
        run_key(&url, &["edit", &row.id, "--clear-scopes"])
            .status
            .success()
    );
    let after = key_by_id(&app, &row.id);
    assert!(after.scopes.names().is_empty());
    assert_eq!(after.name, "Checkout v2");
    let nothing = run_key(&url, &["edit", &row.id]);
    assert_eq!(nothing.status.code(), Some(2), "edit needs something to change");
    assert!(stderr(&nothing).contains("--name"), "{}", stderr(&nothing));
    assert!(
        run_key(
            &url,
            &["create", "--merchant", "Demo Merchant", "--name", "Other"]
        )
        .status
        .success()
    );
    assert_one_line_error(
        &run_key(&url, &["edit", &row.id, "--name", "other"]),
        "already named",
    );

    let renewed = run_key(&url, &["renew", &row.id]);
    assert!(renewed.status.success(), "{renewed:?}");
    let after = key_by_id(&app, &row.id);
    assert!(
        after.expires_at > row.expires_at,
        "one lifetime from now: {:?} then {:?}",
        row.expires_at,
        after.expires_at
    );
    let expires = after
        .expires_at
        .unwrap()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]"
        ))
        .unwrap();
    assert_eq!(
        stderr(&renewed).trim(),
        format!(
            "Renewed Checkout v2 ({}); it now expires {expires}.",
            row.masked_key
        )
    );
    assert_one_line_error(
        &run_key(&url, &["renew", &key_named(&app, "Other").id]),
        "no lifetime to renew",
    );

    let history = run_key(&url, &["history", &row.id]);
    assert!(history.status.success(), "{history:?}");
    let history = stdout(&history);
    let lines: Vec<&str> = history.lines().collect();
    let labels = [
        "Created",
        "Key shown once",
        "Edited",
        "Scopes changed",
        "Scopes changed",
        "Renewed",
    ];
    assert_eq!(lines.len(), labels.len(), "{history}");
    for (line, label) in lines.iter().zip(labels) {
        let (when, rest) = line.split_at("2026-11-03 14:02".len());
        time::PrimitiveDateTime::parse(
            when,
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]"),
        )
        .unwrap_or_else(|err| panic!("{err}: {line}"));
        assert!(rest.trim_start().starts_with(label), "{label}: {line}");
        assert!(line.ends_with("  the command line"), "{line}");
    }
    assert_one_line_error(
        &run_key(&url, &["history", &uuid::Uuid::new_v4().to_string()]),
        "no key has the ID",
    );
}

async fn key_duplicate_copies_a_keys_settings_and_delete_follows_the_policy(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let created = run_key(
        &url,
        &[
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "Source",
            "--description",
            "Feeds",
            "--scope",
            "feeds:upload",
            "--rate-limit",
            "100",
            "--expires-in-days",
            "90",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let source = key_named(&app, "Source");

    let output = run_key(&url, &["duplicate", &source.id]);
    assert!(output.status.success(), "{output:?}");
    let printed = stdout(&output);
    assert_eq!(printed.lines().count(), 1, "the key alone: {printed}");
    let key = keyward::domain::ApiKey::parse(printed.trim()).expect("a valid key");
    let copy = key_named(&app, "Source (copy)");
    let pepper = keyward::startup::key_pepper(&crate::support::test_secret());
    assert_eq!(copy.key_hash, key.digest(&pepper), "the server's pepper");
    assert_eq!(
        (
            copy.description.as_str(),
            copy.scopes.to_stored(),
            copy.rate_limit_per_minute,
            copy.lifetime_days,
            copy.created_by.as_str()
        ),
        ("Feeds", source.scopes.to_stored(), Some(100), Some(90), "cli")
    );
    assert_ne!(copy.lineage_id, source.lineage_id, "a key of its own");
    let events =
        keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &copy.merchant_id, &copy.id).unwrap();
    let kinds: Vec<_> = events.iter().map(|event| event.event_type.as_str()).collect();
    assert_eq!(kinds, ["generated", "duplicated_from", "revealed"]);
    assert!(events[1].details.contains(source.id.as_str()));

    assert!(
        run_key(&url, &["duplicate", &source.id, "--name", "Named copy"])
            .status
            .success()
    );
    assert_eq!(key_named(&app, "Named copy").scopes, source.scopes);

    // The default policy deletes only inactive keys, as the dashboard does.
    assert_one_line_error(
        &run_key(&url, &["delete", &copy.id]),
        "Deactivate this key before deleting it",
    );
    assert!(run_key(&url, &["disable", &copy.id]).status.success());
    let deleted = run_key(&url, &["delete", &copy.id]);
    assert!(deleted.status.success(), "{deleted:?}");
    assert_eq!(
        stderr(&deleted).trim(),
        format!("Deleted Source (copy) ({}).", copy.masked_key)
    );
    assert_eq!(
        key_by_id(&app, &copy.id).status,
        keyward::domain::KeyStatus::Deleted
    );
    let list = stdout(&run_key(&url, &["list", "--merchant", "Demo Merchant"]));
    assert!(
        !list.contains(copy.id.as_str()),
        "deleted keys are not listed: {list}"
    );
    for command in ["show", "history", "delete", "duplicate"] {
        assert_one_line_error(&run_key(&url, &[command, &copy.id]), "no key has the ID");
    }
    let events =
        keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &copy.merchant_id, &copy.id).unwrap();
    assert_eq!(
        (
            events.last().unwrap().event_type.as_str(),
            events.last().unwrap().actor_type.as_str()
        ),
        ("deleted", "cli")
    );
}

/// `GET /api/v1/{path}` with a management token, as JSON.
async fn api_get(app: &crate::support::TestApp, token: &str, path: &str) -> serde_json::Value {
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/{path}", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn key_commands_print_the_management_apis_resources_with_json(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let token =
        crate::support::tokens::create_token(&app.db, &app.demo_merchant_id(), "Reader", &["keys:read"]);

    let created = json_of(&run_key(
        &url,
        &[
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "Json",
            "--scope",
            "orders:read",
            "--json",
        ],
    ));
    assert_eq!(fields(&created), ["key", "secret", "secret_note"]);
    assert!(created["secret_note"].is_null());
    let secret = keyward::domain::ApiKey::parse(created["secret"].as_str().unwrap()).expect("the whole key");
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let row = key_named(&app, "Json");
    let pepper = keyward::startup::key_pepper(&crate::support::test_secret());
    assert_eq!(
        (row.id.as_str(), row.key_hash.clone()),
        (id.as_str(), secret.digest(&pepper))
    );
    // The very resource the API gives for the key.
    let from_api = api_get(&app, &token, &format!("keys/{id}")).await;
    assert_eq!(fields(&from_api), KEY_FIELDS);
    assert_eq!(created["key"], from_api);
    assert_eq!(json_of(&run_key(&url, &["show", &id, "--json"])), from_api);

    let listed = json_of(&run_key(&url, &["list", "--merchant", "Demo Merchant", "--json"]));
    assert_eq!(fields(&listed), ["data", "next_cursor"]);
    assert!(listed["next_cursor"].is_null());
    assert_eq!(listed["data"], serde_json::json!([from_api]));

    let rotated = json_of(&run_key(&url, &["rotate", &id, "--grace", "1h", "--json"]));
    assert_eq!(fields(&rotated), ["key", "previous", "secret", "secret_note"]);
    keyward::domain::ApiKey::parse(rotated["secret"].as_str().unwrap()).expect("the new key");
    let new_id = rotated["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            &rotated["key"]["version"],
            &rotated["key"]["lineage_id"],
            &rotated["previous"]["id"],
            &rotated["previous"]["status"]
        ),
        (
            &2.into(),
            &id.clone().into(),
            &id.clone().into(),
            &"rotated".into()
        )
    );
    assert!(rotated["previous"]["grace_ends_at"].is_string());
    assert_eq!(
        rotated["previous"],
        api_get(&app, &token, &format!("keys/{id}")).await
    );
    assert_eq!(
        rotated["key"],
        api_get(&app, &token, &format!("keys/{new_id}")).await
    );

    let disabled = json_of(&run_key(&url, &["disable", &new_id, "--json"]));
    assert_eq!(disabled["status"], "disabled");
    assert_eq!(disabled, api_get(&app, &token, &format!("keys/{new_id}")).await);
    let edited = json_of(&run_key(
        &url,
        &["edit", &new_id, "--description", "JSON", "--json"],
    ));
    assert_eq!(
        (&edited["description"], &edited["name"]),
        (&"JSON".into(), &"Json".into())
    );

    let history = json_of(&run_key(&url, &["history", &id, "--json"]));
    assert_eq!(fields(&history), ["data"]);
    let events = history["data"].as_array().unwrap();
    let first = &events[0];
    assert_eq!(
        fields(first),
        [
            "actor",
            "client_address",
            "created_at",
            "details",
            "id",
            "key_id",
            "label",
            "type",
            "user_agent"
        ]
    );
    assert_eq!(
        (&first["type"], &first["label"], &first["key_id"], &first["actor"]),
        (
            &"generated".into(),
            &"Created".into(),
            &id.clone().into(),
            &serde_json::json!({"type": "cli", "id": null, "name": "cli", "detail": null})
        )
    );
    assert_eq!(first["details"]["name"], "Json");
    let rotation = events
        .iter()
        .find(|event| event["type"] == "rotated")
        .expect("the rotation is in the history");
    assert_eq!(
        (&rotation["label"], &rotation["details"]["grace"]),
        (&"Rotated".into(), &"1h".into())
    );
    time::OffsetDateTime::parse(
        first["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");

    let deleted = run_key(&url, &["delete", &new_id, "--json"]);
    assert!(deleted.status.success(), "{deleted:?}");
    assert_eq!(
        stdout(&deleted),
        "",
        "a deletion has no resource, as the API's 204"
    );

    assert!(
        run_key(
            &url,
            &["create", "--merchant", "Demo Merchant", "--name", "Second"]
        )
        .status
        .success()
    );
    let second = key_named(&app, "Second");
    let duplicated = json_of(&run_key(&url, &["duplicate", &second.id, "--json"]));
    assert_eq!(fields(&duplicated), ["key", "secret", "secret_note"]);
    assert_eq!(fields(&duplicated["key"]), KEY_FIELDS);
    assert_eq!(duplicated["key"]["name"], "Second (copy)");
}

async fn remote_key_show_reads_through_the_api_with_no_database_or_secret_here(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let created = run_key(
        &url,
        &[
            "create",
            "--merchant",
            "Demo Merchant",
            "--name",
            "Remote",
            "--description",
            "Seen from afar",
            "--scope",
            "orders:read",
            "--expires-in-days",
            "7",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    let row = key_named(&app, "Remote");
    let token =
        crate::support::tokens::create_token(&app.db, &app.demo_merchant_id(), "Deploy", &["keys:read"]);

    let remote = run_remote(&app, &token, &["show", &row.id]).await;
    assert!(remote.status.success(), "{remote:?}");
    let local = run_key(&url, &["show", &row.id]);
    assert_eq!(
        stdout(&remote),
        stdout(&local),
        "the same lines as on the database"
    );
    assert_eq!(
        json_of(&run_remote(&app, &token, &["show", &row.id, "--json"]).await),
        json_of(&run_key(&url, &["show", &row.id, "--json"]))
    );

    // The flags instead of the environment, and no DATABASE_URL at all: nothing is
    // opened or made in the current folder.
    let (here, _) = elsewhere();
    let mut flags = keyward(&url);
    flags.env_remove("DATABASE_URL").current_dir(here.path()).args([
        "--url",
        &app.address,
        "--token",
        &token,
        "key",
        "show",
        &row.id,
    ]);
    let flags = output_of(flags).await;
    assert_eq!(stdout(&flags), stdout(&local), "{flags:?}");
    assert_eq!(
        std::fs::read_dir(here.path()).unwrap().count(),
        0,
        "no keyward.db or keyward.secret"
    );
    // A base path with or without its slash.
    let mut slashed = keyward(&url);
    slashed.args([
        "--url",
        &format!("{}/", app.address),
        "--token",
        &token,
        "key",
        "show",
        &row.id,
    ]);
    let slashed = output_of(slashed).await;
    assert_eq!(stdout(&slashed), stdout(&local), "{slashed:?}");
}

async fn remote_errors_print_the_apis_message_and_code_and_exit_non_zero(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.test_db.url_string();
    let merchant = app.demo_merchant_id();
    assert!(
        run_key(&url, &["create", "--merchant", "Demo Merchant", "--name", "Mine"])
            .status
            .success()
    );
    let mine = key_named(&app, "Mine");
    app.create_merchant("Other Shop");
    assert!(
        run_key(&url, &["create", "--merchant", "Other Shop", "--name", "Theirs"])
            .status
            .success()
    );
    let theirs = keyward::db::keys::list(
        &mut app.db.get().unwrap(),
        &keyward::db::merchants::find_by_id_or_name(&mut app.db.get().unwrap(), "Other Shop")
            .unwrap()
            .unwrap()
            .id,
    )
    .unwrap()
    .remove(0);
    let reader = crate::support::tokens::create_token(&app.db, &merchant, "Reader", &["keys:read"]);
    let auditor = crate::support::tokens::create_token(&app.db, &merchant, "Auditor", &["audit:read"]);

    let refused = |output: &Output, message: &str| {
        assert_one_line_error(output, message);
        assert_eq!(output.status.code(), Some(1), "{message}");
    };
    refused(
        &run_remote(&app, &reader, &["show", &uuid::Uuid::new_v4().to_string()]).await,
        "keyward: No such key for this merchant. (not_found)",
    );
    refused(
        &run_remote(&app, &reader, &["show", &theirs.id]).await,
        "(not_found)",
    );
    refused(
        &run_remote(&app, &auditor, &["show", &mine.id]).await,
        "does not have the scope `keys:read`. (insufficient_scope)",
    );
    let unknown = keyward::domain::ManagementToken::generate();
    refused(
        &run_remote(&app, unknown.expose(), &["show", &mine.id]).await,
        "(invalid_token)",
    );
    refused(
        &run_remote(&app, &reader, &["show", "not-an-id"]).await,
        "no key has the ID",
    );

    // What cannot go together is refused before any request, with exit code 2.
    let usage = |output: &Output, message: &str| {
        assert_one_line_error(output, message);
        assert_eq!(output.status.code(), Some(2), "{message}");
    };
    let (here, nowhere) = elsewhere();
    let with = |args: &[&str]| {
        let mut command = keyward(&nowhere);
        command.current_dir(here.path()).args(args);
        output_of(command)
    };
    usage(
        &with(&["--url", &app.address, "key", "show", &mine.id]).await,
        "--url needs a management token",
    );
    let api_key = "kw_live_AbCd00000000000000000000000000000000WxYz3PyEx4";
    let wrong_token = with(&["--url", &app.address, "--token", api_key, "key", "show", &mine.id]).await;
    usage(&wrong_token, "--token: this is not a Keyward management token");
    assert!(!stderr(&wrong_token).contains(api_key), "the token is not echoed");
    usage(
        &run_remote(&app, &reader, &["list", "--merchant", "Demo Merchant"]).await,
        "--merchant does not go with --url",
    );
    usage(
        &with(&["--url", "keyward.example", "--token", &reader, "key", "list"]).await,
        "--url: give the Keyward server's address",
    );
    usage(
        &with(&[
            "--url",
            "http://keyward.example",
            "--token",
            &reader,
            "key",
            "list",
        ])
        .await,
        "--url: use https",
    );
    usage(
        &run_key(&url, &["show", &mine.id, "--token", &reader]),
        "--token goes with --url",
    );
    usage(
        &with(&["--url", &app.address, "migrate"]).await,
        "--url goes with the key commands only",
    );

    // No answer, or an answer that is not the management API's.
    refused(
        &with(&[
            "--url",
            "http://127.0.0.1:1",
            "--token",
            &reader,
            "key",
            "show",
            &mine.id,
        ])
        .await,
        "no answer from http://127.0.0.1:1/",
    );
    refused(
        &with(&[
            "--url",
            &format!("{}/not-keyward/", app.address),
            "--token",
            &reader,
            "key",
            "show",
            &mine.id,
        ])
        .await,
        "without a Keyward error; is --url the Keyward server's address?",
    );
    assert_eq!(std::fs::read_dir(here.path()).unwrap().count(), 0);
}

/// A server that answers each connection, one at a time, with the next of `answers` (a
/// whole HTTP response, or `None` to hang up without one); returns its address and,
/// once every answer is given, the requests it read.
fn scripted_server(answers: Vec<Option<String>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0; 4096];
            let complete = |request: &[u8]| {
                let text = String::from_utf8_lossy(request);
                let Some(end) = text.find("\r\n\r\n") else {
                    return false;
                };
                let length = text[..end]
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                request.len() >= end + 4 + length
            };
            while !complete(&request) {
                let read = stream.read(&mut buffer).unwrap();
                assert!(read > 0, "the request ended early");
                request.extend_from_slice(&buffer[..read]);
            }
            requests.push(String::from_utf8(request).unwrap());
            if let Some(answer) = answer {
                stream.write_all(answer.as_bytes()).unwrap();
            }
        }
        requests
    });
    (address, server)
}

fn http_answer(status: &str, extra_header: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra_header}\r\n{body}",
        body.len()
    )
}

/// The value of header `name` in a raw request.
fn header<'a>(request: &'a str, name: &str) -> Option<&'a str> {
    request.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn a_remote_change_is_sent_again_once_with_the_same_idempotency_key_after_a_503_or_no_answer() {
    let token = keyward::domain::ManagementToken::generate();
    let key_id = uuid::Uuid::new_v4().to_string();
    let key = serde_json::json!({
        "id": key_id, "lineage_id": key_id, "version": 1, "name": "Fake",
        "description": "", "masked_key": "kw_live_AbCd…WxYz", "status": "disabled",
        "scopes": [], "rate_limit_per_minute": null, "lifetime_days": null,
        "expires_at": null, "grace_ends_at": null, "created_at": "2026-11-03T14:02:00Z",
        "created_by": "Ana", "last_used_at": null
    });
    let unavailable = serde_json::json!({"error": {"code": "unavailable", "message": "Keyward cannot reach its database right now. Retry in a few seconds."}});
    let busy = http_answer(
        "503 Service Unavailable",
        "Retry-After: 0\r\n",
        &unavailable.to_string(),
    );
    let ok = http_answer("200 OK", "", &key.to_string());
    let disable = |address: &str| {
        keyward("sqlite:///no/such/folder/keyward.db")
            .args([
                "--url",
                address,
                "--token",
                token.expose(),
                "key",
                "disable",
                &key_id,
            ])
            .output()
            .unwrap()
    };

    for first in [Some(busy.clone()), None] {
        let (address, server) = scripted_server(vec![first.clone(), Some(ok.clone())]);
        let output = disable(&address);
        assert!(output.status.success(), "{first:?}: {output:?}");
        assert_eq!(stderr(&output).trim(), "Disabled Fake (kw_live_AbCd…WxYz).");
        let requests = server.join().unwrap();
        assert_eq!(requests.len(), 2, "{requests:?}");
        for request in &requests {
            assert!(
                request.starts_with(&format!("POST /api/v1/keys/{key_id}/disable HTTP/1.1\r\n")),
                "{request}"
            );
            assert_eq!(
                header(request, "authorization"),
                Some(format!("Bearer {}", token.expose()).as_str())
            );
        }
        let keys: Vec<_> = requests
            .iter()
            .map(|request| header(request, "idempotency-key").expect("an Idempotency-Key"))
            .collect();
        assert!(!keys[0].is_empty());
        assert_eq!(keys[0], keys[1], "the retry is the same request");
    }

    // One retry only: a second 503 is the answer.
    let (address, server) = scripted_server(vec![Some(busy.clone()), Some(busy)]);
    let output = disable(&address);
    assert_one_line_error(
        &output,
        "keyward: Keyward cannot reach its database right now. Retry in a few seconds. (unavailable)",
    );
    assert_eq!(server.join().unwrap().len(), 2);

    // Each command its own key.
    let (address, server) = scripted_server(vec![Some(ok.clone()), Some(ok)]);
    assert!(disable(&address).status.success());
    assert!(disable(&address).status.success());
    let requests = server.join().unwrap();
    assert_ne!(
        header(&requests[0], "idempotency-key"),
        header(&requests[1], "idempotency-key")
    );
}
