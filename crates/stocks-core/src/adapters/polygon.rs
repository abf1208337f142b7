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
//! - Every request passes the instance's [`QuotaGate`] first. A 429 closes the gate (so no
//!   other record calls the market) and becomes [`MarketError::QuotaExceeded`] — unless its
//!   `Retry-After` is short enough to wait out inside this fetch, which then tries again.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::quota::{QuotaGate, QuotaSettings};
use crate::domain::{Bar, DateWindow, Ticker};
use crate::ports::{MarketData, MarketError};

/// Polygon's production endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.polygon.io";

/// One page of `GET /v2/aggs/ticker/{T}/range/1/day/{from}/{to}`, in Polygon's exact shape.
/// `results` is absent (not empty) when there are no bars.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregatesPage {
    /// The symbol asked for.
    #[serde(default)]
    pub ticker: String,
    /// Bars the query found, over every page.
    #[serde(rename = "queryCount", default)]
    pub query_count: u64,
    /// Bars on this page.
    #[serde(rename = "resultsCount", default)]
    pub results_count: u64,
    /// Adjusted for splits (we always ask for adjusted bars).
    #[serde(default)]
    pub adjusted: bool,
    /// The bars, oldest first; absent (not empty) when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<Bar>>,
    /// `OK` (or `DELAYED` on some plans).
    #[serde(default)]
    pub status: String,
    /// Polygon's id for the request, for support tickets.
    #[serde(default)]
    pub request_id: String,
    /// Bars on this page (newer responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The next page, on the same origin, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_url: Option<String>,
}

/// A Polygon API key. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` unless the key is non-empty printable ASCII (what fits in a header unmangled).
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let key = key.trim();
        (!key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic())).then(|| Self(key.to_owned()))
    }

    #[expect(
        clippy::expect_used,
        reason = "ApiKey::new admits only printable ASCII, and any printable ASCII is a header value"
    )]
    fn bearer(&self) -> HeaderValue {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", self.0)).expect("printable ASCII is a valid header value");
        value.set_sensitive(true);
        value
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How hard to try before calling the market unavailable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// HTTP attempts per page, first one included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time, with jitter.
    pub base_delay: Duration,
    /// Longest single wait. A `Retry-After` beyond it ends the retries at once: SQS's
    /// visibility timeout is the cheaper way to wait that long.
    pub max_delay: Duration,
    /// Per-request timeout (connect + headers + body); shortened to what is left of the budget.
    pub request_timeout: Duration,
    /// Wall-clock budget for all pages and retries of one fetch: no request starts after it is
    /// spent, and none runs past it.
    pub budget: Duration,
}

/// The deployed worker's budget for one market fetch. With the three AWS calls that can follow
/// it (dead-letter, tell the client, disconnect: [`OPERATION_TIMEOUT`] each) it ends inside
/// [`WORKER_MIN_TIMEOUT`].
///
/// [`OPERATION_TIMEOUT`]: super::aws::OPERATION_TIMEOUT
pub const FETCH_BUDGET: Duration = Duration::from_secs(11);

/// The shortest worker timeout the deployed worker fits in; Terraform's
/// `worker_timeout_seconds` validation refuses less (20 s, its default).
pub const WORKER_MIN_TIMEOUT: Duration = Duration::from_secs(20);

