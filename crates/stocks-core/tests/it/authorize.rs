//! The `$connect` authorizer over the testkit's access table: Allow with a grant, Deny for
//! everything else (the hostile-token corpus), fail closed when the table cannot answer, and
//! the ingress's per-token rate limit.

use std::sync::Arc;

use chrono::Utc;
use stocks_core::domain::{ErrorCode, Grant, Token, TokenId, TokenRecord};
use stocks_core::handlers::{Authorizer, Decision, Denial, IngressOutcome};
use stocks_testkit::{FakeAccess, FakeConnections, FakeQueue, authorizer_request, hostile_tokens, websocket_message};

/// A table with one live token ("ci", 2 a minute) and one revoked ("old").
fn table() -> (Arc<FakeAccess>, Token, Token) {
    let access = Arc::new(FakeAccess::default());
    let (live, revoked) = (stocks_testkit::unknown_token(), stocks_testkit::unknown_token());
    for (token, name, revoked_at) in [(&live, "ci", None), (&revoked, "old", Some(Utc::now()))] {
        access.insert(
            token.hash(),
            TokenRecord {
                token_id: token.hash().token_id(),
                name: name.into(),
                created_at: Utc::now(),
                rate_per_minute: 2,
                revoked_at,
            },
        );
    }
    (access, live, revoked)
}

fn query(token: &Token) -> String {
    format!("token={}", token.reveal())
}

#[tokio::test]
async fn a_live_token_is_allowed_with_its_grant_as_context() {
    let (access, live, _) = table();
    let authorizer = Authorizer::new(access.clone());
    let response = authorizer.handle(authorizer_request(&query(&live))).await.unwrap();
    assert!(response.allows());
    let statement = &response.policy_document.statement[0];
    assert_eq!(
        (statement.action.as_str(), statement.resource.as_str()),
        (
            "execute-api:Invoke",
            "arn:aws:execute-api:eu-west-1:123456789012:abcdef123/prod/$connect"
        )
    );
    let grant = response.grant().unwrap();
    assert_eq!(
        grant,
        Grant {
            token_id: live.hash().token_id(),
            name: "ci".into(),
            rate_per_minute: 2
        }
    );
    assert_eq!(response.principal_id, grant.token_id.as_str());
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["policyDocument"]["Version"], "2012-10-17");
    assert_eq!(json["context"]["ratePerMinute"], 2);
    assert_eq!(access.calls(), 1, "one lookup");
}

#[tokio::test]
async fn every_hostile_token_is_refused_and_none_is_let_in() {
    let (access, live, revoked) = table();
    let authorizer = Authorizer::new(access.clone());
    let corpus = hostile_tokens(&live, &revoked);
    assert!(corpus.len() >= 30, "{} cases", corpus.len());
    for case in corpus {
        let response = authorizer.handle(authorizer_request(&case.query)).await;
        let response = response.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(!response.allows(), "{} was let in", case.name);
        assert!(response.context.is_empty(), "{}: a Deny carries no grant", case.name);
        assert_eq!(response.policy_document.statement[0].effect, "Deny", "{}", case.name);
    }
}

#[tokio::test]
async fn malformed_and_doubled_tokens_are_refused_without_a_lookup() {
    let (access, live, _) = table();
    let authorizer = Authorizer::new(access.clone());
    for (q, why) in [
        ("token=nope".to_owned(), Denial::Malformed),
        (format!("token={}x", live.reveal()), Denial::Malformed),
        (format!("{}&{}", query(&live), query(&live)), Denial::Ambiguous),
        (String::new(), Denial::NoToken),
    ] {
        assert_eq!(
            authorizer.decide(&authorizer_request(&q)).await.unwrap(),
            Decision::Deny(why),
            "{q}"
        );
    }
    assert_eq!(access.calls(), 0, "the table is not asked about what cannot be a token");
    let unknown = stocks_testkit::unknown_token();
    assert_eq!(
        authorizer.decide(&authorizer_request(&query(&unknown))).await.unwrap(),
        Decision::Deny(Denial::Unknown)
    );
}

#[tokio::test]
async fn a_table_that_cannot_answer_lets_nobody_in() {
    let (access, live, _) = table();
    access.set_failing(true);
    let authorizer = Authorizer::new(access);
    assert!(
        authorizer.handle(authorizer_request(&query(&live))).await.is_err(),
        "fail closed: 500, not Allow"
    );
}

