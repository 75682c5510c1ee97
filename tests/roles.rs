//! The role matrix: every dashboard route, for every kind of visitor, answers exactly
//! what it must, and a refused change changes nothing. Then the tenant wall: every
//! lookup by ID into another merchant is not found.

use keyward::domain::{KeyId, Role};
use reqwest::{Method, StatusCode};

use crate::db_test;
use crate::support::routes::Fixture::{
    ActiveKey, DisabledKey, Invitation, KeyWithLifetime, Member, Nothing, Token,
};
use crate::support::routes::{ROUTES, World, sign_in};
use crate::support::{Backend, csrf_token_in, field_value, spawn_app};

db_test!(
    every_route_answers_each_role_exactly_and_refusals_change_nothing,
    every_lookup_by_id_into_another_merchant_is_not_found,
);

/// Who sends the requests, in the order of each route's expected statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    Viewer,
    Developer,
    AdminA,
    AdminB,
    Support,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Developer,
    Who::AdminA,
    Who::AdminB,
    Who::Support,
];

async fn every_route_answers_each_role_exactly_and_refusals_change_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant_a = app.demo_merchant_id();
    let merchant_b = app.create_merchant("Merchant B");
    let world = World {
        app: &app,
        merchant_a: merchant_a.clone(),
        event_a: String::new(),
        counter: std::cell::Cell::new(0),
    };
    let first_key = world.key(ActiveKey);
    let event_a = keyward::db::key_events::for_key(
        &mut app.db.get().unwrap(),
        &merchant_a,
        &KeyId::parse(&first_key).unwrap(),
    )
    .unwrap()
    .remove(0)
    .id
    .to_string();
    let world = World { event_a, ..world };
    world.user("viewer@a.example", Some((&merchant_a, Role::Viewer)));
    world.user("developer@a.example", Some((&merchant_a, Role::Developer)));
    world.user("admin@a.example", Some((&merchant_a, Role::Admin)));
    world.user("admin@b.example", Some((&merchant_b, Role::Admin)));
    world.user("support@platform.example", None);

    for who in EVERYONE {
        let browser = match who {
            Who::Anonymous => app.browser(),
            Who::Viewer => sign_in(&app, "viewer@a.example").await,
            Who::Developer => sign_in(&app, "developer@a.example").await,
            Who::AdminA => sign_in(&app, "admin@a.example").await,
            Who::AdminB => sign_in(&app, "admin@b.example").await,
            Who::Support => {
                let browser = sign_in(&app, "support@platform.example").await;
                let overview = format!("/support/merchants/{merchant_a}");
                let token = browser.csrf_token(&overview).await;
                let res = browser.post_form(&overview, &[("csrf_token", &token)]).await;
                assert_eq!(res.status(), StatusCode::SEE_OTHER, "support opens merchant A");
                browser
            }
        };
        for (index, route) in ROUTES.iter().enumerate() {
            let column = EVERYONE.iter().position(|w| *w == who).unwrap();
            let expected = route.expect[column];
            let key = match route.fixture {
                ActiveKey | DisabledKey | KeyWithLifetime => world.key(route.fixture),
                Nothing | Member | Invitation | Token => first_key.clone(),
            };
            let member = if route.fixture == Member {
                world.member(Role::Developer)
            } else {
                String::new()
            };
            let invitation = if route.fixture == Invitation {
                world.invitation()
            } else {
                String::new()
            };
            let token = if route.fixture == Token {
                world.token()
            } else {
                String::new()
            };
            let fill = |path: &str| {
                path.replace("{key}", &key)
                    .replace("{member}", &member)
                    .replace("{invitation}", &invitation)
                    .replace("{token}", &token)
                    .replace("{event}", &world.event_a)
                    .replace("{merchant}", &world.merchant_a)
            };
            let path = fill(route.path);
            let status = if route.method == Method::GET {
                browser.get(&path).await.status()
            } else {
                let page = browser
                    .html(&fill(route.form.unwrap_or("/settings/api-credentials")))
                    .await;
                let csrf = match csrf_token_in(&page) {
                    Some(token) => token,
                    // The form was refused: any page this visitor may open carries the token.
                    None if who == Who::Anonymous => browser.csrf_token("/login").await,
                    None => browser.csrf_token("/settings/audit-log").await,
                };
                let nonce = field_value(&page, "nonce").unwrap_or_default();
                let n = world.next();
                let (name, email) = (format!("Matrix {n}"), format!("new{n}@a.example"));
                let before = world.snapshot();
                let mut fields = vec![
                    ("csrf_token", csrf.as_str()),
                    ("nonce", &nonce),
                    ("name", &name),
                    ("description", ""),
                    ("expires", "never"),
                    ("grace", "1h"),
                    ("confirm", "REVOKE"),
                    ("understood", "yes"),
                    ("preset", "standard"),
                    ("email", &email),
                    ("role", "viewer"),
                    ("merchant_id", &world.merchant_a),
                    ("current_password", "not the password"),
                    ("new_password", "a new password 123"),
                    ("confirm_password", "a new password 123"),
                ];
                // A token's scopes are not a key's: only the token form gets one.
                if route.path.starts_with("/settings/management-tokens") {
                    fields.push(("scopes", "keys:read"));
                }
                let res = browser.post_form(&path, &fields).await;
                let status = res.status();
                if !(status.is_success() || (status.is_redirection() && who != Who::Anonymous)) {
                    assert_eq!(
                        before,
                        world.snapshot(),
                        "{who:?} {} {} was refused ({status}) but changed something",
                        route.method,
                        route.path
                    );
                }
                status
            };
            assert_eq!(
                status.as_u16(),
                expected,
                "route {index}: {who:?} {} {}",
                route.method,
                route.path
            );
            // Keeps merchant A under its active-key limit for the next fixture.
            app.execute(&format!(
                "UPDATE api_keys SET status = 'disabled' WHERE status = 'active' AND id <> '{first_key}'"
            ));
        }
    }
}

