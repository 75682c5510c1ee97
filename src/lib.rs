//! Keyward: API-key management with a server-rendered dashboard.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod drain;
pub mod error;
pub mod service;
pub mod startup;
pub mod telemetry;
pub mod usage;
pub mod web;
