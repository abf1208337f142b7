//! The queue, the dead-letter queue and API Gateway's `@connections` API, and API Gateway's
//! WebSocket limits that bound them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::BoxError;
use crate::domain::{ClientMessage, DeadLetter, Job};

/// SQS's longest `DelaySeconds`, 15 minutes: the most [`JobQueue::send_delayed`] can wait.
pub const MAX_DELAY_SECS: u32 = 900;

/// API Gateway closes every WebSocket connection this long after it opened, whatever it does:
/// nothing posted to a connection older than this can arrive.
pub const CONNECTION_MAX_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// API Gateway closes a WebSocket connection that carries no message, either way, this long.
pub const CONNECTION_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// API Gateway's largest WebSocket frame, 32 KB.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// API Gateway's largest WebSocket message (all its frames), 128 KB: what one
/// [`Connections::post`] may carry.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// Queues a job for the worker: the ingress sends new ones; the worker sends back those that
/// wait for market quota, delayed.
pub trait JobQueue: Send + Sync {
    /// Sends a new job, visible to receivers at once.
    fn send(&self, job: &Job) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Sends `job`, invisible to receivers for `delay_secs` seconds (SQS `DelaySeconds`,
    /// at most [`MAX_DELAY_SECS`]; more is capped).
    fn send_delayed(&self, job: &Job, delay_secs: u32) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Parks a job the worker gave up on, with its failure attributes (worker side).
pub trait DeadLetters: Send + Sync {
    /// Parks `letter` in the dead-letter queue, its failure as message attributes.
    fn dead_letter(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// API Gateway's `@connections` management API: talk to, and hang up on, a client.
pub trait Connections: Send + Sync {
    /// Sends `message` to the client on `connection_id`.
    fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send;

    /// Hangs up on the client on `connection_id`.
    fn delete(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send;
}

/// Why a queue operation failed, sorted by what an operator must fix. Each names the queue
/// (its URL, or its ARN for move tasks).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A wrong URL, another account or region, or a deleted queue.
    #[error("no such queue: {queue}")]
    NoSuchQueue {
        /// The queue's URL or ARN.
        queue: String,
    },
    /// The credentials in use may not do this to the queue (IAM, or the queue's KMS key).
    #[error("access denied to {queue}: check the AWS credentials and their permissions")]
    AccessDenied {
        /// The queue's URL or ARN.
        queue: String,
        /// What SQS said.
        #[source]
        source: BoxError,
    },
    /// No answer at all: DNS, a refused connection, a timeout.
    #[error("cannot reach SQS for {queue}")]
    Unreachable {
        /// The queue's URL or ARN.
        queue: String,
        /// What the connection said.
        #[source]
        source: BoxError,
    },
    /// SQS answered, refusing the request for another reason (throttling, a bad value).
    #[error("SQS refused a request on {queue}")]
    Refused {
        /// The queue's URL or ARN.
        queue: String,
        /// What SQS said.
        #[source]
        source: BoxError,
    },
}

/// Why `@connections` failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// 410 Gone: the client disconnected (or never existed). Final; never worth a retry.
    #[error("the connection is gone")]
    Gone,
    /// Anything else: the call failed, and may succeed later.
    #[error("the @connections API request failed")]
    Failed(#[source] BoxError),
}

/// Base URL of an `@connections` API: `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`
/// in AWS, `http://127.0.0.1:8080/local` locally. No trailing slash.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallbackUrl(Arc<str>);

/// A callback URL that is not an absolute http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("callback URL must be an absolute http(s) URL, got {0:?}")]
pub struct InvalidCallbackUrl(String);

impl CallbackUrl {
    /// An absolute http(s) URL, without its trailing slash.
    pub fn parse(url: &str) -> Result<Self, InvalidCallbackUrl> {
        let trimmed = url.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        match rest {
            Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(Self(trimmed.into())),
            _ => Err(InvalidCallbackUrl(url.to_owned())),
        }
    }

    /// What API Gateway itself would use: `https://{domainName}/{stage}` from the event.
    pub fn from_request(domain_name: &str, stage: &str) -> Option<Self> {
        if domain_name.is_empty() || stage.is_empty() {
            return None;
        }
        Self::parse(&format!("https://{domain_name}/{stage}")).ok()
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CallbackUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// Shared adapters: tests and the local gateway keep a handle on the same instance the handler
// uses.
impl<T: JobQueue> JobQueue for Arc<T> {
    fn send(&self, job: &Job) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send(job)
    }

    fn send_delayed(&self, job: &Job, delay_secs: u32) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).send_delayed(job, delay_secs)
    }
}

impl<T: DeadLetters> DeadLetters for Arc<T> {
    fn dead_letter(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), QueueError>> + Send {
        (**self).dead_letter(letter)
    }
}

impl<T: Connections> Connections for Arc<T> {
    fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send {
        (**self).post(callback, connection_id, message)
    }

    fn delete(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send {
        (**self).delete(callback, connection_id)
    }
}
