//! Logging: JSON lines through tracing-subscriber, the format CloudWatch Logs Insights reads.
//!
//! Every line carries its spans, so lines inside an invocation carry the Lambda `requestId`
//! (lambda_runtime's span) and, in the worker, the SQS `messageId` of the record (ours).
//! `RUST_LOG` sets the filter (default `info`).

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The JSON subscriber, writing to `writer`.
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_span_list(true)
        .flatten_event(true)
        .with_target(false)
        .with_writer(writer)
        .finish()
}

/// Installs the JSON subscriber on stdout. Call once, first thing in `main`.
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Only fails if a subscriber is already set, in which case that one stays.
    let _ = tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stdout));
}
