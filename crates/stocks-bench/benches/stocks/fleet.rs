//! The worker fleet against a market plan: bursts of distinct tickers on Polygon's free plan
//! (`--market-plan basic`: 5 requests a minute, real time), on 2 and 4 instances and with
//! instances recycled; and many clients asking for the same few tickers across instances. What
//! waiting instead of failing costs: wall time against the plan's own bound (⌈N ÷ 5⌉ − 1
//! minutes: the last requests cannot start sooner), the 429s spent, the deferrals.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use stocks_core::domain::ClientMessage;
use stocks_local::market::UNIVERSE;
use stocks_local::{LocalConfig, MarketPlan, Running, Stats};
use tokio_tungstenite::tungstenite::Message;

/// One scenario's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Burst {
    pub scenario: String,
    pub instances: usize,
    pub clients: usize,
    pub tickers: usize,
    pub reports: usize,
    pub errors: usize,
    pub wall_seconds: f64,
    /// (⌈tickers ÷ 5⌉ − 1) minutes on the free plan; none for an unlimited market.
    pub bound_seconds: Option<f64>,
    pub wall_over_bound: Option<f64>,
    pub market_requests: u64,
    /// 429s the market answered.
    pub throttled: u64,
    pub deferrals: u64,
    pub dlq: u64,
    /// Instances started over the run (more than `instances` when they were recycled).
    pub instances_started: usize,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub instances: usize,
    pub instance_max_age: Option<Duration>,
    /// Each client asks for `asked[i]`.
    pub asked: Vec<&'static str>,
    /// The free plan (5/min, real time), or an unlimited market.
    pub plan: MarketPlan,
}

impl Scenario {
    /// `tickers` distinct tickers at once on the free plan.
    pub fn burst(tickers: usize, instances: usize, instance_max_age: Option<Duration>) -> Self {
        let age = instance_max_age.map_or(String::new(), |a| {
            format!(", instances recycled every {}s", a.as_secs())
        });
        Self {
            name: format!("{tickers} tickers at once, free plan, {instances} instances{age}"),
            instances,
            instance_max_age,
            asked: UNIVERSE.iter().take(tickers).map(|(t, _)| *t).collect(),
            plan: MarketPlan::Basic,
        }
    }

    /// `clients` clients asking for `tickers` tickers in turn, on an unlimited market.
    pub fn shared(clients: usize, tickers: usize, instances: usize) -> Self {
        let few: Vec<&'static str> = UNIVERSE.iter().take(tickers).map(|(t, _)| *t).collect();
        Self {
            name: format!("{clients} clients, {tickers} tickers, {instances} instances"),
            instances,
            instance_max_age: None,
            asked: (0..clients).map(|i| few[i % tickers]).collect(),
            plan: MarketPlan::Unlimited,
        }
    }
}

/// Runs one scenario on a fresh local stack.
pub async fn run(scenario: &Scenario) -> Result<Burst, String> {
    let stack = Running::start(LocalConfig {
        market_plan: scenario.plan,
        worker_instances: scenario.instances,
        instance_max_age: scenario.instance_max_age,
        // Answers slow enough that identical requests on different instances overlap.
        market_latency: Duration::from_millis(200),
        ..LocalConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let url = stack.ws_url();
    let started = Instant::now();
    let tasks: Vec<_> = scenario
        .asked
        .iter()
        .map(|ticker| {
            let (url, ticker) = (url.clone(), *ticker);
            tokio::spawn(async move { one(&url, ticker).await })
        })
        .collect();
    let mut reports = 0;
    let mut errors = 0;
    for task in tasks {
        match task.await.map_err(|e| e.to_string())? {
            Ok(200) => reports += 1,
            Ok(_) => errors += 1,
            Err(e) => return Err(e),
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let stats: Stats = crate::run::local_json(stack.addr, "/_local/stats").await?;
    let _ = stack.stop().await;
    let mut distinct = scenario.asked.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let bound = match scenario.plan {
        MarketPlan::Basic => Some((distinct.len().div_ceil(5).saturating_sub(1) * 60) as f64),
        MarketPlan::Unlimited => None,
    };
    Ok(Burst {
        scenario: scenario.name.clone(),
        instances: scenario.instances,
        clients: scenario.asked.len(),
        tickers: distinct.len(),
        reports,
        errors,
        wall_seconds: wall,
        bound_seconds: bound,
        wall_over_bound: bound.filter(|b| *b > 0.0).map(|b| wall / b),
        market_requests: stats.market_requests,
        throttled: stats.market_throttled,
        deferrals: stats.deferred,
        dlq: stats.dlq,
        instances_started: stats.instances.len(),
    })
}

/// One client: ask (a window inside the free plan's two years), wait for the terminal
/// message, return its status.
async fn one(url: &str, ticker: &str) -> Result<u16, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let body = format!(r#"{{"action":"stocksaction","ticker":"{ticker}"}}"#);
    ws.send(Message::text(body)).await.map_err(|e| format!("send: {e}"))?;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(600), ws.next())
            .await
            .map_err(|_| format!("{ticker}: no answer within 10 minutes"))?;
        let Some(Ok(Message::Text(text))) = frame else {
            return Err(format!("{ticker}: connection ended: {frame:?}"));
        };
        let msg: ClientMessage = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if msg.is_terminal() {
            let _ = ws.close(None).await;
            return Ok(msg.status_code);
        }
    }
}
