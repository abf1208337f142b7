//! The worker against wiremock playing Polygon, with in-memory `@connections` and DLQ.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stocks_core::adapters::{ApiKey, PolygonClient, RetryPolicy};
use stocks_core::domain::{ErrorCode, FailureReason};
use stocks_core::handlers::{Outcome, Worker, WorkerSettings};
use stocks_core::ports::{CallbackUrl, Clock};
use stocks_testkit::{
    FakeConnections, FakeDeadLetters, FakeMarket, FakeQueue, Journal, bar, job_body, job_json, sqs_event, sqs_record,
};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "test-key-d0n7-l34k";
const MAX_RECEIVE: u32 = 3;
const MSFT_OCT: &str = "/v2/aggs/ticker/MSFT/range/1/day/2026-10-01/2026-10-31";

type TestWorker = Worker<PolygonClient, Arc<FakeConnections>, Arc<FakeQueue>, Arc<FakeDeadLetters>>;

struct Harness {
    polygon: MockServer,
    connections: Arc<FakeConnections>,
    jobs: Arc<FakeQueue>,
    dead_letters: Arc<FakeDeadLetters>,
    journal: Journal,
    worker: TestWorker,
    /// The market client's clock: its waits move it forward instead of sleeping.
    clock: Clock,
}

/// Fast retries so the failure paths run in milliseconds; 300 ms request timeout for "slow".
fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
        request_timeout: Duration::from_millis(300),
        budget: Duration::from_secs(10),
    }
}

async fn harness_with(connections_failing: bool, dead_letters_failing: bool) -> Harness {
    let polygon = MockServer::start().await;
    let journal = Journal::default();
    let connections = FakeConnections::journaled(&journal);
    let connections = Arc::new(if connections_failing {
        connections.failing()
    } else {
        connections
    });
    let dead_letters = FakeDeadLetters::journaled(&journal);
    let dead_letters = Arc::new(if dead_letters_failing {
        dead_letters.failing()
    } else {
        dead_letters
    });
    let clock = Clock::manual(chrono::Utc::now());
    let market = PolygonClient::new(&polygon.uri(), &ApiKey::new(KEY).unwrap(), policy())
        .unwrap()
        .with_clock(clock.clone());
    let jobs = Arc::new(FakeQueue::journaled(&journal));
    let worker = Worker::new(
        market,
        connections.clone(),
        jobs.clone(),
        dead_letters.clone(),
        WorkerSettings::new(
            CallbackUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod").unwrap(),
            MAX_RECEIVE,
        ),
    );
    Harness {
        polygon,
        connections,
        jobs,
        dead_letters,
        journal,
        worker,
        clock,
    }
}

async fn harness() -> Harness {
    harness_with(false, false).await
}

/// Polygon answers every request for October's MSFT bars with `response`.
async fn answer(polygon: &MockServer, response: ResponseTemplate) {
    Mock::given(path(MSFT_OCT)).respond_with(response).mount(polygon).await;
}

/// Three real-shaped daily bars; hand-computed report below.
fn msft_page() -> serde_json::Value {
    json!({
        "ticker": "MSFT", "queryCount": 3, "resultsCount": 3, "adjusted": true, "status": "OK",
        "request_id": "6a7e466379af0a71039d60cc78e72282", "count": 3,
        "results": [
            {"v": 20417513, "vw": 414.1327, "o": 415.23, "c": 413.72, "h": 416.83, "l": 411.62, "t": 1727755200000u64, "n": 288214},
            {"v": 19034202, "o": 414.27, "c": 417.13, "h": 419.75, "l": 414.13, "t": 1727841600000u64},
            {"v": 1.6523947e7, "vw": 416.3312, "o": 417.63, "c": 416.54, "h": 419.55, "l": 414.29, "t": 1727928000000u64, "n": 250541}
        ]
    })
}

