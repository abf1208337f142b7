//! `stocksctl dlq`: inspect and replay the dead-letter queue, safely by default.
//!
//! SQS's own redrive (`StartMessageMoveTask`, [`redrive`]) moves everything back blindly. `list`
//! and `replay` look first:
//!
//! - **Nothing is consumed by looking.** Messages are received with a hold (visibility timeout)
//!   so one run never sees a message twice, and released (visibility 0) when the run ends.
//! - **`replay` is a dry run unless `--execute`.** It says, message by message, what it would do.
//! - **Send, then delete.** A message leaves the DLQ only after the jobs queue accepted its copy
//!   (same body, same attributes). A crash in between can duplicate a job, never lose one.
//! - **Filters** (`--ticker`, `--older-than`, `--newer-than`, `--max`) pick what moves;
//!   `--skip-stale` deletes jobs older than API Gateway's 2-hour connection limit, whose client
//!   cannot be there any more; messages that are not jobs are left alone unless
//!   `--include-foreign`.
//!
//! [`Selection::decide`] is the whole policy, pure and unit-tested; the rest is SQS plumbing.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName,
};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use stocks_core::domain::{Job, Ticker, attribute};

/// API Gateway closes every WebSocket connection after 2 hours: a job older than that has no
/// client to answer.
pub const STALE_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// How long received messages stay hidden while one run works through the queue.
const HOLD: Duration = Duration::from_secs(300);

/// Why a DLQ operation failed, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    #[error("no such queue: {0}")]
    NoSuchQueue(String),
    #[error("access denied to {0}: check the AWS credentials and their permissions")]
    AccessDenied(String),
    #[error("cannot reach SQS for {0}: {1}")]
    Unreachable(String, String),
    #[error("SQS refused a request on {0}: {1}")]
    Sqs(String, String),
}

impl DlqError {
    fn from_sdk<E, R>(queue: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or_default()
            .to_owned();
        match code.as_str() {
            "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" => Self::NoSuchQueue(queue.to_owned()),
            "AccessDenied" | "AccessDeniedException" | "AWS.SimpleQueueService.AccessDenied" => {
                Self::AccessDenied(queue.to_owned())
            }
            _ if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
                Self::Unreachable(queue.to_owned(), DisplayErrorContext(&err).to_string())
            }
            _ => Self::Sqs(queue.to_owned(), DisplayErrorContext(&err).to_string()),
        }
    }
}

/// One message of the DLQ, as received.
#[derive(Clone, Debug)]
pub struct DeadMessage {
    pub message_id: String,
    receipt_handle: String,
    pub body: String,
    /// Message attributes, kept exactly (a replay sends them on unchanged).
    pub attributes: HashMap<String, MessageAttributeValue>,
    /// When the message was first sent (to the jobs queue, for redriven jobs).
    pub sent_at: Option<DateTime<Utc>>,
    /// SQS's count of deliveries, this listing included.
    pub receive_count: u32,
    /// The job, when the body is one this build can read.
    pub job: Option<Job>,
}

impl DeadMessage {
    fn from_sdk(m: Message) -> Option<Self> {
        let system = m.attributes.unwrap_or_default();
        let body = m.body.unwrap_or_default();
        Some(Self {
            message_id: m.message_id?,
            receipt_handle: m.receipt_handle?,
            job: Job::parse(&body).ok(),
            body,
            attributes: m.message_attributes.unwrap_or_default(),
            sent_at: system
                .get(&MessageSystemAttributeName::SentTimestamp)
                .and_then(|t| t.parse().ok())
                .and_then(DateTime::from_timestamp_millis),
            receive_count: system
                .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
    }

    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(|v| v.string_value())
    }

    /// The worker's reason, or none when SQS's redrive moved it (a crash or timeout).
    pub fn failure_reason(&self) -> Option<&str> {
        self.attribute(attribute::FAILURE_REASON)
    }

    /// Since the client asked (`enqueuedAt`), or since SQS first had it for non-jobs.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        let since = self.job.as_ref().map(|j| j.enqueued_at).or(self.sent_at)?;
        (now - since).to_std().ok().or(Some(Duration::ZERO))
    }
}

/// What `replay` should do with each message.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only these tickers (any, when empty).
    pub tickers: Vec<Ticker>,
    pub older_than: Option<Duration>,
    pub newer_than: Option<Duration>,
    /// Delete jobs older than [`STALE_AFTER`] instead of replaying them.
    pub skip_stale: bool,
    /// Replay messages that are not jobs too (the worker will dead-letter them again).
    pub include_foreign: bool,
}

