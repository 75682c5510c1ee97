use reqwest::{Method, StatusCode};

use crate::db_test;
use crate::support::{Backend, Browser, TestApp, csrf_token_in, logs, spawn_app, spawn_app_with};

/// The cookie holding a visitor's CSRF token.
const VISITOR_COOKIE: &str = "keyward_csrf";

db_test!(
    a_sign_out_without_the_token_is_refused_and_changes_nothing,
    a_sign_out_with_a_wrong_token_or_another_sessions_token_is_refused,
    a_token_in_the_query_string_does_not_count,
    a_cross_site_origin_is_refused_even_with_the_token,
    the_token_in_the_htmx_header_is_accepted,
    a_browser_form_with_a_null_origin_and_the_token_is_accepted,
    a_sign_in_without_the_token_is_refused_before_any_password_check,
    switching_merchant_without_the_token_leaves_the_session_as_it_was,
    a_sign_in_needs_the_token_of_its_own_signed_cookie,
    a_sign_in_over_plain_http_on_a_network_name_says_the_browser_did_not_keep_the_cookie,
    with_insecure_cookies_a_plain_http_dashboard_signs_in_and_every_start_warns,
);

async fn a_sign_out_without_the_token_is_refused_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let res = browser.post_form("/logout", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Request refused"));
    assert!(browser.is_signed_in().await, "still signed in");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        1
    );
}

