//! [`DynamoAccessStore`]: the access table over aws-sdk-dynamodb.
//!
//! Table `<name>-access`, partition key `pk`:
//!
//! | `pk` | attributes | written by |
//! |---|---|---|
//! | `token#<sha256 hex>` | `name`, `createdAt`, `ratePerMinute`, `revokedAt`? | operators (`stocksctl tokens`) |
//! | `rate#<tokenId>#<unix minute>` | `count`, `expiresAt` (TTL) | the ingress, one `UpdateItem` per frame |
//!
//! The authorizer only reads token items (`GetItem`, eventually consistent: a revocation takes
//! effect within a second or so); the ingress only updates rate items; the operator methods
//! ([`DynamoAccessStore::create`], [`DynamoAccessStore::list`], [`DynamoAccessStore::revoke`])
//! are what `stocksctl tokens` runs with operator credentials.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::domain::{MAX_RATE_PER_MINUTE, Token, TokenHash, TokenId, TokenRecord, valid_token_name};
use crate::ports::{AccessError, AccessStore, RateDecision};

/// How long a minute's rate counter is kept after its minute (DynamoDB's TTL sweep is lazy).
const COUNTER_TTL_SECS: i64 = 3600;

/// A new token from the operating system's random source.
pub fn new_token() -> Token {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system has a random source");
    Token::from_bytes(bytes)
}

/// A new live token named `name` and the record either store keeps of it (never the token).
/// The caller checks the name and rate first ([`check_new_token`]) and stores the record under
/// `token.hash()`.
pub fn mint_token(name: &str, rate_per_minute: u32) -> (Token, TokenRecord) {
    let token = new_token();
    let record = TokenRecord {
        token_id: token.hash().token_id(),
        name: name.to_owned(),
        created_at: now(),
        rate_per_minute,
        revoked_at: None,
    };
    (token, record)
}

/// Why an operator's token command could not be done.
#[derive(Debug, thiserror::Error)]
pub enum TokenAdminError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("a live token is already named {0:?}: revoke it first, or choose another name")]
    NameTaken(String),
    #[error("no live token is named {0:?}")]
    NoSuchToken(String),
    #[error("{0:?} is not a token name: 1-64 letters, digits, '-', '_', '.' or '@'")]
    InvalidName(String),
    #[error("a token's rate must be 1 to {MAX_RATE_PER_MINUTE} requests a minute, not {0}")]
    InvalidRate(u32),
}

/// Checks an operator's `--name` and `--rate`.
pub fn check_new_token(name: &str, rate_per_minute: u32) -> Result<(), TokenAdminError> {
    if !valid_token_name(name) {
        return Err(TokenAdminError::InvalidName(name.to_owned()));
    }
    if !(1..=MAX_RATE_PER_MINUTE).contains(&rate_per_minute) {
        return Err(TokenAdminError::InvalidRate(rate_per_minute));
    }
    Ok(())
}

/// The access table.
#[derive(Clone, Debug)]
pub struct DynamoAccessStore {
    client: Client,
    table: String,
}

fn token_pk(hash: &TokenHash) -> String {
    format!("token#{}", hash.to_hex())
}

fn rate_pk(token_id: &TokenId, minute: i64) -> String {
    format!("rate#{token_id}#{minute}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl DynamoAccessStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_sdk(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Stores a new token named `name`, and returns it: the only time it can be seen.
    pub async fn create(&self, name: &str, rate_per_minute: u32) -> Result<(Token, TokenRecord), TokenAdminError> {
        check_new_token(name, rate_per_minute)?;
        if self
            .list()
            .await?
            .iter()
            .any(|t| t.name == name && t.revoked_at.is_none())
        {
            return Err(TokenAdminError::NameTaken(name.to_owned()));
        }
        let (token, record) = mint_token(name, rate_per_minute);
        let hash = token.hash();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(token_pk(&hash)))
            .item("name", s(name))
            .item("createdAt", s(rfc3339(record.created_at)))
            .item("ratePerMinute", n(rate_per_minute))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| classify(&self.table, e))?;
        Ok((token, record))
    }

    /// Every token the table knows, revoked ones too, oldest first. Never a token or a hash.
    pub async fn list(&self) -> Result<Vec<TokenRecord>, AccessError> {
        let items = self.scan_tokens(None).await?;
        let mut records: Vec<TokenRecord> = items.iter().filter_map(record_from_item).collect();
        records.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        Ok(records)
    }

    /// The token items, every page of the scan; with `live_named`, only the live token of
    /// that name (names are unique among live tokens).
    async fn scan_tokens(&self, live_named: Option<&str>) -> Result<Vec<HashMap<String, AttributeValue>>, AccessError> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", s("token#"))
                .set_exclusive_start_key(start.take());
            if let Some(name) = live_named {
                scan = scan
                    .filter_expression("begins_with(pk, :prefix) AND #name = :name AND attribute_not_exists(revokedAt)")
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_values(":name", s(name));
            }
            let page = scan.send().await.map_err(|e| classify(&self.table, e))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Revokes the live token named `name`: it can no longer connect.
    pub async fn revoke(&self, name: &str) -> Result<TokenRecord, TokenAdminError> {
        let found = self.scan_tokens(Some(name)).await?.into_iter().next();
        let item = found.ok_or_else(|| TokenAdminError::NoSuchToken(name.to_owned()))?;
        let pk = item
            .get("pk")
            .cloned()
            .ok_or_else(|| TokenAdminError::NoSuchToken(name.to_owned()))?;
        let revoked_at = now();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk)
            .update_expression("SET revokedAt = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revokedAt)")
            .expression_attribute_values(":at", s(rfc3339(revoked_at)))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => TokenAdminError::NoSuchToken(name.to_owned()),
                _ => classify(&self.table, e).into(),
            })?;
        let mut record = record_from_item(&item).ok_or_else(|| TokenAdminError::NoSuchToken(name.to_owned()))?;
        record.revoked_at = Some(revoked_at);
        Ok(record)
    }
}

