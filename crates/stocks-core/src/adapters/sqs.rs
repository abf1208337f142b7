//! [`SqsQueue`]: one SQS queue over aws-sdk-sqs.
//!
//! The ingress uses it as a [`JobQueue`] (the jobs queue), the worker as [`DeadLetters`] (the
//! DLQ). `receive`/`delete` serve whoever polls a queue outside Lambda — the local
//! event-source mapping and the DLQ tools — and return messages in the exact
//! `aws_lambda_events` shape Lambda's own SQS trigger delivers.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};

use crate::domain::{DeadLetter, Job, attribute};
use crate::ports::{DeadLetters, JobQueue, QueueError};

/// A queue URL and the client that reaches it.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn from_sdk(config: &SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(config), url)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends a raw body with string/number attributes; returns the new message id.
    pub async fn send_raw(&self, body: &str, attributes: &[(&str, AttributeValue<'_>)]) -> Result<String, QueueError> {
        let mut request = self.client.send_message().queue_url(&self.url).message_body(body);
        for (name, value) in attributes {
            request = request.message_attributes(*name, value.to_sdk()?);
        }
        let output = request.send().await.map_err(|e| QueueError::Unavailable(e.into()))?;
        Ok(output.message_id.unwrap_or_default())
    }

    /// Receives up to `max` (1..=10) messages, long-polling for `wait`, with every system and
    /// message attribute (so `ApproximateReceiveCount` is there, as in a Lambda event).
    pub async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility_timeout: Option<Duration>,
    ) -> Result<Vec<SqsMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(secs(wait))
            .set_visibility_timeout(visibility_timeout.map(secs))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(e.into()))?;
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
            .map_err(|e| QueueError::Unavailable(e.into()))?;
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
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*receipt)
                        .build()
                        .map_err(|e| QueueError::Unavailable(e.into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError::Unavailable(e.into()))?;
            for failure in output.failed {
                if let Some(receipt) = failure.id.parse::<usize>().ok().and_then(|i| chunk.get(i)) {
                    refused.push((*receipt).to_owned());
                }
            }
        }
        Ok(refused)
    }

    /// Makes a received message visible again after `timeout` (zero: at once).
    pub async fn change_visibility(&self, receipt_handle: &str, timeout: Duration) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs(timeout))
            .send()
            .await
            .map_err(|e| QueueError::Unavailable(e.into()))?;
        Ok(())
    }
}

/// A message attribute value to send.
#[derive(Clone, Copy, Debug)]
pub enum AttributeValue<'a> {
    String(&'a str),
    Number(i64),
}

impl AttributeValue<'_> {
    fn to_sdk(self) -> Result<MessageAttributeValue, QueueError> {
        let (data_type, value) = match self {
            Self::String(s) => ("String", s.to_owned()),
            Self::Number(n) => ("Number", n.to_string()),
        };
        MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(value)
            .build()
            .map_err(|e| QueueError::Unavailable(e.into()))
    }
}

impl JobQueue for SqsQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        self.send_raw(&job.to_json(), &[]).await.map(drop)
    }
}

impl DeadLetters for SqsQueue {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        let failed_at = letter.failed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        // SQS refuses empty bodies; an empty one was never a job, so say so explicitly.
        let body = if letter.body.is_empty() {
            "(empty body)"
        } else {
            letter.body.as_str()
        };
        self.send_raw(
            body,
            &[
                (
                    attribute::FAILURE_REASON,
                    AttributeValue::String(letter.reason.as_str()),
                ),
                (
                    attribute::FAILURE_DETAIL,
                    AttributeValue::String(truncate(&letter.detail, 1024)),
                ),
                (attribute::FAILED_AT, AttributeValue::String(&failed_at)),
                (attribute::ATTEMPTS, AttributeValue::Number(i64::from(letter.attempts))),
            ],
        )
        .await
        .map(drop)
    }
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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
            a.data_type = Some(v.data_type);
            (k, a)
        })
        .collect::<HashMap<_, _>>();
    out.event_source = Some("aws:sqs".to_owned());
    out.aws_region = region;
    out
}