/// The fate of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Send to the jobs queue, then delete from the DLQ.
    Replay,
    /// Delete from the DLQ: its client is certainly gone (`--skip-stale`).
    DropStale,
    /// Not a job; left alone.
    SkipForeign,
    /// Left alone: filtered out.
    SkipFiltered,
    /// Left alone: `--max` messages were already moved.
    SkipOverMax,
}

impl Selection {
    /// The whole replay policy.
    pub fn decide(&self, m: &DeadMessage, now: DateTime<Utc>) -> Decision {
        let age = m.age(now);
        let Some(job) = &m.job else {
            return if self.include_foreign && self.tickers.is_empty() && self.age_ok(age) {
                Decision::Replay
            } else {
                Decision::SkipForeign
            };
        };
        if !self.tickers.is_empty() && !self.tickers.contains(&job.ticker) {
            return Decision::SkipFiltered;
        }
        if !self.age_ok(age) {
            return Decision::SkipFiltered;
        }
        if self.skip_stale && age.is_some_and(|a| a > STALE_AFTER) {
            return Decision::DropStale;
        }
        Decision::Replay
    }

    fn age_ok(&self, age: Option<Duration>) -> bool {
        let Some(age) = age else {
            return self.older_than.is_none() && self.newer_than.is_none();
        };
        self.older_than.is_none_or(|min| age > min) && self.newer_than.is_none_or(|max| age < max)
    }
}

/// One queue, and the client that reaches it.
pub struct Queue {
    client: Client,
    url: String,
}

impl Queue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Approximate visible messages, for progress bars.
    pub async fn approximate_len(&self) -> Result<u64, DlqError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| DlqError::from_sdk(&self.url, e))?;
        Ok(out
            .attributes
            .unwrap_or_default()
            .values()
            .find_map(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// The next batch not yet seen in this run, held for [`HOLD`]. Empty when the queue seems
    /// drained (two empty long polls in a row).
    async fn next_batch(&self, held: &mut HashMap<String, String>) -> Result<Vec<DeadMessage>, DlqError> {
        for _ in 0..2 {
            let out = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(HOLD.as_secs() as i32)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| DlqError::from_sdk(&self.url, e))?;
            let mut fresh = Vec::new();
            for message in out
                .messages
                .unwrap_or_default()
                .into_iter()
                .filter_map(DeadMessage::from_sdk)
            {
                // Seen before in this run (its hold ran out): only its newest receipt is valid.
                if held
                    .insert(message.message_id.clone(), message.receipt_handle.clone())
                    .is_none()
                {
                    fresh.push(message);
                }
            }
            if !fresh.is_empty() {
                return Ok(fresh);
            }
        }
        Ok(Vec::new())
    }

    /// Makes held messages visible again at once.
    async fn release(&self, held: &HashMap<String, String>) -> Result<(), DlqError> {
        let receipts: Vec<&String> = held.values().collect();
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .visibility_timeout(0)
                        .build()
                        .expect("id and receipt are set")
                })
                .collect();
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| DlqError::from_sdk(&self.url, e))?;
        }
        Ok(())
    }

    async fn send_copy(&self, m: &DeadMessage) -> Result<(), DlqError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(&m.body)
            .set_message_attributes((!m.attributes.is_empty()).then(|| m.attributes.clone()))
            .send()
            .await
            .map_err(|e| DlqError::from_sdk(&self.url, e))?;
        Ok(())
    }

    async fn delete(&self, m: &DeadMessage) -> Result<(), DlqError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(&m.receipt_handle)
            .send()
            .await
            .map_err(|e| DlqError::from_sdk(&self.url, e))?;
        Ok(())
    }
}

