//! The local queue: SQS semantics in memory, or a real SQS-compatible endpoint.
//!
//! [`MemoryQueue`] behaves like a standard SQS queue with a redrive policy: a message sent with
//! `DelaySeconds` stays invisible that long; a received message is hidden for the visibility
//! timeout and reappears unless deleted; each receive bumps its `ApproximateReceiveCount`; a
//! message already received `max_receive_count` times is moved to the dead-letter queue on its
//! next receive instead of being delivered. The worker's own dead-letters land in the same DLQ
//! with their failure attributes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsMessage, SqsMessageAttribute};
use chrono::{DateTime, Utc};
use serde::Serialize;
use stocks_core::adapters::SqsQueue;
use stocks_core::domain::{DeadLetter, Job};
use stocks_core::ports::{DeadLetters, JobQueue, QueueError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// SQS-like behaviour settings.
#[derive(Clone, Copy, Debug)]
pub struct QueueSettings {
    /// How long a received message stays hidden before it is delivered again.
    pub visibility_timeout: Duration,
    /// Receives after which the next receive moves a message to the DLQ.
    pub max_receive_count: u32,
}

/// A message waiting in (or in flight from) the memory queue.
#[derive(Debug)]
struct Stored {
    id: String,
    body: String,
    attributes: HashMap<String, SqsMessageAttribute>,
    sent_at: DateTime<Utc>,
    receive_count: u32,
    first_received_at: Option<DateTime<Utc>>,
    visible_at: Instant,
    /// Valid receipt handle of the latest receive, if in flight.
    receipt: Option<String>,
}

/// A message in the dead-letter queue, as `/_local/dlq` shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadJob {
    pub message_id: String,
    pub body: String,
    /// `failureReason`, `failureDetail`, `failedAt`, `attempts` when the worker parked it;
    /// empty when SQS's redrive moved it (the worker never answered).
    pub attributes: HashMap<String, String>,
    pub sent_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    messages: VecDeque<Stored>,
    dlq: Vec<DeadJob>,
}

/// A standard SQS queue plus its DLQ, in memory.
pub struct MemoryQueue {
    settings: QueueSettings,
    state: Mutex<State>,
    /// Wakes long-polling receivers when a message arrives.
    arrived: Notify,
}

