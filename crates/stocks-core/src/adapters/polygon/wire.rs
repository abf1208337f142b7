//! Polygon's side of the wire: the page it answers, the key it takes, and how its answers and
//! failures read.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::{Deserialize, Serialize};

use crate::domain::Bar;

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
    pub(super) fn bearer(&self) -> HeaderValue {
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

/// Polygon's words when the plan does not cover a request: a 403 whose body says
/// `"status": "NOT_AUTHORIZED"` (`Your plan doesn't include this data timeframe.`). Its
/// `message`, for the logs.
pub(super) fn plan_refusal(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Refusal {
        status: String,
        #[serde(default)]
        message: String,
    }
    let refusal: Refusal = serde_json::from_slice(body).ok()?;
    (refusal.status == "NOT_AUTHORIZED").then(|| {
        let mut message = refusal.message;
        message.truncate(300);
        message
    })
}

/// Worth another try soon (429 is quota, handled through the gate).
pub(super) fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT || status.is_server_error()
}

/// `Retry-After` as delta-seconds or an HTTP date.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.to_utc() - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// A reqwest error in one line, without its URL.
pub(super) fn describe(err: &reqwest::Error) -> String {
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

    #[test]
    fn key_never_prints() {
        let key = ApiKey::new("sekrit-123").unwrap();
        assert!(!format!("{key:?}").contains("sekrit"));
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
