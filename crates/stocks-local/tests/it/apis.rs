//! The local stack's HTTP surfaces: `@connections` through the real AWS SDK client, and the
//! demo market in Polygon's shape.

use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::{Client, Config};
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;
use stocks_core::adapters::AggregatesPage;
use stocks_testkit::Stack;
use stocks_testkit::stack::fast_config as config;
use stocks_testkit::ws::{expect_close, next_text};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn management_client(stack: &Stack) -> Client {
    Client::from_conf(
        Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .endpoint_url(format!("http://{}/{}", stack.addr(), stack.stage()))
            .build(),
    )
}

#[tokio::test]
async fn the_sdk_can_get_post_and_delete_a_connection() {
    let stack = Stack::start(config()).await;
    let mut ws = stack.connect().await;
    let id = stack.only_connection_id().await;
    let api = management_client(&stack);

    let info = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("GetConnection parses");
    assert!(info.connected_at.is_some() && info.last_active_at.is_some());
    assert_eq!(info.identity.unwrap().source_ip.as_deref(), Some("127.0.0.1"));

    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new("hello from the server"))
        .send()
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await, "hello from the server");

    api.delete_connection().connection_id(&id).send().await.unwrap();
    assert_eq!(expect_close(&mut ws).await.unwrap().code, CloseCode::Normal);

    let err = api
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_gone_exception(), "a closed id is 410 Gone");
    let err = api.get_connection().connection_id(&id).send().await.unwrap_err();
    assert!(err.into_service_error().is_gone_exception());
    assert_eq!(stack.stats().await.gone, 1);
}

#[tokio::test]
async fn unknown_ids_are_gone_and_other_stages_do_not_exist() {
    let stack = Stack::start(config()).await;
    let http = reqwest::Client::new();
    let response = http
        .post(stack.http_url("/local/@connections/nope="))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 410);
    assert_eq!(response.headers()["x-amzn-errortype"], "GoneException");
    let response = http
        .post(stack.http_url("/prod/@connections/nope="))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "only the configured stage exists");
}

#[tokio::test]
async fn oversize_posts_are_refused() {
    let stack = Stack::start(config()).await;
    let _ws = stack.connect().await;
    let id = stack.only_connection_id().await;
    let err = management_client(&stack)
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new(vec![b'x'; 129 * 1024]))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_payload_too_large_exception());
}

async fn aggs(stack: &Stack, path_and_query: &str, auth: bool) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(stack.http_url(path_and_query));
    if auth {
        request = request.bearer_auth("anything");
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_demo_market_speaks_polygon() {
    let stack = Stack::start(config()).await;
    let path = "/v2/aggs/ticker/MSFT/range/1/day/2024-10-01/2024-10-31";

    let unauthorized = aggs(&stack, path, false).await;
    assert_eq!(unauthorized.status(), 401, "like Polygon, no key no data");

    let raw: Value = aggs(&stack, &format!("{path}?adjusted=true&sort=asc&limit=50000"), true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (raw["ticker"].as_str(), raw["status"].as_str()),
        (Some("MSFT"), Some("OK"))
    );
    assert_eq!(raw["resultsCount"], 23);
    let first = &raw["results"][0];
    for field in ["o", "h", "l", "c", "v", "vw", "t", "n"] {
        assert!(first.get(field).is_some(), "bar field {field} missing: {first}");
    }
    assert!(raw.get("next_url").is_none());

    let unknown: Value = aggs(&stack, "/v2/aggs/ticker/ZZZZ/range/1/day/2024-10-01/2024-10-31", true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unknown["resultsCount"], 0);
    assert!(
        unknown.get("results").is_none(),
        "Polygon omits results when there are none"
    );
}

#[tokio::test]
async fn the_demo_market_paginates_with_next_url() {
    let stack = Stack::start(config()).await;
    let mut url = stack.http_url("/v2/aggs/ticker/AAPL/range/1/day/2024-10-01/2024-10-31?limit=5");
    let mut bars = Vec::new();
    let mut pages = 0;
    loop {
        let page: AggregatesPage = reqwest::Client::new()
            .get(&url)
            .bearer_auth("k")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        bars.extend(page.results.unwrap_or_default());
        match page.next_url {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!((pages, bars.len()), (5, 23));
    assert!(bars.windows(2).all(|w| w[0].t < w[1].t), "in order, no repeats");
}
