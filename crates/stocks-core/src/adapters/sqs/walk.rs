//! [`Walk`]: one pass through a queue that holds what it has seen, so nothing is consumed by
//! looking (`stocksctl dlq list`/`replay`, the local stack's `/_local/dlq`).

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;

use super::SqsQueue;
use crate::ports::QueueError;

/// One pass through a queue that looks before it touches.
///
/// Every message received is *held* (hidden for `hold`, so one walk never sees it twice) until
/// [`Walk::release`] makes the ones still held visible again at once. A message the walker
/// deleted must be [`forgotten`](Walk::forget) first. Dropping a walk without releasing
/// leaves its messages hidden until the hold runs out — nothing is lost either way.
pub struct Walk<'a> {
    queue: &'a SqsQueue,
    hold: Duration,
    /// Message id → the newest receipt handle.
    held: HashMap<String, String>,
}

impl<'a> Walk<'a> {
    /// How long a walk holds what it has seen unless told otherwise.
    pub const DEFAULT_HOLD: Duration = Duration::from_secs(300);

    pub(super) fn new(queue: &'a SqsQueue, hold: Duration) -> Self {
        Self {
            queue,
            hold,
            held: HashMap::new(),
        }
    }

    /// The next messages this walk has not seen, or none when the queue seems drained (two
    /// empty long polls in a row).
    pub async fn next_batch(&mut self) -> Result<Vec<SqsMessage>, QueueError> {
        for _ in 0..2 {
            let mut fresh = Vec::new();
            for message in self.queue.receive(10, Duration::from_secs(1), Some(self.hold)).await? {
                let (Some(id), Some(receipt)) = (message.message_id.clone(), message.receipt_handle.clone()) else {
                    continue;
                };
                // Seen before in this walk (its hold ran out): only its newest receipt is valid.
                if self.held.insert(id, receipt).is_none() {
                    fresh.push(message);
                }
            }
            if !fresh.is_empty() {
                return Ok(fresh);
            }
        }
        Ok(Vec::new())
    }

    /// The message is gone from the queue (deleted by the walker): nothing to release.
    pub fn forget(&mut self, message_id: &str) {
        self.held.remove(message_id);
    }

    /// Makes every message still held visible again at once.
    pub async fn release(self) -> Result<(), QueueError> {
        let receipts: Vec<&str> = self.held.values().map(String::as_str).collect();
        self.queue.release(&receipts).await
    }
}
