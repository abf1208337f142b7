//! Market quota as a resource to wait for: the worker defers what meets a closed gate, never
//! lets one 429 become a herd, lets cached answers through, and gives up only past
//! `MAX_JOB_AGE_SECS`; a plan that does not cover a window is the client's answer. Through the
//! real Polygon client against wiremock, over the fleet's store in memory, on a manual clock
//! (its waits move it forward and return at once).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::json;
use stocks_core::adapters::{
    ApiKey, CacheSettings, MarketCache, MemoryMarketStore, PolygonClient, QuotaSettings, RetryPolicy,
};
use stocks_core::domain::{ErrorCode, FailureReason, Job, Rate};
use stocks_core::handlers::{Outcome, Worker, WorkerSettings};
use stocks_core::ports::{CallbackUrl, Clock, MarketData};
use stocks_testkit::{FakeConnections, FakeDeadLetters, FakeQueue, Journal, job_json, sqs_event, sqs_record};
use wiremock::matchers::path_regex;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Waits up to 2 s inside an invocation; anything longer is deferred.
fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        budget: Duration::from_secs(10),
    }
}

/// The fleet's quota and the client under test.
type Polygon = PolygonClient<Arc<MemoryMarketStore>>;

struct Harness<M> {
    polygon: MockServer,
    clock: Clock,
    connections: Arc<FakeConnections>,
    jobs: Arc<FakeQueue>,
    dead_letters: Arc<FakeDeadLetters>,
    worker: Worker<M, Arc<FakeConnections>, Arc<FakeQueue>, Arc<FakeDeadLetters>>,
}

async fn harness_over<M: MarketData>(
    polygon: MockServer,
    market: impl FnOnce(Polygon) -> M,
    quota: QuotaSettings,
    jobs_failing: bool,
) -> Harness<M> {
    let clock = Clock::manual(Utc::now());
    let store = Arc::new(MemoryMarketStore::new(quota.rate));
    let journal = Journal::default();
    let connections = Arc::new(FakeConnections::journaled(&journal));
    let jobs = FakeQueue::journaled(&journal);
    let jobs = Arc::new(if jobs_failing { jobs.failing() } else { jobs });
    let dead_letters = Arc::new(FakeDeadLetters::journaled(&journal));
    let client = PolygonClient::new(&polygon.uri(), &ApiKey::new("k").unwrap(), policy())
        .unwrap()
        .with_quota(store, quota)
        .with_clock(clock.clone());
    let worker = Worker::new(
        market(client),
        connections.clone(),
        jobs.clone(),
        dead_letters.clone(),
        WorkerSettings {
            max_job_age: Duration::from_secs(3600),
            ..WorkerSettings::new(CallbackUrl::parse("https://x.example/prod").unwrap(), 5)
        },
    );
    Harness {
        polygon,
        clock,
        connections,
        jobs,
        dead_letters,
        worker,
    }
}

async fn harness() -> Harness<Polygon> {
    harness_over(MockServer::start().await, |c| c, QuotaSettings::default(), false).await
}

