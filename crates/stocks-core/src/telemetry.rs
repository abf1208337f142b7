//! Logging: JSON lines through tracing-subscriber, the format CloudWatch Logs Insights reads.
//!
//! Every line carries its spans, so lines inside an invocation carry the Lambda `requestId`
//! (lambda_runtime's span, `spans[0]`) and, in the worker, the record's `messageId`, `requestId`,
//! `connectionId` and `ticker` (ours, also as `span` — the innermost span — so Logs Insights
//! can say `span.ticker`). `RUST_LOG` sets the filter (default `info`).

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
        .with_current_span(true)
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

/// A cold-start failure (bad configuration, an unreadable key): logged as one JSON error line
/// with its whole cause chain — what an operator sees in the function's log group — and
/// returned for `main` to exit with. Its `Debug` is that same sentence, so the runtime's own
/// `Error: …` line is readable too.
pub struct StartupError(String);

impl StartupError {
    pub fn log<E: std::error::Error + 'static>(err: E) -> Self {
        let message = crate::ports::error_chain(&err);
        tracing::error!(error = %message, "cannot start: fix the function's configuration");
        Self(message)
    }
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartupError {}
