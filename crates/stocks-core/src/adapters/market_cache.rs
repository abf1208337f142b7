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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use lru::LruCache;

use crate::domain::{Bar, DateWindow, Ticker, next_market_close};
use crate::ports::{MarketData, MarketError};

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

/// What the cache saved; for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answered from the cache.
    pub hits: u64,
    /// Joined a call already under way.
    pub coalesced: u64,
    /// Went upstream.
    pub misses: u64,
}

/// A caching, coalescing [`MarketData`].
pub struct MarketCache<M> {
    inner: Arc<M>,
    settings: CacheSettings,
    state: Mutex<State>,
    clock: fn() -> DateTime<Utc>,
    hits: AtomicU64,
    coalesced: AtomicU64,
    misses: AtomicU64,
}

impl<M: MarketData + 'static> MarketCache<M> {
    pub fn new(inner: M, settings: CacheSettings) -> Self {
        Self::with_clock(inner, settings, Utc::now)
    }

    /// With another clock, for tests of expiry.
    pub fn with_clock(inner: M, settings: CacheSettings, clock: fn() -> DateTime<Utc>) -> Self {
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

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
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
            let now = (self.clock)();
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
                let expires = self.expiry((self.clock)());
                state.keep(key, bars.clone(), expires);
            }
        }
        result.map(|bars| bars.as_ref().clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::domain::parse_date;

    /// Counts calls; answers after a pause so concurrent callers overlap; fails on demand.
    struct CountingMarket {
        calls: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    impl MarketData for CountingMarket {
        async fn daily_bars(&self, ticker: &Ticker, _: &DateWindow) -> Result<Vec<Bar>, MarketError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(MarketError::Unavailable {
                    attempts: 1,
                    last: "HTTP 503".into(),
                });
            }
            let price = ticker.as_str().len() as f64;
            Ok(vec![Bar {
                o: price,
                h: price,
                l: price,
                c: price,
                v: 1.0,
                vw: None,
                t: 0,
                n: None,
            }])
        }
    }

    /// Answers `n` bars whatever is asked.
    struct Sized(usize);

    impl MarketData for Sized {
        async fn daily_bars(&self, _: &Ticker, _: &DateWindow) -> Result<Vec<Bar>, MarketError> {
            Ok(vec![
                Bar {
                    o: 1.0,
                    h: 1.0,
                    l: 1.0,
                    c: 1.0,
                    v: 1.0,
                    vw: None,
                    t: 0,
                    n: None
                };
                self.0
            ])
        }
    }

    #[tokio::test]
    async fn the_cache_holds_at_most_max_bars_in_all() {
        let per_answer = CacheSettings::MAX_BARS / 4 + 1;
        let cache = MarketCache::new(
            Sized(per_answer),
            CacheSettings {
                entries: 100,
                max_age: None,
            },
        );
        let oct = w("2026-10-01", "2026-10-31");
        for ticker in ["A", "B", "C", "D", "E"] {
            cache.daily_bars(&t(ticker), &oct).await.unwrap();
        }
        let state = cache.state();
        assert!(state.bars <= CacheSettings::MAX_BARS, "{} bars kept", state.bars);
        assert_eq!(
            state.answers.as_ref().unwrap().len(),
            3,
            "the oldest answers went to make room"
        );
        assert_eq!(state.bars, 3 * per_answer);
    }

    fn market() -> CountingMarket {
        CountingMarket {
            calls: AtomicUsize::new(0),
            fail: false.into(),
        }
    }

    fn t(s: &str) -> Ticker {
        Ticker::parse(s).unwrap()
    }

    fn w(from: &str, to: &str) -> DateWindow {
        DateWindow::new(parse_date(from).unwrap(), parse_date(to).unwrap()).unwrap()
    }

    fn calls<M>(cache: &MarketCache<M>) -> usize
    where
        M: MarketData + 'static,
        M: std::ops::Deref<Target = CountingMarket>,
    {
        cache.inner.calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn concurrent_requests_for_the_same_thing_share_one_call() {
        let cache = MarketCache::new(
            Arc::new(market()),
            CacheSettings {
                entries: 0,
                max_age: None,
            },
        );
        let oct = w("2026-10-01", "2026-10-31");
        let (msft, aapl) = (t("MSFT"), t("AAPL"));
        let (a, b, c, d) = tokio::join!(
            cache.daily_bars(&msft, &oct),
            cache.daily_bars(&msft, &oct),
            cache.daily_bars(&msft, &oct),
            cache.daily_bars(&aapl, &oct),
        );
        assert_eq!(a.unwrap(), b.unwrap());
        assert!(c.is_ok() && d.is_ok());
        assert_eq!(calls(&cache), 2, "one per distinct ticker and window");
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 0,
                coalesced: 2,
                misses: 2
            }
        );
        // With no entries kept, the next request goes upstream again.
        cache.daily_bars(&t("MSFT"), &oct).await.unwrap();
        assert_eq!(calls(&cache), 3);
    }

    #[tokio::test]
    async fn answers_are_kept_and_windows_are_distinct_keys() {
        let cache = MarketCache::new(Arc::new(market()), CacheSettings::default());
        let oct = w("2026-10-01", "2026-10-31");
        for _ in 0..5 {
            cache.daily_bars(&t("MSFT"), &oct).await.unwrap();
        }
        assert_eq!(calls(&cache), 1);
        cache
            .daily_bars(&t("MSFT"), &w("2026-10-01", "2026-10-30"))
            .await
            .unwrap();
        assert_eq!(calls(&cache), 2);
        assert_eq!(cache.stats().hits, 4);
    }

    #[tokio::test]
    async fn failures_are_not_cached_and_do_not_stick() {
        let inner = Arc::new(market());
        inner.fail.store(true, Ordering::SeqCst);
        let cache = MarketCache::new(inner.clone(), CacheSettings::default());
        let oct = w("2026-10-01", "2026-10-31");
        let msft = t("MSFT");
        let (a, b) = tokio::join!(cache.daily_bars(&msft, &oct), cache.daily_bars(&msft, &oct));
        assert!(a.is_err() && b.is_err(), "a shared failure reaches every waiter");
        assert_eq!(calls(&cache), 1);
        inner.fail.store(false, Ordering::SeqCst);
        assert!(
            cache.daily_bars(&t("MSFT"), &oct).await.is_ok(),
            "the next request tries again"
        );
        assert_eq!(calls(&cache), 2);
    }

    #[tokio::test]
    async fn least_recently_used_answers_are_evicted() {
        let cache = MarketCache::new(
            Arc::new(market()),
            CacheSettings {
                entries: 2,
                max_age: None,
            },
        );
        let oct = w("2026-10-01", "2026-10-31");
        for ticker in ["A", "B", "A", "C", "A", "B"] {
            cache.daily_bars(&t(ticker), &oct).await.unwrap();
        }
        // A, B miss; A hits; C misses (evicts B); A hits; B misses again.
        assert_eq!(calls(&cache), 4);
    }

    fn before_close() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T20:59:00Z").unwrap().to_utc()
    }

    fn after_close() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T21:00:01Z").unwrap().to_utc()
    }

    #[tokio::test]
    async fn answers_expire_at_the_next_market_close() {
        let oct = w("2026-10-01", "2026-10-31");
        let cache = MarketCache::with_clock(Arc::new(market()), CacheSettings::default(), before_close);
        cache.daily_bars(&t("MSFT"), &oct).await.unwrap();
        cache.daily_bars(&t("MSFT"), &oct).await.unwrap();
        assert_eq!(calls(&cache), 1);
        // Same cache, the clock past the close: the entry has expired.
        let later = MarketCache {
            clock: after_close,
            ..cache
        };
        later.daily_bars(&t("MSFT"), &oct).await.unwrap();
        assert_eq!(calls(&later), 2);
        later.daily_bars(&t("MSFT"), &oct).await.unwrap();
        assert_eq!(calls(&later), 2, "and the new answer is kept until the following close");
    }

    #[tokio::test]
    async fn max_age_shortens_the_stay() {
        let cache = MarketCache::new(
            Arc::new(market()),
            CacheSettings {
                entries: 8,
                max_age: Some(Duration::ZERO),
            },
        );
        let oct = w("2026-10-01", "2026-10-31");
        cache.daily_bars(&t("MSFT"), &oct).await.unwrap();
        cache.daily_bars(&t("MSFT"), &oct).await.unwrap();
        assert_eq!(calls(&cache), 2);
    }
}
