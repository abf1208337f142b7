//! `stocksaction` and `$default`: validate, count against the token's rate, answer 202, queue.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use stocks_core::adapters::{ApiGatewayConnections, DynamoAccessStore, SqsQueue, load_aws_config};
use stocks_core::config::IngressConfig;
use stocks_core::handlers::Ingress;
use stocks_core::telemetry::{self, StartupError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = IngressConfig::from_env().map_err(StartupError::log)?;
    let aws = load_aws_config().await;
    let ingress = Ingress::new(
        SqsQueue::from_sdk(&aws, config.queue_url),
        ApiGatewayConnections::from_sdk(&aws),
        config
            .access_table
            .map(|table| DynamoAccessStore::from_sdk(&aws, table)),
        config.callback_url,
        config.window_days,
    );
    let ingress = &ingress;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            ingress.handle(event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
