//! The security matrix, on SQLite and Postgres: every change route against forged,
//! misplaced and cross-site tokens, wrong methods and bodies; the headers of every page;
//! forged cookies; bad input on every form; hostile names on every page; and the logs of
//! a whole lifecycle at TRACE level. Cases proven elsewhere are not repeated here: cookie
//! flags and traversal (`pages.rs`), the cookie renewed at sign-in (`sign_in.rs`), replay
//! after sign-out and a flipped cookie (`sessions.rs`), the Generate form's limits and
//! the Reveal's `no-store` (`keys.rs`).

use std::collections::HashMap;
use std::process::Stdio;

use keyward::domain::{KeyId, Role};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST, revealed_key};
use crate::support::routes::{self, Fixture, ROUTES, World};
use crate::support::{
    Backend, Browser, TestApp, TestDb, csrf_token_in, field_value, one_time_password, spawn_app,
    spawn_app_with,
};

db_test!(
    every_change_route_refuses_a_missing_wrong_foreign_or_misplaced_token_and_changes_nothing,
    every_change_route_refuses_a_cross_site_request_even_with_the_token,
    every_route_answers_405_to_a_method_it_does_not_serve_and_changes_nothing,
    every_change_route_answers_413_to_an_oversized_body_and_415_to_a_body_that_is_not_a_form,
    every_page_and_error_page_carries_the_security_headers_and_no_store,
    a_forged_foreign_or_oversized_cookie_is_anonymous_on_every_kind_of_request,
    over_long_and_control_character_input_gets_422_with_a_message_on_every_form,
    hostile_names_are_escaped_in_every_page_and_attribute,
    a_whole_lifecycle_logged_at_trace_level_leaks_no_secret,
);

/// Every field any change route reads, so that a route that skipped its CSRF check
/// would have what it needs to change something.
fn change_fields(world: &World<'_>, n: u32) -> Vec<(&'static str, String)> {
    vec![
        ("name", format!("Forged {n}")),
        ("description", String::new()),
        ("expires", "never".into()),
        ("grace", "now".into()),
        ("confirm", "REVOKE".into()),
        ("understood", "yes".into()),
        ("preset", "single-key".into()),
        ("email", format!("forged{n}@a.example")),
        ("role", "admin".into()),
        ("merchant_id", world.merchant_a.to_string()),
        ("current_password", routes::PASSWORD.into()),
        ("new_password", "a forged password 123".into()),
        ("confirm_password", "a forged password 123".into()),
    ]
}

/// Merchant A with an admin signed in, and one thing of each kind the routes name.
struct Matrix<'a> {
    world: World<'a>,
    admin: Browser,
    keys: HashMap<Fixture, String>,
    member: String,
    invitation: String,
}

