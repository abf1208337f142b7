//! The local stack end to end: a real WebSocket client against the emulated API Gateway, the
//! real handlers, the in-memory queue, the demo market and `@connections` through the AWS SDK.

mod support;

use std::time::Duration;

use stocks_core::domain::{ErrorCode, Report, parse_date};
use stocksctl::local::gateway::Limits;
use stocksctl::local::market::{UNIVERSE, daily_bars};
use stocksctl::local::{LocalConfig, MarketMode};
use support::{Stack, config, expect_close, next_message, next_text, request, send};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn expected_report(ticker: &str, from: &str, to: &str) -> (Report, usize) {
    let bars = daily_bars(ticker, parse_date(from).unwrap(), parse_date(to).unwrap());
    (Report::from_bars(&bars).unwrap(), bars.len())
}

#[tokio::test]
async fn the_seed_flow_ack_report_close() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    let (ack, report) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert_eq!(
        (ack.message.as_str(), ack.ticker.as_deref()),
        ("accepted", Some("MSFT"))
    );
    assert!(ack.report_data.is_none());

    assert_eq!((report.status_code, report.message.as_str()), (200, "success"));
    assert_eq!(
        report.request_id, ack.request_id,
        "the report answers the acked request"
    );
    let (expected, bars) = expected_report("MSFT", "2024-10-01", "2024-10-31");
    assert_eq!(
        report.report_data,
        Some(expected),
        "the demo market's bars, through the real worker"
    );
    assert_eq!(report.bars, Some(bars));
    assert_eq!(bars, 23, "October 2024 has 23 weekdays");

    let close = expect_close(&mut ws).await.expect("a close frame");
    assert_eq!(close.code, CloseCode::Normal);
    let stats = stack.wait_for_stats("the disconnect", |s| s.connections == 0).await;
    assert_eq!(
        (stats.accepted, stats.reported, stats.errors, stats.gone, stats.dlq),
        (1, 1, 0, 0, 0)
    );
}

#[tokio::test]
async fn the_default_window_is_thirty_days_to_yesterday() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    let (_, report) = request(&mut ws, r#"{"action":"stocksaction","ticker":"aapl"}"#).await;
    let yesterday = chrono::Utc::now().date_naive().pred_opt().unwrap();
    assert_eq!(report.to, Some(yesterday));
    assert_eq!(report.from, yesterday.checked_sub_days(chrono::Days::new(29)));
    assert_eq!(report.ticker.as_deref(), Some("AAPL"));
}

