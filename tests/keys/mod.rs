//! Settings → API Credentials, driven over HTTP as a person clicks it: one module per
//! area of the page.

mod access;
mod counts;
mod environments;
mod generate;
mod last_used;
mod lists;
mod masks;
mod pages;
mod policy;
mod retired;
mod reveal_again;
mod rotate;
mod states;
