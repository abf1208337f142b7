//! `stocksctl tokens`: create, list and revoke access tokens — in the deployed access table
//! (DynamoDB), or in a local stack running with `--auth tokens` (`/_local/tokens`).
//!
//! A new token is printed once, alone on stdout; everything else goes to stderr, so
//! `TOKEN=$(stocksctl tokens create --name ci)` captures exactly the token. Both stores are the
//! [`TokenAdmin`] port: the same commands run over either.

use std::process::ExitCode;

use anyhow::{Context, Result};
use stocks_core::adapters::DynamoAccessStore;
use stocks_core::domain::{NewToken, Token, TokenRecord};
use stocks_core::ports::{AccessError, TokenAdmin, TokenAdminError};

use crate::cli::{TokensArgs, TokensCommand};

/// Runs one `stocksctl tokens` command. `Err`: it could not be done (exit 2).
pub async fn run(args: &TokensArgs) -> Result<ExitCode> {
    match &args.local {
        Some(url) => command(&LocalTokens::new(url)?, &args.command).await,
        None => {
            let table = match &args.table {
                Some(table) => table.clone(),
                None => args.stack.output("access_table_name").context(
                    "give --table NAME: the stack has no access table to read (is it deployed, with auth_mode = \"token\"?)",
                )?,
            };
            let sdk = crate::stack::aws_config(&args.aws, &args.stack).await?;
            command(&DynamoAccessStore::from_sdk(&sdk, table), &args.command).await
        }
    }
}

/// One command over any token store: the one path both stores take.
async fn command(store: &impl TokenAdmin, command: &TokensCommand) -> Result<ExitCode> {
    match command {
        TokensCommand::Create { name, rate } => {
            let (token, record) = store.create(&NewToken::new(name, *rate)?).await?;
            println!("{}", token.reveal());
            eprintln!(
                "created token {:?} (id {}, {} requests a minute). This is the only time it is shown: keep it now.",
                record.name, record.token_id, record.rate_per_minute
            );
        }
        TokensCommand::List { json } => {
            let records = store.list().await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&records)?);
            } else if records.is_empty() {
                eprintln!("no tokens yet: stocksctl tokens create --name NAME");
            } else {
                print!("{}", render(&records));
            }
        }
        TokensCommand::Revoke { name } => {
            let record = store.revoke(name).await?;
            eprintln!(
                "revoked token {:?} (id {}): it can no longer connect",
                record.name, record.token_id
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A local stack's `/_local/tokens`, as a token store.
struct LocalTokens {
    base: reqwest::Url,
    http: reqwest::Client,
}

impl LocalTokens {
    fn new(url: &str) -> Result<Self> {
        let base = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .with_context(|| format!("--local {url:?} is not an http URL"))?;
        Ok(Self {
            base,
            http: reqwest::Client::new(),
        })
    }

    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// One request; the stack's 409 and 404 become `taken` and `missing`, anything else its
    /// `{"error": …}` sentence.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        taken: impl FnOnce() -> TokenAdminError,
        missing: impl FnOnce() -> TokenAdminError,
    ) -> Result<T, TokenAdminError> {
        let unreachable = |e: reqwest::Error| {
            TokenAdminError::Access(AccessError::Unreachable {
                table: self.base.to_string(),
                source: e.into(),
            })
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_value(body).map_err(|e| refused(&self.base, e.into()));
        }
        let said = body["error"].as_str().unwrap_or("the local stack refused").to_owned();
        Err(match status {
            // 409 also answers a stack without tokens (--auth none): its sentence says so.
            reqwest::StatusCode::CONFLICT if said.starts_with("a live token") => taken(),
            reqwest::StatusCode::NOT_FOUND => missing(),
            _ => refused(&self.base, said.into()),
        })
    }
}

fn refused(base: &reqwest::Url, source: stocks_core::ports::BoxError) -> TokenAdminError {
    TokenAdminError::Access(AccessError::Refused {
        table: base.to_string(),
        source,
    })
}

/// A 409 where the API has none (other than `--auth none`'s, which keeps its sentence).
fn unreachable_409() -> TokenAdminError {
    TokenAdminError::Access(AccessError::Refused {
        table: "/_local/tokens".into(),
        source: "the local stack answered 409".into(),
    })
}

/// A 404 where the API has none: not a local stack at that URL.
fn unreachable_404() -> TokenAdminError {
    TokenAdminError::Access(AccessError::NoSuchTable {
        table: "/_local/tokens (is this a local stack, `make dev`?)".into(),
    })
}

/// What `POST /_local/tokens` answers.
#[derive(serde::Deserialize)]
struct Created {
    token: String,
    #[serde(flatten)]
    record: TokenRecord,
}

impl TokenAdmin for LocalTokens {
    async fn create(&self, new: &NewToken) -> Result<(Token, TokenRecord), TokenAdminError> {
        let request = self
            .http
            .post(self.url(&["_local", "tokens"]))
            .json(&serde_json::json!({"name": new.name(), "ratePerMinute": new.rate_per_minute()}));
        let created: Created = self
            .call(
                request,
                || TokenAdminError::NameTaken(new.name().to_owned()),
                unreachable_404,
            )
            .await?;
        let token = Token::parse(&created.token).map_err(|e| refused(&self.base, e.into()))?;
        Ok((token, created.record))
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, TokenAdminError> {
        self.call(
            self.http.get(self.url(&["_local", "tokens"])),
            unreachable_409,
            unreachable_404,
        )
        .await
    }

    async fn revoke(&self, name: &str) -> Result<TokenRecord, TokenAdminError> {
        let missing = || TokenAdminError::NoSuchToken(name.to_owned());
        self.call(
            self.http.delete(self.url(&["_local", "tokens", name])),
            unreachable_409,
            missing,
        )
        .await
    }
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
