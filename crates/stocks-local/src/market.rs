//! The demo market: Polygon's aggregates endpoint, serving deterministic synthetic bars.
//!
//! **Synthetic data, not quotes.** Each ticker of a fixed universe (the 30 Dow Jones
//! Industrial Average components and a few other well-known symbols) gets a price path that
//! depends only on the ticker and the date: the same request always returns the same numbers,
//! whatever window it is part of. Weekends have no bars (holidays are not modelled). Any other
//! valid ticker gets `resultsCount: 0` and no `results`, as Polygon answers for symbols it does
//! not know.
//!
//! The response is Polygon's exact shape (it is [`AggregatesPage`]), so the worker's real
//! Polygon client is what consumes it. A quota ([`FixedWindow`], `--market-quota`) answers
//! beyond N requests per window as Polygon's plans do: 429, its error body, `Retry-After`.
//! Fault injection makes a share of responses fail the ways Polygon does: a momentary 429
//! (`Retry-After: 0`), 500, 503, a stall past the client's timeout, and malformed JSON.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Days, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};
use stocks_core::adapters::AggregatesPage;
use stocks_core::domain::{Bar, Ticker, parse_date};

use crate::config::PerPeriod;

/// The demo universe: ticker and a rough price level to centre its synthetic path on.
pub const UNIVERSE: &[(&str, f64)] = &[
    // Dow Jones Industrial Average components.
    ("AAPL", 230.0),
    ("AMGN", 300.0),
    ("AMZN", 200.0),
    ("AXP", 280.0),
    ("BA", 170.0),
    ("CAT", 380.0),
    ("CRM", 300.0),
    ("CSCO", 58.0),
    ("CVX", 155.0),
    ("DIS", 110.0),
    ("GS", 560.0),
    ("HD", 400.0),
    ("HON", 220.0),
    ("IBM", 230.0),
    ("JNJ", 155.0),
    ("JPM", 240.0),
    ("KO", 68.0),
    ("MCD", 300.0),
    ("MMM", 140.0),
    ("MRK", 95.0),
    ("MSFT", 420.0),
    ("NKE", 75.0),
    ("NVDA", 140.0),
    ("PG", 170.0),
    ("SHW", 370.0),
    ("TRV", 260.0),
    ("UNH", 560.0),
    ("V", 310.0),
    ("VZ", 42.0),
    ("WMT", 90.0),
    // Other well-known symbols, including class shares.
    ("GOOGL", 175.0),
    ("META", 570.0),
    ("TSLA", 350.0),
    ("BRK.A", 690_000.0),
    ("BRK.B", 460.0),
    ("SPY", 590.0),
    ("QQQ", 510.0),
];

/// Daily bars for `ticker` over `from..=to`, oldest first; empty outside the universe.
pub fn daily_bars(ticker: &str, from: NaiveDate, to: NaiveDate) -> Vec<Bar> {
    let Some(&(_, level)) = UNIVERSE.iter().find(|(t, _)| *t == ticker) else {
        return Vec::new();
    };
    let seed = fnv1a(ticker.as_bytes());
    from.iter_days()
        .take_while(|d| *d <= to)
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .map(|d| bar(seed, level, d))
        .collect()
}

/// One day's bar: a smooth path (two slow waves) plus hashed daily noise.
fn bar(seed: u64, level: f64, day: NaiveDate) -> Bar {
    let n = i64::from(day.num_days_from_ce());
    let mut rng = SplitMix(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let phase = (seed % 628) as f64 / 100.0;
    let x = n as f64;
    let trend = level * (1.0 + 0.12 * (x / 57.0 + phase).sin() + 0.04 * (x / 9.0 + 2.0 * phase).sin());
    let close = trend * (1.0 + 0.012 * rng.signed());
    let open = close * (1.0 + 0.01 * rng.signed());
    let high = open.max(close) * (1.0 + 0.008 * rng.unit());
    let low = open.min(close) * (1.0 - 0.008 * rng.unit());
    let volume = ((5_000_000 + seed % 45_000_000) as f64 * (0.6 + 0.8 * rng.unit())).round();
    // Polygon stamps a daily bar at midnight New York time; 05:00 UTC is close enough here.
    let t =
        (Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN)) + chrono::TimeDelta::hours(5)).timestamp_millis();
    Bar {
        o: cents(open),
        h: cents(high),
        l: cents(low),
        c: cents(close),
        v: volume,
        vw: Some(((high + low + close) / 3.0 * 10_000.0).round() / 10_000.0),
        t,
        n: Some((volume / 97.0).round() as u64),
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64: tiny, fast, and the same on every platform (the point: deterministic bars).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f64 {
        2.0 * self.unit() - 1.0
    }
}

