//! The worker: one SQS batch in, one `SqsBatchResponse` out.
//!
//! Records are processed concurrently, each in a span carrying its SQS message id. Every
//! record ends in exactly one [`Outcome`]:
//!
//! | what happened | client gets | record |
//! |---|---|---|
//! | bars found | 200 report, then the connection is closed (unless `disconnect:false`) | acked |
//! | no bars | 404 NO_RESULTS, then closed | acked |
//! | client gone (410 on the post) | — | acked, counted as `gone` |
//! | market unavailable, not the last attempt | — | failed: SQS redelivers after the visibility timeout |
//! | market unavailable on the last attempt, or refused (401/403) | 503 UPSTREAM_UNAVAILABLE, then closed | dead-lettered by the worker, acked |
//! | body is not a job | — | dead-lettered, acked |
//! | a second delivery of a message this instance finished (SQS is at-least-once) | — | acked, nothing sent; a copy that arrives mid-flight waits, then is acked, or runs itself if the first did not finish |
//!
//! The worker dead-letters (to `DLQ_URL`, with failure attributes) *before* telling the client,
//! so a failed dead-letter send never produces a second terminal message on the retry. If that
//! send fails on the last attempt the client is told anyway and the record is failed: the
//! queue's redrive policy then parks it.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use futures::future::join_all;
use tracing::{Instrument, Span, error, field, info, info_span, warn};

use crate::domain::{ClientMessage, DeadLetter, FailureReason, Job, Report};
use crate::ports::{CallbackUrl, ConnectionError, Connections, DeadLetters, MarketData, error_chain};

/// The SQS-triggered handler, generic over market data, `@connections` and the DLQ.
pub struct Worker<M, C, D> {
    market: M,
    connections: C,
    dead_letters: D,
    /// `CALLBACK_URL`: the jobs carry only a connection id, so the endpoint is configuration.
    callback: CallbackUrl,
    /// `MAX_RECEIVE_COUNT`, equal to the queue's redrive `maxReceiveCount`: the delivery at
    /// which this worker stops leaving retries to SQS and dead-letters the job itself.
    max_receive_count: u32,
    /// SQS message ids in flight or recently finished here: SQS delivers at least once, and a
    /// second delivery of a finished job must not answer its client twice.
    deliveries: Deliveries,
}

/// A delivery already seen by this instance.
#[derive(Clone, Debug)]
enum Seen {
    /// Being handled; the value becomes `Some(finished)` when it ends.
    InFlight(tokio::sync::watch::Receiver<Option<bool>>),
    Finished(std::time::Instant),
}

/// Recently seen SQS message ids, per instance (best effort: another instance can still see a
/// duplicate; the visibility timeout makes that rare).
struct Deliveries(std::sync::Mutex<lru::LruCache<String, Seen>>);

/// The claim on a delivery; [`Deliveries::release`] ends it (dropping it counts as a retry).
struct Claim(tokio::sync::watch::Sender<Option<bool>>);

impl Deliveries {
    /// How many ids are remembered, and for how long after they finish.
    const CAPACITY: usize = 10_000;
    const REMEMBER: std::time::Duration = std::time::Duration::from_secs(15 * 60);

    fn new() -> Self {
        Self(std::sync::Mutex::new(lru::LruCache::new(
            std::num::NonZeroUsize::new(Self::CAPACITY).expect("non-zero"),
        )))
    }

    /// Claims a message id, or says how it was already seen.
    fn claim(&self, id: &str) -> Result<Claim, Seen> {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(id) {
            Some(Seen::Finished(at)) if at.elapsed() > Self::REMEMBER => {}
            // Its handler went away without releasing it (its future was dropped): a retry.
            Some(Seen::InFlight(first)) if first.has_changed().is_err() => {}
            Some(earlier) => return Err(earlier.clone()),
            None => {}
        }
        let (tx, rx) = tokio::sync::watch::channel(None);
        seen.put(id.to_owned(), Seen::InFlight(rx));
        Ok(Claim(tx))
    }

