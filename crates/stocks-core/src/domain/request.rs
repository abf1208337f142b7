//! Parsing a client's text frame into a [`StockRequest`], or into the 400 it deserves.
//!
//! Pure and total: any byte string yields either a request or a [`Rejection`] with the right
//! code, which is what the fuzz and property tests hold it to.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use super::{ClientMessage, DateWindow, ErrorCode, Ticker, TickerError, WindowDays, WindowError};

/// Largest body the ingress parses (API Gateway itself allows 128 KB messages).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The route key clients select with `"action": "stocksaction"`.
pub const STOCKS_ACTION: &str = "stocksaction";

/// A validated `stocksaction` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockRequest {
    /// The validated symbol.
    pub ticker: Ticker,
    /// The days asked for (or the default window).
    pub window: DateWindow,
    /// Close the connection after the terminal message (the seed always did).
    pub disconnect: bool,
    /// Send a `queued` notice each time the job waits for market quota.
    pub progress: bool,
    /// Put the daily bars used into the 200 (`series`).
    pub series: bool,
}

/// A request refused with a 400 (or any other client error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The stable error code.
    pub code: ErrorCode,
    /// A fixed sentence shown to the client; never built from unvalidated input.
    pub message: &'static str,
    /// Echoed back once known to be valid.
    pub ticker: Option<Ticker>,
}

impl Rejection {
    fn new(code: ErrorCode, message: &'static str) -> Self {
        Self {
            code,
            message,
            ticker: None,
        }
    }

    /// Binary WebSocket frames: the protocol is JSON text.
    pub fn binary_frame() -> Self {
        Self::new(
            ErrorCode::BadRequest,
            "Binary frames are not supported. Send a JSON text frame.",
        )
    }

    /// The frame the client gets.
    pub fn to_message(&self, request_id: &str) -> ClientMessage {
        ClientMessage::error(self.code, self.message).with_request(request_id, self.ticker.as_ref())
    }
}

impl StockRequest {
    /// Parses a `stocksaction` body as of `today` (UTC).
    pub fn parse(body: &str, today: NaiveDate, days: WindowDays) -> Result<Self, Rejection> {
        let fields = parse_object(body)?;
        let ticker = optional_string(&fields, "ticker")?;
        let from = optional_string(&fields, "from")?;
        let to = optional_string(&fields, "to")?;
        let disconnect = optional_bool(&fields, "disconnect", true)?;
        let progress = optional_bool(&fields, "progress", false)?;
        let series = optional_bool(&fields, "series", false)?;
        let ticker = Ticker::parse(ticker.unwrap_or("")).map_err(|e| match e {
            TickerError::Missing => Rejection::new(ErrorCode::TickerRequired, "A ticker is required."),
            TickerError::Malformed => Rejection::new(
                ErrorCode::InvalidTicker,
                "The ticker must be 1-6 letters or digits starting with a letter, optionally followed by a dot and 1-3 more (e.g. MSFT, BRK.A).",
            ),
        })?;
        let window = DateWindow::resolve(from, to, today, days).map_err(|e| Rejection {
            ticker: Some(ticker.clone()),
            ..Rejection::new(ErrorCode::InvalidRange, window_message(e))
        })?;
        Ok(Self {
            ticker,
            window,
            disconnect,
            progress,
            series,
        })
    }
}

/// What `$default` answers: API Gateway sends it every frame whose `action` matched no route.
pub fn unrouted(body: &str) -> Rejection {
    match parse_object(body) {
        Err(rejection) => rejection,
        Ok(_) => Rejection::new(
            ErrorCode::UnknownAction,
            "Unknown action. Send {\"action\":\"stocksaction\",\"ticker\":\"MSFT\"}.",
        ),
    }
}

fn parse_object(body: &str) -> Result<Map<String, Value>, Rejection> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Rejection::new(
            ErrorCode::BadRequest,
            "The message is larger than 16 KB.",
        ));
    }
    // serde_json refuses nesting deeper than 128 levels, so hostile depth is a plain error.
    serde_json::from_str(body).map_err(|_| Rejection::new(ErrorCode::BadRequest, "The message must be a JSON object."))
}

/// A string field; absent and `null` are both "not given".
fn optional_string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Rejection> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Rejection::new(
            ErrorCode::BadRequest,
            match name {
                "ticker" => "Field 'ticker' must be a string.",
                "from" => "Field 'from' must be a string in YYYY-MM-DD format.",
                _ => "Field 'to' must be a string in YYYY-MM-DD format.",
            },
        )),
    }
}

/// A boolean field: absent is `default`; anything but a JSON boolean is a bad request.
fn optional_bool(fields: &Map<String, Value>, name: &str, default: bool) -> Result<bool, Rejection> {
    match fields.get(name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Rejection::new(
            ErrorCode::BadRequest,
            match name {
                "disconnect" => "Field 'disconnect' must be true or false.",
                "progress" => "Field 'progress' must be true or false.",
                _ => "Field 'series' must be true or false.",
            },
        )),
    }
}