/// A failure the demo market can be told to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 429 with `Retry-After: 0`: a momentary rate limit (a plan's quota is `--market-quota`).
    RateLimited,
    /// 500.
    ServerError,
    /// 503.
    Unavailable,
    /// No answer until after the client has given up.
    Stall,
    /// 200 with a truncated JSON body.
    Malformed,
}

impl Fault {
    const ALL: [Self; 5] = [
        Self::RateLimited,
        Self::ServerError,
        Self::Unavailable,
        Self::Stall,
        Self::Malformed,
    ];
}

/// Decides, response by response, whether to fail and how.
pub struct Faults {
    /// Probability in [0, 1], stored as f64 bits so it can change while serving.
    rate: AtomicU64,
    /// Responses still to fail with a 503 before `rate` applies again (set over
    /// `PUT /_local/faults`, for tests that need an exact sequence).
    fail_next: AtomicU64,
    rng: Mutex<fastrand::Rng>,
    /// How long a stall lasts: longer than the worker's request timeout.
    pub stall: Duration,
}

impl Faults {
    pub fn new(rate: f64, seed: Option<u64>, stall: Duration) -> Self {
        let rng = seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Self {
            rate: AtomicU64::new(rate.clamp(0.0, 1.0).to_bits()),
            fail_next: AtomicU64::new(0),
            rng: Mutex::new(rng),
            stall,
        }
    }

    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate.load(Ordering::Relaxed))
    }

    pub fn set_rate(&self, rate: f64) {
        self.rate.store(rate.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Responses still to fail before `rate` applies again.
    pub fn fail_next(&self) -> u64 {
        self.fail_next.load(Ordering::Relaxed)
    }

    /// Fails the next `n` responses with a 503, then goes back to `rate`.
    pub fn set_fail_next(&self, n: u64) {
        self.fail_next.store(n, Ordering::Relaxed);
    }

    /// The next response's fault: one of the `fail_next`, else drawn with probability `rate`.
    pub fn draw(&self) -> Option<Fault> {
        if self
            .fail_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return Some(Fault::Unavailable);
        }
        let rate = self.rate();
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        (rate > 0.0 && rng.f64() < rate).then(|| Fault::ALL[rng.usize(..Fault::ALL.len())])
    }
}

/// Polygon's words when a plan's requests are spent.
pub const QUOTA_MESSAGE: &str = "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing";

/// A plan's limit: `requests` per fixed window of `period`. The first window opens with the
/// first request; the next ones follow back to back.
pub struct FixedWindow {
    quota: PerPeriod,
    /// When the first window opened, the current window's index, and the requests it allowed.
    used: Mutex<Option<(SystemTime, u128, u32)>>,
}

impl FixedWindow {
    pub fn new(quota: PerPeriod) -> Self {
        Self {
            quota,
            used: Mutex::new(None),
        }
    }

    /// One request at `now`: allowed, or refused with the time left until the window resets.
    pub fn take(&self, now: SystemTime) -> Result<(), Duration> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let (origin, window, count) = used.get_or_insert((now, 0, 0));
        let period = self.quota.period.as_nanos().max(1);
        let since = now.duration_since(*origin).unwrap_or_default().as_nanos();
        let current = since / period;
        if current != *window {
            (*window, *count) = (current, 0);
        }
        if *count < self.quota.requests {
            *count += 1;
            return Ok(());
        }
        let left = (current + 1) * period - since;
        Err(Duration::from_nanos(left.min(u128::from(u64::MAX)) as u64))
    }
}

/// Polygon's words when a plan does not cover a window.
pub const PLAN_MESSAGE: &str =
    "Your plan doesn't include this data timeframe. Please upgrade your plan at https://polygon.io/pricing";

/// What the market endpoint needs: its faults, its quota, its plan's history, its counters.
pub struct MarketState {
    /// The failures it is told to produce.
    pub faults: Faults,
    /// Added to every answer, to look like a network away (and to let clients leave first).
    pub latency: Duration,
    /// Requests per fixed window, beyond which it answers 429.
    pub quota: Option<FixedWindow>,
    /// How many months back the plan reaches: an older `from` is refused with 403
    /// `NOT_AUTHORIZED`, as Polygon refuses it.
    pub history_months: Option<u32>,
    /// Requests answered, whatever the answer.
    pub requests: AtomicU64,
    /// Of those, 429s for the quota (fault-injected 429s not counted).
    pub throttled: AtomicU64,
}

