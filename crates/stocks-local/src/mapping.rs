//! Lambda's SQS event-source mapping: pollers receive batches, invoke the worker handler, and
//! delete every record it did not report as failed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use futures::future::BoxFuture;
use stocks_core::handlers::Worker;
use stocks_core::ports::{Connections, DeadLetters, JobQueue, MarketData, error_chain};
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

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

/// The event-source mapping from the local queue to a worker function.
pub struct Mapping {
    queue: Arc<LocalQueue>,
    function: Arc<dyn Function>,
    batch_size: usize,
    concurrency: usize,
}

impl Mapping {
    /// Feeds `function` batches of up to `batch_size` (1..=10) records from `queue`, up to
    /// `concurrency` invocations at once.
    pub fn new(queue: Arc<LocalQueue>, function: Arc<dyn Function>, batch_size: usize, concurrency: usize) -> Self {
        Self {
            queue,
            function,
            batch_size: batch_size.clamp(1, 10),
            concurrency: concurrency.max(1),
        }
    }

    /// Runs the pollers until `cancel`. As Lambda does: records reported as failed stay (all of
    /// them when the response names an empty id, or when the invocation panicked) and SQS
    /// delivers them again after the visibility timeout; everything else is deleted in one
    /// batch call.
    pub async fn run(self, cancel: CancellationToken) {
        let pollers: Vec<_> = (0..self.concurrency)
            .map(|_| {
                tokio::spawn(poll(
                    self.queue.clone(),
                    self.function.clone(),
                    self.batch_size,
                    cancel.clone(),
                ))
            })
            .collect();
        for poller in pollers {
            let _ = poller.await;
        }
    }
}

async fn poll(queue: Arc<LocalQueue>, function: Arc<dyn Function>, batch_size: usize, cancel: CancellationToken) {
    loop {
        let records = tokio::select! {
            () = cancel.cancelled() => return,
            batch = queue.receive(batch_size, POLL) => batch,
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
        let mut event = SqsEvent::default();
        event.records = records;
        // Its own task, like an invocation: a panic fails this batch, not the poller.
        let invocation = tokio::spawn({
            let (function, event) = (function.clone(), event.clone());
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
        match queue.delete_batch(&done).await {
            Ok(refused) if refused.is_empty() => {}
            Ok(refused) => warn!(target: "stocks_local", "SQS refused to delete {} message(s)", refused.len()),
            Err(err) => warn!(target: "stocks_local", "queue delete failed: {}", error_chain(&err)),
        }
    }
}
