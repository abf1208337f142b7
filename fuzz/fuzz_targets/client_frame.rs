//! Any bytes a client can send: the ingress's body parser, the `$default` answer and the
//! ticker grammar must never panic, and whatever they accept must be safe to put in a URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stocks_core::domain::{ErrorCode, StockRequest, Ticker, WindowDays, parse_date, unrouted};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = std::str::from_utf8(data) else { return };
    let today = parse_date("2026-11-24").expect("a valid date");
    match StockRequest::parse(body, today, WindowDays::DEFAULT) {
        Ok(request) => {
            let t = request.ticker.as_str();
            assert!(t.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.'), "{t:?}");
            assert!(request.window.from() <= request.window.to());
        }
        Err(rejection) => assert_eq!(rejection.to_message("r").status_code, 400),
    }
    assert!(matches!(unrouted(body).code, ErrorCode::BadRequest | ErrorCode::UnknownAction));
    if let Ok(ticker) = Ticker::parse(body) {
        assert_eq!(Ticker::parse(ticker.as_str()), Ok(ticker.clone()));
    }
});