#[tokio::test]
async fn every_client_error_code_and_the_connection_stays_open() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    let cases = [
        ("not json", ErrorCode::BadRequest),
        (r#"{"action":"stocksaction","ticker":["MSFT"]}"#, ErrorCode::BadRequest),
        (
            r#"{"action":"stocksaction","ticker":"MSFT","disconnect":"no"}"#,
            ErrorCode::BadRequest,
        ),
        (r#"{"action":"stocksaction"}"#, ErrorCode::TickerRequired),
        (r#"{"action":"stocksaction","ticker":" "}"#, ErrorCode::TickerRequired),
        (
            r#"{"action":"stocksaction","ticker":"MSFT/../../v1"}"#,
            ErrorCode::InvalidTicker,
        ),
        (r#"{"action":"stocksaction","ticker":"Msft"}"#, ErrorCode::InvalidTicker),
        (
            r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-13-01"}"#,
            ErrorCode::InvalidRange,
        ),
        (
            r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-31","to":"2024-10-01"}"#,
            ErrorCode::InvalidRange,
        ),
        (
            r#"{"action":"stocksaction","ticker":"MSFT","to":"2999-01-01"}"#,
            ErrorCode::InvalidRange,
        ),
        (r#"{"action":"sell","ticker":"MSFT"}"#, ErrorCode::UnknownAction),
        (r#"{"action":"STOCKSACTION","ticker":"MSFT"}"#, ErrorCode::UnknownAction),
        (r#"{"ticker":"MSFT"}"#, ErrorCode::UnknownAction),
        ("[1,2,3]", ErrorCode::BadRequest),
    ];
    for (body, code) in cases {
        send(&mut ws, body).await;
        let msg = next_message(&mut ws).await;
        assert_eq!((msg.status_code, msg.error), (400, Some(code)), "{body}");
        assert!(msg.request_id.is_some());
    }
    // Still open and usable after all of that.
    let (_, report) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"KO","from":"2024-10-01","to":"2024-10-04"}"#,
    )
    .await;
    assert_eq!(report.status_code, 200);
    let stats = stack.stats().await;
    assert_eq!((stats.errors, stats.accepted, stats.dlq), (cases.len() as u64, 1, 0));
}

#[tokio::test]
async fn a_binary_frame_is_a_bad_request() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    ws_send(
        &mut ws,
        Message::binary(br#"{"action":"stocksaction","ticker":"MSFT"}"#.to_vec()),
    )
    .await;
    assert_eq!(next_message(&mut ws).await.error, Some(ErrorCode::BadRequest));
}

#[tokio::test]
async fn an_unknown_ticker_is_no_results_and_closes() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    let (_, last) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"ZZZZ","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert_eq!((last.status_code, last.error), (404, Some(ErrorCode::NoResults)));
    assert_eq!(last.ticker.as_deref(), Some("ZZZZ"));
    expect_close(&mut ws).await;
}

#[tokio::test]
async fn a_weekend_window_is_no_results() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    let (_, last) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-05","to":"2024-10-06"}"#,
    )
    .await;
    assert_eq!(last.error, Some(ErrorCode::NoResults));
}

#[tokio::test]
async fn disconnect_false_keeps_the_connection_for_more_requests() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    for ticker in ["MSFT", "AAPL", "ZZZZ"] {
        let body = format!(
            r#"{{"action":"stocksaction","ticker":"{ticker}","from":"2024-10-01","to":"2024-10-31","disconnect":false}}"#
        );
        let (ack, last) = request(&mut ws, &body).await;
        assert_eq!(last.request_id, ack.request_id);
        assert!(last.is_terminal());
    }
    assert_eq!(stack.stats().await.connections, 1);
}

