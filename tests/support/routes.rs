//! Every dashboard route, with what it needs to exist and what each kind of visitor gets
//! (the role matrix), and the world of two merchants the matrix runs in.

use diesel::RunQueryDsl;
use keyward::db::users;
use keyward::domain::{Actor, Email, MerchantId, Password, PersonName, Role};
use keyward::service::keys::{self, GenerateRequest};
use reqwest::{Method, StatusCode};

use super::app::{TestApp, test_secret};
use super::browser::Browser;

/// What a route needs to exist before it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fixture {
    Nothing,
    ActiveKey,
    DisabledKey,
    KeyWithLifetime,
    Member,
    /// A pending invitation of merchant A, to an email nobody signs in with here.
    Invitation,
    /// A management token of merchant A, not revoked.
    Token,
}

pub struct Route {
    pub method: Method,
    /// `{key}`, `{member}`, `{invitation}`, `{token}`, `{event}` and `{merchant}` are
    /// merchant A's.
    pub path: &'static str,
    pub fixture: Fixture,
    /// The page whose form carries the one-time value, for forms that need one.
    pub form: Option<&'static str>,
    /// Anonymous, viewer, developer, admin of A, admin of B, support.
    pub expect: [u16; 6],
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

use Fixture::{ActiveKey, DisabledKey, Invitation, KeyWithLifetime, Member, Nothing, Token};

/// Every dashboard route. Admin B works in merchant B: routes without an ID serve B's
/// own pages; routes naming A's key, member or event are not found.
pub const ROUTES: &[Route] = &[
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
    get(
        "/settings/api-credentials/{key}/disable",
        ActiveKey,
        [303, 403, 200, 200, 404, 403],
    ),
    get("/settings/key-policy", Nothing, [303, 403, 403, 200, 200, 403]),
    get("/settings/members", Nothing, [303, 403, 403, 200, 200, 403]),
    get(
        "/settings/management-tokens",
        Nothing,
        [303, 403, 403, 200, 200, 403],
    ),
    get(
        "/settings/management-tokens/new",
        Nothing,
        [303, 403, 403, 200, 200, 403],
    ),
    get(
        "/settings/management-tokens/{token}/revoke",
        Token,
        [303, 403, 403, 200, 404, 403],
    ),
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
    get("/settings/request-log", Nothing, [303, 200, 200, 200, 200, 200]),
    get(
        "/settings/request-log?request_id=0b7e0a415d0c4f6b9e0a1c2d3e4f5a6b",
        Nothing,
        [303, 404, 404, 404, 404, 404],
    ),
    get(
        "/settings/api-credentials/{key}/requests.csv",
        ActiveKey,
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
    post(
        "/support/merchants/{merchant}",
        Nothing,
        Some("/support/merchants/{merchant}"),
        [303, 403, 403, 403, 403, 303],
    ),
    post(
        "/support/merchants/{merchant}/keys/{key}",
        ActiveKey,
        Some("/support/merchants/{merchant}"),
        [303, 403, 403, 403, 403, 303],
    ),
    get(
        "/support/merchants/{merchant}/requests/0b7e0a415d0c4f6b9e0a1c2d3e4f5a6b",
        Nothing,
        [303, 403, 403, 403, 403, 404],
    ),
    post(
        "/support/merchants/{merchant}/requests/0b7e0a415d0c4f6b9e0a1c2d3e4f5a6b",
        Nothing,
        Some("/support/merchants/{merchant}"),
        [303, 403, 403, 403, 403, 404],
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
    // The fixture is a live key: whoever may manage keys is told it is never shown again.
    post(
        "/settings/api-credentials/{key}/reveal",
        ActiveKey,
        None,
        [303, 403, 409, 409, 404, 403],
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
        "/settings/management-tokens",
        Nothing,
        Some("/settings/management-tokens/new"),
        [303, 403, 403, 200, 200, 403],
    ),
    post(
        "/settings/management-tokens/{token}/revoke",
        Token,
        None,
        [303, 403, 403, 303, 404, 403],
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

pub const PASSWORD: &str = "role matrix password";

pub struct World<'a> {
    pub app: &'a TestApp,
    /// The merchant whose keys and members the routes name.
    pub merchant_a: MerchantId,
    pub event_a: String,
    pub counter: std::cell::Cell<u32>,
}

impl World<'_> {
    pub fn next(&self) -> u32 {
        self.counter.set(self.counter.get() + 1);
        self.counter.get()
    }

    /// A key of merchant A made outside the dashboard, in the state `fixture` asks for.
    pub fn key(&self, fixture: Fixture) -> String {
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
        generated.row.id.to_string()
    }

    /// A management token of merchant A made outside the dashboard.
    pub fn token(&self) -> String {
        let n = self.next();
        keyward::service::tokens::create(
            &mut self.app.db.get().unwrap(),
            &self.merchant_a,
            &keyward::service::tokens::CreateToken {
                name: format!("Fixture token {n}"),
                scopes: vec!["keys:read".to_owned()],
                ..Default::default()
            },
            &Actor::cli(),
            &keyward::startup::key_pepper(&test_secret()),
            self.app.clock.now(),
        )
        .unwrap()
        .row
        .id
        .to_string()
    }

    /// A member of merchant A with `role`, made outside the dashboard.
    pub fn member(&self, role: Role) -> String {
        let n = self.next();
        self.user(&format!("member{n}@a.example"), Some((&self.merchant_a, role)))
    }

    /// A pending invitation of merchant A to a new email, sent outside the dashboard.
    pub fn invitation(&self) -> String {
        let n = self.next();
        let email = Email::parse(&format!("invited{n}@a.example")).unwrap();
        keyward::service::invitations::invite(
            &mut self.app.db.get().unwrap(),
            &self.merchant_a,
            &email,
            Role::Viewer,
            keyward::service::invitations::NewAccount {
                name: PersonName::parse("Invited User").unwrap(),
                password_hash: Password::parse_new(PASSWORD.to_owned(), &email).unwrap().hash(),
            },
            &Actor::cli(),
            self.app.clock.now(),
        )
        .unwrap()
        .id
        .to_string()
    }

    pub fn user(&self, email: &str, membership: Option<(&MerchantId, Role)>) -> String {
        let mut conn = self.app.db.get().unwrap();
        let email = Email::parse(email).unwrap();
        users::create(
            &mut conn,
            users::NewUser {
                email: &email,
                name: &PersonName::parse("Matrix User").unwrap(),
                password_hash: &Password::parse_new(PASSWORD.to_owned(), &email).unwrap().hash(),
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
    pub fn snapshot(&self) -> Vec<String> {
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
            "SELECT id || '|' || merchant_id || '|' || name || '|' || COALESCE(CAST(revoked_at AS TEXT), '') AS text FROM management_tokens ORDER BY id",
            // Refusals recorded by design: support's changes, a wrong current password.
            "SELECT CAST(COUNT(*) AS TEXT) AS text FROM key_events WHERE event_type NOT IN ('change_refused', 'password_check_failed', 'sign_in_locked')",
        ] {
            for row in diesel::sql_query(query).load::<Row>(&mut **conn).unwrap() {
                all.push(row.text);
            }
        }
        all
    }
}

pub async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let browser = app.browser();
    let res = browser.sign_in(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{email} signs in");
    browser
}
