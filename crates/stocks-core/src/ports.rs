//! Ports: one small trait per capability the handlers need.
//!
//! Handlers are generic over these and never name a concrete adapter, which is what lets the
//! very same handler code run in Lambda (AWS adapters), in `stocksctl local` (an in-memory queue
//! and the local `@connections` API) and in tests (hand-written fakes).
//!
//! Errors say what the caller must decide on — [`ConnectionError::Gone`] (client left, do not
//! retry) versus anything else, [`MarketError::Unavailable`] (retry later) versus
//! [`MarketError::Rejected`] (dead-letter now) versus [`MarketError::PlanLimit`] (tell the client)
//! versus [`MarketError::Wait`] (defer the job) — and keep their source for the logs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{
    AnswerKey, Bar, ClientMessage, DateWindow, DeadLetter, Job, NewToken, Slot, Ticker, Token, TokenHash, TokenId,
    TokenRecord, TokenRuleError,
};

/// A boxed error source, kept for logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// SQS's longest `DelaySeconds`, 15 minutes: the most [`JobQueue::send_delayed`] can wait.
pub const MAX_DELAY_SECS: u32 = 900;

/// API Gateway closes every WebSocket connection this long after it opened, whatever it does:
/// nothing posted to a connection older than this can arrive.
pub const CONNECTION_MAX_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// API Gateway closes a WebSocket connection that carries no message, either way, this long.
pub const CONNECTION_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// API Gateway's largest WebSocket frame, 32 KB.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// API Gateway's largest WebSocket message (all its frames), 128 KB: what one
/// [`Connections::post`] may carry.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// Queues a job for the worker: the ingress sends new ones; the worker sends back those that
/// wait for market quota, delayed.
pub trait JobQueue: Send + Sync {
    /// Sends a new job, visible to receivers at once.
    fn send(&self, job: &Job) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Sends `job`, invisible to receivers for `delay_secs` seconds (SQS `DelaySeconds`,
    /// at most [`MAX_DELAY_SECS`]; more is capped).
    fn send_delayed(&self, job: &Job, delay_secs: u32) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Parks a job the worker gave up on, with its failure attributes (worker side).
pub trait DeadLetters: Send + Sync {
    /// Parks `letter` in the dead-letter queue, its failure as message attributes.
    fn dead_letter(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// API Gateway's `@connections` management API: talk to, and hang up on, a client.
pub trait Connections: Send + Sync {
    /// Sends `message` to the client on `connection_id`.
    fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send;

    /// Hangs up on the client on `connection_id`.
    fn delete(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send;
}

/// The market quota every worker instance shares: one ledger ([`QuotaLedger`]) in a store all
/// instances reach (DynamoDB deployed; memory in the local stack, or per instance when no table
/// is configured).
pub trait MarketQuota: Send + Sync {
    /// May the market call fetching `key` start at `now`? [`Slot::WaitUntil`] holds a slot for
    /// `key` at the time it names.
    fn take_slot(&self, key: &str, now: DateTime<Utc>) -> impl Future<Output = Result<Slot, StoreError>> + Send;

    /// A 429 came back anyway: no call of any instance starts before `until`.
    fn close_gate(&self, until: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Market answers every worker instance shares, kept until the next market close, and the
/// short leases that make identical requests on different instances one market call.
pub trait SharedAnswers: Send + Sync {
    /// The answer kept for `key`, unless there is none or it expired before `now`.
    fn answer(
        &self,
        key: &AnswerKey,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Vec<Bar>>, StoreError>> + Send;

    /// Keeps `bars` as the answer for `key` until `until`.
    fn keep(
        &self,
        key: &AnswerKey,
        bars: &[Bar],
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes the lease on fetching `key` for `holder` until `until`: `false` when another
    /// holder's lease is still live at `now`.
    fn take_lease(
        &self,
        key: &AnswerKey,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives back `holder`'s lease on `key` (nothing if it is no longer `holder`'s).
    fn release_lease(&self, key: &AnswerKey, holder: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Why the shared market store could not answer. Every caller fails safe: the job is deferred,
/// never sent to the market outside the limit.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A wrong name, another account or region, or a deleted table.
    #[error("no such table: {table}")]
    NoSuchTable {
        /// The table's name.
        table: String,
    },
    /// The credentials in use may not do this to the table.
    #[error("access denied to table {table}: check the worker role's permissions")]
    AccessDenied {
        /// The table's name.
        table: String,
        /// What DynamoDB said.
        #[source]
        source: BoxError,
    },
    /// No answer at all: DNS, a refused connection, a timeout.
    #[error("cannot reach DynamoDB for table {table}")]
    Unreachable {
        /// The table's name.
        table: String,
        /// What the connection said.
        #[source]
        source: BoxError,
    },
    /// DynamoDB answered, refusing the request for another reason (throttling, a bad item).
    #[error("DynamoDB refused a request on table {table}")]
    Refused {
        /// The table's name.
        table: String,
        /// What DynamoDB said.
        #[source]
        source: BoxError,
    },
    /// The quota ledger changed under every one of our tries (many instances at once).
    #[error("the quota ledger in {table} kept changing; gave up after {tries} tries")]
    Contended {
        /// The table's name.
        table: String,
        /// Reads and conditional writes tried.
        tries: u32,
    },
}

/// Daily aggregates for a ticker over a window, oldest first; empty when there are none.
pub trait MarketData: Send + Sync {
    /// The daily bars of `ticker` in `window`, oldest first.
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
    NoSuchQueue {
        /// The queue's URL or ARN.
        queue: String,
    },
    /// The credentials in use may not do this to the queue (IAM, or the queue's KMS key).
    #[error("access denied to {queue}: check the AWS credentials and their permissions")]
    AccessDenied {
        /// The queue's URL or ARN.
        queue: String,
        /// What SQS said.
        #[source]
        source: BoxError,
    },
    /// No answer at all: DNS, a refused connection, a timeout.
    #[error("cannot reach SQS for {queue}")]
    Unreachable {
        /// The queue's URL or ARN.
        queue: String,
        /// What the connection said.
        #[source]
        source: BoxError,
    },
    /// SQS answered, refusing the request for another reason (throttling, a bad value).
    #[error("SQS refused a request on {queue}")]
    Refused {
        /// The queue's URL or ARN.
        queue: String,
        /// What SQS said.
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

/// The operators' side of the access table: who holds a token (`stocksctl tokens`, the local
/// stack's `/_local/tokens`). A name belongs to at most one live token, whatever runs at once.
pub trait TokenAdmin: Send + Sync {
    /// Issues a token for `new` and stores its record: the only time the token can be seen.
    /// [`TokenAdminError::NameTaken`] when a live token already has the name.
    fn create(&self, new: &NewToken) -> impl Future<Output = Result<(Token, TokenRecord), TokenAdminError>> + Send;

    /// Every token, revoked ones too, oldest first. Never a token or a hash.
    fn list(&self) -> impl Future<Output = Result<Vec<TokenRecord>, TokenAdminError>> + Send;

    /// Revokes the live token named `name`: it can no longer connect, and the name is free.
    fn revoke(&self, name: &str) -> impl Future<Output = Result<TokenRecord, TokenAdminError>> + Send;
}

/// Why an operator's token command could not be done.
#[derive(Debug, thiserror::Error)]
pub enum TokenAdminError {
    /// The name or rate breaks the rules; nothing was stored.
    #[error(transparent)]
    Rule(#[from] TokenRuleError),
    /// A live token already has this name.
    #[error("a live token is already named {0:?}: revoke it first, or choose another name")]
    NameTaken(String),
    /// No live token has this name.
    #[error("no live token is named {0:?}")]
    NoSuchToken(String),
    /// The store could not be used.
    #[error(transparent)]
    Access(#[from] AccessError),
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
    NoSuchTable {
        /// The table's name.
        table: String,
    },
    /// The credentials in use may not do this to the table (IAM, or its KMS key).
    #[error("access denied to table {table}: check the AWS credentials and their permissions")]
    AccessDenied {
        /// The table's name.
        table: String,
        /// What DynamoDB said.
        #[source]
        source: BoxError,
    },
    /// No answer at all: DNS, a refused connection, a timeout.
    #[error("cannot reach DynamoDB for table {table}")]
    Unreachable {
        /// The table's name.
        table: String,
        /// What the connection said.
        #[source]
        source: BoxError,
    },
    /// DynamoDB answered, refusing the request for another reason (throttling, a bad item).
    #[error("DynamoDB refused a request on table {table}")]
    Refused {
        /// The table's name.
        table: String,
        /// What DynamoDB said.
        #[source]
        source: BoxError,
    },
}

/// Why `@connections` failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// 410 Gone: the client disconnected (or never existed). Final; never worth a retry.
    #[error("the connection is gone")]
    Gone,
    /// Anything else: the call failed, and may succeed later.
    #[error("the @connections API request failed")]
    Failed(#[source] BoxError),
}

/// `Clone`: one upstream answer may be shared by several waiting requests.
#[derive(Clone, Debug, thiserror::Error)]
pub enum MarketError {
    /// Transient trouble (429, 5xx, timeouts, malformed JSON) that outlasted the retries.
    #[error("market data unavailable after {attempts} attempt(s): {last}")]
    Unavailable {
        /// HTTP attempts made.
        attempts: u32,
        /// What the last one met.
        last: String,
    },
    /// The provider refused us (401/403 or another 4xx): retrying cannot help.
    #[error("market data provider refused the request with HTTP {status}")]
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// The provider broke its own protocol in a way retrying cannot fix (e.g. a `next_url`
    /// pointing at another host, which would leak the key).
    #[error("market data provider broke protocol: {0}")]
    Protocol(String),
    /// The market data plan does not cover what was asked (Polygon's 403 `NOT_AUTHORIZED`, e.g.
    /// a window older than the plan's history): the client's answer, not an incident.
    #[error("the market data plan does not cover the request: {detail}")]
    PlanLimit {
        /// What the provider said, for the logs (never shown to clients).
        detail: String,
    },
    /// Not now, later: the quota is spent (429, or the fleet's limiter said so first), another
    /// instance is fetching the same answer, or the shared store could not be asked. Not a
    /// failure: the job waits in the queue.
    #[error("market data must wait {retry_after:?} ({})", cause.as_str())]
    Wait {
        /// How long until the job should try again.
        retry_after: Duration,
        /// Why.
        cause: WaitCause,
    },
}

/// Why market data must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitCause {
    /// The plan's quota is spent, or the gate a 429 closed is shut.
    Quota,
    /// Another instance is fetching the same answer right now.
    Peer,
    /// The shared store could not be asked: wait rather than risk a call outside the limit.
    Store,
}

impl WaitCause {
    /// As logs and metrics name it (`deferCause`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quota => "quota",
            Self::Peer => "peer",
            Self::Store => "store_unavailable",
        }
    }
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

/// A callback URL that is not an absolute http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("callback URL must be an absolute http(s) URL, got {0:?}")]
pub struct InvalidCallbackUrl(String);

impl CallbackUrl {
    /// An absolute http(s) URL, without its trailing slash.
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

    /// The URL.
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

impl<T: TokenAdmin> TokenAdmin for Arc<T> {
    fn create(&self, new: &NewToken) -> impl Future<Output = Result<(Token, TokenRecord), TokenAdminError>> + Send {
        (**self).create(new)
    }

    fn list(&self) -> impl Future<Output = Result<Vec<TokenRecord>, TokenAdminError>> + Send {
        (**self).list()
    }

    fn revoke(&self, name: &str) -> impl Future<Output = Result<TokenRecord, TokenAdminError>> + Send {
        (**self).revoke(name)
    }
}

impl<T: MarketQuota> MarketQuota for Arc<T> {
    fn take_slot(&self, key: &str, now: DateTime<Utc>) -> impl Future<Output = Result<Slot, StoreError>> + Send {
        (**self).take_slot(key, now)
    }

    fn close_gate(&self, until: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).close_gate(until)
    }
}

impl<T: SharedAnswers> SharedAnswers for Arc<T> {
    fn answer(
        &self,
        key: &AnswerKey,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Vec<Bar>>, StoreError>> + Send {
        (**self).answer(key, now)
    }

    fn keep(
        &self,
        key: &AnswerKey,
        bars: &[Bar],
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).keep(key, bars, until)
    }

    fn take_lease(
        &self,
        key: &AnswerKey,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).take_lease(key, holder, now, until)
    }

    fn release_lease(&self, key: &AnswerKey, holder: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release_lease(key, holder)
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

/// The time, as the code that asks sees it: the wall clock, or one a test sets. Everything
/// that decides by the calendar (expiries, windows of a minute, waits for a slot) takes one, so
/// tests are exact without waiting and without paused time (which jumps while a task awaits
/// real I/O): a [`Clock::manual`] clock's sleeps move it forward and return at once.
#[derive(Clone)]
pub struct Clock {
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// `Some`: a manual clock, whose sleeps move this time forward.
    manual: Option<Arc<std::sync::Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self::new(Utc::now)
    }

    /// A clock that reads `now` (and sleeps for real).
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self {
            now: Arc::new(now),
            manual: None,
        }
    }

    /// A clock stopped at `at` (and sleeping for real).
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self::new(move || at)
    }

    /// A clock that starts at `at` and moves only when told to ([`Clock::advance`]) or when
    /// someone sleeps on it.
    pub fn manual(at: DateTime<Utc>) -> Self {
        let time = Arc::new(std::sync::Mutex::new(at));
        let read = time.clone();
        Self {
            now: Arc::new(move || *read.lock().unwrap_or_else(std::sync::PoisonError::into_inner)),
            manual: Some(time),
        }
    }

    /// What time it is.
    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    /// Moves a manual clock forward (nothing on any other).
    pub fn advance(&self, by: Duration) {
        if let Some(time) = &self.manual {
            let mut time = time.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *time += chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        }
    }

    /// Waits `by`: for real, or on a manual clock by moving it forward.
    pub async fn sleep(&self, by: Duration) {
        if self.manual.is_some() {
            self.advance(by);
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(by).await;
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
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
