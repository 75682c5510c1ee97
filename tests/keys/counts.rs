//! Counts count what their words say: "3 of 5 active keys" counts the merchant's active
//! keys whatever the filter shows, and support's overview counts keys by the status the
//! dashboard shows them with.

use reqwest::StatusCode;
use time::Duration;

use crate::db_test;
use crate::support::dashboard::{Dashboard, LIST};
use crate::support::{Backend, spawn_app};

db_test!(every_count_on_api_credentials_counts_what_its_words_say);

async fn every_count_on_api_credentials_counts_what_its_words_say(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dash = Dashboard::admin(&app).await;
    dash.generate_ok("Always A").await;
    dash.generate_ok("Always B").await;
    for name in ["Weekly", "Paused"] {
        let res = dash.generate(&[("name", name), ("expires", "7")]).await;
        assert_eq!(res.status(), StatusCode::OK, "generating {name}");
    }
    let paused = dash.key_named("Paused");
    assert_eq!(
        dash.act(&paused.id, "disable", &[]).await.status(),
        StatusCode::SEE_OTHER
    );

    let all = dash.page().await;
    assert!(all.contains("3 of 5 active keys"), "{all}");
    assert!(all.contains("Expiring soon (2)"));
    assert_eq!(all.matches(">Expires soon<").count(), 2);

    // The filter narrows the cards, not what the count says.
    let expiring = format!("{LIST}?filter=expiring");
    let filtered = dash.browser.html(&expiring).await;
    assert!(filtered.contains("3 of 5 active keys"), "{filtered}");
    assert!(filtered.contains("Showing 2 keys expiring soon"));
    assert!(filtered.contains("Weekly</h2>") && filtered.contains("Paused</h2>"));
    assert!(!filtered.contains("Always A</h2>"));

    // With only a disabled key expiring soon, the merchant still has active keys.
    let weekly = dash.key_named("Weekly");
    let res = dash.act(&weekly.id, "revoke", &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let filtered = dash.browser.html(&expiring).await;
    assert!(filtered.contains("2 of 5 active keys"), "{filtered}");
    assert!(filtered.contains("Showing 1 key expiring soon"));
    assert!(!filtered.contains("No Active API Key Generated"), "{filtered}");

    // Support's overview counts keys by the status the dashboard shows: once expired,
    // an active or disabled key is EXPIRED, not ACTIVE.
    dash.advance(Duration::days(8)).await;
    app.create_support("sam@support.example", "support password");
    let support = app.browser();
    let res = support.sign_in("sam@support.example", "support password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let overview = support
        .html(&format!("/support/merchants/{}", dash.merchant_id))
        .await;
    for (status, count) in [("ACTIVE", 2), ("EXPIRED", 1), ("REVOKED", 1)] {
        assert!(
            overview.contains(&format!("<dt>{status} keys</dt><dd>{count}</dd>")),
            "{count} {status} keys in {overview}"
        );
    }
    assert!(!overview.contains("DISABLED keys"), "{overview}");
}
