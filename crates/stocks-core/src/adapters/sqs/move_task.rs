//! SQS's own redrive: `StartMessageMoveTask` and `ListMessageMoveTasks` out of a DLQ.

use aws_config::SdkConfig;
use aws_sdk_sqs::Client;
use chrono::{DateTime, Utc};

use super::classify;
use crate::ports::QueueError;

/// Starts SQS's own move task out of the queue `source_arn` (a DLQ), back to each message's
/// source queue or to `destination_arn`, at most `per_second` messages a second.
pub async fn start_move_task(
    config: &SdkConfig,
    source_arn: &str,
    destination_arn: Option<&str>,
    per_second: Option<i32>,
) -> Result<String, QueueError> {
    let output = Client::new(config)
        .start_message_move_task()
        .source_arn(source_arn)
        .set_destination_arn(destination_arn.map(str::to_owned))
        .set_max_number_of_messages_per_second(per_second)
        .send()
        .await
        .map_err(|e| classify(source_arn, e))?;
    Ok(output.task_handle.unwrap_or_default())
}

/// The most recent move tasks out of `source_arn`, newest first.
pub async fn move_tasks(config: &SdkConfig, source_arn: &str) -> Result<Vec<MoveTask>, QueueError> {
    let output = Client::new(config)
        .list_message_move_tasks()
        .source_arn(source_arn)
        .max_results(10)
        .send()
        .await
        .map_err(|e| classify(source_arn, e))?;
    Ok(output
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

/// One move task, as `ListMessageMoveTasks` reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MoveTask {
    /// `RUNNING`, `COMPLETED`, `CANCELLING`, `CANCELLED` or `FAILED`.
    pub status: String,
    /// Messages moved so far.
    pub moved: i64,
    /// Messages to move in all, once SQS knows.
    pub to_move: Option<i64>,
    /// Where they go; `None`: each back to its source queue.
    pub destination: Option<String>,
    /// The most moved a second, when set.
    pub rate: Option<i32>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// Why it failed, when it did.
    pub failure_reason: Option<String>,
}
