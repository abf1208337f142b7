//! [`PolygonClient`]: daily aggregates from Polygon.io (also served as api.massive.com) over
//! reqwest + rustls.
//!
//! - The key travels only in an `Authorization: Bearer` header marked sensitive — never in a
//!   URL, so never in an access log, a `next_url`, or our own logs ([`ApiKey`] redacts itself).
//! - `next_url` pages are followed with the same header, but only on the base URL's own origin:
//!   a page pointing elsewhere would hand the key to another host. Redirects are not followed
//!   for the same reason.
//! - Transient failures (429, 408, 5xx, timeouts, connection errors, malformed JSON) are retried
//!   with jittered exponential backoff, honouring `Retry-After`. 401/403 and other 4xx are final.
//! - One fetch — every page and every retry — fits a total time budget that keeps the worker well
//!   within its Lambda timeout: it is checked before every request, and no request may run past
//!   it.
//! - Every request takes a slot from the fleet's quota ([`MarketQuota`]) first: it starts only
//!   when the fleet's limiter allows it and no 429 has closed the gate. A slot a few seconds away
//!   is waited for here; a later one becomes [`MarketError::Wait`] and the job waits in the queue.
//!   The store being unreachable is a wait too: never a call outside the limit.
//! - A 429 closes the gate for the whole fleet until its `Retry-After` (or the default), and
//!   becomes a wait — unless that is short enough to wait out inside this fetch, which then
//!   tries again.
//! - A 403 `NOT_AUTHORIZED` is the plan refusing the window ([`MarketError::PlanLimit`], the
//!   client's answer); any other 401/403 is our key's fault ([`MarketError::Rejected`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{StatusCode, Url};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::market_store::QuotaSettings;
use crate::domain::{AnswerKey, Bar, DateWindow, Slot, Ticker};
use crate::ports::{Clock, MarketData, MarketError, MarketQuota, StoreError, WaitCause, error_chain};

mod policy;
mod wire;

pub use policy::{FETCH_BUDGET, RetryPolicy, WORKER_MIN_TIMEOUT};
pub use wire::{AggregatesPage, ApiKey};
use wire::{describe, is_transient, plan_refusal, retry_after};

/// Polygon's production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.polygon.io";

/// Refusals at construction time, before any request is made.
#[derive(Debug, thiserror::Error)]
pub enum PolygonSetupError {
    /// Not an absolute http(s) URL.
    #[error("POLYGON_BASE_URL {0:?} is not an absolute http(s) URL")]
    BaseUrl(String),
    /// reqwest could not build its client (its TLS roots, most likely).
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// Most pages one fetch follows. Daily bars for five years fit in one page of 50 000; more
/// than this means a `next_url` loop.
const MAX_PAGES: usize = 20;

/// The longest a call waits inside the invocation for a slot of the fleet's quota before the job
/// is deferred instead (less when the fetch's own budget ends sooner): a deferred job waits in
/// the queue for free, a waiting one costs Lambda time.
pub const TURN_WAIT: Duration = Duration::from_secs(5);

/// How long a job waits when the shared store could not be asked.
pub const STORE_RETRY: Duration = Duration::from_secs(5);

/// The fleet's quota of a worker with no store of its own choosing: no limiter, no gate shared.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unlimited;

impl MarketQuota for Unlimited {
    async fn take_slot(&self, _: &str, _: chrono::DateTime<chrono::Utc>) -> Result<Slot, StoreError> {
        Ok(Slot::Start)
    }

