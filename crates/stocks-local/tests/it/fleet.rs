//! The worker as a fleet: instances of their own sharing one market quota and one answer store,
//! as deployed. In compressed time (a plan of 5 per 2 s) so a burst that takes minutes on the
//! free plan takes seconds here; the figures on the real plan are `make bench`'s.

use std::time::Duration;

use stocks_core::domain::{ClientMessage, ErrorCode};
use stocks_local::market::UNIVERSE;
use stocks_local::{LocalConfig, MarketPlan, PerPeriod, Stats};
use stocks_testkit::Stack;
use stocks_testkit::stack::fast_config;
use stocks_testkit::ws::{connect, request, send};

const WINDOW: &str = r#""from":"2024-10-01","to":"2024-10-31""#;

/// A plan of 5 per 2 s, the fleet's limiter at that rate, `instances` instances.
fn plan(instances: usize) -> LocalConfig {
    let plan = PerPeriod::parse("5/2s").unwrap();
    let mut config = LocalConfig {
        market_quota: Some(plan),
        worker_instances: instances,
        ..fast_config()
    };
    config.quota.rate = Some(plan.rate());
    config
}

/// Every ticker asked once at the same moment by its own client: the last message each got.
async fn burst(stack: &Stack, tickers: &[&str]) -> Vec<ClientMessage> {
    let clients = tickers.iter().map(|ticker| {
        let url = stack.ws_url();
        let ticker = ticker.to_string();
        tokio::spawn(async move {
            let mut ws = connect(&url).await;
            let (_, last) = request(
                &mut ws,
                &format!(r#"{{"action":"stocksaction","ticker":"{ticker}",{WINDOW}}}"#),
            )
            .await;
            last
        })
    });
    futures::future::join_all(clients)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

fn tickers(n: usize) -> Vec<&'static str> {
    UNIVERSE.iter().take(n).map(|(t, _)| *t).collect()
}

async fn settled(stack: &Stack) -> Stats {
    stack.wait_for_stats("every disconnect", |s| s.connections == 0).await
}

#[tokio::test]
async fn fifteen_tickers_on_two_instances_are_answered_within_the_plan() {
    let stack = Stack::start(plan(2)).await;
    let answers = burst(&stack, &tickers(15)).await;
    assert!(answers.iter().all(|m| m.status_code == 200), "{answers:?}");
    let stats = settled(&stack).await;
    assert_eq!((stats.reported, stats.dlq), (15, 0));
    assert!(
        stats.market_throttled <= 1,
        "the fleet's limiter keeps inside the plan: {stats:?}"
    );
    assert_eq!(
        stats.market_requests - stats.market_throttled,
        15,
        "one call per ticker: {stats:?}"
    );
    assert_eq!(stats.instances.len(), 2);
    assert_eq!(
        stats.instances.iter().map(|i| i.market_requests).sum::<u64>(),
        stats.market_requests,
        "every call was an instance's: {:?}",
        stats.instances
    );
}

#[tokio::test]
async fn instances_that_are_recycled_still_keep_inside_the_plan() {
    let stack = Stack::start(LocalConfig {
        instance_max_age: Some(Duration::from_millis(300)),
        ..plan(4)
    })
    .await;
    let first = burst(&stack, &tickers(10)).await;
    let second = burst(&stack, &tickers(20)[10..]).await;
    assert!(
        first.iter().chain(&second).all(|m| m.status_code == 200),
        "{first:?} {second:?}"
    );
    let stats = settled(&stack).await;
    assert_eq!((stats.reported, stats.dlq), (20, 0));
    assert!(
        stats.market_throttled <= 1,
        "a fresh instance has no bucket to spend: {stats:?}"
    );
    assert!(
        stats.instances.len() > 4,
        "instances were retired and replaced: {:?}",
        stats.instances
    );
}

#[tokio::test]
async fn forty_clients_asking_for_four_tickers_on_four_instances_make_four_market_calls() {
    let stack = Stack::start(LocalConfig {
        worker_instances: 4,
        // Slow answers, so requests on different instances overlap while the first is fetching.
        market_latency: Duration::from_millis(300),
        ..fast_config()
    })
    .await;
    let asked: Vec<&str> = (0..40).map(|i| ["MSFT", "KO", "IBM", "V"][i % 4]).collect();
    let answers = burst(&stack, &asked).await;
    assert!(answers.iter().all(|m| m.status_code == 200), "{answers:?}");
    let stats = settled(&stack).await;
    assert_eq!(stats.reported, 40);
    assert_eq!(
        stats.market_requests, 4,
        "one per ticker, whichever instance asked: {stats:?}"
    );
}

#[tokio::test]
async fn a_window_older_than_the_plan_covers_is_refused_with_plan_limit() {
    let stack = Stack::start(LocalConfig {
        market_plan: MarketPlan::Basic,
        ..fast_config()
    })
    .await;
    let mut ws = connect(&stack.ws_url()).await;
    let (_, refused) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2015-01-02","to":"2015-01-30"}"#,
    )
    .await;
    assert_eq!((refused.status_code, refused.error), (403, Some(ErrorCode::PlanLimit)));
    assert!(refused.is_terminal());
    let mut ws = connect(&stack.ws_url()).await;
    // The default window: the last thirty days.
    let (_, report) = request(&mut ws, r#"{"action":"stocksaction","ticker":"MSFT"}"#).await;
    assert_eq!(report.status_code, 200, "a window inside two years is answered");
    let stats = settled(&stack).await;
    assert_eq!(
        (stats.dlq, stats.errors, stats.reported),
        (0, 1, 1),
        "no DLQ for a plan's limit"
    );
}

#[tokio::test]
async fn the_plan_turns_the_fleets_limiter_on_at_its_rate() {
    let stack = Stack::start(LocalConfig {
        market_plan: MarketPlan::Basic,
        ..fast_config()
    })
    .await;
    // Six tickers on a plan of five a minute: the sixth waits for its slot, it is not sent to
    // be refused.
    let mut clients = Vec::new();
    for ticker in tickers(6) {
        let mut ws = connect(&stack.ws_url()).await;
        send(
            &mut ws,
            &format!(r#"{{"action":"stocksaction","ticker":"{ticker}","progress":true}}"#),
        )
        .await;
        clients.push(ws);
    }
    let stats = stack
        .wait_for_stats("five reports and one deferral", |s| s.reported == 5 && s.deferred == 1)
        .await;
    assert_eq!((stats.market_requests, stats.market_throttled), (5, 0), "{stats:?}");
}
