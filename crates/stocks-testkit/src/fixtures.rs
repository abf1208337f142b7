//! Event fixtures (`fixtures/`, shaped like `aws_lambda_events`' own) and builders over them.

use std::path::PathBuf;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::Value;

/// The fixtures directory, for tools that read the files themselves.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// One fixture file as JSON.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The `stocksaction` fixture with another body (and route key).
pub fn websocket_message(route: &str, body: &str) -> ApiGatewayWebsocketProxyRequest {
    let mut event = fixture("websocket-stocksaction.json");
    event["requestContext"]["routeKey"] = route.into();
    event["body"] = body.into();
    serde_json::from_value(event).unwrap()
}

/// One SQS record shaped like the fixture, with this id, body and receive count.
pub fn sqs_record(message_id: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut record = fixture("sqs-job.json")["Records"][0].clone();
    record["messageId"] = message_id.into();
    record["body"] = body.into();
    record["attributes"]["ApproximateReceiveCount"] = receive_count.to_string().into();
    serde_json::from_value(record).unwrap()
}

pub fn sqs_event(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// A job body for `ticker` over October 2026 on connection `conn`, queued 2026-11-24 10:00Z.
pub fn job_body(ticker: &str, conn: &str, disconnect: bool) -> String {
    job_json(ticker, conn, disconnect).to_string()
}

/// [`job_body`] as JSON, to change a field before serialising it.
pub fn job_json(ticker: &str, conn: &str, disconnect: bool) -> Value {
    serde_json::json!({
        "v": 1, "requestId": format!("req-{conn}"), "connectionId": conn, "ticker": ticker,
        "from": "2026-10-01", "to": "2026-10-31", "disconnect": disconnect,
        "enqueuedAt": "2026-11-24T10:00:00Z"
    })
}