#[tokio::test]
async fn upstream_failure_on_the_last_attempt_is_503_and_dead_lettered() {
    let stack = Stack::start(LocalConfig {
        fault_rate: 1.0,
        fault_seed: Some(3),
        max_receive_count: 1,
        ..config()
    })
    .await;
    let mut ws = stack.connect().await;
    let (ack, last) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert_eq!(
        (last.status_code, last.error),
        (503, Some(ErrorCode::UpstreamUnavailable))
    );
    assert_eq!(last.request_id, ack.request_id);
    expect_close(&mut ws).await;

    let stats = stack.wait_for_stats("the dead letter", |s| s.dlq == 1).await;
    assert_eq!((stats.reported, stats.errors), (0, 1));
    let dlq: serde_json::Value = stack.get_json("/_local/dlq").await;
    assert_eq!(dlq[0]["attributes"]["failureReason"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(dlq[0]["attributes"]["attempts"], "1");
    let job: serde_json::Value = serde_json::from_str(dlq[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (job["ticker"].as_str(), job["requestId"].as_str()),
        (Some("MSFT"), ack.request_id.as_deref())
    );
}

#[tokio::test]
async fn transient_faults_are_retried_by_sqs_until_a_report_arrives() {
    // Half the market answers fail; three deliveries of three tries each almost always win.
    let stack = Stack::start(LocalConfig {
        fault_rate: 0.5,
        fault_seed: Some(11),
        visibility_timeout: Duration::from_millis(200),
        ..config()
    })
    .await;
    let mut ws = stack.connect().await;
    let (_, last) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"IBM","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert!(last.is_terminal());
    assert_eq!(stack.stats().await.reported + stack.stats().await.dlq, 1);
}

#[tokio::test]
async fn two_hundred_concurrent_clients_each_get_their_own_report() {
    let stack = Stack::start(config()).await;
    let url = stack.ws_url();
    let clients = (0..200).map(|i| {
        let url = url.clone();
        let (ticker, _) = UNIVERSE[i % UNIVERSE.len()];
        // Different windows too, so no two neighbours could pass for each other.
        let to = format!("2024-10-{:02}", 10 + i % 20);
        tokio::spawn(async move {
            let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
            let body = format!(r#"{{"action":"stocksaction","ticker":"{ticker}","from":"2024-09-02","to":"{to}"}}"#);
            let (ack, report) = request(&mut ws, &body).await;
            (ticker, to, ack, report)
        })
    });
    let results = futures::future::join_all(clients).await;
    for result in results {
        let (ticker, to, ack, report) = result.unwrap();
        assert_eq!(report.status_code, 200, "{ticker}: {report:?}");
        assert_eq!(report.request_id, ack.request_id);
        assert_eq!(report.ticker.as_deref(), Some(ticker));
        let (expected, bars) = expected_report(ticker, "2024-09-02", &to);
        assert_eq!(
            (report.report_data, report.bars),
            (Some(expected), Some(bars)),
            "{ticker} to {to}"
        );
    }
    let stats = stack.wait_for_stats("all disconnects", |s| s.connections == 0).await;
    assert_eq!(
        (stats.accepted, stats.reported, stats.errors, stats.gone, stats.dlq),
        (200, 200, 0, 0, 0)
    );
}

#[tokio::test]
async fn a_client_that_leaves_before_its_report_is_counted_gone() {
    let stack = Stack::start(LocalConfig {
        market_latency: Duration::from_millis(400),
        ..config()
    })
    .await;
    let mut ws = stack.connect().await;
    send(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert_eq!(next_message(&mut ws).await.status_code, 202);
    ws.close(None).await.unwrap();

    let stats = stack.wait_for_stats("the worker to meet 410", |s| s.gone == 1).await;
    assert_eq!(
        (stats.reported, stats.dlq, stats.connections),
        (0, 0, 0),
        "acknowledged, not retried, not dead-lettered"
    );
    // And the job is not retried later.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(stack.stats().await.gone, 1);
}

#[tokio::test]
async fn oversize_frames_and_messages_close_with_1009() {
    let stack = Stack::start(config()).await;
    // One 40 KB frame: over API Gateway's 32 KB frame limit.
    let mut ws = stack.connect().await;
    let big = format!(
        r#"{{"action":"stocksaction","ticker":"MSFT","pad":"{}"}}"#,
        "x".repeat(40 * 1024)
    );
    ws_send(&mut ws, Message::text(big)).await;
    assert_eq!(expect_close(&mut ws).await.unwrap().code, CloseCode::Size);

    // 20 KB fits a frame but is over the ingress's 16 KB body limit: a 400, connection kept.
    let mut ws = stack.connect().await;
    let medium = format!(
        r#"{{"action":"stocksaction","ticker":"MSFT","pad":"{}"}}"#,
        "x".repeat(20 * 1024)
    );
    send(&mut ws, &medium).await;
    assert_eq!(next_message(&mut ws).await.error, Some(ErrorCode::BadRequest));
    stack
        .wait_for_stats("one connection left", |s| s.connections == 1)
        .await;
}

#[tokio::test]
async fn a_message_over_128_kb_in_small_frames_closes_with_1009() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    // Five 30 KB continuation frames: each under 32 KB, 150 KB together.
    let chunk = vec![b'x'; 30 * 1024];
    for i in 0..5 {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        let frame = Frame::message(chunk.clone(), opcode, i == 4);
        if ws_send_result(&mut ws, Message::Frame(frame)).await.is_err() {
            break;
        }
    }
    assert_eq!(expect_close(&mut ws).await.unwrap().code, CloseCode::Size);
}

#[tokio::test]
async fn idle_and_over_age_connections_are_closed() {
    let stack = Stack::start(LocalConfig {
        limits: Limits {
            idle_timeout: Duration::from_millis(300),
            max_lifetime: Duration::from_secs(60),
            ..Limits::default()
        },
        ..config()
    })
    .await;
    let mut ws = stack.connect().await;
    assert_eq!(expect_close(&mut ws).await.unwrap().code, CloseCode::Away);

    let stack = Stack::start(LocalConfig {
        limits: Limits {
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_millis(700),
            ..Limits::default()
        },
        ..config()
    })
    .await;
    let mut ws = stack.connect().await;
    // Activity does not extend the maximum lifetime.
    for _ in 0..3 {
        send(&mut ws, "{}").await;
        next_text(&mut ws).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(expect_close(&mut ws).await.unwrap().code, CloseCode::Away);
    stack.wait_for_stats("no connections", |s| s.connections == 0).await;
}

#[tokio::test]
async fn shutdown_closes_connections_and_returns() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    stack.wait_for_stats("the connection", |s| s.connections == 1).await;
    let stopping = tokio::spawn(stack.stop());
    assert_eq!(expect_close(&mut ws).await.unwrap().code, CloseCode::Away);
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn polygon_mode_talks_to_the_configured_endpoint() {
    // A stand-in Polygon that knows one symbol; the stack must not serve its own demo market.
    let polygon = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path_regex("^/v2/aggs/ticker/MSFT/"))
        .and(wiremock::matchers::header("authorization", "Bearer real-key"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "ticker": "MSFT", "resultsCount": 1, "status": "OK", "request_id": "r",
            "results": [{"o": 1.0, "h": 4.0, "l": 2.0, "c": 3.0, "v": 100, "t": 1727755200000u64}]
        })))
        .mount(&polygon)
        .await;
    let key = stocks_core::adapters::ApiKey::new("real-key").unwrap();
    let stack = Stack::start(LocalConfig {
        market: MarketMode::Polygon {
            base_url: polygon.uri(),
            key,
        },
        ..config()
    })
    .await;
    let mut ws = stack.connect().await;
    let (_, report) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-01"}"#,
    )
    .await;
    assert_eq!(report.report_data.unwrap().avg_stock, 3.0);
    let demo = reqwest::get(stack.http_url("/v2/aggs/ticker/MSFT/range/1/day/2024-10-01/2024-10-01"))
        .await
        .unwrap();
    assert_eq!(demo.status(), 404, "no demo market in polygon mode");
}

async fn ws_send(ws: &mut support::Ws, message: Message) {
    ws_send_result(ws, message).await.unwrap();
}

async fn ws_send_result(ws: &mut support::Ws, message: Message) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use futures::SinkExt;
    ws.send(message).await
}

#[tokio::test]
async fn the_hostile_corpus_through_the_gateway() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../stocks-core/tests/fixtures/hostile-frames.json");
    let corpus: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    let (mut answered, mut too_big) = (0, 0);
    for frame in corpus["frames"].as_array().unwrap() {
        let (name, body) = (frame["name"].as_str().unwrap(), frame["frame"].as_str().unwrap());
        if body.len() > Limits::default().max_frame {
            // API Gateway refuses the frame itself before any route is chosen.
            let mut alone = stack.connect().await;
            send(&mut alone, body).await;
            assert_eq!(expect_close(&mut alone).await.unwrap().code, CloseCode::Size, "{name}");
            too_big += 1;
            continue;
        }
        send(&mut ws, body).await;
        let expected: ErrorCode = serde_json::from_value(frame["expect"].clone()).unwrap();
        assert_eq!(next_message(&mut ws).await.error, Some(expected), "{name}");
        answered += 1;
    }
    assert!(answered >= 50 && too_big >= 1, "{answered} answered, {too_big} too big");
    let stats = stack.stats().await;
    assert_eq!(
        (stats.accepted, stats.errors, stats.dlq),
        (0, answered, 0),
        "nothing accepted, nothing queued"
    );
}
