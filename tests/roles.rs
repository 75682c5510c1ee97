//! The role matrix: every dashboard route, for every kind of visitor, answers exactly
//! what it must, and a refused change changes nothing. Then the tenant wall: every
//! lookup by ID into another merchant is not found.

use diesel::RunQueryDsl;
use keyward::db::users;
use keyward::domain::{Actor, Email, Password, PersonName, Role};
use keyward::keys::{self, GenerateRequest};
use reqwest::{Method, StatusCode};

use crate::db_test;
use crate::helpers::{Backend, Browser, TestApp, csrf_token_in, field_value, spawn_app, test_secret};

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

/// What a route needs to exist before it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Fixture {
    Nothing,
    ActiveKey,
    DisabledKey,
    KeyWithLifetime,
    Member,
    /// A pending invitation of merchant A, to an email nobody signs in with here.
    Invitation,
}

pub(crate) struct Route {
    pub(crate) method: Method,
    /// `{key}`, `{member}`, `{invitation}`, `{event}` and `{merchant}` are merchant A's.
    pub(crate) path: &'static str,
    pub(crate) fixture: Fixture,
    /// The page whose form carries the one-time value, for forms that need one.
    form: Option<&'static str>,
    /// Anonymous, viewer, developer, admin of A, admin of B, support.
    expect: [u16; 6],
}

const fn get(path: &'static str, fixture: Fixture, expect: [u16; 6]) -> Route {
    Route {
        method: Method::GET,
        path,
        fixture,
        form: None,
        expect,
    }
}

const fn post(path: &'static str, fixture: Fixture, form: Option<&'static str>, expect: [u16; 6]) -> Route {
    Route {
        method: Method::POST,
        path,
        fixture,
        form,
        expect,
    }
}

use Fixture::{ActiveKey, DisabledKey, Invitation, KeyWithLifetime, Member, Nothing};

