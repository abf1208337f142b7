//! `stocksctl tokens`: create, list and revoke access tokens — in the deployed access table
//! (DynamoDB), or in a local stack running with `--auth tokens` (`/_local/tokens`).
//!
//! A new token is printed once, alone on stdout; everything else goes to stderr, so
//! `TOKEN=$(stocksctl tokens create --name ci)` captures exactly the token.

use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use stocks_core::adapters::{DynamoAccessStore, sdk_config};
use stocks_core::domain::TokenRecord;

use crate::cli::{TokensArgs, TokensCommand};

/// Where the tokens are.
enum Store {
    Table(DynamoAccessStore),
    Local { base: String, http: reqwest::Client },
}

/// Runs one `stocksctl tokens` command. `Err`: it could not be done (exit 2).
pub async fn run(args: &TokensArgs) -> Result<ExitCode> {
    let store = match (&args.local, &args.table) {
        (Some(url), _) => Store::Local {
            base: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        },
        (None, Some(table)) => Store::Table(table_store(args, table).await),
        (None, None) => Store::Table(table_store(args, &table_from_terraform()?).await),
    };
    match &args.command {
        TokensCommand::Create { name, rate } => {
            let (token, record) = create(&store, name, *rate).await?;
            println!("{token}");
            eprintln!(
                "created token {:?} (id {}, {} requests a minute). This is the only time it is shown: keep it now.",
                record.name, record.token_id, record.rate_per_minute
            );
        }
        TokensCommand::List { json } => {
            let records = list(&store).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else if records.is_empty() {
                eprintln!("no tokens yet: stocksctl tokens create --name NAME");
            } else {
                print!("{}", render(&records));
            }
        }
        TokensCommand::Revoke { name } => {
            let record = revoke(&store, name).await?;
            eprintln!(
                "revoked token {:?} (id {}): it can no longer connect",
                record.name, record.token_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn table_store(args: &TokensArgs, table: &str) -> DynamoAccessStore {
    let sdk = sdk_config(args.aws.endpoint_url.as_deref(), args.aws.region.as_deref()).await;
    DynamoAccessStore::from_sdk(&sdk, table)
}

/// `terraform output access_table_name`, run from the repository root.
fn table_from_terraform() -> Result<String> {
    let output = std::process::Command::new("terraform")
        .args(["-chdir=terraform", "output", "-raw", "access_table_name"])
        .output()
        .map_err(|e| anyhow!("give --table NAME (terraform could not be run to read it from the deployment: {e})"))?;
    let table = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || table.is_empty() || table.contains(char::is_whitespace) {
        bail!(
            "give --table NAME: `terraform output access_table_name` has no table (is the stack deployed, with auth_mode = \"token\"?)"
        );
    }
    Ok(table)
}

async fn create(store: &Store, name: &str, rate: u32) -> Result<(String, TokenRecord)> {
    match store {
        Store::Table(table) => {
            let (token, record) = table.create(name, rate).await?;
            Ok((token.reveal().to_owned(), record))
        }
        Store::Local { base, http } => {
            let answer: serde_json::Value = local(
                http.post(format!("{base}/_local/tokens"))
                    .json(&serde_json::json!({"name": name, "ratePerMinute": rate})),
            )
            .await?;
            let token = answer["token"]
                .as_str()
                .context("the local stack answered no token")?
                .to_owned();
            Ok((token, serde_json::from_value(answer_record(&answer))?))
        }
    }
}

async fn list(store: &Store) -> Result<Vec<TokenRecord>> {
    match store {
        Store::Table(table) => Ok(table.list().await?),
        Store::Local { base, http } => local(http.get(format!("{base}/_local/tokens"))).await,
    }
}

async fn revoke(store: &Store, name: &str) -> Result<TokenRecord> {
    match store {
        Store::Table(table) => Ok(table.revoke(name).await?),
        Store::Local { base, http } => {
            let mut url = reqwest::Url::parse(&format!("{base}/_local/tokens/")).context("--local is not a URL")?;
            url.path_segments_mut()
                .map_err(|()| anyhow!("--local is not an http URL"))?
                .pop_if_empty()
                .push(name);
            local(http.delete(url)).await
        }
    }
}

/// The record fields of a `POST /_local/tokens` answer.
fn answer_record(answer: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "tokenId": answer["tokenId"], "name": answer["name"], "ratePerMinute": answer["ratePerMinute"],
        "createdAt": chrono::Utc::now(),
    })
}

/// One request to the local stack; its `{"error": …}` becomes ours.
async fn local<T: serde::de::DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T> {
    let response = request
        .send()
        .await
        .context("cannot reach the local stack (is `make dev ARGS=\"--auth tokens\"` running?)")?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .context("the local stack answered something else")?;
    if !status.is_success() {
        bail!("{}", body["error"].as_str().unwrap_or("the local stack refused"));
    }
    Ok(serde_json::from_value(body)?)
}

/// `tokens list` as a table.
pub fn render(records: &[TokenRecord]) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "TOKEN ID".into(),
        "CREATED".into(),
        "RATE/MIN".into(),
        "REVOKED".into(),
    ]];
    let when = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    for r in records {
        rows.push([
            r.name.clone(),
            r.token_id.to_string(),
            when(r.created_at),
            r.rate_per_minute.to_string(),
            r.revoked_at.map_or_else(|| "-".to_owned(), when),
        ]);
    }
    crate::dlq::render::table(&rows)
}

#[cfg(test)]
mod tests {
    use stocks_core::domain::TokenId;

    use super::*;

    #[test]
    fn the_list_shows_names_and_ids_only() {
        let record = TokenRecord {
            token_id: TokenId::parse("0123456789ab").unwrap(),
            name: "ci".into(),
            created_at: chrono::DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
                .unwrap()
                .to_utc(),
            rate_per_minute: 60,
            revoked_at: None,
        };
        let text = render(&[record]);
        assert!(text.starts_with("NAME"), "{text}");
        assert!(
            text.contains("ci    0123456789ab  2026-11-24 10:00:00  60        -"),
            "{text}"
        );
    }
}
