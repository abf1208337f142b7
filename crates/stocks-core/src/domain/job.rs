//! The job: what the ingress puts on the queue and the worker takes off it.
//!
//! `{"v":1,"requestId":"…","connectionId":"…","ticker":"MSFT","from":"…","to":"…",
//! "disconnect":true,"enqueuedAt":"RFC 3339"}`, plus `"progress":true`, `"series":true` and
//! `"deferrals":N` when they are not false and 0 (so jobs written by the previous build still
//! parse, and jobs that use none of them look exactly as before). Versioned so a future shape can be rolled out while old
//! messages are still in flight; a body this build cannot read is dead-lettered, never retried
//! forever.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{DateWindow, StockRequest, Ticker};

/// A queued report request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(into = "Wire")]
pub struct Job {
    /// API Gateway's request id of the frame that asked, echoed in every message about it.
    pub request_id: String,
    /// Where the report goes.
    pub connection_id: String,
    /// The symbol asked for.
    pub ticker: Ticker,
    /// The days asked for (`from`/`to` on the wire), checked.
    pub window: DateWindow,
    /// Close the connection after the terminal message.
    pub disconnect: bool,
    /// When the client asked (the ingress queued it). Survives deferrals: it bounds how long a
    /// job may wait for market quota (`MAX_JOB_AGE_SECS`), and lets operators (and
    /// `dlq replay --skip-stale`) judge whether the connection can still exist (API Gateway
    /// closes every connection after [`crate::ports::CONNECTION_MAX_LIFETIME`]).
    pub enqueued_at: DateTime<Utc>,
    /// Tell the client each time the job waits for market quota (`"progress": true`).
    pub progress: bool,
    /// Put the daily bars used into the report (`"series": true`).
    pub series: bool,
    /// How many times the worker has put the job back to wait for market quota.
    pub deferrals: u32,
}

/// The job as it travels: the documented JSON, read before anything in it is trusted.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    v: u32,
    request_id: String,
    connection_id: String,
    ticker: Ticker,
    from: NaiveDate,
    to: NaiveDate,
    #[serde(default = "default_disconnect")]
    disconnect: bool,
    enqueued_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "is_false")]
    progress: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    series: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    deferrals: u32,
}

impl From<Job> for Wire {
    fn from(job: Job) -> Self {
        Self {
            v: Job::VERSION,
            request_id: job.request_id,
            connection_id: job.connection_id,
            ticker: job.ticker,
            from: job.window.from(),
            to: job.window.to(),
            disconnect: job.disconnect,
            enqueued_at: job.enqueued_at,
            progress: job.progress,
            series: job.series,
            deferrals: job.deferrals,
        }
    }
}

fn default_disconnect() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Why a queue message is not a job this build can run.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Not JSON, or not the job's shape (a ticker that breaks the grammar included).
    #[error("job body is not valid job JSON: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a build with another schema.
    #[error("job schema version {0} is not supported (this build reads version {v})", v = Job::VERSION)]
    UnsupportedVersion(u32),
    /// Nowhere to send the report.
    #[error("job has an empty connection id")]
    NoConnection,
    /// `from`/`to` break the window's rules.
    #[error("job window is invalid: {0}")]
    Window(#[from] super::WindowError),
}

impl Job {
    /// The schema version this build writes and reads.
    pub const VERSION: u32 = 1;

    /// The job for a validated request, asked for at `enqueued_at`.
    pub fn new(
        request_id: impl Into<String>,
        connection_id: impl Into<String>,
        request: &StockRequest,
        enqueued_at: DateTime<Utc>,
    ) -> Self {
        Self {
            request_id: request_id.into(),
            connection_id: connection_id.into(),
            ticker: request.ticker.clone(),
            window: request.window,
            disconnect: request.disconnect,
            enqueued_at,
            progress: request.progress,
            series: request.series,
            deferrals: 0,
        }
    }

    /// The same job, put back once more to wait for market quota.
    pub fn deferred(&self) -> Self {
        Self {
            deferrals: self.deferrals.saturating_add(1),
            ..self.clone()
        }
    }

