//! The local stack end to end: a real WebSocket client against the emulated API Gateway, the
//! real handlers, the in-memory queue, the demo market and `@connections` through the AWS SDK.

use std::time::Duration;

use stocks_core::domain::{ErrorCode, Rejection, Report, parse_date};
use stocks_local::market::{UNIVERSE, daily_bars};
use stocks_local::{Disconnect, Limits, LocalConfig, MarketMode};
use stocks_testkit::Stack;
use stocks_testkit::stack::fast_config as config;
use stocks_testkit::ws::{Ws, expect_close, next_message, request, send};
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
    // A good request, sent as binary: refused for being binary (its sentence says so; a body
    // that is not JSON gets the same code with another sentence), and nothing is queued.
    ws_send(
        &mut ws,
        Message::binary(br#"{"action":"stocksaction","ticker":"MSFT"}"#.to_vec()),
    )
    .await;
    let refusal = next_message(&mut ws).await;
    assert_eq!(
        (refusal.error, refusal.message.as_str()),
        (Some(ErrorCode::BadRequest), Rejection::binary_frame().message)
    );
    assert_eq!(stack.stats().await.accepted, 0);
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
    // The first delivery's three tries all meet a 503; SQS delivers the job again after the
    // visibility timeout, and the second delivery gets the report.
    let visibility = Duration::from_secs(1);
    let stack = Stack::start(LocalConfig {
        visibility_timeout: visibility,
        ..config()
    })
    .await;
    stack.set_faults(0.0, 3).await;
    let mut ws = stack.connect().await;
    let asked = std::time::Instant::now();
    let (ack, last) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"IBM","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert_eq!((last.status_code, &last.request_id), (200, &ack.request_id), "{last:?}");
    assert!(
        asked.elapsed() >= visibility,
        "the report came from a second delivery, after the visibility timeout ({:?})",
        asked.elapsed()
    );
    let faults: serde_json::Value = stack.get_json("/_local/faults").await;
    assert_eq!(
        faults["failNext"], 0,
        "all three failures were spent on the first delivery"
    );
    let stats = stack.stats().await;
    assert_eq!((stats.reported, stats.errors, stats.dlq), (1, 0, 0));
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
    let visibility = Duration::from_millis(200);
    let stack = Stack::start(LocalConfig {
        market_latency: Duration::from_millis(400),
        visibility_timeout: visibility,
        ..config()
    })
    .await;
    let mut ws = stack.connect().await;
    send(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    let ack = next_message(&mut ws).await;
    assert_eq!(ack.status_code, 202);
    ws.close(None).await.unwrap();

    // Acknowledged: the mapping deletes the job, so the queue empties. Had the record been
    // failed instead, it would stay in the queue and be delivered again after each visibility
    // timeout (200 ms), meeting 410 each time, until dead-lettered.
    let stats = stack
        .wait_for_stats("the worker to meet 410 and the job to go", |s| {
            s.gone == 1 && s.jobs == 0
        })
        .await;
    assert_eq!(
        (stats.reported, stats.dlq, stats.connections),
        (0, 0, 0),
        "acknowledged, not dead-lettered"
    );
    let requests: std::collections::HashMap<String, stocks_local::RequestRecord> =
        stack.get_json("/_local/requests").await;
    let record = &requests[ack.request_id.as_deref().unwrap()];
    assert_eq!(record.gone, [200], "the report met 410 once");
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

/// How the only connection so far ended, as its `$disconnect` said.
async fn the_disconnect(stack: &Stack) -> Disconnect {
    stack.wait_for_stats("the disconnect", |s| s.connections == 0).await;
    let disconnects: Vec<Disconnect> = stack.get_json("/_local/disconnects").await;
    assert_eq!(disconnects.len(), 1, "{disconnects:?}");
    disconnects[0].clone()
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_millis(300);
    let stack = Stack::start(LocalConfig {
        limits: Limits {
            idle_timeout: idle,
            max_lifetime: Duration::from_secs(60),
            ..Limits::default()
        },
        ..config()
    })
    .await;
    let opened = std::time::Instant::now();
    let mut ws = stack.connect().await;
    assert_eq!(expect_close(&mut ws).await.unwrap().code, CloseCode::Away);
    assert!(opened.elapsed() >= idle, "{:?}", opened.elapsed());
    let disconnect = the_disconnect(&stack).await;
    assert_eq!(
        (disconnect.status_code, disconnect.reason.as_str()),
        (1001, "Idle timeout")
    );
}

#[tokio::test]
async fn activity_does_not_extend_the_maximum_lifetime() {
    // The clocks themselves are tested exactly in `gateway::limits` (paused time); this is the
    // socket loop's wiring: a client that pings far more often than the idle timeout is still
    // hung up on at the maximum lifetime, and for that reason. Margins are wide on purpose: a
    // ping every 100 ms against a 1 s idle timeout.
    let (idle, max) = (Duration::from_secs(1), Duration::from_millis(1500));
    let stack = Stack::start(LocalConfig {
        limits: Limits {
            idle_timeout: idle,
            max_lifetime: max,
            ..Limits::default()
        },
        ..config()
    })
    .await;
    let opened = std::time::Instant::now();
    let mut ws = stack.connect().await;
    let mut pings = tokio::time::interval(Duration::from_millis(100));
    let closed = loop {
        tokio::select! {
            _ = pings.tick() => ws_send(&mut ws, Message::Ping(Vec::new().into())).await,
            frame = futures::StreamExt::next(&mut ws) => match frame {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(Message::Pong(_))) => {}
                other => panic!("unexpected {other:?}"),
            },
        }
        assert!(
            opened.elapsed() < max * 4,
            "never closed: activity extended the lifetime"
        );
    };
    assert_eq!(closed.unwrap().code, CloseCode::Away);
    assert!(opened.elapsed() >= max, "closed before the maximum lifetime");
    let disconnect = the_disconnect(&stack).await;
    assert_eq!(
        (disconnect.status_code, disconnect.reason.as_str()),
        (1001, "Connection exceeded its maximum duration")
    );
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

async fn ws_send(ws: &mut Ws, message: Message) {
    ws_send_result(ws, message).await.unwrap();
}

async fn ws_send_result(ws: &mut Ws, message: Message) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use futures::SinkExt;
    ws.send(message).await
}

#[tokio::test]
async fn the_hostile_corpus_through_the_gateway() {
    let corpus = stocks_testkit::fixture("hostile-frames.json");
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
