//! `stocksctl tokens` as operators run it — against a local stack (`--local`) and against a
//! DynamoDB table (moto) — and `stocksctl get --token`.

use std::process::Command;

use stocks_core::domain::Token;
use stocks_local::{AuthMode, LocalConfig};
use stocks_testkit::stack::fast_config;
use stocks_testkit::{MotoServer, Stack};

const BIN: &str = env!("CARGO_BIN_EXE_stocksctl");

async fn stocksctl(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("STOCKS_ACCESS_TABLE")
            .env_remove("STOCKS_TOKEN")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn against_a_local_stack_the_token_is_alone_on_stdout_and_works() {
    let stack = Stack::start(LocalConfig {
        auth: AuthMode::Tokens,
        ..fast_config()
    })
    .await;
    let base = format!("http://{}", stack.addr());
    let created = stocksctl(args(&[
        "tokens", "create", "--name", "ci", "--rate", "10", "--local", &base,
    ]))
    .await;
    assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    // TOKEN=$(stocksctl tokens create …) captures exactly the token.
    let token = stdout.strip_suffix('\n').expect("one line");
    assert!(
        Token::parse(token).is_ok(),
        "stdout is the token and nothing else: {stdout:?}"
    );
    assert!(text(&created.stderr).contains("only time it is shown"));

    let url = stack.ws_url();
    let report = stocksctl(args(&["get", "MSFT", "--url", &url, "--token", token])).await;
    assert_eq!(report.status.code(), Some(0), "{}", text(&report.stderr));
    let refused = stocksctl(args(&["get", "MSFT", "--url", &url])).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("the API wants a token"),
        "{}",
        text(&refused.stderr)
    );

    let listed = stocksctl(args(&["tokens", "list", "--local", &base])).await;
    let table = text(&listed.stdout);
    assert!(table.starts_with("NAME") && table.contains("ci"), "{table}");
    assert!(!table.contains(token), "the list never shows a token");

    let again = stocksctl(args(&["tokens", "create", "--name", "ci", "--local", &base])).await;
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("already named \"ci\""),
        "{}",
        text(&again.stderr)
    );

    let revoked = stocksctl(args(&["tokens", "revoke", "ci", "--local", &base])).await;
    assert_eq!(revoked.status.code(), Some(0), "{}", text(&revoked.stderr));
    let after = stocksctl(args(&["get", "MSFT", "--url", &url, "--token", token])).await;
    assert_eq!(after.status.code(), Some(2));
    assert!(
        text(&after.stderr).contains("refused this token"),
        "{}",
        text(&after.stderr)
    );
}

#[tokio::test]
async fn against_a_dynamodb_table_and_errors_in_words() {
    let moto = MotoServer::start();
    moto.table("stocks-access").await;
    let endpoint = moto.endpoint().to_owned();
    let aws = |rest: &[&str]| {
        let mut all = args(rest);
        all.extend(args(&[
            "--table",
            "stocks-access",
            "--endpoint-url",
            &endpoint,
            "--region",
            "us-east-1",
        ]));
        all
    };
    let created = stocksctl(aws(&["tokens", "create", "--name", "ci"])).await;
    assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
    let token = text(&created.stdout).trim().to_owned();
    let listed = stocksctl(aws(&["tokens", "list", "--json"])).await;
    let records: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(records[0]["name"], "ci");
    assert_eq!(records[0]["ratePerMinute"], 60, "the default rate");
    assert_eq!(
        records[0]["tokenId"].as_str(),
        Some(Token::parse(&token).unwrap().hash().token_id().as_str())
    );
    assert!(!text(&listed.stdout).contains(&token));
    let revoked = stocksctl(aws(&["tokens", "revoke", "ci"])).await;
    assert_eq!(revoked.status.code(), Some(0));
    let unknown = stocksctl(aws(&["tokens", "revoke", "ci"])).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown.stderr).contains("no live token is named \"ci\""),
        "{}",
        text(&unknown.stderr)
    );

    let missing = stocksctl(args(&[
        "tokens",
        "list",
        "--table",
        "nope",
        "--endpoint-url",
        &endpoint,
        "--region",
        "us-east-1",
    ]))
    .await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("error: no such table: nope"),
        "{}",
        text(&missing.stderr)
    );
    let bad_rate = stocksctl(aws(&["tokens", "create", "--name", "x", "--rate", "0"])).await;
    assert_eq!(bad_rate.status.code(), Some(2));
    assert!(
        text(&bad_rate.stderr).contains("rate must be 1 to"),
        "{}",
        text(&bad_rate.stderr)
    );
}
