//! `stocksctl local`.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};
use stocks_core::adapters::POLYGON_BASE_URL as DEFAULT_BASE_URL;
use stocks_core::adapters::{CacheSettings, QuotaSettings};
use stocks_core::domain::WindowDays;
use stocks_core::handlers::WorkerSettings;
use stocks_local::{LocalConfig, PerPeriod};

/// The local stack's defaults: shown by `--help` and used when a flag is not given.
fn defaults() -> LocalConfig {
    LocalConfig::default()
}

/// Run the service locally: an API Gateway WebSocket emulator running the real handlers.
///
/// Serves on one port: the WebSocket API at ws://HOST:PORT/STAGE, the @connections API under
/// /STAGE/@connections/{id}, the demo market under /v2/aggs/..., and /_local/stats,
/// /_local/dlq, /_local/connections, /_local/requests and /_local/faults for inspection. Prints `listening on ws://HOST:PORT/STAGE`
/// when ready and serves until Ctrl-C.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = LocalConfig::DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// API Gateway stage name: the path of the WebSocket URL.
    #[arg(long, default_value_t = defaults().stage)]
    pub stage: String,

    /// Market data: `demo` serves deterministic synthetic bars offline; `polygon` calls the real
    /// API with POLYGON_API_KEY.
    #[arg(long, value_enum, default_value_t = Market::Demo)]
    pub market: Market,

    /// Polygon API key, for `--market polygon` only.
    #[arg(long, env = "POLYGON_API_KEY", hide_env_values = true)]
    pub polygon_api_key: Option<String>,

    /// Polygon endpoint, for `--market polygon`.
    #[arg(long, env = "POLYGON_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub polygon_base_url: String,

    /// Job queue: `memory` emulates SQS in this process; `sqs` uses --queue-url/--dlq-url on any
    /// SQS-compatible service (moto, LocalStack, real SQS).
    #[arg(long, value_enum, default_value_t = Queue::Memory)]
    pub queue: Queue,

    /// SQS endpoint override for `--queue sqs` (e.g. http://127.0.0.1:5000 for moto).
    #[arg(long, env = "SQS_ENDPOINT_URL")]
    pub sqs_endpoint: Option<String>,

    /// AWS region for `--queue sqs` (default: the AWS config, else us-east-1 with an endpoint).
    #[arg(long)]
    pub region: Option<String>,

    /// Jobs queue URL for `--queue sqs`.
    #[arg(long, required_if_eq("queue", "sqs"))]
    pub queue_url: Option<String>,

    /// Dead-letter queue URL for `--queue sqs`.
    #[arg(long, required_if_eq("queue", "sqs"))]
    pub dlq_url: Option<String>,

    /// Seconds a received job stays hidden before SQS delivers it again (memory queue).
    #[arg(long, default_value_t = defaults().visibility_timeout.as_secs(), value_name = "SECS")]
    pub visibility_timeout: u64,

    /// Deliveries before a job is dead-lettered (the redrive policy's maxReceiveCount).
    #[arg(long, default_value_t = defaults().max_receive_count, value_parser = clap::value_parser!(u32).range(signed(WorkerSettings::MAX_RECEIVE_COUNT)))]
    pub max_receive_count: u32,

    /// Records per worker invocation (1-10, as SQS allows).
    #[arg(long, default_value_t = defaults().batch_size as u16, value_parser = clap::value_parser!(u16).range(1..=10))]
    pub batch_size: u16,

    /// Worker instances, as the SQS mapping runs Lambda instances (Terraform's
    /// worker_max_concurrency): each its own worker with its own cache, one batch at a time,
    /// sharing only the queue, @connections and the market store.
    #[arg(long, default_value_t = defaults().worker_instances as u16, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub worker_instances: u16,

    /// Retire a worker instance this long after it started and start a fresh, empty one, as
    /// Lambda recycles environments (e.g. 20s, 5m; default: never).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub instance_max_age: Option<std::time::Duration>,

    /// Close connections idle for this many seconds (API Gateway: 600).
    #[arg(long, default_value_t = defaults().limits.idle_timeout.as_secs(), value_name = "SECS")]
    pub idle_timeout: u64,

    /// Close every connection after this many seconds (API Gateway: 7200).
    #[arg(long, default_value_t = defaults().limits.max_lifetime.as_secs(), value_name = "SECS")]
    pub max_lifetime: u64,

    /// Days in the default report window (REPORT_WINDOW_DAYS).
    #[arg(long, env = "REPORT_WINDOW_DAYS", default_value_t = defaults().window_days.get(), value_parser = clap::value_parser!(u32).range(1..=i64::from(WindowDays::MAX)))]
    pub window_days: u32,

    /// Share of demo-market responses that fail (0-1): 429s, 500s, 503s, stalls, bad JSON.
    #[arg(long, default_value_t = defaults().fault_rate, value_parser = parse_rate)]
    pub fault_rate: f64,

    /// Seed for --fault-rate, to replay the same faults.
    #[arg(long)]
    pub fault_seed: Option<u64>,

    /// Milliseconds added to every demo-market response.
    #[arg(long, default_value_t = defaults().market_latency.as_millis() as u64, value_name = "MS")]
    pub market_latency: u64,

    /// Market answers the worker keeps until the next market close, as deployed
    /// (MARKET_CACHE_ENTRIES); 0 sends every request to the market.
    #[arg(long, default_value_t = defaults().cache.entries as u64, value_parser = clap::value_parser!(u64).range(wide(CacheSettings::ENTRIES)))]
    pub market_cache_entries: u64,

    /// The demo market's plan: `basic` is Polygon's free plan — 5 requests a minute and two
    /// years of history (an older window gets Polygon's 403 NOT_AUTHORIZED) — and turns the
    /// fleet's limiter on at its rate, as Terraform's default polygon_requests_per_minute = 5.
    #[arg(long, value_enum, default_value_t = Plan::Unlimited)]
    pub market_plan: Plan,

    /// The demo market's quota, over the plan's: at most N requests per fixed window of PERIOD,
    /// then 429 with Retry-After as Polygon answers (e.g. 5/min; 5/2s to see it quickly).
    #[arg(long, value_name = "N/PERIOD", value_parser = PerPeriod::parse)]
    pub market_quota: Option<PerPeriod>,

    /// The fleet's limiter, over the plan's rate, as POLYGON_REQUESTS_PER_MINUTE sets it
    /// deployed: at most N market calls start in any window of PERIOD, whichever instance
    /// makes them (e.g. 5/min).
    #[arg(long, value_name = "N/PERIOD", value_parser = PerPeriod::parse)]
    pub polygon_rate: Option<PerPeriod>,

    /// Seconds the worker waits after a 429 without Retry-After (QUOTA_DEFER_SECS).
    #[arg(long, value_name = "SECS", default_value_t = defaults().quota.defer_without_retry_after.as_secs(), value_parser = clap::value_parser!(u64).range(QuotaSettings::DEFER_SECS))]
    pub quota_defer: u64,

    /// Seconds a job may wait for market quota, from the client's request, before it is
    /// dead-lettered (MAX_JOB_AGE_SECS).
    #[arg(long, value_name = "SECS", default_value_t = defaults().max_job_age.as_secs(), value_parser = clap::value_parser!(u64).range(WorkerSettings::MAX_JOB_AGE_SECS))]
    pub max_job_age: u64,

    /// Who may connect: `none` (anyone), or `tokens` — `$connect` needs `?token=` (401 without
    /// one, 403 for an unknown or revoked one) and each token's requests a minute are limited,
    /// as deployed. Create tokens with `stocksctl tokens create --local URL`.
    #[arg(long, value_enum, default_value_t = Auth::None)]
    pub auth: Auth,
}

/// The demo market's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Plan {
    /// No limits.
    Unlimited,
    /// Polygon's free plan: 5 requests a minute, two years of history.
    Basic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    None,
    Tokens,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Market {
    Demo,
    Polygon,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Queue {
    Memory,
    Sqs,
}

/// A count's bounds as clap's `u64` parser takes them: the same constants the Lambdas'
/// configuration checks.
fn wide(bounds: std::ops::RangeInclusive<usize>) -> std::ops::RangeInclusive<u64> {
    let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    wide(*bounds.start())..=wide(*bounds.end())
}

/// A count's bounds as clap's `u32` parser takes them.
fn signed(bounds: std::ops::RangeInclusive<u32>) -> std::ops::RangeInclusive<i64> {
    i64::from(*bounds.start())..=i64::from(*bounds.end())
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}
