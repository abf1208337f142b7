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

/// The target of the worker's `job done` lines, which the outcome metrics count.
pub const OUTCOME_TARGET: &str = "stocks::outcome";

/// The filter for `RUST_LOG` (`None` or invalid: `info`), with the outcome lines kept at any
/// level: the metrics stop counting if they vanish under `RUST_LOG=warn`. A directive for
/// [`OUTCOME_TARGET`] in `RUST_LOG` itself (`stocks::outcome=off`) still wins.
#[expect(clippy::expect_used, reason = "`stocks::outcome=info` is a valid directive")]
pub fn filter(rust_log: Option<&str>) -> EnvFilter {
    let rust_log = rust_log.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("info");
    let filter = EnvFilter::try_new(rust_log).unwrap_or_else(|_| EnvFilter::new("info"));
    if rust_log.contains(OUTCOME_TARGET) {
        filter
    } else {
        filter.add_directive(format!("{OUTCOME_TARGET}=info").parse().expect("a valid directive"))
    }
}

/// One job's end: the line the outcome metric filters match (`{ $.outcome = "reported" }`);
/// a deferred job's line says why (`deferCause`: `quota`, `peer`, `store_unavailable`).
pub fn job_done(outcome: &str, defer_cause: Option<&str>, attempt: u32) {
    match defer_cause {
        Some(cause) => tracing::info!(target: OUTCOME_TARGET, outcome, deferCause = cause, attempt, "job done"),
        None => tracing::info!(target: OUTCOME_TARGET, outcome, attempt, "job done"),
    }
}

/// Installs the JSON subscriber on stdout. Call once, first thing in `main`.
pub fn init_json() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    // Only fails if a subscriber is already set, in which case that one stays.
    let _ = tracing::subscriber::set_global_default(json_subscriber(filter, std::io::stdout));
}

/// A cold-start failure (bad configuration, an unreadable key): logged as one JSON error line
/// with its whole cause chain — what an operator sees in the function's log group — and
/// returned for `main` to exit with. Its `Debug` is that same sentence, so the runtime's own
/// `Error: …` line is readable too.
pub struct StartupError(String);

impl StartupError {
    /// Logs `err` with its causes as the one line an operator reads, and keeps its text.
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The lines written while `log` runs under `RUST_LOG=rust_log`.
    fn lines(rust_log: Option<&str>, log: impl FnOnce()) -> Vec<serde_json::Value> {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buffer = buffer.clone();
            move || Capture(buffer.clone())
        };
        tracing::subscriber::with_default(json_subscriber(filter(rust_log), writer), log);
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn outcomes(lines: &[serde_json::Value]) -> Vec<&str> {
        lines.iter().filter_map(|l| l["outcome"].as_str()).collect()
    }

    #[test]
    fn outcome_lines_survive_a_warn_log_level() {
        let logged = lines(Some("warn"), || {
            tracing::info!("chatter");
            job_done("reported", None, 1);
            tracing::warn!("a warning");
        });
        assert_eq!(outcomes(&logged), ["reported"], "{logged:?}");
        assert_eq!(logged.len(), 2, "info from elsewhere stays off: {logged:?}");
        assert_eq!(logged[0]["message"], "job done");
        assert_eq!(logged[0]["attempt"], 1);
    }

    #[test]
    fn the_default_is_info_and_rust_log_can_still_turn_outcomes_off() {
        let logged = lines(None, || {
            tracing::info!("chatter");
            job_done("client_gone", None, 2);
        });
        assert_eq!(logged.len(), 2);
        let logged = lines(Some("info,stocks::outcome=off"), || job_done("client_gone", None, 2));
        assert!(outcomes(&logged).is_empty(), "{logged:?}");
        let logged = lines(Some("not a [valid filter"), || job_done("retry", None, 1));
        assert_eq!(outcomes(&logged), ["retry"], "an invalid RUST_LOG falls back to info");
    }
}
