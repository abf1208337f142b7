//! The ingress and lifecycle handlers driven with API Gateway WebSocket events shaped like
//! `aws_lambda_events`' fixtures, against in-memory fakes.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use base64::Engine;
use stocks_core::domain::{ErrorCode, Rejection, WindowDays};
use stocks_core::handlers::{self, Ingress, IngressError, IngressOutcome};
use stocks_core::ports::CallbackUrl;
use stocks_testkit::{FakeAccess, FakeConnections, FakeQueue, Journal, fixture, websocket_message};

const CONN: &str = "TWegAcC4EowCHnA=";
const REQUEST_ID: &str = "TWegAFhjoAMFyNw=";

/// An ingress over journaled fakes, with a callback URL and the default window; with `access`,
/// it checks each frame's token against that table (the authorizer's grant on the event).
pub(crate) type TestIngress = Ingress<Arc<FakeQueue>, Arc<FakeConnections>, Arc<FakeAccess>>;

pub(crate) fn faked_ingress(access: Option<Arc<FakeAccess>>) -> (Arc<FakeQueue>, Arc<FakeConnections>, TestIngress) {
    let journal = Journal::default();
    let queue = Arc::new(FakeQueue::journaled(&journal));
    let connections = Arc::new(FakeConnections::journaled(&journal));
    let ingress = Ingress::new(
        queue.clone(),
        connections.clone(),
        access,
        Some(CallbackUrl::parse("https://x.example/prod").unwrap()),
        WindowDays::DEFAULT,
    );
    (queue, connections, ingress)
}

struct Harness {
    queue: Arc<FakeQueue>,
    connections: Arc<FakeConnections>,
    journal: Journal,
    ingress: Ingress<Arc<FakeQueue>, Arc<FakeConnections>, stocks_core::handlers::NoAccessControl>,
}

fn harness_with(queue_failing: bool, connections_failing: bool, callback: Option<&str>) -> Harness {
    let journal = Journal::default();
    let queue = FakeQueue::journaled(&journal);
    let queue = Arc::new(if queue_failing { queue.failing() } else { queue });
    let connections = FakeConnections::journaled(&journal);
    let connections = Arc::new(if connections_failing {
        connections.failing()
    } else {
        connections
    });
    let ingress = Ingress::open(
        queue.clone(),
        connections.clone(),
        callback.map(|u| CallbackUrl::parse(u).unwrap()),
        WindowDays::DEFAULT,
    );
    Harness {
        queue,
        connections,
        journal,
        ingress,
    }
}

fn harness() -> Harness {
    harness_with(
        false,
        false,
        Some("https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"),
    )
}

async fn send(h: &Harness, route: &str, body: &str) -> IngressOutcome {
    h.ingress.process(&websocket_message(route, body)).await.unwrap()
}

#[tokio::test]
async fn seed_request_acks_first_then_queues_the_job() {
    let h = harness();
    let event: ApiGatewayWebsocketProxyRequest =
        serde_json::from_value(fixture("websocket-stocksaction.json")).unwrap();
    let response = h.ingress.handle(event).await.unwrap();
    assert_eq!(response.status_code, 200);

    assert_eq!(
        h.journal.entries(),
        ["post:202", "send:MSFT"],
        "the ack must precede the enqueue"
    );
    let messages = h.connections.messages_to(CONN);
    assert_eq!(messages.len(), 1);
    let ack = serde_json::to_value(&messages[0]).unwrap();
    assert_eq!(
        ack,
        serde_json::json!({"statusCode": 202, "message": "accepted", "reportData": null, "ticker": "MSFT", "requestId": REQUEST_ID})
    );

    let jobs = h.queue.jobs();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(
        (job.request_id.as_str(), job.connection_id.as_str()),
        (REQUEST_ID, CONN)
    );
    assert_eq!(job.ticker.as_str(), "MSFT");
    // requestTimeEpoch is 2026-11-24T10:00Z: thirty days ending yesterday.
    assert_eq!(
        (job.window.from().to_string(), job.window.to().to_string()),
        ("2026-10-25".into(), "2026-11-23".into())
    );
    assert!(job.disconnect);
}

