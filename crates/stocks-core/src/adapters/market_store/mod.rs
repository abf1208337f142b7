//! The store the worker fleet shares for the market: the quota ledger ([`MarketQuota`]), and
//! answers and leases ([`SharedAnswers`]).
//!
//! - [`DynamoMarketStore`] — deployed: one table (`MARKET_TABLE`) every instance reaches.
//! - [`MemoryMarketStore`] — the local stack's instances share one; a worker with no table
//!   configured keeps its own.
//! - [`FleetStore`] — either, as a Lambda's configuration says.
//!
//! Both keep the same rules (the domain's [`crate::domain::QuotaLedger`], answer expiry, leases
//! taken only if absent or expired), so tests of one hold for the other.

mod dynamo;
mod memory;

use std::ops::RangeInclusive;
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};

pub use dynamo::DynamoMarketStore;
pub use memory::MemoryMarketStore;

use crate::domain::{AnswerKey, Bar, Rate, Slot};
use crate::ports::{MAX_DELAY_SECS, MarketQuota, SharedAnswers, StoreError};

/// How the fleet treats the market's quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaSettings {
    /// The plan's rate for the whole fleet (`POLYGON_REQUESTS_PER_MINUTE`); `None` leaves it to
    /// Polygon's 429s.
    pub rate: Option<Rate>,
    /// How long the gate stays closed after a 429 without `Retry-After` (`QUOTA_DEFER_SECS`).
    pub defer_without_retry_after: Duration,
}

impl QuotaSettings {
    /// `QUOTA_DEFER_SECS` unless set: the wait after a 429 that names none.
    pub const DEFAULT_DEFER: Duration = Duration::from_secs(60);
    /// What `QUOTA_DEFER_SECS` may be, in seconds: at least one, at most SQS's longest delay
    /// (the deferred job waits in the queue that long).
    pub const DEFER_SECS: RangeInclusive<u64> = 1..=MAX_DELAY_SECS as u64;
    /// What `POLYGON_REQUESTS_PER_MINUTE` may be (0: no limiter of our own). The ledger keeps
    /// one start time per call of the last minute in one item.
    pub const REQUESTS_PER_MINUTE: RangeInclusive<u32> = 0..=1000;
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            rate: None,
            defer_without_retry_after: Self::DEFAULT_DEFER,
        }
    }
}

/// The shared store a worker was configured with: the fleet's table, or its own memory.
pub enum FleetStore {
    /// `MARKET_TABLE`: shared by every instance.
    Dynamo(DynamoMarketStore),
    /// No table: this instance's own limiter and answers.
    Memory(MemoryMarketStore),
}

impl FleetStore {
    /// The table `table` when one is configured, else this instance's own memory (said once
    /// in the log: the quota then holds per instance, not for the fleet).
    pub fn from_config(aws: &SdkConfig, table: Option<String>, rate: Option<Rate>) -> Self {
        match table {
            Some(table) => Self::Dynamo(DynamoMarketStore::from_sdk(aws, table, rate)),
            None => {
                tracing::warn!(
                    "MARKET_TABLE is not set: this instance keeps its own market quota and answers; the quota holds per instance, not for the fleet"
                );
                Self::Memory(MemoryMarketStore::new(rate))
            }
        }
    }
}

impl MarketQuota for FleetStore {
    async fn take_slot(&self, key: &str, now: DateTime<Utc>) -> Result<Slot, StoreError> {
        match self {
            Self::Dynamo(store) => store.take_slot(key, now).await,
            Self::Memory(store) => store.take_slot(key, now).await,
        }
    }

    async fn close_gate(&self, until: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            Self::Dynamo(store) => store.close_gate(until).await,
            Self::Memory(store) => store.close_gate(until).await,
        }
    }
}

impl SharedAnswers for FleetStore {
    async fn answer(&self, key: &AnswerKey, now: DateTime<Utc>) -> Result<Option<Vec<Bar>>, StoreError> {
        match self {
            Self::Dynamo(store) => store.answer(key, now).await,
            Self::Memory(store) => store.answer(key, now).await,
        }
    }

    async fn keep(&self, key: &AnswerKey, bars: &[Bar], until: DateTime<Utc>) -> Result<(), StoreError> {
        match self {
            Self::Dynamo(store) => store.keep(key, bars, until).await,
            Self::Memory(store) => store.keep(key, bars, until).await,
        }
    }

    async fn take_lease(
        &self,
        key: &AnswerKey,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Dynamo(store) => store.take_lease(key, holder, now, until).await,
            Self::Memory(store) => store.take_lease(key, holder, now, until).await,
        }
    }

    async fn release_lease(&self, key: &AnswerKey, holder: &str) -> Result<(), StoreError> {
        match self {
            Self::Dynamo(store) => store.release_lease(key, holder).await,
            Self::Memory(store) => store.release_lease(key, holder).await,
        }
    }
}
