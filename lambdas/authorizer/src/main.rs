//! `$connect` REQUEST authorizer: the token in the query string, one lookup, Allow or Deny.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use stocks_core::adapters::{DynamoAccessStore, load_aws_config};
use stocks_core::config::AuthorizerConfig;
use stocks_core::handlers::{Authorizer, ConnectAuthorizerRequest};
use stocks_core::telemetry::{self, StartupError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = AuthorizerConfig::from_env().map_err(StartupError::log)?;
    let aws = load_aws_config().await;
    let authorizer = Authorizer::new(DynamoAccessStore::from_sdk(&aws, config.access_table));
    let authorizer = &authorizer;
    run(service_fn(
        move |event: LambdaEvent<ConnectAuthorizerRequest>| async move {
            authorizer.handle(event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