/// Reads up to `max` messages without consuming them: they are visible again when this returns.
pub async fn list(dlq: &Queue, max: usize) -> Result<Vec<DeadMessage>, DlqError> {
    let (mut held, mut out) = (HashMap::new(), Vec::new());
    let result = async {
        while out.len() < max {
            let batch = dlq.next_batch(&mut held).await?;
            if batch.is_empty() {
                break;
            }
            out.extend(batch);
        }
        Ok(())
    }
    .await;
    dlq.release(&held).await?;
    result.map(|()| {
        out.truncate(max);
        out
    })
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
pub async fn replay(dlq: &Queue, jobs: &Queue, options: &ReplayOptions) -> Result<(Summary, Vec<Outcome>), DlqError> {
    let now = Utc::now();
    let mut held = HashMap::new();
    let mut summary = Summary {
        dry_run: !options.execute,
        ..Summary::default()
    };
    let mut outcomes = Vec::new();
    let total = dlq.approximate_len().await.unwrap_or(0);
    let progress = bar(total, if options.execute { "replaying" } else { "dry run" });
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(0.001));
    let mut next_send = tokio::time::Instant::now();

    let result: Result<(), DlqError> = async {
        loop {
            let batch = dlq.next_batch(&mut held).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for m in batch {
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
                    // Gone from the DLQ: nothing to release.
                    held.remove(&m.message_id);
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
                    message_id: m.message_id.clone(),
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
    if let Err(err) = dlq.release(&held).await {
        summary.release_error = Some(err.to_string());
    }
    result.map(|()| (summary, outcomes))
}

/// Carries out one decision: `(done, error)`.
async fn apply(
    dlq: &Queue,
    jobs: &Queue,
    m: &DeadMessage,
    decision: Decision,
    next_send: &mut tokio::time::Instant,
    interval: Duration,
) -> (bool, Option<String>) {
    match decision {
        Decision::Replay => {
            tokio::time::sleep_until(*next_send).await;
            *next_send = tokio::time::Instant::now() + interval;
            if let Err(e) = jobs.send_copy(m).await {
                return (false, Some(format!("not sent, left in the DLQ: {e}")));
            }
            // Only now may it leave the DLQ.
            match dlq.delete(m).await {
                Ok(()) => (true, None),
                Err(e) => (
                    false,
                    Some(format!("sent, but not deleted from the DLQ (it may run twice): {e}")),
                ),
            }
        }
        Decision::DropStale => match dlq.delete(m).await {
            Ok(()) => (true, None),
            Err(e) => (false, Some(format!("not deleted: {e}"))),
        },
        Decision::SkipForeign | Decision::SkipFiltered | Decision::SkipOverMax => (false, None),
    }
}

/// Starts SQS's own move task (all messages, no filters) back to their source queue, or to
/// `destination`.
pub async fn redrive(
    client: &Client,
    dlq_arn: &str,
    destination: Option<&str>,
    rate: Option<i32>,
) -> Result<String, DlqError> {
    let out = client
        .start_message_move_task()
        .source_arn(dlq_arn)
        .set_destination_arn(destination.map(str::to_owned))
        .set_max_number_of_messages_per_second(rate)
        .send()
        .await
        .map_err(|e| DlqError::from_sdk(dlq_arn, e))?;
    Ok(out.task_handle.unwrap_or_default())
}

/// One move task, as `ListMessageMoveTasks` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct MoveTask {
    pub status: String,
    pub moved: i64,
    pub to_move: Option<i64>,
    pub destination: Option<String>,
    pub rate: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
}

/// The DLQ's recent move tasks, newest first.
pub async fn status(client: &Client, dlq_arn: &str) -> Result<Vec<MoveTask>, DlqError> {
    let out = client
        .list_message_move_tasks()
        .source_arn(dlq_arn)
        .max_results(10)
        .send()
        .await
        .map_err(|e| DlqError::from_sdk(dlq_arn, e))?;
    Ok(out
        .results
        .unwrap_or_default()
        .into_iter()
        .map(|t| MoveTask {
            status: t.status.unwrap_or_default(),
            moved: t.approximate_number_of_messages_moved,
            to_move: t.approximate_number_of_messages_to_move,
            destination: t.destination_arn,
            rate: t.max_number_of_messages_per_second,
            started_at: DateTime::from_timestamp_millis(t.started_timestamp),
            failure_reason: t.failure_reason,
        })
        .collect())
}

// ----------------------------------------------------------------------------- the command

/// Runs one `stocksctl dlq` command. Exit status: 0 done, 1 some messages failed, 2 the
/// command could not run (no such queue, access denied, SQS unreachable).
pub async fn run(args: &crate::cli::DlqArgs) -> std::process::ExitCode {
    use crate::cli::DlqCommand;
    use std::process::ExitCode;

    let sdk = crate::aws::sdk_config(args.aws.endpoint_url.as_deref(), args.aws.region.as_deref()).await;
    let client = Client::new(&sdk);
    let result = match &args.command {
        DlqCommand::List { dlq_url, max, json } => {
            let progress = spinner("reading the DLQ");
            let listed = list(&Queue::new(client, dlq_url), *max).await;
            progress.finish_and_clear();
            listed.map(|messages| {
                if *json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&list_json(&messages)).expect("JSON values serialise")
                    );
                } else if messages.is_empty() {
                    eprintln!("the DLQ is empty");
                } else {
                    print!("{}", render_list(&messages));
                }
                ExitCode::SUCCESS
            })
        }
        DlqCommand::Replay {
            dlq_url,
            queue_url,
            execute,
            ticker,
            older_than,
            newer_than,
            max,
            rate,
            skip_stale,
            include_foreign,
            json,
        } => {
            let options = ReplayOptions {
                selection: Selection {
                    tickers: ticker.clone(),
                    older_than: *older_than,
                    newer_than: *newer_than,
                    skip_stale: *skip_stale,
                    include_foreign: *include_foreign,
                },
                execute: *execute,
                max: *max,
                rate: *rate,
            };
            let (dlq, jobs) = (Queue::new(client.clone(), dlq_url), Queue::new(client, queue_url));
            // Fail on a wrong jobs queue before touching the DLQ.
            match jobs.approximate_len().await {
                Err(err) => Err(err),
                Ok(_) => replay(&dlq, &jobs, &options).await.map(|(summary, outcomes)| {
                    if *json {
                        let report = serde_json::json!({"summary": summary, "messages": outcomes});
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&report).expect("JSON values serialise")
                        );
                    } else {
                        print!("{}", render_replay(&summary, &outcomes));
                    }
                    if summary.failed > 0 {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }),
            }
        }
        DlqCommand::Redrive {
            dlq_arn,
            destination_arn,
            rate,
        } => redrive(&client, dlq_arn, destination_arn.as_deref(), *rate)
            .await
            .map(|handle| {
                println!("started move task {handle}");
                eprintln!("follow it with: stocksctl dlq status --dlq-arn {dlq_arn}");
                ExitCode::SUCCESS
            }),
        DlqCommand::Status { dlq_arn } => status(&client, dlq_arn).await.map(|tasks| {
            if tasks.is_empty() {
                println!("no move tasks for {dlq_arn}");
            } else {
                print!("{}", render_status(&tasks));
            }
            ExitCode::SUCCESS
        }),
    };
    result.unwrap_or_else(|err| {
        eprintln!("error: {err}");
        ExitCode::from(2)
    })
}

