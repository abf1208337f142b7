//! Hostile input: a corpus of frames that must each get their 400 code with nothing queued, and
//! properties (proptest) of the body parser, the ticker grammar and the ingress handler over
//! inputs nobody thought of. The same parser is also a `cargo fuzz` target (`fuzz/`).

use std::sync::Arc;

use chrono::{Days, Months, NaiveDate};
use proptest::prelude::*;
use serde_json::{Map, Value};
use stocks_core::domain::{ErrorCode, MAX_BODY_BYTES, StockRequest, Ticker, WindowDays, parse_date, unrouted};
use stocks_core::handlers::IngressOutcome;
use stocks_testkit::{FakeConnections, FakeQueue, fixture, websocket_message};

fn harness() -> (Arc<FakeQueue>, Arc<FakeConnections>, crate::ingress::TestIngress) {
    crate::ingress::faked_ingress(None)
}

#[tokio::test]
async fn every_hostile_frame_gets_its_code_and_nothing_is_queued() {
    let corpus = fixture("hostile-frames.json");
    let frames = corpus["frames"].as_array().unwrap();
    assert!(frames.len() >= 50, "the corpus holds {} frames", frames.len());
    let (queue, connections, ingress) = harness();
    for (i, frame) in frames.iter().enumerate() {
        let name = frame["name"].as_str().unwrap();
        let expected: ErrorCode = serde_json::from_value(frame["expect"].clone()).unwrap();
        let event = websocket_message(frame["route"].as_str().unwrap(), frame["frame"].as_str().unwrap());
        let outcome = ingress.process(&event).await.unwrap();
        assert_eq!(outcome, IngressOutcome::Rejected, "{name}");
        let sent = connections.all_messages();
        assert_eq!(sent.len(), i + 1, "{name}: exactly one answer");
        let answer = sent.last().unwrap();
        assert_eq!((answer.status_code, answer.error), (400, Some(expected)), "{name}");
        assert!(answer.report_data.is_none(), "{name}");
    }
    assert!(queue.jobs().is_empty(), "nothing queued for any hostile frame");
    assert!(connections.deleted().is_empty(), "a 400 never closes the connection");
}

// ----------------------------------------------------------------------------- properties

const TODAY: &str = "2026-11-24";

fn parse(body: &str) -> Result<StockRequest, ErrorCode> {
    StockRequest::parse(body, parse_date(TODAY).unwrap(), WindowDays::DEFAULT).map_err(|r| r.code)
}

const CLIENT_ERRORS: [ErrorCode; 4] = [
    ErrorCode::BadRequest,
    ErrorCode::TickerRequired,
    ErrorCode::InvalidTicker,
    ErrorCode::InvalidRange,
];

/// The grammar, written independently of the implementation.
fn in_grammar(s: &str) -> bool {
    let (root, class) = s.split_once('.').map_or((s, None), |(r, c)| (r, Some(c)));
    let ok = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit();
    root.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && root.len() <= 6
        && root.chars().all(ok)
        && class.is_none_or(|c| (1..=3).contains(&c.len()) && c.chars().all(ok))
}

