//! `stocksctl local`: the command line over [`stocks_local`]. It turns flags into a
//! [`LocalConfig`] (whose defaults the flags show), binds, prints the ready line and serves until
//! Ctrl-C or SIGTERM.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use stocks_core::adapters::{ApiKey, CacheSettings, QuotaSettings};
use stocks_core::domain::WindowDays;
use stocks_local::{AuthMode, Limits, LocalConfig, MarketMode, MarketPlan, PerPeriod, QueueMode};

use crate::cli::{Auth, LocalArgs, Market, Plan, Queue};

/// The configuration the flags describe.
pub fn config(args: &LocalArgs) -> Result<LocalConfig> {
    let defaults = LocalConfig::default();
    let market = match args.market {
        Market::Demo => MarketMode::Demo,
        Market::Polygon => MarketMode::Polygon {
            base_url: args.polygon_base_url.clone(),
            key: args
                .polygon_api_key
                .clone()
                .and_then(ApiKey::new)
                .ok_or_else(|| anyhow!("--market polygon needs POLYGON_API_KEY (or --polygon-api-key)"))?,
        },
    };
    let queue = match args.queue {
        Queue::Memory => QueueMode::Memory,
        Queue::Sqs => QueueMode::Sqs {
            endpoint: args.sqs_endpoint.clone(),
            region: args.region.clone(),
            queue_url: args.queue_url.clone().context("--queue sqs needs --queue-url")?,
            dlq_url: args.dlq_url.clone().context("--queue sqs needs --dlq-url")?,
        },
    };
    Ok(LocalConfig {
        stage: args.stage.clone(),
        market,
        queue,
        visibility_timeout: Duration::from_secs(args.visibility_timeout),
        max_receive_count: args.max_receive_count,
        batch_size: usize::from(args.batch_size),
        worker_instances: usize::from(args.worker_instances),
        instance_max_age: args.instance_max_age,
        limits: Limits {
            idle_timeout: Duration::from_secs(args.idle_timeout),
            max_lifetime: Duration::from_secs(args.max_lifetime),
            ..defaults.limits
        },
        window_days: WindowDays::new(args.window_days).context("--window-days is out of range")?,
        fault_rate: args.fault_rate,
        fault_seed: args.fault_seed,
        market_latency: Duration::from_millis(args.market_latency),
        cache: CacheSettings {
            entries: usize::try_from(args.market_cache_entries).context("--market-cache-entries is too large")?,
            ..defaults.cache
        },
        market_plan: match args.market_plan {
            Plan::Unlimited => MarketPlan::Unlimited,
            Plan::Basic => MarketPlan::Basic,
        },
        market_quota: args.market_quota,
        quota: QuotaSettings {
            rate: args.polygon_rate.map(PerPeriod::rate),
            defer_without_retry_after: Duration::from_secs(args.quota_defer),
        },
        max_job_age: Duration::from_secs(args.max_job_age),
        auth: match args.auth {
            Auth::None => AuthMode::None,
            Auth::Tokens => AuthMode::Tokens,
        },
        ..defaults
    })
}

/// Serves until `shutdown` resolves.
pub async fn run(args: &LocalArgs, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    let config = config(args)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("cannot read the listening address")?;
    println!("{}", stocks_local::ready_line(addr, &config));
    println!("{}", stocks_local::console_line(addr));
    stocks_local::serve(listener, config, shutdown)
        .await
        .map_err(|e| anyhow!(stocks_core::ports::error_chain(&e)))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use stocks_core::ports::{CONNECTION_IDLE_TIMEOUT, CONNECTION_MAX_LIFETIME};

    use super::*;
    use crate::cli::{Cli, Command};

    fn config_for(args: &[&str]) -> Result<LocalConfig> {
        let Command::Local(local) = Cli::try_parse_from(args)?.command else {
            unreachable!()
        };
        config(&local)
    }

    #[test]
    fn without_flags_the_config_is_the_library_default() {
        let config = config_for(&["stocksctl", "local"]).unwrap();
        let defaults = LocalConfig::default();
        assert_eq!(config.stage, "local");
        assert!(matches!(
            (config.market, config.queue),
            (MarketMode::Demo, QueueMode::Memory)
        ));
        assert_eq!(config.limits, defaults.limits);
        assert_eq!(config.limits.idle_timeout, CONNECTION_IDLE_TIMEOUT, "API Gateway's");
        assert_eq!(config.limits.max_lifetime, CONNECTION_MAX_LIFETIME, "API Gateway's");
        assert_eq!(
            (config.max_receive_count, config.batch_size, config.worker_instances),
            (
                defaults.max_receive_count,
                defaults.batch_size,
                defaults.worker_instances
            )
        );
        assert_eq!(config.visibility_timeout, defaults.visibility_timeout);
        assert_eq!(config.window_days, defaults.window_days);
        assert_eq!(config.cache, defaults.cache);
        assert_eq!(config.retry, defaults.retry);
        assert_eq!(config.market_quota, None, "an unlimited demo market unless asked");
        assert_eq!(config.quota, defaults.quota);
        assert_eq!(config.max_job_age, defaults.max_job_age);
    }

    #[test]
    fn quota_flags() {
        let config = config_for(&[
            "stocksctl",
            "local",
            "--market-quota",
            "5/2s",
            "--polygon-rate",
            "5/min",
            "--quota-defer",
            "30",
            "--max-job-age",
            "600",
        ])
        .unwrap();
        assert_eq!(config.market_quota, Some(PerPeriod::parse("5/2s").unwrap()));
        assert_eq!(config.quota.rate, Some(stocks_core::domain::Rate::per_minute(5)));
        assert_eq!(config.quota.defer_without_retry_after, Duration::from_secs(30));
        assert_eq!(config.max_job_age, Duration::from_secs(600));
        assert!(config_for(&["stocksctl", "local", "--market-quota", "lots"]).is_err());
    }

    #[test]
    fn sqs_mode_needs_its_urls() {
        assert!(config_for(&["stocksctl", "local", "--queue", "sqs"]).is_err());
        assert!(config_for(&["stocksctl", "local", "--batch-size", "11"]).is_err());
        assert!(config_for(&["stocksctl", "local", "--fault-rate", "1.5"]).is_err());
        let config = config_for(&[
            "stocksctl",
            "local",
            "--queue",
            "sqs",
            "--queue-url",
            "q",
            "--dlq-url",
            "d",
        ])
        .unwrap();
        assert!(matches!(config.queue, QueueMode::Sqs { .. }));
    }

    #[test]
    fn polygon_mode_needs_a_key() {
        let err = config_for(&["stocksctl", "local", "--market", "polygon", "--polygon-api-key", " "]).unwrap_err();
        assert!(err.to_string().contains("POLYGON_API_KEY"), "{err}");
    }
}