fn empty_page(ticker: &str) -> serde_json::Value {
    json!({"ticker": ticker, "queryCount": 0, "resultsCount": 0, "adjusted": true, "status": "OK", "request_id": "e1", "count": 0})
}

/// No request may carry the key anywhere but the bearer header.
fn assert_key_only_in_header(requests: &[Request]) {
    assert!(!requests.is_empty());
    for r in requests {
        assert!(!r.url.as_str().contains(KEY), "key leaked into {}", r.url);
        assert!(r.url.query_pairs().all(|(k, _)| k != "apiKey" && k != "apikey"));
        assert_eq!(
            r.headers.get("authorization").unwrap().to_str().unwrap(),
            format!("Bearer {KEY}")
        );
    }
}

#[tokio::test]
async fn report_is_posted_then_the_connection_closed() {
    let h = harness().await;
    Mock::given(method("GET"))
        .and(path(MSFT_OCT))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(msft_page()))
        .expect(1)
        .mount(&h.polygon)
        .await;

    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.journal.entries(), ["post:200", "delete"]);

    let report = &h.connections.messages_to("c1")[0];
    assert_eq!((report.status_code, report.message.as_str()), (200, "success"));
    assert_eq!(report.bars, Some(3));
    assert_eq!(report.request_id.as_deref(), Some("req-c1"));
    let data = report.report_data.unwrap();
    // mean l = 413.34666…, mean h = 418.71 → avg 416.028333…
    assert!((data.avg_stock - 416.028_333_333).abs() < 1e-6);
    assert_eq!((data.min_stock, data.max_stock), (411.62, 419.75));
    assert_eq!((data.min_volume, data.max_volume), (16_523_947.0, 20_417_513.0));
    assert_eq!(h.connections.deleted(), ["c1"]);
    assert_eq!(report.series, None, "no bars unless the client asked for them");

    let requests = h.polygon.received_requests().await.unwrap();
    assert_eq!(requests[0].url.query(), Some("adjusted=true&sort=asc&limit=50000"));
    assert_key_only_in_header(&requests);
}

#[tokio::test]
async fn a_job_asking_for_the_series_gets_the_bars_it_was_computed_from() {
    let h = harness().await;
    let mut page = msft_page();
    // Polygon sends them oldest first; the worker must not rely on it.
    page["results"].as_array_mut().unwrap().reverse();
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(page)).await;
    let mut job = job_json("MSFT", "c1", true);
    job["series"] = json!(true);
    h.worker
        .handle(sqs_event(vec![sqs_record("m1", &job.to_string(), 1)]))
        .await;

    let report = &h.connections.messages_to("c1")[0];
    assert_eq!(report.status_code, 200);
    let series = report.series.as_ref().expect("the series was asked for");
    assert_eq!(series.len(), report.bars.unwrap() as usize);
    let days: Vec<String> = series.iter().map(|b| b.t.to_string()).collect();
    assert_eq!(days, ["2024-10-01", "2024-10-02", "2024-10-03"], "oldest first");
    assert_eq!(
        (series[1].o, series[1].h, series[1].l, series[1].c, series[1].v),
        (414.27, 419.75, 414.13, 417.13, 19_034_202.0)
    );
}

#[tokio::test]
async fn disconnect_false_keeps_the_connection_open() {
    let h = harness().await;
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;
    h.worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", false), 1)]))
        .await;
    assert_eq!(h.journal.entries(), ["post:200"]);
}

#[tokio::test]
async fn no_bars_is_no_results_and_closes() {
    let h = harness().await;
    Mock::given(path_regex("^/v2/aggs/ticker/ZZZZ/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(empty_page("ZZZZ")))
        .mount(&h.polygon)
        .await;
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("ZZZZ", "c1", true), 1)]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    let msg = &h.connections.messages_to("c1")[0];
    assert_eq!((msg.status_code, msg.error), (404, Some(ErrorCode::NoResults)));
    assert!(msg.report_data.is_none());
    assert_eq!(h.connections.deleted(), ["c1"]);
}

