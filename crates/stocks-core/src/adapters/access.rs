//! [`DynamoAccessStore`]: the access table over aws-sdk-dynamodb.
//!
//! Table `<name>-access`, partition key `pk`:
//!
//! | `pk` | attributes | written by |
//! |---|---|---|
//! | `token#<sha256 hex>` | `name`, `createdAt`, `ratePerMinute`, `revokedAt`? | operators (`stocksctl tokens`) |
//! | `name#<name>` | `tokenHash` | operators: put with its live token in one transaction, deleted with its revocation |
//! | `rate#<tokenId>#<unix minute>` | `count`, `expiresAt` (TTL) | the ingress, one `UpdateItem` per frame |
//!
//! The `name#` item is what makes a name belong to one live token: two operators creating the
//! same name at once race on its `attribute_not_exists(pk)` condition inside DynamoDB, and one
//! transaction is cancelled. Tokens created before `name#` items existed are found by a scan.
//!
//! The authorizer only reads token items (`GetItem`, eventually consistent: a revocation takes
//! effect within a second or so); the ingress only updates rate items; [`TokenAdmin`] is what
//! `stocksctl tokens` runs with operator credentials.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::dynamo::{classify, condition_held, n, s};
use super::system::{issue_token, now_millis};
use crate::domain::{NewToken, Token, TokenHash, TokenId, TokenRecord};
use crate::ports::{AccessError, AccessStore, RateDecision, TokenAdmin, TokenAdminError};

/// How long a minute's rate counter is kept after its minute (DynamoDB's TTL sweep is lazy).
const COUNTER_TTL_SECS: i64 = 3600;

/// The access table.
#[derive(Clone, Debug)]
pub struct DynamoAccessStore {
    client: Client,
    table: String,
}

fn token_pk(hash: &TokenHash) -> String {
    format!("token#{}", hash.to_hex())
}

fn name_pk(name: &str) -> String {
    format!("name#{name}")
}

fn rate_pk(token_id: &TokenId, minute: i64) -> String {
    format!("rate#{token_id}#{minute}")
}

impl DynamoAccessStore {
    /// The table `table`, reached with `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table `table`, with a client built from `config`.
    pub fn from_sdk(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The token items, every page of the scan; with `live_named`, only the live token of
    /// that name.
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

    /// One item, read consistently.
    async fn item(&self, pk: String) -> Result<Option<HashMap<String, AttributeValue>>, AccessError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(&self.table, e))?;
        Ok(output.item)
    }

    /// The hash of the live token named `name`: its `name#` item, or (a token created before
    /// those existed) a scan.
    async fn live_hash(&self, name: &str) -> Result<Option<String>, AccessError> {
        if let Some(item) = self.item(name_pk(name)).await? {
            return Ok(text(&item, "tokenHash"));
        }
        let legacy = self.scan_tokens(Some(name)).await?;
        Ok(legacy
            .first()
            .and_then(|item| text(item, "pk"))
            .and_then(|pk| pk.strip_prefix("token#").map(str::to_owned)))
    }

    /// Runs a transaction; `Ok(false)` when DynamoDB cancelled it because a condition failed.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, AccessError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                    if cancelled
                        .cancellation_reasons()
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed")) =>
                {
                    Ok(false)
                }
                _ => Err(classify(&self.table, err)),
            },
        }
    }
}

impl TokenAdmin for DynamoAccessStore {
    async fn create(&self, new: &NewToken) -> Result<(Token, TokenRecord), TokenAdminError> {
        let taken = || TokenAdminError::NameTaken(new.name().to_owned());
        if !self.scan_tokens(Some(new.name())).await?.is_empty() {
            return Err(taken());
        }
        let (token, record) = issue_token(new);
        let hash = token.hash().to_hex();
        let build = |e: aws_sdk_dynamodb::error::BuildError| refused(&self.table, e);
        let token_item = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("token#{hash}")))
            .item("name", s(new.name()))
            .item("createdAt", s(rfc3339(record.created_at)))
            .item("ratePerMinute", n(record.rate_per_minute))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let name_item = Put::builder()
            .table_name(&self.table)
            .item("pk", s(name_pk(new.name())))
            .item("tokenHash", s(&hash))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let items = vec![
            TransactWriteItem::builder().put(token_item).build(),
            TransactWriteItem::builder().put(name_item).build(),
        ];
        if self.transact(items).await? {
            Ok((token, record))
        } else {
            Err(taken())
        }
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, TokenAdminError> {
        let items = self.scan_tokens(None).await?;
        let mut records: Vec<TokenRecord> = items.iter().filter_map(record_from_item).collect();
        records.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        Ok(records)
    }

    async fn revoke(&self, name: &str) -> Result<TokenRecord, TokenAdminError> {
        let missing = || TokenAdminError::NoSuchToken(name.to_owned());
        let hash = self.live_hash(name).await?.ok_or_else(missing)?;
        let item = self.item(format!("token#{hash}")).await?.ok_or_else(missing)?;
        let mut record = record_from_item(&item).ok_or_else(missing)?;
        let revoked_at = now_millis();
        let build = |e: aws_sdk_dynamodb::error::BuildError| refused(&self.table, e);
        let revoke = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("token#{hash}")))
            .update_expression("SET revokedAt = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revokedAt)")
            .expression_attribute_values(":at", s(rfc3339(revoked_at)))
            .build()
            .map_err(build)?;
        // Frees the name; a token from before `name#` items has none, which is fine.
        let free_name = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(name_pk(name)))
            .condition_expression("attribute_not_exists(pk) OR tokenHash = :hash")
            .expression_attribute_values(":hash", s(&hash))
            .build()
            .map_err(build)?;
        let items = vec![
            TransactWriteItem::builder().update(revoke).build(),
            TransactWriteItem::builder().delete(free_name).build(),
        ];
        if !self.transact(items).await? {
            // Revoked (or re-created) by someone else in between.
            return Err(missing());
        }
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
        let held = condition_held(result).map_err(|e| classify(&self.table, e))?;
        Ok(if held {
            RateDecision::Counted
        } else {
            RateDecision::OverLimit
        })
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn record_from_item(item: &HashMap<String, AttributeValue>) -> Option<TokenRecord> {
    let text = |name: &str| text(item, name);
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

/// A request this adapter could not even build.
fn refused(table: &str, err: aws_sdk_dynamodb::error::BuildError) -> AccessError {
    AccessError::Refused {
        table: table.to_owned(),
        source: err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