impl MemoryQueue {
    pub fn new(settings: QueueSettings) -> Self {
        Self {
            settings,
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a message, invisible for `delay` (SQS `DelaySeconds`).
    pub fn send_body(&self, body: String, attributes: HashMap<String, SqsMessageAttribute>, delay: Duration) -> String {
        let id = new_id();
        self.state().messages.push_back(Stored {
            id: id.clone(),
            body,
            attributes,
            sent_at: Utc::now(),
            receive_count: 0,
            first_received_at: None,
            visible_at: Instant::now() + delay,
            receipt: None,
        });
        self.arrived.notify_waiters();
        id
    }

    /// Up to `max` visible messages, redriving those past `max_receive_count` to the DLQ.
    pub fn try_receive(&self, max: usize) -> Vec<SqsMessage> {
        let now = Instant::now();
        let mut state = self.state();
        let state = &mut *state;
        let mut out = Vec::new();
        let mut i = 0;
        while i < state.messages.len() && out.len() < max {
            let m = &mut state.messages[i];
            if m.visible_at > now {
                i += 1;
                continue;
            }
            if m.receive_count >= self.settings.max_receive_count {
                if let Some(m) = state.messages.remove(i) {
                    state.dlq.push(DeadJob {
                        message_id: m.id,
                        body: m.body,
                        attributes: HashMap::new(),
                        sent_at: m.sent_at,
                    });
                }
                continue;
            }
            m.receive_count += 1;
            m.visible_at = now + self.settings.visibility_timeout;
            let receipt = new_id();
            m.receipt = Some(receipt.clone());
            let first = *m.first_received_at.get_or_insert_with(Utc::now);
            out.push(to_record(m, receipt, first));
            i += 1;
        }
        out
    }

    /// Long-polls up to `wait` for at least one message: wakes when one is sent, or when a
    /// delayed or hidden one becomes visible, and gives up at the deadline.
    pub async fn receive(&self, max: usize, wait: Duration) -> Vec<SqsMessage> {
        let deadline = Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            let got = self.try_receive(max);
            if !got.is_empty() || Instant::now() >= deadline {
                return got;
            }
            let wake = self.next_visible().map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = arrived => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// When the next hidden (delayed or in-flight) message becomes visible.
    fn next_visible(&self) -> Option<Instant> {
        let now = Instant::now();
        self.state()
            .messages
            .iter()
            .map(|m| m.visible_at)
            .filter(|at| *at > now)
            .min()
    }

    /// Deletes by receipt handle; a stale handle (the message was received again since) is a
    /// no-op, as in SQS.
    pub fn delete(&self, receipt: &str) {
        self.state().messages.retain(|m| m.receipt.as_deref() != Some(receipt));
    }

    /// Messages in the queue (visible or in flight).
    pub fn len(&self) -> usize {
        self.state().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dead_jobs(&self) -> Vec<DeadJob> {
        self.state().dlq.clone()
    }

    pub fn dlq_len(&self) -> usize {
        self.state().dlq.len()
    }
}

impl JobQueue for MemoryQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        self.send_body(job.to_json(), HashMap::new(), Duration::ZERO);
        Ok(())
    }

    async fn send_delayed(&self, job: &Job, delay_secs: u32) -> Result<(), QueueError> {
        let delay = Duration::from_secs(u64::from(delay_secs.min(stocks_core::ports::MAX_DELAY_SECS)));
        self.send_body(job.to_json(), HashMap::new(), delay);
        Ok(())
    }
}

impl DeadLetters for MemoryQueue {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        self.state().dlq.push(DeadJob {
            message_id: new_id(),
            body: letter.body.clone(),
            attributes: letter
                .attributes()
                .into_iter()
                .map(|(name, _, value)| (name.to_owned(), value))
                .collect(),
            sent_at: Utc::now(),
        });
        Ok(())
    }
}

/// Message attributes as name → string value (binary ones are left out).
fn string_attributes(attributes: &HashMap<String, SqsMessageAttribute>) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|(k, v)| v.string_value.clone().map(|s| (k.clone(), s)))
        .collect()
}

fn to_record(m: &Stored, receipt: String, first_received_at: DateTime<Utc>) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = Some(m.id.clone());
    record.receipt_handle = Some(receipt);
    record.body = Some(m.body.clone());
    record.attributes = HashMap::from([
        ("ApproximateReceiveCount".to_owned(), m.receive_count.to_string()),
        ("SentTimestamp".to_owned(), m.sent_at.timestamp_millis().to_string()),
        (
            "ApproximateFirstReceiveTimestamp".to_owned(),
            first_received_at.timestamp_millis().to_string(),
        ),
        ("SenderId".to_owned(), "LOCAL".to_owned()),
    ]);
    record.message_attributes = m.attributes.clone();
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some("arn:aws:sqs:local:000000000000:stocks-jobs".to_owned());
    record.aws_region = Some("local".to_owned());
    record
}

/// A UUID-shaped random id, like SQS message ids.
fn new_id() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// Where the local stack queues jobs: in memory, or any SQS-compatible endpoint.
pub struct LocalQueue {
    backend: Backend,
    /// Jobs sent back delayed (the worker's deferrals), for `/_local/stats`.
    deferred: AtomicU64,
}

enum Backend {
    Memory(MemoryQueue),
    Sqs {
        jobs: SqsQueue,
        dlq: SqsQueue,
        /// One `ReceiveMessage` at a time: moto's receive is not atomic, and concurrent calls
        /// can both deliver a message and redrive it. (Batches are still handled concurrently.)
        receiving: tokio::sync::Mutex<()>,
    },
}

impl LocalQueue {
    pub fn memory(queue: MemoryQueue) -> Self {
        Self {
            backend: Backend::Memory(queue),
            deferred: AtomicU64::new(0),
        }
    }