#[tokio::test]
async fn pages_are_followed_with_the_same_header() {
    let h = harness().await;
    let mut first = msft_page();
    first["results"] = json!([msft_page()["results"][0]]);
    first["next_url"] = format!(
        "{}/v2/aggs/ticker/MSFT/range/1/day/1727755200000/2026-10-31?cursor=bGltaXQ9MQ",
        h.polygon.uri()
    )
    .into();
    let mut second = msft_page();
    second["results"] = json!([msft_page()["results"][1], msft_page()["results"][2]]);
    Mock::given(path(MSFT_OCT))
        .respond_with(ResponseTemplate::new(200).set_body_json(first))
        .expect(1)
        .mount(&h.polygon)
        .await;
    Mock::given(path("/v2/aggs/ticker/MSFT/range/1/day/1727755200000/2026-10-31"))
        .respond_with(ResponseTemplate::new(200).set_body_json(second))
        .expect(1)
        .mount(&h.polygon)
        .await;

    h.worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    let report = &h.connections.messages_to("c1")[0];
    assert_eq!(report.bars, Some(3), "bars from both pages");
    assert!((report.report_data.unwrap().avg_stock - 416.028_333_333).abs() < 1e-6);
    assert_key_only_in_header(&h.polygon.received_requests().await.unwrap());
}

#[tokio::test]
async fn next_url_to_another_host_is_never_followed() {
    let h = harness().await;
    let mut page = msft_page();
    page["next_url"] = "https://attacker.example/v2/aggs?cursor=x".into();
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(page)).await;
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    // A protocol violation is permanent: dead-lettered at once, client told.
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.dead_letters.letters()[0].reason, FailureReason::UpstreamRejected);
    assert_eq!(
        h.connections.messages_to("c1")[0].error,
        Some(ErrorCode::UpstreamUnavailable)
    );
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let h = harness().await;
    Mock::given(path(MSFT_OCT))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string(r#"{"status":"ERROR"}"#),
        )
        .up_to_n_times(1)
        .mount(&h.polygon)
        .await;
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;

    let started = h.clock.now();
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    // The 429 closed the gate for 1 s and the client waited that out on its clock.
    assert!(
        h.clock.now() - started >= chrono::TimeDelta::seconds(1),
        "Retry-After: 1 must be honoured, waited {}",
        h.clock.now() - started
    );
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(h.connections.messages_to("c1")[0].status_code, 200);
    assert_eq!(h.polygon.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn retry_after_longer_than_the_invocation_defers_the_job() {
    let h = harness().await;
    answer(
        &h.polygon,
        ResponseTemplate::new(429).insert_header("retry-after", "60"),
    )
    .await;
    // Asked a minute ago (the fixture's job is hours old: past MAX_JOB_AGE_SECS).
    let mut job = stocks_testkit::job_json("MSFT", "c1", true);
    job["enqueuedAt"] = (chrono::Utc::now() - chrono::TimeDelta::minutes(1)).to_rfc3339().into();
    let started = Instant::now();
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job.to_string(), 1)]))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "must not sleep 60 s inside the Lambda"
    );
    assert!(response.batch_item_failures.is_empty(), "not a failure: a wait");
    let (deferred, delay) = h.jobs.delayed()[0].clone();
    assert!((60..=66).contains(&delay), "{delay}");
    assert_eq!(deferred.deferrals, 1);
    assert_eq!(h.polygon.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn server_errors_before_the_last_attempt_fail_the_record_silently() {
    let h = harness().await;
    answer(&h.polygon, ResponseTemplate::new(500)).await;
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m1"]);
    assert_eq!(
        h.polygon.received_requests().await.unwrap().len(),
        3,
        "bounded retry inside the invocation"
    );
    assert!(
        h.connections.all_messages().is_empty(),
        "no terminal message while SQS will retry"
    );
    assert!(h.dead_letters.letters().is_empty());
}

#[tokio::test]
async fn last_attempt_tells_the_client_and_dead_letters_the_job() {
    let h = harness().await;
    answer(&h.polygon, ResponseTemplate::new(503)).await;
    let body = job_body("MSFT", "c1", true);
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &body, MAX_RECEIVE)]))
        .await;
    assert!(response.batch_item_failures.is_empty(), "the worker parked it itself");
    assert_eq!(
        h.journal.entries(),
        ["dead_letter:UPSTREAM_UNAVAILABLE", "post:503", "delete"]
    );

    let letter = &h.dead_letters.letters()[0];
    assert_eq!(letter.body, body, "the body is kept byte for byte for replay");
    assert_eq!(letter.reason, FailureReason::UpstreamUnavailable);
    assert_eq!(letter.attempts, MAX_RECEIVE);
    assert!(letter.detail.contains("HTTP 503"), "{}", letter.detail);
    assert!(!letter.detail.contains(KEY));

    let msg = &h.connections.messages_to("c1")[0];
    assert_eq!(
        (msg.status_code, msg.error),
        (503, Some(ErrorCode::UpstreamUnavailable))
    );
    assert!(
        !msg.message.contains("503") && !msg.message.contains("HTTP"),
        "no internal text: {}",
        msg.message
    );
}

