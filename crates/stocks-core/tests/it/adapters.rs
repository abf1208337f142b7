//! The AWS adapters against an in-test HTTP server (wiremock) standing in for AWS: the exact
//! requests they send, and how they read each kind of answer, including 410 Gone.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use chrono::DateTime;
use serde_json::{Value, json};
use stocks_core::adapters::{ApiGatewayConnections, SqsQueue, read_api_key};
use stocks_core::domain::{ClientMessage, DeadLetter, FailureReason, Job, Ticker};
use stocks_core::ports::{CallbackUrl, ConnectionError, Connections, DeadLetters, JobQueue, QueueError};
use stocks_testkit::job_body;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const QUEUE_URL: &str = "https://sqs.eu-west-1.amazonaws.com/123456789012/stocks-jobs";

fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        )))
        .endpoint_url(endpoint)
        .build()
}

fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn assert_signed(request: &Request) {
    let auth = request.headers.get("authorization").expect("signed").to_str().unwrap();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/"), "{auth}");
}

// ---------------------------------------------------------------- SQS

fn sqs_ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .set_body_json(body)
}

#[tokio::test]
async fn send_job_is_one_send_message_with_the_job_as_body() {
    let aws = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("x-amz-target", "AmazonSQS.SendMessage"))
        .respond_with(sqs_ok(
            json!({"MessageId": "5fea7756-0ea4-451a-a703-a558b933e274", "MD5OfMessageBody": "x"}),
        ))
        .expect(1)
        .mount(&aws)
        .await;
    let queue = SqsQueue::from_sdk(&sdk_config(&aws.uri()), QUEUE_URL);
    let job = Job::parse(&job_body("MSFT", "c1", true)).unwrap();
    queue.send(&job).await.unwrap();

    let requests = aws.received_requests().await.unwrap();
    assert_signed(&requests[0]);
    assert_eq!(
        requests[0].headers.get("content-type").unwrap(),
        "application/x-amz-json-1.0"
    );
    assert_eq!(
        body_json(&requests[0]),
        json!({"QueueUrl": QUEUE_URL, "MessageBody": job.to_json()})
    );
}

#[tokio::test]
async fn dead_letter_keeps_the_body_and_adds_failure_attributes() {
    let aws = MockServer::start().await;
    Mock::given(header("x-amz-target", "AmazonSQS.SendMessage"))
        .respond_with(sqs_ok(json!({"MessageId": "m", "MD5OfMessageBody": "x"})))
        .mount(&aws)
        .await;
    let dlq = SqsQueue::from_sdk(
        &sdk_config(&aws.uri()),
        "https://sqs.eu-west-1.amazonaws.com/123456789012/stocks-dlq",
    );
    let letter = DeadLetter {
        body: "{\"v\":1,\"ticker\":\"MSFT\"}".into(),
        reason: FailureReason::UpstreamUnavailable,
        detail: "market data unavailable after 3 attempt(s): HTTP 503".into(),
        attempts: 3,
        failed_at: DateTime::parse_from_rfc3339("2026-11-24T10:00:05.250Z")
            .unwrap()
            .to_utc(),
    };
    dlq.dead_letter(&letter).await.unwrap();

    let sent = body_json(&aws.received_requests().await.unwrap()[0]);
    assert_eq!(
        sent,
        json!({
            "QueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/stocks-dlq",
            "MessageBody": "{\"v\":1,\"ticker\":\"MSFT\"}",
            "MessageAttributes": {
                "failureReason": {"DataType": "String", "StringValue": "UPSTREAM_UNAVAILABLE"},
                "failureDetail": {"DataType": "String", "StringValue": "market data unavailable after 3 attempt(s): HTTP 503"},
                "failedAt": {"DataType": "String", "StringValue": "2026-11-24T10:00:05.250Z"},
                "attempts": {"DataType": "Number", "StringValue": "3"}
            }
        })
    );
}

