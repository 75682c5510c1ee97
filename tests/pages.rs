use keyward::domain::Role;
use reqwest::StatusCode;

use crate::db_test;
use crate::support::{Backend, CSP, csrf_token_in, location, raw_get, spawn_app};

db_test!(
    every_html_response_carries_the_security_headers,
    the_session_cookie_is_http_only_secure_lax_and_site_wide,
    the_sign_in_forms_csrf_cookie_is_http_only_secure_lax_and_site_wide,
    the_profile_menu_leads_to_settings_and_api_credentials,
    anonymous_visitors_are_sent_to_sign_in,
    unknown_paths_get_a_404_page_and_api_paths_a_json_404,
    a_get_on_a_change_route_is_405_in_the_layout,
    a_user_in_two_merchants_can_switch_between_them,
    switching_to_a_merchant_one_does_not_belong_to_is_not_found,
    names_are_escaped_in_the_shell,
    static_assets_are_served_by_exact_name_only,
);

fn assert_security_headers(res: &reqwest::Response) {
    let headers = res.headers();
    assert_eq!(headers["content-security-policy"], CSP, "{}", res.url());
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

async fn every_html_response_carries_the_security_headers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let anonymous = app.browser();
    for path in ["/login", "/does-not-exist"] {
        let res = anonymous.get(path).await;
        assert_security_headers(&res);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    let browser = app.signed_in_admin().await;
    let res = browser.get("/settings/api-credentials").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_security_headers(&res);
    let refused = browser.post_form("/logout", &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_security_headers(&refused);
    let redirect = app.browser().get("/").await;
    assert_eq!(redirect.status(), StatusCode::SEE_OTHER);
    assert_security_headers(&redirect);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline script or style"
    );
}

async fn the_session_cookie_is_http_only_secure_lax_and_site_wide(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    let token = browser.csrf_token("/login").await;
    let res = browser
        .post_form(
            "/login",
            &[
                ("email", &app.admin_email),
                ("password", &app.admin_password),
                ("csrf_token", &token),
            ],
        )
        .await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("keyward_session="), "{cookie}");
    assert_cookie_flags(&cookie);
}

fn assert_cookie_flags(cookie: &str) {
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.split("; ").any(|part| part == flag),
            "{flag} missing from {cookie}"
        );
    }
}

async fn the_sign_in_forms_csrf_cookie_is_http_only_secure_lax_and_site_wide(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let res = app.browser().get("/login").await;
    let cookies: Vec<&str> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 1, "only the CSRF cookie, no session: {cookies:?}");
    assert!(cookies[0].starts_with("keyward_csrf="), "{cookies:?}");
    assert_cookie_flags(cookies[0]);
}

async fn the_profile_menu_leads_to_settings_and_api_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let html = browser.html("/settings/api-credentials").await;
    let menu_start = html
        .find(r#"<details class="profile-menu">"#)
        .expect("a profile menu");
    let menu = &html[menu_start..html[menu_start..].find("</details>").unwrap() + menu_start];
    assert!(menu.contains(r#"<span class="user-name">Admin</span>"#), "{menu}");
    assert!(menu.contains(r#"<a href="/settings">Settings</a>"#), "{menu}");
    assert!(
        menu.contains(r#"<button type="submit">Sign out</button>"#),
        "{menu}"
    );
    assert!(csrf_token_in(menu).is_some(), "Sign out carries the CSRF token");

    let res = browser.get("/settings").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/settings/api-credentials");
    let settings = browser.html("/settings/api-credentials").await;
    assert!(settings.contains("<h3>Merchant</h3>"));
    assert!(
        settings.contains(r#"<a href="/settings/api-credentials" aria-current="page">API Credentials</a>"#)
    );
}

async fn anonymous_visitors_are_sent_to_sign_in(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    for path in ["/", "/settings", "/settings/api-credentials"] {
        let res = browser.get(path).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), "/login", "{path}");
    }
    let res = browser.get("/login").await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn unknown_paths_get_a_404_page_and_api_paths_a_json_404(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    let res = browser.get("/no/such/page").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Page not found") && html.contains("/static/app.css"),
        "{html}"
    );

    let res = browser.get("/api/v1/nothing-here").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].is_string());
}

async fn a_get_on_a_change_route_is_405_in_the_layout(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    for path in ["/logout", "/settings/merchant"] {
        let res = browser.get(path).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_security_headers(&res);
        assert!(res.text().await.unwrap().contains("Method not allowed"));
    }
    assert!(browser.is_signed_in().await, "a GET on /logout signs nobody out");
}

async fn a_user_in_two_merchants_can_switch_between_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let demo = app.demo_merchant_id();
    let user_id = app.create_member("multi@example.com", "multi password", &demo, Role::Viewer);
    let other = {
        let mut conn = app.db.get().unwrap();
        let name = keyward::domain::MerchantName::parse("Acme Outdoor").unwrap();
        let merchant = keyward::db::merchants::create(&mut conn, &name, app.clock.now()).unwrap();
        keyward::db::memberships::add(&mut conn, &user_id, &merchant.id, Role::Admin, app.clock.now())
            .unwrap();
        merchant.id
    };
    let browser = app.browser();
    browser.sign_in("multi@example.com", "multi password").await;
    let html = browser.html("/settings/api-credentials").await;
    // Merchants are listed by name; the first is the one worked in after sign-in.
    assert!(
        html.contains(&format!(
            r#"<option value="{other}" selected>Acme Outdoor</option>"#
        )),
        "{html}"
    );
    let token = csrf_token_in(&html).unwrap();
    let res = browser
        .post_form(
            "/settings/merchant",
            &[("merchant_id", &demo), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = browser.html("/settings/api-credentials").await;
    assert!(
        html.contains(&format!(
            r#"<option value="{demo}" selected>Demo Merchant</option>"#
        )),
        "{html}"
    );
    assert!(
        html.contains("Viewer · Demo Merchant"),
        "the role shown is the one in this merchant"
    );
}

async fn switching_to_a_merchant_one_does_not_belong_to_is_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let stranger = {
        let mut conn = app.db.get().unwrap();
        let name = keyward::domain::MerchantName::parse("Somebody Else").unwrap();
        keyward::db::merchants::create(&mut conn, &name, app.clock.now())
            .unwrap()
            .id
    };
    let browser = app.signed_in_admin().await;
    let token = browser.csrf_token("/settings/api-credentials").await;
    for merchant_id in [stranger.as_str(), "not-a-merchant"] {
        let res = browser
            .post_form(
                "/settings/merchant",
                &[("merchant_id", merchant_id), ("csrf_token", &token)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{merchant_id}");
    }
    let html = browser.html("/settings/api-credentials").await;
    assert!(!html.contains("Somebody Else"));
}

async fn names_are_escaped_in_the_shell(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.execute(r#"UPDATE users SET name = '<script>alert(1)</script>"}' "#);
    let browser = app.signed_in_admin().await;
    let html = browser.html("/settings/api-credentials").await;
    assert!(!html.contains("<script>alert(1)</script>"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#34;}"),
        "{html}"
    );
}

async fn static_assets_are_served_by_exact_name_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    let res = browser.get("/static/htmx-2.0.11.min.js").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2FCargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "/static/.env",
        "/static/",
    ] {
        // Sent byte for byte: an HTTP client would resolve the dots before sending.
        let (status, body) = raw_get(&app.address, path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!body.contains("[package]"), "{path}");
    }
}
