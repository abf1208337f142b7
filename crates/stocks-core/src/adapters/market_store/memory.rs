//! [`MemoryMarketStore`]: the fleet's market store in one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::domain::{AnswerKey, Bar, QuotaLedger, Rate, Slot};
use crate::ports::{MarketQuota, SharedAnswers, StoreError};

/// The quota ledger, answers and leases in memory, with the DynamoDB store's rules.
pub struct MemoryMarketStore {
    rate: Option<Rate>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    ledger: QuotaLedger,
    /// Answers by key, and until when each is good.
    answers: HashMap<String, (Arc<Vec<Bar>>, DateTime<Utc>)>,
    /// Leases by key: the holder, and until when.
    leases: HashMap<String, (String, DateTime<Utc>)>,
}

impl MemoryMarketStore {
    /// Answers kept at most; the ones that expire first go first.
    pub const MAX_ANSWERS: usize = 4096;

    /// An empty store holding the fleet to `rate` (`None`: no limiter of our own).
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            rate,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The ledger as it stands (for tests and the local stack's counters).
    pub fn ledger(&self) -> QuotaLedger {
        self.state().ledger.clone()
    }
}

impl MarketQuota for MemoryMarketStore {
    async fn take_slot(&self, key: &str, now: DateTime<Utc>) -> Result<Slot, StoreError> {
        Ok(self.state().ledger.take(key, now, self.rate))
    }

    async fn close_gate(&self, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.state().ledger.close(until);
        Ok(())
    }
}

impl SharedAnswers for MemoryMarketStore {
    async fn answer(&self, key: &AnswerKey, now: DateTime<Utc>) -> Result<Option<Vec<Bar>>, StoreError> {
        let state = self.state();
        Ok(state
            .answers
            .get(&key.to_string())
            .filter(|(_, until)| now < *until)
            .map(|(bars, _)| bars.as_ref().clone()))
    }

    async fn keep(&self, key: &AnswerKey, bars: &[Bar], until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.answers.len() >= Self::MAX_ANSWERS {
            let now = Utc::now();
            state.answers.retain(|_, (_, expires)| *expires > now);
            while state.answers.len() >= Self::MAX_ANSWERS {
                let first = state
                    .answers
                    .iter()
                    .min_by_key(|(_, (_, expires))| *expires)
                    .map(|(k, _)| k.clone());
                match first {
                    Some(k) => state.answers.remove(&k),
                    None => break,
                };
            }
        }
        state.answers.insert(key.to_string(), (Arc::new(bars.to_vec()), until));
        Ok(())
    }

    async fn take_lease(
        &self,
        key: &AnswerKey,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = key.to_string();
        if state.leases.get(&key).is_some_and(|(_, expires)| *expires > now) {
            return Ok(false);
        }
        state.leases.insert(key, (holder.to_owned(), until));
        Ok(true)
    }

    async fn release_lease(&self, key: &AnswerKey, holder: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        let key = key.to_string();
        if state.leases.get(&key).is_some_and(|(h, _)| h == holder) {
            state.leases.remove(&key);
        }
        Ok(())
    }
}
