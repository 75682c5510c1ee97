//! Test and live keys on API Credentials (issue 15): the Live / Test switch shows each
//! environment's own list, count and limit, Generate makes a key of the environment
//! shown, rotation and duplicate keep it, and the key-authenticated API reports it.

use keyward::domain::{ApiKey, Environment};
use reqwest::StatusCode;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, revealed_key};
use crate::support::{Backend, field_value, spawn_app};

db_test!(
    each_environment_has_its_own_list_count_and_limit,
    rotation_and_duplicate_keep_a_test_keys_environment,
    whoami_and_forward_auth_report_the_environment,
    support_staff_read_each_environment_through_the_same_switch,
);

const TEST_LIST: &str = "/settings/api-credentials?environment=test";
const NEW_TEST_KEY: &str = "/settings/api-credentials/new?environment=test";

/// Generates a test key from the Test tab's form; returns the key as revealed.
async fn generate_test_key(dash: &Dashboard<'_>, name: &str) -> String {
    let res = dash
        .submit(NEW_TEST_KEY, LIST, &[("name", name), ("environment", "test")])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "generating {name}");
    revealed_key(&res.text().await.unwrap())
}

async fn each_environment_has_its_own_list_count_and_limit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.set_policy("single-key").await;
    let live = dash.generate_ok("Live one").await;
    assert!(live.starts_with("kw_live_"), "{live}");

    // The Live tab is the default, marked as the one shown; the Test tab is a link.
    let page = dash.page().await;
    assert!(
        page.contains(r#"<a href="/settings/api-credentials" aria-current="page">Live</a>"#),
        "{page}"
    );
    assert!(page.contains(r#"<a href="/settings/api-credentials?environment=test">Test</a>"#));
    assert!(page.contains("1 of 1 active keys") && page.contains("Live one</h2>"));

    // The Test tab starts empty, with its own count, and its Generate makes a test key
    // although a live key already uses the live limit.
    let tab = dash.browser.html(TEST_LIST).await;
    assert!(
        tab.contains(r#"<a href="/settings/api-credentials?environment=test" aria-current="page">Test</a>"#),
        "{tab}"
    );
    assert!(tab.contains("0 of 1 active test keys") && tab.contains("No Active API Key Generated"));
    assert!(!tab.contains("Live one"), "{tab}");
    assert!(tab.contains(&format!(r#"href="{NEW_TEST_KEY}""#)), "{tab}");
    let form = dash.browser.html(NEW_TEST_KEY).await;
    assert_eq!(field_value(&form, "environment").as_deref(), Some("test"));
    let left_open = dash.open_form(NEW_TEST_KEY).await;
    let test = generate_test_key(&dash, "Test one").await;
    assert_eq!(ApiKey::parse(&test).unwrap().environment(), Environment::Test);
    assert_eq!(dash.key_named("Test one").environment, Environment::Test);
    assert_eq!(dash.key_named("Live one").environment, Environment::Live);

    let tab = dash.browser.html(TEST_LIST).await;
    assert!(tab.contains("1 of 1 active test keys") && tab.contains("Test one</h2>"));
    assert!(
        tab.contains(r#"<span class="badge badge-test">Test</span>"#),
        "{tab}"
    );
    assert!(!tab.contains("Live one"), "{tab}");
    let page = dash.page().await;
    assert!(
        page.contains("1 of 1 active keys") && !page.contains("Test one"),
        "{page}"
    );
    assert!(!page.contains("badge-test"), "live cards carry no Test badge");

    // Now each environment is at its own limit: neither offers Generate, and a second
    // test key is refused, whichever way it is asked for.
    dash.assert_refused_page(NEW_TEST_KEY, "active key").await;
    let res = dash
        .post_left_open(&left_open, LIST, &[("name", "Test two"), ("environment", "test")])
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "over the test limit");
    assert!(dash.keys().iter().all(|row| row.name != "Test two"));

    // An environment the page does not know is refused, not shown as another.
    let res = dash.browser.get(&format!("{LIST}?environment=prod")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = dash
        .browser
        .get("/settings/api-credentials/new?environment=prod")
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // A whole test key searched for leaves the address for its mask, on the Test tab.
    let res = dash.browser.get(&format!("{LIST}?q={test}")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/settings/api-credentials?environment=test&q=kw_test_"),
        "{location}"
    );
    assert!(!location.contains(&test));
}

async fn rotation_and_duplicate_keep_a_test_keys_environment(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    generate_test_key(&dash, "Sandbox").await;
    let v1 = dash.key_named("Sandbox");
    let rotated = dash.rotate_ok(&v1.id, "1h").await;
    assert!(rotated.starts_with("kw_test_"), "{rotated}");
    let v2 = dash.key_named("Sandbox");
    assert_eq!((v2.version, v2.environment), (2, Environment::Test));

    // The duplicate form is for the source's environment, and so is the key it makes,
    // whatever the form is sent with.
    let path = format!("{LIST}/{}/duplicate", v2.id);
    let form = dash.browser.html(&path).await;
    assert_eq!(field_value(&form, "environment").as_deref(), Some("test"));
    let res = dash
        .submit(
            &path,
            LIST,
            &[
                ("name", "Sandbox copy"),
                ("duplicated_from", v2.id.as_str()),
                ("environment", "live"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(revealed_key(&res.text().await.unwrap()).starts_with("kw_test_"));
    assert_eq!(dash.key_named("Sandbox copy").environment, Environment::Test);

    // Test keys never use up the live limit: under a one-key policy with two test keys
    // active, a live key is still generated.
    dash.set_policy("single-key").await;
    assert!(dash.generate_ok("Live").await.starts_with("kw_live_"));
    // And Enable counts the key's own environment: a disabled test key waits for room
    // among test keys only.
    let copy = dash.key_named("Sandbox copy");
    assert_eq!(
        dash.act(&copy.id, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let tab = dash.browser.html(TEST_LIST).await;
    assert!(tab.contains("This key cannot be enabled now."), "{tab}");
    let page = dash.page().await;
    assert!(!page.contains("Sandbox"), "{page}");
}

async fn whoami_and_forward_auth_report_the_environment(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let live = dash.generate_ok("Live").await;
    let test = generate_test_key(&dash, "Sandbox").await;
    for (key, environment) in [(&live, "live"), (&test, "test")] {
        let authorization = format!("ApiKey {key}");
        let res = app.call("/api/v1/whoami", Some(&authorization)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["environment"], environment, "{body}");
        let res = app.call("/api/v1/auth", Some(&authorization)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["x-keyward-environment"], environment);
    }
    // A gateway in front of live data asks for live keys: a test key is refused there,
    // with a code the key's request log keeps, and a name that is no environment
    // matches no key.
    let asked = |environment: &'static str, key: &str| {
        let authorization = format!("ApiKey {key}");
        let app = &app;
        async move {
            app.call(
                &format!("/api/v1/auth?environment={environment}"),
                Some(&authorization),
            )
            .await
        }
    };
    assert_eq!(asked("live", &live).await.status(), StatusCode::OK);
    assert_eq!(asked("test", &test).await.status(), StatusCode::OK);
    for (environment, key) in [("live", &test), ("test", &live), ("staging", &live)] {
        let res = asked(environment, key).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{environment}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "environment_not_allowed", "{body}");
    }
    // A live key relabelled as a test key (or the other way round) is no key at all: the
    // prefix is under the checksum.
    let relabelled = test.replacen("kw_test_", "kw_live_", 1);
    let res = app
        .call("/api/v1/auth", Some(&format!("ApiKey {relabelled}")))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_key");
}

async fn support_staff_read_each_environment_through_the_same_switch(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok("Live").await;
    generate_test_key(&dash, "Sandbox").await;
    app.create_support("sam@support.example", "support password");
    let support = app.browser();
    support.sign_in("sam@support.example", "support password").await;
    let overview = format!("/support/merchants/{}", dash.merchant_id);
    let token = support.csrf_token(&overview).await;
    support.post_form(&overview, &[("csrf_token", &token)]).await;

    let live = support.html(LIST).await;
    assert!(
        live.contains(r#"<nav class="environment-switch" aria-label="Environment">"#),
        "{live}"
    );
    assert!(live.contains("Live</h2>") && !live.contains("Sandbox"), "{live}");
    let test = support.html(TEST_LIST).await;
    assert!(
        test.contains(r#"aria-current="page">Test</a>"#) && test.contains("Sandbox</h2>"),
        "{test}"
    );
    assert!(test.contains("1 of 5 active test keys") && !test.contains(">Live</h2>"));
    // Read only: nothing to generate, rotate or reveal, in either environment.
    for page in [&live, &test] {
        assert!(!page.contains("Generate New API Key") && !page.contains("/rotate\""));
        assert!(!page.contains(">Reveal</button>"));
    }
}
