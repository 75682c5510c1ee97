//! The dashboard: sign-in, sessions, CSRF, security headers, and one module per page area.
//! This module names them and registers the routes; what handlers share lives in `state`,
//! `respond`, `error` and `paths`.

pub mod account;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod body;
pub mod chart;
pub mod csrf;
pub mod current_user;
pub mod error;
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
pub mod paths;
pub mod request_log;
pub mod respond;
pub mod session;
pub mod session_failures;
pub mod session_store;
pub mod settings;
pub mod shell;
pub mod state;
pub mod support;
pub mod visitor_tokens;

use actix_web::web;

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
        .service(web::resource(paths::INVITATIONS).route(web::get().to(invitations::page)))
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
        .service(
            web::resource("/support/merchants/{merchant_id}")
                .route(web::get().to(support::merchant))
                .route(web::post().to(support::open_merchant)),
        )
        .service(
            web::resource("/support/merchants/{merchant_id}/keys/{key_id}")
                .route(web::get().to(support::open_key))
                .route(web::post().to(support::open_merchant_on_key)),
        );
}
