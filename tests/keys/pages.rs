//! A key's own page for every reader, its actions exactly as the rules allow them, no
//! dead ends (a refused action's address says why and links back), and Disable asking
//! first.

use keyward::db::{key_policies, keys as key_rows};
use keyward::domain::{KeyId, KeyStatus, KeySurroundings, Role, allowed_actions};
use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, csrf_token_in, location, spawn_app};

db_test!(
    every_reader_reaches_each_key_page_from_api_credentials,
    the_key_page_offers_exactly_what_the_rules_allow_and_changes_return_to_it,
    a_rotated_versions_page_says_when_its_grace_period_ends,
    a_refused_actions_address_says_why_and_links_back,
    at_the_limit_generate_is_shown_disabled_with_the_reason,
    disable_asks_first_and_enable_does_not,
);

/// The key page's controls, by the address each opens or posts to.
const ACTIONS: [(&str, &str); 8] = [
    ("rotate", "Rotate Key"),
    ("revoke", "Revoke Key"),
    ("disable", "Disable"),
    ("enable", "Enable"),
    ("edit", "Edit"),
    ("renew", "Renew"),
    ("delete", "Delete"),
    ("duplicate", "Duplicate"),
];

async fn every_reader_reaches_each_key_page_from_api_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let admin = Dashboard::admin(&app).await;
    let live = admin.generate_key("Checkout").await;
    let old = admin.generate_key("Legacy").await;
    admin.act(&old.id, "revoke", &[("confirm", "REVOKE")]).await;
    let viewer = Dashboard::member(&app, "viewer@example.com", Role::Viewer).await;
    app.create_support("support@example.com", "support password 1");
    let support = app.browser();
    support.sign_in("support@example.com", "support password 1").await;
    let overview = format!("/support/merchants/{}", admin.merchant_id);
    let token = support.csrf_token(&overview).await;
    support.post_form(&overview, &[("csrf_token", &token)]).await;

    for (who, browser) in [
        ("admin", &admin.browser),
        ("viewer", &viewer.browser),
        ("support", &support),
    ] {
        let list = browser.html(LIST).await;
        for key in [&live, &old] {
            let page = format!("{LIST}/{}", key.id);
            assert!(
                list.contains(&format!(r#"href="{page}""#)),
                "{who} has no link from API Credentials to {}'s page",
                key.name
            );
            let res = browser.get(&page).await;
            assert_eq!(res.status(), StatusCode::OK, "{who} opens {}", key.name);
            let html = res.text().await.unwrap();
            assert!(html.contains("Developers corner") && html.contains(&key.masked_key));
            if who != "admin" {
                for (action, label) in ACTIONS {
                    assert!(
                        !html.contains(&format!("{}/{action}", key.id)),
                        "{who} is offered {label} on {}",
                        key.name
                    );
                }
            }
        }
    }
}

/// The action addresses the key page of `key_id` links or posts to.
async fn offered_on_page(dash: &Dashboard<'_>, key_id: &str) -> Vec<&'static str> {
    let html = dash.browser.html(&format!("{LIST}/{key_id}")).await;
    ACTIONS
        .iter()
        .filter(|(action, _)| html.contains(&format!("{LIST}/{key_id}/{action}?from=key\"")))
        .map(|(action, _)| *action)
        .collect()
}

/// What `allowed_actions` offers on `key_id` to an admin now.
fn allowed(dash: &Dashboard<'_>, key_id: &str) -> Vec<&'static str> {
    let mut conn = dash.app.db.get().unwrap();
    let now = dash.app.clock.now();
    let row = key_rows::find(&mut conn, &dash.merchant_id, &KeyId::parse(key_id).unwrap())
        .unwrap()
        .unwrap();
    let facts = row.facts();
    let policy = key_policies::get(&mut conn, &dash.merchant_id).unwrap();
    let allowed = allowed_actions(
        &facts,
        &KeySurroundings {
            lineage_in_grace: !facts.in_grace(now)
                && key_rows::lineage_in_grace(&mut conn, &row.lineage_id, now).unwrap(),
            active_keys: key_rows::count_active(
                &mut conn,
                &dash.merchant_id,
                keyward::domain::Environment::Live,
                now,
            )
            .unwrap(),
            policy: &policy,
            role: Role::Admin,
            now,
        },
    );
    let by_action = [
        ("rotate", allowed.rotate.is_ok()),
        ("revoke", allowed.revoke.is_ok()),
        ("disable", allowed.disable.is_ok()),
        ("enable", allowed.enable.is_ok()),
        ("edit", allowed.edit.is_ok()),
        ("renew", allowed.renew.is_ok()),
        ("delete", allowed.delete.is_ok()),
        ("duplicate", allowed.duplicate.is_ok()),
    ];
    by_action
        .into_iter()
        .filter(|(_, ok)| *ok)
        .map(|(action, _)| action)
        .collect()
}

async fn the_key_page_offers_exactly_what_the_rules_allow_and_changes_return_to_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    // The payments platform: Enabled → Disabled → Revoked, on the key's own page.
    dash.set_policy("strict-lifecycle").await;
    let key = dash.generate_key("Checkout").await;
    let html = dash.browser.html(&format!("{LIST}/{}", key.id)).await;
    let duplicate = html.find("Duplicate</a>").expect("Duplicate on the key page");
    assert!(
        duplicate < html.find("Developers corner").unwrap(),
        "Duplicate sits at the top of the page"
    );
    assert_eq!(
        offered_on_page(&dash, &key.id).await,
        ["rotate", "disable", "edit", "duplicate"]
    );
    assert_eq!(offered_on_page(&dash, &key.id).await, allowed(&dash, &key.id));

    // Review and update the key on its page: Save changes comes back to it.
    let edit = format!("{LIST}/{}/edit?from=key", key.id);
    let res = dash
        .submit(&edit, &edit, &[("name", "Checkout (web)"), ("description", "v2")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("{LIST}/{}", key.id));
    let page = dash.browser.html(location(&res)).await;
    assert!(page.contains("&#34;Checkout (web)&#34; was saved.") && page.contains("<h1>Checkout (web)</h1>"));

    // Disable from the page, then Revoke is offered there.
    let disable = format!("{LIST}/{}/disable?from=key", key.id);
    let res = dash.submit(&disable, &disable, &[]).await;
    assert_eq!(location(&res), format!("{LIST}/{}", key.id));
    assert_eq!(dash.row(&key.id).status, KeyStatus::Disabled);
    let offered = offered_on_page(&dash, &key.id).await;
    assert_eq!(offered, ["revoke", "enable", "edit", "delete", "duplicate"]);
    assert_eq!(offered, allowed(&dash, &key.id));
    let revoke = format!("{LIST}/{}/revoke?from=key", key.id);
    let res = dash.submit(&revoke, &revoke, &[("confirm", "REVOKE")]).await;
    assert_eq!(location(&res), format!("{LIST}/{}", key.id));
    let page = dash.browser.html(location(&res)).await;
    assert!(page.contains("was revoked") && page.contains("REVOKED"));
    assert_eq!(offered_on_page(&dash, &key.id).await, ["delete", "duplicate"]);
    assert_eq!(offered_on_page(&dash, &key.id).await, allowed(&dash, &key.id));

    // A key with a lifetime, expired: Renew and Delete, as the rules say.
    dash.set_policy("token-lifetime").await;
    let res = dash.generate(&[("name", "Token"), ("expires", "30")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = dash.key_named("Token");
    dash.advance(Duration::days(31)).await;
    let offered = offered_on_page(&dash, &token.id).await;
    assert!(
        offered.contains(&"renew") && !offered.contains(&"rotate"),
        "{offered:?}"
    );
    assert_eq!(offered, allowed(&dash, &token.id));
    let renew = format!("{LIST}/{}/renew?from=key", token.id);
    let csrf = dash.browser.csrf_token(&format!("{LIST}/{}", token.id)).await;
    let res = dash.browser.post_form(&renew, &[("csrf_token", &csrf)]).await;
    assert_eq!(location(&res), format!("{LIST}/{}", token.id));
}

async fn a_rotated_versions_page_says_when_its_grace_period_ends(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let res = dash.generate(&[("name", "Feed"), ("expires", "30")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let old = dash.key_named("Feed");
    dash.rotate_ok(&old.id, "1h").await;
    let old = dash.row(&old.id);
    let grace_ends = keyward::web::format::datetime(old.grace_ends_at.unwrap());
    let expires = keyward::web::format::datetime(old.expires_at.unwrap());
    let html = dash.browser.html(&format!("{LIST}/{}", old.id)).await;
    assert!(
        html.contains(&format!("<dt>Grace period ends</dt><dd>{grace_ends} ("))
            && html.contains(" remaining)</dd>"),
        "{html}"
    );
    let corner = &html[html.find("Developers corner").unwrap()..html.find("<h3>Versions</h3>").unwrap()];
    assert!(
        !corner.contains("<dt>Expires</dt>") && !corner.contains(&expires),
        "the page shows the version's own expiry: {corner}"
    );
    dash.advance(Duration::hours(2)).await;
    let html = dash.browser.html(&format!("{LIST}/{}", old.id)).await;
    assert!(
        html.contains(&format!("<dt>Grace period ended</dt><dd>{grace_ends}</dd>")),
        "{html}"
    );
}

async fn a_refused_actions_address_says_why_and_links_back(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Live").await;
    let key_path = format!("{LIST}/{}", key.id);
    // Delete needs an inactive key under the default policy.
    dash.assert_refused_page(
        &format!("{key_path}/delete"),
        "Deactivate this key before deleting it",
    )
    .await;
    // Started on the key page, the way back is the key page.
    let html = dash.browser.html(&format!("{key_path}/delete?from=key")).await;
    assert!(html.contains(&format!(
        r#"href="{key_path}" data-close-modal>Back to the key</a>"#
    )));
    // For htmx, the refusal is the dialog, in place of the form.
    let res = dash
        .browser
        .send(
            dash.browser
                .builder(reqwest::Method::GET, &format!("{key_path}/delete"))
                .header("HX-Request", "true"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(r#"role="dialog""#) && html.contains("Deactivate this key") && !html.contains("<html")
    );
    // A rotation in its grace period.
    dash.rotate_ok(&key.id, "1h").await;
    let current = dash.key_named("Live");
    dash.assert_refused_page(
        &format!("{LIST}/{}/rotate", current.id),
        "still in its grace period",
    )
    .await;
    // Disabling what is disabled, editing a revoked key.
    dash.act(&current.id, "disable", &[]).await;
    dash.assert_refused_page(&format!("{LIST}/{}/disable", current.id), "disabled already")
        .await;
    dash.act(&current.id, "revoke", &[("confirm", "REVOKE")]).await;
    for action in ["edit", "rotate", "revoke", "disable"] {
        dash.assert_refused_page(&format!("{LIST}/{}/{action}", current.id), "This key is revoked.")
            .await;
    }
    // Revoking an active key under the strict lifecycle.
    dash.set_policy("strict-lifecycle").await;
    let strict = dash.generate_key("Strict").await;
    dash.assert_refused_page(
        &format!("{LIST}/{}/revoke", strict.id),
        "requires disabling an active key before revoking it",
    )
    .await;
    // Duplicating at the active-key limit.
    dash.set_policy("single-key").await;
    dash.assert_refused_page(
        &format!("{LIST}/{}/duplicate", strict.id),
        "has 1 active key and its key policy allows 1",
    )
    .await;
    assert_eq!(dash.keys().len(), 3, "nothing was made or changed");
}

async fn at_the_limit_generate_is_shown_disabled_with_the_reason(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.set_policy("single-key").await;
    let key = dash.generate_key("Key 1").await;
    let page = dash.page().await;
    assert!(
        page.contains(
            r#"<button type="button" class="button primary" aria-disabled="true" aria-describedby="generate-refused">Generate New API Key</button>"#
        ),
        "{page}"
    );
    assert!(
        !page.contains(r#"href="/settings/api-credentials/new""#),
        "Generate still opens its form"
    );
    let reason = &page[page.find(r#"id="generate-refused">"#).expect("the reason")..];
    let reason = &reason[..reason.find("</p>").unwrap()];
    assert!(
        reason.contains("This merchant has 1 active key and its key policy allows 1."),
        "{reason}"
    );
    // Under the single-key policy, what to do is Rotate Key.
    let rotate = format!("{LIST}/{}/rotate", key.id);
    assert!(
        reason.contains(&format!(r#"<a href="{rotate}""#)) && reason.contains(">Rotate Key</a>"),
        "{reason}"
    );
    dash.rotate_ok(&key.id, "1h").await;
    let page = dash.page().await;
    let reason = &page[page.find(r#"id="generate-refused">"#).expect("the reason")..];
    let reason = &reason[..reason.find("</p>").unwrap()];
    assert!(
        reason.contains("Rotate Key waits: A previous version of this key is still in its grace period."),
        "{reason}"
    );
    // Under the limit again, Generate opens its form.
    dash.set_policy("standard").await;
    let page = dash.page().await;
    assert!(!page.contains("aria-disabled") && page.contains(r#"href="/settings/api-credentials/new""#));
}

async fn disable_asks_first_and_enable_does_not(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_key("Sync").await;
    let disable = format!("{LIST}/{}/disable", key.id);
    let list = dash.page().await;
    // Disable on the card opens the confirmation; it posts nothing itself.
    assert!(
        list.contains(&format!(
            r#"<a class="button" href="{disable}" hx-get="{disable}""#
        )),
        "{list}"
    );
    assert!(!list.contains(&format!(r#"<form method="post" action="{disable}""#)));
    let res = dash.browser.get(&disable).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Integrations using this key stop working"),
        "{html}"
    );
    assert!(html.contains(&format!(r#"<form method="post" action="{disable}""#)));
    assert!(html.contains(r#"<button type="submit" class="button danger">Disable</button>"#));
    assert!(csrf_token_in(&html).is_some());
    assert_eq!(
        dash.row(&key.id).status,
        KeyStatus::Active,
        "opening the confirmation disables nothing"
    );
    // Without the CSRF token the confirmation does nothing.
    let res = dash.browser.post_form(&disable, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(dash.row(&key.id).status, KeyStatus::Active);
    let res = dash.submit(&disable, &disable, &[]).await;
    assert_eq!((res.status(), location(&res)), (StatusCode::SEE_OTHER, LIST));
    assert_eq!(dash.row(&key.id).status, KeyStatus::Disabled);
    // Enable is one click: a form on the card.
    let enable = format!("{LIST}/{}/enable", key.id);
    let list = dash.page().await;
    assert!(
        list.contains(&format!(r#"<form method="post" action="{enable}">"#)),
        "{list}"
    );
    let csrf = dash.browser.csrf_token(LIST).await;
    let res = dash.browser.post_form(&enable, &[("csrf_token", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(dash.row(&key.id).status, KeyStatus::Active);
}