impl<'a> Matrix<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let world = World {
            app,
            merchant_a: app.demo_merchant_id(),
            event_a: String::new(),
            counter: std::cell::Cell::new(0),
        };
        let keys: HashMap<Fixture, String> =
            [Fixture::ActiveKey, Fixture::DisabledKey, Fixture::KeyWithLifetime]
                .into_iter()
                .map(|fixture| (fixture, world.key(fixture)))
                .collect();
        let event_a = keyward::db::key_events::for_key(
            &mut app.db.get().unwrap(),
            &world.merchant_a,
            &KeyId::parse(&keys[&Fixture::ActiveKey]).unwrap(),
        )
        .unwrap()
        .remove(0)
        .id
        .to_string();
        let world = World { event_a, ..world };
        let member = world.member(Role::Developer);
        let invitation = world.invitation();
        world.user("admin@a.example", Some((&world.merchant_a, Role::Admin)));
        let admin = routes::sign_in(app, "admin@a.example").await;
        Self {
            world,
            admin,
            keys,
            member,
            invitation,
        }
    }

    /// The route's path with this merchant's IDs in it.
    fn fill(&self, path: &str, fixture: Fixture) -> String {
        let key = self.keys.get(&fixture).unwrap_or(&self.keys[&Fixture::ActiveKey]);
        path.replace("{key}", key)
            .replace("{member}", &self.member)
            .replace("{invitation}", &self.invitation)
            .replace("{event}", &self.world.event_a)
            .replace("{merchant}", &self.world.merchant_a)
    }

    /// Every POST route of the dashboard, filled in.
    fn change_paths(&self) -> Vec<String> {
        ROUTES
            .iter()
            .filter(|route| route.method == Method::POST)
            .map(|route| self.fill(route.path, route.fixture))
            .collect()
    }

    /// Everything a refused change must leave as it was, sessions included.
    fn snapshot(&self) -> (Vec<String>, i64) {
        (
            self.world.snapshot(),
            self.world
                .app
                .count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        )
    }

    /// Whether the admin is still signed in, still working in merchant A.
    async fn assert_admin_unaffected(&self) {
        let page = self.admin.get(LIST).await;
        assert_eq!(page.status(), StatusCode::OK, "the admin is still signed in");
        let page = page.text().await.unwrap();
        assert!(
            page.contains(&format!(r#"<option value="{}" selected>"#, self.world.merchant_a))
                || page.contains("Demo Merchant"),
            "still in merchant A"
        );
    }
}

async fn every_change_route_refuses_a_missing_wrong_foreign_or_misplaced_token_and_changes_nothing(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matrix = Matrix::new(&app).await;
    let token = matrix.admin.csrf_token(LIST).await;
    let other_session = app.signed_in_admin().await;
    let others_token = other_session.csrf_token(LIST).await;
    assert_ne!(token, others_token);
    let altered = {
        let last = if token.ends_with('x') { "y" } else { "x" };
        format!("{}{last}", &token[..token.len() - 1])
    };
    let before = matrix.snapshot();
    let paths = matrix.change_paths();
    assert!(
        paths.len() >= 17,
        "every POST route of the role matrix: {paths:?}"
    );
    for path in &paths {
        let n = matrix.world.next();
        let fields = change_fields(&matrix.world, n);
        let with = |extra: Option<(&'static str, &str)>| -> Vec<(&str, String)> {
            let mut all: Vec<(&str, String)> = fields.clone();
            if let Some((name, value)) = extra {
                all.push((name, value.to_owned()));
            }
            all
        };
        let post =
            |path: &str, form: Vec<(&str, String)>| matrix.admin.builder(Method::POST, path).form(&form);
        let attempts: Vec<(&str, RequestBuilder)> = vec![
            ("no token", post(path, with(None))),
            ("an empty token", post(path, with(Some(("csrf_token", ""))))),
            (
                "a wrong token",
                post(path, with(Some(("csrf_token", "not-the-token")))),
            ),
            (
                "the token of another session",
                post(path, with(Some(("csrf_token", &others_token)))),
            ),
            (
                "the token of another session in the header",
                post(path, with(None)).header("X-CSRF-Token", &others_token),
            ),
            (
                "the token in the query string",
                post(&format!("{path}?csrf_token={token}"), with(None)),
            ),
            (
                "the token with its last character changed",
                post(path, with(Some(("csrf_token", &altered)))),
            ),
        ];
        for (what, request) in attempts {
            let res = matrix.admin.send(request).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path} with {what}");
            assert!(res.text().await.unwrap().contains("Request refused"));
        }
    }
    assert_eq!(before, matrix.snapshot(), "a refused change changed something");
    matrix.assert_admin_unaffected().await;
    assert!(other_session.is_signed_in().await);

    // Sign-in is a change too: the right password without the right token signs nobody in.
    let visitor = app.browser();
    visitor.csrf_token("/login").await;
    for token in ["", "not-the-token", others_token.as_str()] {
        let res = visitor
            .post_form(
                "/login",
                &[
                    ("email", &app.admin_email),
                    ("password", &app.admin_password),
                    ("csrf_token", token),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "sign-in with {token:?}");
    }
    assert!(!visitor.is_signed_in().await);
}

async fn every_change_route_refuses_a_cross_site_request_even_with_the_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matrix = Matrix::new(&app).await;
    let token = matrix.admin.csrf_token(LIST).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let before = matrix.snapshot();
    let foreign: [(&str, String); 5] = [
        ("Origin", "https://evil.example".into()),
        // Our host as a subdomain of another site is another site.
        ("Origin", format!("http://{host}.evil.example")),
        ("Origin", format!("https://evil.example/{host}")),
        ("Sec-Fetch-Site", "cross-site".into()),
        ("Sec-Fetch-Site", "same-site".into()),
    ];
    for path in matrix.change_paths() {
        let n = matrix.world.next();
        let mut form = change_fields(&matrix.world, n);
        form.push(("csrf_token", token.clone()));
        for (header, value) in &foreign {
            for token_in_header in [false, true] {
                let mut request = matrix
                    .admin
                    .builder(Method::POST, &path)
                    .header(*header, value)
                    .form(&form);
                if token_in_header {
                    request = request.header("X-CSRF-Token", &token);
                }
                let res = matrix.admin.send(request).await;
                assert_eq!(
                    res.status(),
                    StatusCode::FORBIDDEN,
                    "POST {path} with {header}: {value}"
                );
            }
        }
    }
    assert_eq!(before, matrix.snapshot(), "a cross-site change changed something");
    matrix.assert_admin_unaffected().await;
}

