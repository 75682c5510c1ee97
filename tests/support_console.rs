//! The support console: support staff find any merchant's key from what the merchant
//! reads out, see its whole history, and change nothing.

use keyward::domain::{ApiKey, Role};
use reqwest::StatusCode;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, Browser, TestApp, USER_AGENT, csrf_token_in, location, spawn_app};

db_test!(
    support_finds_a_key_from_the_four_characters_a_merchant_reads_out,
    only_a_form_with_the_token_switches_the_merchant_support_is_viewing,
    support_sees_everything_read_only_and_every_change_is_refused_and_recorded,
    only_support_staff_open_the_console,
    the_console_refuses_bad_searches_cleanly,
);

async fn support(app: &TestApp) -> Browser {
    app.create_support("sam@support.example", "support password");
    let browser = app.browser();
    let res = browser.sign_in("sam@support.example", "support password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    browser
}

/// Opens a merchant from its overview, as the button there does.
async fn open(browser: &Browser, merchant_id: &str) {
    let overview = format!("/support/merchants/{merchant_id}");
    let token = csrf_token_in(&text(browser, &overview).await).unwrap();
    let res = browser.post_form(&overview, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "opening {merchant_id}");
    assert_eq!(location(&res), overview);
}

/// The merchant the support banner names on API Credentials.
async fn viewed(browser: &Browser) -> String {
    let page = text(browser, LIST).await;
    let start = page
        .find("you are looking at <strong>")
        .expect("the support banner")
        + 27;
    let end = page[start..].find("</strong>").unwrap() + start;
    page[start..end].to_owned()
}

async fn only_a_form_with_the_token_switches_the_merchant_support_is_viewing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let demo = app.demo_merchant_id();
    let rival = app.create_merchant("Rival");
    let rival_key = keyward::service::keys::generate(
        &mut app.db.get().unwrap(),
        &rival,
        &keyward::service::keys::GenerateRequest {
            name: "Rival key".to_owned(),
            expires: "never".to_owned(),
            ..Default::default()
        },
        &keyward::domain::Actor::cli(),
        &keyward::startup::key_pepper(&crate::support::test_secret()),
        app.clock.now(),
    )
    .unwrap()
    .row
    .id;
    let browser = support(&app).await;
    open(&browser, &demo).await;
    assert_eq!(viewed(&browser).await, "Demo Merchant");

    // Links another site can make (a GET of the overview or of a key) only look.
    let overview = text(&browser, &format!("/support/merchants/{rival}")).await;
    assert!(overview.contains("Open Rival"), "{overview}");
    let offer = text(&browser, &format!("/support/merchants/{rival}/keys/{rival_key}")).await;
    assert!(offer.contains("Open key"), "{offer}");
    assert_eq!(viewed(&browser).await, "Demo Merchant");

    // A POST without the session's token, or from another site, is refused.
    let res = browser
        .post_form(
            &format!("/support/merchants/{rival}"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let token = browser.csrf_token("/support").await;
    let res = browser
        .send(
            browser
                .builder(reqwest::Method::POST, &format!("/support/merchants/{rival}"))
                .header("Origin", "https://evil.example")
                .form(&[("csrf_token", token.as_str())]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(viewed(&browser).await, "Demo Merchant");

    open(&browser, &rival).await;
    assert_eq!(viewed(&browser).await, "Rival");
    // Opening a merchant is not a change support staff are refused or recorded for.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'change_refused'"),
        0
    );
}

async fn text(browser: &Browser, path: &str) -> String {
    let res = browser.get(path).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    res.text().await.unwrap()
}

fn search(q: &str) -> String {
    format!("/support?{}", serde_urlencoded::to_string([("q", q)]).unwrap())
}

async fn support_finds_a_key_from_the_four_characters_a_merchant_reads_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let plaintext = admin.generate_ok("Checkout").await;
    let key = admin.key_named("Checkout");
    admin.generate_ok("Warehouse").await;
    let masked = ApiKey::parse(&plaintext).unwrap().masked();
    let last_four: String = masked
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let head: String = masked.chars().take(12).collect();
    let browser = support(&app).await;

    // Signed in, support staff land on the console.
    let res = browser.get(LIST).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/support");

    for q in [
        last_four.clone(),
        format!("{head}…"),
        format!("{head}...{last_four}"),
        key.id.to_string(),
    ] {
        let page = text(&browser, &search(&q)).await;
        assert!(page.contains(&masked), "{q} finds the key");
        assert!(page.contains("Demo Merchant"), "{q} names the merchant");
        assert!(
            page.contains(&format!("/support/merchants/{}/keys/{}", key.merchant_id, key.id)),
            "{q} links to the key"
        );
        assert!(!page.contains("Warehouse"), "{q} finds only the matching key");
    }
    // The wrong letter case is another key.
    let wrong_case = if last_four.to_lowercase() == last_four {
        last_four.to_uppercase()
    } else {
        last_four.to_lowercase()
    };
    if wrong_case != last_four {
        assert!(!text(&browser, &search(&wrong_case)).await.contains(&masked));
    }
    // A whole key pasted by mistake leaves the address bar at once for its masked
    // form, finds its key, and is never shown back.
    let res = browser.get(&search(&plaintext)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), search(&masked));
    let page = text(&browser, &search(&masked)).await;
    assert!(page.contains(&masked) && page.contains(key.id.as_str()));
    assert!(!page.contains(&plaintext));
    // Only the end, as read out with the prefix.
    let page = text(&browser, &search(&format!("kw_live_…{last_four}"))).await;
    assert!(page.contains(&masked));
    // Merchants by name in any case and by ID.
    let merchant_id = app.demo_merchant_id();
    for q in ["demo merch", merchant_id.as_str()] {
        let page = text(&browser, &search(q)).await;
        assert!(page.contains(&format!("/support/merchants/{merchant_id}")), "{q}");
    }
    assert!(
        text(&browser, &search("no such merchant"))
            .await
            .contains("Nothing found")
    );

    // The link shows the merchant, offering to open it on the key; opening it (a form
    // with the session's token) lands on the key page, with its history.
    let link = format!("/support/merchants/{merchant_id}/keys/{}", key.id);
    let offer = text(&browser, &link).await;
    assert!(offer.contains(&format!(r#"action="{link}""#)), "{offer}");
    assert!(offer.contains(&masked));
    let token = csrf_token_in(&offer).unwrap();
    let res = browser.post_form(&link, &[("csrf_token", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("{LIST}/{}", key.id));
    // Once the merchant is open, the link goes straight to the key page.
    let res = browser.get(&link).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("{LIST}/{}", key.id));
    let page = text(&browser, &format!("{LIST}/{}", key.id)).await;
    assert!(page.contains("Support view, read only"));
    assert!(page.contains("Created by Admin on"));
    assert!(page.contains(&masked));
    assert!(!page.contains(&plaintext));
    assert!(!page.contains(key.key_hash.as_str()));
    // A key of another merchant through this merchant's link is not found.
    let rival = app.create_merchant("Rival");
    assert_eq!(
        browser
            .get(&format!("/support/merchants/{rival}/keys/{}", key.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn support_sees_everything_read_only_and_every_change_is_refused_and_recorded(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let live = admin.generate_key("Live").await;
    let gone = admin.generate_key("Gone").await;
    assert_eq!(
        admin.act(&gone.id, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        admin
            .act(&gone.id, "delete", &[("understood", "yes")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let merchant_id = app.demo_merchant_id();
    let browser = support(&app).await;
    let overview = text(&browser, &format!("/support/merchants/{merchant_id}")).await;
    assert!(overview.contains("Demo Merchant") && overview.contains(merchant_id.as_str()));
    assert!(
        overview.contains(&app.admin_email),
        "support sees whom to talk to"
    );
    open(&browser, &merchant_id).await;

    let list = text(&browser, LIST).await;
    assert!(list.contains("Support view, read only") && list.contains("Demo Merchant"));
    assert!(list.contains(&live.masked_key));
    for button in [
        "Generate New API Key",
        "Rotate Key",
        "Revoke Key",
        ">Disable<",
        ">Edit<",
        ">Delete<",
    ] {
        assert!(!list.contains(button), "support sees {button}");
    }
    // A deleted key stays readable, with its whole history.
    let page = text(&browser, &format!("{LIST}/{}", gone.id)).await;
    assert!(page.contains("Deleted by Admin on"));
    assert!(page.contains("Disabled by Admin on"));
    let log = text(&browser, "/settings/audit-log").await;
    assert!(log.contains("Deleted") && log.contains("Gone v1"));

    let before = admin.keys();
    let token = browser.csrf_token(LIST).await;
    let base = format!("{LIST}/{}", live.id);
    let member = app.create_member("dev@example.com", "dev password 1", &merchant_id, Role::Developer);
    let changes = [
        format!("/settings/members/{member}/role"),
        format!("/settings/members/{member}/disable"),
        format!("/settings/members/{member}/enable"),
        format!("/settings/members/{member}/remove"),
        LIST.to_owned(),
        format!("{base}/rotate"),
        format!("{base}/revoke"),
        format!("{base}/edit"),
        format!("{base}/delete"),
        format!("{base}/disable"),
        format!("{base}/enable"),
        format!("{base}/renew"),
        "/settings/key-policy".to_owned(),
        "/settings/members".to_owned(),
        "/settings/merchant".to_owned(),
    ];
    for path in &changes {
        let res = browser
            .post_form(
                path,
                &[
                    ("csrf_token", &token),
                    ("name", "x"),
                    ("confirm", "REVOKE"),
                    ("understood", "yes"),
                    ("grace", "now"),
                    ("preset", "single-key"),
                    ("merchant_id", &merchant_id),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path}");
        assert!(
            res.text().await.unwrap().contains("Read-only access"),
            "POST {path}"
        );
    }
    for path in [
        "/settings/api-credentials/new".to_owned(),
        format!("{base}/rotate"),
        format!("{base}/revoke"),
        format!("{base}/edit"),
        format!("{base}/duplicate"),
        format!("{base}/delete"),
        "/settings/key-policy".to_owned(),
        "/settings/members".to_owned(),
    ] {
        assert_eq!(
            browser.get(&path).await.status(),
            StatusCode::FORBIDDEN,
            "GET {path}"
        );
    }
    let after = admin.keys();
    assert_eq!(
        before
            .iter()
            .map(|k| (&k.id, &k.status, &k.name))
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|k| (&k.id, &k.status, &k.name))
            .collect::<Vec<_>>()
    );
    // Each refusal is in the merchant's history, on the key it named when it named one.
    let refused = app.count(
        "SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'change_refused' AND actor_type = 'support'",
    );
    assert_eq!(refused, i64::try_from(changes.len()).unwrap());
    let on_key = app.count(&format!(
        "SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'change_refused' AND key_id = '{}'",
        live.id
    ));
    assert_eq!(on_key, 7);
    let on_member = app.count(&format!(
        "SELECT COUNT(*) AS n FROM key_events WHERE event_type = 'change_refused' AND key_id IS NULL \
         AND details LIKE '%/settings/members/{member}/%' AND actor_name = 'Sam Support' \
         AND client_address = '127.0.0.1' AND user_agent = '{USER_AGENT}'"
    ));
    assert_eq!(
        on_member, 4,
        "each member route's refusal, with who, from where and with what"
    );
    let still = keyward::db::memberships::member(&mut app.db.get().unwrap(), &merchant_id, &member)
        .unwrap()
        .expect("still a member");
    assert_eq!((still.role, still.disabled_at), (Role::Developer, None));
    assert!(
        text(&browser, &format!("{LIST}/{}", live.id))
            .await
            .contains("Change refused")
    );
    // Nowhere a key's digest.
    for path in [LIST.to_owned(), "/settings/audit-log".to_owned(), base.clone()] {
        let page = text(&browser, &path).await;
        for key in &after {
            assert!(!page.contains(key.key_hash.as_str()), "{path} shows a digest");
        }
    }
    // Support staff may still sign out.
    let token = browser.csrf_token("/support").await;
    assert_eq!(
        browser
            .post_form("/logout", &[("csrf_token", &token)])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert!(!browser.is_signed_in().await);
}

async fn only_support_staff_open_the_console(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant_id = app.demo_merchant_id();
    let admin = app.signed_in_admin().await;
    let viewer = Dashboard::member(&app, "viewer@example.com", Role::Viewer).await;
    for browser in [&admin, &viewer.browser] {
        for path in [
            "/support".to_owned(),
            search("Demo"),
            format!("/support/merchants/{merchant_id}"),
        ] {
            assert_eq!(
                browser.get(&path).await.status(),
                StatusCode::FORBIDDEN,
                "GET {path}"
            );
        }
    }
    let anonymous = app.browser();
    let res = anonymous.get("/support").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
}

async fn the_console_refuses_bad_searches_cleanly(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let browser = support(&app).await;
    let res = browser.get(&search(&"x".repeat(201))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at most 200 characters"));
    let res = browser.get(&search("a\u{0}b")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for q in [
        "%",
        "_",
        "<script>alert(1)</script>",
        "kw_live_%…%",
        "\u{202e}evil",
    ] {
        let res = browser.get(&search(q)).await;
        assert_eq!(res.status(), StatusCode::OK, "{q}");
        let page = res.text().await.unwrap();
        assert!(!page.contains("<script>alert"), "{q} is escaped");
        assert!(page.contains("Nothing found"), "{q} matches nothing");
    }
    for path in [
        "/support/merchants/not-an-id",
        "/support/merchants/00000000-0000-0000-0000-000000000000",
        "/support/merchants/00000000-0000-0000-0000-000000000000/keys/also-not-an-id",
    ] {
        assert_eq!(browser.get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