    /// Ends a claim: a finished delivery is remembered; a retried one is forgotten, so its
    /// next delivery runs again.
    fn release(&self, id: &str, claim: Claim, finished: bool) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if finished {
            seen.put(id.to_owned(), Seen::Finished(std::time::Instant::now()));
        } else {
            seen.pop(id);
        }
        let _ = claim.0.send(Some(finished));
    }
}

/// How one record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200 delivered.
    Reported,
    /// 404 NO_RESULTS delivered.
    NoResults,
    /// The client had left (410 Gone); nothing more to do.
    ClientGone,
    /// Parked in the DLQ by the worker; the client (if still there) got UPSTREAM_UNAVAILABLE.
    DeadLettered(FailureReason),
    /// Report the record as failed so SQS delivers it again.
    Retry,
    /// A second delivery of a message this instance already finished: acknowledged, nothing sent.
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::NoResults => "no_results",
            Self::ClientGone => "client_gone",
            Self::DeadLettered(_) => "dead_lettered",
            Self::Retry => "retry",
            Self::Duplicate => "duplicate",
        }
    }
}

impl<M: MarketData, C: Connections, D: DeadLetters> Worker<M, C, D> {
    pub fn new(market: M, connections: C, dead_letters: D, callback: CallbackUrl, max_receive_count: u32) -> Self {
        Self {
            market,
            connections,
            dead_letters,
            callback,
            max_receive_count: max_receive_count.max(1),
            deliveries: Deliveries::new(),
        }
    }

