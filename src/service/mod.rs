//! The application layer: each change as one transaction. It begins by locking the
//! merchant and checking the actor again, asks the domain's rules, writes the change and
//! its history event together. The dashboard, the command line and the API all call it.

pub mod authority;
pub mod change;
pub mod diagnosis;
pub mod invitations;
pub mod keys;
pub mod lapses;
pub mod members;
pub mod policy;
pub mod sign_in;
pub mod tokens;
