//! The worker: one SQS batch in, one `SqsBatchResponse` out.
//!
//! Records are processed concurrently, each in a span carrying its SQS message id. Every
//! record ends in exactly one [`Outcome`]:
//!
//! | what happened | client gets | record |
//! |---|---|---|
//! | bars found | 200 report, then the connection is closed (unless `disconnect:false`) | acked |
//! | no bars | 404 NO_RESULTS, then closed | acked |
//! | the market data plan does not cover the window (Polygon's 403 `NOT_AUTHORIZED`) | 403 PLAN_LIMIT, then closed | acked (`plan_limit`), no DLQ |
//! | client gone (410 on the post) | — | acked, counted as `client_gone` |
//! | market unavailable, not the last attempt | — | failed: SQS redelivers after the visibility timeout |
//! | market unavailable on the last attempt, or our key refused (401, another 403) | 503 UPSTREAM_UNAVAILABLE, then closed | dead-lettered by the worker, acked |
//! | market data must wait (the fleet's quota, another instance fetching it, the shared store out of reach) | with `progress`, or after nearly 9 silent minutes: 202 `queued`, `retryInSeconds` | sent again to the jobs queue with `DelaySeconds` and `deferrals + 1`; acked (`deferred`) |
//! | … and the job is older than `MAX_JOB_AGE_SECS` | 503 UPSTREAM_UNAVAILABLE, then closed | dead-lettered (`QUOTA_EXHAUSTED`), acked |
//! | body is not a job | — | dead-lettered, acked |
//! | a second delivery of a message this instance finished (SQS is at-least-once) | — | acked, nothing sent; a copy that arrives mid-flight waits, then is acked, or runs itself if the first did not finish |
//!
//! The worker dead-letters (to `DLQ_URL`, with failure attributes) *before* telling the client,
//! so a failed dead-letter send never produces a second terminal message on the retry. If that
//! send fails on the last attempt the client is told anyway and the record is failed: the
//! queue's redrive policy then parks it.
//!
//! - `batch` — the batch plumbing: records at once, the partial-failure response, the
//!   at-least-once guard, the `job done` line.
//! - `deliveries` — the at-least-once guard (message ids seen here).
//! - `deferral` — how long a job waits, and when its client is told.

mod batch;
mod deferral;
mod deliveries;

use std::ops::RangeInclusive;
use std::time::Duration;

use chrono::Utc;
use tracing::{Span, error, info, warn};

pub use deferral::{Deferral, SILENCE_LIMIT, deferral_delay};
use deliveries::Deliveries;

use crate::domain::{ClientMessage, DeadLetter, FailureReason, Job, Report, SeriesBar};
use crate::ports::{
    CONNECTION_MAX_LIFETIME, CallbackUrl, ConnectionError, Connections, DeadLetters, JobQueue, MarketData, MarketError,
    WaitCause, error_chain,
};

/// What the worker is told at cold start.
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// `CALLBACK_URL`: the jobs carry only a connection id, so the endpoint is configuration.
    pub callback: CallbackUrl,
    /// `MAX_RECEIVE_COUNT`, equal to the queue's redrive `maxReceiveCount`: the delivery at
    /// which this worker stops leaving retries to SQS and dead-letters the job itself.
    pub max_receive_count: u32,
    /// `MAX_JOB_AGE_SECS`: the longest a job waits for market data, counted from the client's
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
/// deferrals) and the DLQ. One per Lambda instance: what it keeps (its market cache, its
/// delivery guard) it may lose; what the fleet must agree on lives behind `M`'s shared store.
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
    /// 403 PLAN_LIMIT delivered: the market data plan does not cover the window.
    PlanLimit => "plan_limit",
    /// The client had left (410 Gone); nothing more to do.
    ClientGone => "client_gone",
    /// Parked in the DLQ by the worker (the reason is logged and travels with the job); the
    /// client, if still there, got UPSTREAM_UNAVAILABLE.
    DeadLettered => "dead_lettered",
    /// Report the record as failed so SQS delivers it again.
    Retry => "retry",
    /// A second delivery of a message this instance already finished: acknowledged, nothing sent.
    Duplicate => "duplicate",
    /// Market data must wait: sent back to the jobs queue to wait, and acknowledged (the
    /// `job done` line says why in `deferCause`).
    Deferred => "deferred",
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one record ended, and, when it was deferred, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ended {
    outcome: Outcome,
    cause: Option<WaitCause>,
}

impl From<Outcome> for Ended {
    fn from(outcome: Outcome) -> Self {
        Self { outcome, cause: None }
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

    async fn run(&self, record: &aws_lambda_events::sqs::SqsMessage, attempt: u32) -> Ended {
        let body = record.body.as_deref().unwrap_or_default();
        let job = match Job::parse(body) {
            Ok(job) => job,
            Err(err) => {
                error!(attempt, error = %err, "message is not a job this worker can run; dead-lettering it");
                return self
                    .give_up(None, body, FailureReason::InvalidJob, err.to_string(), attempt)
                    .await
                    .into();
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
                self.deliver(&job, &message).await.into()
            }
            Err(MarketError::Wait { retry_after, cause }) => self.defer(&job, body, retry_after, cause, attempt).await,
            Err(MarketError::PlanLimit { detail }) => {
                info!(detail = %detail, "the market data plan does not cover this window; telling the client");
                let message = ClientMessage::plan_limit(&job.request_id, &job.ticker, &window);
                self.deliver(&job, &message).await.into()
            }
            Err(err) if err.is_transient() && attempt < self.settings.max_receive_count => {
                warn!(
                    attempt,
                    max_receive_count = self.settings.max_receive_count,
                    error = %err,
                    "market data unavailable; leaving the job for SQS to redeliver"
                );
                Outcome::Retry.into()
            }
            Err(err) => {
                let reason = if err.is_transient() {
                    FailureReason::UpstreamUnavailable
                } else {
                    FailureReason::UpstreamRejected
                };
                error!(attempt, reason = %reason, error = %err, "giving up on the job");
                self.give_up(Some(&job), body, reason, err.to_string(), attempt)
                    .await
                    .into()
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
                match message.status_code {
                    200 => Outcome::Reported,
                    403 => Outcome::PlanLimit,
                    _ => Outcome::NoResults,
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
