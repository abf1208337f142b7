//! `MarketCache` over the testkit's `FakeMarket`: coalescing, keeping, expiry, bounds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use stocks_core::adapters::{CacheSettings, CacheStats, MarketCache};
use stocks_core::domain::{DateWindow, Ticker, parse_date};
use stocks_core::ports::{Clock, MarketData, MarketError};
use stocks_testkit::FakeMarket;

fn t(s: &str) -> Ticker {
    Ticker::parse(s).unwrap()
}

fn w(from: &str, to: &str) -> DateWindow {
    DateWindow::new(parse_date(from).unwrap(), parse_date(to).unwrap()).unwrap()
}

fn oct() -> DateWindow {
    w("2026-10-01", "2026-10-31")
}

fn settings(entries: usize) -> CacheSettings {
    CacheSettings { entries, max_age: None }
}

/// A market slow enough that concurrent callers overlap.
fn slow_market() -> FakeMarket {
    FakeMarket::with_n_bars(1).delayed(Duration::from_millis(50))
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_for_the_same_thing_share_one_call() {
    let cache = MarketCache::new(slow_market(), settings(0));
    let (msft, aapl, oct) = (t("MSFT"), t("AAPL"), oct());
    let (a, b, c, d) = tokio::join!(
        cache.daily_bars(&msft, &oct),
        cache.daily_bars(&msft, &oct),
        cache.daily_bars(&msft, &oct),
        cache.daily_bars(&aapl, &oct),
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert!(c.is_ok() && d.is_ok());
    assert_eq!(cache.inner().calls(), 2, "one per distinct ticker and window");
    assert_eq!(
        cache.stats(),
        CacheStats {
            hits: 0,
            coalesced: 2,
            misses: 2,
            entries: 0,
            bars: 0,
        }
    );
    // With no entries kept, the next request goes upstream again.
    cache.daily_bars(&msft, &oct).await.unwrap();
    assert_eq!(cache.inner().calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn answers_are_kept_and_windows_are_distinct_keys() {
    let cache = MarketCache::new(slow_market(), CacheSettings::default());
    for _ in 0..5 {
        cache.daily_bars(&t("MSFT"), &oct()).await.unwrap();
    }
    assert_eq!(cache.inner().calls(), 1);
    cache
        .daily_bars(&t("MSFT"), &w("2026-10-01", "2026-10-30"))
        .await
        .unwrap();
    assert_eq!(cache.inner().calls(), 2);
    assert_eq!(cache.stats().hits, 4);
}

#[tokio::test(start_paused = true)]
async fn failures_are_not_cached_and_do_not_stick() {
    let cache = MarketCache::new(slow_market(), CacheSettings::default());
    cache.inner().fail_with(Some(MarketError::Unavailable {
        attempts: 1,
        last: "HTTP 503".into(),
    }));
    let (msft, oct) = (t("MSFT"), oct());
    let (a, b) = tokio::join!(cache.daily_bars(&msft, &oct), cache.daily_bars(&msft, &oct));
    assert!(a.is_err() && b.is_err(), "a shared failure reaches every waiter");
    assert_eq!(cache.inner().calls(), 1);
    cache.inner().fail_with(None);
    assert!(
        cache.daily_bars(&msft, &oct).await.is_ok(),
        "the next request tries again"
    );
    assert_eq!(cache.inner().calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn least_recently_used_answers_are_evicted() {
    let cache = MarketCache::new(slow_market(), settings(2));
    for ticker in ["A", "B", "A", "C", "A", "B"] {
        cache.daily_bars(&t(ticker), &oct()).await.unwrap();
    }
    // A, B miss; A hits; C misses (evicts B); A hits; B misses again.
    assert_eq!(cache.inner().calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_cache_holds_at_most_max_bars_in_all() {
    let per_answer = CacheSettings::MAX_BARS / 4 + 1;
    let cache = MarketCache::new(FakeMarket::with_n_bars(per_answer), settings(100));
    for ticker in ["A", "B", "C", "D", "E"] {
        cache.daily_bars(&t(ticker), &oct()).await.unwrap();
    }
    let stats = cache.stats();
    assert!(stats.bars <= CacheSettings::MAX_BARS, "{} bars kept", stats.bars);
    assert_eq!(stats.entries, 3, "the oldest answers went to make room");
    assert_eq!(stats.bars, 3 * per_answer);
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

#[tokio::test(start_paused = true)]
async fn answers_expire_at_the_next_market_close() {
    // 20:59 UTC is 15:59 in New York: the close is a minute away.
    let now = Arc::new(Mutex::new(at("2026-11-24T20:59:00Z")));
    let clock = {
        let now = now.clone();
        Clock::new(move || *now.lock().unwrap())
    };
    let cache = MarketCache::with_clock(FakeMarket::with_n_bars(1), CacheSettings::default(), clock);
    cache.daily_bars(&t("MSFT"), &oct()).await.unwrap();
    cache.daily_bars(&t("MSFT"), &oct()).await.unwrap();
    assert_eq!(cache.inner().calls(), 1);
    *now.lock().unwrap() = at("2026-11-24T21:00:01Z");
    cache.daily_bars(&t("MSFT"), &oct()).await.unwrap();
    assert_eq!(cache.inner().calls(), 2, "past the close, the answer is stale");
    cache.daily_bars(&t("MSFT"), &oct()).await.unwrap();
    assert_eq!(
        cache.inner().calls(),
        2,
        "and the new one is kept until the following close"
    );
}

#[tokio::test(start_paused = true)]
async fn max_age_shortens_the_stay() {
    let cache = MarketCache::new(
        FakeMarket::with_n_bars(1),
        CacheSettings {
            entries: 8,
            max_age: Some(Duration::ZERO),
        },
    );
    cache.daily_bars(&t("MSFT"), &oct()).await.unwrap();
    cache.daily_bars(&t("MSFT"), &oct()).await.unwrap();
    assert_eq!(cache.inner().calls(), 2);
}
