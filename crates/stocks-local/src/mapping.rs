//! Lambda's SQS event-source mapping over a fleet of worker instances: each instance handles
//! one batch at a time; the mapping receives batches and hands them to free instances, up to
//! their number at once, and deletes every record an invocation did not report as failed.
//! Instances are retired after `instance_max_age` and replaced with fresh ones, as Lambda
//! recycles execution environments.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;
use serde::Serialize;
use stocks_core::handlers::Worker;
use stocks_core::ports::{Connections, DeadLetters, JobQueue, MarketData, error_chain};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::queue::LocalQueue;

/// How long one receive long-polls.
const POLL: Duration = Duration::from_secs(1);

/// A worker function as the mapping invokes it: one batch in, the failures out.
pub trait Function: Send + Sync + 'static {
    /// One invocation.
    fn invoke(&self, event: SqsEvent) -> BoxFuture<'_, SqsBatchResponse>;
}

impl<M, C, Q, D> Function for Worker<M, C, Q, D>
where
    M: MarketData + 'static,
    C: Connections + 'static,
    Q: JobQueue + 'static,
    D: DeadLetters + 'static,
{
    fn invoke(&self, event: SqsEvent) -> BoxFuture<'_, SqsBatchResponse> {
        Box::pin(self.handle(event))
    }
}

/// One worker instance: its function, and what it has done.
pub struct Instance {
    /// Its function: the real worker handler with its own in-process state.
    pub function: Arc<dyn Function>,
    /// Market requests its Polygon client made.
    pub market_requests: Arc<AtomicU64>,
}

/// Starts a fresh instance (its own cache, delivery guard and market client).
pub type StartInstance = Box<dyn Fn() -> Instance + Send + Sync>;

/// What one instance did, as `/_local/stats` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InstanceStats {
    /// 1, 2, … in the order they started.
    pub id: u64,
    /// Batches it handled.
    pub batches: u64,
    /// Market requests it made.
    pub market_requests: u64,
}

/// One started instance's counters.
struct Counted {
    id: u64,
    batches: Arc<AtomicU64>,
    market_requests: Arc<AtomicU64>,
}

/// Every instance ever started, and what each did.
#[derive(Default)]
pub struct Instances(Mutex<Vec<Counted>>);

impl Instances {
    /// Registers a started instance: its id and its batch counter.
    fn started(&self, instance: &Instance) -> (u64, Arc<AtomicU64>) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let id = all.len() as u64 + 1;
        let batches = Arc::new(AtomicU64::new(0));
        all.push(Counted {
            id,
            batches: batches.clone(),
            market_requests: instance.market_requests.clone(),
        });
        (id, batches)
    }

    /// Each instance ever started, oldest first.
    pub fn stats(&self) -> Vec<InstanceStats> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| InstanceStats {
                id: c.id,
                batches: c.batches.load(Ordering::Relaxed),
                market_requests: c.market_requests.load(Ordering::Relaxed),
            })
            .collect()
    }
}

/// The event-source mapping from the local queue to a fleet of worker instances.
pub struct Mapping {
    queue: Arc<LocalQueue>,
    start: Arc<StartInstance>,
    batch_size: usize,
    instances: usize,
    max_age: Option<Duration>,
    registry: Arc<Instances>,
}

impl Mapping {
    /// Feeds up to `instances` instances (started with `start`) batches of up to `batch_size`
    /// (1..=10) records from `queue`, recycling each after `max_age`.
    pub fn new(
        queue: Arc<LocalQueue>,
        start: StartInstance,
        batch_size: usize,
        instances: usize,
        max_age: Option<Duration>,
    ) -> Self {
        Self {
            queue,
            start: Arc::new(start),
            batch_size: batch_size.clamp(1, 10),
            instances: instances.max(1),
            max_age,
            registry: Arc::new(Instances::default()),
        }
    }

    /// Every instance ever started, for the stats.
    pub fn registry(&self) -> Arc<Instances> {
        self.registry.clone()
    }

    /// Runs until `cancel`. As Lambda does: records reported as failed stay (all of them when
    /// the response names an empty id, or when the invocation panicked) and SQS delivers them
    /// again after the visibility timeout; everything else is deleted in one batch call.
    pub async fn run(self, cancel: CancellationToken) {
        let slots: Vec<_> = (0..self.instances)
            .map(|_| {
                tokio::spawn(poll(Slot {
                    queue: self.queue.clone(),
                    start: self.start.clone(),
                    registry: self.registry.clone(),
                    batch_size: self.batch_size,
                    max_age: self.max_age,
                    cancel: cancel.clone(),
                }))
            })
            .collect();
        for slot in slots {
            let _ = slot.await;
        }
    }
}

/// One place in the fleet: the instance in it handles one batch at a time, and is replaced by
/// a fresh one when it has lived `max_age`.
struct Slot {
    queue: Arc<LocalQueue>,
    start: Arc<StartInstance>,
    registry: Arc<Instances>,
    batch_size: usize,
    max_age: Option<Duration>,
    cancel: CancellationToken,
}

impl Slot {
    fn start(&self) -> (Instance, u64, Arc<AtomicU64>, Instant) {
        let instance = (self.start)();
        let (id, batches) = self.registry.started(&instance);
        (instance, id, batches, Instant::now())
    }
}

async fn poll(slot: Slot) {
    let (mut instance, mut id, mut batches, mut born) = slot.start();
    loop {
        let records = tokio::select! {
            () = slot.cancel.cancelled() => return,
            batch = slot.queue.receive(slot.batch_size, POLL) => batch,
        };
        let records = match records {
            Ok(records) if records.is_empty() => continue,
            Ok(records) => records,
            Err(err) => {
                warn!(target: "stocks_local", "queue receive failed: {}", error_chain(&err));
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        if slot.max_age.is_some_and(|age| born.elapsed() >= age) {
            let retired = id;
            (instance, id, batches, born) = slot.start();
            info!(target: "stocks_local", "worker instance {retired} retired; instance {id} starts empty");
        }
        batches.fetch_add(1, Ordering::Relaxed);
        let mut event = SqsEvent::default();
        event.records = records;
        // Its own task, like an invocation: a panic fails this batch, not the mapping.
        let invocation = tokio::spawn({
            let (function, event) = (instance.function.clone(), event.clone());
            async move { function.invoke(event).await }
        });
        let response = match invocation.await {
            Ok(response) => response,
            Err(err) => {
                error!(target: "stocks_local", "the worker invocation failed ({err}); SQS will deliver its {} record(s) again", event.records.len());
                continue;
            }
        };
        let failed: HashSet<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        if failed.contains("") {
            continue;
        }
        // Everything not reported as failed goes, in one call, as Lambda's mapping does:
        // deleting one by one can outlast the visibility timeout under load, and SQS would
        // deliver the job again.
        let done: Vec<&str> = event
            .records
            .iter()
            .filter(|r| !failed.contains(r.message_id.as_deref().unwrap_or_default()))
            .filter_map(|r| r.receipt_handle.as_deref())
            .collect();
        match slot.queue.delete_batch(&done).await {
            Ok(refused) if refused.is_empty() => {}
            Ok(refused) => warn!(target: "stocks_local", "SQS refused to delete {} message(s)", refused.len()),
            Err(err) => warn!(target: "stocks_local", "queue delete failed: {}", error_chain(&err)),
        }
    }
}