#[tokio::test]
async fn unauthorized_is_dead_lettered_on_the_first_attempt() {
    let h = harness().await;
    answer(
        &h.polygon,
        ResponseTemplate::new(401)
            .set_body_json(json!({"status": "ERROR", "request_id": "x", "error": "Unknown API Key"})),
    )
    .await;
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        h.polygon.received_requests().await.unwrap().len(),
        1,
        "401 is never retried"
    );
    let letter = &h.dead_letters.letters()[0];
    assert_eq!(letter.reason, FailureReason::UpstreamRejected);
    assert!(letter.detail.contains("401"));
    assert_eq!(
        h.connections.messages_to("c1")[0].error,
        Some(ErrorCode::UpstreamUnavailable)
    );
}

#[tokio::test]
async fn garbage_json_is_transient() {
    let h = harness().await;
    answer(
        &h.polygon,
        ResponseTemplate::new(200).set_body_string("{\"results\": ["),
    )
    .await;
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(h.polygon.received_requests().await.unwrap().len(), 3);

    // …and on the last attempt it is parked with a useful reason.
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record(
            "m1",
            &job_body("MSFT", "c1", true),
            MAX_RECEIVE,
        )]))
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert!(h.dead_letters.letters()[0].detail.contains("malformed JSON"));
}

#[tokio::test]
async fn a_slow_upstream_times_out_and_is_retried_later() {
    let h = harness().await;
    answer(
        &h.polygon,
        ResponseTemplate::new(200)
            .set_body_json(msft_page())
            .set_delay(Duration::from_secs(3)),
    )
    .await;
    let started = Instant::now();
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "each attempt is cut at the request timeout"
    );
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(h.connections.all_messages().is_empty());
}

#[tokio::test]
async fn client_gone_is_acknowledged_not_retried() {
    let h = harness().await;
    h.connections.mark_gone("c1");
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;
    // One delivery, as Lambda makes it: the report meets 410 and the record is acknowledged.
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a 410 is acknowledged: SQS must not deliver the job again"
    );
    assert_eq!(h.journal.entries(), ["post:200:gone"], "no second post, no close");
    assert!(h.dead_letters.letters().is_empty(), "and never dead-lettered");
    // On the last delivery too: a client that left is an ending, not a failure.
    let last = sqs_record("m2", &job_body("MSFT", "c1", true), MAX_RECEIVE);
    assert_eq!(h.worker.process(&last).await, Outcome::ClientGone);
    assert!(h.dead_letters.letters().is_empty());
}

