//! Event fixtures (`fixtures/`, shaped like `aws_lambda_events`' own) and builders over them.

use std::path::PathBuf;

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use serde_json::Value;
use stocks_core::domain::Token;
use stocks_core::handlers::ConnectAuthorizerRequest;

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

/// The `$connect` authorizer fixture with this raw query string, split the way API Gateway
/// splits it: `queryStringParameters` keeps a name's last value, the multi-value map all of
/// them; no parameters at all is `null` in both.
pub fn authorizer_request(query: &str) -> ConnectAuthorizerRequest {
    let mut event = fixture("websocket-authorizer.json");
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if !pairs.is_empty() {
        let mut single = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (key, value) in pairs {
            single.insert(key.clone(), value.clone().into());
            multi
                .entry(key)
                .or_insert_with(|| serde_json::Value::Array(Vec::new()))
                .as_array_mut()
                .expect("an array")
                .push(value.into());
        }
        event["queryStringParameters"] = single.into();
        event["multiValueQueryStringParameters"] = multi.into();
    }
    serde_json::from_value(event).unwrap()
}

/// One case of `hostile-tokens.json`.
#[derive(Clone, Debug)]
pub struct HostileToken {
    pub name: String,
    /// The `$connect` URL's raw query string.
    pub query: String,
    /// 401 (API Gateway's identity source: no token) or 403 (the authorizer's Deny).
    pub expect: u16,
}

/// The hostile-token corpus, its placeholders filled with `valid` (a live token) and `revoked`.
pub fn hostile_tokens(valid: &Token, revoked: &Token) -> Vec<HostileToken> {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let live = valid.reveal();
    let fill = |query: &str| {
        query
            .replace("{VALID_SHORT}", &encode(&live[..live.len() - 1]))
            .replace("{VALID_HASH}", &valid.hash().to_hex())
            .replace("{VALID}", &encode(live))
            .replace("{REVOKED}", &encode(revoked.reveal()))
    };
    fixture("hostile-tokens.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| HostileToken {
            name: case["name"].as_str().unwrap().to_owned(),
            query: fill(case["query"].as_str().unwrap()),
            expect: case["expect"].as_u64().unwrap() as u16,
        })
        .collect()
}

/// A well-formed token no store has ever seen.
pub fn unknown_token() -> stocks_core::domain::Token {
    let new = stocks_core::domain::NewToken::new("stranger", 1).expect("a valid name and rate");
    stocks_core::adapters::issue_token(&new).0
}
