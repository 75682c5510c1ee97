//! Settings → Management Tokens (admins): the merchant's tokens for the management API,
//! the New Management Token form with its one-time Reveal, and Revoke, each modal also a
//! plain page when JavaScript is off. What the modules share is in `shared`.

mod create;
mod list;
mod revoke;
mod shared;

pub use create::{create, new_form};
pub use list::page;
pub use revoke::{revoke, revoke_page};