fn bars_page(ticker: &str) -> serde_json::Value {
    json!({
        "ticker": ticker, "resultsCount": 1, "status": "OK", "request_id": "r",
        "results": [{"o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10, "t": 1727755200000u64}]
    })
}

fn too_many(retry_after: Option<u64>) -> ResponseTemplate {
    let response = ResponseTemplate::new(429).set_body_json(json!({
        "status": "ERROR", "request_id": "r",
        "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing"
    }));
    match retry_after {
        Some(secs) => response.insert_header("retry-after", secs.to_string()),
        None => response,
    }
}

async fn answer(polygon: &MockServer, ticker: &str, response: ResponseTemplate) {
    Mock::given(path_regex(format!("^/v2/aggs/ticker/{ticker}/")))
        .respond_with(response)
        .mount(polygon)
        .await;
}

/// A job for `ticker` asked `age` ago, with or without progress notices.
fn job(ticker: &str, conn: &str, progress: bool, age: TimeDelta) -> String {
    let mut job = job_json(ticker, conn, true);
    job["progress"] = progress.into();
    job["enqueuedAt"] = (Utc::now() - age).to_rfc3339().into();
    job.to_string()
}

fn fresh(ticker: &str, conn: &str, progress: bool) -> String {
    job(ticker, conn, progress, TimeDelta::seconds(5))
}

async fn market_calls(h: &Harness<impl MarketData>) -> usize {
    h.polygon.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn a_429_defers_the_job_instead_of_failing_it() {
    let h = harness().await;
    answer(&h.polygon, "MSFT", too_many(Some(30))).await;
    let body = fresh("MSFT", "c1", true);
    let response = h.worker.handle(sqs_event(vec![sqs_record("m1", &body, 1)])).await;

    assert!(response.batch_item_failures.is_empty(), "acknowledged: not a failure");
    let delayed = h.jobs.delayed();
    assert_eq!(delayed.len(), 1, "sent back to the jobs queue");
    let (again, delay) = &delayed[0];
    assert!((30..=33).contains(delay), "Retry-After plus a little jitter: {delay}");
    let original = Job::parse(&body).unwrap();
    assert_eq!(again.deferrals, 1);
    assert_eq!(
        (&again.request_id, again.enqueued_at),
        (&original.request_id, original.enqueued_at)
    );
    let told = h.connections.messages_to("c1");
    assert_eq!(told.len(), 1);
    assert!(told[0].is_queued(), "{told:?}");
    assert_eq!(told[0].retry_in_seconds, Some(u64::from(*delay)));
    assert!(
        h.dead_letters.letters().is_empty(),
        "never dead-lettered for quota alone"
    );
    assert_eq!(market_calls(&h).await, 1);
}

#[tokio::test]
async fn without_progress_the_client_hears_nothing_until_the_end() {
    let h = harness().await;
    answer(&h.polygon, "MSFT", too_many(None)).await;
    let outcome = h
        .worker
        .process(&sqs_record("m1", &fresh("MSFT", "c1", false), 1))
        .await;
    assert_eq!(outcome, Outcome::Deferred);
    assert!(h.connections.all_messages().is_empty());
    let (_, delay) = h.jobs.delayed()[0].clone();
    assert!(
        (60..=66).contains(&delay),
        "QUOTA_DEFER_SECS when Polygon gives no time: {delay}"
    );
}

#[tokio::test]
async fn while_the_gate_is_closed_no_record_calls_the_market() {
    let h = harness().await;
    // Longer than the 2 s a record may wait inside an invocation.
    for ticker in ["MSFT", "AAPL", "KO", "IBM", "V"] {
        answer(&h.polygon, ticker, too_many(Some(3))).await;
    }
    // One 429…
    assert_eq!(
        h.worker
            .process(&sqs_record("m0", &fresh("MSFT", "c0", false), 1))
            .await,
        Outcome::Deferred
    );
    // …and a whole batch meets the closed gate without asking the market.
    let batch: Vec<_> = ["AAPL", "KO", "IBM", "V"]
        .iter()
        .enumerate()
        .map(|(i, t)| sqs_record(&format!("m{}", i + 1), &fresh(t, &format!("c{}", i + 1), false), 1))
        .collect();
    assert_eq!(h.worker.process_batch(&batch).await, [Outcome::Deferred; 4]);
    assert_eq!(market_calls(&h).await, 1, "one 429, not a herd");
    assert!(
        h.jobs.delayed().iter().all(|(_, d)| *d == 3),
        "each told when the gate reopens"
    );
    // Once it reopens, the market is asked again.
    h.clock.advance(Duration::from_secs(3));
    h.worker.process(&sqs_record("m9", &fresh("KO", "c9", false), 1)).await;
    assert_eq!(market_calls(&h).await, 2);
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_inside_the_invocation() {
    let h = harness().await;
    Mock::given(path_regex("^/v2/aggs/ticker/MSFT/"))
        .respond_with(too_many(Some(1)))
        .up_to_n_times(1)
        .mount(&h.polygon)
        .await;
    answer(
        &h.polygon,
        "MSFT",
        ResponseTemplate::new(200).set_body_json(bars_page("MSFT")),
    )
    .await;
    let outcome = h.worker.process(&sqs_record("m1", &fresh("MSFT", "c1", true), 1)).await;
    assert_eq!(outcome, Outcome::Reported, "1 s fits inside the 2 s in-invocation wait");
    assert!(h.jobs.delayed().is_empty());
    assert_eq!(market_calls(&h).await, 2);
}

#[tokio::test]
async fn a_429_is_waited_out_once_per_fetch_not_again_and_again() {
    let h = harness().await;
    answer(&h.polygon, "MSFT", too_many(Some(1))).await;
    let outcome = h
        .worker
        .process(&sqs_record("m1", &fresh("MSFT", "c1", false), 1))
        .await;
    assert_eq!(outcome, Outcome::Deferred, "the second 429 defers it");
    assert_eq!(market_calls(&h).await, 2, "each try spends quota: one wait, then defer");
}

#[tokio::test]
async fn cached_answers_do_not_wait_for_the_gate() {
    let h = harness_over(
        MockServer::start().await,
        |c| MarketCache::new(c, CacheSettings::default()),
        QuotaSettings::default(),
        false,
    )
    .await;
    answer(
        &h.polygon,
        "MSFT",
        ResponseTemplate::new(200).set_body_json(bars_page("MSFT")),
    )
    .await;
    answer(&h.polygon, "AAPL", too_many(Some(60))).await;
    assert_eq!(
        h.worker
            .process(&sqs_record("m1", &fresh("MSFT", "c1", false), 1))
            .await,
        Outcome::Reported
    );
    assert_eq!(
        h.worker
            .process(&sqs_record("m2", &fresh("AAPL", "c2", false), 1))
            .await,
        Outcome::Deferred
    );
    // The gate is closed for a minute, but MSFT's answer is in the cache.
    assert_eq!(
        h.worker
            .process(&sqs_record("m3", &fresh("MSFT", "c3", false), 1))
            .await,
        Outcome::Reported
    );
    assert_eq!(market_calls(&h).await, 2);
}

#[tokio::test]
async fn a_job_older_than_max_job_age_is_dead_lettered_quota_exhausted() {
    let h = harness().await;
    answer(&h.polygon, "MSFT", too_many(Some(30))).await;
    let old = job("MSFT", "c1", true, TimeDelta::seconds(3601));
    let outcome = h.worker.process(&sqs_record("m1", &old, 4)).await;
    assert_eq!(outcome, Outcome::DeadLettered);
    let letters = h.dead_letters.letters();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason, FailureReason::QuotaExhausted);
    assert_eq!(letters[0].body, old, "the job as it was");
    assert!(letters[0].detail.contains("market data"), "{}", letters[0].detail);
    let told = h.connections.messages_to("c1");
    assert_eq!(told.len(), 1, "no queued notice, one terminal message");
    assert_eq!(
        (told[0].status_code, told[0].error),
        (503, Some(ErrorCode::UpstreamUnavailable))
    );
    assert_eq!(h.connections.deleted(), ["c1"], "and the connection is closed");
    assert!(h.jobs.delayed().is_empty());
}

#[tokio::test]
async fn a_client_gone_while_waiting_is_not_deferred() {
    let h = harness().await;
    h.connections.mark_gone("c1");
    answer(&h.polygon, "MSFT", too_many(Some(30))).await;
    let outcome = h.worker.process(&sqs_record("m1", &fresh("MSFT", "c1", true), 1)).await;
    assert_eq!(outcome, Outcome::ClientGone);
    assert!(h.jobs.delayed().is_empty(), "no report could reach anyone");
}

#[tokio::test]
async fn a_deferral_that_cannot_be_sent_is_left_to_sqs() {
    let h = harness_over(MockServer::start().await, |c| c, QuotaSettings::default(), true).await;
    answer(&h.polygon, "MSFT", too_many(Some(30))).await;
    let response = h
        .worker
        .handle(sqs_event(vec![sqs_record("m1", &fresh("MSFT", "c1", false), 1)]))
        .await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "nothing lost: SQS delivers it again"
    );
}

#[tokio::test]
async fn our_own_limiter_closes_the_gate_before_polygon_must() {
    let h = harness_over(
        MockServer::start().await,
        |c| c,
        QuotaSettings {
            rate: Some(Rate::per_minute(2)),
            ..QuotaSettings::default()
        },
        false,
    )
    .await;
    for ticker in ["MSFT", "AAPL", "KO"] {
        answer(
            &h.polygon,
            ticker,
            ResponseTemplate::new(200).set_body_json(bars_page(ticker)),
        )
        .await;
    }
    let outcomes = [
        h.worker
            .process(&sqs_record("m1", &fresh("MSFT", "c1", false), 1))
            .await,
        h.worker
            .process(&sqs_record("m2", &fresh("AAPL", "c2", false), 1))
            .await,
        h.worker.process(&sqs_record("m3", &fresh("KO", "c3", false), 1)).await,
    ];
    assert_eq!(outcomes, [Outcome::Reported, Outcome::Reported, Outcome::Deferred]);
    assert_eq!(
        market_calls(&h).await,
        2,
        "no 429 spent: the third never reached Polygon"
    );
    let (_, delay) = h.jobs.delayed()[0].clone();
    let window = Rate::per_minute(2).window().as_secs_f64().ceil() as u32;
    assert!(
        (window..=window + window / 10).contains(&delay),
        "a window after the first start, at 2 a minute: {delay}"
    );
}

fn not_authorized() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "status": "NOT_AUTHORIZED", "request_id": "r",
        "message": "Your plan doesn't include this data timeframe. Please upgrade your plan at https://polygon.io/pricing"
    }))
}

