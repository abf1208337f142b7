//! stocks-local's integration tests, one binary: the local stack end to end with a real
//! WebSocket client — the protocol, limits and lifetimes, the `@connections` and market HTTP
//! surfaces, and `--queue sqs` over moto.

mod apis;
mod auth;
mod console;
mod fleet;
mod local;
mod quota;
mod sqs_mode;