    async fn close_gate(&self, _: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The Polygon aggregates API, through the fleet's quota `Q`.
#[derive(Clone, Debug)]
pub struct PolygonClient<Q = Unlimited> {
    http: reqwest::Client,
    base: Url,
    policy: RetryPolicy,
    quota: Q,
    /// How long the gate stays closed after a 429 that names no time.
    defer_without_retry_after: Duration,
    clock: Clock,
    /// HTTP requests made, over every clone: what this instance spent of the plan.
    requests: Arc<AtomicU64>,
}

impl PolygonClient {
    /// A client of `base_url` sending `key` as a bearer token, retrying as `policy` says.
    pub fn new(base_url: &str, key: &ApiKey, policy: RetryPolicy) -> Result<Self, PolygonSetupError> {
        let base = Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| PolygonSetupError::BaseUrl(base_url.to_owned()))?;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, key.bearer());
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("stocks-websocket/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.request_timeout)
            .connect_timeout(policy.request_timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(PolygonSetupError::Client)?;
        Ok(Self {
            http,
            base,
            policy,
            quota: Unlimited,
            defer_without_retry_after: QuotaSettings::DEFAULT_DEFER,
            clock: Clock::system(),
            requests: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl<Q: MarketQuota> PolygonClient<Q> {
    /// Through the fleet's quota `quota`; a 429 without `Retry-After` closes its gate for
    /// `settings.defer_without_retry_after`.
    pub fn with_quota<R: MarketQuota>(self, quota: R, settings: QuotaSettings) -> PolygonClient<R> {
        PolygonClient {
            http: self.http,
            base: self.base,
            policy: self.policy,
            quota,
            defer_without_retry_after: settings.defer_without_retry_after,
            clock: self.clock,
            requests: self.requests,
        }
    }

    /// With this clock for the quota's ledger (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same client for another worker instance: the same settings and quota, its own
    /// request count.
    pub fn for_instance(&self) -> Self
    where
        Q: Clone,
    {
        Self {
            requests: Arc::new(AtomicU64::new(0)),
            ..self.clone()
        }
    }

    /// HTTP requests made so far, by this client and its clones.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The counter behind [`PolygonClient::requests`], to read after the client is moved.
    pub fn request_counter(&self) -> Arc<AtomicU64> {
        self.requests.clone()
    }

    /// A slot of the fleet's quota for one request fetching `key`: at once, or after a wait of
    /// at most [`TURN_WAIT`] inside `deadline`; otherwise how long the job should wait.
    async fn slot(&self, key: &str, deadline: Instant) -> Result<(), MarketError> {
        loop {
            let now = self.clock.now();
            let until = match self.quota.take_slot(key, now).await {
                Ok(Slot::Start) => return Ok(()),
                Ok(Slot::WaitUntil(until)) => until,
                // A closed gate is never waited at: the job waits in the queue.
                Ok(Slot::Closed(until)) => {
                    return Err(MarketError::Wait {
                        retry_after: (until - now).to_std().unwrap_or(Duration::ZERO),
                        cause: WaitCause::Quota,
                    });
                }
                Err(err) => {
                    warn!(error = %error_chain(&err), "cannot reach the market quota; the job waits");
                    return Err(MarketError::Wait {
                        retry_after: STORE_RETRY,
                        cause: WaitCause::Store,
                    });
                }
            };
            let wait = (until - now).to_std().unwrap_or(Duration::ZERO);
            if wait > TURN_WAIT || Instant::now() + wait >= deadline {
                return Err(MarketError::Wait {
                    retry_after: wait,
                    cause: WaitCause::Quota,
                });
            }
            debug!(
                wait_ms = wait.as_millis() as u64,
                "waiting for a slot of the market quota"
            );
            self.clock.sleep(wait).await;
        }
    }

    /// A 429: the gate closes for the whole fleet. Returns how long.
    async fn throttled(&self, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or(self.defer_without_retry_after);
        let until = self.clock.now() + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX);
        if let Err(err) = self.quota.close_gate(until).await {
            warn!(error = %error_chain(&err), "could not close the market quota's gate for the fleet");
        }
        wait
    }

    /// `{base}/v2/aggs/ticker/{T}/range/1/day/{from}/{to}?adjusted=true&sort=asc&limit=50000`.
    #[expect(
        clippy::expect_used,
        reason = "`new` admits only http(s) URLs with a host, and those always have a path"
    )]
    pub fn aggregates_url(&self, ticker: &Ticker, window: &DateWindow) -> Url {
        let mut url = self.base.clone();
        let (from, to) = (window.from().to_string(), window.to().to_string());
        url.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(["v2", "aggs", "ticker", ticker.as_str(), "range", "1", "day", &from, &to]);
        url.query_pairs_mut()
            .clear()
            .append_pair("adjusted", "true")
            .append_pair("sort", "asc")
            .append_pair("limit", "50000");
        url
    }

    /// A `next_url` is followed only on the base URL's origin (it will carry our key).
    fn next_page(&self, next: &str) -> Result<Url, MarketError> {
        let url = Url::parse(next).map_err(|_| MarketError::Protocol("next_url is not a URL".into()))?;
        if url.origin() == self.base.origin() {
            Ok(url)
        } else {
            Err(MarketError::Protocol(format!(
                "next_url points at {}, not {}; not sending the key there",
                url.origin().ascii_serialization(),
                self.base.origin().ascii_serialization()
            )))
        }
    }

    /// One page, with retries, inside what is left of the fetch's budget.
    async fn page(&self, key: &str, url: &Url, deadline: Instant, pages: usize) -> Result<AggregatesPage, MarketError> {
        let mut attempt = 0;
        let mut last = String::new();
        // A 429 is waited out inside the fetch at most once: every try spends quota.
        let mut waited_for_quota = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(MarketError::Unavailable {
                    attempts: attempt,
                    last: if last.is_empty() {
                        format!("the {:?} budget was spent after {pages} page(s)", self.policy.budget)
                    } else {
                        last
                    },
                });
            }
            self.slot(key, deadline).await?;
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            // Waiting for a slot may have used some of the budget.
            let left = deadline.saturating_duration_since(Instant::now());
            let request = self
                .http
                .get(url.clone())
                .timeout(self.policy.request_timeout.min(left));
            let (failure, retry_after) = match request.send().await {
                Err(err) => (describe(&err), None),
                Ok(response) => {
                    let status = response.status();
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let closed_for = self.throttled(retry_after(response.headers())).await;
                        let waits_here = !waited_for_quota
                            && attempt < self.policy.max_attempts
                            && closed_for <= self.policy.max_delay
                            && Instant::now() + closed_for < deadline;
                        if !waits_here {
                            return Err(MarketError::Wait {
                                retry_after: closed_for,
                                cause: WaitCause::Quota,
                            });
                        }
                        debug!(
                            wait_ms = closed_for.as_millis() as u64,
                            "polygon quota spent; waiting it out"
                        );
                        self.clock.sleep(closed_for).await;
                        waited_for_quota = true;
                        last = "HTTP 429".to_owned();
                        continue;
                    }
                    if status.is_success() {
                        match response.bytes().await {
                            Ok(body) => match serde_json::from_slice::<AggregatesPage>(&body) {
                                Ok(page) => return Ok(page),
                                Err(err) => (format!("malformed JSON ({err})"), None),
                            },
                            Err(err) => (describe(&err), None),
                        }
                    } else if is_transient(status) {
                        (format!("HTTP {}", status.as_u16()), retry_after(response.headers()))
                    } else if status == StatusCode::FORBIDDEN
                        && let Some(detail) = plan_refusal(&response.bytes().await.unwrap_or_default())
                    {
                        return Err(MarketError::PlanLimit { detail });
                    } else {
                        // 401/403 (bad key, plan limits), 400/404 (our request), 3xx (we do not
                        // follow redirects): retrying cannot change the answer.
                        return Err(MarketError::Rejected {
                            status: status.as_u16(),
                        });
                    }
                }
            };
            last = failure;
            let unavailable = || MarketError::Unavailable {
                attempts: attempt,
                last: last.clone(),
            };
            if attempt >= self.policy.max_attempts {
                return Err(unavailable());
            }
            let delay = match retry_after {
                Some(wait) if wait > self.policy.max_delay => {
                    debug!(?wait, "Retry-After is longer than we wait inside one invocation");
                    return Err(unavailable());
                }
                Some(wait) => wait.max(self.policy.backoff(attempt)),
                None => self.policy.backoff(attempt),
            };
            if Instant::now() + delay >= deadline {
                return Err(unavailable());
            }
            warn!(attempt, error = %last, delay_ms = delay.as_millis() as u64, "polygon request failed; retrying");
            self.clock.sleep(delay).await;
        }
    }
}

impl<Q: MarketQuota> MarketData for PolygonClient<Q> {
    async fn daily_bars(&self, ticker: &Ticker, window: &DateWindow) -> Result<Vec<Bar>, MarketError> {
        let deadline = Instant::now() + self.policy.budget;
        let key = AnswerKey::new(ticker, window).to_string();
        let mut url = self.aggregates_url(ticker, window);
        let mut bars = Vec::new();
        for pages in 0..MAX_PAGES {
            let page = self.page(&key, &url, deadline, pages).await?;
            bars.extend(page.results.unwrap_or_default());
            match page.next_url {
                Some(next) => url = self.next_page(&next)?,
                None => return Ok(bars),
            }
        }
        Err(MarketError::Protocol(format!(
            "more than {MAX_PAGES} pages of daily bars"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_date;

    fn client(base: &str) -> PolygonClient {
        PolygonClient::new(base, &ApiKey::new("k").unwrap(), RetryPolicy::default()).unwrap()
    }

    fn window() -> DateWindow {
        DateWindow::new(parse_date("2026-10-01").unwrap(), parse_date("2026-10-31").unwrap()).unwrap()
    }

    #[test]
    fn builds_the_aggregates_url_under_any_base_path() {
        let t = Ticker::parse("BRK.A").unwrap();
        assert_eq!(
            client("https://api.polygon.io").aggregates_url(&t, &window()).as_str(),
            "https://api.polygon.io/v2/aggs/ticker/BRK.A/range/1/day/2026-10-01/2026-10-31?adjusted=true&sort=asc&limit=50000"
        );
        assert_eq!(
            client("http://127.0.0.1:8080/market/")
                .aggregates_url(&t, &window())
                .path(),
            "/market/v2/aggs/ticker/BRK.A/range/1/day/2026-10-01/2026-10-31"
        );
    }

    #[test]
    fn refuses_bad_base_urls_and_keys() {
        for bad in ["api.polygon.io", "ftp://x", "", "http://"] {
            assert!(matches!(
                PolygonClient::new(bad, &ApiKey::new("k").unwrap(), RetryPolicy::default()),
                Err(PolygonSetupError::BaseUrl(_))
            ));
        }
        for bad in ["", "  ", "k\u{e9}y", "a b", "k\r\nX-Evil: 1"] {
            assert!(ApiKey::new(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn key_never_prints() {
        assert!(!format!("{:?}", client("https://api.polygon.io")).contains("Bearer k"));
    }

    #[test]
    fn next_url_must_stay_on_origin() {
        let c = client("https://api.polygon.io");
        assert!(
            c.next_page("https://api.polygon.io/v2/aggs/ticker/MSFT/range/1/day/a/b?cursor=x")
                .is_ok()
        );
        for other in [
            "https://evil.example/v2/aggs",
            "http://api.polygon.io/v2",
            "https://api.polygon.io:444/v2",
            "/relative",
        ] {
            assert!(matches!(c.next_page(other), Err(MarketError::Protocol(_))), "{other}");
        }
    }
}
