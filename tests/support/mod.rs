//! What the integration tests share: a database per test on each backend, the real
//! server, a browser-like client, the binary, the dashboard as a person uses it,
//! management tokens, a real nginx with the deploy guide's files, a private Postgres to stop
//! and freeze, and the table of every dashboard route. No test module imports
//! another; they all import this.

pub mod app;
pub mod browser;
pub mod cli;
pub mod dashboard;
pub mod db;
pub mod manage;
pub mod nginx;
pub mod postgres;
pub mod routes;
pub mod tokens;

pub use app::*;
pub use browser::*;
pub use db::*;