// ----------------------------------------------------------------------------- output

/// `dlq list` as a table.
pub fn render_list(messages: &[DeadMessage]) -> String {
    let mut rows = vec![[
        "MESSAGE ID".to_owned(),
        "TICKER".into(),
        "WINDOW".into(),
        "CONNECTION".into(),
        "ENQUEUED".into(),
        "RECEIVES".into(),
        "REASON".into(),
    ]];
    for m in messages {
        let (ticker, window, connection, enqueued) = match &m.job {
            Some(j) => (
                j.ticker.to_string(),
                format!("{}..{}", j.from, j.to),
                j.connection_id.clone(),
                j.enqueued_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            ),
            None => ("(not a job)".into(), "-".into(), "-".into(), "-".into()),
        };
        let reason = match (m.failure_reason(), m.attribute(attribute::FAILURE_DETAIL)) {
            (Some(r), Some(d)) => format!("{r}: {d}"),
            (Some(r), None) => r.to_owned(),
            _ => "(moved by SQS redrive: the worker crashed or timed out)".into(),
        };
        rows.push([
            m.message_id.clone(),
            ticker,
            window,
            connection,
            enqueued,
            m.receive_count.to_string(),
            reason,
        ]);
    }
    table(&rows)
}

/// `dlq list --json`: one object per message.
pub fn list_json(messages: &[DeadMessage]) -> serde_json::Value {
    serde_json::Value::Array(
        messages
            .iter()
            .map(|m| {
                let attrs: serde_json::Map<String, serde_json::Value> = m
                    .attributes
                    .iter()
                    .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.into())))
                    .collect();
                serde_json::json!({
                    "messageId": m.message_id,
                    "body": m.body,
                    "job": m.job,
                    "attributes": attrs,
                    "receiveCount": m.receive_count,
                    "sentAt": m.sent_at,
                })
            })
            .collect(),
    )
}