    pub fn sqs(jobs: SqsQueue, dlq: SqsQueue) -> Self {
        Self {
            backend: Backend::Sqs {
                jobs,
                dlq,
                receiving: tokio::sync::Mutex::new(()),
            },
            deferred: AtomicU64::new(0),
        }
    }

    /// Deferrals so far.
    pub fn deferred(&self) -> u64 {
        self.deferred.load(Ordering::Relaxed)
    }

    /// One poll of the event-source mapping.
    pub async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<SqsMessage>, QueueError> {
        match &self.backend {
            Backend::Memory(q) => Ok(q.receive(max, wait).await),
            Backend::Sqs { jobs, receiving, .. } => {
                let _turn = receiving.lock().await;
                jobs.receive(max, wait, None).await
            }
        }
    }

    /// Deletes what a worker invocation handled, in one batch call (as the mapping does).
    pub async fn delete_batch(&self, receipts: &[&str]) -> Result<Vec<String>, QueueError> {
        match &self.backend {
            Backend::Memory(q) => {
                for receipt in receipts {
                    q.delete(receipt);
                }
                Ok(Vec::new())
            }
            Backend::Sqs { jobs, .. } => jobs.delete_batch(receipts).await,
        }
    }

    /// Jobs in the jobs queue now: every message it holds, whatever its state.
    pub async fn jobs_len(&self) -> Result<u64, QueueError> {
        match &self.backend {
            Backend::Memory(q) => Ok(q.len() as u64),
            Backend::Sqs { jobs, .. } => Ok(jobs.depth().await?.total()),
        }
    }

    /// Jobs in the DLQ now: every message it holds ([`stocks_core::adapters::QueueDepth::total`]).
    pub async fn dlq_len(&self) -> Result<u64, QueueError> {
        match &self.backend {
            Backend::Memory(q) => Ok(q.dlq_len() as u64),
            Backend::Sqs { dlq, .. } => Ok(dlq.depth().await?.total()),
        }
    }

    /// The dead jobs, without consuming them (SQS: each is held while read, then released).
    pub async fn dead_jobs(&self) -> Result<Vec<DeadJob>, QueueError> {
        match &self.backend {
            Backend::Memory(q) => Ok(q.dead_jobs()),
            Backend::Sqs { dlq, .. } => Ok(dlq
                .peek(usize::MAX)
                .await?
                .into_iter()
                .map(|m| DeadJob {
                    attributes: string_attributes(&m.message_attributes),
                    sent_at: m
                        .attributes
                        .get("SentTimestamp")
                        .and_then(|t| t.parse().ok())
                        .and_then(DateTime::from_timestamp_millis)
                        .unwrap_or_else(Utc::now),
                    message_id: m.message_id.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                })
                .collect()),
        }
    }
}

