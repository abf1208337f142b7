//! [`DynamoMarketStore`]: the fleet's market store in one DynamoDB table (`MARKET_TABLE`).
//!
//! Partition key `pk`, TTL attribute `expiresAt` (Unix seconds):
//!
//! | `pk` | attributes | how it changes |
//! |---|---|---|
//! | `quota#polygon` | `starts` (list of Unix ms), `reserved` (map key → Unix ms), `closedUntil` (Unix ms), `version` | a consistent read, the domain's rules, one `PutItem` on `version = :seen`; a lost race rereads, a few times with jitter |
//! | `answer#TICKER#FROM#TO` | `bars` (binary, [`PackedBars`]), `count`, `expiresAt` = the next market close | `PutItem` by the instance that fetched it; read consistently |
//! | `lease#TICKER#FROM#TO` | `holder`, `expiresAt` = now + the fetch budget | `PutItem` only if absent or expired; `DeleteItem` by its holder |
//!
//! A 429's gate is an `UpdateItem` of the quota item that only ever moves `closedUntil` later,
//! and moves `version` too, so a write decided on the old ledger loses its race.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use crate::adapters::dynamo::{self, condition_held, n, s};
use crate::domain::{AnswerKey, Bar, PackedBars, QuotaLedger, Rate, Slot};
use crate::ports::{MarketQuota, SharedAnswers, StoreError};

/// The quota ledger's item.
const QUOTA_PK: &str = "quota#polygon";

/// Reads and conditional writes tried before the ledger is called contended.
const TRIES: u32 = 8;

/// The fleet's market table.
#[derive(Clone, Debug)]
pub struct DynamoMarketStore {
    client: Client,
    table: String,
    rate: Option<Rate>,
}

impl DynamoMarketStore {
    /// The table `table`, reached with `client`, holding the fleet to `rate`.
    pub fn new(client: Client, table: impl Into<String>, rate: Option<Rate>) -> Self {
        Self {
            client,
            table: table.into(),
            rate,
        }
    }

    /// The table `table`, with a client built from `config`.
    pub fn from_sdk(config: &SdkConfig, table: impl Into<String>, rate: Option<Rate>) -> Self {
        Self::new(Client::new(config), table, rate)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn error<E, R>(&self, err: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        StoreError::Table(dynamo::classify(&self.table, err))
    }

    /// The ledger and its version (0: no item yet), read consistently.
    async fn ledger(&self) -> Result<(QuotaLedger, u64), StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(QUOTA_PK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(e))?
            .item
            .unwrap_or_default();
        Ok((ledger_from(&item), number(&item, "version").unwrap_or(0)))
    }

    /// Writes `ledger` as version `seen + 1`: `false` when someone else wrote since `seen`.
    async fn write(&self, ledger: &QuotaLedger, seen: u64) -> Result<bool, StoreError> {
        let reserved: HashMap<String, AttributeValue> =
            ledger.reserved.iter().map(|(k, at)| (k.clone(), n(at))).collect();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(QUOTA_PK))
            .item("starts", AttributeValue::L(ledger.starts.iter().map(n).collect()))
            .item("reserved", AttributeValue::M(reserved))
            .item("closedUntil", n(ledger.closed_until))
            .item("version", n(seen + 1))
            .condition_expression("attribute_not_exists(pk) OR version = :seen")
            .expression_attribute_values(":seen", n(seen))
            .send()
            .await;
        condition_held(result).map_err(|e| self.error(e))
    }
}

impl MarketQuota for DynamoMarketStore {
    async fn take_slot(&self, key: &str, now: DateTime<Utc>) -> Result<Slot, StoreError> {
        for attempt in 1..=TRIES {
            let (mut ledger, version) = self.ledger().await?;
            let before = ledger.clone();
            let slot = ledger.take(key, now, self.rate);
            if ledger == before || self.write(&ledger, version).await? {
                return Ok(slot);
            }
            // Another instance wrote first: read its ledger and decide again, a moment later.
            let jitter = fastrand::u64(5..=20) * u64::from(attempt);
            tokio::time::sleep(Duration::from_millis(jitter)).await;
        }
        Err(StoreError::Contended {
            table: self.table.clone(),
            tries: TRIES,
        })
    }

    async fn close_gate(&self, until: DateTime<Utc>) -> Result<(), StoreError> {
        let until = until.timestamp_millis();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(QUOTA_PK))
            .update_expression("SET closedUntil = :until ADD version :one")
            .condition_expression("attribute_not_exists(closedUntil) OR closedUntil < :until")
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        // A condition that did not hold: the gate is closed as long or longer already.
        condition_held(result).map(|_| ()).map_err(|e| self.error(e))
    }
}

impl SharedAnswers for DynamoMarketStore {
    async fn answer(&self, key: &AnswerKey, now: DateTime<Utc>) -> Result<Option<Vec<Bar>>, StoreError> {
        // Consistent: a lease's holder writes the answer before it lets the lease go, and whoever
        // then finds no lease must find the answer, or it would ask the market a second time.
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("answer#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(e))?
            .item;
        let Some(item) = item else { return Ok(None) };
        if number::<i64>(&item, "expiresAt").is_none_or(|at| at <= seconds(now)) {
            return Ok(None);
        }
        let packed = match item.get("bars") {
            Some(AttributeValue::B(blob)) => PackedBars::from_bytes(blob.clone().into_inner()),
            _ => None,
        };
        // An answer this build cannot read is no answer: it is fetched again and overwritten.
        Ok(packed.map(|p| p.unpack()))
    }

    async fn keep(&self, key: &AnswerKey, bars: &[Bar], until: DateTime<Utc>) -> Result<(), StoreError> {
        let Some(packed) = PackedBars::pack(bars) else {
            tracing::warn!(
                bars = bars.len(),
                "an answer too large to share; kept by this instance only"
            );
            return Ok(());
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("answer#{key}")))
            .item("bars", AttributeValue::B(Blob::new(packed.as_bytes().to_vec())))
            .item("count", n(bars.len()))
            .item("expiresAt", n(seconds(until)))
            .send()
            .await
            .map_err(|e| self.error(e))?;
        Ok(())
    }

    async fn take_lease(
        &self,
        key: &AnswerKey,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("lease#{key}")))
            .item("holder", s(holder))
            .item("expiresAt", n(seconds(until)))
            .condition_expression("attribute_not_exists(pk) OR expiresAt <= :now")
            .expression_attribute_values(":now", n(seconds(now)))
            .send()
            .await;
        condition_held(result).map_err(|e| self.error(e))
    }

    async fn release_lease(&self, key: &AnswerKey, holder: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("lease#{key}")))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", s(holder))
            .send()
            .await;
        // A condition that did not hold: the lease expired and another holder has it now.
        condition_held(result).map(|_| ()).map_err(|e| self.error(e))
    }
}

/// Unix seconds, rounded up (an expiry is never early).
fn seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)
}

fn number<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn ledger_from(item: &HashMap<String, AttributeValue>) -> QuotaLedger {
    let starts = match item.get("starts") {
        Some(AttributeValue::L(values)) => values.iter().filter_map(|v| v.as_n().ok()?.parse().ok()).collect(),
        _ => Vec::new(),
    };
    let reserved: BTreeMap<String, i64> = match item.get("reserved") {
        Some(AttributeValue::M(map)) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
            .collect(),
        _ => BTreeMap::new(),
    };
    QuotaLedger {
        starts,
        reserved,
        closed_until: number(item, "closedUntil").unwrap_or(0),
    }
}
