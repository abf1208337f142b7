//! The stocks WebSocket service: everything that runs in AWS, as a library.
//!
//! A client sends `{"action":"stocksaction","ticker":"MSFT"}` over an API Gateway WebSocket;
//! the ingress answers `202 accepted` and queues a [`domain::Job`]; the SQS-triggered worker
//! fetches Polygon daily bars, posts a [`domain::Report`] back through `@connections` and
//! closes the connection. Failures end in a dead-letter queue operators can replay.
//!
//! # Layout
//!
//! Dependencies point one way: `deployed` → `config` → `handlers` and `adapters` → `ports` →
//! `domain`.
//!
//! - [`domain`] — tickers, windows, jobs, reports, client messages, access tokens and the rules
//!   a new one meets, the fleet's quota ledger and how an answer is keyed and packed. No AWS, no
//!   I/O.
//! - [`ports`] — one small trait per capability: [`ports::JobQueue`], [`ports::DeadLetters`],
//!   [`ports::Connections`], [`ports::MarketData`], [`ports::MarketQuota`] and
//!   [`ports::SharedAnswers`] (what the worker fleet shares), [`ports::AccessStore`] (token
//!   lookups and per-token rate counters) and [`ports::TokenAdmin`] (operators' create, list,
//!   revoke); the [`ports::Clock`]; and the AWS limits they live within (SQS's longest delay,
//!   API Gateway's lifetimes and sizes).
//! - [`handlers`] — the `$connect` authorizer, `$connect`/`$disconnect`, the ingress and the
//!   worker, generic over the ports; the same code runs in Lambda, in `stocksctl local` and in
//!   tests.
//! - [`adapters`] — the ports over aws-sdk-sqs, aws-sdk-apigatewaymanagement,
//!   aws-sdk-dynamodb (the access table, the fleet's market store), aws-sdk-ssm (the Polygon
//!   key) and reqwest (Polygon), plus in-memory stores, the market cache and the SDK settings.
//! - [`config`] — the environment, read once per cold start, with every setting's default and
//!   bounds.
//! - [`deployed`] — each handler built as its Lambda runs it, from its configuration and the
//!   SDK's: what the Lambdas' `main`s call.
//! - [`telemetry`] — JSON logs, and the `job done` lines the outcome metrics count.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod adapters;
pub mod config;
pub mod deployed;
pub mod domain;
pub mod handlers;
pub mod ports;
pub mod telemetry;