impl Default for RetryPolicy {
    /// Three tries of at most 5 s per page with 0.5 s and 1 s of backoff between them, and
    /// [`FETCH_BUDGET`] for the whole fetch, pages and quota waits included.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            budget: FETCH_BUDGET,
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1`: `base × 2^(attempt-1)`, capped, then jittered
    /// into its upper half so concurrent workers do not retry in lockstep.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }
}

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

/// The Polygon aggregates API.
#[derive(Clone, Debug)]
pub struct PolygonClient {
    http: reqwest::Client,
    base: Url,
    policy: RetryPolicy,
    /// Shared by every clone: one gate per instance.
    gate: std::sync::Arc<QuotaGate>,
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
            gate: std::sync::Arc::new(QuotaGate::default()),
        })
    }

    /// With a quota gate of these settings (the default has no limiter of its own).
    pub fn with_quota(mut self, settings: QuotaSettings) -> Self {
        self.gate = std::sync::Arc::new(QuotaGate::new(settings));
        self
    }

    /// The instance's quota gate.
    pub fn quota(&self) -> &QuotaGate {
        &self.gate
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
    async fn page(&self, url: &Url, deadline: Instant, pages: usize) -> Result<AggregatesPage, MarketError> {
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
            let mut admission = Some(
                self.gate
                    .admit(deadline)
                    .await
                    .map_err(|wait| MarketError::QuotaExceeded { retry_after: wait })?,
            );
            attempt += 1;
            // Waiting for a turn at the gate may have used some of the budget.
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
                        let closed_for = self.gate.throttled(retry_after(response.headers()));
                        drop(admission.take());
                        let waits_here = !waited_for_quota
                            && attempt < self.policy.max_attempts
                            && closed_for <= self.policy.max_delay
                            && Instant::now() + closed_for < deadline;
                        if !waits_here {
                            return Err(MarketError::QuotaExceeded {
                                retry_after: closed_for,
                            });
                        }
                        debug!(
                            wait_ms = closed_for.as_millis() as u64,
                            "polygon quota spent; waiting it out"
                        );
                        tokio::time::sleep(closed_for).await;
                        waited_for_quota = true;
                        last = "HTTP 429".to_owned();
                        continue;
                    }
                    if status.is_success() {
                        let body = response.bytes().await;
                        if let Some(admission) = admission.take() {
                            admission.succeeded();
                        }
                        match body {
                            Ok(body) => match serde_json::from_slice::<AggregatesPage>(&body) {
                                Ok(page) => return Ok(page),
                                Err(err) => (format!("malformed JSON ({err})"), None),
                            },
                            Err(err) => (describe(&err), None),
                        }
                    } else if is_transient(status) {
                        (format!("HTTP {}", status.as_u16()), retry_after(response.headers()))
                    } else {
                        // 401/403 (bad key, plan limits), 400/404 (our request), 3xx (we do not
                        // follow redirects): retrying cannot change the answer.
                        return Err(MarketError::Rejected {
                            status: status.as_u16(),
                        });
                    }
                }
            };
            // The slot is for the call, not for the backoff after it.
            drop(admission.take());
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
            tokio::time::sleep(delay).await;
        }
    }
}

impl MarketData for PolygonClient {
    async fn daily_bars(&self, ticker: &Ticker, window: &DateWindow) -> Result<Vec<Bar>, MarketError> {
        let deadline = Instant::now() + self.policy.budget;
        let mut url = self.aggregates_url(ticker, window);
        let mut bars = Vec::new();
        for pages in 0..MAX_PAGES {
            let page = self.page(&url, deadline, pages).await?;
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

/// Worth another try soon (429 is quota, handled through the gate).
fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
}

/// `Retry-After` as delta-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.to_utc() - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// A reqwest error in one line, without its URL.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "request timed out".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else if err.is_body() || err.is_decode() {
        "could not read the response body".to_owned()
    } else {
        "request failed".to_owned()
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
    fn a_fetch_and_the_calls_after_it_fit_the_shortest_worker_timeout() {
        // Worst case after the fetch: dead-letter the job, tell the client, disconnect.
        let after = super::super::aws::OPERATION_TIMEOUT * 3;
        assert!(RetryPolicy::default().budget + after < WORKER_MIN_TIMEOUT);
        assert_eq!(WORKER_MIN_TIMEOUT.as_secs(), 20, "terraform/variables.tf says 20 too");
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
        let key = ApiKey::new("sekrit-123").unwrap();
        assert!(!format!("{key:?}").contains("sekrit"));
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

    #[test]
    fn backoff_doubles_within_bounds() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let first = p.backoff(1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let second = p.backoff(2);
            assert!(
                second >= Duration::from_millis(100) && second <= Duration::from_millis(200),
                "{second:?}"
            );
            let capped = p.backoff(30);
            assert!(
                capped >= Duration::from_millis(150) && capped <= Duration::from_millis(300),
                "{capped:?}"
            );
        }
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date in the past means now");
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
