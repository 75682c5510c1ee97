//! Every key action as one transaction: lock the merchant, read, check the domain's
//! rules, write the change and its history event together. The dashboard and the CLI
//! both go through here.

mod create;
mod lifecycle;
mod reveal;
mod shared;

pub use create::{Rotate, generate, rotate};
pub use lifecycle::{delete, disable, edit, enable, renew, revoke};
pub use reveal::reveal;
pub use shared::{EditRequest, GenerateRequest, Generated, KeyError};
