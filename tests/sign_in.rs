use keyward::domain::Role;
use reqwest::StatusCode;

use crate::db_test;
use crate::helpers::{Backend, Browser, location, spawn_app};

db_test!(
    the_first_admin_signs_in_and_lands_on_api_credentials,
    a_wrong_password_gets_the_generic_error_and_no_session,
    an_unknown_email_gets_the_same_generic_error,
    a_disabled_user_cannot_sign_in_even_with_the_right_password,
    five_failures_for_an_account_lock_it_for_fifteen_minutes,
    five_failures_for_an_account_lock_it_from_every_address,
    twenty_parallel_guesses_get_at_most_five_password_checks,
    five_failures_from_one_address_lock_every_account_from_it,
    signing_in_renews_the_session_cookie,
    a_member_of_no_merchant_is_told_so_after_the_right_password,
    emails_are_matched_regardless_of_case_and_spaces,
);

async fn the_first_admin_signs_in_and_lands_on_api_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    let res = browser.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/settings/api-credentials");

    let home = browser.get("/").await;
    assert_eq!(location(&home), "/settings/api-credentials");
    let page = browser.get("/settings/api-credentials").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>API Credentials</h1>"), "{html}");
    assert!(html.contains("No Active API Key Generated"));
    assert!(html.contains("Demo Merchant"));
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users WHERE last_sign_in_at IS NOT NULL"),
        1,
        "the sign-in is recorded"
    );
}

async fn assert_generic_failure(res: reqwest::Response) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.unwrap();
    assert!(html.contains("Incorrect email or password."), "{html}");
}

async fn a_wrong_password_gets_the_generic_error_and_no_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    assert_generic_failure(browser.sign_in(&app.admin_email, "not the password").await).await;
    assert!(!browser.is_signed_in().await);
    assert_generic_failure(browser.sign_in(&app.admin_email, "").await).await;
    assert!(!browser.is_signed_in().await);
}

async fn an_unknown_email_gets_the_same_generic_error(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    assert_generic_failure(browser.sign_in("nobody@example.com", &app.admin_password).await).await;
    assert_generic_failure(browser.sign_in("not an email", "whatever").await).await;
    assert!(!browser.is_signed_in().await);
}

async fn a_disabled_user_cannot_sign_in_even_with_the_right_password(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = keyward::domain::Email::parse(&app.admin_email).unwrap();
    keyward::db::users::disable(&mut app.db.get().unwrap(), &email, app.clock.now()).unwrap();
    let browser = app.browser();
    assert_generic_failure(browser.sign_in(&app.admin_email, &app.admin_password).await).await;
    assert!(!browser.is_signed_in().await);
}

async fn five_failures_for_an_account_lock_it_for_fifteen_minutes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    for _ in 0..5 {
        assert_generic_failure(browser.sign_in(&app.admin_email, "wrong password").await).await;
    }
    // Locked: even the right password is refused, and says when to come back.
    let res = browser.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "Retry-After {retry_after}");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Too many failed sign-in attempts. Try again in 15 minutes"),
        "{html}"
    );
    assert!(!browser.is_signed_in().await);

    app.clock
        .advance(time::Duration::minutes(15) + time::Duration::seconds(1));
    let res = browser.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the lock lifts after the window"
    );
}

async fn five_failures_from_one_address_lock_every_account_from_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    for i in 0..5 {
        let email = format!("guess{i}@example.com");
        assert_generic_failure(browser.sign_in(&email, "wrong password").await).await;
    }
    let res = browser.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!browser.is_signed_in().await);
}

async fn signing_in_renews_the_session_cookie(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    browser.csrf_token("/login").await;
    let before = browser
        .session_cookie()
        .expect("the sign-in form starts a session");
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
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let after = browser.session_cookie().expect("a signed-in session");
    assert_ne!(before, after, "the session key changes at sign-in");
    assert!(browser.is_signed_in().await);

    // The key from before sign-in is worth nothing: it was deleted, not upgraded.
    let planted = app.browser();
    planted.set_session_cookie(Some(before));
    assert!(!planted.is_signed_in().await);
}

async fn a_member_of_no_merchant_is_told_so_after_the_right_password(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant = app.demo_merchant_id();
    let user_id = app.create_member("ana@example.com", "ana's password!", &merchant, Role::Developer);
    keyward::db::memberships::remove(&mut app.db.get().unwrap(), &user_id, &merchant).unwrap();
    let browser = app.browser();
    let res = browser.sign_in("ana@example.com", "ana's password!").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("not a member of any merchant"));
    assert!(!browser.is_signed_in().await);
}

async fn emails_are_matched_regardless_of_case_and_spaces(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    let res = browser.sign_in("  ADMIN@Example.com ", &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(browser.is_signed_in().await);
}

async fn five_failures_for_an_account_lock_it_from_every_address(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = Browser::from(&app.address, "127.0.0.2");
    for _ in 0..5 {
        assert_generic_failure(first.sign_in(&app.admin_email, "wrong password").await).await;
    }
    // Another address is not locked for other accounts…
    let second = Browser::from(&app.address, "127.0.0.3");
    assert_generic_failure(second.sign_in("someone@example.com", "wrong password").await).await;
    // …but the account is locked from it too, even with the right password.
    let res = second.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!second.is_signed_in().await);
}

async fn twenty_parallel_guesses_get_at_most_five_password_checks(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut browsers = Vec::new();
    for _ in 0..20 {
        let browser = app.browser();
        let token = browser.csrf_token("/login").await;
        browsers.push((browser, token));
    }
    let attempts = browsers.iter().map(|(browser, token)| async {
        browser
            .post_form(
                "/login",
                &[
                    ("email", app.admin_email.as_str()),
                    ("password", "wrong password"),
                    ("csrf_token", token),
                ],
            )
            .await
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .iter()
        .map(|res| res.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 20, "{statuses:?}");
    assert!(
        (1..=5).contains(&checked),
        "{checked} passwords were checked: {statuses:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM login_failures"),
        i64::try_from(checked).unwrap()
    );
}