#[tokio::test]
async fn request_fields_reach_the_job() {
    let h = harness();
    let outcome = send(
        &h,
        "stocksaction",
        r#"{"action":"stocksaction","ticker":" brk.b ","from":"2026-01-02","to":"2026-06-30","disconnect":false}"#,
    )
    .await;
    assert_eq!(outcome, IngressOutcome::Accepted);
    let job = &h.queue.jobs()[0];
    assert_eq!(job.ticker.as_str(), "BRK.B");
    assert_eq!(
        (job.window.from().to_string(), job.window.to().to_string()),
        ("2026-01-02".into(), "2026-06-30".into())
    );
    assert!(!job.disconnect);
}

#[tokio::test]
async fn every_bad_input_gets_its_code_and_nothing_is_queued() {
    let cases: &[(&str, &str, ErrorCode)] = &[
        ("stocksaction", "not json", ErrorCode::BadRequest),
        ("stocksaction", r#"["stocksaction"]"#, ErrorCode::BadRequest),
        (
            "stocksaction",
            r#"{"action":"stocksaction","ticker":7}"#,
            ErrorCode::BadRequest,
        ),
        (
            "stocksaction",
            r#"{"action":"stocksaction","ticker":"MSFT","disconnect":"no"}"#,
            ErrorCode::BadRequest,
        ),
        (
            "stocksaction",
            r#"{"action":"stocksaction"}"#,
            ErrorCode::TickerRequired,
        ),
        (
            "stocksaction",
            r#"{"action":"stocksaction","ticker":"  "}"#,
            ErrorCode::TickerRequired,
        ),
        (
            "stocksaction",
            r#"{"action":"stocksaction","ticker":"MSFT/../../v1"}"#,
            ErrorCode::InvalidTicker,
        ),
        (
            "stocksaction",
            r#"{"action":"stocksaction","ticker":"Msft"}"#,
            ErrorCode::InvalidTicker,
        ),
        (
            "stocksaction",
            r#"{"action":"stocksaction","ticker":"MSFT","from":"20260101"}"#,
            ErrorCode::InvalidRange,
        ),
        (
            "stocksaction",
            r#"{"action":"stocksaction","ticker":"MSFT","to":"2026-11-25"}"#,
            ErrorCode::InvalidRange,
        ),
        (
            "$default",
            r#"{"action":"sell","ticker":"MSFT"}"#,
            ErrorCode::UnknownAction,
        ),
        ("$default", r#"{}"#, ErrorCode::UnknownAction),
        ("$default", r#"{"Action":"stocksaction"}"#, ErrorCode::UnknownAction),
        ("$default", "hello", ErrorCode::BadRequest),
    ];
    for (route, body, code) in cases {
        let h = harness();
        assert_eq!(send(&h, route, body).await, IngressOutcome::Rejected, "{body}");
        let messages = h.connections.messages_to(CONN);
        assert_eq!(messages.len(), 1, "{body}");
        let msg = &messages[0];
        assert_eq!(msg.error, Some(*code), "{body}");
        assert_eq!(msg.status_code, 400, "{body}");
        assert_eq!(msg.request_id.as_deref(), Some(REQUEST_ID));
        assert!(msg.report_data.is_none());
        assert!(h.queue.jobs().is_empty(), "{body} must not be queued");
        assert!(h.connections.deleted().is_empty(), "a 400 leaves the connection open");
    }
}

#[tokio::test]
async fn oversized_and_binary_frames_are_bad_requests() {
    let h = harness();
    let big = format!(
        r#"{{"action":"stocksaction","ticker":"MSFT","pad":"{}"}}"#,
        "x".repeat(20_000)
    );
    assert_eq!(send(&h, "stocksaction", &big).await, IngressOutcome::Rejected);

    // A binary frame carrying a perfectly good request: refused for being binary, which only
    // its sentence tells apart from a body that is not JSON (both are BAD_REQUEST).
    let good = base64::engine::general_purpose::STANDARD.encode(r#"{"action":"stocksaction","ticker":"MSFT"}"#);
    let mut binary = websocket_message("stocksaction", &good);
    binary.is_base64_encoded = true;
    assert_eq!(h.ingress.process(&binary).await.unwrap(), IngressOutcome::Rejected);

    let answers: Vec<_> = h
        .connections
        .all_messages()
        .into_iter()
        .map(|m| (m.error, m.message))
        .collect();
    assert_eq!(answers[0].0, Some(ErrorCode::BadRequest));
    assert_eq!(
        answers[1],
        (
            Some(ErrorCode::BadRequest),
            Rejection::binary_frame().message.to_owned()
        ),
        "the binary frame's own refusal"
    );
    assert!(h.queue.jobs().is_empty());
}

#[tokio::test]
async fn queue_failure_after_the_ack_is_reported_to_the_client() {
    let h = harness_with(true, false, Some("https://x.example/prod"));
    let outcome = send(&h, "stocksaction", r#"{"action":"stocksaction","ticker":"MSFT"}"#).await;
    assert_eq!(outcome, IngressOutcome::QueueUnavailable);
    assert_eq!(h.journal.entries(), ["post:202", "send:refused", "post:503"]);
    let last = h.connections.messages_to(CONN).pop().unwrap();
    assert_eq!(last.error, Some(ErrorCode::QueueUnavailable));
    assert_eq!(last.ticker.as_deref(), Some("MSFT"));
    assert!(
        !last.message.contains("simulated"),
        "internal error text must not reach clients"
    );
    assert!(
        h.connections.deleted().is_empty(),
        "the client may resend on the same connection"
    );
}

#[tokio::test]
async fn a_client_gone_before_the_ack_is_not_queued() {
    let h = harness_with(false, false, Some("https://x.example/prod"));
    h.connections.mark_gone(CONN);
    let outcome = send(&h, "stocksaction", r#"{"action":"stocksaction","ticker":"MSFT"}"#).await;
    assert_eq!(outcome, IngressOutcome::ClientGone);
    assert!(h.queue.jobs().is_empty());
}

#[tokio::test]
async fn a_failing_connections_api_fails_the_invocation_without_queueing() {
    let h = harness_with(false, true, Some("https://x.example/prod"));
    let err = h
        .ingress
        .handle(websocket_message("stocksaction", r#"{"ticker":"MSFT"}"#))
        .await
        .unwrap_err();
    assert!(matches!(err, IngressError::Post(_)));
    assert!(
        h.queue.jobs().is_empty(),
        "no report may arrive for a request that was never acked"
    );
}

#[tokio::test]
async fn callback_comes_from_config_or_else_from_the_event() {
    let h = harness_with(false, false, Some("https://ws.example.com/prod"));
    send(&h, "stocksaction", r#"{"ticker":"MSFT"}"#).await;
    assert_eq!(h.connections.callbacks(), ["https://ws.example.com/prod"]);

    let h = harness_with(false, false, None);
    send(&h, "stocksaction", r#"{"ticker":"MSFT"}"#).await;
    assert_eq!(
        h.connections.callbacks(),
        ["https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"]
    );

    let mut event = websocket_message("stocksaction", r#"{"ticker":"MSFT"}"#);
    event.request_context.domain_name = None;
    assert!(matches!(h.ingress.process(&event).await, Err(IngressError::NoCallback)));
}

#[tokio::test]
async fn an_event_without_a_connection_id_is_an_error() {
    let h = harness();
    let mut event = websocket_message("stocksaction", r#"{"ticker":"MSFT"}"#);
    event.request_context.connection_id = None;
    assert!(matches!(
        h.ingress.process(&event).await,
        Err(IngressError::NoConnectionId)
    ));
    assert!(h.connections.all_messages().is_empty());
}

#[test]
fn connect_and_disconnect_answer_200() {
    for name in ["websocket-connect.json", "websocket-disconnect.json"] {
        let event: ApiGatewayWebsocketProxyRequest = serde_json::from_value(fixture(name)).unwrap();
        assert_eq!(event.request_context.connected_at, 1_795_514_395_000);
        let response = if name.contains("disconnect") {
            handlers::disconnect(&event)
        } else {
            handlers::connect(&event)
        };
        assert_eq!(response.status_code, 200, "{name}");
        assert!(response.body.is_none());
    }
}