async fn a_sign_out_with_a_wrong_token_or_another_sessions_token_is_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let res = browser
        .post_form("/logout", &[("csrf_token", "not-the-token")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let other = app.signed_in_admin().await;
    let others_token = other.csrf_token("/settings/api-credentials").await;
    let res = browser
        .post_form("/logout", &[("csrf_token", &others_token)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(browser.is_signed_in().await);
    assert!(other.is_signed_in().await);
}

async fn a_token_in_the_query_string_does_not_count(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let token = browser.csrf_token("/settings/api-credentials").await;
    let res = browser
        .post_form(&format!("/logout?csrf_token={token}"), &[])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(browser.is_signed_in().await);
}

async fn a_cross_site_origin_is_refused_even_with_the_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let token = browser.csrf_token("/settings/api-credentials").await;
    for (header, value) in [
        ("Origin", "https://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let res = browser
            .send(
                browser
                    .builder(Method::POST, "/logout")
                    .header(header, value)
                    .form(&[("csrf_token", token.as_str())]),
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{header}: {value}");
        assert!(browser.is_signed_in().await);
    }
}

async fn the_token_in_the_htmx_header_is_accepted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let token = browser.csrf_token("/settings/api-credentials").await;
    let res = browser
        .send(
            browser
                .builder(Method::POST, "/logout")
                .header("X-CSRF-Token", token)
                .header("Origin", app.address.clone())
                .header("Sec-Fetch-Site", "same-origin"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(!browser.is_signed_in().await);
}

async fn a_sign_in_without_the_token_is_refused_before_any_password_check(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    browser.csrf_token("/login").await;
    let res = browser
        .post_form(
            "/login",
            &[("email", &app.admin_email), ("password", &app.admin_password)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!browser.is_signed_in().await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users WHERE last_sign_in_at IS NOT NULL"),
        0
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM login_failures"), 0);
}

async fn switching_merchant_without_the_token_leaves_the_session_as_it_was(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = app.demo_merchant_id();
    let second = {
        let mut conn = app.db.get().unwrap();
        let name = keyward::domain::MerchantName::parse("Second Shop").unwrap();
        let merchant = keyward::db::merchants::create(&mut conn, &name, app.clock.now()).unwrap();
        let admin = keyward::db::users::find_by_email(
            &mut conn,
            &keyward::domain::Email::parse(&app.admin_email).unwrap(),
        )
        .unwrap()
        .unwrap();
        keyward::db::memberships::add(
            &mut conn,
            &admin.id,
            &merchant.id,
            keyward::domain::Role::Viewer,
            app.clock.now(),
        )
        .unwrap();
        merchant.id
    };
    let browser = app.signed_in_admin().await;
    let res = browser
        .post_form("/settings/merchant", &[("merchant_id", &second)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = browser.html("/settings/api-credentials").await;
    assert!(
        html.contains(&format!(
            r#"<option value="{first}" selected>Demo Merchant</option>"#
        )),
        "{html}"
    );
}

/// With `Referrer-Policy: no-referrer`, Chromium posts our own forms with `Origin: null`.
async fn a_browser_form_with_a_null_origin_and_the_token_is_accepted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let token = browser.csrf_token("/settings/api-credentials").await;
    let res = browser
        .send(
            browser
                .builder(Method::POST, "/logout")
                .header("Origin", "null")
                .header("Sec-Fetch-Site", "same-origin")
                .form(&[("csrf_token", token.as_str())]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(!browser.is_signed_in().await);
}

/// Posts the sign-in form with the admin's right password and `token`.
async fn sign_in(app: &TestApp, browser: &Browser, token: &str) -> reqwest::Response {
    browser
        .post_form(
            "/login",
            &[
                ("email", app.admin_email.as_str()),
                ("password", app.admin_password.as_str()),
                ("csrf_token", token),
            ],
        )
        .await
}

/// The sign-in form stores no session: its token is checked against a signed cookie of
/// its own, which can be neither left out, nor swapped for another visitor's, nor made up.
async fn a_sign_in_needs_the_token_of_its_own_signed_cookie(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let visitor = app.browser();
    let token = visitor.csrf_token("/login").await;
    let cookie = visitor.cookie(VISITOR_COOKIE).expect("the form sets its cookie");

    // No cookie.
    visitor.set_cookie(VISITOR_COOKIE, None);
    assert_eq!(
        sign_in(&app, &visitor, &token).await.status(),
        StatusCode::FORBIDDEN
    );
    // Its value altered: the signature no longer holds.
    let mut forged = cookie.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    visitor.set_cookie(VISITOR_COOKIE, Some(forged));
    assert_eq!(
        sign_in(&app, &visitor, &token).await.status(),
        StatusCode::FORBIDDEN
    );
    // Made up from the token alone.
    visitor.set_cookie(VISITOR_COOKIE, Some(token.clone()));
    assert_eq!(
        sign_in(&app, &visitor, &token).await.status(),
        StatusCode::FORBIDDEN
    );
    // Another visitor's genuine cookie with this form's token.
    let other = app.browser();
    let other_token = other.csrf_token("/login").await;
    assert_ne!(other_token, token);
    visitor.set_cookie(VISITOR_COOKIE, other.cookie(VISITOR_COOKIE));
    assert_eq!(
        sign_in(&app, &visitor, &token).await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(!visitor.is_signed_in().await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM login_failures"),
        0,
        "no password was checked"
    );

    // Its own cookie and token, kept across several forms (tabs): signed in.
    visitor.set_cookie(VISITOR_COOKIE, Some(cookie.clone()));
    assert_eq!(visitor.csrf_token("/login").await, token, "one token per browser");
    assert_eq!(
        sign_in(&app, &visitor, &token).await.status(),
        StatusCode::SEE_OTHER
    );
    assert!(visitor.is_signed_in().await);
}

/// What a browser that keeps no `Secure` cookie over plain HTTP does: opens the sign-in
/// page on `host` (with `headers`) and sends the form without the cookie it was given.
/// Returns the page's `Set-Cookie` and the answer to the form.
async fn sign_in_dropping_the_cookie(
    app: &TestApp,
    host: &str,
    headers: &[(&str, &str)],
) -> (String, reqwest::Response) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = format!("{}/login", app.address);
    let with_headers = |mut request: reqwest::RequestBuilder| {
        request = request.header("Host", host);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };
    let page = with_headers(client.get(&login)).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = csrf_token_in(&page.text().await.unwrap()).expect("a sign-in form");
    let res = with_headers(client.post(&login))
        .form(&[
            ("email", app.admin_email.as_str()),
            ("password", app.admin_password.as_str()),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    (cookie, res)
}

const NOT_KEPT: &str = "Your browser did not keep the sign-in cookie: open Keyward over HTTPS.";
const EXPIRED: &str = "This form has expired";

async fn a_sign_in_over_plain_http_on_a_network_name_says_the_browser_did_not_keep_the_cookie(
    backend: Backend,
) {
    let Some(app) = spawn_app_with(backend, |settings| {
        settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let port = app.address.rsplit(':').next().unwrap();

    // Over plain HTTP on a name that is not loopback, browsers refuse the Secure cookie.
    let (cookie, res) = sign_in_dropping_the_cookie(&app, &format!("keyward.test:{port}"), &[]).await;
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let page = res.text().await.unwrap();
    assert!(page.contains(NOT_KEPT), "{page}");
    assert!(page.contains("KEYWARD_INSECURE_COOKIES"), "{page}");
    assert!(!page.contains(EXPIRED), "{page}");
    assert!(logs().contains("refused a sign-in form sent without its cookie over plain HTTP"));

    // On loopback, and over HTTPS through a trusted proxy, the cookie was kept: one
    // missing has expired (or never was), as before.
    let https = [("X-Forwarded-Proto", "https")];
    for (host, headers) in [
        (format!("127.0.0.1:{port}"), &[][..]),
        (format!("localhost:{port}"), &[][..]),
        ("keys.example.com".to_owned(), &https[..]),
    ] {
        let (_, res) = sign_in_dropping_the_cookie(&app, &host, headers).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{host}");
        let page = res.text().await.unwrap();
        assert!(page.contains(EXPIRED), "{host}: {page}");
        assert!(!page.contains(NOT_KEPT), "{host}: {page}");
    }
}

async fn with_insecure_cookies_a_plain_http_dashboard_signs_in_and_every_start_warns(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |settings| settings.insecure_cookies = true).await else {
        return;
    };
    assert!(logs().contains("KEYWARD_INSECURE_COOKIES is on"));
    let port = app.address.rsplit(':').next().unwrap();
    let host = format!("keyward.test:{port}");

    // The cookies carry no Secure, so a browser keeps them over plain HTTP and signs in.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("Host", host.parse().unwrap());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    let browser = Browser::with_client(&app.address, http);
    let page = browser.get("/login").await;
    let form_cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!form_cookie.contains("Secure"), "{form_cookie}");
    let res = browser.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session_cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(session_cookie.starts_with("keyward_session="), "{session_cookie}");
    assert!(!session_cookie.contains("Secure"), "{session_cookie}");
    assert!(browser.is_signed_in().await);

    // A form that lost its cookie here has expired: HTTPS would not help.
    let (_, res) = sign_in_dropping_the_cookie(&app, &host, &[]).await;
    let page = res.text().await.unwrap();
    assert!(page.contains(EXPIRED), "{page}");
}
