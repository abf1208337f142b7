//! Ports: one small trait per capability the handlers need.
//!
//! Handlers are generic over these and never name a concrete adapter, which is what lets the
//! very same handler code run in Lambda (AWS adapters), in `stocksctl local` (an in-memory queue
//! and the local `@connections` API) and in tests (hand-written fakes).
//!
//! Errors say what the caller must decide on — [`ConnectionError::Gone`] (client left, do not
//! retry) versus anything else, [`MarketError::Unavailable`] (retry later) versus
//! [`MarketError::Rejected`] (dead-letter now) versus [`MarketError::QuotaExceeded`] (wait for
//! quota) — and keep their source for the logs.

use std::future::Future;
use std::sync::Arc;

use crate::domain::{Bar, ClientMessage, DateWindow, DeadLetter, Job, Ticker, TokenHash, TokenId, TokenRecord};

/// A boxed error source, kept for logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Queues a job for the worker: the ingress sends new ones; the worker sends back those that
/// wait for market quota, delayed.
pub trait JobQueue: Send + Sync {
    fn send(&self, job: &Job) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Sends `job`, invisible to receivers for `delay_secs` seconds (SQS `DelaySeconds`,
    /// 0..=900).
    fn send_delayed(&self, job: &Job, delay_secs: u32) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Parks a job the worker gave up on, with its failure attributes (worker side).
pub trait DeadLetters: Send + Sync {
    fn dead_letter(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// API Gateway's `@connections` management API: talk to, and hang up on, a client.
pub trait Connections: Send + Sync {
    fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send;

    fn delete(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send;
}

/// Daily aggregates for a ticker over a window, oldest first; empty when there are none.
pub trait MarketData: Send + Sync {
    fn daily_bars(
        &self,
        ticker: &Ticker,
        window: &DateWindow,
    ) -> impl Future<Output = Result<Vec<Bar>, MarketError>> + Send;
}

/// Why a queue operation failed, sorted by what an operator must fix. Each names the queue
/// (its URL, or its ARN for move tasks).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A wrong URL, another account or region, or a deleted queue.
    #[error("no such queue: {queue}")]
    NoSuchQueue { queue: String },
    /// The credentials in use may not do this to the queue (IAM, or the queue's KMS key).
    #[error("access denied to {queue}: check the AWS credentials and their permissions")]
    AccessDenied {
        queue: String,
        #[source]
        source: BoxError,
    },
    /// No answer at all: DNS, a refused connection, a timeout.
    #[error("cannot reach SQS for {queue}")]
    Unreachable {
        queue: String,
        #[source]
        source: BoxError,
    },
    /// SQS answered, refusing the request for another reason (throttling, a bad value).
    #[error("SQS refused a request on {queue}")]
    Refused {
        queue: String,
        #[source]
        source: BoxError,
    },
}

/// Who may connect, and how often each may ask: the access table.
pub trait AccessStore: Send + Sync {
    /// The record stored for a token's hash, revoked or not; `None` when unknown.
    fn token(&self, hash: &TokenHash) -> impl Future<Output = Result<Option<TokenRecord>, AccessError>> + Send;

    /// Counts one request in `token_id`'s one-minute window `minute` (Unix minutes), unless
    /// `limit` requests were already counted there.
    fn count_request(
        &self,
        token_id: &TokenId,
        minute: i64,
        limit: u32,
    ) -> impl Future<Output = Result<RateDecision, AccessError>> + Send;
}

/// What the rate counter said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Counted: under the limit.
    Counted,
    /// This minute's requests are spent; nothing was counted.
    OverLimit,
}

/// Why the access table could not answer, by what an operator must fix (it is named).
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A wrong name, another account or region, or a deleted table.
    #[error("no such table: {table}")]
    NoSuchTable { table: String },
    #[error("access denied to table {table}: check the AWS credentials and their permissions")]
    AccessDenied {
        table: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot reach DynamoDB for table {table}")]
    Unreachable {
        table: String,
        #[source]
        source: BoxError,
    },
    /// DynamoDB answered, refusing the request for another reason (throttling, a bad item).
    #[error("DynamoDB refused a request on table {table}")]
    Refused {
        table: String,
        #[source]
        source: BoxError,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// 410 Gone: the client disconnected (or never existed). Final; never worth a retry.
    #[error("the connection is gone")]
    Gone,
    #[error("the @connections API request failed")]
    Failed(#[source] BoxError),
}

/// `Clone`: one upstream answer may be shared by several waiting requests.
#[derive(Clone, Debug, thiserror::Error)]
pub enum MarketError {
    /// Transient trouble (429, 5xx, timeouts, malformed JSON) that outlasted the retries.
    #[error("market data unavailable after {attempts} attempt(s): {last}")]
    Unavailable { attempts: u32, last: String },
    /// The provider refused us (401/403 or another 4xx): retrying cannot help.
    #[error("market data provider refused the request with HTTP {status}")]
    Rejected { status: u16 },
    /// The provider broke its own protocol in a way retrying cannot fix (e.g. a `next_url`
    /// pointing at another host, which would leak the key).
    #[error("market data provider broke protocol: {0}")]
    Protocol(String),
    /// The plan's request quota is spent (429, or our own limiter said so first): not a failure,
    /// a wait. `retry_after` is when the quota is expected back, if known.
    #[error("market request quota spent; retry after {retry_after:?}")]
    QuotaExceeded { retry_after: Option<std::time::Duration> },
}

impl MarketError {
    /// Worth another SQS delivery later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Base URL of an `@connections` API: `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`
/// in AWS, `http://127.0.0.1:8080/local` locally. No trailing slash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallbackUrl(Arc<str>);

#[derive(Debug, thiserror::Error)]
#[error("callback URL must be an absolute http(s) URL, got {0:?}")]
pub struct InvalidCallbackUrl(String);

impl CallbackUrl {
    pub fn parse(url: &str) -> Result<Self, InvalidCallbackUrl> {
        let trimmed = url.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(Self(trimmed.into())),
            _ => Err(InvalidCallbackUrl(url.to_owned())),
        }
    }

    /// What API Gateway itself would use: `https://{domainName}/{stage}` from the event.
    pub fn from_request(domain_name: &str, stage: &str) -> Option<Self> {
        if domain_name.is_empty() || stage.is_empty() {
            return None;
        }
        Self::parse(&format!("https://{domain_name}/{stage}")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// Shared adapters: tests and the local gateway keep a handle on the same instance the handler
// uses.
impl<T: JobQueue> JobQueue for Arc<T> {
    fn send(&self, job: &Job) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send(job)
    }

    fn send_delayed(&self, job: &Job, delay_secs: u32) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send_delayed(job, delay_secs)
    }
}

impl<T: DeadLetters> DeadLetters for Arc<T> {
    fn dead_letter(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).dead_letter(letter)
    }
}

impl<T: Connections> Connections for Arc<T> {
    fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send {
        (**self).post(callback, connection_id, message)
    }

    fn delete(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send {
        (**self).delete(callback, connection_id)
    }
}

impl<T: AccessStore> AccessStore for Arc<T> {
    fn token(&self, hash: &TokenHash) -> impl Future<Output = Result<Option<TokenRecord>, AccessError>> + Send {
        (**self).token(hash)
    }

    fn count_request(
        &self,
        token_id: &TokenId,
        minute: i64,
        limit: u32,
    ) -> impl Future<Output = Result<RateDecision, AccessError>> + Send {
        (**self).count_request(token_id, minute, limit)
    }
}

impl<T: MarketData> MarketData for Arc<T> {
    fn daily_bars(
        &self,
        ticker: &Ticker,
        window: &DateWindow,
    ) -> impl Future<Output = Result<Vec<Bar>, MarketError>> + Send {
        (**self).daily_bars(ticker, window)
    }
}

/// Renders an error with its whole `source()` chain, for one-line logs.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls() {
        assert_eq!(
            CallbackUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod/")
                .unwrap()
                .as_str(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
        );
        assert_eq!(
            CallbackUrl::parse("http://127.0.0.1:8080/local").unwrap().as_str(),
            "http://127.0.0.1:8080/local"
        );
        for bad in ["", "abc.example.com/prod", "ftp://x/y", "https://", "https:///prod"] {
            assert!(CallbackUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            CallbackUrl::from_request("abc.execute-api.us-east-1.amazonaws.com", "prod")
                .unwrap()
                .as_str(),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod"
        );
        assert_eq!(CallbackUrl::from_request("", "prod"), None);
    }

    #[test]
    fn error_chain_includes_sources() {
        let err = QueueError::Unreachable {
            queue: "https://sqs/q".into(),
            source: "connection refused".into(),
        };
        assert_eq!(
            error_chain(&err),
            "cannot reach SQS for https://sqs/q: connection refused"
        );
    }
}
