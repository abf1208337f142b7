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
    /// The `failureReason` attribute's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::UpstreamRejected => "UPSTREAM_REJECTED",
            Self::InvalidJob => "INVALID_JOB",
            Self::QuotaExhausted => "QUOTA_EXHAUSTED",
        }
    }

    /// The reason a `failureReason` value names.
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
    /// Why the worker gave up.
    pub reason: FailureReason,
    /// One line for operators; never a secret.
    pub detail: String,
    /// Deliveries so far (`ApproximateReceiveCount`).
    pub attempts: u32,
    /// When the worker gave up.
    pub failed_at: DateTime<Utc>,
}

/// One message attribute of a dead letter: its name, its SQS data type and its value.
pub type Attribute = (&'static str, &'static str, String);

impl DeadLetter {
    /// The longest [`attribute::FAILURE_DETAIL`] kept, in bytes.
    pub const MAX_DETAIL_BYTES: usize = 1024;

    /// Its failure as message attributes ([`attribute`]): what operators see beside the body,
    /// in SQS and in the local stack's DLQ alike.
    pub fn attributes(&self) -> [Attribute; 4] {
        [
            (attribute::FAILURE_REASON, "String", self.reason.as_str().to_owned()),
            (
                attribute::FAILURE_DETAIL,
                "String",
                truncate(&self.detail, Self::MAX_DETAIL_BYTES).to_owned(),
            ),
            (
                attribute::FAILED_AT,
                "String",
                self.failed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
            (attribute::ATTEMPTS, "Number", self.attempts.to_string()),
        ]
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_travels_as_four_attributes_with_the_detail_cut_short() {
        let letter = DeadLetter {
            body: "{}".into(),
            reason: FailureReason::QuotaExhausted,
            detail: "é".repeat(600),
            attempts: 3,
            failed_at: DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().to_utc(),
        };
        let [reason, detail, failed_at, attempts] = letter.attributes();
        assert_eq!(reason, ("failureReason", "String", "QUOTA_EXHAUSTED".to_owned()));
        assert_eq!(detail.2.len(), 1024, "600 two-byte characters, cut at a boundary");
        assert_eq!(failed_at.2, "2026-11-24T10:00:00.000Z");
        assert_eq!(attempts, ("attempts", "Number", "3".to_owned()));
    }
}
