//! What the server sends to WebSocket clients.
//!
//! Every message is one JSON object with the seed's envelope — `statusCode`, `message`,
//! `reportData` (null unless 200) — plus `ticker`/`requestId` once known and a stable `error`
//! code on errors. Messages are built only from the constructors here, so no internal error text
//! can reach a client.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{DateWindow, Report, SeriesBar, Ticker};

/// The stable error codes of the client protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The body is not a JSON object, is too large, or a field has the wrong type.
    BadRequest,
    /// No ticker, or only whitespace.
    TickerRequired,
    /// A ticker that breaks the grammar.
    InvalidTicker,
    /// `from`/`to` break the window's rules.
    InvalidRange,
    /// An `action` no route serves.
    UnknownAction,
    /// No daily bars in the window (404, terminal).
    NoResults,
    /// Market data could not be fetched (503, terminal; the job is in the DLQ).
    UpstreamUnavailable,
    /// The accepted request could not be queued (503; the client may resend).
    QueueUnavailable,
    /// This token's requests for the minute are spent (429).
    RateLimited,
    /// The market data plan does not cover the window asked for (403, terminal; no DLQ).
    PlanLimit,
    /// A code this build does not know (a newer server); lets old clients still decode.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP-style status the message carries.
    pub fn status_code(self) -> u16 {
        match self {
            Self::BadRequest
            | Self::TickerRequired
            | Self::InvalidTicker
            | Self::InvalidRange
            | Self::UnknownAction
            | Self::Unknown => 400,
            Self::NoResults => 404,
            Self::RateLimited => 429,
            Self::PlanLimit => 403,
            Self::UpstreamUnavailable | Self::QueueUnavailable => 503,
        }
    }

    /// The code as it travels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::TickerRequired => "TICKER_REQUIRED",
            Self::InvalidTicker => "INVALID_TICKER",
            Self::InvalidRange => "INVALID_RANGE",
            Self::UnknownAction => "UNKNOWN_ACTION",
            Self::NoResults => "NO_RESULTS",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::QueueUnavailable => "QUEUE_UNAVAILABLE",
            Self::RateLimited => "RATE_LIMITED",
            Self::PlanLimit => "PLAN_LIMIT",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One server → client frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientMessage {
    /// 202, 200, 400, 404, 429 or 503, as the table in the README says.
    pub status_code: u16,
    /// `"accepted"`, `"success"`, or a short human sentence on errors.
    pub message: String,
    /// The report on a 200; serialised as `null` otherwise, as the seed did.
    #[serde(default)]
    pub report_data: Option<Report>,
    /// The stable error code, on errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorCode>,
    /// The ticker, once validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticker: Option<String>,
    /// API Gateway's id of the frame this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The report's first day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// The report's last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    /// Number of daily bars the report was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bars: Option<usize>,
    /// On a `queued` notice: when the job will be tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_in_seconds: Option<u64>,
    /// On a 200 asked with `"series": true`: the daily bars used, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<SeriesBar>>,
}

impl ClientMessage {
    /// The 202 sent as soon as a request is validated, before it is queued.
    pub fn accepted(request_id: &str, ticker: &Ticker) -> Self {
        Self {
            ticker: Some(ticker.to_string()),
            request_id: Some(request_id.to_owned()),
            ..Self::bare(202, "accepted")
        }
    }

    /// The `queued` notice (a 202, not terminal) a client that asked for `progress` gets each
    /// time its job waits for market quota.
    pub fn queued(request_id: &str, ticker: &Ticker, retry_in_seconds: u64) -> Self {
        Self {
            ticker: Some(ticker.to_string()),
            request_id: Some(request_id.to_owned()),
            retry_in_seconds: Some(retry_in_seconds),
            ..Self::bare(202, "queued")
        }
    }

    /// Is this the `queued` notice rather than the `accepted` ack?
    pub fn is_queued(&self) -> bool {
        self.status_code == 202 && self.message == "queued"
    }

    /// The 200 with the report; terminal.
    pub fn report(request_id: &str, ticker: &Ticker, window: &DateWindow, report: Report, bars: usize) -> Self {
        Self {
            report_data: Some(report),
            ticker: Some(ticker.to_string()),
            request_id: Some(request_id.to_owned()),
            from: Some(window.from()),
            to: Some(window.to()),
            bars: Some(bars),
            ..Self::bare(200, "success")
        }
    }

    /// The same 200 with the bars it was computed from (`"series": true`).
    pub fn with_series(mut self, series: Vec<SeriesBar>) -> Self {
        self.series = Some(series);
        self
    }

