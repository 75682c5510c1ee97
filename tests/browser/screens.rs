//! Every page and dialog, for every role, at a desktop's width and on a phone. Each
//! screen goes through `Chrome::screen`, which runs axe-core's WCAG 2.1 A and AA rules,
//! checks that the first heading is the `<h1>` and that nothing scrolls sideways at
//! 390 px; these tours make sure every screen is visited.

use keyward::domain::{Actor, Email, Password, PersonName, Role};
use reqwest::StatusCode;
use serde_json::Value;
use thirtyfour::prelude::*;

use super::chrome::{Javascript, PHONE};
use super::dashboard::Person;
use super::spawn_app_for_a_browser;
use crate::support::dashboard::Dashboard;
use crate::support::{Backend, TestApp};

/// The password of every person the seed makes.
const PASSWORD: &str = "screens tour password";

/// Who visits, each with the pages their role offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visitor {
    Admin,
    Developer,
    Viewer,
    Support,
}

impl Visitor {
    fn email(self) -> &'static str {
        match self {
            Visitor::Admin => "",
            Visitor::Developer => "dev@screens.example",
            Visitor::Viewer => "viewer@screens.example",
            Visitor::Support => "sam@support.example",
        }
    }

    fn manages_keys(self) -> bool {
        matches!(self, Visitor::Admin | Visitor::Developer)
    }
}

