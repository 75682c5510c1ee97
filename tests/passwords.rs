//! The rules for a new password, wherever one is chosen: long enough, not the account's
//! email, and not easy to guess by the strength estimator, each refusal saying why.

use keyward::domain::Role;
use reqwest::StatusCode;

use crate::db_test;
use crate::support::{Backend, Browser, csrf_token_in, spawn_app};

db_test!(
    weak_common_or_email_passwords_are_refused_on_change_password_saying_why,
    an_account_on_its_one_time_password_cannot_choose_a_weak_one_either,
);

const PASSWORD_PAGE: &str = "/account/password";

/// The weak passwords every place that sets one must refuse, and what the refusal says.
const WEAK: [(&str, &str); 4] = [
    ("password1234", "This is a very common password."),
    ("zxcvbnm,./asdfg", "Straight rows of keys are easy to guess."),
    (
        "abcdefghijklmnop",
        "Sequences like abc or 6543 are easy to guess.",
    ),
    ("iloveyou2026", "This is similar to a commonly used password."),
];

/// Posts Change password with `new` (and `current`, when one is asked for).
async fn choose(browser: &Browser, current: Option<&str>, new: &str) -> (StatusCode, String) {
    let token = csrf_token_in(&browser.html(PASSWORD_PAGE).await).unwrap();
    let mut fields = vec![
        ("csrf_token", token.as_str()),
        ("new_password", new),
        ("confirm_password", new),
    ];
    if let Some(current) = current {
        fields.push(("current_password", current));
    }
    let res = browser.post_form(PASSWORD_PAGE, &fields).await;
    (res.status(), res.text().await.unwrap())
}

async fn weak_common_or_email_passwords_are_refused_on_change_password_saying_why(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = app.signed_in_admin().await;
    let current = Some(app.admin_password.as_str());
    for (weak, why) in WEAK {
        let (status, html) = choose(&browser, current, weak).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert!(html.contains("Password is too easy to guess."), "{weak}: {html}");
        assert!(html.contains(why), "{weak}: {why} not in {html}");
    }
    let (status, html) = choose(&browser, current, "ADMIN@example.com").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("Password is not valid: it must not be your email address."),
        "{html}"
    );
    assert_eq!(
        app.browser()
            .sign_in(&app.admin_email, &app.admin_password)
            .await
            .status(),
        StatusCode::SEE_OTHER,
        "the password did not change"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM login_failures"),
        0,
        "a refused new password checks no current password"
    );
}

async fn an_account_on_its_one_time_password_cannot_choose_a_weak_one_either(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let one_time = "kV83nQz1LmP0xR7tYw2aBc9D";
    app.create_member(
        "dana@example.com",
        one_time,
        &app.demo_merchant_id(),
        Role::Developer,
    );
    app.execute("UPDATE users SET password_change_required = TRUE");
    let browser = app.browser();
    assert_eq!(
        browser.sign_in("dana@example.com", one_time).await.status(),
        StatusCode::SEE_OTHER
    );
    for (weak, why) in WEAK {
        let (status, html) = choose(&browser, None, weak).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert!(html.contains(why), "{weak}: {why} not in {html}");
    }
    let (status, html) = choose(&browser, None, "dana@example.com").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("it must not be your email address"), "{html}");
    let (status, _) = choose(&browser, None, "dana's own password").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "a strong one is taken");
}