#[tokio::test]
async fn an_unreadable_body_goes_to_the_dlq_without_poisoning_the_batch() {
    let h = harness().await;
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;
    let records = vec![
        sqs_record("good-1", &job_body("MSFT", "c1", true), 1),
        sqs_record("bad", "{\"v\":1,\"ticker\":", 1),
        sqs_record("future", &job_body("MSFT", "c3", true).replace("\"v\":1", "\"v\":9"), 1),
        sqs_record("good-2", &job_body("MSFT", "c2", true), 1),
    ];
    let outcomes = h.worker.process_batch(&records).await;
    assert_eq!(
        outcomes,
        [
            Outcome::Reported,
            Outcome::DeadLettered,
            Outcome::DeadLettered,
            Outcome::Reported
        ]
    );
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().all(|l| l.reason == FailureReason::InvalidJob));
    assert!(letters.iter().any(|l| l.body == "{\"v\":1,\"ticker\":"));
    assert!(letters.iter().any(|l| l.detail.contains("version 9")));
    assert_eq!(h.connections.messages_to("c1")[0].status_code, 200);
    assert_eq!(h.connections.messages_to("c2")[0].status_code, 200);
}

#[tokio::test]
async fn a_batch_reports_only_the_records_to_redeliver() {
    let h = harness().await;
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;
    Mock::given(path_regex("^/v2/aggs/ticker/AAPL/"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&h.polygon)
        .await;
    Mock::given(path_regex("^/v2/aggs/ticker/ZZZZ/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(empty_page("ZZZZ")))
        .mount(&h.polygon)
        .await;
    let mut records = Vec::new();
    for i in 0..10 {
        let (ticker, count) = match i % 3 {
            0 => ("MSFT", 1),
            1 => ("AAPL", 1),
            _ => ("ZZZZ", 1),
        };
        records.push(sqs_record(
            &format!("m{i}"),
            &job_body(ticker, &format!("c{i}"), true),
            count,
        ));
    }
    let response = h.worker.handle(sqs_event(records)).await;
    let mut failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    assert_eq!(failed, ["m1", "m4", "m7"]);
    assert_eq!(
        h.connections
            .all_messages()
            .iter()
            .filter(|m| m.status_code == 200)
            .count(),
        4
    );
    assert_eq!(
        h.connections
            .all_messages()
            .iter()
            .filter(|m| m.status_code == 404)
            .count(),
        3
    );
}

#[tokio::test]
async fn a_failed_dead_letter_send_is_retried_without_a_second_terminal_message() {
    let h = harness_with(false, true).await;
    answer(&h.polygon, ResponseTemplate::new(403)).await;
    // Permanent failure on attempt 1, DLQ down: no message yet, record retried.
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(h.connections.all_messages().is_empty());
    // Last attempt, DLQ still down: the client is told once; SQS's redrive parks the job.
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record(
            "m1",
            &job_body("MSFT", "c1", true),
            MAX_RECEIVE,
        )]))
        .await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(h.connections.messages_to("c1").len(), 1);
    assert_eq!(
        h.connections.messages_to("c1")[0].error,
        Some(ErrorCode::UpstreamUnavailable)
    );
}

#[tokio::test]
async fn a_failed_report_post_is_retried() {
    let h = harness_with(true, false).await;
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", true), 1)]))
        .await;
    assert_eq!(response.batch_item_failures[0].item_identifier, "m1");
    assert!(h.dead_letters.letters().is_empty());
}

