//! The domain: plain data and rules, no AWS and no I/O.
//!
//! - [`Ticker`] — the validated symbol, the only client text that reaches a URL.
//! - [`DateWindow`] — the report's days, from strict `YYYY-MM-DD` or the default window.
//! - [`StockRequest`] / [`Rejection`] — a client frame, parsed or refused with its 400 code.
//! - [`Job`] — the versioned SQS message between ingress and worker.
//! - [`Bar`] / [`Report`] — Polygon's daily aggregates and the seed's numbers over them.
//! - [`ClientMessage`] / [`ErrorCode`] — every frame the server sends.
//! - [`DeadLetter`] / [`FailureReason`] — a job the worker gave up on, and why.
//! - [`next_market_close`] — when cached daily bars may change.
//! - [`QuotaLedger`] / [`Rate`] / [`Slot`] — the market quota a fleet of workers shares, as
//!   rules over start times, promised slots and a gate.
//! - [`AnswerKey`] / [`PackedBars`] — a market answer as the fleet shares it.
//! - [`Token`] / [`TokenHash`] / [`TokenId`] / [`TokenRecord`] / [`Grant`] / [`NewToken`] —
//!   access tokens, and the rules a new one must meet.

mod answer;
mod dead_letter;
mod job;
mod market_close;
mod message;
mod quota;
mod report;
mod request;
mod ticker;
mod token;
mod window;

pub use answer::{AnswerKey, PackedBars};
pub use dead_letter::{DeadLetter, FailureReason, attribute};
pub use job::{Job, JobError};
pub use market_close::next_market_close;
pub use message::{ClientMessage, ErrorCode};
pub use quota::{QuotaLedger, Rate, Slot};
pub use report::{Bar, Report, SeriesBar};
pub use request::{MAX_BODY_BYTES, Rejection, STOCKS_ACTION, StockRequest, unrouted};
pub use ticker::{Ticker, TickerError};
pub use token::{
    DEFAULT_RATE_PER_MINUTE, Grant, MAX_RATE_PER_MINUTE, NewToken, Token, TokenError, TokenHash, TokenId, TokenRecord,
    TokenRuleError, valid_token_name,
};
pub use window::{DateField, DateWindow, WindowDays, WindowError, parse_date};
