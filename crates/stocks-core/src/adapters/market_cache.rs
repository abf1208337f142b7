//! [`MarketCache`]: makes any [`MarketData`] frugal with its upstream.
//!
//! A free Polygon key allows five requests a minute, so the worker must not ask twice for the
//! same thing:
//!
//! - **Coalescing.** Concurrent requests for the same ticker and window — the records of one
//!   batch, or of batches running side by side — share one upstream call.
//! - **Caching.** A successful answer (including "no bars") is kept until the next US market
//!   close, when a new daily bar may appear, or `max_age` if that is sooner; at most `entries`
//!   answers and [`CacheSettings::MAX_BARS`] bars in all (a five-year answer weighs sixty times a
//!   month's), least recently used evicted first. Failures are never cached.
//!
//! The cache lives as long as the Lambda instance (or the local stack).

use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use lru::LruCache;

use crate::domain::{Bar, DateWindow, Ticker, next_market_close};
use crate::ports::{Clock, MarketData, MarketError};

/// How much to keep, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// Answers kept; 0 keeps none (requests are still coalesced).
    pub entries: usize,
    /// Keep no answer longer than this, even if the market has not closed yet.
    pub max_age: Option<Duration>,
}

impl CacheSettings {
    /// Bars kept in all, whatever `entries` says: about 5 MiB (a bar is 80 bytes).
    pub const MAX_BARS: usize = 65_536;
    /// What `MARKET_CACHE_ENTRIES` may be.
    pub const ENTRIES: RangeInclusive<usize> = 0..=1_000_000;
    /// What `MARKET_CACHE_MAX_AGE_SECS` may be (0: until the close), in seconds: a week at most.
    pub const MAX_AGE_SECS: RangeInclusive<u64> = 0..=7 * 24 * 3600;
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            entries: 512,
            max_age: None,
        }
    }
}

type Key = (Ticker, DateWindow);
type Fetch = Shared<BoxFuture<'static, Result<Arc<Vec<Bar>>, MarketError>>>;

/// An answer and when it stops being good.
type Kept = (Arc<Vec<Bar>>, DateTime<Utc>);

struct State {
    answers: Option<LruCache<Key, Kept>>,
    /// Bars held by `answers`.
    bars: usize,
    in_flight: std::collections::HashMap<Key, Fetch>,
}

impl State {
    /// Keeps an answer, evicting the least recently used until both bounds hold.
    fn keep(&mut self, key: Key, bars: Arc<Vec<Bar>>, expires: DateTime<Utc>) {
        let Some(answers) = self.answers.as_mut() else { return };
        if bars.len() > CacheSettings::MAX_BARS {
            return;
        }
        self.bars += bars.len();
        if let Some((_, (replaced, _))) = answers.push(key, (bars, expires)) {
            self.bars -= replaced.len();
        }
        while self.bars > CacheSettings::MAX_BARS {
            match answers.pop_lru() {
                Some((_, (evicted, _))) => self.bars -= evicted.len(),
                None => break,
            }
        }
    }
}

/// What the cache saved, and what it holds; for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answered from the cache.
    pub hits: u64,
    /// Joined a call already under way.
    pub coalesced: u64,
    /// Went upstream.
    pub misses: u64,
    /// Answers held now.
    pub entries: usize,
    /// Bars held now, over all answers (at most [`CacheSettings::MAX_BARS`]).
    pub bars: usize,
}

/// A caching, coalescing [`MarketData`].
pub struct MarketCache<M> {
    inner: Arc<M>,
    settings: CacheSettings,
    state: Mutex<State>,
    clock: Clock,
    hits: AtomicU64,
    coalesced: AtomicU64,
    misses: AtomicU64,
}

impl<M: MarketData + 'static> MarketCache<M> {
    /// A cache over `inner`, on the wall clock.
    pub fn new(inner: M, settings: CacheSettings) -> Self {
        Self::with_clock(inner, settings, Clock::system())
    }

    /// With another clock, for tests of expiry.
    pub fn with_clock(inner: M, settings: CacheSettings, clock: Clock) -> Self {
        Self {
            inner: Arc::new(inner),
            settings,
            state: Mutex::new(State {
                answers: NonZeroUsize::new(settings.entries).map(LruCache::new),
                bars: 0,
                in_flight: std::collections::HashMap::new(),
            }),
            clock,
            hits: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// What the cache has saved and holds now.
    pub fn stats(&self) -> CacheStats {
        let state = self.state();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: state.answers.as_ref().map_or(0, LruCache::len),
            bars: state.bars,
        }
    }

    /// The wrapped market.
    pub fn inner(&self) -> &M {
        &self.inner
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let close = next_market_close(now);
        match self
            .settings
            .max_age
            .and_then(|age| chrono::TimeDelta::from_std(age).ok())
        {
            Some(age) => close.min(now + age),
            None => close,
        }
    }
}

impl<M: MarketData + 'static> MarketData for MarketCache<M> {
    async fn daily_bars(&self, ticker: &Ticker, window: &DateWindow) -> Result<Vec<Bar>, MarketError> {
        let key = (ticker.clone(), *window);
        let fetch = {
            let mut state = self.state();
            let now = self.clock.now();
            if let Some(answers) = state.answers.as_mut() {
                match answers.get(&key) {
                    Some((bars, expires)) if now < *expires => {
                        self.hits.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(ticker = %ticker, window = %window, "market data from the cache");
                        return Ok(bars.as_ref().clone());
                    }
                    Some(_) => {
                        if let Some((gone, _)) = answers.pop(&key) {
                            state.bars -= gone.len();
                        }
                    }
                    None => {}
                }
            }
            match state.in_flight.get(&key) {
                Some(fetch) => {
                    self.coalesced.fetch_add(1, Ordering::Relaxed);
                    fetch.clone()
                }
                None => {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    let (inner, t, w) = (self.inner.clone(), ticker.clone(), *window);
                    let fetch = async move { inner.daily_bars(&t, &w).await.map(Arc::new) }
                        .boxed()
                        .shared();
                    state.in_flight.insert(key.clone(), fetch.clone());
                    fetch
                }
            }
        };
        let result = fetch.clone().await;
        let mut state = self.state();
        // Only the call that is still registered is retired (a newer one may have replaced it).
        if state.in_flight.get(&key).is_some_and(|f| f.ptr_eq(&fetch)) {
            state.in_flight.remove(&key);
            if let Ok(bars) = &result {
                let expires = self.expiry(self.clock.now());
                state.keep(key, bars.clone(), expires);
            }
        }
        result.map(|bars| bars.as_ref().clone())
    }
}
