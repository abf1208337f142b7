//! `--auth tokens`: the handshake refuses what API Gateway refuses (401 without a token, 403
//! from the real authorizer) before any connection opens; the authorizer's context reaches every
//! later event (the ingress's per-token rate limit reads it); `/_local/tokens` manages tokens.

use stocks_core::domain::{ErrorCode, Token};
use stocks_core::ports::Clock;
use stocks_local::{AuthMode, LocalConfig, Stats};
use stocks_testkit::stack::fast_config;
use stocks_testkit::ws::{Ws, next_message, request, send};
use stocks_testkit::{Stack, hostile_tokens};
use tokio_tungstenite::tungstenite;

async fn stack() -> Stack {
    Stack::start(LocalConfig {
        auth: AuthMode::Tokens,
        ..fast_config()
    })
    .await
}

/// Connects with this raw query string: the socket, or the HTTP status of the refusal.
async fn connect(stack: &Stack, query: &str) -> Result<Ws, u16> {
    let url = if query.is_empty() {
        stack.ws_url()
    } else {
        format!("{}?{query}", stack.ws_url())
    };
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(other) => panic!("neither a connection nor an HTTP refusal: {other}"),
    }
}

#[tokio::test]
async fn no_token_is_401_and_an_unknown_one_403_and_no_connection_opens() {
    let stack = stack().await;
    assert_eq!(connect(&stack, "").await.err(), Some(401));
    assert_eq!(connect(&stack, "token=").await.err(), Some(401));
    let stranger = stocks_testkit::unknown_token();
    assert_eq!(
        connect(&stack, &format!("token={}", stranger.reveal())).await.err(),
        Some(403)
    );
    let stats: Stats = stack.stats().await;
    assert_eq!((stats.connections, stats.refused), (0, 3));
    let disconnects: serde_json::Value = stack.get_json("/_local/disconnects").await;
    assert_eq!(disconnects, serde_json::json!([]), "nothing was ever connected");
}

#[tokio::test]
async fn a_live_token_connects_and_its_requests_a_minute_are_limited() {
    // Every event is stamped 20 s into this minute: the three requests fall in one minute
    // whenever the test runs, 40 s before it ends.
    let minute = chrono::DurationRound::duration_trunc(chrono::Utc::now(), chrono::TimeDelta::minutes(1)).unwrap();
    let stack = Stack::start(LocalConfig {
        auth: AuthMode::Tokens,
        clock: Clock::fixed(minute + chrono::TimeDelta::seconds(20)),
        ..fast_config()
    })
    .await;
    let token = stack.create_token("ci", 2).await;
    let mut ws = connect(&stack, &format!("token={token}"))
        .await
        .expect("a live token connects");
    let body = r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31","disconnect":false}"#;
    for _ in 0..2 {
        let (_, report) = request(&mut ws, body).await;
        assert_eq!(report.status_code, 200);
    }
    // The authorizer's context (tokenId, ratePerMinute) reached this MESSAGE event.
    send(&mut ws, body).await;
    let refused = next_message(&mut ws).await;
    assert_eq!(
        (refused.status_code, refused.error),
        (429, Some(ErrorCode::RateLimited))
    );
    assert_eq!(refused.retry_in_seconds, Some(40), "until the minute ends");
    let stats = stack.stats().await;
    assert_eq!((stats.accepted, stats.reported), (2, 2), "nothing queued for the third");
}

#[tokio::test]
async fn every_hostile_token_is_refused_at_the_handshake() {
    let stack = stack().await;
    let valid = Token::parse(&stack.create_token("ci", 60).await).unwrap();
    let revoked = Token::parse(&stack.create_token("old", 60).await).unwrap();
    let gone = stack
        .http()
        .delete(stack.http_url("/_local/tokens/old"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    let corpus = hostile_tokens(&valid, &revoked);
    for case in &corpus {
        assert_eq!(
            connect(&stack, &case.query).await.err(),
            Some(case.expect),
            "{}",
            case.name
        );
    }
    let stats = stack.stats().await;
    assert_eq!(
        (stats.connections, stats.refused),
        (0, corpus.len() as u64),
        "none was let in"
    );
    // And the live token still works: the corpus is refused for what it is, not by accident.
    assert!(connect(&stack, &format!("token={}", valid.reveal())).await.is_ok());
}

#[tokio::test]
async fn the_tokens_api_lists_without_secrets_and_revokes() {
    let stack = stack().await;
    let token = stack.create_token("alice", 30).await;
    assert!(Token::parse(&token).is_ok(), "{token}");
    let duplicate = stack
        .http()
        .post(stack.http_url("/_local/tokens"))
        .json(&serde_json::json!({"name": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(duplicate.status(), 409);
    let listed = stack
        .http()
        .get(stack.http_url("/_local/tokens"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("\"name\":\"alice\"") && listed.contains("\"ratePerMinute\":30"),
        "{listed}"
    );
    let hash = Token::parse(&token).unwrap().hash();
    assert!(!listed.contains(&token) && !listed.contains(&hash.to_hex()), "{listed}");

    assert!(connect(&stack, &format!("token={token}")).await.is_ok());
    let revoked = stack
        .http()
        .delete(stack.http_url("/_local/tokens/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        connect(&stack, &format!("token={token}")).await.err(),
        Some(403),
        "revoked"
    );
    let again = stack
        .http()
        .delete(stack.http_url("/_local/tokens/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

#[tokio::test]
async fn with_auth_none_anyone_connects_and_tokens_are_refused_in_words() {
    let stack = Stack::start(fast_config()).await;
    assert!(connect(&stack, "").await.is_ok());
    let response = stack
        .http()
        .post(stack.http_url("/_local/tokens"))
        .json(&serde_json::json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("--auth tokens"), "{body}");
}
