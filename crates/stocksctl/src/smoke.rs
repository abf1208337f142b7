//! `stocksctl smoke`: after a deploy, one real request through the API, checked the way a
//! client depends on it — the 202, then the report, then the server closing the connection.
//! Exit status 0 when all three happened, 1 otherwise (for scripts and CI after `make deploy`).

use std::process::ExitCode;
use std::time::Duration;

use crate::get::{self, CLOSE_GRACE, Exchange, GetOutcome, GetRequest, Output};

/// One thing the smoke test expects, and whether it happened.
#[derive(Debug, PartialEq, Eq)]
pub struct Check {
    pub passed: bool,
    pub what: String,
}

impl Check {
    fn new(passed: bool, what: String) -> Self {
        Self { passed, what }
    }
}

pub async fn run(args: &crate::cli::SmokeArgs) -> ExitCode {
    let request = GetRequest {
        url: args.url.clone(),
        // `make smoke` without TOKEN passes an empty one.
        token: args.token.clone().filter(|t| !t.is_empty()),
        ticker: args.ticker.clone(),
        from: None,
        to: None,
        output: Output::Quiet,
        series: false,
        timeout: Duration::from_secs(args.timeout),
        ping_every: crate::get::PING_EVERY,
    };
    // The URL as given: the token travels in the query string and is never printed.
    println!("smoke test: one {} request to {}", args.ticker, args.url);
    let checks = verdict(&get::run(&request).await);
    for check in &checks {
        println!("  {} {}", if check.passed { "ok  " } else { "FAIL" }, check.what);
    }
    match checks.iter().filter(|c| !c.passed).count() {
        0 => {
            println!("smoke test passed");
            ExitCode::SUCCESS
        }
        failed => {
            eprintln!("smoke test failed: {failed} of {} checks", checks.len());
            ExitCode::from(1)
        }
    }
}

/// The three checks, from what one exchange saw.
pub fn verdict(exchange: &Exchange) -> Vec<Check> {
    let why = match &exchange.outcome {
        GetOutcome::NoAnswer(why) => why.clone(),
        _ => String::new(),
    };
    let ack = match &exchange.ack {
        Some(ack) => Check::new(
            true,
            format!("202 accepted (request {})", ack.request_id.as_deref().unwrap_or("?")),
        ),
        None => match &exchange.last {
            Some(last) => Check::new(false, format!("no 202 accepted: the answer was {}", describe(last))),
            None => Check::new(false, format!("no 202 accepted: {why}")),
        },
    };
    let report = match (&exchange.outcome, &exchange.last) {
        (GetOutcome::Report, Some(last)) => Check::new(
            true,
            format!(
                "200 report: {} {} → {}, {} daily bars",
                last.ticker.as_deref().unwrap_or("?"),
                last.from.map(|d| d.to_string()).unwrap_or_default(),
                last.to.map(|d| d.to_string()).unwrap_or_default(),
                last.bars.unwrap_or(0)
            ),
        ),
        (_, Some(last)) => Check::new(false, format!("no report: the answer was {}", describe(last))),
        (_, None) if exchange.ack.is_some() => Check::new(false, format!("no report: {why}")),
        (_, None) => Check::new(false, "no report: the request was not accepted".to_owned()),
    };
    let close = match (exchange.closed_by_server, &exchange.last) {
        (Some(code), _) => Check::new(true, format!("the server closed the connection ({code})")),
        (None, Some(_)) => Check::new(
            false,
            format!(
                "the server did not close the connection within {} s of its answer",
                CLOSE_GRACE.as_secs()
            ),
        ),
        (None, None) => Check::new(
            false,
            "the server did not close the connection: no answer came".to_owned(),
        ),
    };
    vec![ack, report, close]
}

fn describe(msg: &stocks_core::domain::ClientMessage) -> String {
    match msg.error {
        Some(code) => format!("{} {code}: {}", msg.status_code, msg.message),
        None => format!("{} {}", msg.status_code, msg.message),
    }
}

#[cfg(test)]
mod tests {
    use stocks_core::domain::ClientMessage;

    use super::*;

    fn message(json: &str) -> ClientMessage {
        serde_json::from_str(json).unwrap()
    }

    fn ack() -> ClientMessage {
        message(r#"{"statusCode":202,"message":"accepted","reportData":null,"ticker":"MSFT","requestId":"r1"}"#)
    }

    fn report() -> ClientMessage {
        message(
            r#"{"statusCode":200,"message":"success","reportData":{"avgStock":1.0,"minStock":1.0,"maxStock":1.0,"minVolume":1.0,"maxVolume":1.0},"ticker":"MSFT","requestId":"r1","from":"2026-10-01","to":"2026-10-31","bars":22}"#,
        )
    }

    fn passed(checks: &[Check]) -> Vec<bool> {
        checks.iter().map(|c| c.passed).collect()
    }

    #[test]
    fn ack_report_and_close_pass() {
        let checks = verdict(&Exchange {
            outcome: GetOutcome::Report,
            ack: Some(ack()),
            last: Some(report()),
            closed_by_server: Some(1000),
        });
        assert_eq!(passed(&checks), [true, true, true]);
        assert_eq!(
            checks[1].what,
            "200 report: MSFT 2026-10-01 → 2026-10-31, 22 daily bars"
        );
    }

    #[test]
    fn a_report_without_the_servers_close_fails() {
        let checks = verdict(&Exchange {
            outcome: GetOutcome::Report,
            ack: Some(ack()),
            last: Some(report()),
            closed_by_server: None,
        });
        assert_eq!(passed(&checks), [true, true, false]);
        assert!(checks[2].what.contains("did not close"), "{}", checks[2].what);
    }

    #[test]
    fn an_error_answer_says_what_it_was() {
        let refusal = message(
            r#"{"statusCode":503,"message":"Market data is unavailable.","reportData":null,"error":"UPSTREAM_UNAVAILABLE"}"#,
        );
        let checks = verdict(&Exchange {
            outcome: GetOutcome::ErrorMessage,
            ack: Some(ack()),
            last: Some(refusal),
            closed_by_server: Some(1000),
        });
        assert_eq!(passed(&checks), [true, false, true]);
        assert_eq!(
            checks[1].what,
            "no report: the answer was 503 UPSTREAM_UNAVAILABLE: Market data is unavailable."
        );
    }

    #[test]
    fn no_connection_fails_every_check_saying_why() {
        let checks = verdict(&Exchange {
            outcome: GetOutcome::NoAnswer("the API refused this token (unknown or revoked)".into()),
            ack: None,
            last: None,
            closed_by_server: None,
        });
        assert_eq!(passed(&checks), [false, false, false]);
        assert_eq!(
            checks[0].what,
            "no 202 accepted: the API refused this token (unknown or revoked)"
        );
    }
}