async fn every_lookup_by_id_into_another_merchant_is_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let merchant_a = app.demo_merchant_id();
    let merchant_b = app.create_merchant("Merchant B");
    let world = World {
        app: &app,
        merchant_a: merchant_b.clone(),
        event_a: String::new(),
        counter: std::cell::Cell::new(0),
    };
    // Merchant B's things, looked up by merchant A's people.
    let b_key = world.key(ActiveKey);
    let b_disabled = world.key(DisabledKey);
    let b_member = world.member(Role::Developer);
    let b_invitation = world.invitation();
    let b_token = world.token();
    let b_event = keyward::db::key_events::for_key(
        &mut app.db.get().unwrap(),
        &merchant_b,
        &KeyId::parse(&b_key).unwrap(),
    )
    .unwrap()
    .remove(0)
    .id
    .to_string();
    let before = world.snapshot();
    world.user("admin@a.example", Some((&merchant_a, Role::Admin)));
    world.user("developer@a.example", Some((&merchant_a, Role::Developer)));
    world.user("viewer@a.example", Some((&merchant_a, Role::Viewer)));
    let key_paths = |id: &str| {
        [
            format!("/settings/api-credentials/{id}"),
            format!("/settings/api-credentials/{id}/edit"),
            format!("/settings/api-credentials/{id}/duplicate"),
            format!("/settings/api-credentials/{id}/rotate"),
            format!("/settings/api-credentials/{id}/revoke"),
            format!("/settings/api-credentials/{id}/delete"),
            format!("/settings/api-credentials/{id}/disable"),
            format!("/settings/audit-log?key={id}"),
        ]
    };
    for email in ["admin@a.example", "developer@a.example", "viewer@a.example"] {
        let browser = sign_in(&app, email).await;
        let admin = email.starts_with("admin");
        let mut gets: Vec<String> = key_paths(&b_key).into();
        gets.push(format!("/settings/api-credentials/{b_disabled}/delete"));
        gets.push(format!("/settings/audit-log/{b_event}"));
        let mut posts: Vec<String> = ["rotate", "revoke", "edit", "disable", "renew"]
            .iter()
            .map(|action| format!("/settings/api-credentials/{b_key}/{action}"))
            .collect();
        posts.extend(
            ["enable", "delete"]
                .iter()
                .map(|action| format!("/settings/api-credentials/{b_disabled}/{action}")),
        );
        posts.extend([
            format!("/settings/members/invitations/{b_invitation}/cancel"),
            format!("/invitations/{b_invitation}/accept"),
            format!("/invitations/{b_invitation}/decline"),
        ]);
        if admin {
            gets.push(format!("/settings/members/{b_member}/remove"));
            gets.push(format!("/settings/management-tokens/{b_token}/revoke"));
            posts.push(format!("/settings/management-tokens/{b_token}/revoke"));
            posts.extend(
                ["role", "disable", "enable", "remove"]
                    .iter()
                    .map(|action| format!("/settings/members/{b_member}/{action}")),
            );
        }
        for path in &gets {
            let res = browser.get(path).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{email} GET {path}");
            let body = res.text().await.unwrap();
            assert!(!body.contains("Fixture"), "{email} GET {path} shows B's key");
        }
        let token = browser.csrf_token("/settings/api-credentials").await;
        for path in &posts {
            let res = browser
                .post_form(
                    path,
                    &[
                        ("csrf_token", &token),
                        ("confirm", "REVOKE"),
                        ("understood", "yes"),
                        ("grace", "now"),
                        ("name", "Taken over"),
                        ("role", "admin"),
                    ],
                )
                .await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{email} POST {path}");
        }
    }
    let after = world.snapshot();
    let unchanged = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .filter(|row| !row.contains("@a.example") && !row.contains(merchant_a.as_str()))
            .cloned()
            .collect()
    };
    assert_eq!(unchanged(&before), unchanged(&after), "merchant B is as it was");
}
