//! The SQS-triggered worker: Polygon bars in, a report out through `@connections`.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use stocks_core::adapters::load_aws_config;
use stocks_core::config::WorkerConfig;
use stocks_core::deployed;
use stocks_core::telemetry::{self, StartupError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    let config = WorkerConfig::from_env().map_err(StartupError::log)?;
    let worker = deployed::worker(config, &load_aws_config().await).await?;
    let worker = &worker;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(worker.handle(event.payload).await)
    }))
    .await
}
