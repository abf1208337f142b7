//! `SqsQueue` against moto server, a real implementation of the SQS JSON protocol: send,
//! receive, delete, redrive to the DLQ after `maxReceiveCount`, and the worker dead-lettering a
//! job itself with its failure attributes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use stocks_core::adapters::{ApiKey, PolygonClient, RetryPolicy, SqsQueue};
use stocks_core::domain::{ErrorCode, Job, WindowDays, attribute};
use stocks_core::handlers::{Ingress, IngressOutcome, Outcome, Worker, WorkerSettings};
use stocks_core::ports::CallbackUrl;
use stocks_testkit::MotoServer;
use stocks_testkit::{FakeConnections, job_body, websocket_message};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Creates a DLQ and a jobs queue redriving to it after `max_receive` receives.
async fn queues(moto: &MotoServer, name: &str, max_receive: u32) -> (SqsQueue, SqsQueue) {
    let q = moto.jobs_and_dlq(name, Some(max_receive), Some(30)).await;
    let sqs = moto.sqs_client();
    (SqsQueue::new(sqs.clone(), q.jobs_url), SqsQueue::new(sqs, q.dlq_url))
}

fn ingress(
    queue: &SqsQueue,
    connections: Arc<FakeConnections>,
) -> Ingress<SqsQueue, Arc<FakeConnections>, stocks_core::handlers::NoAccessControl> {
    Ingress::open(
        queue.clone(),
        connections,
        Some(CallbackUrl::parse("https://x.example/prod").unwrap()),
        WindowDays::DEFAULT,
    )
}

#[tokio::test]
async fn jobs_round_trip_through_sqs() {
    let moto = MotoServer::start();
    let (jobs, _dlq) = queues(&moto, "roundtrip", 3).await;
    let connections = Arc::new(FakeConnections::default());
    let outcome = ingress(&jobs, connections.clone())
        .process(&websocket_message(
            "stocksaction",
            r#"{"action":"stocksaction","ticker":"aapl","disconnect":false}"#,
        ))
        .await
        .unwrap();
    assert_eq!(outcome, IngressOutcome::Accepted);

    let received = jobs.receive(10, Duration::from_secs(1), None).await.unwrap();
    assert_eq!(received.len(), 1);
    let record = &received[0];
    assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
    let job = Job::parse(record.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (job.ticker.as_str(), job.connection_id.as_str(), job.disconnect),
        ("AAPL", "TWegAcC4EowCHnA=", false)
    );

    jobs.delete(record.receipt_handle.as_deref().unwrap()).await.unwrap();
    assert!(
        jobs.receive(10, Duration::ZERO, NOW).await.unwrap().is_empty(),
        "deleted messages are gone"
    );
}

#[tokio::test]
async fn sqs_redrives_to_the_dlq_after_max_receive_count() {
    let moto = MotoServer::start();
    let (jobs, dlq) = queues(&moto, "redrive", 2).await;
    let job = job_body("MSFT", "c1", true);
    jobs.send_message(&job, &HashMap::new(), None).await.unwrap();

    for expected in ["1", "2"] {
        let got = jobs.receive(1, Duration::ZERO, NOW).await.unwrap();
        assert_eq!(got[0].attributes["ApproximateReceiveCount"], expected);
    }
    assert!(
        jobs.receive(1, Duration::ZERO, NOW).await.unwrap().is_empty(),
        "third receive finds it moved"
    );
    let parked = dlq.receive(10, Duration::ZERO, None).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body.as_deref(), Some(job.as_str()));
}

#[tokio::test]
async fn the_worker_dead_letters_on_the_last_attempt_with_failure_attributes() {
    let moto = MotoServer::start();
    let (jobs, dlq) = queues(&moto, "worker", 2).await;
    let polygon = MockServer::start().await;
    Mock::given(path_regex("^/v2/aggs/"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&polygon)
        .await;

    let connections = Arc::new(FakeConnections::default());
    ingress(&jobs, connections.clone())
        .process(&websocket_message("stocksaction", r#"{"ticker":"MSFT"}"#))
        .await
        .unwrap();

    let policy = RetryPolicy {
        base_delay: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    let worker = Worker::new(
        PolygonClient::new(&polygon.uri(), &ApiKey::new("k").unwrap(), policy).unwrap(),
        connections.clone(),
        jobs.clone(),
        dlq.clone(),
        WorkerSettings::new(CallbackUrl::parse("https://x.example/prod").unwrap(), 2),
    );

    // First delivery: transient failure, left to SQS.
    let first = jobs.receive(10, Duration::ZERO, NOW).await.unwrap();
    assert_eq!(worker.process_batch(&first).await, [Outcome::Retry]);
    assert!(dlq.receive(10, Duration::ZERO, NOW).await.unwrap().is_empty());

    // Second (= last) delivery: the worker parks it in the DLQ itself, then the mapping deletes it.
    let second = jobs.receive(10, Duration::ZERO, None).await.unwrap();
    assert_eq!(second[0].attributes["ApproximateReceiveCount"], "2");
    assert!(matches!(
        worker.process_batch(&second).await[..],
        [Outcome::DeadLettered]
    ));
    jobs.delete(second[0].receipt_handle.as_deref().unwrap()).await.unwrap();

    let parked = dlq.receive(10, Duration::ZERO, None).await.unwrap();
    assert_eq!(parked.len(), 1);
    let letter = &parked[0];
    assert_eq!(letter.body, second[0].body, "body kept byte for byte");
    let attr = |name: &str| letter.message_attributes[name].string_value.clone().unwrap();
    assert_eq!(attr(attribute::FAILURE_REASON), "UPSTREAM_UNAVAILABLE");
    assert_eq!(attr(attribute::ATTEMPTS), "2");
    assert_eq!(
        letter.message_attributes[attribute::ATTEMPTS].data_type.as_deref(),
        Some("Number")
    );
    assert!(attr(attribute::FAILURE_DETAIL).contains("HTTP 503"));
    assert!(chrono::DateTime::parse_from_rfc3339(&attr(attribute::FAILED_AT)).is_ok());

    let statuses: Vec<_> = connections
        .all_messages()
        .iter()
        .map(|m| (m.status_code, m.error))
        .collect();
    assert_eq!(
        statuses,
        [(202, None), (503, Some(ErrorCode::UpstreamUnavailable))],
        "one ack, one terminal message"
    );
    assert!(
        jobs.receive(10, Duration::ZERO, NOW).await.unwrap().is_empty(),
        "nothing left behind"
    );
}

#[tokio::test]
async fn delete_batch_removes_exactly_the_given_messages() {
    let moto = MotoServer::start();
    let (jobs, _dlq) = queues(&moto, "batch", 3).await;
    for i in 0..12 {
        jobs.send_message(&format!("job {i}"), &HashMap::new(), None)
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    while received.len() < 12 {
        received.extend(
            jobs.receive(10, Duration::ZERO, Some(Duration::from_secs(30)))
                .await
                .unwrap(),
        );
    }
    // Delete eleven of twelve, across two batch calls.
    let keep = received.pop().unwrap();
    let receipts: Vec<&str> = received.iter().map(|m| m.receipt_handle.as_deref().unwrap()).collect();
    assert_eq!(jobs.delete_batch(&receipts).await.unwrap(), Vec::<String>::new());
    jobs.release(&[keep.receipt_handle.as_deref().unwrap()]).await.unwrap();
    let left = jobs.receive(10, Duration::ZERO, None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].body, keep.body);
}
