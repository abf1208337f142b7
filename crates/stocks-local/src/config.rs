//! [`LocalConfig`]: everything the local stack can be told, and the one place its defaults
//! live (`stocksctl local`'s flags show and use these same values).

use std::time::Duration;

use stocks_core::adapters::{ApiKey, CacheSettings, QuotaSettings, RetryPolicy};
use stocks_core::domain::Rate;
use stocks_core::domain::WindowDays;
use stocks_core::handlers::WorkerSettings;
use stocks_core::ports::Clock;

pub use crate::gateway::limits::Limits;

/// Where market data comes from.
#[derive(Clone, Debug)]
pub enum MarketMode {
    /// The built-in synthetic market on the same port.
    Demo,
    /// The real Polygon API.
    Polygon { base_url: String, key: ApiKey },
}

/// Where jobs are queued.
#[derive(Clone, Debug)]
pub enum QueueMode {
    /// In memory, with SQS semantics.
    Memory,
    /// Any SQS-compatible service (moto, LocalStack, real SQS).
    Sqs {
        /// Endpoint override; `None` is AWS itself.
        endpoint: Option<String>,
        /// Region; `None` is the AWS configuration's (us-east-1 with an endpoint and none set).
        region: Option<String>,
        queue_url: String,
        dlq_url: String,
    },
}

/// Who may connect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Anyone (the seed's open API; `make dev`'s default).
    #[default]
    None,
    /// `$connect` needs `?token=`: the real authorizer over an in-memory access table, and the
    /// real per-token rate check in the ingress (Terraform's `auth_mode = "token"`).
    Tokens,
}

/// Everything `stocksctl local` can be told. [`LocalConfig::default`] is what `make dev` runs.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// API Gateway stage: the WebSocket URL's path and the `@connections` prefix.
    pub stage: String,
    pub market: MarketMode,
    pub queue: QueueMode,
    /// How long a received job stays hidden before the memory queue delivers it again.
    pub visibility_timeout: Duration,
    /// Deliveries before a job is dead-lettered (the redrive policy's `maxReceiveCount`, and
    /// the worker's `MAX_RECEIVE_COUNT`).
    pub max_receive_count: u32,
    /// Records per worker invocation (SQS allows 1..=10).
    pub batch_size: usize,
    /// Worker instances, each its own `Worker` (its own market cache and delivery guard)
    /// handling one batch at a time, as the SQS mapping's `maximum_concurrency` runs Lambda
    /// instances (Terraform's `worker_max_concurrency`). They share only what deployed instances
    /// share: the queue, `@connections` and the market store.
    pub worker_instances: usize,
    /// Retire an instance this long after it started and start a fresh one with nothing in it,
    /// as Lambda recycles environments; `None`: never.
    pub instance_max_age: Option<Duration>,
    /// API Gateway's frame, message and connection-lifetime limits.
    pub limits: Limits,
    /// Days in the default report window (`REPORT_WINDOW_DAYS`).
    pub window_days: WindowDays,
    /// Share of demo-market responses that fail.
    pub fault_rate: f64,
    /// Seed for the fault draws, to replay a run.
    pub fault_seed: Option<u64>,
    /// Extra delay on every demo-market response.
    pub market_latency: Duration,
    /// The worker's Polygon retry policy: shorter than in Lambda, so a stalled demo response
    /// costs seconds, not tens of them.
    pub retry: RetryPolicy,
    /// The worker's market cache, as deployed: identical requests coalesced, answers kept
    /// until the next market close.
    pub cache: CacheSettings,
    /// The demo market's plan (`--market-plan`): `Basic` is Polygon's free plan — 5 requests a
    /// minute, two years of history — and turns the fleet's limiter on at its rate.
    pub market_plan: MarketPlan,
    /// The demo market's quota (`--market-quota`), over the plan's: beyond it, 429 as Polygon
    /// answers.
    pub market_quota: Option<PerPeriod>,
    /// The fleet's quota: its limiter (`POLYGON_REQUESTS_PER_MINUTE` deployed; over the plan's
    /// rate) and the wait after a 429 that says nothing (`QUOTA_DEFER_SECS`).
    pub quota: QuotaSettings,
    /// `MAX_JOB_AGE_SECS`: the longest a job waits for market quota.
    pub max_job_age: Duration,
    /// Who may connect.
    pub auth: AuthMode,
    /// The time API Gateway stamps on events (`requestTimeEpoch`, `connectedAt`): the wall
    /// clock, or a test's, so a test of a per-minute rate need not dodge a minute's end.
    pub clock: Clock,
}

