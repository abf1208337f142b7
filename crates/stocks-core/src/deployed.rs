//! The handlers as the Lambdas run them: each built from its configuration and the AWS SDK's,
//! over the AWS adapters. A Lambda's `main` reads its environment, calls one of these and hands
//! the handler to `lambda_runtime`; nothing else.

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::adapters::{
    ApiGatewayConnections, DynamoAccessStore, FleetStore, MarketCache, PolygonClient, RetryPolicy, SharedMarket,
    SqsQueue,
};
use crate::config::{IngressConfig, WorkerConfig};
use crate::handlers::{Ingress, Worker, WorkerSettings};
use crate::telemetry::StartupError;

/// The deployed worker's market: the instance's cache over the fleet's shared answers over
/// Polygon, through the fleet's quota.
pub type WorkerMarket = MarketCache<SharedMarket<PolygonClient<Arc<FleetStore>>, Arc<FleetStore>>>;

/// The worker as deployed.
pub type DeployedWorker = Worker<WorkerMarket, ApiGatewayConnections, SqsQueue, SqsQueue>;

/// The ingress as deployed.
pub type DeployedIngress = Ingress<SqsQueue, ApiGatewayConnections, DynamoAccessStore>;

/// The worker: its Polygon key (read from SSM when it is a parameter), the fleet's market store
/// (`MARKET_TABLE`, else the instance's own, said once in the log), the queues and
/// `@connections`. A failure is logged as the one line an operator reads.
pub async fn worker(config: WorkerConfig, aws: &SdkConfig) -> Result<DeployedWorker, StartupError> {
    let key = config.polygon_key.resolve(aws).await.map_err(StartupError::log)?;
    let store = Arc::new(FleetStore::from_config(aws, config.market_table, config.quota.rate));
    let polygon = PolygonClient::new(&config.polygon_base_url, &key, RetryPolicy::default())
        .map_err(StartupError::log)?
        .with_quota(store.clone(), config.quota);
    let market = MarketCache::new(
        SharedMarket::new(polygon, store).keeping(config.cache.entries > 0),
        config.cache,
    );
    let jobs = SqsQueue::from_sdk(aws, config.queue_url);
    let dead_letters = jobs.sibling(config.dlq_url);
    Ok(Worker::new(
        market,
        ApiGatewayConnections::from_sdk(aws),
        jobs,
        dead_letters,
        WorkerSettings {
            max_job_age: config.max_job_age,
            ..WorkerSettings::new(config.callback_url, config.max_receive_count)
        },
    ))
}

/// The ingress: the jobs queue, `@connections`, and the access table when auth is on.
pub fn ingress(config: IngressConfig, aws: &SdkConfig) -> DeployedIngress {
    Ingress::new(
        SqsQueue::from_sdk(aws, config.queue_url),
        ApiGatewayConnections::from_sdk(aws),
        config.access_table.map(|table| DynamoAccessStore::from_sdk(aws, table)),
        config.callback_url,
        config.window_days,
    )
}
