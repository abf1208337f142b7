//! A job the worker gave up on, and why — what operators see in the dead-letter queue.
//!
//! The original body is kept byte for byte (so a replay re-runs exactly the same job) and the
//! failure travels beside it as SQS message attributes named in [`attribute`].

use chrono::{DateTime, Utc};

/// Why a job was dead-lettered by the worker itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// Polygon kept failing (429, 5xx, timeouts, bad JSON) through the last attempt.
    UpstreamUnavailable,
    /// Polygon refused the request outright (401/403: a bad or expired key, a plan limit).
    UpstreamRejected,
    /// The message is not a job this build can read.
    InvalidJob,
    /// The job waited for market quota longer than `MAX_JOB_AGE_SECS`.
    QuotaExhausted,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::UpstreamRejected => "UPSTREAM_REJECTED",
            Self::InvalidJob => "INVALID_JOB",
            Self::QuotaExhausted => "QUOTA_EXHAUSTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::UpstreamUnavailable,
            Self::UpstreamRejected,
            Self::InvalidJob,
            Self::QuotaExhausted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SQS message attribute names carried by a dead letter.
pub mod attribute {
    /// [`super::FailureReason`] as a string.
    pub const FAILURE_REASON: &str = "failureReason";
    /// One line for operators, e.g. `polygon answered HTTP 503 (3 tries)`; never a secret.
    pub const FAILURE_DETAIL: &str = "failureDetail";
    /// RFC 3339 time the worker gave up.
    pub const FAILED_AT: &str = "failedAt";
    /// How many times SQS had delivered the job (`ApproximateReceiveCount`).
    pub const ATTEMPTS: &str = "attempts";
}

/// A job on its way to the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The SQS body exactly as received.
    pub body: String,
    pub reason: FailureReason,
    pub detail: String,
    pub attempts: u32,
    pub failed_at: DateTime<Utc>,
}
