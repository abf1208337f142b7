//! [`SharedMarket`]: market answers shared by the whole worker fleet, and one market call for
//! identical requests on different instances.
//!
//! It sits under each instance's own [`super::MarketCache`] (the first level) and over the
//! market itself:
//!
//! 1. An answer the fleet already has (until the next US market close) is the answer: no quota,
//!    no market call.
//! 2. Otherwise the first instance to ask takes a short lease on the answer and fetches it; it
//!    keeps the answer for the fleet, then gives the lease back. Identical requests elsewhere
//!    meanwhile wait for that answer, a few seconds at most, then defer briefly — none calls the
//!    market a second time.
//! 3. The store out of reach: the job waits ([`WaitCause::Store`]) — it never goes to the market
//!    without the fleet's quota knowing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::{debug, warn};

use crate::domain::{AnswerKey, Bar, DateWindow, Ticker, next_market_close};
use crate::ports::{Clock, MarketData, MarketError, SharedAnswers, StoreError, WaitCause, error_chain};

use super::polygon::{FETCH_BUDGET, STORE_RETRY};

/// How long a lease lasts: the holder's whole fetch, and a little more. A holder that dies
/// holds the answer up no longer than this.
pub const LEASE: Duration = Duration::from_secs(FETCH_BUDGET.as_secs() + 2);

/// How long an instance waits for another's answer before its job is deferred instead.
pub const PEER_WAIT: Duration = Duration::from_secs(5);

/// How long a job waits when another instance is still fetching its answer.
pub const PEER_RETRY: Duration = Duration::from_secs(2);

/// How often a waiting instance looks for the answer.
const POLL: Duration = Duration::from_millis(200);

/// A market whose answers the fleet shares through `S`.
pub struct SharedMarket<M, S> {
    inner: M,
    store: S,
    clock: Clock,
    /// This instance, in lease holders' names.
    instance: String,
    /// Leases taken here, to tell this instance's holders apart.
    leases: AtomicU64,
    /// `false` (`MARKET_CACHE_ENTRIES=0`): no answer is kept anywhere, every request goes to
    /// the market.
    keep: bool,
}

impl<M: MarketData, S: SharedAnswers> SharedMarket<M, S> {
    /// `inner`'s answers, shared through `store`.
    pub fn new(inner: M, store: S) -> Self {
        Self {
            inner,
            store,
            clock: Clock::system(),
            instance: format!("{:016x}", fastrand::u64(..)),
            leases: AtomicU64::new(0),
            keep: true,
        }
    }

    /// Whether answers are kept for the fleet at all (`false`: every request goes to the
    /// market, as with `MARKET_CACHE_ENTRIES=0`).
    pub fn keeping(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// With this clock for expiries and leases (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The market it asks.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    /// The shared answer, or the lease to fetch it: `Ok(None)` when this instance holds the
    /// lease now.
    async fn answer_or_lease(&self, key: &AnswerKey, holder: &str) -> Result<Option<Vec<Bar>>, MarketError> {
        let mut waited = Duration::ZERO;
        loop {
            let now = self.clock.now();
            if let Some(bars) = self.store.answer(key, now).await.map_err(store_wait)? {
                debug!(key = %key, "market data from the fleet's answers");
                return Ok(Some(bars));
            }
            let until = now + chrono::TimeDelta::from_std(LEASE).unwrap_or(chrono::TimeDelta::MAX);
            if self
                .store
                .take_lease(key, holder, now, until)
                .await
                .map_err(store_wait)?
            {
                return Ok(None);
            }
            if waited + POLL > PEER_WAIT {
                debug!(key = %key, "another instance is still fetching this answer");
                return Err(MarketError::Wait {
                    retry_after: PEER_RETRY,
                    cause: WaitCause::Peer,
                });
            }
            self.clock.sleep(POLL).await;
            waited += POLL;
        }
    }
}

impl<M: MarketData, S: SharedAnswers> MarketData for SharedMarket<M, S> {
    async fn daily_bars(&self, ticker: &Ticker, window: &DateWindow) -> Result<Vec<Bar>, MarketError> {
        if !self.keep {
            return self.inner.daily_bars(ticker, window).await;
        }
        let key = AnswerKey::new(ticker, window);
        let holder = format!("{}-{}", self.instance, self.leases.fetch_add(1, Ordering::Relaxed));
        if let Some(bars) = self.answer_or_lease(&key, &holder).await? {
            return Ok(bars);
        }
        let fetched = self.inner.daily_bars(ticker, window).await;
        if let Ok(bars) = &fetched {
            // Good until new bars may appear; a failure is never kept.
            let until = next_market_close(self.clock.now());
            if let Err(err) = self.store.keep(&key, bars, until).await {
                warn!(error = %error_chain(&err), "could not keep the answer for the fleet");
            }
        }
        if let Err(err) = self.store.release_lease(&key, &holder).await {
            warn!(error = %error_chain(&err), "could not give the lease back; it lapses by itself");
        }
        fetched
    }
}

/// The store out of reach: wait, never ask the market behind the fleet's back.
fn store_wait(err: StoreError) -> MarketError {
    warn!(error = %error_chain(&err), "cannot reach the fleet's market store; the job waits");
    MarketError::Wait {
        retry_after: STORE_RETRY,
        cause: WaitCause::Store,
    }
}
