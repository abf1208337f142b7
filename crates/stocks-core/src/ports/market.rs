//! Market data, and what the worker fleet shares to fetch it: the quota and the answers.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::TableError;
use crate::domain::{AnswerKey, Bar, DateWindow, Slot, Ticker};

/// The market quota every worker instance shares: one ledger ([`QuotaLedger`](crate::domain::QuotaLedger)) in a store all
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
    /// The table could not answer, by what an operator must fix.
    #[error(transparent)]
    Table(#[from] TableError),
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

// Shared adapters: tests and the local gateway keep a handle on the same instance the handler
// uses.
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