/// The demo market's plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MarketPlan {
    /// No limits: every request answered.
    #[default]
    Unlimited,
    /// Polygon's free plan: 5 requests a minute, and two years of daily history (an older
    /// window is refused with Polygon's 403 `NOT_AUTHORIZED`).
    Basic,
}

impl MarketPlan {
    /// The plan's requests per period.
    pub fn quota(self) -> Option<PerPeriod> {
        match self {
            Self::Unlimited => None,
            Self::Basic => Some(PerPeriod {
                requests: 5,
                period: Duration::from_secs(60),
            }),
        }
    }

    /// How far back the plan's history goes, in months.
    pub fn history_months(self) -> Option<u32> {
        match self {
            Self::Unlimited => None,
            Self::Basic => Some(24),
        }
    }
}

/// `N` requests per `period`: `5/min`, `5/2s`, `100/s`, `300/5m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerPeriod {
    pub requests: u32,
    pub period: Duration,
}

impl PerPeriod {
    /// Parses `N/PERIOD`, where PERIOD is a unit (`s`, `min`, `h`) or a number and a unit
    /// (`2s`, `5m`, `1h`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not N/PERIOD, e.g. 5/min, 5/2s or 100/s");
        let (n, period) = text.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        let period = period.trim();
        let period = match period {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => humantime::parse_duration(other).map_err(|_| bad())?,
        };
        if period.is_zero() {
            return Err(bad());
        }
        Ok(Self { requests, period })
    }

    /// As the fleet's limiter.
    pub fn rate(self) -> Rate {
        Rate {
            calls: self.requests,
            per: self.period,
        }
    }
}

impl std::fmt::Display for PerPeriod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.requests, humantime::format_duration(self.period))
    }
}

impl LocalConfig {
    /// Where `stocksctl local` listens unless told otherwise.
    pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            stage: "local".into(),
            market: MarketMode::Demo,
            queue: QueueMode::Memory,
            visibility_timeout: Duration::from_secs(10),
            max_receive_count: 3,
            batch_size: 10,
            worker_instances: 2,
            instance_max_age: None,
            limits: Limits::default(),
            window_days: WindowDays::DEFAULT,
            fault_rate: 0.0,
            fault_seed: None,
            market_latency: Duration::ZERO,
            retry: RetryPolicy {
                request_timeout: Duration::from_secs(2),
                budget: Duration::from_secs(10),
                ..RetryPolicy::default()
            },
            cache: CacheSettings::default(),
            market_plan: MarketPlan::Unlimited,
            market_quota: None,
            quota: QuotaSettings::default(),
            max_job_age: WorkerSettings::DEFAULT_MAX_JOB_AGE,
            auth: AuthMode::None,
            clock: Clock::system(),
        }
    }
}

impl LocalConfig {
    /// The demo market's quota: `--market-quota`, else the plan's.
    pub fn demo_quota(&self) -> Option<PerPeriod> {
        self.market_quota.or(self.market_plan.quota())
    }

    /// The fleet's limiter: `--polygon-rate`, else the plan's rate (as Terraform's default
    /// `polygon_requests_per_minute = 5` has it deployed).
    pub fn fleet_rate(&self) -> Option<Rate> {
        self.quota.rate.or(self.market_plan.quota().map(PerPeriod::rate))
    }

