//! `PolygonClient` on its own against wiremock: the fetch's time budget covers every page and
//! every request.

use std::time::Duration;

use serde_json::json;
use stocks_core::adapters::{ApiKey, PolygonClient, RetryPolicy};
use stocks_core::domain::{DateWindow, Ticker, parse_date};
use stocks_core::ports::{MarketData, MarketError};
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn policy(budget: Duration) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        budget,
    }
}

fn october() -> DateWindow {
    DateWindow::new(parse_date("2026-10-01").unwrap(), parse_date("2026-10-31").unwrap()).unwrap()
}

fn page(server: &MockServer, next: Option<u32>) -> serde_json::Value {
    let mut page = json!({
        "ticker": "MSFT", "resultsCount": 1, "status": "OK", "request_id": "r",
        "results": [{"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10, "t": 1727755200000u64}]
    });
    if let Some(cursor) = next {
        page["next_url"] = format!(
            "{}/v2/aggs/ticker/MSFT/range/1/day/2026-10-01/2026-10-31?cursor={cursor}",
            server.uri()
        )
        .into();
    }
    page
}

#[tokio::test]
async fn the_budget_is_checked_before_every_page() {
    let polygon = MockServer::start().await;
    // Ten pages, each 200 ms away; the budget is 500 ms.
    for cursor in 0..10u32 {
        let mock = Mock::given(path("/v2/aggs/ticker/MSFT/range/1/day/2026-10-01/2026-10-31"));
        let mock = if cursor == 0 {
            mock.and(query_param("limit", "50000"))
        } else {
            mock.and(query_param("cursor", cursor.to_string()))
        };
        mock.respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&polygon, Some(cursor + 1)))
                .set_delay(Duration::from_millis(200)),
        )
        .mount(&polygon)
        .await;
    }
    let client = PolygonClient::new(
        &polygon.uri(),
        &ApiKey::new("k").unwrap(),
        policy(Duration::from_millis(500)),
    )
    .unwrap();
    let err = client
        .daily_bars(&Ticker::parse("MSFT").unwrap(), &october())
        .await
        .unwrap_err();
    assert!(matches!(err, MarketError::Unavailable { .. }), "{err:?}");
    let asked = polygon.received_requests().await.unwrap().len();
    assert!(asked <= 3, "{asked} pages requested within a 500 ms budget");
}

#[tokio::test]
async fn no_request_runs_past_the_budget() {
    let polygon = MockServer::start().await;
    // A complete answer, but two seconds away; the budget is 300 ms (the request timeout 10 s).
    Mock::given(path("/v2/aggs/ticker/MSFT/range/1/day/2026-10-01/2026-10-31"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(&polygon, None))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&polygon)
        .await;
    let client = PolygonClient::new(
        &polygon.uri(),
        &ApiKey::new("k").unwrap(),
        policy(Duration::from_millis(300)),
    )
    .unwrap();
    let result = client.daily_bars(&Ticker::parse("MSFT").unwrap(), &october()).await;
    assert!(
        matches!(result, Err(MarketError::Unavailable { .. })),
        "the request was cut at the budget, not allowed to finish: {result:?}"
    );
}
