//! Test harness shared by the workspace's tests and the bench (never deployed).
//!
//! # Layout
//!
//! - [`fakes`] — in-memory implementations of every port, written once: [`FakeQueue`],
//!   [`FakeDeadLetters`], [`FakeConnections`], [`FakeMarket`], [`FakeAccess`], sharing a
//!   [`Journal`].
//! - [`fixtures`] — API Gateway WebSocket and SQS events (`fixtures/*.json`, shaped like
//!   `aws_lambda_events`' own), the hostile-frame corpus, and builders over them.
//! - [`moto`] — a moto server (real SQS and DynamoDB wire protocols) per test.
//! - [`stack`] — the local stack on port 0, and its HTTP APIs.
//! - [`ws`] — a WebSocket client that waits with patience and fails the test with a reason.

pub mod fakes;
pub mod fixtures;
pub mod moto;
pub mod stack;
pub mod ws;

pub use fakes::{FakeAccess, FakeConnections, FakeDeadLetters, FakeMarket, FakeQueue, Journal, Post, bar};
pub use fixtures::{
    HostileToken, authorizer_request, fixture, hostile_tokens, job_body, job_json, sqs_event, sqs_record,
    unknown_token, websocket_message,
};
pub use moto::{MotoServer, Queues, REGION};
pub use stack::Stack;

/// The Lambda packages `make build` zips, one per function (the Makefile's `LAMBDAS`): what the
/// artefact tests and the bench run.
pub const LAMBDA_PACKAGES: [&str; 5] = [
    "stocks-connect",
    "stocks-disconnect",
    "stocks-ingress",
    "stocks-worker",
    "stocks-authorizer",
];

/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);
