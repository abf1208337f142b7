//! What `stocksctl dlq replay` does with each message: the whole policy, pure.
//!
//! [`Selection::decide`] looks only at the message and the time; the operations in
//! [`super::ops`] carry its decisions out.

use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use chrono::{DateTime, Utc};
use serde::Serialize;
use stocks_core::domain::{Job, Ticker, attribute};

/// API Gateway closes every WebSocket connection this long after it opened: a job older than
/// that has no client to answer.
pub const STALE_AFTER: Duration = stocks_core::ports::CONNECTION_MAX_LIFETIME;

/// One message of the DLQ, as received, and the job in it when there is one.
#[derive(Clone, Debug)]
pub struct DeadMessage {
    /// Exactly as SQS gave it: a replay sends its body and attributes on unchanged.
    pub message: SqsMessage,
    /// The job, when the body is one this build can read.
    pub job: Option<Job>,
}

impl DeadMessage {
    pub fn new(message: SqsMessage) -> Self {
        Self {
            job: message.body.as_deref().and_then(|b| Job::parse(b).ok()),
            message,
        }
    }

    pub fn id(&self) -> &str {
        self.message.message_id.as_deref().unwrap_or_default()
    }

    pub fn body(&self) -> &str {
        self.message.body.as_deref().unwrap_or_default()
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.message.message_attributes.get(name)?.string_value.as_deref()
    }

    /// The worker's reason, or none when SQS's redrive moved it (a crash or timeout).
    pub fn failure_reason(&self) -> Option<&str> {
        self.attribute(attribute::FAILURE_REASON)
    }

    /// When the message was first sent (to the jobs queue, for redriven jobs).
    pub fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.message
            .attributes
            .get("SentTimestamp")
            .and_then(|t| t.parse().ok())
            .and_then(DateTime::from_timestamp_millis)
    }

    /// SQS's count of deliveries, this listing included.
    pub fn receive_count(&self) -> u32 {
        self.message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Since the client asked (`enqueuedAt`), or since SQS first had it for non-jobs.
    pub fn age(&self, now: DateTime<Utc>) -> Option<Duration> {
        let since = self.job.as_ref().map(|j| j.enqueued_at).or_else(|| self.sent_at())?;
        (now - since).to_std().ok().or(Some(Duration::ZERO))
    }
}

/// What `replay` should do with each message.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only these tickers (any, when empty).
    pub tickers: Vec<Ticker>,
    pub older_than: Option<Duration>,
    pub newer_than: Option<Duration>,
    /// Delete jobs older than [`STALE_AFTER`] instead of replaying them.
    pub skip_stale: bool,
    /// Replay messages that are not jobs too (the worker will dead-letter them again).
    pub include_foreign: bool,
}

/// The fate of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Send to the jobs queue, then delete from the DLQ.
    Replay,
    /// Delete from the DLQ: its client is certainly gone (`--skip-stale`).
    DropStale,
    /// Not a job; left alone.
    SkipForeign,
    /// Left alone: filtered out.
    SkipFiltered,
    /// Left alone: `--max` messages were already moved.
    SkipOverMax,
}

impl Selection {
    /// The whole replay policy.
    pub fn decide(&self, m: &DeadMessage, now: DateTime<Utc>) -> Decision {
        let age = m.age(now);
        let Some(job) = &m.job else {
            return if self.include_foreign && self.tickers.is_empty() && self.age_ok(age) {
                Decision::Replay
            } else {
                Decision::SkipForeign
            };
        };
        if !self.tickers.is_empty() && !self.tickers.contains(&job.ticker) {
            return Decision::SkipFiltered;
        }
        if !self.age_ok(age) {
            return Decision::SkipFiltered;
        }
        if self.skip_stale && age.is_some_and(|a| a > STALE_AFTER) {
            return Decision::DropStale;
        }
        Decision::Replay
    }

    fn age_ok(&self, age: Option<Duration>) -> bool {
        let Some(age) = age else {
            return self.older_than.is_none() && self.newer_than.is_none();
        };
        self.older_than.is_none_or(|min| age > min) && self.newer_than.is_none_or(|max| age < max)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeDelta;

    use super::*;

    const NOW: &str = "2026-11-24T12:00:00Z";

    pub(crate) fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(NOW).unwrap().to_utc()
    }

