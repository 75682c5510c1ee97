//! What the integration tests share: a database per test on each backend, the real
//! server, a browser-like client, the binary, the dashboard as a person uses it,
//! management tokens, and the table of every dashboard route. No test module imports
//! another; they all import this.

pub mod app;
pub mod browser;
pub mod cli;
pub mod dashboard;
pub mod db;
pub mod routes;
pub mod tokens;

pub use app::*;
pub use browser::*;
pub use db::*;
