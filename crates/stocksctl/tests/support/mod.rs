//! Starts the local stack in-process on port 0 and talks to it with a real WebSocket client.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use stocks_core::adapters::RetryPolicy;
use stocks_core::domain::ClientMessage;
use stocks_testkit::{MotoServer, Queues};
use stocksctl::local::gateway::Stats;
use stocksctl::local::{LocalConfig, QueueMode, StartError, serve};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running local stack, stopped on drop.
pub struct Stack {
    pub addr: SocketAddr,
    pub stage: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartError>>>,
    http: reqwest::Client,
}

/// `--queue sqs` against moto's jobs queue and DLQ.
pub fn moto_queue(moto: &MotoServer, queues: &Queues) -> QueueMode {
    QueueMode::Sqs {
        endpoint: Some(moto.endpoint().to_owned()),
        region: None,
        queue_url: queues.jobs_url.clone(),
        dlq_url: queues.dlq_url.clone(),
    }
}

/// The defaults, with a worker retry policy fast enough for tests.
pub fn config() -> LocalConfig {
    LocalConfig {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_secs(2),
            request_timeout: Duration::from_millis(500),
            budget: Duration::from_secs(5),
        },
        ..LocalConfig::default()
    }
}

impl Stack {
    pub async fn start(config: LocalConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stage = config.stage.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stage,
            stop: Some(stop),
            task: Some(task),
            http: reqwest::Client::new(),
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.stage)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.http
            .get(self.http_url(path))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn stats(&self) -> Stats {
        self.get_json("/_local/stats").await
    }

    /// Polls the stats until `done` holds (or fails the test).
    pub async fn wait_for_stats(&self, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let stats = self.stats().await;
            if done(&stats) {
                return stats;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Changes the demo market's failure rate while serving (`PUT /_local/faults`).
    pub async fn set_fault_rate(&self, rate: f64) {
        let answer: serde_json::Value = self
            .http
            .put(self.http_url("/_local/faults"))
            .json(&serde_json::json!({"rate": rate}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["rate"], rate);
    }

    pub async fn connect(&self) -> Ws {
        tokio_tungstenite::connect_async(self.ws_url())
            .await
            .expect("connects")
            .0
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) -> Result<(), StartError> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(PATIENCE, self.task.take().unwrap())
            .await
            .expect("stops in time")
            .unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// The next text frame as a client message (fails on close or timeout).
pub async fn next_message(ws: &mut Ws) -> ClientMessage {
    let text = next_text(ws).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a client message ({e}): {text}"))
}

pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Waits for the server's close frame; returns it.
pub async fn expect_close(ws: &mut Ws) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(Message::Text(text))) => panic!("expected a close, got {text}"),
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("expected a close frame, got error {err}"),
            None => panic!("stream ended without a close frame"),
        }
    }
}

/// Sends `request`, expects the 202, then returns the terminal message.
pub async fn request(ws: &mut Ws, body: &str) -> (ClientMessage, ClientMessage) {
    send(ws, body).await;
    let ack = next_message(ws).await;
    assert_eq!(ack.status_code, 202, "{ack:?}");
    let last = next_message(ws).await;
    (ack, last)
}

/// `stocksctl dlq replay --execute` of everything in `dlq_url` back to `jobs_url`.
pub async fn replay_everything(sqs: &aws_sdk_sqs::Client, dlq_url: &str, jobs_url: &str) -> stocksctl::dlq::Summary {
    use stocksctl::dlq::{Queue, ReplayOptions, Selection, replay};
    let options = ReplayOptions {
        selection: Selection::default(),
        execute: true,
        max: None,
        rate: 500.0,
    };
    let (summary, _) = replay(
        &Queue::new(sqs.clone(), dlq_url),
        &Queue::new(sqs.clone(), jobs_url),
        &options,
    )
    .await
    .unwrap();
    summary
}