impl MarketState {
    /// A market with these faults, latency, quota and history.
    pub fn new(faults: Faults, latency: Duration, quota: Option<PerPeriod>, history_months: Option<u32>) -> Self {
        Self {
            faults,
            latency,
            quota: quota.map(FixedWindow::new),
            history_months,
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }
}

#[derive(Deserialize)]
pub struct AggsQuery {
    limit: Option<usize>,
    cursor: Option<usize>,
    sort: Option<String>,
}

/// `GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}`.
pub async fn aggregates(
    State(market): State<std::sync::Arc<MarketState>>,
    Path((ticker, multiplier, timespan, from, to)): Path<(String, String, String, String, String)>,
    Query(query): Query<AggsQuery>,
    headers: HeaderMap,
) -> Response {
    if !market.latency.is_zero() {
        tokio::time::sleep(market.latency).await;
    }
    market.requests.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("{:032x}", fastrand::u128(..));
    if !headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "))
    {
        return polygon_error(StatusCode::UNAUTHORIZED, &request_id, "API Key was not provided");
    }
    if let Some(quota) = &market.quota
        && let Err(left) = quota.take(SystemTime::now())
    {
        market.throttled.fetch_add(1, Ordering::Relaxed);
        // Whole seconds until the window resets, as Polygon's header has them.
        let retry_after = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        let mut response = polygon_error(StatusCode::TOO_MANY_REQUESTS, &request_id, QUOTA_MESSAGE);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after.max(1).into());
        return response;
    }
    if let Some(fault) = market.faults.draw() {
        return fault_response(fault, market.faults.stall).await;
    }
    if multiplier != "1" || timespan != "day" {
        return polygon_error(
            StatusCode::BAD_REQUEST,
            &request_id,
            "the demo market only serves 1/day aggregates",
        );
    }
    let (Some(from), Some(to)) = (parse_date(&from), parse_date(&to)) else {
        return polygon_error(StatusCode::BAD_REQUEST, &request_id, "from and to must be YYYY-MM-DD");
    };
    if let Some(months) = market.history_months
        && Utc::now()
            .date_naive()
            .checked_sub_months(chrono::Months::new(months))
            .is_some_and(|earliest| from < earliest)
    {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(
                serde_json::json!({"status": "NOT_AUTHORIZED", "request_id": request_id, "message": PLAN_MESSAGE}),
            ),
        )
            .into_response();
    }
    // Polygon matches symbols case-sensitively; an invalid one is simply unknown.
    let ticker_ok = Ticker::parse(&ticker).is_ok_and(|t| t.as_str() == ticker);
    let mut bars = if ticker_ok && from <= to {
        daily_bars(&ticker, from, to.min(from + Days::new(366 * 30)))
    } else {
        Vec::new()
    };
    if query.sort.as_deref() == Some("desc") {
        bars.reverse();
    }
    let total = bars.len();
    let limit = query.limit.unwrap_or(5000).clamp(1, 50_000);
    let offset = query.cursor.unwrap_or(0).min(total);
    let page: Vec<Bar> = bars.into_iter().skip(offset).take(limit).collect();
    let next_url = (offset + page.len() < total).then(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!(
            "http://{host}/v2/aggs/ticker/{ticker}/range/1/day/{from}/{to}?cursor={}&limit={limit}&sort={}",
            offset + page.len(),
            query.sort.as_deref().unwrap_or("asc")
        )
    });
    let body = AggregatesPage {
        ticker,
        query_count: total as u64,
        results_count: page.len() as u64,
        adjusted: true,
        count: Some(page.len() as u64),
        results: (!page.is_empty()).then_some(page),
        status: "OK".into(),
        request_id,
        next_url,
    };
    axum::Json(body).into_response()
}

async fn fault_response(fault: Fault, stall: Duration) -> Response {
    match fault {
        Fault::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "0")],
            axum::Json(serde_json::json!({"status": "ERROR", "error": "You've exceeded the maximum requests per minute (demo fault)."})),
        )
            .into_response(),
        Fault::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Fault::Stall => {
            tokio::time::sleep(stall).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Fault::Malformed => ([(header::CONTENT_TYPE, "application/json")], "{\"ticker\":\"MSFT\",\"results\":[{\"o\":").into_response(),
    }
}

