//! The SQS-triggered worker: Polygon bars in, a report out through `@connections`.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use stocks_core::adapters::{
    ApiGatewayConnections, MarketCache, PolygonClient, RetryPolicy, SqsQueue, load_aws_config,
};
use stocks_core::config::WorkerConfig;
use stocks_core::handlers::Worker;
use stocks_core::telemetry::{self, StartupError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = WorkerConfig::from_env().map_err(StartupError::log)?;
    let aws = load_aws_config().await;
    let key = config.polygon_key.resolve(&aws).await.map_err(StartupError::log)?;
    let polygon =
        PolygonClient::new(&config.polygon_base_url, &key, RetryPolicy::default()).map_err(StartupError::log)?;
    let worker = Worker::new(
        MarketCache::new(polygon, config.cache),
        ApiGatewayConnections::from_sdk(&aws),
        SqsQueue::from_sdk(&aws, config.dlq_url),
        config.callback_url,
        config.max_receive_count,
    );
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(worker.handle(event.payload).await)
    }))
    .await
}
