use keyward::domain::Role;
use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::{Backend, Browser, USER_AGENT, location, logs, spawn_app};

/// A password the strength rules accept, for the accounts these tests make.
const ANA_PASSWORD: &str = "ana's password!";
/// The admin's new password in the Change password tests.
const NEW_PASSWORD: &str = "a brand new password";

db_test!(
    the_first_admin_signs_in_and_lands_on_api_credentials,
    a_wrong_password_gets_the_generic_error_and_no_session,
    an_unknown_email_gets_the_same_generic_error,
    a_disabled_user_cannot_sign_in_even_with_the_right_password,
    five_failures_lock_an_account_for_five_minutes_then_its_right_password_works,
    five_failures_for_an_account_lock_it_from_every_address,
    twenty_parallel_guesses_get_at_most_five_password_checks,
    one_accounts_failures_do_not_block_another_account_from_the_same_address,
    fifty_failures_across_accounts_from_one_address_block_every_account_from_it,
    each_lock_is_recorded_in_the_audit_log_of_every_merchant_of_the_account_and_logged,
    an_unknown_email_is_locked_like_an_account_and_nothing_is_recorded,
    wrong_current_passwords_count_toward_the_lock_and_are_recorded,
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

async fn five_failures_lock_an_account_for_five_minutes_then_its_right_password_works(backend: Backend) {
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
    assert!((1..=300).contains(&retry_after), "Retry-After {retry_after}");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Too many failed sign-in attempts. Try again in 5 minutes"),
        "{html}"
    );
    assert!(!browser.is_signed_in().await);

    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let res = browser.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the right password works again once the short lock is over"
    );
}

async fn one_accounts_failures_do_not_block_another_account_from_the_same_address(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.create_member(
        "ana@example.com",
        ANA_PASSWORD,
        &app.demo_merchant_id(),
        Role::Developer,
    );
    let office = app.browser();
    for _ in 0..5 {
        assert_generic_failure(office.sign_in(&app.admin_email, "wrong password").await).await;
    }
    assert_eq!(
        office
            .sign_in(&app.admin_email, &app.admin_password)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account with the failures is locked"
    );
    let colleague = app.browser();
    assert_eq!(
        colleague.sign_in("ana@example.com", ANA_PASSWORD).await.status(),
        StatusCode::SEE_OTHER,
        "another account from the same address signs in"
    );
    assert!(colleague.is_signed_in().await);
}

async fn fifty_failures_across_accounts_from_one_address_block_every_account_from_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let spray = Browser::from(&app.address, "127.0.0.2");
    for i in 0..50 {
        let email = format!("guess{i}@example.com");
        assert_generic_failure(spray.sign_in(&email, "wrong password").await).await;
    }
    let res = spray.sign_in(&app.admin_email, &app.admin_password).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!spray.is_signed_in().await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM login_failures"),
        50,
        "a refused attempt is not a failure"
    );

    let elsewhere = Browser::from(&app.address, "127.0.0.3");
    assert_eq!(
        elsewhere
            .sign_in(&app.admin_email, &app.admin_password)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "other addresses are not held back"
    );
    app.clock.advance(Duration::minutes(15) + Duration::seconds(1));
    assert_eq!(
        spray
            .sign_in(&app.admin_email, &app.admin_password)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "the address opens once its failures leave the window"
    );
}

async fn each_lock_is_recorded_in_the_audit_log_of_every_merchant_of_the_account_and_logged(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let demo = app.demo_merchant_id();
    let ana = app.create_member("ana@example.com", ANA_PASSWORD, &demo, Role::Developer);
    let other = app.create_merchant("Other Shop");
    keyward::db::memberships::add(
        &mut app.db.get().unwrap(),
        &ana,
        &other,
        Role::Viewer,
        app.clock.now(),
    )
    .unwrap();
    let attacker = Browser::from(&app.address, "127.0.0.4");
    for _ in 0..5 {
        assert_generic_failure(attacker.sign_in("ana@example.com", "wrong password").await).await;
    }
    for merchant in [&demo, &other] {
        assert_eq!(
            app.count(&format!(
                "SELECT COUNT(*) AS n FROM key_events WHERE merchant_id = '{merchant}' \
                 AND event_type = 'sign_in_locked' AND actor_type = 'system' \
                 AND client_address = '127.0.0.4' AND user_agent = '{USER_AGENT}' \
                 AND details LIKE '%ana@example.com%'"
            )),
            1,
            "one lock event in {merchant}"
        );
    }
    let logged = logs();
    assert!(
        logged.lines().any(|line| line.contains("an account was locked")
            && line.contains(&ana)
            && line.contains("127.0.0.4")),
        "the lock is logged with the account and the address"
    );

    let admin = app.signed_in_admin().await;
    let html = admin.html("/settings/audit-log?type=sign_in_locked").await;
    assert!(html.contains("Sign-in locked"), "{html}");
    assert!(
        html.contains("Test User (ana@example.com) after 5 failed password checks; locked until"),
        "{html}"
    );
    assert!(html.contains("127.0.0.4"), "{html}");
}

async fn an_unknown_email_is_locked_like_an_account_and_nothing_is_recorded(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.browser();
    for _ in 0..5 {
        assert_generic_failure(browser.sign_in("nobody@example.com", "wrong password").await).await;
    }
    let res = browser.sign_in("nobody@example.com", "wrong password").await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked like an account, so the answer says nothing about who has one"
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sign_in_locks"), 1);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'sign_in_locked'"),
        0
    );
}

async fn wrong_current_passwords_count_toward_the_lock_and_are_recorded(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = app.signed_in_admin().await;
    let change = |current: String| {
        let admin = &admin;
        async move {
            let token = admin.csrf_token("/account/password").await;
            admin
                .post_form(
                    "/account/password",
                    &[
                        ("csrf_token", token.as_str()),
                        ("current_password", current.as_str()),
                        ("new_password", NEW_PASSWORD),
                        ("confirm_password", NEW_PASSWORD),
                    ],
                )
                .await
        }
    };
    for guess in 1..=5 {
        let res = change(format!("guess number {guess}")).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("Your current password is not correct.")
        );
    }
    let res = change(app.admin_password.clone()).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account is locked"
    );
    assert!(res.headers().contains_key("retry-after"));
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Too many wrong passwords. Try again in 5 minutes"),
        "{html}"
    );
    assert_eq!(
        app.browser()
            .sign_in(&app.admin_email, &app.admin_password)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the same lock holds for signing in"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'password_check_failed' \
             AND actor_type = 'user' AND client_address = '127.0.0.1'"
        ),
        5
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'sign_in_locked'"),
        1
    );
    let audit = admin.html("/settings/audit-log?type=password_check_failed").await;
    assert!(
        audit.contains("Password change refused (wrong current password)"),
        "{audit}"
    );

    app.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let res = change(app.admin_password.clone()).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the right one works after the lock"
    );
    assert_eq!(
        app.browser()
            .sign_in(&app.admin_email, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

async fn signing_in_renews_the_session_cookie(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let before = browser.session_cookie().expect("a signed-in session");
    // Signing in again over a live session (a planted cookie, a shared computer).
    let token = browser.csrf_token("/settings/api-credentials").await;
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
    let user_id = app.create_member("ana@example.com", ANA_PASSWORD, &merchant, Role::Developer);
    keyward::db::memberships::remove(&mut app.db.get().unwrap(), &user_id, &merchant).unwrap();
    let browser = app.browser();
    let res = browser.sign_in("ana@example.com", ANA_PASSWORD).await;
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