fn polygon_error(status: StatusCode, request_id: &str, error: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"status": "ERROR", "request_id": request_id, "error": error})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn the_universe_holds_the_dow_30_and_only_valid_tickers() {
        let dow = [
            "AAPL", "AMGN", "AMZN", "AXP", "BA", "CAT", "CRM", "CSCO", "CVX", "DIS", "GS", "HD", "HON", "IBM", "JNJ",
            "JPM", "KO", "MCD", "MMM", "MRK", "MSFT", "NKE", "NVDA", "PG", "SHW", "TRV", "UNH", "V", "VZ", "WMT",
        ];
        for t in dow {
            assert!(UNIVERSE.iter().any(|(u, _)| *u == t), "{t}");
        }
        for (t, _) in UNIVERSE {
            assert_eq!(Ticker::parse(t).unwrap().as_str(), *t);
        }
    }

    #[test]
    fn weekdays_only_and_deterministic_across_windows() {
        // 2026-10-01 is a Thursday; October 2026 has 22 weekdays.
        let october = daily_bars("MSFT", d("2026-10-01"), d("2026-10-31"));
        assert_eq!(october.len(), 22);
        let week = daily_bars("MSFT", d("2026-10-05"), d("2026-10-09"));
        assert_eq!(
            week,
            october[2..7],
            "a day's bar does not depend on the window around it"
        );
        assert!(
            daily_bars("MSFT", d("2026-10-03"), d("2026-10-04")).is_empty(),
            "a weekend"
        );
        assert_eq!(october, daily_bars("MSFT", d("2026-10-01"), d("2026-10-31")));
        assert_ne!(october[0], daily_bars("AAPL", d("2026-10-01"), d("2026-10-01"))[0]);
    }

    #[test]
    fn bars_are_internally_consistent() {
        for (t, level) in UNIVERSE {
            for b in daily_bars(t, d("2024-01-01"), d("2026-12-31")) {
                assert!(b.l <= b.o.min(b.c) && b.h >= b.o.max(b.c), "{t} {b:?}");
                assert!(b.l > level * 0.7 && b.h < level * 1.3, "{t} {b:?}");
                assert!(b.v >= 1.0 && b.v.fract() == 0.0);
            }
        }
    }

    #[test]
    fn unknown_tickers_have_no_bars() {
        assert!(daily_bars("ZZZZ", d("2026-10-01"), d("2026-10-31")).is_empty());
        assert!(daily_bars("msft", d("2026-10-01"), d("2026-10-31")).is_empty());
    }

    fn at(secs: f64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs_f64(secs)
    }

    #[test]
    fn the_quota_allows_n_per_fixed_window_then_says_how_long_to_wait() {
        let window = FixedWindow::new(PerPeriod {
            requests: 5,
            period: Duration::from_secs(2),
        });
        // The first request opens a window: 1_000_000.5 .. 1_000_002.5.
        for i in 0..5 {
            assert_eq!(window.take(at(1_000_000.5 + f64::from(i) * 0.1)), Ok(()));
        }
        let left = window.take(at(1_000_001.75)).unwrap_err();
        assert!((left.as_secs_f64() - 0.75).abs() < 1e-6, "{left:?}");
        assert!(window.take(at(1_000_002.499)).is_err(), "still the same window");
        assert_eq!(window.take(at(1_000_002.5)), Ok(()), "a new window");
        // Windows follow back to back, whenever the requests come.
        let left = window.take(at(1_000_007.0)).map(|()| window.take(at(1_000_007.0)));
        assert_eq!(left, Ok(Ok(())), "the window 6.5 .. 8.5 has room");
    }

    #[test]
    fn faults_follow_the_rate_and_the_seed() {
        let never = Faults::new(0.0, Some(1), Duration::ZERO);
        assert!((0..1000).all(|_| never.draw().is_none()));
        let always = Faults::new(1.0, Some(1), Duration::ZERO);
        let drawn: Vec<_> = (0..1000).map(|_| always.draw().unwrap()).collect();
        for kind in Fault::ALL {
            assert!(drawn.contains(&kind), "{kind:?} never drawn");
        }
        let some = Faults::new(0.2, Some(7), Duration::ZERO);
        let hits = (0..10_000).filter(|_| some.draw().is_some()).count();
        assert!((1700..2300).contains(&hits), "{hits}");
        let counted = Faults::new(0.0, Some(1), Duration::ZERO);
        counted.set_fail_next(2);
        let drawn: Vec<_> = (0..4).map(|_| counted.draw()).collect();
        assert_eq!(drawn, [Some(Fault::Unavailable), Some(Fault::Unavailable), None, None]);
        assert_eq!(counted.fail_next(), 0);
        let replay = |seed| {
            let f = Faults::new(0.5, Some(seed), Duration::ZERO);
            (0..100).map(|_| f.draw()).collect::<Vec<_>>()
        };
        assert_eq!(replay(42), replay(42));
        assert_ne!(replay(42), replay(43));
    }
}
