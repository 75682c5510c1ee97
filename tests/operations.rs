use reqwest::StatusCode;

use crate::db_test;
use crate::support::{Backend, logs, spawn_app};

db_test!(
    healthz_and_readyz_answer_while_the_database_does,
    readyz_fails_when_the_database_is_gone_while_healthz_still_answers,
    a_500_shows_an_error_id_that_the_log_carries_with_its_cause,
    an_api_failure_answers_json_with_an_error_id_that_one_log_line_carries_with_its_cause,
    request_logs_carry_method_path_status_and_no_secret,
    health_checks_and_assets_answer_a_signed_in_browser_with_the_database_gone,
);

async fn healthz_and_readyz_answer_while_the_database_does(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    assert_eq!(browser.get("/healthz").await.status(), StatusCode::OK);
    let res = browser.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

async fn readyz_fails_when_the_database_is_gone_while_healthz_still_answers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    assert_eq!(browser.get("/readyz").await.status(), StatusCode::OK);
    app.test_db.destroy();
    let res = browser.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable");
    assert_eq!(browser.get("/healthz").await.status(), StatusCode::OK);
}

async fn a_500_shows_an_error_id_that_the_log_carries_with_its_cause(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    // A table the signed-in pages read disappears: an unexpected failure, not bad input.
    app.execute("DROP TABLE memberships");
    let res = browser.get("/settings/api-credentials").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = res.text().await.unwrap();
    assert!(html.contains("Something went wrong"), "{html}");
    let marker = "Error ID: <code>";
    let start = html.find(marker).expect("an error ID on the page") + marker.len();
    let error_id = &html[start..start + 32];
    let line = logs()
        .lines()
        .find(|line| line.contains(error_id))
        .map(str::to_owned)
        .expect("the log carries the error ID");
    assert!(line.contains("path=/settings/api-credentials"), "{line}");
    assert!(
        line.contains("memberships"),
        "the cause chain names the failure: {line}"
    );
}

async fn an_api_failure_answers_json_with_an_error_id_that_one_log_line_carries_with_its_cause(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = crate::support::dashboard::Dashboard::admin(&app)
        .await
        .generate_ok("Lost")
        .await;
    // The table keys are looked up in disappears: an unexpected failure, not a bad key.
    app.execute("ALTER TABLE api_keys RENAME TO api_keys_gone");
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/whoami", app.address))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal_error");
    let error_id = body["error"]["error_id"]
        .as_str()
        .expect("an error ID")
        .to_owned();
    assert_eq!(error_id.len(), 32, "{body}");
    let logs = logs();
    let lines: Vec<&str> = logs.lines().filter(|line| line.contains(&error_id)).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(&format!("request_id={request_id}")),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("path=/api/v1/whoami"), "{}", lines[0]);
    assert!(
        lines[0].contains("api_keys"),
        "the cause chain names the failure: {}",
        lines[0]
    );
}

async fn request_logs_carry_method_path_status_and_no_secret(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let cookie = browser.session_cookie().unwrap();
    let res = browser
        .send(
            browser
                .builder(reqwest::Method::GET, "/settings/api-credentials?probe=marker123")
                .header("Authorization", "ApiKey kw_live_secretvalue"),
        )
        .await;
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let logs = logs();
    let line = logs
        .lines()
        .find(|line| line.contains(&request_id))
        .expect("a log line for the request");
    assert!(line.contains("method=GET"), "{line}");
    assert!(line.contains("path=/settings/api-credentials"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    assert!(line.contains("latency_ms="), "{line}");
    for secret in [
        app.admin_password.as_str(),
        cookie.as_str(),
        "kw_live_secretvalue",
        "marker123",
    ] {
        assert!(!logs.contains(secret), "the logs contain {secret}");
    }
}

async fn health_checks_and_assets_answer_a_signed_in_browser_with_the_database_gone(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    app.test_db.destroy();
    assert_eq!(browser.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(browser.get("/static/app.css").await.status(), StatusCode::OK);
    assert_eq!(
        browser.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    if backend == Backend::Postgres {
        // The session cannot be read: a 503 page in the layout, with its headers.
        let res = browser.get("/settings/api-credentials").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key("content-security-policy"));
        assert!(res.text().await.unwrap().contains("Temporarily unavailable"));
        let res = browser.post_form("/logout", &[("csrf_token", "whatever")]).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

#[tokio::test]
async fn lost_postgres_connections_are_replaced_and_never_answer_500() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let name = match &app.test_db.url {
        keyward::config::DatabaseUrl::Postgres(url) => url.rsplit('/').next().unwrap().to_owned(),
        keyward::config::DatabaseUrl::Sqlite(_) => unreachable!("a Postgres test database"),
    };
    // What a server restart or a failover does to every open connection.
    {
        use diesel::{Connection, PgConnection, connection::SimpleConnection};
        let mut admin = PgConnection::establish(crate::support::POSTGRES_ADMIN_URL).unwrap();
        admin
            .batch_execute(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .unwrap();
    }
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(browser.get("/settings/api-credentials").await.status());
    }
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::OK || *status == StatusCode::SERVICE_UNAVAILABLE),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::OK),
        "the pool recovers: {statuses:?}"
    );
}
