//! stocksctl's integration tests, one binary: the binary as users run it, `dlq` on moto, the
//! chaos run (local stack + replay), `preflight` and `smoke`, and — ignored unless `make test`
//! asks — the built Lambda zips: under cargo lambda's runtime emulator, and their ELF headers.

mod artefacts;
mod chaos;
mod cli;
mod deploy;
mod dlq;
mod lambda_runtime;
mod terraform_defaults;
mod tokens;

/// The Lambda packages `make build` zips, one per function (the list `make bench` measures).
pub use stocks_testkit::LAMBDA_PACKAGES as FUNCTIONS;

/// `stocksctl dlq replay --execute` of everything in `dlq_url` back to `jobs_url`.
pub async fn replay_everything(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    jobs_url: &str,
) -> stocksctl::dlq::ops::Summary {
    use stocks_core::adapters::SqsQueue;
    use stocksctl::dlq::ops::{ReplayOptions, replay};
    use stocksctl::dlq::policy::Selection;
    let options = ReplayOptions {
        selection: Selection::default(),
        execute: true,
        max: None,
        rate: 500.0,
    };
    let (summary, _) = replay(
        &SqsQueue::new(sqs.clone(), dlq_url),
        &SqsQueue::new(sqs.clone(), jobs_url),
        &options,
    )
    .await
    .unwrap();
    summary
}
