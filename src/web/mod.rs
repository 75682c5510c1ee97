//! The dashboard: sign-in, sessions, CSRF, security headers, and one module per page area.

pub mod account;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod chart;
pub mod csrf;
pub mod current_user;
pub mod escape;
pub mod format;
pub mod forms;
pub mod headers;
pub mod history;
pub mod invitations;
pub mod key_policy;
pub mod keys;
pub mod members;
pub mod modal;
pub mod ops;
pub mod request_log;
pub mod session;
pub mod session_store;
pub mod settings;
pub mod shell;
pub mod support;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context;
use askama::Template;
use tokio::sync::Semaphore;

use crate::api::TrustedProxies;
use crate::api::cache::KeyCache;
use crate::clock::Clock;
use crate::config::SessionSettings;
use crate::db::{Db, DbConnection};
use crate::domain::{KeyPepper, SignInThrottle};
use crate::error::{ErrorPage, WebError};
use crate::keys::KeyError;

/// What every handler may need, shared across workers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The source of "now".
    pub clock: Clock,
    /// Session lifetimes.
    pub session: SessionSettings,
    /// Failed sign-in limits.
    pub throttle: SignInThrottle,
    /// The HMAC key for key digests.
    pub pepper: KeyPepper,
    /// Password checks allowed at once (one per core).
    pub password_checks: Arc<Semaphore>,
    /// Verified keys; cleared whenever a key changes here.
    pub key_cache: Arc<KeyCache>,
    /// Proxies whose X-Forwarded-For names the client.
    pub proxies: TrustedProxies,
}

impl AppState {
    /// Runs a key change and, once it has committed, clears the verification cache, in
    /// the same blocking task: a request cancelled meanwhile cannot leave a revoked key
    /// cached.
    pub async fn change_keys<T, F>(&self, change: F) -> Result<T, KeyError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, KeyError> + Send + 'static,
        T: Send + 'static,
    {
        let cache = self.key_cache.clone();
        self.db
            .run(move |conn| {
                let changed = change(conn)?;
                cache.clear();
                Ok(changed)
            })
            .await
    }

    /// Runs password work (argon2id: ~19 MiB and a core per hash or check) on a blocking
    /// thread, one per core at once: a flood of sign-ins queues here instead of
    /// exhausting memory.
    pub async fn password_work<T, F>(&self, work: F) -> Result<T, WebError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self
            .password_checks
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("The password check queue was closed"))?;
        Ok(actix_web::rt::task::spawn_blocking(work)
            .await
            .map_err(|_| anyhow::anyhow!("Failed to run the password check"))?)
    }

    /// The client's address, through trusted proxies.
    pub fn client_address(&self, req: &HttpRequest) -> String {
        self.proxies
            .client_address(req)
            .map_or_else(|| "unknown".to_owned(), |address| address.to_string())
    }
}

/// Routes that need no session: health, readiness and assets.
pub fn operations(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(ops::healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::readyz)))
        .service(web::resource("/static/{name}").route(web::get().to(assets::serve)));
}