impl AccessStore for DynamoAccessStore {
    async fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, AccessError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(token_pk(hash)))
            .send()
            .await
            .map_err(|e| classify(&self.table, e))?;
        Ok(output.item.as_ref().and_then(record_from_item))
    }

    async fn count_request(&self, token_id: &TokenId, minute: i64, limit: u32) -> Result<RateDecision, AccessError> {
        if limit == 0 {
            return Ok(RateDecision::OverLimit);
        }
        let expires_at = (minute + 1) * 60 + COUNTER_TTL_SECS;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(rate_pk(token_id, minute)))
            .update_expression("ADD #count :one SET expiresAt = if_not_exists(expiresAt, :expires)")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":expires", n(expires_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(RateDecision::Counted),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(RateDecision::OverLimit)
            }
            Err(err) => Err(classify(&self.table, err)),
        }
    }
}

/// The time, to the millisecond the table keeps.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn record_from_item(item: &HashMap<String, AttributeValue>) -> Option<TokenRecord> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let hex = text("pk")?.strip_prefix("token#")?.to_owned();
    let when = |name: &str| {
        text(name)
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.to_utc())
    };
    Some(TokenRecord {
        token_id: TokenHash::from_hex(&hex)?.token_id(),
        name: text("name")?,
        created_at: when("createdAt")?,
        rate_per_minute: item.get("ratePerMinute")?.as_n().ok()?.parse().ok()?,
        revoked_at: when("revokedAt"),
    })
}

/// Sorts an SDK failure into what an operator must fix.
fn classify<E, R>(table: &str, err: SdkError<E, R>) -> AccessError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or_default();
    let table = table.to_owned();
    let source = DisplayErrorContext(&err).to_string().into();
    match code {
        "ResourceNotFoundException" => AccessError::NoSuchTable { table },
        "AccessDeniedException" | "UnrecognizedClientException" | "KMSAccessDeniedException" => {
            AccessError::AccessDenied { table, source }
        }
        _ if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => {
            AccessError::Unreachable { table, source }
        }
        _ => AccessError::Refused { table, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tokens_are_tokens_and_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(Token::parse(a.reveal()), Ok(a.clone()));
        assert_ne!(a, b);
    }

    #[test]
    fn operators_get_their_mistakes_in_words() {
        assert!(check_new_token("ci", 60).is_ok());
        assert!(matches!(
            check_new_token("a b", 60),
            Err(TokenAdminError::InvalidName(_))
        ));
        assert!(matches!(check_new_token("ci", 0), Err(TokenAdminError::InvalidRate(0))));
        assert_eq!(
            check_new_token("ci", 0).unwrap_err().to_string(),
            "a token's rate must be 1 to 100000 requests a minute, not 0"
        );
    }

    #[test]
    fn items_become_records_without_their_hash() {
        let hash = Token::from_bytes([1; 32]).hash();
        let item = HashMap::from([
            ("pk".to_owned(), s(token_pk(&hash))),
            ("name".to_owned(), s("ci")),
            ("createdAt".to_owned(), s("2026-11-24T10:00:00.000Z")),
            ("ratePerMinute".to_owned(), n(60)),
        ]);
        let record = record_from_item(&item).unwrap();
        assert_eq!(record.token_id, hash.token_id());
        assert_eq!(
            (record.name.as_str(), record.rate_per_minute, record.revoked_at),
            ("ci", 60, None)
        );
        assert!(!serde_json::to_string(&record).unwrap().contains(&hash.to_hex()));
    }
}
