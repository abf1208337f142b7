//! The SQS-triggered worker: Polygon bars in, a report out through `@connections`.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use std::sync::Arc;

use stocks_core::adapters::{
    ApiGatewayConnections, FleetStore, MarketCache, PolygonClient, RetryPolicy, SharedMarket, SqsQueue, load_aws_config,
};
use stocks_core::config::WorkerConfig;
use stocks_core::handlers::{Worker, WorkerSettings};
use stocks_core::telemetry::{self, StartupError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = WorkerConfig::from_env().map_err(StartupError::log)?;
    let aws = load_aws_config().await;
    let key = config.polygon_key.resolve(&aws).await.map_err(StartupError::log)?;
    // The fleet's market store: its quota, answers and leases (MARKET_TABLE, else its own).
    let store = Arc::new(FleetStore::from_config(&aws, config.market_table, config.quota.rate));
    let polygon = PolygonClient::new(&config.polygon_base_url, &key, RetryPolicy::default())
        .map_err(StartupError::log)?
        .with_quota(store.clone(), config.quota);
    let jobs = SqsQueue::from_sdk(&aws, config.queue_url);
    let dead_letters = jobs.sibling(config.dlq_url);
    let worker = Worker::new(
        MarketCache::new(
            SharedMarket::new(polygon, store).keeping(config.cache.entries > 0),
            config.cache,
        ),
        ApiGatewayConnections::from_sdk(&aws),
        jobs,
        dead_letters,
        WorkerSettings {
            max_job_age: config.max_job_age,
            ..WorkerSettings::new(config.callback_url, config.max_receive_count)
        },
    );
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(worker.handle(event.payload).await)
    }))
    .await
}
