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
//! | market quota spent (the gate is closed) | with `progress`: 202 `queued`, `retryInSeconds` | sent again to the jobs queue with `DelaySeconds` and `deferrals + 1`; acked (`deferred`) |
//! | … and the job is older than `MAX_JOB_AGE_SECS` | 503 UPSTREAM_UNAVAILABLE, then closed | dead-lettered (`QUOTA_EXHAUSTED`), acked |
//! | body is not a job | — | dead-lettered, acked |
//! | a second delivery of a message this instance finished (SQS is at-least-once) | — | acked, nothing sent; a copy that arrives mid-flight waits, then is acked, or runs itself if the first did not finish |
//!
//! The worker dead-letters (to `DLQ_URL`, with failure attributes) *before* telling the client,
//! so a failed dead-letter send never produces a second terminal message on the retry. If that
//! send fails on the last attempt the client is told anyway and the record is failed: the
//! queue's redrive policy then parks it.
//!
//! - [`deliveries`] — the at-least-once guard (message ids seen here).
//! - [`deferral`] — how long a job waits for market quota.

mod deferral;
mod deliveries;

use std::ops::RangeInclusive;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use futures::future::join_all;
use tracing::{Instrument, Span, error, field, info, info_span, warn};

pub use deferral::deferral_delay;
use deliveries::{Deliveries, Seen};

use crate::domain::{ClientMessage, DeadLetter, FailureReason, Job, Report, SeriesBar};
use crate::ports::{
    CONNECTION_MAX_LIFETIME, CallbackUrl, ConnectionError, Connections, DeadLetters, JobQueue, MarketData, MarketError,
    error_chain,
};
use crate::telemetry;

/// What the worker is told at cold start.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// `CALLBACK_URL`: the jobs carry only a connection id, so the endpoint is configuration.
    pub callback: CallbackUrl,
    /// `MAX_RECEIVE_COUNT`, equal to the queue's redrive `maxReceiveCount`: the delivery at
    /// which this worker stops leaving retries to SQS and dead-letters the job itself.
    pub max_receive_count: u32,
    /// `MAX_JOB_AGE_SECS`: the longest a job waits for market quota, counted from the client's
    /// request, before it is dead-lettered (`QUOTA_EXHAUSTED`). Inside API Gateway's 2-hour
    /// connection lifetime, so a report can still reach its client.
    pub max_job_age: Duration,
}

impl WorkerSettings {
    /// `MAX_JOB_AGE_SECS` unless set: inside API Gateway's connection lifetime, with time to
    /// tell the client.
    pub const DEFAULT_MAX_JOB_AGE: Duration = Duration::from_secs(7000);
    /// What `MAX_JOB_AGE_SECS` may be, in seconds: a minute at least, and no longer than a
    /// connection can live ([`CONNECTION_MAX_LIFETIME`]), since waiting longer reaches no one.
    pub const MAX_JOB_AGE_SECS: RangeInclusive<u64> = 60..=CONNECTION_MAX_LIFETIME.as_secs();
    /// What `MAX_RECEIVE_COUNT` may be (SQS's redrive `maxReceiveCount` allows 1..=1000).
    pub const MAX_RECEIVE_COUNT: RangeInclusive<u32> = 1..=1000;

    /// The defaults for everything but the endpoint and the redrive count.
    pub fn new(callback: CallbackUrl, max_receive_count: u32) -> Self {
        Self {
            callback,
            max_receive_count,
            max_job_age: Self::DEFAULT_MAX_JOB_AGE,
        }
    }
}

/// The SQS-triggered handler, generic over market data, `@connections`, the jobs queue (for
/// deferrals) and the DLQ.
pub struct Worker<M, C, Q, D> {
    market: M,
    connections: C,
    jobs: Q,
    dead_letters: D,
    settings: WorkerSettings,
    /// SQS message ids in flight or recently finished here: SQS delivers at least once, and a
    /// second delivery of a finished job must not answer its client twice.
    deliveries: Deliveries,
}