async fn every_route_answers_405_to_a_method_it_does_not_serve_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matrix = Matrix::new(&app).await;
    let token = matrix.admin.csrf_token(LIST).await;
    let served: Vec<(Method, String)> = ROUTES
        .iter()
        .map(|route| {
            let path = matrix.fill(route.path, route.fixture);
            let path = path.split('?').next().unwrap().to_owned();
            (route.method.clone(), path)
        })
        .collect();
    let mut paths: Vec<String> = served.iter().map(|(_, path)| path.clone()).collect();
    paths.extend(
        [
            "/login",
            "/healthz",
            "/readyz",
            "/static/app.css",
            "/api/v1/whoami",
            "/api/v1/auth",
        ]
        .map(str::to_owned),
    );
    paths.sort();
    paths.dedup();
    // A GET on a change route must never change anything: each POST-only route refuses it.
    let post_only: Vec<&String> = paths
        .iter()
        .filter(|path| {
            served.contains(&(Method::POST, (*path).clone()))
                && !served.contains(&(Method::GET, (*path).clone()))
        })
        .collect();
    assert!(post_only.len() >= 8, "{post_only:?}");
    for path in post_only {
        let res = matrix.admin.get(path).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "GET {path}");
        assert!(
            res.text().await.unwrap().contains("Method not allowed"),
            "GET {path}"
        );
    }
    let api_key = keyward::service::keys::generate(
        &mut app.db.get().unwrap(),
        &matrix.world.merchant_a,
        &keyward::service::keys::GenerateRequest {
            name: "Methods".into(),
            ..Default::default()
        },
        &keyward::domain::Actor::cli(),
        &keyward::startup::key_pepper(&crate::support::test_secret()),
        app.clock.now(),
    )
    .unwrap()
    .key;
    let before = matrix.snapshot();
    for path in &paths {
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            let res = matrix
                .admin
                .send(
                    matrix
                        .admin
                        .builder(method.clone(), path)
                        .header("X-CSRF-Token", &token)
                        .header("Authorization", format!("ApiKey {}", api_key.expose()))
                        .form(&change_fields(&matrix.world, 0)),
                )
                .await;
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        }
    }
    assert_eq!(before, matrix.snapshot(), "a refused method changed something");
    matrix.assert_admin_unaffected().await;
}

