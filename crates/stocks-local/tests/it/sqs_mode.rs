//! `--queue sqs`: the same event-source mapping over a real SQS wire implementation (moto), and
//! QUEUE_UNAVAILABLE when the queue cannot be reached.

use stocks_core::domain::ErrorCode;
use stocks_local::{LocalConfig, QueueMode};
use stocks_testkit::stack::{fast_config as config, moto_queue};
use stocks_testkit::ws::{expect_close, next_message, request, send};
use stocks_testkit::{MotoServer, Stack};

async fn moto_queues(moto: &MotoServer, max_receive: u32) -> QueueMode {
    let queues = moto.jobs_and_dlq("stocks-jobs", Some(max_receive), None).await;
    moto_queue(moto, &queues)
}

#[tokio::test]
async fn reports_flow_through_moto() {
    let moto = MotoServer::start();
    let queue = moto_queues(&moto, 3).await;
    let stack = Stack::start(LocalConfig { queue, ..config() }).await;

    let mut ws = stack.connect().await;
    let (ack, report) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"NVDA","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert_eq!((report.status_code, report.request_id), (200, ack.request_id));
    expect_close(&mut ws).await;
    let stats = stack.wait_for_stats("the disconnect", |s| s.connections == 0).await;
    assert_eq!((stats.reported, stats.dlq), (1, 0));
}

#[tokio::test]
async fn a_dead_letter_lands_in_the_sqs_dlq_with_its_attributes_and_listing_does_not_consume_it() {
    let moto = MotoServer::start();
    let queues = moto.jobs_and_dlq("stocks-jobs", Some(1), None).await;
    let stack = Stack::start(LocalConfig {
        queue: moto_queue(&moto, &queues),
        fault_rate: 1.0,
        max_receive_count: 1,
        ..config()
    })
    .await;

    let mut ws = stack.connect().await;
    let (ack, last) = request(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#,
    )
    .await;
    assert_eq!(last.error, Some(ErrorCode::UpstreamUnavailable));
    stack.wait_for_stats("the dead letter", |s| s.dlq == 1).await;
    let dlq: serde_json::Value = stack.get_json("/_local/dlq").await;
    assert_eq!(dlq[0]["attributes"]["failureReason"], "UPSTREAM_UNAVAILABLE");

    // Listing does not consume, nor hide: the message can be received from the DLQ at once.
    let visible = moto
        .sqs_client()
        .receive_message()
        .queue_url(&queues.dlq_url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(visible.len(), 1, "the listed message is visible again");
    let job: serde_json::Value = serde_json::from_str(visible[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(job["requestId"].as_str(), ack.request_id.as_deref());
}

#[tokio::test]
async fn an_unreachable_queue_answers_queue_unavailable_after_the_ack() {
    // A port nothing listens on: every SQS call fails fast.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let queue = QueueMode::Sqs {
        endpoint: Some(format!("http://{dead}")),
        region: Some("us-east-1".into()),
        queue_url: format!("http://{dead}/000000000000/stocks-jobs"),
        dlq_url: format!("http://{dead}/000000000000/stocks-dlq"),
    };
    let stack = Stack::start(LocalConfig { queue, ..config() }).await;
    let mut ws = stack.connect().await;
    send(&mut ws, r#"{"action":"stocksaction","ticker":"MSFT"}"#).await;
    assert_eq!(
        next_message(&mut ws).await.status_code,
        202,
        "the ack always comes first"
    );
    let last = next_message(&mut ws).await;
    assert_eq!((last.status_code, last.error), (503, Some(ErrorCode::QueueUnavailable)));
    assert_eq!(last.ticker.as_deref(), Some("MSFT"));
    // The connection stays open so the client can resend.
    send(&mut ws, "{}").await;
    assert_eq!(next_message(&mut ws).await.error, Some(ErrorCode::UnknownAction));
}
