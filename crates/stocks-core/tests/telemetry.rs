//! The log contract: JSON lines, every line inside an invocation carrying the Lambda request id
//! and, in the worker, the SQS message id; the Polygon key in none of them.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stocks_core::adapters::{ApiKey, PolygonClient, RetryPolicy};
use stocks_core::handlers::Worker;
use stocks_core::ports::CallbackUrl;
use stocks_core::telemetry::json_subscriber;
use support::{FakeConnections, FakeDeadLetters, job_body, sqs_event, sqs_record};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "pk-very-secret-0042";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn worker_lines_are_json_with_request_and_message_ids_and_no_key() {
    let logs = Captured::default();
    let _guard = tracing::subscriber::set_default(json_subscriber(EnvFilter::new("debug"), logs.clone()));

    let polygon = MockServer::start().await;
    Mock::given(path_regex("^/v2/aggs/ticker/MSFT/"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&polygon)
        .await;
    Mock::given(path_regex("^/v2/aggs/ticker/AAPL/"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&polygon)
        .await;
    let policy = RetryPolicy {
        base_delay: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let worker = Worker::new(
        PolygonClient::new(&polygon.uri(), &ApiKey::new(KEY).unwrap(), policy).unwrap(),
        Arc::new(FakeConnections::default()),
        Arc::new(FakeDeadLetters::default()),
        CallbackUrl::parse("https://x.example/prod").unwrap(),
        3,
    );
    let event = sqs_event(vec![
        sqs_record("msg-500", &job_body("MSFT", "c1", true), 1),
        sqs_record("msg-401", &job_body("AAPL", "c2", true), 1),
        sqs_record("msg-bad", "nonsense", 1),
    ]);
    // lambda_runtime wraps every invocation in this span.
    worker
        .handle(event)
        .instrument(tracing::info_span!("Lambda runtime invoke", requestId = "lambda-req-7"))
        .await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!text.contains(KEY), "the key leaked into the logs");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 6, "{text}");

    let mut per_record = std::collections::HashMap::<String, usize>::new();
    for line in &lines {
        let spans = line["spans"].as_array().unwrap_or_else(|| panic!("no spans: {line}"));
        assert_eq!(spans[0]["requestId"], "lambda-req-7", "{line}");
        if let Some(record) = spans.iter().find(|s| s["name"] == "record") {
            *per_record
                .entry(record["messageId"].as_str().unwrap().to_owned())
                .or_default() += 1;
        } else {
            assert_eq!(
                line["message"], "batch done",
                "only the batch summary is outside a record: {line}"
            );
        }
    }
    for id in ["msg-500", "msg-401", "msg-bad"] {
        assert!(
            per_record.get(id).copied().unwrap_or(0) >= 2,
            "{id} lines: {per_record:?}"
        );
    }
    let summary = lines.iter().find(|l| l["message"] == "batch done").unwrap();
    assert_eq!(
        (
            summary["records"].as_u64(),
            summary["retry"].as_u64(),
            summary["dead_lettered"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
}
