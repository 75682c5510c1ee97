//! Settings → Members (admins only): the merchant's members and invitations, inviting
//! by email (answered the same whatever exists behind it), role changes, Disable /
//! Enable, Remove, and cancelling an invitation.

mod change;
mod invite;
mod page;

pub use change::{Switch, change_role, remove, remove_page, switch};
pub use invite::{add, cancel_invitation};
pub use page::page;