/// Dates a window rule turns on, in strict `YYYY-MM-DD`: around today (the future starts
/// tomorrow), around five years back (the longest span), and anywhere in between.
fn near_edges() -> impl Strategy<Value = String> {
    let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let five_years_back = today - Months::new(60);
    let shifted = move |base: NaiveDate, days: i64| {
        let day = if days >= 0 {
            base + Days::new(days as u64)
        } else {
            base - Days::new((-days) as u64)
        };
        day.format("%Y-%m-%d").to_string()
    };
    prop_oneof![
        (-2i64..=3).prop_map(move |d| shifted(today, d)),
        (-3i64..=3).prop_map(move |d| shifted(five_years_back, d)),
        (-1900i64..=3).prop_map(move |d| shifted(today, d)),
    ]
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        "[a-zA-Z0-9. ]{0,8}".prop_map(Value::String),
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]".prop_map(Value::String),
        // Often valid, so accepted requests are common too.
        prop_oneof![Just("MSFT"), Just(" brk.a "), Just("KO"), Just("Msft"), Just("brk2.b")].prop_map(Value::from),
        near_edges().prop_map(Value::String),
        near_edges().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request object where each known field is absent, a plausible value for it (so that the
/// rules after the type checks are reached often), or any JSON value at all.
fn any_request() -> impl Strategy<Value = Map<String, Value>> {
    let ticker = prop_oneof![
        3 => prop_oneof![Just("MSFT"), Just(" brk.a "), Just("KO"), Just("Msft"), Just("brk2.b"), Just("  ")]
            .prop_map(Value::from),
        1 => "[a-zA-Z0-9. ]{0,8}".prop_map(Value::String),
        1 => any_json(),
    ];
    let date = || {
        prop_oneof![
            4 => near_edges().prop_map(Value::String),
            1 => "20[0-9]{2}-[01][0-9]-[0-3][0-9]".prop_map(Value::String),
            1 => any_json(),
        ]
    };
    let disconnect = prop_oneof![3 => any::<bool>().prop_map(Value::Bool), 1 => any_json()];
    (
        prop::option::weighted(0.9, ticker),
        prop::option::weighted(0.5, date()),
        prop::option::weighted(0.7, date()),
        prop::option::of(disconnect),
    )
        .prop_map(|(ticker, from, to, disconnect)| {
            let mut m = Map::new();
            m.insert("action".into(), "stocksaction".into());
            for (k, v) in [
                ("ticker", ticker),
                ("from", from),
                ("to", to),
                ("disconnect", disconnect),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            m
        })
}

// ----------------------------------------------------------------------------- the model
//
// DESIGN.md's rules, written again from the text and sharing no code with the implementation:
// where they disagree, one of them is wrong.

/// "Trimmed of whitespace; if it is all lowercase ASCII (`[a-z0-9.]`) it is upper-cased (ASCII
/// only); then it must match `^[A-Z][A-Z0-9]{0,5}(\.[A-Z0-9]{1,3})?$`."
fn model_ticker(raw: &str) -> Result<String, ErrorCode> {
    let trimmed = raw.trim_matches(char::is_whitespace);
    if trimmed.is_empty() {
        return Err(ErrorCode::TickerRequired);
    }
    let lower = trimmed
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.');
    let candidate = if lower {
        trimmed.to_ascii_uppercase()
    } else {
        trimmed.to_owned()
    };
    if in_grammar(&candidate) {
        Ok(candidate)
    } else {
        Err(ErrorCode::InvalidTicker)
    }
}

/// "Strictly `YYYY-MM-DD` (no timestamps, no `20260101`)", and a real calendar day.
fn model_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r.clone()].iter().all(u8::is_ascii_digit).then(|| s[r].parse().ok())?
    };
    NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(5..7)?, digits(8..10)?)
}

