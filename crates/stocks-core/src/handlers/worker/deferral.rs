//! A job that must wait for market data: how long ([`deferral_delay`]), and when its client is
//! told ([`Deferral`]).
//!
//! The delay is the wait the market gave, rounded up to whole seconds, plus a little jitter so
//! jobs deferred together do not all come back in the same second, within SQS's `DelaySeconds`.
//! API Gateway closes a connection that carries no message for [`CONNECTION_IDLE_TIMEOUT`], and
//! a client hears nothing between the 202 and its answer unless it asked for `progress`: so no
//! delay lets a client go [`SILENCE_LIMIT`] without a word, and a job that has kept its client
//! waiting nearly that long sends it the same `queued` notice, progress or not.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{Ended, Outcome, Worker};
use crate::domain::{ClientMessage, FailureReason, Job};
use crate::ports::{
    CONNECTION_IDLE_TIMEOUT, ConnectionError, Connections, DeadLetters, JobQueue, MAX_DELAY_SECS, MarketData,
    WaitCause, error_chain,
};

/// The longest a client may go without a message while its job waits: a minute inside API
/// Gateway's idle timeout.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(CONNECTION_IDLE_TIMEOUT.as_secs() - 60);

/// From this close to [`SILENCE_LIMIT`] on, a deferral tells the client rather than wait again.
const NOTICE_LEAD: Duration = Duration::from_secs(30);

/// `DelaySeconds` for a job that must wait `wait`: whole seconds, rounded up, plus up to a tenth
/// of that again as jitter (`jitter` in `[0, 1)`), between 1 and [`MAX_DELAY_SECS`].
pub fn deferral_delay(wait: Duration, jitter: f64) -> u32 {
    let base = wait.as_secs_f64().ceil().clamp(1.0, f64::from(MAX_DELAY_SECS));
    let spread = (base / 10.0).floor();
    let extra = (spread + 1.0) * jitter.clamp(0.0, 0.999_999);
    ((base + extra.floor()) as u32).min(MAX_DELAY_SECS)
}

/// One deferral: how long the job waits, and whether its client is told now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deferral {
    /// `DelaySeconds`.
    pub delay_secs: u32,
    /// Post a `queued` notice before it waits.
    pub notify: bool,
}

impl Deferral {
    /// The deferral of `job` at `now` for a wait of `wait`. A client that asked for `progress` is
    /// told every time; one that did not has heard nothing since its 202 (at `enqueuedAt`), so
    /// it is told once that silence nears [`SILENCE_LIMIT`] — and from then on every time, as
    /// nothing records the notices. Either way it wakes before the client has been silent
    /// [`SILENCE_LIMIT`].
    pub fn plan(job: &Job, now: DateTime<Utc>, wait: Duration, jitter: f64) -> Self {
        let waited = (now - job.enqueued_at).to_std().unwrap_or(Duration::ZERO);
        let notify = job.progress || waited + NOTICE_LEAD >= SILENCE_LIMIT;
        let silent_for = if notify { Duration::ZERO } else { waited };
        let cap = SILENCE_LIMIT.saturating_sub(silent_for).as_secs();
        let delay_secs = deferral_delay(wait, jitter)
            .min(u32::try_from(cap).unwrap_or(u32::MAX))
            .max(1);
        Self { delay_secs, notify }
    }
}