/// An SQS error answer in the JSON protocol's shape.
fn sqs_error(code: &str, query_code: &str) -> ResponseTemplate {
    ResponseTemplate::new(400)
        .insert_header("content-type", "application/x-amz-json-1.0")
        .insert_header("x-amzn-query-error", format!("{query_code};Sender"))
        .set_body_json(json!({"__type": code, "message": "from the test"}))
}

async fn send_error(response: ResponseTemplate) -> QueueError {
    let aws = MockServer::start().await;
    Mock::given(method("POST")).respond_with(response).mount(&aws).await;
    let queue = SqsQueue::from_sdk(&sdk_config(&aws.uri()), QUEUE_URL);
    queue
        .send(&Job::parse(&job_body("MSFT", "c1", true)).unwrap())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn queue_errors_say_which_of_the_three_it_was() {
    let missing = send_error(sqs_error(
        "com.amazonaws.sqs#QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    ))
    .await;
    assert!(
        matches!(&missing, QueueError::NoSuchQueue { queue } if queue == QUEUE_URL),
        "{missing:?}"
    );
    assert_eq!(missing.to_string(), format!("no such queue: {QUEUE_URL}"));

    let denied = send_error(sqs_error("AccessDenied", "AccessDenied")).await;
    assert!(matches!(denied, QueueError::AccessDenied { .. }), "{denied:?}");
    assert!(denied.to_string().contains("check the AWS credentials"), "{denied}");

    let throttled = send_error(sqs_error("ThrottlingException", "ThrottlingException")).await;
    assert!(matches!(throttled, QueueError::Refused { .. }), "{throttled:?}");
    assert!(
        stocks_core::ports::error_chain(&throttled).contains("ThrottlingException"),
        "the detail is kept for the logs: {throttled}"
    );

    // Nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let queue = SqsQueue::from_sdk(&sdk_config(&format!("http://{dead}")), QUEUE_URL);
    let unreachable = queue.depth().await.unwrap_err();
    assert!(matches!(unreachable, QueueError::Unreachable { .. }), "{unreachable:?}");
    assert_eq!(unreachable.to_string(), format!("cannot reach SQS for {QUEUE_URL}"));
}

#[tokio::test]
async fn receive_returns_lambda_shaped_records() {
    let aws = MockServer::start().await;
    Mock::given(header("x-amz-target", "AmazonSQS.ReceiveMessage"))
        .respond_with(sqs_ok(json!({"Messages": [{
            "MessageId": "m-1", "ReceiptHandle": "rh-1", "MD5OfBody": "md5", "Body": "{\"v\":1}",
            "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1795514400120"},
            "MessageAttributes": {"failureReason": {"StringValue": "INVALID_JOB", "DataType": "String"}}
        }]})))
        .mount(&aws)
        .await;
    let queue = SqsQueue::from_sdk(&sdk_config(&aws.uri()), QUEUE_URL);
    let messages = queue
        .receive(10, std::time::Duration::from_secs(1), None)
        .await
        .unwrap();

    let sent = body_json(&aws.received_requests().await.unwrap()[0]);
    assert_eq!(sent["MaxNumberOfMessages"], 10);
    assert_eq!(sent["WaitTimeSeconds"], 1);
    assert_eq!(sent["MessageSystemAttributeNames"], json!(["All"]));
    assert_eq!(sent["MessageAttributeNames"], json!(["All"]));

    let m = &messages[0];
    assert_eq!(m.message_id.as_deref(), Some("m-1"));
    assert_eq!(m.receipt_handle.as_deref(), Some("rh-1"));
    assert_eq!(m.attributes["ApproximateReceiveCount"], "2");
    assert_eq!(
        m.message_attributes["failureReason"].string_value.as_deref(),
        Some("INVALID_JOB")
    );
    assert_eq!(m.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(m.aws_region.as_deref(), Some("eu-west-1"));
}

// ---------------------------------------------------------------- @connections

fn callback(server: &MockServer) -> CallbackUrl {
    CallbackUrl::parse(&format!("{}/prod", server.uri())).unwrap()
}

#[tokio::test]
async fn post_sends_the_message_bytes_to_the_connection_path() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&api)
        .await;
    let connections = ApiGatewayConnections::from_sdk(&sdk_config("https://unused.example"));
    let message = ClientMessage::accepted("req-1", &Ticker::parse("MSFT").unwrap());
    connections
        .post(&callback(&api), "TWegAcC4EowCHnA=", &message)
        .await
        .unwrap();

    let request = &api.received_requests().await.unwrap()[0];
    assert_signed(request);
    assert_eq!(request.url.path(), "/prod/@connections/TWegAcC4EowCHnA%3D");
    assert_eq!(
        request.body,
        message.to_json().into_bytes(),
        "the frame is exactly the message JSON"
    );
    let auth = request.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(
        auth.contains("/eu-west-1/execute-api/aws4_request"),
        "signed for execute-api: {auth}"
    );
}

#[tokio::test]
async fn delete_is_a_delete_on_the_same_path() {
    let api = MockServer::start().await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&api)
        .await;
    let connections = ApiGatewayConnections::from_sdk(&sdk_config("https://unused.example"));
    connections.delete(&callback(&api), "abc=").await.unwrap();
    assert_eq!(
        api.received_requests().await.unwrap()[0].url.path(),
        "/prod/@connections/abc%3D"
    );
}

