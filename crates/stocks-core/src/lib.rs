//! The stocks WebSocket service: everything that runs in AWS, as a library.
//!
//! A client sends `{"action":"stocksaction","ticker":"MSFT"}` over an API Gateway WebSocket;
//! the ingress answers `202 accepted` and queues a [`domain::Job`]; the SQS-triggered worker
//! fetches Polygon daily bars, posts a [`domain::Report`] back through `@connections` and
//! closes the connection. Failures end in a dead-letter queue operators can replay.
//!
//! # Layout
//!
//! Dependencies point one way: `handlers` and `adapters` → `ports` → `domain`.
//!
//! - [`domain`] — tickers, windows, jobs, reports, client messages. No AWS, no I/O.
//! - [`ports`] — the small traits handlers need: [`ports::JobQueue`], [`ports::DeadLetters`],
//!   [`ports::Connections`], [`ports::MarketData`].
//! - [`handlers`] — `$connect`/`$disconnect`, the ingress and the worker, generic over the
//!   ports; the same code runs in Lambda, in `stocksctl local` and in tests.
//! - [`adapters`] — the ports over aws-sdk-sqs, aws-sdk-apigatewaymanagement and reqwest.
//! - [`config`] — the environment, read once per cold start.
//! - [`telemetry`] — JSON logs.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod handlers;
pub mod ports;
pub mod telemetry;