#[tokio::test]
async fn records_are_processed_concurrently() {
    let connections = Arc::new(FakeConnections::default());
    let worker = Worker::new(
        // Answers nothing until ten calls wait at once.
        FakeMarket::with_bars(vec![bar(1.0, 2.0, 0.5, 1.5)]).gathering(10),
        connections.clone(),
        Arc::new(FakeQueue::default()),
        Arc::new(FakeDeadLetters::default()),
        WorkerSettings::new(
            CallbackUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod").unwrap(),
            MAX_RECEIVE,
        ),
    );
    let records: Vec<_> = (0..10)
        .map(|i| sqs_record(&format!("m{i}"), &job_body("MSFT", &format!("c{i}"), true), 1))
        .collect();
    // Processed one at a time, the first call would wait at the barrier forever.
    let outcomes = tokio::time::timeout(Duration::from_secs(10), worker.process_batch(&records))
        .await
        .expect("all ten records must be in flight at once");
    assert!(outcomes.iter().all(|o| *o == Outcome::Reported));
    assert_eq!(connections.all_messages().len(), 10);
}

#[tokio::test]
async fn a_batch_asks_polygon_once_per_ticker_and_window_and_repeats_come_from_the_cache() {
    use stocks_core::adapters::{CacheSettings, MarketCache};
    let polygon = MockServer::start().await;
    Mock::given(path(MSFT_OCT))
        .respond_with(ResponseTemplate::new(200).set_body_json(msft_page()))
        .mount(&polygon)
        .await;
    Mock::given(path_regex("^/v2/aggs/ticker/ZZZZ/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(empty_page("ZZZZ")))
        .mount(&polygon)
        .await;
    let market = PolygonClient::new(&polygon.uri(), &ApiKey::new(KEY).unwrap(), policy()).unwrap();
    let connections = Arc::new(FakeConnections::default());
    let worker = Worker::new(
        MarketCache::new(market, CacheSettings::default()),
        connections.clone(),
        Arc::new(FakeQueue::default()),
        Arc::new(FakeDeadLetters::default()),
        WorkerSettings::new(
            CallbackUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod").unwrap(),
            MAX_RECEIVE,
        ),
    );
    // Seven MSFT requests for October and three for an unknown symbol, in one batch.
    let batch = |round: usize| {
        (0..10)
            .map(|i| {
                let ticker = if i < 7 { "MSFT" } else { "ZZZZ" };
                sqs_record(
                    &format!("m{round}-{i}"),
                    &job_body(ticker, &format!("c{round}-{i}"), true),
                    1,
                )
            })
            .collect::<Vec<_>>()
    };
    let outcomes = worker.process_batch(&batch(1)).await;
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Reported).count(), 7);
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::NoResults).count(), 3);
    assert_eq!(
        polygon.received_requests().await.unwrap().len(),
        2,
        "one call per distinct ticker and window"
    );

    // The same requests again, in a later batch: no new calls until the market closes.
    worker.process_batch(&batch(2)).await;
    assert_eq!(polygon.received_requests().await.unwrap().len(), 2);
    let reports: Vec<_> = connections
        .all_messages()
        .into_iter()
        .filter(|m| m.status_code == 200)
        .collect();
    assert_eq!(reports.len(), 14);
    assert!(
        reports.iter().all(|r| r.report_data == reports[0].report_data),
        "every client gets the same numbers"
    );
}