#[tokio::test]
async fn gone_is_recognised_with_or_without_the_aws_error_type() {
    let api = MockServer::start().await;
    Mock::given(path("/prod/@connections/aws"))
        .respond_with(
            ResponseTemplate::new(410)
                .insert_header("x-amzn-errortype", "GoneException")
                .set_body_json(json!({"message": null})),
        )
        .mount(&api)
        .await;
    Mock::given(path("/prod/@connections/plain"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&api)
        .await;
    Mock::given(path("/prod/@connections/broken"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&api)
        .await;
    let connections = ApiGatewayConnections::from_sdk(&sdk_config("https://unused.example"));
    let message = ClientMessage::accepted("r", &Ticker::parse("MSFT").unwrap());
    let cb = callback(&api);

    assert!(matches!(
        connections.post(&cb, "aws", &message).await,
        Err(ConnectionError::Gone)
    ));
    assert!(matches!(
        connections.post(&cb, "plain", &message).await,
        Err(ConnectionError::Gone)
    ));
    assert!(matches!(
        connections.delete(&cb, "aws").await,
        Err(ConnectionError::Gone)
    ));
    assert!(matches!(
        connections.post(&cb, "broken", &message).await,
        Err(ConnectionError::Failed(_))
    ));
}

#[tokio::test]
async fn each_callback_url_gets_its_own_client_reused_across_calls() {
    let (a, b) = (MockServer::start().await, MockServer::start().await);
    for server in [&a, &b] {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(2)
            .mount(server)
            .await;
    }
    let connections = ApiGatewayConnections::from_sdk(&sdk_config("https://unused.example"));
    let message = ClientMessage::accepted("r", &Ticker::parse("MSFT").unwrap());
    for cb in [callback(&a), callback(&b), callback(&a), callback(&b)] {
        connections.post(&cb, "c", &message).await.unwrap();
    }
    // `expect(2)` on each server is verified on drop.
    assert_eq!(
        connections.endpoints(),
        2,
        "one client per callback URL, built once and reused"
    );
}

// ---------------------------------------------------------------- SSM

#[tokio::test]
async fn the_key_is_read_decrypted_from_parameter_store() {
    let aws = MockServer::start().await;
    Mock::given(header("x-amz-target", "AmazonSSM.GetParameter"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "application/x-amz-json-1.1").set_body_json(json!({
            "Parameter": {"Name": "/stocks/polygon-api-key", "Type": "SecureString", "Value": "pk_live_123", "Version": 1}
        })))
        .expect(1)
        .mount(&aws)
        .await;
    let key = read_api_key(
        &aws_sdk_ssm::Client::new(&sdk_config(&aws.uri())),
        "/stocks/polygon-api-key",
    )
    .await
    .unwrap();
    assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
    let sent = body_json(&aws.received_requests().await.unwrap()[0]);
    assert_eq!(sent, json!({"Name": "/stocks/polygon-api-key", "WithDecryption": true}));
}

#[tokio::test]
async fn a_missing_parameter_is_a_clear_error() {
    let aws = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/x-amz-json-1.1")
                .set_body_json(json!({"__type": "ParameterNotFound", "message": ""})),
        )
        .mount(&aws)
        .await;
    let err = read_api_key(&aws_sdk_ssm::Client::new(&sdk_config(&aws.uri())), "/stocks/missing")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "could not read SSM parameter \"/stocks/missing\"");
}

