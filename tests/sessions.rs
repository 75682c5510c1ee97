use keyward::domain::Role;
use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::{Backend, location, spawn_app};

db_test!(
    signing_out_ends_the_session_and_a_replayed_cookie_is_anonymous,
    a_session_idle_for_thirty_minutes_is_signed_out,
    an_active_session_ends_twelve_hours_after_sign_in,
    disabling_a_user_ends_their_session_on_the_next_request,
    removing_a_membership_ends_the_session_on_the_next_request,
    losing_one_of_two_merchants_moves_the_session_to_the_other,
    a_tampered_cookie_is_anonymous_not_an_error,
    sessions_are_stored_as_digests_not_cookie_values,
    htmx_requests_without_a_session_are_sent_to_sign_in,
    a_thousand_anonymous_page_views_store_no_session_and_sign_in_still_works,
);

async fn signing_out_ends_the_session_and_a_replayed_cookie_is_anonymous(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let cookie = browser.session_cookie().unwrap();
    let token = browser.csrf_token("/settings/api-credentials").await;
    let res = browser.post_form("/logout", &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    assert_eq!(browser.session_cookie(), None, "the cookie is removed");
    assert!(!browser.is_signed_in().await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        0
    );

    let replay = app.browser();
    replay.set_session_cookie(Some(cookie));
    assert!(!replay.is_signed_in().await, "a replayed cookie signs nobody in");
}

async fn a_session_idle_for_thirty_minutes_is_signed_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    app.clock.advance(Duration::minutes(29));
    assert!(browser.is_signed_in().await, "29 idle minutes keep the session");
    app.clock.advance(Duration::minutes(29));
    assert!(
        browser.is_signed_in().await,
        "each request restarts the idle timeout"
    );
    app.clock.advance(Duration::minutes(31));
    assert!(!browser.is_signed_in().await, "31 idle minutes end it");
}

async fn an_active_session_ends_twelve_hours_after_sign_in(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    for _ in 0..28 {
        app.clock.advance(Duration::minutes(25));
        assert!(browser.is_signed_in().await);
    }
    // 11 h 40 min so far; the next step crosses 12 hours.
    app.clock.advance(Duration::minutes(25));
    assert!(!browser.is_signed_in().await);
}

async fn disabling_a_user_ends_their_session_on_the_next_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let email = keyward::domain::Email::parse(&app.admin_email).unwrap();
    keyward::db::users::disable(&mut app.db.get().unwrap(), &email, app.clock.now()).unwrap();
    assert!(!browser.is_signed_in().await);
}

async fn removing_a_membership_ends_the_session_on_the_next_request(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let user_id = app.create_member("dev@example.com", "dev password 1", &merchant, Role::Developer);
    let browser = app.browser();
    assert_eq!(
        browser
            .sign_in("dev@example.com", "dev password 1")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(browser.is_signed_in().await);
    keyward::db::memberships::remove(&mut app.db.get().unwrap(), &user_id, &merchant).unwrap();
    assert!(!browser.is_signed_in().await);
    assert_eq!(
        browser.session_cookie(),
        None,
        "the session was purged, not just refused"
    );
}

async fn losing_one_of_two_merchants_moves_the_session_to_the_other(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let demo = app.demo_merchant_id();
    let user_id = app.create_member("dev@example.com", "dev password 1", &demo, Role::Developer);
    let other = app.create_merchant("Other Shop");
    keyward::db::memberships::add(
        &mut app.db.get().unwrap(),
        &user_id,
        &other,
        Role::Viewer,
        app.clock.now(),
    )
    .unwrap();
    let browser = app.browser();
    browser.sign_in("dev@example.com", "dev password 1").await;
    let token = browser.csrf_token("/settings/api-credentials").await;
    browser
        .post_form(
            "/settings/merchant",
            &[("csrf_token", &token), ("merchant_id", &demo)],
        )
        .await;
    assert!(
        browser
            .html("/settings/api-credentials")
            .await
            .contains("Demo Merchant")
    );
    keyward::db::memberships::remove(&mut app.db.get().unwrap(), &user_id, &demo).unwrap();
    let res = browser.get("/settings/api-credentials").await;
    assert_eq!(res.status(), StatusCode::OK, "still signed in");
    let page = res.text().await.unwrap();
    assert!(page.contains("Other Shop") && !page.contains("Demo Merchant"));
    assert!(!page.contains("Generate New API Key"), "with the role held there");
}

async fn a_tampered_cookie_is_anonymous_not_an_error(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let mut cookie = browser.session_cookie().unwrap();
    let last = cookie.pop().unwrap();
    cookie.push(if last == 'A' { 'B' } else { 'A' });
    browser.set_session_cookie(Some(cookie));
    assert!(!browser.is_signed_in().await);
    browser.set_session_cookie(Some("garbage".into()));
    assert!(!browser.is_signed_in().await);
}

async fn sessions_are_stored_as_digests_not_cookie_values(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.signed_in_admin().await;
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL"),
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE user_id IS NOT NULL AND LENGTH(id) = 64"),
        1,
        "the row is keyed by a SHA-256 hex digest"
    );
}

async fn htmx_requests_without_a_session_are_sent_to_sign_in(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    let res = browser
        .send(
            browser
                .builder(reqwest::Method::GET, "/settings/api-credentials")
                .header("HX-Request", "true"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["hx-redirect"], "/login");
}

async fn a_thousand_anonymous_page_views_store_no_session_and_sign_in_still_works(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let paths = [
        "/login",
        "/",
        "/settings/api-credentials",
        "/account/password",
        "/no-such-page",
    ];
    let returning = app.browser();
    for i in 0..1000 {
        let path = paths[i % paths.len()];
        // Half from one browser that keeps its cookies, half from new ones with none.
        let res = if i % 2 == 0 {
            returning.get(path).await
        } else {
            app.browser().get(path).await
        };
        assert!(
            [StatusCode::OK, StatusCode::SEE_OTHER, StatusCode::NOT_FOUND].contains(&res.status()),
            "{}",
            res.status()
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions"),
        0,
        "no row for a visitor"
    );

    let browser = app.browser();
    let res = browser.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "sign-in with its CSRF token works"
    );
    assert!(browser.is_signed_in().await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions"),
        1,
        "the signed-in session"
    );
}