#[tokio::test]
async fn a_second_delivery_of_a_finished_message_answers_nobody_twice() {
    let h = harness().await;
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;
    let record = sqs_record("m1", &job_body("MSFT", "c1", false), 1);
    assert_eq!(
        h.worker.process_batch(std::slice::from_ref(&record)).await,
        [Outcome::Reported]
    );
    // SQS delivers at least once: the same message again.
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &job_body("MSFT", "c1", false), 2)]))
        .await;
    assert!(response.batch_item_failures.is_empty(), "acknowledged");
    assert_eq!(h.connections.messages_to("c1").len(), 1, "one report, not two");
    assert_eq!(h.polygon.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_same_message_twice_at_once_is_handled_once() {
    let h = harness().await;
    answer(
        &h.polygon,
        ResponseTemplate::new(200)
            .set_body_json(msft_page())
            .set_delay(Duration::from_millis(100)),
    )
    .await;
    let record = sqs_record("m1", &job_body("MSFT", "c1", true), 1);
    let (a, b) = tokio::join!(h.worker.process(&record), h.worker.process(&record));
    let mut outcomes = [a, b];
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(
        outcomes,
        [Outcome::Duplicate, Outcome::Reported],
        "the copy waits, then is acknowledged"
    );
    assert_eq!(h.connections.messages_to("c1").len(), 1);
    assert_eq!(h.polygon.received_requests().await.unwrap().len(), 1);
    assert_eq!(h.worker.process(&record).await, Outcome::Duplicate);
}

#[tokio::test]
async fn a_copy_carrying_the_final_count_runs_when_the_first_copy_fails() {
    // Duplicate deliveries also raise ApproximateReceiveCount: the copy may be the last try.
    let h = harness().await;
    answer(
        &h.polygon,
        ResponseTemplate::new(503).set_delay(Duration::from_millis(50)),
    )
    .await;
    let body = job_body("MSFT", "c1", true);
    let (first, last) = (sqs_record("m1", &body, 1), sqs_record("m1", &body, MAX_RECEIVE));
    let (a, b) = tokio::join!(h.worker.process(&first), h.worker.process(&last));
    assert_eq!(a, Outcome::Retry);
    assert_eq!(b, Outcome::DeadLettered, "the final copy parks the job itself");
    let told = h.connections.messages_to("c1");
    assert_eq!(told.len(), 1, "the client is told once");
    assert_eq!(told[0].error, Some(ErrorCode::UpstreamUnavailable));
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, FailureReason::UpstreamUnavailable);
}

#[tokio::test]
async fn a_retried_message_runs_again_and_a_replay_is_a_new_message() {
    let h = harness().await;
    Mock::given(path(MSFT_OCT))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .mount(&h.polygon)
        .await;
    answer(&h.polygon, ResponseTemplate::new(200).set_body_json(msft_page())).await;
    let body = job_body("MSFT", "c1", false);
    assert_eq!(h.worker.process(&sqs_record("m1", &body, 1)).await, Outcome::Retry);
    assert_eq!(
        h.worker.process(&sqs_record("m1", &body, 2)).await,
        Outcome::Reported,
        "not taken for a duplicate"
    );
    // An operator's replay sends the same body as a new message: it runs.
    assert_eq!(
        h.worker.process(&sqs_record("replayed-m1", &body, 1)).await,
        Outcome::Reported
    );
    assert_eq!(h.connections.messages_to("c1").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_handler_was_dropped_can_run_again() {
    let polygon = MockServer::start().await;
    answer(
        &polygon,
        ResponseTemplate::new(200)
            .set_body_json(msft_page())
            .set_delay(Duration::from_secs(5)),
    )
    .await;
    let worker = Arc::new(Worker::new(
        PolygonClient::new(&polygon.uri(), &ApiKey::new(KEY).unwrap(), policy()).unwrap(),
        Arc::new(FakeConnections::default()),
        Arc::new(FakeQueue::default()),
        Arc::new(FakeDeadLetters::default()),
        WorkerSettings::new(
            CallbackUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod").unwrap(),
            MAX_RECEIVE,
        ),
    ));
    let record = sqs_record("m1", &job_body("MSFT", "c1", true), 1);
    // The first handling is abandoned mid-flight (as a timed-out invocation would be)…
    assert!(
        tokio::time::timeout(Duration::from_millis(100), worker.process(&record))
            .await
            .is_err()
    );
    // …and the next delivery is not stuck behind it (on its own task, so a stuck one fails
    // this test instead of hanging it).
    let again = tokio::spawn({
        let (worker, record) = (worker.clone(), record.clone());
        async move { worker.process(&record).await }
    });
    let outcome = tokio::time::timeout(Duration::from_secs(20), again).await;
    assert_eq!(
        outcome.expect("not stuck behind a dropped handler").unwrap(),
        Outcome::Retry,
        "the slow market times out"
    );
}
