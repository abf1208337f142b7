//! A burst on a quota: N clients ask at once for N different tickers while the demo market
//! allows q requests per period. What it costs to wait instead of fail: the wall time against
//! the quota's own bound (⌈N/q⌉ − 1 full periods: the last requests cannot be served sooner),
//! the 429s spent, and the deferrals.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use stocks_core::adapters::{CacheSettings, QuotaSettings};
use stocks_core::domain::ClientMessage;
use stocks_local::market::UNIVERSE;
use stocks_local::{LocalConfig, PerPeriod, Running, Stats};
use tokio_tungstenite::tungstenite::Message;

/// One burst's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Burst {
    /// `gate` (429s close the worker's quota gate) or `gate+limiter` (the worker's own token
    /// bucket set to the quota too, as Terraform's `polygon_requests_per_minute` does).
    pub worker: &'static str,
    pub clients: usize,
    pub quota: String,
    pub reports: usize,
    pub errors: usize,
    pub wall_seconds: f64,
    /// (⌈clients / quota⌉ − 1) × period.
    pub bound_seconds: f64,
    pub wall_over_bound: f64,
    pub market_requests: u64,
    /// 429s the market answered.
    pub throttled: u64,
    pub deferrals: u64,
    pub dlq: u64,
}

/// Runs one burst of `clients` (at most the demo universe) against `quota`.
pub async fn burst(clients: usize, quota: PerPeriod, limiter: bool) -> Result<Burst, String> {
    let clients = clients.min(UNIVERSE.len());
    let stack = Running::start(LocalConfig {
        market_quota: Some(quota),
        quota: QuotaSettings {
            rate: limiter.then(|| quota.rate()),
            ..QuotaSettings::default()
        },
        // Distinct tickers: nothing to share anyway; off so a rerun asks the market again.
        cache: CacheSettings {
            entries: 0,
            max_age: None,
        },
        ..LocalConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let url = stack.ws_url();
    let started = Instant::now();
    let tasks: Vec<_> = UNIVERSE[..clients]
        .iter()
        .map(|(ticker, _)| {
            let url = url.clone();
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
    let windows = clients.div_ceil(quota.requests as usize).saturating_sub(1);
    let bound = windows as f64 * quota.period.as_secs_f64();
    Ok(Burst {
        worker: if limiter { "gate+limiter" } else { "gate" },
        clients,
        quota: quota.to_string(),
        reports,
        errors,
        wall_seconds: wall,
        bound_seconds: bound,
        wall_over_bound: if bound > 0.0 { wall / bound } else { 0.0 },
        market_requests: stats.market_requests,
        throttled: stats.market_throttled,
        deferrals: stats.deferred,
        dlq: stats.dlq,
    })
}

/// One client: ask, wait for the terminal message, return its status.
async fn one(url: &str, ticker: &str) -> Result<u16, String> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let body = format!(r#"{{"action":"stocksaction","ticker":"{ticker}","from":"2024-10-01","to":"2024-10-31"}}"#);
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