/// Declares [`Outcome`] from one list: each variant with its name in logs and metrics.
macro_rules! outcomes {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// How one record ended: exactly one per record, logged (`job done`, `outcome`) and
        /// counted by the outcome metrics.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Outcome {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Outcome {
            /// Every outcome, in declaration order (`outcome as usize` indexes it).
            pub const ALL: &[Outcome] = &[$(Self::$variant,)*];

            /// The name logs and metrics use.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

outcomes! {
    /// 200 delivered.
    Reported => "reported",
    /// 404 NO_RESULTS delivered.
    NoResults => "no_results",
    /// The client had left (410 Gone); nothing more to do.
    ClientGone => "client_gone",
    /// Parked in the DLQ by the worker (the reason is logged and travels with the job); the
    /// client, if still there, got UPSTREAM_UNAVAILABLE.
    DeadLettered => "dead_lettered",
    /// Report the record as failed so SQS delivers it again.
    Retry => "retry",
    /// A second delivery of a message this instance already finished: acknowledged, nothing sent.
    Duplicate => "duplicate",
    /// The market's quota was spent: sent back to the jobs queue to wait, and acknowledged.
    Deferred => "deferred",
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

impl<M: MarketData, C: Connections, Q: JobQueue, D: DeadLetters> Worker<M, C, Q, D> {
    /// A worker over these ports.
    pub fn new(market: M, connections: C, jobs: Q, dead_letters: D, settings: WorkerSettings) -> Self {
        Self {
            market,
            connections,
            jobs,
            dead_letters,
            settings: WorkerSettings {
                max_receive_count: settings.max_receive_count.max(1),
                ..settings
            },
            deliveries: Deliveries::new(),
        }
    }

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
        if id.is_empty() {
            let outcome = self.run(record, attempt).await;
            telemetry::job_done(outcome.as_str(), attempt);
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
        telemetry::job_done(outcome.as_str(), attempt);
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

        let window = job.window;
        match self.market.daily_bars(&job.ticker, &window).await {
            Ok(bars) => {
                let message = match Report::from_bars(&bars) {
                    Some(report) => {
                        let message = ClientMessage::report(&job.request_id, &job.ticker, &window, report, bars.len());
                        if job.series {
                            message.with_series(SeriesBar::series(&bars))
                        } else {
                            message
                        }
                    }
                    None => ClientMessage::no_results(&job.request_id, &job.ticker, &window),
                };
                self.deliver(&job, &message).await
            }
            Err(MarketError::QuotaExceeded { retry_after }) => self.defer(&job, body, retry_after, attempt).await,
            Err(err) if err.is_transient() && attempt < self.settings.max_receive_count => {
                warn!(
                    attempt,
                    max_receive_count = self.settings.max_receive_count,
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

    /// The market's quota is spent: the job waits in the jobs queue (`DelaySeconds`) and is
    /// acknowledged here — unless it has waited longer than `MAX_JOB_AGE_SECS` already.
    async fn defer(&self, job: &Job, body: &str, retry_after: Duration, attempt: u32) -> Outcome {
        let age = (Utc::now() - job.enqueued_at).to_std().unwrap_or(Duration::ZERO);
        if age > self.settings.max_job_age {
            let detail = format!(
                "waited {} s for market quota over {} deferrals (MAX_JOB_AGE_SECS is {})",
                age.as_secs(),
                job.deferrals,
                self.settings.max_job_age.as_secs()
            );
            error!(
                deferrals = job.deferrals,
                age_secs = age.as_secs(),
                "market quota did not come back in time; giving up on the job"
            );
            return self
                .give_up(Some(job), body, FailureReason::QuotaExhausted, detail, attempt)
                .await;
        }
        let delay = deferral_delay(retry_after, fastrand::f64());
        if job.progress {
            let notice = ClientMessage::queued(&job.request_id, &job.ticker, u64::from(delay));
            match self
                .connections
                .post(&self.settings.callback, &job.connection_id, &notice)
                .await
            {
                Ok(()) => {}
                Err(ConnectionError::Gone) => {
                    info!("client left while its job waited for market quota");
                    return Outcome::ClientGone;
                }
                Err(err) => warn!(error = %error_chain(&err), "could not tell the client it is queued"),
            }
        }
        match self.jobs.send_delayed(&job.deferred(), delay).await {
            Ok(()) => {
                info!(
                    delay_secs = delay,
                    deferrals = job.deferrals + 1,
                    "market quota spent; the job waits in the queue"
                );
                Outcome::Deferred
            }
            Err(err) => {
                warn!(error = %error_chain(&err), "could not defer the job; SQS will redeliver it");
                Outcome::Retry
            }
        }
    }

    /// Posts the terminal message, then hangs up. A failed post (other than 410) is retried by
    /// SQS: the client has not had its answer yet.
    async fn deliver(&self, job: &Job, message: &ClientMessage) -> Outcome {
        match self
            .connections
            .post(&self.settings.callback, &job.connection_id, message)
            .await
        {
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
            && (parked.is_ok() || attempt >= self.settings.max_receive_count)
        {
            let message = ClientMessage::upstream_unavailable(&job.request_id, &job.ticker);
            match self
                .connections
                .post(&self.settings.callback, &job.connection_id, &message)
                .await
            {
                Ok(()) => self.hang_up(job).await,
                Err(ConnectionError::Gone) => info!("client already gone; the job stays in the DLQ"),
                Err(err) => warn!(error = %error_chain(&err), "could not tell the client"),
            }
        }
        match parked {
            Ok(()) => Outcome::DeadLettered,
            Err(_) => Outcome::Retry,
        }
    }

    /// Closes the connection when the job asks for it (the seed's behaviour). Failures are only
    /// logged: the terminal message is already delivered and must not be sent twice.
    async fn hang_up(&self, job: &Job) {
        if !job.disconnect {
            return;
        }
        match self
            .connections
            .delete(&self.settings.callback, &job.connection_id)
            .await
        {
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
