//! [`MemoryAccessStore`]: the access table in memory, for `--auth tokens`.
//!
//! The real authorizer and the real ingress rate check run over it; `/_local/tokens` (and
//! `stocksctl tokens --local`) create, list and revoke tokens in it through the same
//! [`TokenAdmin`] port as `stocks_core::adapters::DynamoAccessStore`, with the same rules.

use std::collections::HashMap;
use std::sync::Mutex;

use stocks_core::adapters::{issue_token, now_millis};
use stocks_core::domain::{NewToken, Token, TokenHash, TokenId, TokenRecord};
use stocks_core::ports::{AccessError, AccessStore, RateDecision, TokenAdmin, TokenAdminError};

#[derive(Default)]
struct Tables {
    tokens: HashMap<TokenHash, TokenRecord>,
    /// (token, Unix minute) → requests counted.
    counters: HashMap<(TokenId, i64), u32>,
}

/// Tokens and per-minute counters, in memory.
#[derive(Default)]
pub struct MemoryAccessStore(Mutex<Tables>);

impl MemoryAccessStore {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenAdmin for MemoryAccessStore {
    async fn create(&self, new: &NewToken) -> Result<(Token, TokenRecord), TokenAdminError> {
        let mut tables = self.tables();
        // Checked and written under one lock: a name belongs to one live token.
        if tables
            .tokens
            .values()
            .any(|t| t.name == new.name() && t.revoked_at.is_none())
        {
            return Err(TokenAdminError::NameTaken(new.name().to_owned()));
        }
        let (token, record) = issue_token(new);
        tables.tokens.insert(token.hash(), record.clone());
        Ok((token, record))
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, TokenAdminError> {
        let mut records: Vec<_> = self.tables().tokens.values().cloned().collect();
        records.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        Ok(records)
    }

    async fn revoke(&self, name: &str) -> Result<TokenRecord, TokenAdminError> {
        let mut tables = self.tables();
        let record = tables
            .tokens
            .values_mut()
            .find(|t| t.name == name && t.revoked_at.is_none())
            .ok_or_else(|| TokenAdminError::NoSuchToken(name.to_owned()))?;
        record.revoked_at = Some(now_millis());
        Ok(record.clone())
    }
}

impl AccessStore for MemoryAccessStore {
    async fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, AccessError> {
        Ok(self.tables().tokens.get(hash).cloned())
    }

    async fn count_request(&self, token_id: &TokenId, minute: i64, limit: u32) -> Result<RateDecision, AccessError> {
        let mut tables = self.tables();
        // Old minutes go, as their TTL would have them.
        tables.counters.retain(|(_, m), _| *m >= minute - 1);
        let count = tables.counters.entry((token_id.clone(), minute)).or_insert(0);
        if *count >= limit {
            return Ok(RateDecision::OverLimit);
        }
        *count += 1;
        Ok(RateDecision::Counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_are_created_once_per_name_and_revoked_by_name() {
        let store = MemoryAccessStore::default();
        let ci = NewToken::new("ci", 2).unwrap();
        let (token, record) = store.create(&ci).await.unwrap();
        assert_eq!(store.token(&token.hash()).await.unwrap(), Some(record.clone()));
        assert!(matches!(store.create(&ci).await, Err(TokenAdminError::NameTaken(_))));
        let revoked = store.revoke("ci").await.unwrap();
        assert!(revoked.revoked_at.is_some());
        assert!(store.token(&token.hash()).await.unwrap().unwrap().revoked_at.is_some());
        assert!(matches!(store.revoke("ci").await, Err(TokenAdminError::NoSuchToken(_))));
        assert!(store.create(&ci).await.is_ok(), "the name is free again");
        assert_eq!(store.list().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_minute_holds_at_most_the_limit() {
        let store = MemoryAccessStore::default();
        let id = TokenId::parse("0123456789ab").unwrap();
        for _ in 0..3 {
            assert_eq!(store.count_request(&id, 100, 3).await.unwrap(), RateDecision::Counted);
        }
        assert_eq!(store.count_request(&id, 100, 3).await.unwrap(), RateDecision::OverLimit);
        assert_eq!(
            store.count_request(&id, 101, 3).await.unwrap(),
            RateDecision::Counted,
            "a new minute"
        );
    }
}