    /// The Lambda entry point: only the records to redeliver are reported as failures.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let outcomes = self.process_batch(&event.records).await;
        let mut response = SqsBatchResponse::default();
        let mut tally = [0usize; 6];
        for (record, outcome) in event.records.iter().zip(&outcomes) {
            tally[match outcome {
                Outcome::Reported => 0,
                Outcome::NoResults => 1,
                Outcome::ClientGone => 2,
                Outcome::DeadLettered(_) => 3,
                Outcome::Retry => 4,
                Outcome::Duplicate => 5,
            }] += 1;
            if *outcome == Outcome::Retry {
                // An empty identifier makes Lambda retry the whole batch, the safe reading of
                // a record that came without an id.
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        info!(
            records = event.records.len(),
            reported = tally[0],
            no_results = tally[1],
            gone = tally[2],
            dead_lettered = tally[3],
            retry = tally[4],
            duplicate = tally[5],
            "batch done"
        );
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
        if id.is_empty() {
            let outcome = self.run(record, attempt).await;
            info!(outcome = outcome.as_str(), attempt, "job done");
            return outcome;
        }
        let outcome = loop {
            match self.deliveries.claim(id) {
                Ok(claim) => {
                    let outcome = self.run(record, attempt).await;
                    self.deliveries.release(id, claim, outcome != Outcome::Retry);
                    break outcome;
                }
                Err(Seen::Finished(_)) => break Outcome::Duplicate,
                // Being handled right now: wait for that. If it finished, this copy is
                // acknowledged (deleting the message with the newest receipt); if not, this
                // copy runs itself, since it may carry the final receive count.
                Err(Seen::InFlight(mut first)) => {
                    if let Ok(finished) = first.wait_for(Option::is_some).await
                        && *finished == Some(true)
                    {
                        break Outcome::Duplicate;
                    }
                }
            }
        };
        info!(outcome = outcome.as_str(), attempt, "job done");
        outcome
    }

    async fn run(&self, record: &SqsMessage, attempt: u32) -> Outcome {
        let body = record.body.as_deref().unwrap_or_default();
        let job = match Job::parse(body) {
            Ok(job) => job,
            Err(err) => {
                error!(attempt, error = %err, "message is not a job this worker can run; dead-lettering it");
                return self
                    .give_up(None, body, FailureReason::InvalidJob, err.to_string(), attempt)
                    .await;
            }
        };
        let span = Span::current();
        span.record("requestId", job.request_id.as_str());
        span.record("connectionId", job.connection_id.as_str());
        span.record("ticker", job.ticker.as_str());

        let window = job.window();
        match self.market.daily_bars(&job.ticker, &window).await {
            Ok(bars) => {
                let message = match Report::from_bars(&bars) {
                    Some(report) => ClientMessage::report(&job.request_id, &job.ticker, &window, report, bars.len()),
                    None => ClientMessage::no_results(&job.request_id, &job.ticker, &window),
                };
                self.deliver(&job, &message).await
            }
            Err(err) if err.is_transient() && attempt < self.max_receive_count => {
                warn!(
                    attempt,
                    max_receive_count = self.max_receive_count,
                    error = %err,
                    "market data unavailable; leaving the job for SQS to redeliver"
                );
                Outcome::Retry
            }
            Err(err) => {
                let reason = if err.is_transient() {
                    FailureReason::UpstreamUnavailable
                } else {
                    FailureReason::UpstreamRejected
                };
                error!(attempt, reason = %reason, error = %err, "giving up on the job");
                self.give_up(Some(&job), body, reason, err.to_string(), attempt).await
            }
        }
    }

    /// Posts the terminal message, then hangs up. A failed post (other than 410) is retried by
    /// SQS: the client has not had its answer yet.
    async fn deliver(&self, job: &Job, message: &ClientMessage) -> Outcome {
        match self.connections.post(&self.callback, &job.connection_id, message).await {
            Ok(()) => {
                self.hang_up(job).await;
                if message.status_code == 200 {
                    Outcome::Reported
                } else {
                    Outcome::NoResults
                }
            }
            Err(ConnectionError::Gone) => {
                info!("client left before its report");
                Outcome::ClientGone
            }
            Err(err) => {
                warn!(error = %error_chain(&err), "could not post the report; SQS will redeliver");
                Outcome::Retry
            }
        }
    }

    /// Dead-letters the job, then tells the client once.
    async fn give_up(
        &self,
        job: Option<&Job>,
        body: &str,
        reason: FailureReason,
        detail: String,
        attempt: u32,
    ) -> Outcome {
        let letter = DeadLetter {
            body: body.to_owned(),
            reason,
            detail,
            attempts: attempt,
            failed_at: Utc::now(),
        };
        let parked = self.dead_letters.dead_letter(&letter).await;
        if let Err(err) = &parked {
            error!(error = %error_chain(err), "could not dead-letter the job; failing the record instead");
        }
        // Told now if parked; told on the last attempt even if not, since SQS's redrive will
        // park it and no worker will see it again.
        if let Some(job) = job
            && (parked.is_ok() || attempt >= self.max_receive_count)
        {
            let message = ClientMessage::upstream_unavailable(&job.request_id, &job.ticker);
            match self
                .connections
                .post(&self.callback, &job.connection_id, &message)
                .await
            {
                Ok(()) => self.hang_up(job).await,
                Err(ConnectionError::Gone) => info!("client already gone; the job stays in the DLQ"),
                Err(err) => warn!(error = %error_chain(&err), "could not tell the client"),
            }
        }
        match parked {
            Ok(()) => Outcome::DeadLettered(reason),
            Err(_) => Outcome::Retry,
        }
    }

    /// Closes the connection when the job asks for it (the seed's behaviour). Failures are only
    /// logged: the terminal message is already delivered and must not be sent twice.
    async fn hang_up(&self, job: &Job) {
        if !job.disconnect {
            return;
        }
        match self.connections.delete(&self.callback, &job.connection_id).await {
            Ok(()) | Err(ConnectionError::Gone) => {}
            Err(err) => warn!(error = %error_chain(&err), "could not close the connection"),
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