// ----------------------------------------------------------------------------- the rate limit

use crate::ingress::faked_ingress as ingress;

/// A frame on a connection that the authorizer allowed with `grant`, at `minute`.
fn frame(body: &str, grant: &Grant, at_ms: i64) -> aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest {
    let mut event = websocket_message("stocksaction", body);
    event.request_context.authorizer.fields = grant.to_context().into_iter().collect();
    event.request_context.request_time_epoch = at_ms;
    event
}

fn grant(rate: u32) -> Grant {
    Grant {
        token_id: TokenId::parse("0123456789ab").unwrap(),
        name: "ci".into(),
        rate_per_minute: rate,
    }
}

const GOOD: &str = r#"{"action":"stocksaction","ticker":"MSFT"}"#;
/// 2026-11-24T10:00:15Z: 45 s before the next minute.
const AT: i64 = 1_795_514_415_000;

#[tokio::test]
async fn over_the_limit_the_client_gets_429_and_nothing_is_queued() {
    let access = Arc::new(FakeAccess::default());
    let (queue, connections, ingress) = ingress(Some(access.clone()));
    let g = grant(2);
    for _ in 0..2 {
        assert_eq!(
            ingress.process(&frame(GOOD, &g, AT)).await.unwrap(),
            IngressOutcome::Accepted
        );
    }
    assert_eq!(
        ingress.process(&frame(GOOD, &g, AT)).await.unwrap(),
        IngressOutcome::RateLimited
    );
    let last = connections.all_messages().pop().unwrap();
    assert_eq!((last.status_code, last.error), (429, Some(ErrorCode::RateLimited)));
    assert_eq!(last.retry_in_seconds, Some(45), "until the next minute");
    assert_eq!(last.ticker.as_deref(), Some("MSFT"));
    assert_eq!(queue.jobs().len(), 2, "the third was not queued");
    assert_eq!(
        connections
            .all_messages()
            .iter()
            .filter(|m| m.status_code == 202)
            .count(),
        2,
        "and not acked: the 429 comes instead of the 202"
    );
    // The next minute has room again.
    assert_eq!(
        ingress.process(&frame(GOOD, &g, AT + 60_000)).await.unwrap(),
        IngressOutcome::Accepted
    );
}

#[tokio::test]
async fn only_valid_frames_count() {
    let access = Arc::new(FakeAccess::default());
    let (_, _, ingress) = ingress(Some(access.clone()));
    let g = grant(1);
    for bad in [
        r#"{"action":"stocksaction","ticker":"Msft"}"#,
        "not json",
        r#"{"action":"stocksaction"}"#,
    ] {
        assert_eq!(
            ingress.process(&frame(bad, &g, AT)).await.unwrap(),
            IngressOutcome::Rejected
        );
    }
    assert_eq!(access.calls(), 0, "a 400 costs no write");
    assert_eq!(
        ingress.process(&frame(GOOD, &g, AT)).await.unwrap(),
        IngressOutcome::Accepted
    );
    assert_eq!(access.counted(&g.token_id, AT / 60_000), 1);
}

#[tokio::test]
async fn with_auth_off_a_connections_grant_is_never_limited() {
    // Access control off is an ingress with no access store at all (`NoAccessControl` cannot
    // even be constructed): nothing can be counted. What can be seen is that a grant on the
    // connection — one request a minute — limits nothing.
    let queue = Arc::new(FakeQueue::default());
    let ingress = stocks_core::handlers::Ingress::open(
        queue.clone(),
        Arc::new(FakeConnections::default()),
        Some(stocks_core::ports::CallbackUrl::parse("https://x.example/prod").unwrap()),
        stocks_core::domain::WindowDays::DEFAULT,
    );
    for _ in 0..5 {
        assert_eq!(
            ingress.process(&frame(GOOD, &grant(1), AT)).await.unwrap(),
            IngressOutcome::Accepted
        );
    }
    assert_eq!(queue.jobs().len(), 5);
}

#[tokio::test]
async fn a_table_that_cannot_count_lets_the_frame_through() {
    let access = Arc::new(FakeAccess::default());
    access.set_failing(true);
    let (queue, _, ingress) = ingress(Some(access));
    assert_eq!(
        ingress.process(&frame(GOOD, &grant(1), AT)).await.unwrap(),
        IngressOutcome::Accepted
    );
    assert_eq!(queue.jobs().len(), 1, "the authorizer already checked who it is");
}