// ---------------------------------------------------------------- timeouts

/// What the Lambdas build: the test's settings plus the production timeouts.
fn with_timeouts(endpoint: &str) -> SdkConfig {
    sdk_config(endpoint)
        .into_builder()
        .timeout_config(stocks_core::adapters::aws_timeouts())
        .build()
}

/// An AWS endpoint that accepts the connection and then says nothing for a minute.
async fn stalled() -> MockServer {
    let aws = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sqs_ok(json!({"MessageId": "late"})).set_delay(std::time::Duration::from_secs(60)))
        .mount(&aws)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204).set_delay(std::time::Duration::from_secs(60)))
        .mount(&aws)
        .await;
    aws
}

#[tokio::test]
async fn a_stalled_sqs_ends_in_queue_unavailable_not_a_hung_ingress() {
    use stocks_core::domain::WindowDays;
    use stocks_core::handlers::{Ingress, IngressOutcome};
    let aws = stalled().await;
    let connections = std::sync::Arc::new(stocks_testkit::FakeConnections::default());
    let ingress = Ingress::open(
        SqsQueue::from_sdk(&with_timeouts(&aws.uri()), QUEUE_URL),
        connections.clone(),
        Some(CallbackUrl::parse("https://x.example/prod").unwrap()),
        WindowDays::DEFAULT,
    );
    let event = stocks_testkit::websocket_message("stocksaction", r#"{"action":"stocksaction","ticker":"MSFT"}"#);
    // Well inside the ingress's 10 s Lambda timeout, the send gives up.
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(8), ingress.process(&event))
        .await
        .expect("the SQS call is cut by its operation timeout")
        .unwrap();
    assert_eq!(outcome, IngressOutcome::QueueUnavailable);
    let told: Vec<u16> = connections.all_messages().iter().map(|m| m.status_code).collect();
    assert_eq!(told, [202, 503], "the ack, then QUEUE_UNAVAILABLE");
}

#[tokio::test]
async fn a_stalled_connections_api_fails_the_record_for_sqs_to_retry_not_the_batch() {
    use stocks_core::handlers::{Outcome, Worker, WorkerSettings};
    use stocks_testkit::{FakeDeadLetters, FakeMarket, FakeQueue, bar, sqs_record};
    let aws = stalled().await;
    let worker = Worker::new(
        FakeMarket::with_bars(vec![bar(1.0, 2.0, 0.5, 1.5)]),
        ApiGatewayConnections::from_sdk(&with_timeouts(&aws.uri())),
        FakeQueue::default(),
        FakeDeadLetters::default(),
        WorkerSettings::new(callback(&aws), 3),
    );
    let record = sqs_record("m1", &job_body("MSFT", "c1", true), 1);
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(8), worker.process(&record))
        .await
        .expect("the post is cut by its operation timeout, well inside the worker's 30 s");
    assert_eq!(outcome, Outcome::Retry);
}