/// "Default: the 30 days ending yesterday (UTC). Rules: `from <= to`, `to <= today`, span at
/// most 5 years."
fn model_window(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> Result<(), ErrorCode> {
    let bad = ErrorCode::InvalidRange;
    let from = from.map(|s| model_date(s).ok_or(bad)).transpose()?;
    let to = to.map(|s| model_date(s).ok_or(bad)).transpose()?;
    let to = match to {
        Some(to) if to > today => return Err(bad),
        Some(to) => to,
        None => today - Days::new(1),
    };
    let from = from.unwrap_or(to - Days::new(29));
    if from > to || from < to - Months::new(60) {
        return Err(bad);
    }
    Ok(())
}

/// What the protocol says the answer to `m` must be: a wrongly typed field first, then the
/// ticker, then the window.
fn expected(m: &Map<String, Value>) -> Result<(), ErrorCode> {
    let is_string_or_null = |k: &str| matches!(m.get(k), None | Some(Value::Null | Value::String(_)));
    if !is_string_or_null("ticker") || !is_string_or_null("from") || !is_string_or_null("to") {
        return Err(ErrorCode::BadRequest);
    }
    if !matches!(m.get("disconnect"), None | Some(Value::Bool(_))) {
        return Err(ErrorCode::BadRequest);
    }
    model_ticker(m.get("ticker").and_then(Value::as_str).unwrap_or(""))?;
    let date = |k: &str| m.get(k).and_then(Value::as_str);
    model_window(date("from"), date("to"), parse_date(TODAY).unwrap())
}

#[test]
fn the_model_agrees_with_the_spec_examples() {
    assert_eq!(model_ticker(" brk.a "), Ok("BRK.A".into()));
    assert_eq!(model_ticker("Msft"), Err(ErrorCode::InvalidTicker));
    assert_eq!(model_ticker("   "), Err(ErrorCode::TickerRequired));
    let today = parse_date(TODAY).unwrap();
    assert_eq!(model_window(None, Some("2026-11-24"), today), Ok(()));
    assert_eq!(
        model_window(None, Some("2026-11-25"), today),
        Err(ErrorCode::InvalidRange)
    );
    assert_eq!(model_window(Some("2021-11-24"), Some("2026-11-24"), today), Ok(()));
    assert_eq!(
        model_window(Some("2021-11-23"), Some("2026-11-24"), today),
        Err(ErrorCode::InvalidRange)
    );
    assert_eq!(
        model_window(Some("20260101"), None, today),
        Err(ErrorCode::InvalidRange)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn any_text_is_parsed_or_refused_with_a_client_error(body in ".{0,200}") {
        match parse(&body) {
            Ok(request) => {
                prop_assert!(in_grammar(request.ticker.as_str()));
                prop_assert!(request.window.from() <= request.window.to());
            }
            Err(code) => prop_assert!(CLIENT_ERRORS.contains(&code)),
        }
        let unrouted = unrouted(&body).code;
        prop_assert!(unrouted == ErrorCode::BadRequest || unrouted == ErrorCode::UnknownAction);
    }

    #[test]
    fn any_bytes_are_handled(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let body = String::from_utf8_lossy(&bytes);
        match parse(&body) {
            Ok(request) => prop_assert!(in_grammar(request.ticker.as_str())),
            Err(code) => prop_assert!(CLIENT_ERRORS.contains(&code), "{:?}", code),
        }
        // Not a JSON object (serde_json is the judge): a bad request on either route.
        if serde_json::from_str::<Map<String, Value>>(&body).is_err() {
            prop_assert_eq!(parse(&body).map(drop), Err(ErrorCode::BadRequest));
            prop_assert_eq!(unrouted(&body).code, ErrorCode::BadRequest);
        }
        // The bytes as a ticker: exactly what the spec's rules say.
        let ticker = Ticker::parse(&body).map(|t| t.to_string()).map_err(|e| match e {
            stocks_core::domain::TickerError::Missing => ErrorCode::TickerRequired,
            stocks_core::domain::TickerError::Malformed => ErrorCode::InvalidTicker,
        });
        prop_assert_eq!(ticker, model_ticker(&body));
    }

    #[test]
    fn every_field_of_every_type_gets_the_code_the_spec_predicts(request in any_request()) {
        let body = Value::Object(request.clone()).to_string();
        prop_assume!(body.len() <= MAX_BODY_BYTES);
        prop_assert_eq!(parse(&body).map(drop), expected(&request), "{}", body);
    }

    #[test]
    fn accepted_tickers_are_in_the_grammar_and_canonical(raw in "\\PC{0,12}|[a-zA-Z0-9. ]{0,12}") {
        if let Ok(ticker) = Ticker::parse(&raw) {
            prop_assert!(in_grammar(ticker.as_str()), "{:?} -> {}", raw, ticker);
            prop_assert_eq!(Ticker::parse(ticker.as_str()), Ok(ticker.clone()), "parsing is idempotent");
        } else {
            prop_assert!(!in_grammar(raw.trim()) || raw.trim().is_empty());
        }
    }

    #[test]
    fn the_ingress_queues_exactly_the_accepted_requests(request in any_request(), route in prop_oneof![Just("stocksaction"), Just("$default")]) {
        let body = Value::Object(request).to_string();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (queue, connections, ingress) = harness();
        let outcome = runtime.block_on(ingress.process(&websocket_message(route, &body))).unwrap();
        let sent = connections.all_messages();
        match outcome {
            IngressOutcome::Accepted => {
                prop_assert_eq!(route, "stocksaction");
                prop_assert_eq!(queue.jobs().len(), 1);
                prop_assert_eq!(sent.len(), 1);
                prop_assert_eq!(sent[0].status_code, 202);
            }
            IngressOutcome::Rejected => {
                prop_assert!(queue.jobs().is_empty());
                prop_assert_eq!(sent.len(), 1);
                prop_assert_eq!(sent[0].status_code, 400);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