/// Every dashboard route. Admin B works in merchant B: routes without an ID serve B's
/// own pages; routes naming A's key, member or event are not found.
pub(crate) const ROUTES: &[Route] = &[
    get("/", Nothing, [303, 303, 303, 303, 303, 303]),
    get("/login", Nothing, [200, 303, 303, 303, 303, 303]),
    get("/settings", Nothing, [303, 303, 303, 303, 303, 303]),
    get(
        "/settings/api-credentials",
        Nothing,
        [303, 200, 200, 200, 200, 200],
    ),
    get(
        "/settings/api-credentials/new",
        Nothing,
        [303, 403, 200, 200, 200, 403],
    ),
    get(
        "/settings/api-credentials/{key}",
        ActiveKey,
        [303, 200, 200, 200, 404, 200],
    ),
    get(
        "/settings/api-credentials/{key}/edit",
        ActiveKey,
        [303, 403, 200, 200, 404, 403],
    ),
    get(
        "/settings/api-credentials/{key}/duplicate",
        ActiveKey,
        [303, 403, 200, 200, 404, 403],
    ),
    get(
        "/settings/api-credentials/{key}/rotate",
        ActiveKey,
        [303, 403, 200, 200, 404, 403],
    ),
    get(
        "/settings/api-credentials/{key}/revoke",
        ActiveKey,
        [303, 403, 200, 200, 404, 403],
    ),
    get(
        "/settings/api-credentials/{key}/delete",
        DisabledKey,
        [303, 403, 200, 200, 404, 403],
    ),
    get("/settings/key-policy", Nothing, [303, 403, 403, 200, 200, 403]),
    get("/settings/members", Nothing, [303, 403, 403, 200, 200, 403]),
    get(
        "/settings/members/{member}/remove",
        Member,
        [303, 403, 403, 200, 404, 403],
    ),
    get("/settings/audit-log", Nothing, [303, 200, 200, 200, 200, 200]),
    get(
        "/settings/audit-log?format=csv",
        Nothing,
        [303, 200, 200, 200, 200, 200],
    ),
    get(
        "/settings/audit-log/{event}",
        Nothing,
        [303, 200, 200, 200, 404, 200],
    ),
    get("/support", Nothing, [303, 403, 403, 403, 403, 200]),
    get(
        "/support/merchants/{merchant}",
        Nothing,
        [303, 403, 403, 403, 403, 200],
    ),
    get(
        "/support/merchants/{merchant}/keys/{key}",
        ActiveKey,
        [303, 403, 403, 403, 403, 303],
    ),
    get("/account/password", Nothing, [303, 200, 200, 200, 200, 200]),
    get("/invitations", Nothing, [303, 200, 200, 200, 200, 403]),
    post(
        "/settings/api-credentials",
        Nothing,
        Some("/settings/api-credentials/new"),
        [303, 403, 200, 200, 200, 403],
    ),
    post(
        "/settings/api-credentials/{key}/rotate",
        ActiveKey,
        Some("/settings/api-credentials/{key}/rotate"),
        [303, 403, 200, 200, 404, 403],
    ),
    post(
        "/settings/api-credentials/{key}/revoke",
        ActiveKey,
        None,
        [303, 403, 303, 303, 404, 403],
    ),
    post(
        "/settings/api-credentials/{key}/edit",
        ActiveKey,
        None,
        [303, 403, 303, 303, 404, 403],
    ),
    post(
        "/settings/api-credentials/{key}/disable",
        ActiveKey,
        None,
        [303, 403, 303, 303, 404, 403],
    ),
    post(
        "/settings/api-credentials/{key}/enable",
        DisabledKey,
        None,
        [303, 403, 303, 303, 404, 403],
    ),
    post(
        "/settings/api-credentials/{key}/renew",
        KeyWithLifetime,
        None,
        [303, 403, 303, 303, 404, 403],
    ),
    post(
        "/settings/api-credentials/{key}/delete",
        DisabledKey,
        None,
        [303, 403, 303, 303, 404, 403],
    ),
    post(
        "/settings/key-policy",
        Nothing,
        None,
        [303, 403, 403, 303, 303, 403],
    ),
    post(
        "/settings/members",
        Nothing,
        Some("/settings/members"),
        [303, 403, 403, 200, 200, 403],
    ),
    post(
        "/settings/members/{member}/role",
        Member,
        None,
        [303, 403, 403, 303, 404, 403],
    ),
    post(
        "/settings/members/{member}/disable",
        Member,
        None,
        [303, 403, 403, 303, 404, 403],
    ),
    post(
        "/settings/members/{member}/enable",
        Member,
        None,
        [303, 403, 403, 303, 404, 403],
    ),
    post(
        "/settings/members/{member}/remove",
        Member,
        None,
        [303, 403, 403, 303, 404, 403],
    ),
    post(
        "/settings/members/invitations/{invitation}/cancel",
        Invitation,
        None,
        [303, 403, 403, 303, 404, 403],
    ),
    // Only the invited account answers: everyone else's answer is not found.
    post(
        "/invitations/{invitation}/accept",
        Invitation,
        None,
        [303, 404, 404, 404, 404, 403],
    ),
    post(
        "/invitations/{invitation}/decline",
        Invitation,
        None,
        [303, 404, 404, 404, 404, 403],
    ),
    post(
        "/settings/merchant",
        Nothing,
        None,
        [303, 303, 303, 303, 404, 403],
    ),
    post("/account/password", Nothing, None, [303, 422, 422, 422, 422, 422]),
    // Last: it ends the session.
    post("/logout", Nothing, None, [303, 303, 303, 303, 303, 303]),
];

pub(crate) const PASSWORD: &str = "role matrix password";

pub(crate) struct World<'a> {
    pub(crate) app: &'a TestApp,
    /// The merchant whose keys and members the routes name.
    pub(crate) merchant_a: String,
    pub(crate) event_a: String,
    pub(crate) counter: std::cell::Cell<u32>,
}

