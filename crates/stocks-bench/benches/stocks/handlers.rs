//! The handlers' own cost per request, in a tight loop over the testkit's in-memory ports
//! (counting, keeping nothing): what the Lambda bills for beyond waiting on AWS and Polygon.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde::Serialize;
use stocks_core::domain::{Job, StockRequest, WindowDays};
use stocks_core::handlers::{Ingress, Worker, WorkerSettings};
use stocks_core::ports::CallbackUrl;
use stocks_testkit::{FakeConnections, FakeDeadLetters, FakeMarket, FakeQueue};

#[derive(Clone, Debug, Serialize)]
pub struct HandlerCosts {
    /// One `stocksaction` frame: parse, validate, build and "post" the 202, "queue" the job.
    pub ingress_us_per_request: f64,
    /// One SQS record: parse the job, "fetch" a month of bars, compute the report, "post" it,
    /// hang up.
    pub worker_us_per_record: f64,
    /// Daily bars each worker record's report is computed over.
    pub bars_per_record: usize,
    pub iterations: u64,
}

pub async fn measure(budget: Duration) -> HandlerCosts {
    let callback = CallbackUrl::parse("https://abc.execute-api.us-east-1.amazonaws.com/prod").expect("valid");
    let discarding = || FakeConnections::default().discarding();
    // Access control off, as `make dev` runs (the rate check is one DynamoDB write).
    let ingress = Ingress::open(
        FakeQueue::default().discarding(),
        discarding(),
        Some(callback.clone()),
        WindowDays::DEFAULT,
    );
    let bars = stocks_local::market::daily_bars(
        "MSFT",
        stocks_core::domain::parse_date("2024-10-01").expect("valid"),
        stocks_core::domain::parse_date("2024-10-31").expect("valid"),
    );
    let bars_per_record = bars.len();
    let worker = Worker::new(
        FakeMarket::with_bars(bars),
        discarding(),
        FakeQueue::default().discarding(),
        FakeDeadLetters::default(),
        WorkerSettings::new(callback, 3),
    );

    let mut event = ApiGatewayWebsocketProxyRequest::default();
    event.request_context.route_key = Some("stocksaction".into());
    event.request_context.connection_id = Some("TWegAcC4EowCHnA=".into());
    event.request_context.request_id = Some("TWegAFhjoAMFyNw=".into());
    event.request_context.request_time_epoch = 1_795_514_400_000;
    event.body = Some(r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#.into());

    let request = StockRequest::parse(
        r#"{"ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#,
        stocks_core::domain::parse_date("2026-11-24").expect("valid"),
        WindowDays::DEFAULT,
    )
    .expect("valid request");
    let job = Job::new("TWegAFhjoAMFyNw=", "TWegAcC4EowCHnA=", &request, chrono::Utc::now()).to_json();
    let mut record = SqsMessage::default();
    record.message_id = Some("059f36b4-87a3-44ab-83d2-661975830a7d".into());
    record.body = Some(job);
    record.attributes.insert("ApproximateReceiveCount".into(), "1".into());
    let mut batch = SqsEvent::default();
    batch.records = vec![record; 10];

    // Logging is off here: the figures are the handlers', not the log writer's.
    let ingress_us = time_per_iteration(budget / 2, || async {
        black_box(ingress.handle(event.clone()).await.expect("handled"));
    })
    .await;
    // Fresh message ids every time: the worker acknowledges redeliveries without work.
    let sequence = std::sync::atomic::AtomicU64::new(0);
    let worker_us_per_batch = time_per_iteration(budget / 2, || async {
        let mut batch = batch.clone();
        let n = sequence.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for (i, record) in batch.records.iter_mut().enumerate() {
            record.message_id = Some(format!("{n}-{i}"));
        }
        black_box(worker.handle(batch).await);
    })
    .await;
    HandlerCosts {
        ingress_us_per_request: ingress_us.0,
        worker_us_per_record: worker_us_per_batch.0 / 10.0,
        bars_per_record,
        iterations: ingress_us.1 + worker_us_per_batch.1,
    }
}

/// Microseconds per call, and the number of calls, over about `budget`.
async fn time_per_iteration<F, Fut>(budget: Duration, f: F) -> (f64, u64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..1000 {
        f().await;
    }
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < budget {
        for _ in 0..100 {
            f().await;
        }
        n += 100;
    }
    (started.elapsed().as_secs_f64() * 1e6 / n as f64, n)
}