    /// Refuses what the deployed service would refuse: the same bounds as the Lambdas'
    /// environment (`stocks_core::config`) and Terraform's validations, from the same constants.
    pub fn check(&self) -> Result<(), StartError> {
        if self.stage.is_empty()
            || !self
                .stage
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(StartError::Stage(self.stage.clone()));
        }
        let secs = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
        let checks = [
            (
                "the maximum job age (MAX_JOB_AGE_SECS)",
                WorkerSettings::MAX_JOB_AGE_SECS.contains(&secs(self.max_job_age)),
                format!(
                    "{} to {} seconds",
                    WorkerSettings::MAX_JOB_AGE_SECS.start(),
                    WorkerSettings::MAX_JOB_AGE_SECS.end()
                ),
            ),
            (
                "the wait after a 429 without Retry-After (QUOTA_DEFER_SECS)",
                QuotaSettings::DEFER_SECS.contains(&secs(self.quota.defer_without_retry_after)),
                format!(
                    "{} to {} seconds",
                    QuotaSettings::DEFER_SECS.start(),
                    QuotaSettings::DEFER_SECS.end()
                ),
            ),
            (
                "the redrive count (MAX_RECEIVE_COUNT)",
                WorkerSettings::MAX_RECEIVE_COUNT.contains(&self.max_receive_count),
                format!(
                    "{} to {}",
                    WorkerSettings::MAX_RECEIVE_COUNT.start(),
                    WorkerSettings::MAX_RECEIVE_COUNT.end()
                ),
            ),
            (
                "the market answers kept (MARKET_CACHE_ENTRIES)",
                CacheSettings::ENTRIES.contains(&self.cache.entries),
                format!("{} to {}", CacheSettings::ENTRIES.start(), CacheSettings::ENTRIES.end()),
            ),
            (
                "the batch size",
                (1..=10).contains(&self.batch_size),
                "1 to 10, as SQS allows".to_owned(),
            ),
            (
                "the worker instances (worker_max_concurrency)",
                (2..=1000).contains(&self.worker_instances),
                "2 to 1000, as an SQS mapping allows".to_owned(),
            ),
        ];
        match checks.into_iter().find(|(_, ok, _)| !ok) {
            Some((setting, _, allowed)) => Err(StartError::Setting { setting, allowed }),
            None => Ok(()),
        }
    }
}

/// Why the local stack could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A stage name API Gateway would refuse.
    #[error("stage name {0:?} must be letters, digits, '-' or '_'")]
    Stage(String),
    /// A setting the deployed service would refuse.
    #[error("{setting} must be {allowed}")]
    Setting {
        /// Which setting, in words.
        setting: &'static str,
        /// What it may be.
        allowed: String,
    },
    /// The listener's address could not be read, or nothing could be bound.
    #[error("could not read the listening address")]
    Address(#[source] std::io::Error),
    /// The `@connections` URL built from the address and stage is not a URL.
    #[error("the @connections URL is invalid")]
    Callback(#[source] stocks_core::ports::InvalidCallbackUrl),
    /// The demo market's key could not be built.
    #[error("the demo market's key is invalid")]
    Key,
    /// The Polygon client could not be built.
    #[error("could not set up the Polygon client")]
    Polygon(#[source] stocks_core::adapters::PolygonSetupError),
    /// The HTTP server failed.
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
    /// A task of the stack panicked.
    #[error("the local stack crashed: {0}")]
    Panicked(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_period_forms() {
        let parse = |s| PerPeriod::parse(s).unwrap();
        assert_eq!(
            parse("5/min"),
            PerPeriod {
                requests: 5,
                period: Duration::from_secs(60)
            }
        );
        assert_eq!(
            parse("5/2s"),
            PerPeriod {
                requests: 5,
                period: Duration::from_secs(2)
            }
        );
        assert_eq!(
            parse("100/s"),
            PerPeriod {
                requests: 100,
                period: Duration::from_secs(1)
            }
        );
        assert_eq!(parse("300/5m").period, Duration::from_secs(300));
        assert_eq!(parse("5/min").to_string(), "5/1m");
        for bad in ["", "5", "five/min", "0/min", "5/", "5/0s", "5/fortnightly", "-1/s"] {
            assert!(PerPeriod::parse(bad).is_err(), "{bad:?}");
        }
    }
}