    /// An error frame. `message` must be a fixed sentence (or built only from validated values):
    /// it is shown to end users.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: Some(code),
            ..Self::bare(code.status_code(), message)
        }
    }

    /// NO_RESULTS for a window with no daily bars; terminal.
    pub fn no_results(request_id: &str, ticker: &Ticker, window: &DateWindow) -> Self {
        Self::error(
            ErrorCode::NoResults,
            format!(
                "No daily bars for {ticker} between {} and {}.",
                window.from(),
                window.to()
            ),
        )
        .with_request(request_id, Some(ticker))
        .with_window(window)
    }

    /// UPSTREAM_UNAVAILABLE when market data could not be fetched; terminal.
    pub fn upstream_unavailable(request_id: &str, ticker: &Ticker) -> Self {
        Self::error(
            ErrorCode::UpstreamUnavailable,
            "Market data is unavailable right now. Please try again later.",
        )
        .with_request(request_id, Some(ticker))
    }

    /// PLAN_LIMIT when the market data plan does not cover the window; terminal. The sentence
    /// says what a plan covers, never what the provider said.
    pub fn plan_limit(request_id: &str, ticker: &Ticker, window: &DateWindow) -> Self {
        Self::error(
            ErrorCode::PlanLimit,
            "The market data plan behind this service does not cover this window: Polygon's free plan covers the last two years of daily bars. Ask for a more recent window.",
        )
        .with_request(request_id, Some(ticker))
        .with_window(window)
    }

    /// QUEUE_UNAVAILABLE when the accepted request could not be queued; terminal.
    pub fn queue_unavailable(request_id: &str, ticker: &Ticker) -> Self {
        Self::error(
            ErrorCode::QueueUnavailable,
            "The request could not be queued. Please send it again.",
        )
        .with_request(request_id, Some(ticker))
    }

    /// RATE_LIMITED: this token's requests for the minute are spent; nothing was queued.
    pub fn rate_limited(request_id: &str, ticker: &Ticker, retry_in_seconds: u64) -> Self {
        Self {
            retry_in_seconds: Some(retry_in_seconds),
            ..Self::error(
                ErrorCode::RateLimited,
                format!("Too many requests for this token. Try again in {retry_in_seconds} s."),
            )
            .with_request(request_id, Some(ticker))
        }
    }

    /// The same message, saying which request (and ticker) it answers.
    pub fn with_request(mut self, request_id: &str, ticker: Option<&Ticker>) -> Self {
        self.request_id = Some(request_id.to_owned());
        self.ticker = ticker.map(Ticker::to_string);
        self
    }

    fn with_window(mut self, window: &DateWindow) -> Self {
        self.from = Some(window.from());
        self.to = Some(window.to());
        self
    }

    fn bare(status_code: u16, message: impl Into<String>) -> Self {
        Self {
            status_code,
            message: message.into(),
            report_data: None,
            error: None,
            ticker: None,
            request_id: None,
            from: None,
            to: None,
            bars: None,
            retry_in_seconds: None,
            series: None,
        }
    }

    /// Ends the request: a report, NO_RESULTS, PLAN_LIMIT or a 503. Exactly one per accepted
    /// request.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status_code, 200 | 403 | 404 | 503)
    }

    /// The text frame.
    #[expect(
        clippy::expect_used,
        reason = "a struct of strings, numbers and dates: serialisation cannot fail"
    )]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("ClientMessage serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_date;

    fn msft() -> Ticker {
        Ticker::parse("MSFT").unwrap()
    }

    #[test]
    fn accepted_is_the_seed_envelope() {
        let json: serde_json::Value =
            serde_json::from_str(&ClientMessage::accepted("req-1", &msft()).to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "statusCode": 202, "message": "accepted", "reportData": null,
                "ticker": "MSFT", "requestId": "req-1"
            })
        );
    }

    #[test]
    fn queued_is_a_202_that_says_when() {
        let msg = ClientMessage::queued("req-1", &msft(), 42);
        let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "statusCode": 202, "message": "queued", "reportData": null,
                "ticker": "MSFT", "requestId": "req-1", "retryInSeconds": 42
            })
        );
        assert!(msg.is_queued() && !msg.is_terminal());
        assert!(!ClientMessage::accepted("req-1", &msft()).is_queued());
    }

    #[test]
    fn report_carries_window_and_bar_count() {
        let window = DateWindow::new(parse_date("2026-10-01").unwrap(), parse_date("2026-10-31").unwrap()).unwrap();
        let report = Report {
            avg_stock: 2.0,
            min_stock: 1.0,
            max_stock: 3.0,
            min_volume: 4.0,
            max_volume: 5.0,
        };
        let msg = ClientMessage::report("r", &msft(), &window, report, 22);
        let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(json["statusCode"], 200);
        assert_eq!(json["message"], "success");
        assert_eq!(json["reportData"]["maxVolume"], 5.0);
        assert_eq!(json["from"], "2026-10-01");
        assert_eq!(json["to"], "2026-10-31");
        assert_eq!(json["bars"], 22);
        assert!(json.get("error").is_none());
        assert!(msg.is_terminal());
    }

    fn bars(n: usize, level: f64) -> Vec<crate::domain::Bar> {
        let first = chrono::NaiveDate::from_ymd_opt(2021, 11, 24).unwrap();
        (0..n)
            .map(|i| crate::domain::Bar {
                o: level * 1.0013,
                h: level * 1.0178,
                l: level * 0.9876,
                c: level * 1.0041,
                v: 123_456_789.0,
                vw: Some(level),
                t: (first + chrono::Days::new(i as u64))
                    .and_hms_opt(5, 0, 0)
                    .unwrap()
                    .and_utc()
                    .timestamp_millis(),
                n: Some(987_654),
            })
            .collect()
    }

    fn october() -> DateWindow {
        DateWindow::new(parse_date("2026-10-01").unwrap(), parse_date("2026-10-31").unwrap()).unwrap()
    }

    #[test]
    fn without_series_the_200_is_what_it_always_was() {
        let b = bars(3, 416.03);
        let report = Report::from_bars(&b).unwrap();
        let plain = ClientMessage::report("r", &msft(), &october(), report, b.len());
        assert!(!plain.to_json().contains("series"));
        let json: serde_json::Value = serde_json::from_str(&plain.to_json()).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "bars",
                "from",
                "message",
                "reportData",
                "requestId",
                "statusCode",
                "ticker",
                "to"
            ],
            "the seed's fields and ours, nothing new"
        );
    }

    #[test]
    fn with_series_the_200_carries_the_bars_oldest_first() {
        let mut b = bars(3, 416.03);
        b.reverse();
        let report = Report::from_bars(&b).unwrap();
        let msg = ClientMessage::report("r", &msft(), &october(), report, b.len()).with_series(SeriesBar::series(&b));
        let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
        let series = json["series"].as_array().unwrap();
        assert_eq!(series.len(), 3);
        assert_eq!(
            series[0],
            serde_json::json!({"t": "2021-11-24", "o": 416.03 * 1.0013, "h": 416.03 * 1.0178, "l": 416.03 * 0.9876, "c": 416.03 * 1.0041, "v": 123456789.0})
        );
        assert_eq!(series[2]["t"], "2021-11-26", "oldest first");
    }

    #[test]
    fn five_years_of_bars_stay_well_under_api_gateways_128_kb() {
        // 5 × 252 trading days, at BRK.A's price level (the longest numbers there are).
        let b = bars(1262, 690_000.0);
        let report = Report::from_bars(&b).unwrap();
        let msg = ClientMessage::report(
            "TWegAFhjoAMFyNw=",
            &Ticker::parse("BRK.A").unwrap(),
            &october(),
            report,
            b.len(),
        )
        .with_series(SeriesBar::series(&b));
        let size = msg.to_json().len();
        assert!(size < 128 * 1024, "{size} bytes");
        assert!(size < 120 * 1024, "with room to spare: {size} bytes");
    }

    #[test]
    fn errors_have_code_status_and_null_report() {
        let msg = ClientMessage::error(ErrorCode::InvalidTicker, "Bad ticker.");
        let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(json["statusCode"], 400);
        assert_eq!(json["error"], "INVALID_TICKER");
        assert!(json["reportData"].is_null());
        assert!(!msg.is_terminal());
        assert_eq!(ClientMessage::queue_unavailable("r", &msft()).status_code, 503);
        assert!(ClientMessage::upstream_unavailable("r", &msft()).is_terminal());
    }

    #[test]
    fn report_numbers_survive_the_wire_bit_for_bit() {
        // Needs serde_json's `float_roundtrip`: its default parser can be an ulp off.
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..20_000 {
            let x = rng.f64() * 10f64.powi(rng.i32(-3..7));
            let report = Report {
                avg_stock: x,
                min_stock: x,
                max_stock: x,
                min_volume: x,
                max_volume: x,
            };
            let back: Report = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
            assert_eq!(back.avg_stock.to_bits(), x.to_bits(), "{x:?}");
        }
    }

    #[test]
    fn decodes_unknown_codes_from_newer_servers() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"statusCode":418,"message":"hm","reportData":null,"error":"SOMETHING_NEW"}"#)
                .unwrap();
        assert_eq!(msg.error, Some(ErrorCode::Unknown));
    }

    #[test]
    fn rate_limited_is_a_429_that_says_when_and_does_not_end_the_request() {
        let msg = ClientMessage::rate_limited("req-1", &msft(), 17);
        let json: serde_json::Value = serde_json::from_str(&msg.to_json()).unwrap();
        assert_eq!(
            (
                json["statusCode"].as_u64(),
                json["error"].as_str(),
                json["retryInSeconds"].as_u64()
            ),
            (Some(429), Some("RATE_LIMITED"), Some(17))
        );
        assert_eq!(json["ticker"], "MSFT");
        assert!(
            !msg.is_terminal(),
            "the connection stays open; the client may ask again"
        );
    }

    #[test]
    fn codes_serialise_as_their_names() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::TickerRequired,
            ErrorCode::InvalidTicker,
            ErrorCode::InvalidRange,
            ErrorCode::UnknownAction,
            ErrorCode::NoResults,
            ErrorCode::UpstreamUnavailable,
            ErrorCode::QueueUnavailable,
            ErrorCode::RateLimited,
        ] {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
        }
    }
}
