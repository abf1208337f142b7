//! The access table: who may connect and how often each may ask, and the operators' side of it.

use std::future::Future;
use std::sync::Arc;

use super::TableError;
use crate::domain::{NewToken, Token, TokenHash, TokenId, TokenRecord, TokenRuleError};

/// Who may connect, and how often each may ask: the access table.
pub trait AccessStore: Send + Sync {
    /// The record stored for a token's hash, revoked or not; `None` when unknown.
    fn token(&self, hash: &TokenHash) -> impl Future<Output = Result<Option<TokenRecord>, AccessError>> + Send;

    /// Counts one request in `token_id`'s one-minute window `minute` (Unix minutes), unless
    /// `limit` requests were already counted there.
    fn count_request(
        &self,
        token_id: &TokenId,
        minute: i64,
        limit: u32,
    ) -> impl Future<Output = Result<RateDecision, AccessError>> + Send;
}

/// The operators' side of the access table: who holds a token (`stocksctl tokens`, the local
/// stack's `/_local/tokens`). A name belongs to at most one live token, whatever runs at once.
pub trait TokenAdmin: Send + Sync {
    /// Issues a token for `new` and stores its record: the only time the token can be seen.
    /// [`TokenAdminError::NameTaken`] when a live token already has the name.
    fn create(&self, new: &NewToken) -> impl Future<Output = Result<(Token, TokenRecord), TokenAdminError>> + Send;

    /// Every token, revoked ones too, oldest first. Never a token or a hash.
    fn list(&self) -> impl Future<Output = Result<Vec<TokenRecord>, TokenAdminError>> + Send;

    /// Revokes the live token named `name`: it can no longer connect, and the name is free.
    fn revoke(&self, name: &str) -> impl Future<Output = Result<TokenRecord, TokenAdminError>> + Send;
}

/// Why an operator's token command could not be done.
#[derive(Debug, thiserror::Error)]
pub enum TokenAdminError {
    /// The name or rate breaks the rules; nothing was stored.
    #[error(transparent)]
    Rule(#[from] TokenRuleError),
    /// A live token already has this name.
    #[error("a live token is already named {0:?}: revoke it first, or choose another name")]
    NameTaken(String),
    /// No live token has this name.
    #[error("no live token is named {0:?}")]
    NoSuchToken(String),
    /// The store could not be used.
    #[error(transparent)]
    Access(#[from] AccessError),
}

/// What the rate counter said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// Counted: under the limit.
    Counted,
    /// This minute's requests are spent; nothing was counted.
    OverLimit,
}

/// Why the access table could not answer, by what an operator must fix (it is named).
pub type AccessError = TableError;

// Shared adapters: tests and the local gateway keep a handle on the same instance the handler
// uses.
impl<T: AccessStore> AccessStore for Arc<T> {
    fn token(&self, hash: &TokenHash) -> impl Future<Output = Result<Option<TokenRecord>, AccessError>> + Send {
        (**self).token(hash)
    }

    fn count_request(
        &self,
        token_id: &TokenId,
        minute: i64,
        limit: u32,
    ) -> impl Future<Output = Result<RateDecision, AccessError>> + Send {
        (**self).count_request(token_id, minute, limit)
    }
}

impl<T: TokenAdmin> TokenAdmin for Arc<T> {
    fn create(&self, new: &NewToken) -> impl Future<Output = Result<(Token, TokenRecord), TokenAdminError>> + Send {
        (**self).create(new)
    }

    fn list(&self) -> impl Future<Output = Result<Vec<TokenRecord>, TokenAdminError>> + Send {
        (**self).list()
    }

    fn revoke(&self, name: &str) -> impl Future<Output = Result<TokenRecord, TokenAdminError>> + Send {
        (**self).revoke(name)
    }
}