pub fn render_replay(summary: &Summary, outcomes: &[Outcome]) -> String {
    let mut rows = vec![[
        "MESSAGE ID".to_owned(),
        "TICKER".into(),
        "DECISION".into(),
        "RESULT".into(),
    ]];
    for o in outcomes {
        let result = match (&o.error, o.done, summary.dry_run) {
            (Some(e), _, _) => format!("FAILED: {e}"),
            (None, _, true) => "dry run".into(),
            (None, true, false) => "done".into(),
            (None, false, false) => "left in the DLQ".into(),
        };
        let decision = match o.decision {
            Decision::Replay => "replay",
            Decision::DropStale => "drop (stale: client gone)",
            Decision::SkipForeign => "skip (not a job)",
            Decision::SkipFiltered => "skip (filtered)",
            Decision::SkipOverMax => "skip (over --max)",
        };
        rows.push([
            o.message_id.clone(),
            o.ticker.clone().unwrap_or_else(|| "-".into()),
            decision.into(),
            result,
        ]);
    }
    let verb = if summary.dry_run { "would move" } else { "moved" };
    let mut out = table(&rows);
    out.push_str(&format!(
        "\n{verb} {}, dropped {} stale, skipped {} (filtered {}, not jobs {}, over --max {}), failed {}\n",
        summary.moved,
        summary.dropped_stale,
        summary.skipped_filtered + summary.skipped_foreign + summary.skipped_max,
        summary.skipped_filtered,
        summary.skipped_foreign,
        summary.skipped_max,
        summary.failed,
    ));
    if let Some(err) = &summary.release_error {
        out.push_str(&format!(
            "warning: could not release the messages left in the DLQ ({err}); they reappear within {} s\n",
            HOLD.as_secs()
        ));
    }
    if summary.dry_run {
        out.push_str("This was a dry run: nothing changed. Add --execute to do it.\n");
    }
    out
}

