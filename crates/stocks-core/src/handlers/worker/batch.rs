//! The batch plumbing, apart from what happens to a job: records handled at once, each in its
//! span; only the records to redeliver reported as failed (`ReportBatchItemFailures`); the
//! at-least-once guard; one `job done` line per record and one summary per batch.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use tracing::{Instrument, field, info, info_span};

use super::deliveries::Seen;
use super::{Ended, Outcome, Worker};
use crate::ports::{Connections, DeadLetters, JobQueue, MarketData};
use crate::telemetry;

impl<M: MarketData, C: Connections, Q: JobQueue, D: DeadLetters> Worker<M, C, Q, D> {
    /// The Lambda entry point: only the records to redeliver are reported as failures.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let outcomes = self.process_batch(&event.records).await;
        let mut response = SqsBatchResponse::default();
        for (record, outcome) in event.records.iter().zip(&outcomes) {
            if *outcome == Outcome::Retry {
                // An empty identifier makes Lambda retry the whole batch, the safe reading of
                // a record that came without an id.
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        info!(records = event.records.len(), outcomes = %Tally::of(&outcomes), "batch done");
        response
    }

    /// Processes records concurrently; outcomes come back in record order.
    pub async fn process_batch(&self, records: &[SqsMessage]) -> Vec<Outcome> {
        join_all(records.iter().map(|record| {
            let span = info_span!(
                "record",
                messageId = record.message_id.as_deref().unwrap_or_default(),
                requestId = field::Empty,
                connectionId = field::Empty,
                ticker = field::Empty,
            );
            self.process(record).instrument(span)
        }))
        .await
    }

    /// One record, start to finish; always ends with one `job done` line naming its outcome.
    pub async fn process(&self, record: &SqsMessage) -> Outcome {
        let attempt = receive_count(record);
        let id = record.message_id.as_deref().unwrap_or_default();
        // A record without an id cannot be matched with anything; it is simply handled.
        let ended = if id.is_empty() {
            self.run(record, attempt).await
        } else {
            self.once(id, record, attempt).await
        };
        telemetry::job_done(ended.outcome.as_str(), ended.cause.map(|c| c.as_str()), attempt);
        ended.outcome
    }

    /// Runs a delivery unless this instance already finished its message.
    async fn once(&self, id: &str, record: &SqsMessage, attempt: u32) -> Ended {
        loop {
            match self.deliveries.claim(id) {
                Ok(claim) => {
                    let ended = self.run(record, attempt).await;
                    self.deliveries.release(id, claim, ended.outcome != Outcome::Retry);
                    return ended;
                }
                Err(Seen::Finished(_)) => return Outcome::Duplicate.into(),
                // Being handled right now: wait for that. If it finished, this copy is
                // acknowledged (deleting the message with the newest receipt); if not, this
                // copy runs itself, since it may carry the final receive count.
                Err(Seen::InFlight(mut first)) => {
                    if let Ok(finished) = first.wait_for(Option::is_some).await
                        && *finished == Some(true)
                    {
                        return Outcome::Duplicate.into();
                    }
                }
            }
        }
    }
}

/// SQS's `ApproximateReceiveCount` (1 on the first delivery).
fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// How many records of a batch ended each way, for the batch's summary line
/// (`reported=3 deferred=2`; outcomes that did not happen are left out).
struct Tally([usize; Outcome::ALL.len()]);

impl Tally {
    fn of(outcomes: &[Outcome]) -> Self {
        let mut counts = [0; Outcome::ALL.len()];
        for outcome in outcomes {
            counts[*outcome as usize] += 1;
        }
        Self(counts)
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (outcome, count) in Outcome::ALL.iter().zip(self.0).filter(|(_, n)| *n > 0) {
            write!(f, "{}{outcome}={count}", if first { "" } else { " " })?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_place_in_the_tally() {
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i, "{outcome}");
        }
        let tally = Tally::of(&[Outcome::Deferred, Outcome::Reported, Outcome::Deferred]);
        assert_eq!(tally.to_string(), "reported=1 deferred=2");
    }
}