async fn every_change_route_answers_413_to_an_oversized_body_and_415_to_a_body_that_is_not_a_form(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matrix = Matrix::new(&app).await;
    let token = matrix.admin.csrf_token(LIST).await;
    let before = matrix.snapshot();
    let padding = "p".repeat(100 * 1024);
    let huge = "p".repeat(2 * 1024 * 1024);
    let mut paths = matrix.change_paths();
    // Last: the only one that ends the session if it gets through.
    paths.sort_by_key(|path| path == "/logout");
    for path in &paths {
        let n = matrix.world.next();
        let mut form = change_fields(&matrix.world, n);
        form.push(("csrf_token", token.clone()));
        for (what, padding) in [("100 KiB", &padding), ("2 MiB", &huge)] {
            let mut padded = form.clone();
            padded.push(("padding", padding.clone()));
            // The token in the form, where the body must be read to find it, and in the
            // header, where the handler alone would read the body.
            for token_in_header in [false, true] {
                let mut request = matrix.admin.builder(Method::POST, path).form(&padded);
                if token_in_header {
                    request = request.header("X-CSRF-Token", &token);
                }
                let res = matrix.admin.send(request).await;
                assert_eq!(
                    res.status(),
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "POST {path} with a {what} form (token in the header: {token_in_header})"
                );
                assert!(res.text().await.unwrap().contains("Request too large"));
            }
        }
        let body = serde_urlencoded::to_string(&form).unwrap();
        for content_type in [
            "application/json",
            "multipart/form-data; boundary=x",
            "text/plain",
            "application/xml",
        ] {
            let res = matrix
                .admin
                .send(
                    matrix
                        .admin
                        .builder(Method::POST, path)
                        .header("X-CSRF-Token", &token)
                        .header("Content-Type", content_type)
                        .body(body.clone()),
                )
                .await;
            assert_eq!(
                res.status(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "POST {path} as {content_type}"
            );
            assert!(res.text().await.unwrap().contains("Unsupported request"));
        }
    }
    assert_eq!(before, matrix.snapshot(), "a refused body changed something");
    matrix.assert_admin_unaffected().await;

    // Sign-in too, before any password is checked.
    let visitor = app.browser();
    let token = visitor.csrf_token("/login").await;
    let res = visitor
        .post_form(
            "/login",
            &[
                ("email", app.admin_email.as_str()),
                ("password", app.admin_password.as_str()),
                ("csrf_token", token.as_str()),
                ("padding", huge.as_str()),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!visitor.is_signed_in().await);
}

/// Asserts the headers every answer of the dashboard carries.
fn assert_hardened(res: &Response, what: &str) {
    let headers = res.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("content-security-policy"), crate::support::CSP, "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
}

async fn every_page_and_error_page_carries_the_security_headers_and_no_store(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matrix = Matrix::new(&app).await;
    let support_email = "support@platform.example";
    matrix.world.user(support_email, None);
    let support = routes::sign_in(&app, support_email).await;
    let gets: Vec<String> = ROUTES
        .iter()
        .filter(|route| route.method == Method::GET)
        .map(|route| matrix.fill(route.path, route.fixture))
        .collect();
    let mut html_pages = 0;
    for (who, browser) in [
        ("admin", &matrix.admin),
        ("support", &support),
        ("anonymous", &app.browser()),
    ] {
        for path in &gets {
            for htmx in [false, true] {
                let mut request = browser.builder(Method::GET, path);
                if htmx {
                    request = request.header("HX-Request", "true");
                }
                let res = browser.send(request).await;
                let what = format!("{who} GET {path} (htmx: {htmx}) → {}", res.status());
                assert!(!res.status().is_server_error(), "{what}");
                assert_hardened(&res, &what);
                let html = res
                    .headers()
                    .get("content-type")
                    .is_some_and(|value| value.to_str().unwrap().starts_with("text/html"));
                if html {
                    html_pages += 1;
                    let body = res.text().await.unwrap();
                    assert!(
                        !body.contains("<script>") && !body.contains(" style="),
                        "{what}: inline script or style"
                    );
                }
            }
        }
    }
    assert!(html_pages > 60, "{html_pages} HTML pages seen");

    // The answers that carry a secret shown once, and every kind of error page.
    let dash = Dashboard::admin(&app).await;
    let reveal = dash.generate(&[("name", "Headers")]).await;
    assert_eq!(reveal.status(), StatusCode::OK);
    assert_hardened(&reveal, "the Reveal after Generate");
    let key = dash.key_named("Headers");
    let rotated = dash.act(&key.id, "rotate", &[("grace", "1h")]).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_hardened(&rotated, "the Reveal after Rotate");
    let one_time = dash
        .submit(
            "/settings/members",
            "/settings/members",
            &[
                ("email", "headers@example.com"),
                ("name", "Hedda Headers"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(one_time.status(), StatusCode::OK);
    assert!(
        one_time.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_hardened(&one_time, "the one-time password");

    let token = dash.browser.csrf_token(LIST).await;
    let fresh_nonce = || async {
        let form = dash.browser.html("/settings/api-credentials/new").await;
        field_value(&form, "nonce").unwrap()
    };
    let nonce = fresh_nonce().await;
    let once = [
        ("csrf_token", token.as_str()),
        ("nonce", nonce.as_str()),
        ("name", "Once"),
    ];
    assert_eq!(dash.browser.post_form(LIST, &once).await.status(), StatusCode::OK);
    let conflict = dash.browser.post_form(LIST, &once).await;
    let nonce = fresh_nonce().await;
    let unprocessable = dash
        .browser
        .post_form(
            LIST,
            &[
                ("csrf_token", token.as_str()),
                ("nonce", nonce.as_str()),
                ("name", ""),
            ],
        )
        .await;
    let errors = [
        (
            dash.browser.post_form("/logout", &[]).await,
            StatusCode::FORBIDDEN,
        ),
        (dash.browser.get("/no/such/page").await, StatusCode::NOT_FOUND),
        (dash.browser.get("/logout").await, StatusCode::METHOD_NOT_ALLOWED),
        (conflict, StatusCode::CONFLICT),
        (unprocessable, StatusCode::UNPROCESSABLE_ENTITY),
        (
            dash.browser
                .post_form(
                    LIST,
                    &[("csrf_token", token.as_str()), ("name", &"n".repeat(100_000))],
                )
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            dash.browser
                .send(
                    dash.browser
                        .builder(Method::POST, LIST)
                        .header("X-CSRF-Token", &token)
                        .json(&serde_json::json!({"name": "json"})),
                )
                .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (res, status) in errors {
        assert_eq!(res.status(), status);
        assert_hardened(&res, &format!("the {status} page"));
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}

async fn a_forged_foreign_or_oversized_cookie_is_anonymous_on_every_kind_of_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let genuine = app.signed_in_admin().await.session_cookie().unwrap();
    // A real session of another server, signed with another secret.
    let foreign = {
        let Some(other) = spawn_app_with(backend, |settings| {
            settings.secret = keyward::config::Secret::from_bytes(b"another-secret".repeat(8)).unwrap();
        })
        .await
        else {
            return;
        };
        other.signed_in_admin().await.session_cookie().unwrap()
    };
    let mut truncated = genuine.clone();
    truncated.truncate(genuine.len() / 2);
    let forged = [
        String::new(),
        truncated,
        format!("{genuine}{genuine}"),
        genuine.replace(|c: char| c.is_ascii_digit(), "7"),
        genuine.chars().rev().collect(),
        foreign,
        "A".repeat(3000),
        "%00%ff%fe".into(),
        "\"quoted\"".into(),
    ];
    let sessions_before = app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL");
    for cookie in forged {
        let browser = app.browser();
        browser.set_session_cookie(Some(cookie.clone()));
        let what = format!("cookie {:?}", cookie.chars().take(40).collect::<String>());
        let res = browser.get(LIST).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{what}");
        browser.set_session_cookie(Some(cookie.clone()));
        let res = browser
            .send(browser.builder(Method::GET, LIST).header("HX-Request", "true"))
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}, htmx");
        browser.set_session_cookie(Some(cookie.clone()));
        let res = browser.post_form("/logout", &[("csrf_token", "anything")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}, a change");
        browser.set_session_cookie(Some(cookie.clone()));
        let res = browser.get("/login").await;
        assert_eq!(res.status(), StatusCode::OK, "{what}, the sign-in page");
        browser.set_session_cookie(Some(cookie));
        let res = browser.get("/api/v1/whoami").await;
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{what}: a cookie is no API key"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        sessions_before,
        "no forged cookie became a signed-in session"
    );
}

async fn over_long_and_control_character_input_gets_422_with_a_message_on_every_form(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Target").await;
    let (n101, n501, n1025) = ("n".repeat(101), "d".repeat(501), "p".repeat(1025));
    let long_email = format!("{}@example.com", "e".repeat(250));
    let digits = "9".repeat(40);
    let edit = format!("{LIST}/{}/edit", key.id);
    let rotate = format!("{LIST}/{}/rotate", key.id);
    /// The form's page, where it is posted, the fields, and the message expected.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            &edit,
            &edit,
            vec![("name", &n101)],
            "Name must be at most 100 characters.",
        ),
        (
            &edit,
            &edit,
            vec![("name", "Tab\tbed")],
            "Name must not contain control characters.",
        ),
        (
            &edit,
            &edit,
            vec![("name", "evil\u{202E}txt")],
            "Name must not contain control characters.",
        ),
        (
            &edit,
            &edit,
            vec![("name", "Ok"), ("description", &n501)],
            "Description must be at most 500 characters.",
        ),
        (
            &edit,
            &edit,
            vec![("name", "Ok"), ("description", "nul\u{0}byte")],
            "Description must not contain control characters.",
        ),
        (
            &edit,
            &edit,
            vec![("name", "Ok"), ("description", "bidi\u{2066}isolate")],
            "Description must not contain control characters.",
        ),
        (
            &rotate,
            &rotate,
            vec![("grace", "1h\u{0}")],
            "Grace period is not valid",
        ),
        (
            &rotate,
            &rotate,
            vec![("grace", &n101)],
            "Grace period is not valid",
        ),
        (
            "/settings/key-policy",
            "/settings/key-policy",
            vec![("max_active_keys", &digits), ("default_grace", "3d")],
            "Maximum active keys is not valid",
        ),
        (
            "/settings/key-policy",
            "/settings/key-policy",
            vec![("max_active_keys", "5\u{0}"), ("default_grace", "3d")],
            "Maximum active keys is not valid",
        ),
        (
            "/settings/key-policy",
            "/settings/key-policy",
            vec![
                ("max_active_keys", "5"),
                ("default_grace", "3d"),
                ("max_lifetime_days", &digits),
            ],
            "Maximum key lifetime is not valid",
        ),
        (
            "/settings/members",
            "/settings/members",
            vec![("email", &long_email), ("role", "viewer")],
            "Email must be at most 254 characters.",
        ),
        (
            "/settings/members",
            "/settings/members",
            vec![("email", "ana\u{202E}@example.com"), ("role", "viewer")],
            "Email must not contain control characters.",
        ),
        (
            "/settings/members",
            "/settings/members",
            vec![("email", "ana@example.com"), ("role", "viewer\u{1}")],
            "Role is not valid",
        ),
        (
            "/account/password",
            "/account/password",
            vec![
                ("current_password", app.admin_password.as_str()),
                ("new_password", &n1025),
                ("confirm_password", &n1025),
            ],
            "Password must be at most 1024 characters.",
        ),
    ];
    let before = (
        dash.row(&key.id),
        app.count("SELECT COUNT(*) AS n FROM key_events"),
        app.count("SELECT COUNT(*) AS n FROM users"),
        dash.keys().len(),
    );
    for (form, post, fields, message) in cases {
        let res = dash.submit(form, post, &fields).await;
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{post} {fields:?}");
        assert!(
            html.contains(message),
            "{message:?} not in the answer to {post} {fields:?}"
        );
        assert!(!html.contains('\u{202E}'), "the override is not echoed as such");
    }
    for query in [
        format!("key={}", "k".repeat(5000)),
        "key=%E2%80%AEevil".to_owned(),
        format!("from={}", "2".repeat(2000)),
        "to=2026-11-03%00".to_owned(),
        format!("actor={}", "a".repeat(5000)),
        "type=revo%00ked".to_owned(),
    ] {
        let res = dash.browser.get(&format!("/settings/audit-log?{query}")).await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "audit log {query:.40}"
        );
        let html = res.text().await.unwrap();
        assert!(
            html.contains(r#"role="alert""#) && html.contains(" must "),
            "a message for {query:.40}"
        );
    }
    let after = (
        dash.row(&key.id),
        app.count("SELECT COUNT(*) AS n FROM key_events"),
        app.count("SELECT COUNT(*) AS n FROM users"),
        dash.keys().len(),
    );
    assert_eq!(
        format!("{before:?}"),
        format!("{after:?}"),
        "bad input changed something"
    );
    assert!(dash.browser.is_signed_in().await, "the password did not change");
}

/// Markup, a quote that would close an attribute or a JSON string, and a right-to-left
/// override.
const HOSTILE: &str = "<script>alert(1)</script>\"}'\u{202E}gnp.exe";
/// How [`HOSTILE`] must read in a page.
const HOSTILE_ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;&#34;}&#39;\u{FFFD}gnp.exe";

/// Every `hx-vals` attribute of a page must still be the JSON it was written as.
fn assert_hx_vals_parse(html: &str, what: &str) {
    for (start, _) in html.match_indices("hx-vals=") {
        let rest = &html[start + "hx-vals=".len()..];
        let quote = rest.chars().next().unwrap();
        let value = &rest[1..rest[1..].find(quote).unwrap() + 1];
        let json = value
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&");
        serde_json::from_str::<serde_json::Value>(&json)
            .unwrap_or_else(|err| panic!("{what}: hx-vals {value} is not JSON: {err}"));
    }
}

async fn hostile_names_are_escaped_in_every_page_and_attribute(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let matrix = Matrix::new(&app).await;
    let support_email = "support@platform.example";
    matrix.world.user(support_email, None);
    // Straight into the database: the forms refuse the override, but text that got in
    // another way (an older version, a restore, another tool) must still be harmless.
    let sql = HOSTILE.replace('\'', "''");
    app.execute(&format!(
        "UPDATE api_keys SET name = '{sql}' || ' ' || id, description = '{sql}';
         UPDATE merchants SET name = '{sql}';
         UPDATE users SET name = '{sql}';
         UPDATE key_events SET actor_name = '{sql}', user_agent = '{sql}';"
    ));
    let support = routes::sign_in(&app, support_email).await;
    let search = format!("/support?q={}", "%3Cscript%3E%22%7D%E2%80%AE");
    let mut paths: Vec<(&Browser, String)> = ROUTES
        .iter()
        .filter(|route| route.method == Method::GET)
        .flat_map(|route| {
            let path = matrix.fill(route.path, route.fixture);
            [(&matrix.admin, path.clone()), (&support, path)]
        })
        .collect();
    paths.push((&support, search));
    paths.push((&support, "/support?q=gnp".into()));
    let mut shown = 0;
    for (browser, path) in &paths {
        for htmx in [false, true] {
            let mut request = browser.builder(Method::GET, path);
            if htmx {
                request = request.header("HX-Request", "true");
            }
            let res = browser.send(request).await;
            let what = format!("GET {path} (htmx: {htmx})");
            assert!(!res.status().is_server_error(), "{what}: {}", res.status());
            let csv = res
                .headers()
                .get("content-type")
                .is_some_and(|value| value.to_str().unwrap().starts_with("text/csv"));
            let body = res.text().await.unwrap();
            assert!(!body.contains('\u{202E}'), "{what}: a raw right-to-left override");
            if csv {
                // A spreadsheet reads cells, not markup: the value is quoted, not escaped.
                continue;
            }
            assert!(!body.contains("<script>alert"), "{what}: raw markup");
            assert!(!body.contains("</script>\"}"), "{what}: a raw quote");
            assert_hx_vals_parse(&body, &what);
            if body.contains(HOSTILE_ESCAPED) {
                shown += 1;
            }
        }
    }
    assert!(shown >= 20, "the escaped name was shown on only {shown} pages");
    // In attributes too: the Edit form gives it back as the field's value.
    let edit = matrix
        .admin
        .html(&matrix.fill("/settings/api-credentials/{key}/edit", Fixture::ActiveKey))
        .await;
    assert!(
        edit.contains(&format!(
            r#"name="name" type="text" maxlength="100" value="{HOSTILE_ESCAPED} "#
        )),
        "{edit}"
    );
    let token = csrf_token_in(&edit).unwrap();
    assert!(!token.is_empty());
}

async fn a_whole_lifecycle_logged_at_trace_level_leaks_no_secret(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let log_path = db.dir.path().join("trace.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let (mut server, lines, address) = crate::support::cli::start_server_with(&db, backend, |command| {
        command.env("RUST_LOG", "trace").stderr(Stdio::from(log_file));
    });
    let admin_password = lines
        .iter()
        .find_map(|line| line.trim().strip_prefix("Password:"))
        .expect("the first admin's password")
        .trim()
        .to_owned();
    let mut secrets: Vec<(&str, String)> = vec![("the admin's password", admin_password.clone())];

    let admin = Browser::new(&address);
    let wrong = "wrong-password-7c1e9";
    admin.sign_in("admin@example.com", wrong).await;
    secrets.push(("a wrong password", wrong.into()));
    secrets.push((
        "the sign-in form's CSRF cookie",
        admin.cookie("keyward_csrf").unwrap(),
    ));
    let res = admin.sign_in("admin@example.com", &admin_password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    secrets.push(("the signed-in cookie", admin.session_cookie().unwrap()));
    let token = admin.csrf_token(LIST).await;
    secrets.push(("the CSRF token", token.clone()));

    let submit = |form: String, post: String, fields: Vec<(&'static str, String)>| {
        let admin = &admin;
        async move {
            let html = admin.html(&form).await;
            let mut all = fields;
            all.push(("csrf_token", csrf_token_in(&html).unwrap()));
            all.push(("nonce", field_value(&html, "nonce").unwrap_or_default()));
            admin
                .post_form(
                    &post,
                    &all.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
                )
                .await
        }
    };
    let res = submit(
        format!("{LIST}/new"),
        LIST.into(),
        vec![("name", "Traced".into())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let first = revealed_key(&res.text().await.unwrap());
    let key_id = {
        let db = keyward::db::Db::connect(&db.url).unwrap();
        let mut conn = db.get().unwrap();
        let merchant = keyward::db::merchants::find_by_id_or_name(&mut conn, "Demo Merchant")
            .unwrap()
            .unwrap();
        keyward::db::keys::list(&mut conn, &merchant.id).unwrap()[0]
            .id
            .clone()
    };
    let api = reqwest::Client::new();
    let made_up = format!("kw_live_{}", "Q".repeat(46));
    for authorization in [
        format!("ApiKey {first}"),
        format!("apikey {first}"),
        format!("ApiKey {made_up}"),
        "Bearer bearer-secret-0f3a".to_owned(),
    ] {
        let res = api
            .get(format!("{address}/api/v1/auth?scope=orders:read"))
            .header("Authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert!(!res.status().is_server_error());
        secrets.push(("an Authorization value", authorization));
    }
    let res = submit(
        format!("{LIST}/{key_id}/rotate"),
        format!("{LIST}/{key_id}/rotate"),
        vec![("grace", "1h".into())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = revealed_key(&res.text().await.unwrap());
    let res = api
        .get(format!("{address}/api/v1/whoami"))
        .header("Authorization", format!("ApiKey {second}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = submit(
        format!("{LIST}/{key_id}/revoke"),
        format!("{LIST}/{key_id}/revoke"),
        vec![("confirm", "REVOKE".into())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = submit(
        "/settings/members".into(),
        "/settings/members".into(),
        vec![
            ("email", "traced@example.com".into()),
            ("name", "Tracy Traced".into()),
            ("role", "developer".into()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let one_time = one_time_password(&html);
    let member = Browser::new(&address);
    assert_eq!(
        member.sign_in("traced@example.com", &one_time).await.status(),
        StatusCode::SEE_OTHER
    );
    let chosen = "member's own password 42";
    let form = member.html("/account/password").await;
    let res = member
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &csrf_token_in(&form).unwrap()),
                ("current_password", &one_time),
                ("new_password", chosen),
                ("confirm_password", chosen),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    secrets.push(("the member's cookie", member.session_cookie().unwrap()));
    let token = admin.csrf_token(LIST).await;
    assert_eq!(
        admin
            .post_form("/logout", &[("csrf_token", &token)])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    for (what, key) in [("the first key", &first), ("the rotated key", &second)] {
        secrets.push((what, key.clone()));
        secrets.push((what, key[8..48].to_owned()));
    }
    secrets.push(("a one-time password", one_time));
    secrets.push(("a chosen password", chosen.into()));
    secrets.push(("a made-up key", made_up));

    // Stopped as an operator would, so everything it logs is written.
    let pid = server.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(server.0.wait().unwrap().success());
    let digests: Vec<String> = {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            key_hash: String,
        }
        let db = keyward::db::Db::connect(&db.url).unwrap();
        diesel::sql_query("SELECT key_hash FROM api_keys")
            .load::<Row>(&mut **db.get().unwrap())
            .unwrap()
            .into_iter()
            .map(|row| row.key_hash)
            .collect()
    };
    assert_eq!(digests.len(), 2);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !logs.contains('\u{1b}'),
        "a log file holds no terminal colour codes"
    );
    assert!(
        logs.lines().filter(|line| line.contains("TRACE")).count() > 10,
        "the server logged at TRACE level"
    );
    assert!(logs.contains("/api/v1/whoami"), "the requests were logged");
    for (what, secret) in &secrets {
        assert!(!secret.is_empty(), "{what}");
        assert!(!logs.contains(secret.as_str()), "the logs hold {what}");
    }
    for digest in &digests {
        assert!(!logs.contains(digest.as_str()), "the logs hold a key digest");
    }
}
