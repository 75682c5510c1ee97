//! `/api/v1/keys`: a merchant's keys, as the management API shows and changes them:
//! reading them (`read`), making new ones (`create`: generate, rotate, duplicate) and
//! changing one (`change`). Every change is the dashboard's service call, made by the
//! token's actor.

pub mod change;
pub mod create;
pub mod read;
pub mod requests;
pub mod resource;
pub mod reveal;

use actix_web::web;

pub use change::{NoFields, UpdateKey};
pub use create::{CreateKey, CreatedKey, Grace, RotateKey, RotatedKey, SECRET_NOT_SHOWN};
pub use read::{EventList, HourlyUsage, KeyPage, Usage};
pub use requests::{LoggedRequest, RequestPage};
pub use resource::{Key, KeyEnvironment, KeyState, find_key, location, rfc3339};
pub use reveal::RevealedKey;

/// Registers the key routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/keys")
            .route(web::get().to(read::list_keys))
            .route(web::post().to(create::create_key)),
    )
    .service(
        web::resource("/keys/{key_id}")
            .route(web::get().to(read::get_key))
            .route(web::patch().to(change::update_key))
            .route(web::delete().to(change::delete_key)),
    )
    .service(web::resource("/keys/{key_id}/rotate").route(web::post().to(create::rotate_key)))
    .service(web::resource("/keys/{key_id}/duplicate").route(web::post().to(create::duplicate_key)))
    .service(web::resource("/keys/{key_id}/disable").route(web::post().to(change::disable_key)))
    .service(web::resource("/keys/{key_id}/enable").route(web::post().to(change::enable_key)))
    .service(web::resource("/keys/{key_id}/renew").route(web::post().to(change::renew_key)))
    .service(web::resource("/keys/{key_id}/revoke").route(web::post().to(change::revoke_key)))
    .service(web::resource("/keys/{key_id}/reveal").route(web::post().to(reveal::reveal_key)))
    .service(web::resource("/keys/{key_id}/usage").route(web::get().to(read::key_usage)))
    .service(web::resource("/keys/{key_id}/history").route(web::get().to(read::key_history)))
    .service(web::resource("/keys/{key_id}/requests").route(web::get().to(requests::key_requests)));
}
