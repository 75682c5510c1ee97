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
pub mod diagnose;
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
pub mod metrics;
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
pub mod tokens;
pub mod visitor_tokens;

use actix_web::web;

/// Routes that need no session: health, readiness and assets.
pub fn operations(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(paths::HEALTHZ).route(web::get().to(ops::healthz)))
        .service(web::resource(paths::READYZ).route(web::get().to(ops::readyz)))
        .service(web::resource(paths::STATIC_ASSET).route(web::get().to(assets::serve)));
}

/// Registers every dashboard route; they run inside the session and CSRF middleware.
/// IDs in paths are parsed into their types first: a malformed one is the 404 page,
/// before any query.
pub fn dashboard(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|_, _| error::WebError::NotFound.into()));
    cfg.service(web::resource(paths::ROOT).route(web::get().to(auth::home)))
        .service(
            web::resource(paths::LOGIN)
                .route(web::get().to(auth::login_form))
                .route(web::post().to(auth::login)),
        )
        .service(web::resource(paths::LOGOUT).route(web::post().to(auth::logout)))
        .service(web::resource(paths::SETTINGS).route(web::get().to(settings::index)))
        .service(
            web::resource(paths::API_CREDENTIALS)
                .route(web::get().to(keys::list))
                .route(web::post().to(keys::generate)),
        )
        .service(web::resource(paths::NEW_KEY).route(web::get().to(keys::new_form)))
        .service(web::resource(paths::route::KEY).route(web::get().to(keys::detail)))
        .service(web::resource(paths::route::KEY_REQUESTS_CSV).route(web::get().to(keys::requests_csv)))
        .service(web::resource(paths::route::KEY_DUPLICATE).route(web::get().to(keys::duplicate_form)))
        .service(
            web::resource(paths::route::KEY_EDIT)
                .route(web::get().to(keys::edit_page))
                .route(web::post().to(keys::edit)),
        )
        .service(
            web::resource(paths::route::KEY_ROTATE)
                .route(web::get().to(keys::rotate_page))
                .route(web::post().to(keys::rotate)),
        )
        .service(
            web::resource(paths::route::KEY_REVOKE)
                .route(web::get().to(|req, user, state, path| {
                    keys::confirm_page(req, user, state, path, keys::Irreversible::Revoke)
                }))
                .route(web::post().to(|req, user, state, path, form| {
                    keys::confirm(req, user, state, path, form, keys::Irreversible::Revoke)
                })),
        )
        .service(
            web::resource(paths::route::KEY_DISABLE)
                .route(web::get().to(keys::disable_page))
                .route(web::post().to(|req, user, state, path| {
                    keys::quick(req, user, state, path, keys::QuickAction::Disable)
                })),
        )
        .service(web::resource(paths::route::KEY_REVEAL).route(web::post().to(keys::reveal)))
        .service(
            web::resource(paths::route::KEY_ENABLE).route(
                web::post().to(|req, user, state, path| {
                    keys::quick(req, user, state, path, keys::QuickAction::Enable)
                }),
            ),
        )
        .service(
            web::resource(paths::route::KEY_RENEW).route(
                web::post().to(|req, user, state, path| {
                    keys::quick(req, user, state, path, keys::QuickAction::Renew)
                }),
            ),
        )
        .service(
            web::resource(paths::route::KEY_DELETE)
                .route(web::get().to(|req, user, state, path| {
                    keys::confirm_page(req, user, state, path, keys::Irreversible::Delete)
                }))
                .route(web::post().to(|req, user, state, path, form| {
                    keys::confirm(req, user, state, path, form, keys::Irreversible::Delete)
                })),
        )
        .service(
            web::resource(paths::KEY_POLICY)
                .route(web::get().to(key_policy::page))
                .route(web::post().to(key_policy::save)),
        )
        .service(
            web::resource(paths::MANAGEMENT_TOKENS)
                .route(web::get().to(tokens::page))
                .route(web::post().to(tokens::create)),
        )
        .service(web::resource(paths::NEW_MANAGEMENT_TOKEN).route(web::get().to(tokens::new_form)))
        .service(
            web::resource(paths::route::MANAGEMENT_TOKEN_REVOKE)
                .route(web::get().to(tokens::revoke_page))
                .route(web::post().to(tokens::revoke)),
        )
        .service(
            web::resource(paths::MEMBERS)
                .route(web::get().to(members::page))
                .route(web::post().to(members::add)),
        )
        .service(web::resource(paths::route::MEMBER_ROLE).route(web::post().to(members::change_role)))
        .service(web::resource(paths::route::MEMBER_DISABLE).route(
            web::post().to(|req, user, state, path| {
                members::switch(req, user, state, path, members::Switch::Disable)
            }),
        ))
        .service(web::resource(paths::route::MEMBER_ENABLE).route(
            web::post().to(|req, user, state, path| {
                members::switch(req, user, state, path, members::Switch::Enable)
            }),
        ))
        .service(
            web::resource(paths::route::MEMBER_REMOVE)
                .route(web::get().to(members::remove_page))
                .route(web::post().to(members::remove)),
        )
        .service(
            web::resource(paths::route::CANCEL_INVITATION).route(web::post().to(members::cancel_invitation)),
        )
        .service(web::resource(paths::INVITATIONS).route(web::get().to(invitations::page)))
        .service(web::resource(paths::route::ACCEPT_INVITATION).route(web::post().to(invitations::accept)))
        .service(web::resource(paths::route::DECLINE_INVITATION).route(web::post().to(invitations::decline)))
        .service(
            web::resource(paths::PASSWORD)
                .route(web::get().to(account::password_page))
                .route(web::post().to(account::change_password)),
        )
        .service(web::resource(paths::MERCHANT).route(web::post().to(settings::switch_merchant)))
        .service(web::resource(paths::AUDIT_LOG).route(web::get().to(audit::log)))
        .service(web::resource(paths::route::AUDIT_EVENT).route(web::get().to(audit::event)))
        .service(web::resource(paths::REQUEST_LOG).route(web::get().to(diagnose::page)))
        .service(web::resource(paths::SUPPORT).route(web::get().to(support::console)))
        .service(
            web::resource(paths::route::SUPPORT_MERCHANT)
                .route(web::get().to(support::merchant))
                .route(web::post().to(support::open_merchant)),
        )
        .service(
            web::resource(paths::route::SUPPORT_REQUEST)
                .route(web::get().to(support::open_request))
                .route(web::post().to(support::open_merchant_on_request)),
        )
        .service(
            web::resource(paths::route::SUPPORT_KEY)
                .route(web::get().to(support::open_key))
                .route(web::post().to(support::open_merchant_on_key)),
        );
}
