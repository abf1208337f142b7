//! Hand-written in-memory fakes of the ports, and event fixtures, for the integration tests.
//!
//! The fakes share one [`Journal`] so a test can assert the order things happened in across
//! ports (the 202 is posted before the job is queued).

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::Value;
use stocks_core::domain::{ClientMessage, DeadLetter, Job};
use stocks_core::ports::{CallbackUrl, ConnectionError, Connections, DeadLetters, JobQueue, QueueError};

/// What happened, in order, across every fake sharing it.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A job queue that keeps what it is sent, or refuses everything when `failing`.
#[derive(Default)]
pub struct FakeQueue {
    pub journal: Journal,
    pub jobs: Mutex<Vec<Job>>,
    pub failing: bool,
}

impl FakeQueue {
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap().clone()
    }
}

impl JobQueue for FakeQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        if self.failing {
            self.journal.push("send:refused".into());
            return Err(QueueError::Unavailable("simulated SQS outage".into()));
        }
        self.journal.push(format!("send:{}", job.ticker));
        self.jobs.lock().unwrap().push(job.clone());
        Ok(())
    }
}

/// A dead-letter queue that keeps what it is sent, or refuses everything when `failing`.
#[derive(Default)]
pub struct FakeDeadLetters {
    pub journal: Journal,
    pub letters: Mutex<Vec<DeadLetter>>,
    pub failing: bool,
}

impl FakeDeadLetters {
    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().unwrap().clone()
    }
}

impl DeadLetters for FakeDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        if self.failing {
            self.journal.push("dead_letter:refused".into());
            return Err(QueueError::Unavailable("simulated SQS outage".into()));
        }
        self.journal.push(format!("dead_letter:{}", letter.reason));
        self.letters.lock().unwrap().push(letter.clone());
        Ok(())
    }
}

/// `@connections`: records posts and deletes; ids in `gone` answer 410; `failing` answers
/// every call with a non-410 error.
#[derive(Default)]
pub struct FakeConnections {
    pub journal: Journal,
    pub posts: Mutex<Vec<(CallbackUrl, String, ClientMessage)>>,
    pub deleted: Mutex<Vec<String>>,
    pub gone: Mutex<HashSet<String>>,
    pub failing: bool,
}

impl FakeConnections {
    pub fn mark_gone(&self, connection_id: &str) {
        self.gone.lock().unwrap().insert(connection_id.to_owned());
    }

    /// Messages posted to one connection, in order.
    pub fn messages_to(&self, connection_id: &str) -> Vec<ClientMessage> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, id, _)| id == connection_id)
            .map(|(_, _, m)| m.clone())
            .collect()
    }

    pub fn all_messages(&self) -> Vec<ClientMessage> {
        self.posts.lock().unwrap().iter().map(|(_, _, m)| m.clone()).collect()
    }

    pub fn callbacks(&self) -> Vec<String> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _, _)| c.to_string())
            .collect()
    }

    pub fn deleted(&self) -> Vec<String> {
        self.deleted.lock().unwrap().clone()
    }
}

impl Connections for FakeConnections {
    async fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> Result<(), ConnectionError> {
        if self.failing {
            self.journal.push(format!("post:{}:refused", message.status_code));
            return Err(ConnectionError::Failed("simulated 500 from @connections".into()));
        }
        if self.gone.lock().unwrap().contains(connection_id) {
            self.journal.push(format!("post:{}:gone", message.status_code));
            return Err(ConnectionError::Gone);
        }
        self.journal.push(format!("post:{}", message.status_code));
        self.posts
            .lock()
            .unwrap()
            .push((callback.clone(), connection_id.to_owned(), message.clone()));
        Ok(())
    }

    async fn delete(&self, _callback: &CallbackUrl, connection_id: &str) -> Result<(), ConnectionError> {
        if self.gone.lock().unwrap().contains(connection_id) {
            return Err(ConnectionError::Gone);
        }
        self.journal.push("delete".into());
        self.deleted.lock().unwrap().push(connection_id.to_owned());
        Ok(())
    }
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The `stocksaction` fixture with another body (and route key).
pub fn websocket_message(route: &str, body: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut event = fixture("websocket-stocksaction.json");
    event["requestContext"]["routeKey"] = route.into();
    event["body"] = body.into();
    serde_json::from_value(event).unwrap()
}

/// One SQS record shaped like the fixture, with this id, body and receive count.
pub fn sqs_record(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut record = fixture("sqs-job.json")["Records"][0].clone();
    record["messageId"] = message_id.into();
    record["body"] = body.into();
    record["attributes"]["ApproximateReceiveCount"] = receive_count.to_string().into();
    serde_json::from_value(record).unwrap()
}

pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// A job body for `ticker` over October 2026 on connection `conn`.
pub fn job_body(ticker: &str, conn: &str, disconnect: bool) -> String {
    serde_json::json!({
        "v": 1, "requestId": format!("req-{conn}"), "connectionId": conn, "ticker": ticker,
        "from": "2026-10-01", "to": "2026-10-31", "disconnect": disconnect,
        "enqueuedAt": "2026-11-24T10:00:00Z"
    })
    .to_string()
}
