//! Settings → API Credentials: the key list and every key action, each modal also a
//! plain page when JavaScript is off. One module per page area; what they share is in
//! `shared`, and this module only names them.

mod cards;
mod confirm;
mod detail;
mod disable;
mod edit;
mod generate;
mod list;
mod list_query;
mod origin;
mod quick;
mod requests;
mod reveal;
mod rotate;
mod shared;

pub use confirm::{Irreversible, confirm, confirm_page};
pub use detail::detail;
pub use disable::disable_page;
pub use edit::{edit, edit_page};
pub use generate::{duplicate_form, generate, new_form};
pub use list::list;
pub use quick::{QuickAction, quick};
pub use requests::{KeyLogQuery, requests_csv};
pub use reveal::reveal;
pub use rotate::{rotate, rotate_page};