/// Registers every dashboard route; they run inside the session and CSRF middleware.
pub fn dashboard(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(auth::home)))
        .service(
            web::resource("/login")
                .route(web::get().to(auth::login_form))
                .route(web::post().to(auth::login)),
        )
        .service(web::resource("/logout").route(web::post().to(auth::logout)))
        .service(web::resource("/settings").route(web::get().to(settings::index)))
        .service(
            web::resource("/settings/api-credentials")
                .route(web::get().to(keys::list))
                .route(web::post().to(keys::generate)),
        )
        .service(web::resource("/settings/api-credentials/new").route(web::get().to(keys::new_form)))
        .service(web::resource("/settings/api-credentials/{key_id}").route(web::get().to(keys::detail)))
        .service(
            web::resource("/settings/api-credentials/{key_id}/duplicate")
                .route(web::get().to(keys::duplicate_form)),
        )
        .service(
            web::resource("/settings/api-credentials/{key_id}/edit")
                .route(web::get().to(keys::edit_page))
                .route(web::post().to(keys::edit)),
        )
        .service(
            web::resource("/settings/api-credentials/{key_id}/rotate")
                .route(web::get().to(keys::rotate_page))
                .route(web::post().to(keys::rotate)),
        )
        .service(
            web::resource("/settings/api-credentials/{key_id}/revoke")
                .route(web::get().to(|req, user, state, path| {
                    keys::confirm_page(req, user, state, path, keys::Irreversible::Revoke)
                }))
                .route(web::post().to(|req, user, state, path, form| {
                    keys::confirm(req, user, state, path, form, keys::Irreversible::Revoke)
                })),
        )
        .service(
            web::resource("/settings/api-credentials/{key_id}/disable").route(web::post().to(
                |req, user, state, path| keys::quick(req, user, state, path, keys::QuickAction::Disable),
            )),
        )
        .service(
            web::resource("/settings/api-credentials/{key_id}/enable").route(
                web::post().to(|req, user, state, path| {
                    keys::quick(req, user, state, path, keys::QuickAction::Enable)
                }),
            ),
        )
        .service(
            web::resource("/settings/api-credentials/{key_id}/renew").route(
                web::post().to(|req, user, state, path| {
                    keys::quick(req, user, state, path, keys::QuickAction::Renew)
                }),
            ),
        )
        .service(
            web::resource("/settings/api-credentials/{key_id}/delete")
                .route(web::get().to(|req, user, state, path| {
                    keys::confirm_page(req, user, state, path, keys::Irreversible::Delete)
                }))
                .route(web::post().to(|req, user, state, path, form| {
                    keys::confirm(req, user, state, path, form, keys::Irreversible::Delete)
                })),
        )
        .service(
            web::resource("/settings/key-policy")
                .route(web::get().to(key_policy::page))
                .route(web::post().to(key_policy::save)),
        )
        .service(
            web::resource("/settings/members")
                .route(web::get().to(members::page))
                .route(web::post().to(members::add)),
        )
        .service(
            web::resource("/settings/members/{user_id}/role").route(web::post().to(members::change_role)),
        )
        .service(web::resource("/settings/members/{user_id}/disable").route(
            web::post().to(|req, user, state, path| {
                members::switch(req, user, state, path, members::Switch::Disable)
            }),
        ))
        .service(web::resource("/settings/members/{user_id}/enable").route(
            web::post().to(|req, user, state, path| {
                members::switch(req, user, state, path, members::Switch::Enable)
            }),
        ))
        .service(
            web::resource("/settings/members/{user_id}/remove")
                .route(web::get().to(members::remove_page))
                .route(web::post().to(members::remove)),
        )
        .service(
            web::resource("/settings/members/invitations/{invitation_id}/cancel")
                .route(web::post().to(members::cancel_invitation)),
        )
        .service(web::resource(invitations::INVITATIONS).route(web::get().to(invitations::page)))
        .service(
            web::resource("/invitations/{invitation_id}/accept").route(web::post().to(invitations::accept)),
        )
        .service(
            web::resource("/invitations/{invitation_id}/decline").route(web::post().to(invitations::decline)),
        )
        .service(
            web::resource("/account/password")
                .route(web::get().to(account::password_page))
                .route(web::post().to(account::change_password)),
        )
        .service(web::resource("/settings/merchant").route(web::post().to(settings::switch_merchant)))
        .service(web::resource("/settings/audit-log").route(web::get().to(audit::log)))
        .service(web::resource("/settings/audit-log/{event_id}").route(web::get().to(audit::event)))
        .service(web::resource("/support").route(web::get().to(support::console)))
        .service(web::resource("/support/merchants/{merchant_id}").route(web::get().to(support::merchant)))
        .service(
            web::resource("/support/merchants/{merchant_id}/keys/{key_id}")
                .route(web::get().to(support::open_key)),
        )
        .service(web::resource("/healthz").route(web::get().to(ops::healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::readyz)))
        .service(web::resource("/static/{name}").route(web::get().to(assets::serve)));
}

/// A 303 to `location`: where a plain form post or a page without content of its own
/// sends the browser.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

/// True for requests made by htmx, which get a partial instead of a whole page.
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}

/// Renders a template as an HTML response with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Result<HttpResponse, WebError> {
    let body = template.render().context("Failed to render a page template")?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// The answer to any path no route serves: a JSON error under `/api/`, a page elsewhere.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if req.path().starts_with("/api/") {
        return HttpResponse::NotFound().json(serde_json::json!({
            "error": {"code": "not_found", "message": "There is no API endpoint at this path."}
        }));
    }
    ErrorPage {
        title: "Page not found",
        message: "There is nothing at this address.",
        error_id: None,
        next_href: "/",
        next_label: "Back to the dashboard",
    }
    .respond(StatusCode::NOT_FOUND)
}
