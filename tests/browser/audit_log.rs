//! The Audit Log as a desktop shows it: at 1280 px no name, address or other word is
//! broken across lines, and a Key Policy change says what it changed, before → after.

use serde_json::Value;
use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;
use crate::support::dashboard::Dashboard;

/// Every word in the Audit Log's cells that the layout broke over two lines, with its
/// column.
const BROKEN_WORDS: &str = r#"
const broken = [];
const columns = [...document.querySelectorAll(".audit-log thead th")].map((th) => th.textContent.trim());
for (const row of document.querySelectorAll(".audit-log tbody tr")) {
  [...row.cells].forEach((cell, index) => {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
        if (lines.size > 1) broken.push(`${columns[index]}: ${word[0]}`);
      }
    }
  });
}
return broken;"#;

pub async fn the_audit_log_breaks_no_word_at_1280_and_policy_changes_read_before_and_after(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    // Keys generated and rotated, and presets applied (the last one again, which changes
    // nothing), all by Admin from 127.0.0.1.
    let admin = Dashboard::admin(&app).await;
    admin.set_policy("single-key").await;
    let key = admin.generate_key("Storefront").await;
    admin.rotate_ok(&key.id, "1h").await;
    admin.set_policy("standard").await;
    for name in ["Inventory sync", "Nightly export of every order"] {
        admin.generate_key(name).await;
    }
    admin.set_policy("standard").await;

    let Some(mut ana) = Person::on_api_credentials(&app, "audit_log", Javascript::On, None).await else {
        return;
    };
    ana.settings_page("Audit Log").await;
    let window = ana.chrome.driver().get_window_rect().await.unwrap();
    assert_eq!(window.width, 1280);
    ana.chrome.screen("audit-log").await;
    let broken = ana.chrome.eval(BROKEN_WORDS, Vec::new()).await;
    assert_eq!(broken, Value::Array(Vec::new()), "words broken across lines");

    // Each policy change reads as what it changed, before → after, with presets named as
    // the Key Policy page names them; a save that changed nothing says so.
    let mut changes = Vec::new();
    for cell in ana
        .chrome
        .driver()
        .find_all(By::XPath(
            "//table[contains(@class,'audit-log')]//tr[td[2][normalize-space()='Key policy changed']]/td[5]",
        ))
        .await
        .unwrap()
    {
        changes.push(cell.text().await.unwrap());
    }
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(changes[0], "saved without a change");
    for expected in ["preset: Single key → Standard", "max active keys: 1 → 5"] {
        assert!(changes[1].contains(expected), "{expected:?} not in {changes:?}");
    }
    assert!(
        changes[2].contains("preset: Standard → Single key"),
        "{changes:?}"
    );
    ana.finish().await;
}
