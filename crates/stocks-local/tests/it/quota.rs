//! A burst on a free-plan-like quota ends in reports, not in the DLQ: the demo market allows 5
//! requests per 2 s; 30 clients ask at once for 30 different tickers.

use std::time::{Duration, Instant};

use stocks_local::market::UNIVERSE;
use stocks_local::{LocalConfig, PerPeriod, Stats};
use stocks_testkit::Stack;
use stocks_testkit::stack::fast_config;
use stocks_testkit::ws::{connect, send};

/// Long enough for six 2-second windows, and then some.
const WAIT: Duration = Duration::from_secs(90);

#[tokio::test]
async fn thirty_tickers_at_once_on_a_quota_of_five_per_two_seconds_all_get_their_report() {
    let stack = Stack::start(LocalConfig {
        market_quota: Some(PerPeriod::parse("5/2s").unwrap()),
        ..fast_config()
    })
    .await;
    let url = stack.ws_url();
    let started = Instant::now();
    let clients = UNIVERSE.iter().take(30).enumerate().map(|(i, (ticker, _))| {
        let url = url.clone();
        // Half of them ask to hear about the waiting.
        let progress = i % 2 == 0;
        tokio::spawn(async move {
            let mut ws = connect(&url).await;
            send(
                &mut ws,
                &format!(
                    r#"{{"action":"stocksaction","ticker":"{ticker}","from":"2024-10-01","to":"2024-10-31","progress":{progress}}}"#
                ),
            )
            .await;
            let mut seen = Vec::new();
            loop {
                let frame = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut ws))
                    .await
                    .unwrap_or_else(|_| panic!("{ticker}: no report within {WAIT:?}; saw {seen:?}"));
                let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) = frame else {
                    panic!("{ticker}: the connection ended after {seen:?}");
                };
                let msg: stocks_core::domain::ClientMessage = serde_json::from_str(&text).unwrap();
                seen.push((msg.status_code, msg.message.clone()));
                if msg.is_terminal() {
                    return (*ticker, progress, seen, msg);
                }
            }
        })
    });
    let results = futures::future::join_all(clients).await;
    let wall = started.elapsed();
    let mut queued_notices = 0;
    for result in results {
        let (ticker, progress, seen, last) = result.unwrap();
        assert_eq!(last.status_code, 200, "{ticker}: {seen:?}");
        assert_eq!(last.ticker.as_deref(), Some(ticker));
        assert!(
            seen.iter().all(|(status, _)| *status == 202 || *status == 200),
            "{ticker}: {seen:?}"
        );
        let queued = seen.iter().filter(|(_, m)| m == "queued").count();
        if !progress {
            assert_eq!(queued, 0, "{ticker} did not ask for progress: {seen:?}");
        }
        queued_notices += queued;
    }
    let stats: Stats = stack.wait_for_stats("every disconnect", |s| s.connections == 0).await;
    assert_eq!(
        (stats.accepted, stats.reported, stats.errors, stats.dlq),
        (30, 30, 0, 0)
    );
    assert!(stats.market_throttled > 0, "the quota was really hit: {stats:?}");
    assert!(stats.deferred > 0, "and jobs waited for it: {stats:?}");
    assert!(queued_notices > 0, "the clients that asked heard about it");
    // What the burst cost, for the record (`make bench` measures it properly).
    let record = serde_json::json!({
        "clients": 30, "quota": "5/2s", "wall_seconds": wall.as_secs_f64(),
        "market_requests": stats.market_requests, "market_throttled": stats.market_throttled,
        "deferred": stats.deferred, "queued_notices": queued_notices,
    });
    println!("quota burst: {record}");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("quota-burst.json");
    std::fs::write(&out, record.to_string() + "\n").unwrap();
}

#[tokio::test]
async fn the_demo_market_answers_beyond_its_quota_as_polygon_does() {
    let stack = Stack::start(LocalConfig {
        market_quota: Some(PerPeriod::parse("2/min").unwrap()),
        ..fast_config()
    })
    .await;
    let path = "/v2/aggs/ticker/MSFT/range/1/day/2024-10-01/2024-10-31";
    let ask = || stack.http().get(stack.http_url(path)).bearer_auth("k").send();
    assert_eq!(ask().await.unwrap().status(), 200);
    assert_eq!(ask().await.unwrap().status(), 200);
    let refused = ask().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=60).contains(&retry_after),
        "whole seconds to the window's end: {retry_after}"
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "ERROR");
    assert_eq!(body["error"], stocks_local::market::QUOTA_MESSAGE);
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    let stats = stack.stats().await;
    assert_eq!((stats.market_requests, stats.market_throttled), (3, 1));
}
