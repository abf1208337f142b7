//! What the market table costs per report: DynamoDB calls counted on the wire (an SDK
//! interceptor on the client) against moto, through the real worker path — the fleet's answers
//! and leases ([`SharedMarket`]) over the real Polygon client taking its slots from the ledger,
//! reading the demo market over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use serde::Serialize;
use stocks_core::adapters::{ApiKey, DynamoMarketStore, PolygonClient, QuotaSettings, RetryPolicy, SharedMarket};
use stocks_core::domain::{DateWindow, Rate, Ticker, parse_date};
use stocks_core::ports::MarketData;
use stocks_local::market::UNIVERSE;
use stocks_testkit::MotoServer;

/// Calls per report, each kind of report.
#[derive(Clone, Debug, Serialize)]
pub struct StoreCalls {
    pub reports_per_kind: usize,
    /// A report no instance had: lease, ledger, market call, answer kept, lease given back.
    pub miss_reads: f64,
    pub miss_writes: f64,
    pub miss_market_calls: f64,
    /// A report another instance had fetched: the answer read from the table.
    pub hit_reads: f64,
    pub hit_writes: f64,
    pub hit_market_calls: f64,
}

/// Counts DynamoDB calls: `GetItem` reads, everything else (put, update, delete) writes.
#[derive(Debug, Default)]
struct Count {
    reads: AtomicU64,
    writes: AtomicU64,
}

#[derive(Debug)]
struct Counter(Arc<Count>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "CountDynamoDbCalls"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let read = context.input().downcast_ref::<GetItemInput>().is_some();
        let counter = if read { &self.0.reads } else { &self.0.writes };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `reports` distinct 30-day reports fetched by one instance, then asked again by another.
pub async fn measure(market_base: &str, reports: usize) -> Result<StoreCalls, String> {
    let moto = MotoServer::try_start()?;
    moto.table("bench-market").await;
    let count = Arc::new(Count::default());
    let config = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config())
        .interceptor(Counter(count.clone()))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    // The free plan's limiter is on, as deployed, but generous enough not to wait here.
    let store = Arc::new(DynamoMarketStore::new(
        client,
        "bench-market",
        Some(Rate::per_minute(1000)),
    ));
    let instance = || -> Result<_, String> {
        let polygon = PolygonClient::new(market_base, &ApiKey::new("demo").ok_or("key")?, RetryPolicy::default())
            .map_err(|e| e.to_string())?
            .with_quota(store.clone(), QuotaSettings::default());
        let requests = polygon.request_counter();
        Ok((SharedMarket::new(polygon, store.clone()), requests))
    };
    let asked: Vec<(Ticker, DateWindow)> = UNIVERSE
        .iter()
        .cycle()
        .take(reports)
        .enumerate()
        .map(|(i, (t, _))| {
            let to = parse_date("2024-10-31").ok_or("date")? - chrono::Days::new(i as u64);
            let from = to - chrono::Days::new(29);
            Ok((
                Ticker::parse(t).map_err(|e| e.to_string())?,
                DateWindow::new(from, to).map_err(|e| e.to_string())?,
            ))
        })
        .collect::<Result<_, String>>()?;
    let mut per_kind = Vec::new();
    for _ in ["miss", "hit"] {
        let (market, requests) = instance()?;
        let before = (
            count.reads.load(Ordering::Relaxed),
            count.writes.load(Ordering::Relaxed),
        );
        for (ticker, window) in &asked {
            market.daily_bars(ticker, window).await.map_err(|e| e.to_string())?;
        }
        let n = asked.len() as f64;
        per_kind.push((
            (count.reads.load(Ordering::Relaxed) - before.0) as f64 / n,
            (count.writes.load(Ordering::Relaxed) - before.1) as f64 / n,
            requests.load(Ordering::Relaxed) as f64 / n,
        ));
    }
    let [
        (miss_reads, miss_writes, miss_market_calls),
        (hit_reads, hit_writes, hit_market_calls),
    ] = per_kind[..]
    else {
        return Err("two kinds measured".into());
    };
    Ok(StoreCalls {
        reports_per_kind: reports,
        miss_reads,
        miss_writes,
        miss_market_calls,
        hit_reads,
        hit_writes,
        hit_market_calls,
    })
}
