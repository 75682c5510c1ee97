//! The dashboard over plain HTTP on a name that is not loopback (`keyward.test`, which
//! the browser resolves to 127.0.0.1), as on a private network without TLS: chromium
//! refuses Keyward's Secure cookies there, so signing in says to open Keyward over
//! HTTPS instead of "This form has expired"; with `KEYWARD_INSECURE_COOKIES` it signs in.

use thirtyfour::prelude::*;

use super::chrome::{Chrome, Javascript};
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::{Backend, TestApp, spawn_app_with};

/// A browser on `http://keyward.test:PORT` for `app`; `None` when chromium is missing.
async fn on_a_network_name<'a>(app: &'a TestApp, test: &'static str) -> Option<Person<'a>> {
    let port = app.address.rsplit(':').next().unwrap();
    let chrome = Chrome::start(
        test,
        app.backend(),
        &format!("http://keyward.test:{port}"),
        Javascript::On,
    )
    .await?;
    Some(Person { chrome, app })
}

pub async fn over_plain_http_on_a_network_name_signing_in_says_to_use_https_unless_cookies_are_insecure(
    backend: Backend,
) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let Some(mut ana) = on_a_network_name(&app, "plain_http").await else {
        return;
    };
    ana.chrome.open("/").await;
    ana.find(By::Id("email"))
        .await
        .send_keys(&app.admin_email)
        .await
        .unwrap();
    ana.find(By::Id("password"))
        .await
        .send_keys(&app.admin_password)
        .await
        .unwrap();
    let button = ana.control(None, "Sign in").await;
    ana.chrome.expect_failed_request(403);
    ana.click_through(&button).await;
    ana.sees("Your browser did not keep the sign-in cookie: open Keyward over HTTPS.")
        .await;
    assert!(!ana.page_text().await.contains("This form has expired"));
    ana.chrome.screen("cookie-not-kept").await;
    ana.chrome.finish().await;

    // A deployment that chose plain HTTP on its private network signs in.
    let Some(insecure) = spawn_app_with(backend, |settings| settings.insecure_cookies = true).await else {
        return;
    };
    let Some(mut ana) = on_a_network_name(&insecure, "plain_http_insecure_cookies").await else {
        return;
    };
    ana.sign_in().await;
    ana.open_api_credentials().await;
    ana.chrome.finish().await;
}