/// A merchant with something on every page: keys active, disabled, rotated and revoked,
/// a developer and a viewer, a pending invitation, two policy changes, a management
/// token, and an invitation from another merchant waiting for the developer. Returns
/// the ID of the key Checkout.
async fn seed(app: &TestApp) -> String {
    let admin = Dashboard::admin(app).await;
    admin.set_policy("flexible").await;
    admin.set_policy("standard").await;
    let res = admin
        .generate(&[
            ("name", "Checkout"),
            ("description", "Card payments from the web shop"),
            ("scopes", "orders:read"),
            ("scopes", "orders:write"),
            ("expires", "30"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK, "generating Checkout");
    let checkout = admin.key_named("Checkout").id;
    let inventory = admin.generate_key("Inventory sync").await;
    admin.rotate_ok(&inventory.id, "3d").await;
    let staging = admin.generate_key("Staging").await;
    let res = admin.act(&staging.id, "disable", &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "disabling Staging");
    let export = admin.generate_key("Old export").await;
    let res = admin.act(&export.id, "revoke", &[("confirm", "REVOKE")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "revoking Old export");
    let res = admin
        .submit(
            "/settings/members",
            "/settings/members",
            &[
                ("email", "new.person@screens.example"),
                ("name", "New Person"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "inviting New Person");
    let res = admin
        .submit(
            "/settings/management-tokens/new",
            "/settings/management-tokens",
            &[
                ("name", "Deploy pipeline"),
                ("scopes", "keys:read"),
                ("scopes", "keys:write"),
                ("expires", "90"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "creating the token Deploy pipeline");

    let merchant = app.demo_merchant_id();
    app.create_member(Visitor::Developer.email(), PASSWORD, &merchant, Role::Developer);
    app.create_member(Visitor::Viewer.email(), PASSWORD, &merchant, Role::Viewer);
    app.create_support(Visitor::Support.email(), PASSWORD);
    let other = app.create_merchant("Gelato Shop");
    let email = Email::parse(Visitor::Developer.email()).unwrap();
    keyward::service::invitations::invite(
        &mut app.db.get().unwrap(),
        &other,
        &email,
        Role::Viewer,
        keyward::service::invitations::NewAccount {
            name: PersonName::parse("Dev").unwrap(),
            password_hash: Password::parse_new(PASSWORD.to_owned(), &email).unwrap().hash(),
        },
        &Actor::cli(),
        app.clock.now(),
    )
    .unwrap();
    checkout.to_string()
}

/// `visitor` signs in at a fresh browser (a phone's when `phone`) and opens every page
/// and dialog their role offers; support staff look for the key `checkout` by its ID.
async fn tour(app: &TestApp, test: &'static str, visitor: Visitor, phone: bool, checkout: &str) {
    let Some(mut person) = Person::start(app, test, Javascript::On).await else {
        return;
    };
    if phone {
        person.chrome.resize(PHONE).await;
    }
    match visitor {
        Visitor::Admin => person.sign_in().await,
        _ => person.sign_in_as(visitor.email(), PASSWORD).await,
    }
    if phone {
        assert_the_menu_folds(&mut person).await;
    }
    if visitor == Visitor::Support {
        support_console(&mut person, checkout).await;
    } else {
        person.open_api_credentials().await;
    }
    if visitor.manages_keys() {
        key_dialogs(&mut person, &format!("{visitor:?}'s key")).await;
    }
    key_page(&mut person, visitor).await;
    if visitor == Visitor::Admin {
        admin_pages(&mut person).await;
    }
    person.settings_page("Audit Log").await;
    if phone {
        assert_tables_stack(&person).await;
    }
    person.chrome.screen("audit-log").await;
    let event = person.find(By::Css(".audit-log tbody tr a")).await;
    person.click_through(&event).await;
    person.chrome.screen("audit-event").await;
    account_pages(&mut person, visitor).await;
    person.chrome.expect_failed_request(404);
    person.chrome.open("/settings/api-credentials/no-such-key").await;
    person
        .find(By::XPath("//h1[normalize-space()='Page not found']"))
        .await;
    person.chrome.screen("not-found").await;
    person.finish().await;
}

/// On a phone the sidebar starts folded behind Menu, which opens and closes it from the
/// keyboard and says which it is.
async fn assert_the_menu_folds(person: &mut Person<'_>) {
    let button = person
        .find(By::Css(".sidebar [aria-controls=sidebar-menu]"))
        .await;
    let menu = person.find(By::Id("sidebar-menu")).await;
    assert_eq!(button.text().await.unwrap(), "Menu");
    assert_eq!(
        button.attr("aria-expanded").await.unwrap().as_deref(),
        Some("false")
    );
    assert!(
        !menu.is_displayed().await.unwrap(),
        "the sidebar is not folded on a phone"
    );
    person.chrome.screen("phone-menu-folded").await;
    for (key, expanded) in [(Key::Enter, "true"), (Key::Space, "false"), (Key::Enter, "true")] {
        button.focus().await.unwrap();
        person.press(key).await;
        assert_eq!(
            button.attr("aria-expanded").await.unwrap().as_deref(),
            Some(expanded)
        );
        assert_eq!(menu.is_displayed().await.unwrap(), expanded == "true");
    }
    person.chrome.screen("phone-menu-open").await;
}

/// On a phone each table's rows stack, one cell under another.
async fn assert_tables_stack(person: &Person<'_>) {
    let displays = person
        .chrome
        .eval(
            "return [...document.querySelectorAll('main table tr')].map((row) => getComputedStyle(row).display);",
            Vec::new(),
        )
        .await;
    let displays = displays.as_array().unwrap();
    assert!(!displays.is_empty(), "no table here");
    assert!(
        displays.iter().all(|display| display == &Value::from("block")),
        "rows that do not stack: {displays:?}"
    );
    let first = person
        .chrome
        .eval(
            r#"const cell = document.querySelector("main table tbody td");
            const header = cell.closest("table").tHead.rows[0].cells[0];
            return [getComputedStyle(cell, "::before").content, JSON.stringify(header.textContent.trim())];"#,
            Vec::new(),
        )
        .await;
    assert_eq!(
        first[0], first[1],
        "a stacked cell does not show its column's name"
    );
}

/// Every dialog API Credentials opens for someone who manages keys, and the same as the
/// plain pages a browser without JavaScript gets; then the Reveal of a new key named
/// `name`.
async fn key_dialogs(person: &mut Person<'_>, name: &str) {
    let mut pages = Vec::new();
    let generate = person.control(None, "Generate New API Key").await;
    pages.push(glance(person, &generate, "Generate New API Key").await);
    let checkout = person.card("Current API Key", "Checkout").await;
    for (label, title) in [
        ("Rotate Key", "Rotate API Key"),
        ("Edit", "Edit API Key"),
        ("Duplicate", "Generate New API Key"),
        ("Revoke Key", "Revoke API Key"),
    ] {
        let opener = person.control(Some(&checkout), label).await;
        pages.push(glance(person, &opener, title).await);
    }
    let staging = person.card("Current API Key", "Staging").await;
    let delete = person.control(Some(&staging), "Delete").await;
    pages.push(glance(person, &delete, "Delete API Key").await);
    let rotated = person.card("Rotated API Key", "Inventory sync").await;
    let revoke = person.control(Some(&rotated), "Revoke Key").await;
    glance(person, &revoke, "Revoke API Key").await;
    for (path, title) in pages {
        plain_page(person, &path, title).await;
    }
    person.chrome.open("/settings/api-credentials").await;

    let generate = person.control(None, "Generate New API Key").await;
    person.open_modal(&generate, "Generate New API Key").await;
    person.type_into("key-name", name).await;
    person.modal_step("Generate Key", "Your New API Key").await;
    let key = person.copy_revealed_key().await;
    person.done(&key).await;
}

/// Opens the dialog `title` from `opener` (its screen is checked), then closes it.
/// Returns the address of its plain page, with its title.
async fn glance<'t>(person: &mut Person<'_>, opener: &WebElement, title: &'t str) -> (String, &'t str) {
    person.open_modal(opener, title).await;
    person.press(Key::Escape).await;
    person
        .chrome
        .driver()
        .query(By::Css("#modal [role=dialog]"))
        .wait_until_gone()
        .await
        .expect("Escape closes the dialog");
    let path = opener.attr("href").await.unwrap().expect("a dialog's link");
    (path, title)
}

/// A dialog's plain page, which a browser without JavaScript gets. (axe-core needs
/// JavaScript, so the page is checked here rather than in `without_javascript`.)
async fn plain_page(person: &mut Person<'_>, path: &str, title: &str) {
    person.chrome.open(path).await;
    person
        .find(By::XPath(format!(
            "//section[contains(@class,'modal-page')]/h1[normalize-space()='{title}']"
        )))
        .await;
    person.chrome.screen("plain-page").await;
}

/// Checkout's key page, reached from its card (or, for support staff, the merchant's
/// API Credentials).
async fn key_page(person: &mut Person<'_>, visitor: Visitor) {
    if visitor == Visitor::Support {
        person.settings_page("API Credentials").await;
        person.chrome.screen("support-api-credentials").await;
    }
    let checkout = person.card("Current API Key", "Checkout").await;
    let id = person.key_id(&checkout).await;
    person
        .chrome
        .open(&format!("/settings/api-credentials/{id}"))
        .await;
    person.find(By::XPath("//h1[normalize-space()='Checkout']")).await;
    person.chrome.screen("key-page").await;
}

/// Members (with the Remove dialog and an invitation sent), Management Tokens (with
/// its two dialogs) and Key Policy.
async fn admin_pages(person: &mut Person<'_>) {
    person.settings_page("Members").await;
    person.chrome.screen("members").await;
    let developer = person
        .find(By::XPath(format!(
            "//tr[td[2][normalize-space()='{}']]",
            Visitor::Developer.email()
        )))
        .await;
    let remove = person.control(Some(&developer), "Remove").await;
    let (path, title) = glance(person, &remove, "Remove member").await;
    plain_page(person, &path, title).await;
    person.settings_page("Members").await;
    person.type_into("member-email", "another@screens.example").await;
    person.type_into("member-name", "Another Person").await;
    let add = person.control(None, "Add member").await;
    person.click_through(&add).await;
    person.dialog("Invitation sent").await;
    person.chrome.screen("invitation-sent").await;
    person.settings_page("Management Tokens").await;
    person.chrome.screen("management-tokens").await;
    let new = person.control(None, "New Management Token").await;
    let (path, title) = glance(person, &new, "New Management Token").await;
    plain_page(person, &path, title).await;
    person.settings_page("Management Tokens").await;
    let revoke = person.control(None, "Revoke Deploy pipeline").await;
    let (path, title) = glance(person, &revoke, "Revoke Management Token").await;
    plain_page(person, &path, title).await;
    person.settings_page("Key Policy").await;
    person.chrome.screen("key-policy").await;
}

/// Change password, and Invitations for those who have one waiting.
async fn account_pages(person: &mut Person<'_>, visitor: Visitor) {
    person.open_main_menu().await;
    let name = person.find(By::Css(".profile-menu summary .user-name")).await;
    name.click().await.unwrap();
    let menu = person.find(By::Css(".profile-menu[open] .menu")).await;
    let password = person.control(Some(&menu), "Change password").await;
    person.click_through(&password).await;
    person
        .find(By::XPath("//h1[normalize-space()='Change password']"))
        .await;
    person.chrome.screen("change-password").await;
    if visitor == Visitor::Developer {
        person.open_main_menu().await;
        let invitations = person
            .find(By::XPath(
                "//nav[@aria-label='Main']//a[starts-with(normalize-space(), 'Invitations')]",
            ))
            .await;
        person.click_through(&invitations).await;
        person.sees("Gelato Shop").await;
        person.chrome.screen("invitations").await;
    }
}

/// The support console: a search for a merchant and for the key `checkout`, then the
/// merchant's overview, opened.
async fn support_console(person: &mut Person<'_>, checkout: &str) {
    person.chrome.open("/support").await;
    person.find(By::XPath("//h1[normalize-space()='Support']")).await;
    person.chrome.screen("support").await;
    for query in ["Demo", checkout] {
        person.type_into("support-q", query).await;
        let search = person.control(None, "Search").await;
        person.click_through(&search).await;
        person.find(By::Css("table.results")).await;
        person.chrome.screen("support-results").await;
    }
    person.type_into("support-q", "Demo").await;
    let search = person.control(None, "Search").await;
    person.click_through(&search).await;
    let merchant = person
        .find(By::XPath(
            "//table[contains(@class,'results')]//a[normalize-space()='Demo Merchant']",
        ))
        .await;
    person.click_through(&merchant).await;
    person.chrome.screen("support-merchant").await;
    let open = person.control(None, "Open Demo Merchant").await;
    person.click_through(&open).await;
    person.chrome.screen("support-merchant-open").await;
}

/// Axe-core finds nothing on any page or dialog, as an admin, a developer, a viewer and
/// support staff; every page's first heading is its `<h1>`; app.css and app.js carry
/// their integrity.
pub async fn every_page_and_dialog_passes_axe_for_every_role(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let checkout = seed(&app).await;
    assert_assets_carry_their_integrity(&app).await;
    for (visitor, test) in [
        (Visitor::Admin, "axe-admin"),
        (Visitor::Developer, "axe-developer"),
        (Visitor::Viewer, "axe-viewer"),
        (Visitor::Support, "axe-support"),
    ] {
        tour(&app, test, visitor, false, &checkout).await;
    }
}

/// The sign-in page links app.css and app.js with a `sha384-` integrity, as it does htmx,
/// and the browser loads them with it.
async fn assert_assets_carry_their_integrity(app: &TestApp) {
    let Some(person) = Person::start(app, "integrity", Javascript::On).await else {
        return;
    };
    person.chrome.open("/login").await;
    let integrity = person
        .chrome
        .eval(
            r#"return [...document.querySelectorAll("link[rel=stylesheet], script[src]")]
                .map((tag) => [tag.getAttribute("href") || tag.getAttribute("src"), tag.integrity]);"#,
            Vec::new(),
        )
        .await;
    let tags = integrity.as_array().unwrap();
    assert_eq!(tags.len(), 3, "{integrity}");
    for tag in tags {
        assert!(
            tag[1].as_str().unwrap().starts_with("sha384-"),
            "no integrity on {}",
            tag[0]
        );
    }
    // A wrong hash would have kept the stylesheet and the script from loading.
    let loaded = person
        .chrome
        .eval(
            "return getComputedStyle(document.body).display === 'grid' && typeof htmx === 'object';",
            Vec::new(),
        )
        .await;
    assert_eq!(loaded, Value::Bool(true));
    person.finish().await;
}

/// At 390 × 844 no page or dialog scrolls sideways, for an admin, a developer and support
/// staff; the sidebar folds behind a Menu button and tables stack.
pub async fn no_page_or_dialog_scrolls_sideways_on_a_phone(backend: Backend) {
    let Some(app) = spawn_app_for_a_browser(backend).await else {
        return;
    };
    let checkout = seed(&app).await;
    for (visitor, test) in [
        (Visitor::Admin, "phone-admin"),
        (Visitor::Developer, "phone-developer"),
        (Visitor::Support, "phone-support"),
    ] {
        tour(&app, test, visitor, true, &checkout).await;
    }
}
