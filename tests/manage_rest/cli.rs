//! `keyward token create`: an operator's management token, printed alone, that the
//! server accepts.

use std::process::Output;

use reqwest::StatusCode;

use super::get;
use crate::db_test;
use crate::support::cli::keyward;
use crate::support::{Backend, TestApp, spawn_app};

db_test!(token_create_prints_a_token_the_server_accepts_and_refuses_bad_input);

/// The binary on the app's database, with the app's secret (so the same pepper).
fn token_create(app: &TestApp, args: &[&str]) -> Output {
    keyward(&app.test_db.url_string())
        .env("KEYWARD_SECRET", "test-secret-".repeat(8))
        .args(["token", "create"])
        .args(args)
        .output()
        .expect("the binary runs")
}

async fn token_create_prints_a_token_the_server_accepts_and_refuses_bad_input(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let made = token_create(
        &app,
        &[
            "--merchant",
            "Demo Merchant",
            "--name",
            "terraform",
            "--scope",
            "members:read",
            "--scope",
            "audit:read",
            "--expires-in-days",
            "30",
        ],
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let stdout = String::from_utf8(made.stdout).unwrap();
    let token = stdout.strip_suffix('\n').unwrap();
    assert!(
        token.starts_with("kw_mgmt_") && !token.contains(char::is_whitespace),
        "{stdout:?}"
    );
    assert!(made.stderr.is_empty(), "the token alone");

    assert_eq!(get(&app, "/api/v1/members", token).await.status, StatusCode::OK);
    assert_eq!(
        get(&app, "/api/v1/key-policy", token).await.status,
        StatusCode::FORBIDDEN,
        "only the scopes given"
    );
    let created = get(&app, "/api/v1/audit-log?event_type=token_created", token).await;
    let event = &created.body["data"][0];
    assert_eq!(event["actor"]["type"], "cli");
    assert_eq!(event["details"]["name"], "terraform");
    assert!(
        !created.body.to_string().contains(token),
        "the token is not in history"
    );
    let expires_in = {
        let mut conn = app.db.get().unwrap();
        let rows = keyward::db::management_tokens::list(&mut conn, &app.demo_merchant_id()).unwrap();
        rows[0].expires_at.unwrap() - app.clock.now()
    };
    assert!(
        expires_in > time::Duration::days(29) && expires_in <= time::Duration::days(30),
        "{expires_in}"
    );

    let refusals = [
        (
            vec!["--merchant", "Nobody", "--name", "x", "--scope", "keys:read"],
            "no merchant has the name or ID",
        ),
        (
            vec![
                "--merchant",
                "Demo Merchant",
                "--name",
                "x",
                "--scope",
                "keys:admin",
            ],
            "keys:admin",
        ),
        (
            vec![
                "--merchant",
                "Demo Merchant",
                "--name",
                "terraform",
                "--scope",
                "keys:read",
            ],
            "terraform",
        ),
    ];
    for (args, message) in refusals {
        let refused = token_create(&app, &args);
        assert!(!refused.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("keyward: ") && stderr.contains(message),
            "{message:?} not in {stderr}"
        );
        assert!(refused.stdout.is_empty());
    }
    let no_scope = token_create(&app, &["--merchant", "Demo Merchant", "--name", "bare"]);
    assert_eq!(no_scope.status.code(), Some(2), "a token needs a scope");
}