impl<M: MarketData, C: Connections, Q: JobQueue, D: DeadLetters> Worker<M, C, Q, D> {
    /// Market data must wait: the job waits in the jobs queue (`DelaySeconds`) and is
    /// acknowledged here — unless it has waited longer than `MAX_JOB_AGE_SECS` already.
    pub(super) async fn defer(
        &self,
        job: &Job,
        body: &str,
        retry_after: Duration,
        cause: WaitCause,
        attempt: u32,
    ) -> Ended {
        let now = Utc::now();
        let age = (now - job.enqueued_at).to_std().unwrap_or(Duration::ZERO);
        if age > self.settings.max_job_age {
            let detail = format!(
                "waited {} s for market data over {} deferrals (MAX_JOB_AGE_SECS is {}); last wait: {}",
                age.as_secs(),
                job.deferrals,
                self.settings.max_job_age.as_secs(),
                cause.as_str(),
            );
            tracing::error!(
                deferrals = job.deferrals,
                age_secs = age.as_secs(),
                "market data did not come in time; giving up on the job"
            );
            return self
                .give_up(Some(job), body, FailureReason::QuotaExhausted, detail, attempt)
                .await
                .into();
        }
        let deferral = Deferral::plan(job, now, retry_after, fastrand::f64());
        if deferral.notify {
            let notice = ClientMessage::queued(&job.request_id, &job.ticker, u64::from(deferral.delay_secs));
            match self
                .connections
                .post(&self.settings.callback, &job.connection_id, &notice)
                .await
            {
                Ok(()) => {}
                Err(ConnectionError::Gone) => {
                    info!("client left while its job waited for market data");
                    return Outcome::ClientGone.into();
                }
                Err(err) => warn!(error = %error_chain(&err), "could not tell the client it is queued"),
            }
        }
        match self.jobs.send_delayed(&job.deferred(), deferral.delay_secs).await {
            Ok(()) => {
                info!(
                    delay_secs = deferral.delay_secs,
                    deferrals = job.deferrals + 1,
                    deferCause = cause.as_str(),
                    "market data must wait; the job waits in the queue"
                );
                Ended {
                    outcome: Outcome::Deferred,
                    cause: Some(cause),
                }
            }
            Err(err) => {
                warn!(error = %error_chain(&err), "could not defer the job; SQS will redeliver it");
                Outcome::Retry.into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::domain::{StockRequest, WindowDays, parse_date};

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn the_wait_is_rounded_up_to_whole_seconds() {
        assert_eq!(deferral_delay(secs(0.3), 0.0), 1, "never 0: the gate is closed now");
        assert_eq!(deferral_delay(secs(1.0), 0.0), 1);
        assert_eq!(deferral_delay(secs(1.01), 0.0), 2);
        assert_eq!(deferral_delay(Duration::ZERO, 0.9), 1);
    }

    #[test]
    fn a_retry_after_is_honoured_with_at_most_a_tenth_more() {
        let delays: Vec<u32> = (0..100)
            .map(|i| deferral_delay(secs(30.0), f64::from(i) / 100.0))
            .collect();
        assert_eq!(delays.iter().min(), Some(&30));
        assert_eq!(delays.iter().max(), Some(&33));
        assert_eq!(deferral_delay(secs(60.0), 0.0), 60);
        assert_eq!(deferral_delay(secs(60.0), 0.999), 66);
    }

    #[test]
    fn short_waits_get_no_jitter() {
        for j in [0.0, 0.5, 0.99] {
            assert_eq!(deferral_delay(secs(2.0), j), 2);
            assert_eq!(deferral_delay(secs(9.0), j), 9);
        }
    }

    #[test]
    fn never_more_than_sqs_allows() {
        assert_eq!(deferral_delay(secs(899.5), 0.999), MAX_DELAY_SECS);
        assert_eq!(deferral_delay(secs(3600.0), 0.0), MAX_DELAY_SECS);
        assert_eq!(deferral_delay(Duration::MAX, 0.5), MAX_DELAY_SECS);
    }

    fn job(progress: bool) -> Job {
        let request = StockRequest::parse(
            &format!(r#"{{"ticker":"MSFT","progress":{progress}}}"#),
            parse_date("2026-11-24").unwrap(),
            WindowDays::DEFAULT,
        )
        .unwrap();
        Job::new("r", "c", &request, "2026-11-24T10:00:00Z".parse().unwrap())
    }

    fn after(job: &Job, secs: i64) -> DateTime<Utc> {
        job.enqueued_at + TimeDelta::seconds(secs)
    }

    #[test]
    fn a_silent_client_is_never_left_past_the_limit() {
        let job = job(false);
        let limit = SILENCE_LIMIT.as_secs() as i64;
        // Early on: the delay the market asked for, no notice.
        assert_eq!(
            Deferral::plan(&job, after(&job, 10), secs(60.0), 0.0),
            Deferral {
                delay_secs: 60,
                notify: false
            }
        );
        // A wait that would outlast the silence is cut to end inside it.
        assert_eq!(
            Deferral::plan(&job, after(&job, limit - 100), secs(900.0), 0.0),
            Deferral {
                delay_secs: 100,
                notify: false
            }
        );
        // Near the limit: the client is told, and the next wait is capped from now.
        assert_eq!(
            Deferral::plan(&job, after(&job, limit - 20), secs(900.0), 0.0),
            Deferral {
                delay_secs: limit as u32,
                notify: true
            }
        );
        assert!(Deferral::plan(&job, after(&job, 3 * limit), secs(5.0), 0.0).notify);
    }

    #[test]
    fn a_client_that_asked_for_progress_is_told_every_time_and_never_waits_past_the_limit() {
        let job = job(true);
        assert_eq!(
            Deferral::plan(&job, after(&job, 1), secs(60.0), 0.0),
            Deferral {
                delay_secs: 60,
                notify: true
            }
        );
        assert_eq!(
            Deferral::plan(&job, after(&job, 1), secs(900.0), 0.0).delay_secs,
            SILENCE_LIMIT.as_secs() as u32
        );
    }
}