    /// Reads a queue body, checking the version, the ticker grammar and the window.
    pub fn parse(body: &str) -> Result<Self, JobError> {
        let wire: Wire = serde_json::from_str(body)?;
        if wire.v != Self::VERSION {
            return Err(JobError::UnsupportedVersion(wire.v));
        }
        if wire.connection_id.is_empty() {
            return Err(JobError::NoConnection);
        }
        Ok(Self {
            window: DateWindow::new(wire.from, wire.to)?,
            request_id: wire.request_id,
            connection_id: wire.connection_id,
            ticker: wire.ticker,
            disconnect: wire.disconnect,
            enqueued_at: wire.enqueued_at,
            progress: wire.progress,
            series: wire.series,
            deferrals: wire.deferrals,
        })
    }

    /// The SQS body.
    #[expect(clippy::expect_used, reason = "strings, dates and numbers always serialise")]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("Job serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{WindowDays, parse_date};

    fn job() -> Job {
        let request = StockRequest::parse(
            r#"{"ticker":"msft","from":"2026-10-01","to":"2026-10-31"}"#,
            parse_date("2026-11-24").unwrap(),
            WindowDays::DEFAULT,
        )
        .unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().to_utc();
        Job::new("req-1", "conn-1=", &request, at)
    }

    #[test]
    fn wire_shape_is_the_documented_one() {
        let json: serde_json::Value = serde_json::from_str(&job().to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "v": 1, "requestId": "req-1", "connectionId": "conn-1=", "ticker": "MSFT",
                "from": "2026-10-01", "to": "2026-10-31", "disconnect": true,
                "enqueuedAt": "2026-11-24T10:00:00Z"
            })
        );
    }

    #[test]
    fn round_trips() {
        let j = job();
        assert_eq!(Job::parse(&j.to_json()).unwrap(), j);
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let good = job().to_json();
        assert!(matches!(Job::parse("not json"), Err(JobError::Malformed(_))));
        assert!(matches!(Job::parse("{}"), Err(JobError::Malformed(_))));
        assert!(matches!(
            Job::parse(&good.replace("\"v\":1", "\"v\":2")),
            Err(JobError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            Job::parse(&good.replace("\"MSFT\"", "\"../x\"")),
            Err(JobError::Malformed(_))
        ));
        assert!(matches!(
            Job::parse(&good.replace("\"conn-1=\"", "\"\"")),
            Err(JobError::NoConnection)
        ));
        assert!(matches!(
            Job::parse(&good.replace("2026-10-01", "2026-12-01")),
            Err(JobError::Window(_))
        ));
    }

    #[test]
    fn a_job_from_the_previous_build_still_parses() {
        // Written before `progress` and `deferrals` existed.
        let old = r#"{"v":1,"requestId":"req-1","connectionId":"conn-1=","ticker":"MSFT","from":"2026-10-01","to":"2026-10-31","disconnect":true,"enqueuedAt":"2026-11-24T10:00:00Z"}"#;
        let job = Job::parse(old).unwrap();
        assert_eq!((job.progress, job.series, job.deferrals), (false, false, 0));
        assert_eq!(job, self::job());
        assert_eq!(job.to_json(), old, "and is written back byte for byte");
    }

    #[test]
    fn deferral_counts_and_keeps_everything_else() {
        let mut first = job();
        first.progress = true;
        let again = first.deferred().deferred();
        assert_eq!(again.deferrals, 2);
        assert_eq!(
            (&again.request_id, again.enqueued_at),
            (&first.request_id, first.enqueued_at)
        );
        let json: serde_json::Value = serde_json::from_str(&again.to_json()).unwrap();
        assert_eq!(
            (json["progress"].as_bool(), json["deferrals"].as_u64()),
            (Some(true), Some(2))
        );
        assert_eq!(Job::parse(&again.to_json()).unwrap(), again, "round trip");
    }

    #[test]
    fn a_request_for_the_series_is_carried_through_every_deferral() {
        let request = StockRequest::parse(
            r#"{"ticker":"MSFT","series":true}"#,
            parse_date("2026-11-24").unwrap(),
            WindowDays::DEFAULT,
        )
        .unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().to_utc();
        let job = Job::new("req-1", "conn-1=", &request, at).deferred();
        let json: serde_json::Value = serde_json::from_str(&job.to_json()).unwrap();
        assert_eq!(json["series"], true);
        assert!(Job::parse(&job.to_json()).unwrap().series);
    }

    #[test]
    fn disconnect_defaults_to_true() {
        let body = job().to_json().replace(",\"disconnect\":true", "");
        assert!(Job::parse(&body).unwrap().disconnect);
    }
}