fn window_message(e: WindowError) -> &'static str {
    use super::DateField;
    match e {
        WindowError::Format(DateField::From) => "'from' must be a date in YYYY-MM-DD format.",
        WindowError::Format(DateField::To) => "'to' must be a date in YYYY-MM-DD format.",
        WindowError::Reversed => "'from' must not be after 'to'.",
        WindowError::Future => "'to' must not be in the future.",
        WindowError::TooLong => "The window must not be longer than five years.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_date;

    fn parse(body: &str) -> Result<StockRequest, Rejection> {
        StockRequest::parse(body, parse_date("2026-11-24").unwrap(), WindowDays::DEFAULT)
    }

    fn code(body: &str) -> ErrorCode {
        parse(body).expect_err(body).code
    }

    #[test]
    fn seed_request_is_accepted_with_defaults() {
        let r = parse(r#"{"action":"stocksaction","ticker":"MSFT"}"#).unwrap();
        assert_eq!(r.ticker.as_str(), "MSFT");
        assert_eq!(r.window.to(), parse_date("2026-11-23").unwrap());
        assert!(r.disconnect);
    }

    #[test]
    fn optional_fields_are_honoured() {
        let r = parse(
            r#"{"action":"stocksaction","ticker":" brk.a ","from":"2026-10-01","to":"2026-10-31","disconnect":false,"extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(r.ticker.as_str(), "BRK.A");
        assert_eq!(r.window.days(), 31);
        assert!(!r.disconnect);
        assert!(!r.progress, "no progress unless asked");
        let r = parse(r#"{"ticker":"KO","progress":true}"#).unwrap();
        assert!(r.progress);
        assert!(!r.series, "no series unless asked");
        assert!(parse(r#"{"ticker":"KO","series":true}"#).unwrap().series);
    }

    #[test]
    fn bodies_that_are_not_objects_are_bad_requests() {
        for body in [
            "",
            "MSFT",
            "[]",
            "null",
            "42",
            "\"MSFT\"",
            "{",
            "{\"ticker\":\"MSFT\"",
            "{}}",
        ] {
            assert_eq!(code(body), ErrorCode::BadRequest, "{body:?}");
        }
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let body = format!(r#"{{"ticker":"MSFT","pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(parse(&body).unwrap_err().message, "The message is larger than 16 KB.");
    }

    #[test]
    fn deep_nesting_is_a_bad_request() {
        let body = format!(r#"{{"ticker":"MSFT","x":{}{}}}"#, "[".repeat(5000), "]".repeat(5000));
        assert_eq!(code(&body), ErrorCode::BadRequest);
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        for body in [
            r#"{"ticker":42}"#,
            r#"{"ticker":["MSFT"]}"#,
            r#"{"ticker":{"s":"MSFT"}}"#,
            r#"{"ticker":true}"#,
            r#"{"ticker":"MSFT","from":20260101}"#,
            r#"{"ticker":"MSFT","to":false}"#,
            r#"{"ticker":"MSFT","disconnect":"false"}"#,
            r#"{"ticker":"MSFT","disconnect":0}"#,
            r#"{"ticker":"MSFT","disconnect":null}"#,
            r#"{"ticker":"MSFT","progress":"yes"}"#,
            r#"{"ticker":"MSFT","progress":1}"#,
            r#"{"ticker":"MSFT","progress":null}"#,
            r#"{"ticker":"MSFT","series":"yes"}"#,
            r#"{"ticker":"MSFT","series":[]}"#,
        ] {
            assert_eq!(code(body), ErrorCode::BadRequest, "{body}");
        }
    }

    #[test]
    fn missing_ticker_is_required() {
        for body in [r#"{}"#, r#"{"ticker":null}"#, r#"{"ticker":""}"#, r#"{"ticker":"   "}"#] {
            assert_eq!(code(body), ErrorCode::TickerRequired, "{body}");
        }
    }

    #[test]
    fn malformed_ticker_is_invalid() {
        for body in [
            r#"{"ticker":"Msft"}"#,
            r#"{"ticker":"../v1"}"#,
            r#"{"ticker":"MSFT%2F"}"#,
        ] {
            let rejection = parse(body).unwrap_err();
            assert_eq!(rejection.code, ErrorCode::InvalidTicker, "{body}");
            assert_eq!(rejection.ticker, None, "an invalid ticker is never echoed");
        }
    }

    #[test]
    fn bad_windows_are_invalid_ranges_and_echo_the_ticker() {
        for body in [
            r#"{"ticker":"MSFT","from":"2026-13-01"}"#,
            r#"{"ticker":"MSFT","from":"2026-10-31","to":"2026-10-01"}"#,
            r#"{"ticker":"MSFT","to":"2030-01-01"}"#,
            r#"{"ticker":"MSFT","from":"2001-01-01","to":"2026-01-01"}"#,
        ] {
            let rejection = parse(body).unwrap_err();
            assert_eq!(rejection.code, ErrorCode::InvalidRange, "{body}");
            assert_eq!(rejection.ticker.as_ref().map(Ticker::as_str), Some("MSFT"));
        }
    }

    #[test]
    fn type_errors_win_over_value_errors() {
        // A wrong-typed field is reported even when the ticker is also bad.
        assert_eq!(code(r#"{"ticker":"Msft","disconnect":"yes"}"#), ErrorCode::BadRequest);
    }

    #[test]
    fn unrouted_frames() {
        assert_eq!(unrouted("not json").code, ErrorCode::BadRequest);
        assert_eq!(unrouted("[1,2]").code, ErrorCode::BadRequest);
        for body in [
            "{}",
            r#"{"action":null}"#,
            r#"{"Action":"stocksaction"}"#,
            r#"{"action":"STOCKSACTION"}"#,
        ] {
            assert_eq!(unrouted(body).code, ErrorCode::UnknownAction, "{body}");
        }
    }

    #[test]
    fn rejection_messages_carry_request_id() {
        let msg = parse(r#"{"ticker":"MSFT","to":"2030-01-01"}"#)
            .unwrap_err()
            .to_message("req-9");
        assert_eq!(msg.request_id.as_deref(), Some("req-9"));
        assert_eq!(msg.ticker.as_deref(), Some("MSFT"));
        assert_eq!(msg.error, Some(ErrorCode::InvalidRange));
        assert_eq!(msg.status_code, 400);
    }
}
