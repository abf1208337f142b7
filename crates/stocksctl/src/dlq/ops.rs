//! The DLQ operations over [`SqsQueue`]: list without consuming, replay by send-then-delete,
//! and SQS's own move task.
//!
//! - **Nothing is consumed by looking.** A [`Walk`] holds each
//!   message it has seen and releases the rest when the run ends.
//! - **`replay` is a dry run unless `execute`.** It says, message by message, what it would do.
//! - **Send, then delete.** A message leaves the DLQ only after the jobs queue accepted its copy
//!   (same body, same attributes). A crash in between can duplicate a job, never lose one.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use stocks_core::adapters::SqsQueue;
use stocks_core::adapters::Walk;
use stocks_core::ports::QueueError;

use super::policy::{DeadMessage, Decision, Selection};

/// Reads up to `max` messages without consuming them: they are visible again when this returns.
pub async fn list(dlq: &SqsQueue, max: usize) -> Result<Vec<DeadMessage>, QueueError> {
    Ok(dlq.peek(max).await?.into_iter().map(DeadMessage::new).collect())
}

/// How a replay went.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub dry_run: bool,
    /// Sent to the jobs queue and deleted from the DLQ (or, dry run: would be).
    pub moved: usize,
    /// Deleted as stale (or would be).
    pub dropped_stale: usize,
    pub skipped_foreign: usize,
    pub skipped_filtered: usize,
    /// Left out because `--max` was reached.
    pub skipped_max: usize,
    /// Errors; the message stays in the DLQ (or, if only its delete failed, may now be in both).
    pub failed: usize,
    /// Set when held messages could not be made visible at once; they reappear by themselves
    /// when their hold ends.
    pub release_error: Option<String>,
}

/// What happened to one message, for the per-message report.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub message_id: String,
    pub ticker: Option<String>,
    pub decision: Decision,
    pub done: bool,
    pub error: Option<String>,
}

/// Options of one replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    pub selection: Selection,
    pub execute: bool,
    /// At most this many messages moved.
    pub max: Option<usize>,
    /// At most this many sends per second.
    pub rate: f64,
}

/// Moves the selected messages from `dlq` to `jobs`: send, then delete. Every message it does
/// not move is visible in the DLQ again when this returns.
pub async fn replay(
    dlq: &SqsQueue,
    jobs: &SqsQueue,
    options: &ReplayOptions,
) -> Result<(Summary, Vec<Outcome>), QueueError> {
    let now = Utc::now();
    let mut walk = dlq.walk(Walk::DEFAULT_HOLD);
    let mut summary = Summary {
        dry_run: !options.execute,
        ..Summary::default()
    };
    let mut outcomes = Vec::new();
    let total = dlq.depth().await.map(|d| d.total()).unwrap_or(0);
    let progress = crate::progress::bar(total, if options.execute { "replaying" } else { "dry run" });
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
    let mut next_send = tokio::time::Instant::now();

    let result: Result<(), QueueError> = async {
        loop {
            let batch = walk.next_batch().await?;
            if batch.is_empty() {
                return Ok(());
            }
            for m in batch.into_iter().map(DeadMessage::new) {
                progress.inc(1);
                let mut decision = options.selection.decide(&m, now);
                if decision == Decision::Replay && options.max.is_some_and(|max| summary.moved >= max) {
                    decision = Decision::SkipOverMax;
                }
                let (done, error) = if options.execute {
                    apply(dlq, jobs, &m, decision, &mut next_send, interval).await
                } else {
                    (false, None)
                };
                if done {
                    walk.forget(m.id());
                }
                match (&error, decision) {
                    (Some(_), _) => summary.failed += 1,
                    (None, Decision::Replay) => summary.moved += 1,
                    (None, Decision::DropStale) => summary.dropped_stale += 1,
                    (None, Decision::SkipForeign) => summary.skipped_foreign += 1,
                    (None, Decision::SkipFiltered) => summary.skipped_filtered += 1,
                    (None, Decision::SkipOverMax) => summary.skipped_max += 1,
                }
                progress.set_message(format!("{} moved, {} failed", summary.moved, summary.failed));
                outcomes.push(Outcome {
                    message_id: m.id().to_owned(),
                    ticker: m.job.as_ref().map(|j| j.ticker.to_string()),
                    decision,
                    done,
                    error,
                });
            }
        }
    }
    .await;
    progress.finish_and_clear();
    if let Err(err) = walk.release().await {
        summary.release_error = Some(err.to_string());
    }
    result.map(|()| (summary, outcomes))
}

/// Carries out one decision: `(done, error)`.
async fn apply(
    dlq: &SqsQueue,
    jobs: &SqsQueue,
    m: &DeadMessage,
    decision: Decision,
    next_send: &mut tokio::time::Instant,
    interval: Duration,
) -> (bool, Option<String>) {
    let receipt = m.message.receipt_handle.as_deref().unwrap_or_default();
    match decision {
        Decision::Replay => {
            tokio::time::sleep_until(*next_send).await;
            *next_send = tokio::time::Instant::now() + interval;
            if let Err(e) = jobs.send_message(m.body(), &m.message.message_attributes, None).await {
                return (false, Some(format!("not sent, left in the DLQ: {e}")));
            }
            // Only now may it leave the DLQ.
            match dlq.delete(receipt).await {
                Ok(()) => (true, None),
                Err(e) => (
                    false,
                    Some(format!("sent, but not deleted from the DLQ (it may run twice): {e}")),
                ),
            }
        }
        Decision::DropStale => match dlq.delete(receipt).await {
            Ok(()) => (true, None),
            Err(e) => (false, Some(format!("not deleted: {e}"))),
        },
        Decision::SkipForeign | Decision::SkipFiltered | Decision::SkipOverMax => (false, None),
    }
}
