//! `stocksctl`: the developer's and operator's tool for the stocks WebSocket service.
//!
//! # Layout
//!
//! - [`cli`] — the command line (clap derive; doc comments are the `--help`).
//! - [`local`] — `stocksctl local`: API Gateway WebSocket emulation, `@connections`, an
//!   SQS-semantics queue, the event-source mapping and the demo market, around the real
//!   stocks-core handlers.
//! - [`get`] — `stocksctl get`: a WebSocket client for one report.
//! - [`dlq`] — `stocksctl dlq`: list, replay and redrive the dead-letter queue.
//! - [`aws`] — AWS settings for the commands that talk to real services.
//! - [`bench`] — `stocksctl bench`: latency, throughput, handler cost, Lambda init and memory.
//!
//! Nothing in stocks-core knows this crate: it only wires adapters and emulates AWS.

pub mod aws;
pub mod bench;
pub mod cli;
pub mod dlq;
pub mod get;
pub mod local;
