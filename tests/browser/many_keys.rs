//! A merchant with 100 active and 1,000 revoked keys: API Credentials is one compact row a
//! key, searched by name or visible key, filtered by status and paged, each row one click
//! from the key's page.

use thirtyfour::prelude::*;

use super::chrome::Javascript;
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::Backend;

async fn rows(person: &Person<'_>) -> Vec<WebElement> {
    person
        .chrome
        .driver()
        .find_all(By::Css("table.key-table tbody tr"))
        .await
        .unwrap()
}

/// Types `text` into the search, picks `status` (its value, "" for all) and clicks Search.
async fn search(person: &mut Person<'_>, text: &str, status: &str) {
    let field = person.find(By::Css("input[name=q]")).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
    person
        .find(By::Css(format!("select[name=status] option[value='{status}']")))
        .await
        .click()
        .await
        .unwrap();
    let button = person.control(None, "Search").await;
    person.click_through(&button).await;
}

pub async fn a_hundred_active_and_a_thousand_revoked_keys_are_searched_filtered_and_paged(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let active = app.seed_keys(&app.demo_merchant_id(), 100, 1000);
    let Some(mut ana) = Person::on_api_credentials(&app, "many_keys", Javascript::On, None).await else {
        return;
    };
    assert_eq!(ana.key_count().await, "100 of 100 active keys");
    ana.sees("1100 keys, working keys first · page 1 of 11").await;
    assert_eq!(rows(&ana).await.len(), 100);
    assert!(
        ana.chrome
            .driver()
            .find_all(By::Css("article.key-card"))
            .await
            .unwrap()
            .is_empty(),
        "a card a key"
    );
    let height = ana
        .chrome
        .eval("return document.documentElement.scrollHeight;", Vec::new())
        .await;
    ana.chrome.screen("compact-list").await;

    // Search by name, then one click to the key's page.
    search(&mut ana, "key 042", "").await;
    ana.sees("1 key matches").await;
    let found = rows(&ana).await;
    assert_eq!(found.len(), 1);
    ana.chrome.screen("searched").await;
    let link = ana.control(Some(&found[0]), "Key 042").await;
    ana.click_through(&link).await;
    ana.find(By::XPath("//h1[normalize-space()='Key 042']")).await;
    ana.sees(&active[41].masked()).await;
    ana.back().await;

    // Search by the visible key, as it is read out.
    let masked = active[41].masked();
    search(&mut ana, &masked.replace('…', "..."), "").await;
    assert_eq!(rows(&ana).await.len(), 1);
    ana.sees("Key 042").await;

    // The revoked keys, paged.
    search(&mut ana, "", "revoked").await;
    ana.sees("1000 keys match · page 1 of 10").await;
    assert_eq!(rows(&ana).await.len(), 100);
    let next = ana.control(None, "Next (page 2) →").await;
    ana.click_through(&next).await;
    ana.sees("1000 keys match · page 2 of 10").await;
    let first = rows(&ana).await.remove(0).text().await.unwrap();
    assert!(first.contains("Old 0900") && first.contains("REVOKED"), "{first}");
    ana.chrome.screen("revoked-page-2").await;
    let clear = ana.control(None, "Clear").await;
    ana.click_through(&clear).await;
    assert_eq!(rows(&ana).await.len(), 100);
    assert!(height.as_i64().unwrap() < 12_000, "the page is {height} px tall");
    ana.finish().await;
}
