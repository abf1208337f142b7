//! [`SqsQueue`]: one SQS queue over aws-sdk-sqs — the only SQS code in the workspace.
//!
//! It serves the ports — the ingress's [`JobQueue`] (the jobs queue) and the worker's
//! [`DeadLetters`] (the DLQ) — and everything that polls or moves messages outside Lambda: the
//! local stack's event-source mapping (`--queue sqs`) and `stocksctl dlq` (list, replay,
//! redrive). Received messages come back in the exact `aws_lambda_events` shape Lambda's own
//! SQS trigger delivers, so the worker and the operator tools read one type.
//!
//! Errors say which of three things an operator must fix ([`QueueError`]): the queue does not
//! exist, the credentials may not use it, or SQS cannot be reached.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName,
};

use crate::domain::{DeadLetter, Job};
use crate::ports::{DeadLetters, JobQueue, MAX_DELAY_SECS, QueueError};

mod move_task;
mod walk;

pub use move_task::{MoveTask, move_tasks, start_move_task};
pub use walk::Walk;

/// A queue URL and the client that reaches it.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

/// How many messages a queue holds, by state (SQS's approximate counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueDepth {
    /// `ApproximateNumberOfMessages`: ready to be received.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`: received and not yet deleted (in flight, or
    /// held by a `stocksctl dlq list` that is running now).
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`: sent with `DelaySeconds` still running.
    pub delayed: u64,
}

impl QueueDepth {
    /// **The** number of messages in a queue, wherever it is shown (`/_local/stats`'s `dlq`,
    /// `stocksctl dlq`'s progress): every message it holds, whatever its state. A message being
    /// looked at is still in the queue.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

impl SqsQueue {
    /// The queue at `url`, reached with `client`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// The queue at `url`, with a client built from `config`.
    pub fn from_sdk(config: &SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(config), url)
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same client, for another queue.
    pub fn sibling(&self, url: impl Into<String>) -> Self {
        Self::new(self.client.clone(), url)
    }

    /// Sends a body with message attributes (kept exactly: type, string and binary values) and
    /// an optional `DelaySeconds` (capped at [`MAX_DELAY_SECS`]); returns the new message id.
    pub async fn send_message(
        &self,
        body: &str,
        attributes: &HashMap<String, SqsMessageAttribute>,
        delay_secs: Option<u32>,
    ) -> Result<String, QueueError> {
        let attributes = attributes
            .iter()
            .map(|(name, value)| Ok((name.clone(), to_sdk_attribute(value).map_err(|e| self.refused(e))?)))
            .collect::<Result<HashMap<_, _>, QueueError>>()?;
        let output = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .set_message_attributes((!attributes.is_empty()).then_some(attributes))
            .set_delay_seconds(delay_secs.map(|d| d.min(MAX_DELAY_SECS) as i32))
            .send()
            .await
            .map_err(|e| classify(&self.url, e))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// Receives up to `max` (1..=10) messages, long-polling for `wait`, with every system and
    /// message attribute (so `ApproximateReceiveCount` is there, as in a Lambda event). With
    /// `hold`, the messages stay hidden that long instead of the queue's visibility timeout.
    pub async fn receive(
        &self,
        max: usize,
        wait: Duration,
        hold: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(secs(wait))
            .set_visibility_timeout(hold.map(secs))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| classify(&self.url, e))?;
        let region = self.client.config().region().map(|r| r.to_string());
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| to_lambda_message(m, region.clone()))
            .collect())
    }

    /// Deletes one received message.
    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| classify(&self.url, e))?;
        Ok(())
    }

    /// Deletes received messages in one `DeleteMessageBatch` call per ten, as Lambda's event
    /// source mapping does. Returns the receipts SQS refused to delete.
    pub async fn delete_batch(&self, receipts: &[&str]) -> Result<Vec<String>, QueueError> {
        let mut refused = Vec::new();
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .build()
                        .map_err(|e| self.refused(e.into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify(&self.url, e))?;
            for failure in output.failed {
                if let Some(receipt) = failure.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    refused.push((*receipt).to_owned());
                }
            }
        }
        Ok(refused)
    }

    /// Makes received messages visible again at once (visibility timeout 0), ten per call.
    pub async fn release(&self, receipts: &[&str]) -> Result<(), QueueError> {
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
                        .map_err(|e| self.refused(e.into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify(&self.url, e))?;
        }
        Ok(())
    }

    /// The queue's message counts (see [`QueueDepth::total`] for the one number to show).
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| classify(&self.url, e))?;
        let attributes = output.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| attributes.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }

    /// Starts a walk through the queue that sees each message once: see [`Walk`].
    pub fn walk(&self, hold: Duration) -> Walk<'_> {
        Walk::new(self, hold)
    }

    /// Up to `max` messages, without consuming any: they are visible again when this returns.
    pub async fn peek(&self, max: usize) -> Result<Vec<SqsMessage>, QueueError> {
        let mut walk = self.walk(Walk::DEFAULT_HOLD);
        let mut out = Vec::new();
        let result = async {
            while out.len() < max {
                let batch = walk.next_batch().await?;
                if batch.is_empty() {
                    break;
                }
                out.extend(batch);
            }
            Ok(())
        }
        .await;
        walk.release().await?;
        result.map(|()| {
            out.truncate(max);
            out
        })
    }

    fn refused(&self, source: crate::ports::BoxError) -> QueueError {
        QueueError::Refused {
            queue: self.url.clone(),
            source,
        }
    }
}

impl JobQueue for SqsQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        self.send_message(&job.to_json(), &HashMap::new(), None).await.map(drop)
    }

    async fn send_delayed(&self, job: &Job, delay_secs: u32) -> Result<(), QueueError> {
        self.send_message(&job.to_json(), &HashMap::new(), Some(delay_secs))
            .await
            .map(drop)
    }
}

impl DeadLetters for SqsQueue {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        // SQS refuses empty bodies; an empty one was never a job, so say so explicitly.
        let body = if letter.body.is_empty() {
            "(empty body)"
        } else {
            letter.body.as_str()
        };
        self.send_message(body, &failure_attributes(letter), None)
            .await
            .map(drop)
    }
}

/// A string or number message attribute, as SQS and Lambda events carry it.
fn message_attribute(data_type: &str, value: impl Into<String>) -> SqsMessageAttribute {
    let mut a = SqsMessageAttribute::default();
    a.data_type = Some(data_type.to_owned());
    a.string_value = Some(value.into());
    a
}

/// A dead letter's failure as SQS message attributes.
fn failure_attributes(letter: &DeadLetter) -> HashMap<String, SqsMessageAttribute> {
    letter
        .attributes()
        .into_iter()
        .map(|(name, data_type, value)| (name.to_owned(), message_attribute(data_type, value)))
        .collect()
}

/// Sorts an SDK failure into what an operator must fix. The queue (URL or ARN) is named.
fn classify<E, R>(queue: &str, err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or_default();
    let queue = queue.to_owned();
    let source = DisplayErrorContext(&err).to_string().into();
    match code {
        "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" | "ResourceNotFoundException" => {
            QueueError::NoSuchQueue { queue }
        }
        "AccessDenied"
        | "AccessDeniedException"
        | "AWS.SimpleQueueService.AccessDenied"
        | "KMS.AccessDeniedException" => QueueError::AccessDenied { queue, source },
        _ if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
            QueueError::Unreachable { queue, source }
        }
        _ => QueueError::Refused { queue, source },
    }
}

fn to_sdk_attribute(a: &SqsMessageAttribute) -> Result<MessageAttributeValue, crate::ports::BoxError> {
    Ok(MessageAttributeValue::builder()
        .data_type(a.data_type.clone().unwrap_or_else(|| "String".to_owned()))
        .set_string_value(a.string_value.clone())
        .set_binary_value(a.binary_value.as_ref().map(|b| Blob::new(b.0.clone())))
        .build()?)
}

/// `Base64Data` is non-exhaustive: built through its `DerefMut`.
fn base64_data(bytes: Vec<u8>) -> Base64Data {
    let mut data = Base64Data::default();
    *data = bytes;
    data
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

fn to_lambda_message(m: Message, region: Option<String>) -> SqsMessage {
    let mut out = SqsMessage::default();
    out.message_id = m.message_id;
    out.receipt_handle = m.receipt_handle;
    out.body = m.body;
    out.md5_of_body = m.md5_of_body;
    out.md5_of_message_attributes = m.md5_of_message_attributes;
    out.attributes = m
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_owned(), v))
        .collect();
    out.message_attributes = m
        .message_attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let mut a = SqsMessageAttribute::default();
            a.string_value = v.string_value;
            a.binary_value = v.binary_value.map(|b| base64_data(b.into_inner()));
            a.data_type = Some(v.data_type);
            (k, a)
        })
        .collect::<HashMap<_, _>>();
    out.event_source = Some("aws:sqs".to_owned());
    out.aws_region = region;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_depth_counts_every_message_the_queue_holds() {
        let depth = QueueDepth {
            visible: 2,
            in_flight: 3,
            delayed: 1,
        };
        assert_eq!(depth.total(), 6);
    }

    #[test]
    fn attributes_keep_binary_values() {
        let mut a = SqsMessageAttribute::default();
        a.data_type = Some("Binary".into());
        a.binary_value = Some(base64_data(vec![0, 1, 2]));
        let sdk = to_sdk_attribute(&a).unwrap();
        assert_eq!(sdk.data_type(), "Binary");
        assert_eq!(sdk.binary_value().unwrap().as_ref(), &[0, 1, 2]);
    }
}
