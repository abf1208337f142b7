//! The log contract: JSON lines, every line inside an invocation carrying the Lambda request id
//! and, in the worker, the SQS message id; the Polygon key in none of them.

use std::sync::Arc;
use std::time::Duration;

use stocks_core::adapters::{ApiKey, PolygonClient, RetryPolicy};
use stocks_core::handlers::{Worker, WorkerSettings};
use stocks_core::ports::CallbackUrl;
use stocks_testkit::{FakeConnections, FakeDeadLetters, FakeQueue, job_body, sqs_event, sqs_record};
use tracing::Instrument;
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "pk-very-secret-0042";

/// Log capture for one test thread.
///
/// tracing caches, per callsite and for the whole process, whether anyone listens; a
/// subscriber scoped to one thread (`set_default`) races with the other tests of this binary
/// hitting the same callsites on their threads, and loses lines. So the JSON subscriber is the
/// process's global one, and its writer keeps only what the capturing thread writes.
mod capture {
    use std::cell::RefCell;
    use std::io::Write;
    use std::sync::{Arc, Mutex, Once};

    use stocks_core::telemetry::json_subscriber;

    thread_local! {
        static BUFFER: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
    }

    /// Writes to this thread's buffer, if it is capturing; elsewhere, nowhere.
    struct ThisThread;

    impl Write for ThisThread {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            BUFFER.with(|b| {
                if let Some(buffer) = b.borrow().as_ref() {
                    buffer.lock().unwrap().extend_from_slice(buf);
                }
            });
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Starts capturing this thread's log lines (JSON, `debug` and up from our crates).
    pub fn start() -> Arc<Mutex<Vec<u8>>> {
        static GLOBAL: Once = Once::new();
        GLOBAL.call_once(|| {
            // The filter the functions build from RUST_LOG, outcome lines included.
            let filter = stocks_core::telemetry::filter(Some("stocks_core=debug,it=debug"));
            tracing::subscriber::set_global_default(json_subscriber(filter, || ThisThread))
                .expect("no other global subscriber in this test binary");
        });
        let buffer = Arc::new(Mutex::new(Vec::new()));
        BUFFER.with(|b| *b.borrow_mut() = Some(buffer.clone()));
        buffer
    }
}

#[tokio::test(flavor = "current_thread")]
async fn worker_lines_are_json_with_request_and_message_ids_and_no_key() {
    let logs = capture::start();

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
        Arc::new(FakeQueue::default()),
        Arc::new(FakeDeadLetters::default()),
        WorkerSettings::new(CallbackUrl::parse("https://x.example/prod").unwrap(), 3),
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

    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
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
    // One `job done` per record, naming its outcome: what the outcome metrics count.
    let mut outcomes: Vec<&str> = lines
        .iter()
        .filter(|l| l["message"] == "job done")
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["dead_lettered", "dead_lettered", "retry"]);
    let summary = lines.iter().find(|l| l["message"] == "batch done").unwrap();
    assert_eq!(
        (summary["records"].as_u64(), summary["outcomes"].as_str()),
        (Some(3), Some("dead_lettered=2 retry=1"))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_authorizer_logs_the_decision_and_token_id_never_a_token_or_hash() {
    use stocks_core::domain::TokenRecord;
    use stocks_core::handlers::Authorizer;
    use stocks_testkit::{FakeAccess, authorizer_request};

    let logs = capture::start();
    let access = Arc::new(FakeAccess::default());
    let (known, unknown) = (stocks_testkit::unknown_token(), stocks_testkit::unknown_token());
    access.insert(
        known.hash(),
        TokenRecord {
            token_id: known.hash().token_id(),
            name: "ci".into(),
            created_at: chrono::Utc::now(),
            rate_per_minute: 60,
            revoked_at: None,
        },
    );
    let authorizer = Authorizer::new(access);
    for token in [&known, &unknown] {
        authorizer
            .handle(authorizer_request(&format!("token={}", token.reveal())))
            .await
            .unwrap();
    }
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    for token in [&known, &unknown] {
        assert!(!text.contains(token.reveal()), "a token in the logs:\n{text}");
        assert!(!text.contains(&token.hash().to_hex()), "a hash in the logs:\n{text}");
    }
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let decisions: Vec<(&str, Option<&str>)> = lines
        .iter()
        .map(|l| (l["decision"].as_str().unwrap_or_default(), l["tokenId"].as_str()))
        .collect();
    assert_eq!(
        decisions,
        [("allow", Some(known.hash().token_id().as_str())), ("deny", None)],
        "{text}"
    );
    assert_eq!(lines[1]["reason"], "unknown");
}