impl World<'_> {
    pub(crate) fn next(&self) -> u32 {
        self.counter.set(self.counter.get() + 1);
        self.counter.get()
    }

    /// A key of merchant A made outside the dashboard, in the state `fixture` asks for.
    pub(crate) fn key(&self, fixture: Fixture) -> String {
        let mut conn = self.app.db.get().unwrap();
        let n = self.next();
        let generated = keys::generate(
            &mut conn,
            &self.merchant_a,
            &GenerateRequest {
                name: format!("Fixture {n}"),
                expires: if fixture == KeyWithLifetime { "30" } else { "never" }.to_owned(),
                ..GenerateRequest::default()
            },
            &Actor::cli(),
            &keyward::startup::key_pepper(&test_secret()),
            self.app.clock.now(),
        )
        .unwrap();
        if fixture == DisabledKey {
            keys::disable(
                &mut conn,
                &self.merchant_a,
                &generated.row.id,
                &Actor::cli(),
                self.app.clock.now(),
            )
            .unwrap();
        }
        generated.row.id
    }

    /// A member of merchant A with `role`, made outside the dashboard.
    pub(crate) fn member(&self, role: Role) -> String {
        let n = self.next();
        self.user(&format!("member{n}@a.example"), Some((&self.merchant_a, role)))
    }

    /// A pending invitation of merchant A to a new email, sent outside the dashboard.
    pub(crate) fn invitation(&self) -> String {
        let n = self.next();
        keyward::invitations::invite(
            &mut self.app.db.get().unwrap(),
            &self.merchant_a,
            &Email::parse(&format!("invited{n}@a.example")).unwrap(),
            Role::Viewer,
            keyward::invitations::NewAccount {
                name: PersonName::parse("Invited User").unwrap(),
                password_hash: Password::parse_new(PASSWORD.to_owned()).unwrap().hash(),
            },
            &Actor::cli(),
            self.app.clock.now(),
        )
        .unwrap()
        .id
    }

    pub(crate) fn user(&self, email: &str, membership: Option<(&str, Role)>) -> String {
        let mut conn = self.app.db.get().unwrap();
        users::create(
            &mut conn,
            users::NewUser {
                email: &Email::parse(email).unwrap(),
                name: &PersonName::parse("Matrix User").unwrap(),
                password_hash: &Password::parse_new(PASSWORD.to_owned()).unwrap().hash(),
                access: match membership {
                    Some((merchant_id, role)) => users::Access::Member { merchant_id, role },
                    None => users::Access::Support,
                },
                password_change_required: false,
            },
            self.app.clock.now(),
        )
        .unwrap()
        .id
    }

    /// Everything a refused change must leave as it was, history included but for the
    /// refusals of support staff, which are recorded there.
    pub(crate) fn snapshot(&self) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            text: String,
        }
        let mut conn = self.app.db.get().unwrap();
        let mut all = Vec::new();
        for query in [
            "SELECT id || '|' || status || '|' || name || '|' || description || '|' || scopes || '|' || COALESCE(CAST(expires_at AS TEXT), '') || '|' || updated_at AS text FROM api_keys ORDER BY id",
            "SELECT user_id || '|' || merchant_id || '|' || role || '|' || COALESCE(CAST(disabled_at AS TEXT), '') AS text FROM memberships ORDER BY user_id, merchant_id",
            "SELECT id || '|' || email || '|' || password_hash || '|' || COALESCE(CAST(disabled_at AS TEXT), '') AS text FROM users ORDER BY id",
            "SELECT merchant_id || '|' || max_active_keys || '|' || default_grace || '|' || updated_at AS text FROM key_policies ORDER BY merchant_id",
            "SELECT id || '|' || merchant_id || '|' || email || '|' || role || '|' || expires_at AS text FROM invitations ORDER BY id",
            "SELECT CAST(COUNT(*) AS TEXT) AS text FROM key_events WHERE event_type <> 'change_refused'",
        ] {
            for row in diesel::sql_query(query).load::<Row>(&mut **conn).unwrap() {
                all.push(row.text);
            }
        }
        all
    }
}

pub(crate) async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    let res = browser.sign_in(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{email} signs in");
    browser
}

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
    let event_a = keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &merchant_a, &first_key)
        .unwrap()
        .remove(0)
        .id;
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
                let res = browser.get(&format!("/support/merchants/{merchant_a}")).await;
                assert_eq!(res.status(), StatusCode::OK);
                browser
            }
        };
        for (index, route) in ROUTES.iter().enumerate() {
            let column = EVERYONE.iter().position(|w| *w == who).unwrap();
            let expected = route.expect[column];
            let key = match route.fixture {
                ActiveKey | DisabledKey | KeyWithLifetime => world.key(route.fixture),
                Nothing | Member | Invitation => first_key.clone(),
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
            let fill = |path: &str| {
                path.replace("{key}", &key)
                    .replace("{member}", &member)
                    .replace("{invitation}", &invitation)
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
                let token = match csrf_token_in(&page) {
                    Some(token) => token,
                    // The form was refused: any page this visitor may open carries the token.
                    None if who == Who::Anonymous => browser.csrf_token("/login").await,
                    None => browser.csrf_token("/settings/audit-log").await,
                };
                let nonce = field_value(&page, "nonce").unwrap_or_default();
                let n = world.next();
                let (name, email) = (format!("Matrix {n}"), format!("new{n}@a.example"));
                let before = world.snapshot();
                let res = browser
                    .post_form(
                        &path,
                        &[
                            ("csrf_token", &token),
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
                        ],
                    )
                    .await;
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
    let b_event = keyward::db::key_events::for_key(&mut app.db.get().unwrap(), &merchant_b, &b_key)
        .unwrap()
        .remove(0)
        .id;
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
            .filter(|row| !row.contains("@a.example") && !row.contains(&merchant_a))
            .cloned()
            .collect()
    };
    assert_eq!(unchanged(&before), unchanged(&after), "merchant B is as it was");
}