#[tokio::test]
async fn a_window_the_plan_does_not_cover_is_the_clients_answer_not_an_incident() {
    let h = harness().await;
    answer(&h.polygon, "MSFT", not_authorized()).await;
    let outcome = h.worker.process(&sqs_record("m1", &fresh("MSFT", "c1", true), 1)).await;
    assert_eq!(outcome, Outcome::PlanLimit);
    let told = h.connections.messages_to("c1");
    assert_eq!(told.len(), 1);
    assert_eq!((told[0].status_code, told[0].error), (403, Some(ErrorCode::PlanLimit)));
    assert!(told[0].message.contains("two years"), "{}", told[0].message);
    assert!(
        !told[0].message.contains("upgrade"),
        "Polygon's own words stay in the logs"
    );
    assert!(told[0].is_terminal());
    assert_eq!(h.connections.deleted(), ["c1"], "closed, as after a report");
    assert!(h.dead_letters.letters().is_empty(), "no DLQ, no alarm");
    assert_eq!(market_calls(&h).await, 1, "and not retried");
}

#[tokio::test]
async fn any_other_403_is_our_keys_fault_and_dead_lettered() {
    let h = harness().await;
    answer(
        &h.polygon,
        "MSFT",
        ResponseTemplate::new(403).set_body_json(json!({"status": "ERROR", "error": "Unknown API Key"})),
    )
    .await;
    let outcome = h
        .worker
        .process(&sqs_record("m1", &fresh("MSFT", "c1", false), 1))
        .await;
    assert_eq!(outcome, Outcome::DeadLettered);
    assert_eq!(h.dead_letters.letters()[0].reason, FailureReason::UpstreamRejected);
    assert_eq!(
        h.connections.messages_to("c1")[0].error,
        Some(ErrorCode::UpstreamUnavailable)
    );
}

#[tokio::test]
async fn a_silent_client_hears_queued_before_nine_minutes_pass() {
    let h = harness().await;
    answer(&h.polygon, "MSFT", too_many(Some(900))).await;
    // No progress asked, waiting 8 m 50 s: the next wait would outlast API Gateway's patience.
    let waited = job("MSFT", "c1", false, TimeDelta::seconds(530));
    assert_eq!(h.worker.process(&sqs_record("m1", &waited, 1)).await, Outcome::Deferred);
    let told = h.connections.messages_to("c1");
    assert_eq!(told.len(), 1, "one notice: {told:?}");
    assert!(told[0].is_queued());
    let (_, delay) = h.jobs.delayed()[0].clone();
    assert_eq!(
        u64::from(delay),
        stocks_core::handlers::SILENCE_LIMIT.as_secs(),
        "and it wakes before its client is silent that long again"
    );
    assert_eq!(told[0].retry_in_seconds, Some(u64::from(delay)));
}
