//! `stocksctl`: the developer's and operator's tool for the stocks WebSocket service.
//!
//! # Layout
//!
//! - [`cli`] — the command line: clap types only (doc comments are the `--help`).
//! - [`local`] — `stocksctl local`: flags → [`stocks_local::LocalConfig`], then serve.
//! - [`get`] — `stocksctl get`: a WebSocket client for one report.
//! - [`dlq`] — `stocksctl dlq`: list, replay and redrive the dead-letter queue.
//! - [`tokens`] — `stocksctl tokens`: create, list and revoke access tokens.
//! - [`preflight`] — `stocksctl preflight`: what a deploy needs, checked before building.
//! - [`smoke`] — `stocksctl smoke`: one real request through a deployed API.
//! - [`stack`] — the deployed stack: its Terraform variables and outputs, and the one region
//!   (`stocksctl region`).
//! - [`progress`] — spinners and bars on stderr.
//!
//! Imports point one way: `main` → the command modules → `cli`, `stocks-local`, `stocks-core`.
//! Nothing in stocks-core or stocks-local knows this crate.

#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod cli;
pub mod dlq;
pub mod get;
pub mod local;
pub mod preflight;
pub mod progress;
pub mod smoke;
pub mod stack;
pub mod tokens;