pub fn render_status(tasks: &[MoveTask]) -> String {
    let mut rows = vec![[
        "STATUS".to_owned(),
        "MOVED".into(),
        "TO MOVE".into(),
        "RATE".into(),
        "STARTED".into(),
        "FAILURE".into(),
    ]];
    for t in tasks {
        rows.push([
            t.status.clone(),
            t.moved.to_string(),
            t.to_move.map_or_else(|| "-".into(), |n| n.to_string()),
            t.rate.map_or_else(|| "max".into(), |r| format!("{r}/s")),
            t.started_at
                .map_or_else(|| "-".into(), |s| s.format("%Y-%m-%d %H:%M:%S").to_string()),
            t.failure_reason.clone().unwrap_or_default(),
        ]);
    }
    table(&rows)
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn spinner(message: &str) -> ProgressBar {
    let p = ProgressBar::new_spinner();
    p.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
    p.enable_steady_tick(Duration::from_millis(100));
    p.set_message(message.to_owned());
    p
}

fn bar(len: u64, prefix: &str) -> ProgressBar {
    let p = ProgressBar::new(len);
    p.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    p.set_prefix(prefix.to_owned());
    p
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    const NOW: &str = "2026-11-24T12:00:00Z";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(NOW).unwrap().to_utc()
    }

    fn dead(ticker: &str, age_minutes: i64) -> DeadMessage {
        let enqueued = now() - TimeDelta::minutes(age_minutes);
        let body = serde_json::json!({
            "v": 1, "requestId": "r", "connectionId": "c", "ticker": ticker, "from": "2026-10-01",
            "to": "2026-10-31", "disconnect": true, "enqueuedAt": enqueued.to_rfc3339()
        })
        .to_string();
        DeadMessage {
            message_id: format!("{ticker}-{age_minutes}"),
            receipt_handle: "rh".into(),
            job: Job::parse(&body).ok(),
            body,
            attributes: HashMap::new(),
            sent_at: Some(enqueued),
            receive_count: 1,
        }
    }

    fn foreign(age_minutes: i64) -> DeadMessage {
        DeadMessage {
            job: None,
            body: "hello".into(),
            sent_at: Some(now() - TimeDelta::minutes(age_minutes)),
            ..dead("MSFT", age_minutes)
        }
    }

    fn tickers(list: &[&str]) -> Vec<Ticker> {
        list.iter().map(|t| Ticker::parse(t).unwrap()).collect()
    }

    #[test]
    fn by_default_every_job_is_replayed_and_foreign_messages_left_alone() {
        let s = Selection::default();
        assert_eq!(s.decide(&dead("MSFT", 5), now()), Decision::Replay);
        assert_eq!(
            s.decide(&dead("MSFT", 60 * 24), now()),
            Decision::Replay,
            "stale jobs too, unless --skip-stale"
        );
        assert_eq!(s.decide(&foreign(5), now()), Decision::SkipForeign);
    }

    #[test]
    fn ticker_filter() {
        let s = Selection {
            tickers: tickers(&["AAPL", "KO"]),
            ..Selection::default()
        };
        assert_eq!(s.decide(&dead("AAPL", 5), now()), Decision::Replay);
        assert_eq!(s.decide(&dead("MSFT", 5), now()), Decision::SkipFiltered);
        let s = Selection {
            include_foreign: true,
            ..s
        };
        assert_eq!(
            s.decide(&foreign(5), now()),
            Decision::SkipForeign,
            "a ticker filter never matches a non-job"
        );
    }

    #[test]
    fn age_filters_are_strict_bounds() {
        let older = Selection {
            older_than: Some(Duration::from_secs(30 * 60)),
            ..Selection::default()
        };
        assert_eq!(older.decide(&dead("MSFT", 31), now()), Decision::Replay);
        assert_eq!(older.decide(&dead("MSFT", 29), now()), Decision::SkipFiltered);
        let newer = Selection {
            newer_than: Some(Duration::from_secs(30 * 60)),
            ..Selection::default()
        };
        assert_eq!(newer.decide(&dead("MSFT", 29), now()), Decision::Replay);
        assert_eq!(newer.decide(&dead("MSFT", 31), now()), Decision::SkipFiltered);
        let band = Selection {
            older_than: Some(Duration::from_secs(600)),
            ..newer
        };
        assert_eq!(band.decide(&dead("MSFT", 5), now()), Decision::SkipFiltered);
        assert_eq!(band.decide(&dead("MSFT", 15), now()), Decision::Replay);
    }

    #[test]
    fn skip_stale_drops_jobs_past_the_connection_limit() {
        let s = Selection {
            skip_stale: true,
            ..Selection::default()
        };
        assert_eq!(s.decide(&dead("MSFT", 119), now()), Decision::Replay);
        assert_eq!(s.decide(&dead("MSFT", 121), now()), Decision::DropStale);
        // Filters come first: a filtered-out stale job is left alone, not dropped.
        let s = Selection {
            tickers: tickers(&["AAPL"]),
            ..s
        };
        assert_eq!(s.decide(&dead("MSFT", 500), now()), Decision::SkipFiltered);
    }

    #[test]
    fn include_foreign_replays_non_jobs_subject_to_age() {
        let s = Selection {
            include_foreign: true,
            newer_than: Some(Duration::from_secs(3600)),
            ..Selection::default()
        };
        assert_eq!(s.decide(&foreign(5), now()), Decision::Replay);
        assert_eq!(s.decide(&foreign(120), now()), Decision::SkipForeign);
    }

    #[test]
    fn age_is_from_enqueued_at_for_jobs_and_sent_at_otherwise() {
        let mut m = dead("MSFT", 10);
        m.sent_at = Some(now() - TimeDelta::minutes(500));
        assert_eq!(m.age(now()), Some(Duration::from_secs(600)));
        assert_eq!(foreign(42).age(now()), Some(Duration::from_secs(42 * 60)));
    }

    #[test]
    fn list_table_shows_reason_or_says_sqs_moved_it() {
        let mut with_reason = dead("MSFT", 5);
        with_reason.attributes.insert(
            attribute::FAILURE_REASON.into(),
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("UPSTREAM_UNAVAILABLE")
                .build()
                .unwrap(),
        );
        let text = render_list(&[with_reason, dead("KO", 5), foreign(1)]);
        assert!(text.starts_with("MESSAGE ID"), "{text}");
        assert!(text.contains("UPSTREAM_UNAVAILABLE"), "{text}");
        assert!(text.contains("moved by SQS redrive"), "{text}");
        assert!(text.contains("(not a job)"), "{text}");
        assert!(text.contains("2026-10-01..2026-10-31"), "{text}");
    }

    #[test]
    fn the_replay_report_says_dry_run() {
        let summary = Summary {
            dry_run: true,
            moved: 2,
            skipped_foreign: 1,
            ..Summary::default()
        };
        let text = render_replay(&summary, &[]);
        assert!(text.contains("would move 2"), "{text}");
        assert!(
            text.contains("This was a dry run: nothing changed. Add --execute"),
            "{text}"
        );
    }
}