    fn message(id: &str, body: &str, sent_at: DateTime<Utc>) -> DeadMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = Some(body.to_owned());
        m.attributes
            .insert("SentTimestamp".into(), sent_at.timestamp_millis().to_string());
        m.attributes.insert("ApproximateReceiveCount".into(), "1".into());
        DeadMessage::new(m)
    }

    pub(crate) fn dead(ticker: &str, age_minutes: i64) -> DeadMessage {
        let enqueued = now() - TimeDelta::minutes(age_minutes);
        let body = serde_json::json!({
            "v": 1, "requestId": "r", "connectionId": "c", "ticker": ticker, "from": "2026-10-01",
            "to": "2026-10-31", "disconnect": true, "enqueuedAt": enqueued.to_rfc3339()
        })
        .to_string();
        message(&format!("{ticker}-{age_minutes}"), &body, enqueued)
    }

    pub(crate) fn foreign(age_minutes: i64) -> DeadMessage {
        message("foreign", "hello", now() - TimeDelta::minutes(age_minutes))
    }

    pub(crate) fn with_reason(mut m: DeadMessage, reason: &str) -> DeadMessage {
        let mut value = aws_lambda_events::sqs::SqsMessageAttribute::default();
        value.data_type = Some("String".into());
        value.string_value = Some(reason.into());
        m.message
            .message_attributes
            .insert(attribute::FAILURE_REASON.into(), value);
        m
    }

    fn tickers(list: &[&str]) -> Vec<Ticker> {
        list.iter().map(|t| Ticker::parse(t).unwrap()).collect()
    }

    #[test]
    fn by_default_every_job_is_replayed_and_foreign_messages_left_alone() {
        let s = Selection::default();
        assert_eq!(s.decide(&dead("MSFT", 5), now()), Decision::Replay);
        assert_eq!(
            s.decide(&dead("MSFT", 60 * 24), now()),
            Decision::Replay,
            "stale jobs too, unless --skip-stale"
        );
        assert_eq!(s.decide(&foreign(5), now()), Decision::SkipForeign);
    }

    #[test]
    fn ticker_filter() {
        let s = Selection {
            tickers: tickers(&["AAPL", "KO"]),
            ..Selection::default()
        };
        assert_eq!(s.decide(&dead("AAPL", 5), now()), Decision::Replay);
        assert_eq!(s.decide(&dead("MSFT", 5), now()), Decision::SkipFiltered);
        let s = Selection {
            include_foreign: true,
            ..s
        };
        assert_eq!(
            s.decide(&foreign(5), now()),
            Decision::SkipForeign,
            "a ticker filter never matches a non-job"
        );
    }

    #[test]
    fn age_filters_are_strict_bounds() {
        let older = Selection {
            older_than: Some(Duration::from_secs(30 * 60)),
            ..Selection::default()
        };
        assert_eq!(older.decide(&dead("MSFT", 31), now()), Decision::Replay);
        assert_eq!(older.decide(&dead("MSFT", 29), now()), Decision::SkipFiltered);
        let newer = Selection {
            newer_than: Some(Duration::from_secs(30 * 60)),
            ..Selection::default()
        };
        assert_eq!(newer.decide(&dead("MSFT", 29), now()), Decision::Replay);
        assert_eq!(newer.decide(&dead("MSFT", 31), now()), Decision::SkipFiltered);
        let band = Selection {
            older_than: Some(Duration::from_secs(600)),
            ..newer
        };
        assert_eq!(band.decide(&dead("MSFT", 5), now()), Decision::SkipFiltered);
        assert_eq!(band.decide(&dead("MSFT", 15), now()), Decision::Replay);
    }

    #[test]
    fn skip_stale_drops_jobs_past_the_connection_limit() {
        let s = Selection {
            skip_stale: true,
            ..Selection::default()
        };
        assert_eq!(s.decide(&dead("MSFT", 119), now()), Decision::Replay);
        assert_eq!(s.decide(&dead("MSFT", 121), now()), Decision::DropStale);
        // Filters come first: a filtered-out stale job is left alone, not dropped.
        let s = Selection {
            tickers: tickers(&["AAPL"]),
            ..s
        };
        assert_eq!(s.decide(&dead("MSFT", 500), now()), Decision::SkipFiltered);
    }

    #[test]
    fn include_foreign_replays_non_jobs_subject_to_age() {
        let s = Selection {
            include_foreign: true,
            newer_than: Some(Duration::from_secs(3600)),
            ..Selection::default()
        };
        assert_eq!(s.decide(&foreign(5), now()), Decision::Replay);
        assert_eq!(s.decide(&foreign(120), now()), Decision::SkipForeign);
    }

    #[test]
    fn age_is_from_enqueued_at_for_jobs_and_sent_at_otherwise() {
        let mut m = dead("MSFT", 10);
        m.message.attributes.insert(
            "SentTimestamp".into(),
            (now() - TimeDelta::minutes(500)).timestamp_millis().to_string(),
        );
        assert_eq!(m.age(now()), Some(Duration::from_secs(600)));
        assert_eq!(foreign(42).age(now()), Some(Duration::from_secs(42 * 60)));
    }
}
