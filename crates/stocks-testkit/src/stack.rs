//! [`Stack`]: the local stack serving in the test's process on a free port, and its HTTP APIs.

use std::time::Duration;

use stocks_core::adapters::RetryPolicy;
use stocks_local::{LocalConfig, QueueMode, Running, StartError, Stats};

use crate::PATIENCE;
use crate::moto::{MotoServer, Queues};
use crate::ws::Ws;

/// A running local stack, stopped on drop.
pub struct Stack {
    running: Running,
    http: reqwest::Client,
}

/// The defaults, with a worker retry policy fast enough for tests.
pub fn fast_config() -> LocalConfig {
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

/// `--queue sqs` against moto's jobs queue and DLQ.
pub fn moto_queue(moto: &MotoServer, queues: &Queues) -> QueueMode {
    QueueMode::Sqs {
        endpoint: Some(moto.endpoint().to_owned()),
        region: None,
        queue_url: queues.jobs_url.clone(),
        dlq_url: queues.dlq_url.clone(),
    }
}

impl Stack {
    pub async fn start(config: LocalConfig) -> Self {
        Self {
            running: Running::start(config).await.expect("a free loopback port"),
            http: reqwest::Client::new(),
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.running.addr
    }

    pub fn stage(&self) -> &str {
        &self.running.stage
    }

    pub fn ws_url(&self) -> String {
        self.running.ws_url()
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `POST /_local/tokens` (`--auth tokens`): a new token, shown this once.
    pub async fn create_token(&self, name: &str, rate_per_minute: u32) -> String {
        let response = self
            .http
            .post(self.http_url("/_local/tokens"))
            .json(&serde_json::json!({"name": name, "ratePerMinute": rate_per_minute}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
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
        self.set_faults(rate, 0).await;
    }

    /// Sets the demo market's failure rate, and fails its next `fail_next` answers with 503s.
    pub async fn set_faults(&self, rate: f64, fail_next: u64) {
        let answer: serde_json::Value = self
            .http
            .put(self.http_url("/_local/faults"))
            .json(&serde_json::json!({"rate": rate, "failNext": fail_next}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (answer["rate"].as_f64(), answer["failNext"].as_u64()),
            (Some(rate), Some(fail_next))
        );
    }

    pub async fn connect(&self) -> Ws {
        crate::ws::connect(&self.ws_url()).await
    }

    /// The only open connection's id (fails unless exactly one is open).
    pub async fn only_connection_id(&self) -> String {
        self.wait_for_stats("one connection", |s| s.connections == 1).await;
        let list: serde_json::Value = self.get_json("/_local/connections").await;
        list[0]["connectionId"].as_str().unwrap().to_owned()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(self) -> Result<(), StartError> {
        tokio::time::timeout(PATIENCE, self.running.stop())
            .await
            .expect("stops in time")
    }
}
