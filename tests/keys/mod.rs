//! Settings → API Credentials, driven over HTTP as a person clicks it: one module per
//! area of the page.

mod access;
mod generate;
mod lists;
mod pages;
mod policy;
mod rotate;
mod states;