impl JobQueue for LocalQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Memory(q) => q.send(job).await,
            Backend::Sqs { jobs, .. } => jobs.send(job).await,
        }
    }

    async fn send_delayed(&self, job: &Job, delay_secs: u32) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Memory(q) => q.send_delayed(job, delay_secs).await,
            Backend::Sqs { jobs, .. } => jobs.send_delayed(job, delay_secs).await,
        }?;
        self.deferred.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl DeadLetters for LocalQueue {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Memory(q) => q.dead_letter(letter).await,
            Backend::Sqs { dlq, .. } => dlq.dead_letter(letter).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(visibility_ms: u64, max_receive_count: u32) -> MemoryQueue {
        MemoryQueue::new(QueueSettings {
            visibility_timeout: Duration::from_millis(visibility_ms),
            max_receive_count,
        })
    }

    fn count(m: &SqsMessage) -> &str {
        &m.attributes["ApproximateReceiveCount"]
    }

    #[tokio::test(start_paused = true)]
    async fn received_messages_hide_for_the_visibility_timeout() {
        let q = queue(1000, 5);
        q.send_body("a".into(), HashMap::new(), Duration::ZERO);
        let first = q.try_receive(10);
        assert_eq!((first.len(), count(&first[0])), (1, "1"));
        assert!(q.try_receive(10).is_empty(), "in flight");
        tokio::time::advance(Duration::from_millis(1001)).await;
        let again = q.try_receive(10);
        assert_eq!(count(&again[0]), "2");
        assert_eq!(again[0].message_id, first[0].message_id);
        assert_ne!(again[0].receipt_handle, first[0].receipt_handle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delayed_message_is_invisible_until_its_delay_passes() {
        let q = queue(30_000, 5);
        q.send_body("later".into(), HashMap::new(), Duration::from_secs(3));
        q.send_body("now".into(), HashMap::new(), Duration::ZERO);
        let first: Vec<_> = q.try_receive(10).into_iter().map(|m| m.body.unwrap()).collect();
        assert_eq!(first, ["now"]);
        tokio::time::advance(Duration::from_millis(2999)).await;
        assert!(q.try_receive(10).is_empty(), "still delayed");
        tokio::time::advance(Duration::from_millis(1)).await;
        let later = q.try_receive(10);
        assert_eq!(later[0].body.as_deref(), Some("later"));
        assert_eq!(count(&later[0]), "1", "a delay is not a receive");
    }

    #[tokio::test(start_paused = true)]
    async fn delete_needs_the_latest_receipt() {
        let q = queue(0, 5);
        q.send_body("a".into(), HashMap::new(), Duration::ZERO);
        let old = q.try_receive(1)[0].receipt_handle.clone().unwrap();
        let new = q.try_receive(1)[0].receipt_handle.clone().unwrap();
        q.delete(&old);
        assert_eq!(q.len(), 1, "a stale receipt deletes nothing");
        q.delete(&new);
        assert_eq!(q.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn redrives_after_max_receive_count() {
        let q = queue(0, 2);
        q.send_body("job".into(), HashMap::new(), Duration::ZERO);
        assert_eq!(count(&q.try_receive(1)[0]), "1");
        assert_eq!(count(&q.try_receive(1)[0]), "2");
        assert!(q.try_receive(1).is_empty(), "the third receive moves it instead");
        let dead = q.dead_jobs();
        assert_eq!((dead.len(), dead[0].body.as_str()), (1, "job"));
        assert!(dead[0].attributes.is_empty());
        assert_eq!(q.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn batches_are_capped_and_ordered() {
        let q = queue(30_000, 3);
        for i in 0..25 {
            q.send_body(i.to_string(), HashMap::new(), Duration::ZERO);
        }
        let bodies: Vec<_> = q.try_receive(10).into_iter().map(|m| m.body.unwrap()).collect();
        assert_eq!(bodies, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(q.try_receive(10).len(), 10);
        assert_eq!(q.try_receive(10).len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_wakes_on_arrival_and_gives_up_at_the_deadline() {
        let q = std::sync::Arc::new(queue(30_000, 3));
        let started = Instant::now();
        assert!(q.receive(10, Duration::from_secs(2)).await.is_empty());
        assert_eq!(started.elapsed(), Duration::from_secs(2), "gave up at the deadline");
        let sender = q.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(310)).await;
            sender.send_body("late".into(), HashMap::new(), Duration::ZERO);
        });
        let started = Instant::now();
        let got = q.receive(10, Duration::from_secs(20)).await;
        assert_eq!(got[0].body.as_deref(), Some("late"));
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(310),
            "woken by the arrival itself, not by a later check"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn long_poll_wakes_when_a_delayed_message_becomes_visible() {
        let q = queue(30_000, 3);
        q.send_body("later".into(), HashMap::new(), Duration::from_millis(1234));
        let started = Instant::now();
        let got = q.receive(10, Duration::from_secs(20)).await;
        assert_eq!(got[0].body.as_deref(), Some("later"));
        assert_eq!(started.elapsed(), Duration::from_millis(1234));
    }

    #[test]
    fn ids_look_like_sqs_ids() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}
