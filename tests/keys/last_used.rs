//! Last Used means an accepted request: a refused attempt (a disabled or deleted key)
//! leaves it where it was and shows as the last refused attempt, with its error code.

use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, spawn_app};

db_test!(last_used_moves_only_on_accepted_requests_and_refusals_are_shown_apart);

/// The text of the `<dd>` after `<dt>{label}</dt>`, from `anchor` on in `html`, without tags.
fn fact(html: &str, anchor: &str, label: &str) -> Option<String> {
    let from = &html[html
        .find(anchor)
        .unwrap_or_else(|| panic!("no {anchor} in {html}"))..];
    let start = from.find(&format!("<dt>{label}</dt><dd>"))? + label.len() + 13;
    let end = from[start..].find("</dd>").unwrap() + start;
    let mut text = String::new();
    let mut in_tag = false;
    for c in from[start..end].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text)
}

async fn last_used_moves_only_on_accepted_requests_and_refusals_are_shown_apart(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    let key = dash.generate_ok("Worker").await;
    let row = dash.key_named("Worker");
    let authorization = format!("ApiKey {key}");
    let whoami = || app.call("/api/v1/whoami", Some(&authorization));
    assert_eq!(whoami().await.status(), StatusCode::OK);
    app.wait_for_flush(&row.id, 1).await;
    let used_at = dash
        .row(&row.id)
        .last_used_at
        .expect("the accepted request is a use");
    let page = dash.page().await;
    assert_eq!(
        fact(&page, "Worker</h2>", "Last Used").as_deref(),
        Some("just now")
    );
    assert_eq!(
        fact(&page, "Worker</h2>", "Last refused attempt"),
        None,
        "none yet"
    );

    // Ten minutes later the key is disabled, and the integration still calls with it.
    dash.advance(Duration::minutes(10)).await;
    assert_eq!(
        dash.act(&row.id, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
    let res = whoami().await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.wait_for_flush(&row.id, 2).await;
    assert_eq!(
        dash.row(&row.id).last_used_at,
        Some(used_at),
        "a refusal is no use"
    );

    let key_page = format!("{LIST}/{}", row.id);
    for (html, anchor) in [
        (dash.page().await, "Worker</h2>"),
        (dash.browser.html(&key_page).await, "Developers corner"),
    ] {
        assert_eq!(
            fact(&html, anchor, "Last Used").as_deref(),
            Some("10 minutes ago"),
            "{html}"
        );
        assert_eq!(
            fact(&html, anchor, "Last refused attempt").as_deref(),
            Some("just now · key_disabled")
        );
    }
    let card = dash.page().await;
    assert_eq!(
        fact(&card, "Worker</h2>", "Requests (24 h)").as_deref(),
        Some("1 successful · 1 failed"),
        "refusals still count as failures"
    );

    // Deleted, the key keeps its page; a request with it is refused as unknown.
    dash.advance(Duration::minutes(5)).await;
    let res = dash.act(&row.id, "delete", &[("understood", "yes")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami().await.status(), StatusCode::UNAUTHORIZED);
    app.wait_for_flush(&row.id, 3).await;
    let html = dash.browser.html(&key_page).await;
    assert_eq!(
        fact(&html, "Developers corner", "Last Used").as_deref(),
        Some("15 minutes ago")
    );
    assert_eq!(
        fact(&html, "Developers corner", "Last refused attempt").as_deref(),
        Some("just now · invalid_key")
    );

    // Support staff see both on the key they look up.
    app.create_support("sam@support.example", "support password");
    let support = app.browser();
    let res = support.sign_in("sam@support.example", "support password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let found = support.html(&format!("/support?q={}", row.id)).await;
    let result = &found[found
        .find(&format!("/keys/{}", row.id))
        .expect("the key is found")..];
    let cells: Vec<&str> = result.split("<td>").skip(1).take(6).collect();
    assert!(cells[3].starts_with("15 minutes ago<"), "Last Used: {result}");
    assert!(
        cells[4].starts_with("just now · invalid_key<"),
        "Last refused attempt: {result}"
    );
}
