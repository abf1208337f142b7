//! `stocksaction` and `$default`: validate, count against the token's rate, answer 202, queue.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use stocks_core::adapters::load_aws_config;
use stocks_core::config::IngressConfig;
use stocks_core::deployed;
use stocks_core::telemetry::{self, StartupError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = IngressConfig::from_env().map_err(StartupError::log)?;
    let ingress = deployed::ingress(config, &load_aws_config().await);
    let ingress = &ingress;
    run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            ingress.handle(event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
