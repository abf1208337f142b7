//! Access tokens: what a client presents on `$connect`, and what the service keeps of it.
//!
//! A token is `stk_` followed by 32 random bytes in unpadded base64url (43 characters). Only
//! its SHA-256 is stored ([`TokenHash`]); the first 12 hex characters of that hash are the
//! token's public name in logs, contexts and rate counters ([`TokenId`]). Neither a token nor a
//! hash is ever logged, and a [`Token`]'s `Debug` does not show it.

use std::fmt;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A syntactically valid access token. Holding one says nothing about whether it is known.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// Why a string is not a token (each is refused the same way: 403).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The query string has no token, or an empty one.
    #[error("no token")]
    Missing,
    /// Something that is not a token's shape.
    #[error("not a token")]
    Malformed,
}

impl Token {
    /// What every token starts with.
    pub const PREFIX: &str = "stk_";
    /// `stk_` and 43 base64url characters.
    pub const LEN: usize = 4 + 43;

    /// The token for 32 random bytes (the caller brings the randomness: the domain does no I/O).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(format!(
            "{}{}",
            Self::PREFIX,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Exactly `stk_` + 43 base64url characters that decode to 32 bytes; nothing trimmed,
    /// nothing else accepted.
    pub fn parse(raw: &str) -> Result<Self, TokenError> {
        if raw.is_empty() {
            return Err(TokenError::Missing);
        }
        let body = raw.strip_prefix(Self::PREFIX).ok_or(TokenError::Malformed)?;
        let canonical = raw.len() == Self::LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .is_ok_and(|bytes| bytes.len() == 32);
        if canonical {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TokenError::Malformed)
        }
    }

    /// The one place the secret is readable: to show it once, when it is created.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Its SHA-256, what the access table stores.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a token: what the access table is keyed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Lower-case hex, as stored.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A hash from its 64 lower-case hex characters.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(bytes))
    }

    /// The token's public name.
    pub fn token_id(&self) -> TokenId {
        TokenId(self.to_hex()[..TokenId::LEN].to_owned())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", self.token_id())
    }
}

/// A token's public name: the first 12 hex characters of its hash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    /// Hex characters in a token id.
    pub const LEN: usize = 12;

    /// A token id from 12 lower-case hex characters.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == Self::LEN && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(raw.to_owned()))
    }

    /// The 12 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TokenId {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).ok_or_else(|| format!("{raw:?} is not a token id"))
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> Self {
        id.0
    }
}

/// A token's name: what operators call it (`--name`), unique among live tokens.
pub fn valid_token_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// The most requests a minute a token may be given.
pub const MAX_RATE_PER_MINUTE: u32 = 100_000;

/// The requests a minute a token gets unless its operator says otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;

/// Why an operator's new token was refused before anything was stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRuleError {
    /// Not 1-64 of the characters [`valid_token_name`] allows.
    #[error("{0:?} is not a token name: 1-64 letters, digits, '-', '_', '.' or '@'")]
    InvalidName(String),
    /// Outside `1..=`[`MAX_RATE_PER_MINUTE`].
    #[error("a token's rate must be 1 to {MAX_RATE_PER_MINUTE} requests a minute, not {0}")]
    InvalidRate(u32),
}

/// An operator's request for a token, checked: a valid name and rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewToken {
    name: String,
    rate_per_minute: u32,
}

impl NewToken {
    /// Checks an operator's `--name` and `--rate`.
    pub fn new(name: &str, rate_per_minute: u32) -> Result<Self, TokenRuleError> {
        if !valid_token_name(name) {
            return Err(TokenRuleError::InvalidName(name.to_owned()));
        }
        if !(1..=MAX_RATE_PER_MINUTE).contains(&rate_per_minute) {
            return Err(TokenRuleError::InvalidRate(rate_per_minute));
        }
        Ok(Self {
            name: name.to_owned(),
            rate_per_minute,
        })
    }

    /// The name asked for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The requests a minute asked for.
    pub fn rate_per_minute(&self) -> u32 {
        self.rate_per_minute
    }

    /// The token for 32 random bytes, and the record a store keeps of it (never the token),
    /// created at `at`. The caller brings the randomness and the time.
    pub fn issue(&self, random: [u8; 32], at: DateTime<Utc>) -> (Token, TokenRecord) {
        let token = Token::from_bytes(random);
        let record = TokenRecord {
            token_id: token.hash().token_id(),
            name: self.name.clone(),
            created_at: at,
            rate_per_minute: self.rate_per_minute,
            revoked_at: None,
        };
        (token, record)
    }
}

/// What the service keeps of a token (never the token, never shown with the hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// The token's public name.
    pub token_id: TokenId,
    /// What operators call it.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// `stocksaction` frames a minute this token may send.
    pub rate_per_minute: u32,
    /// Set when revoked: the token no longer connects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who a connection belongs to: the authorizer's context, which API Gateway hands to every
/// later event on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The token's public name.
    pub token_id: TokenId,
    /// What operators call it.
    pub name: String,
    /// `stocksaction` frames a minute it may send.
    pub rate_per_minute: u32,
}

impl Grant {
    /// Context keys, as the authorizer returns them and events carry them.
    pub const TOKEN_ID: &str = "tokenId";
    /// Context key of the token's name.
    pub const NAME: &str = "name";
    /// Context key of its requests a minute.
    pub const RATE_PER_MINUTE: &str = "ratePerMinute";

    /// From an event's `requestContext.authorizer` (numbers may arrive as strings).
    pub fn from_context(fields: &std::collections::HashMap<String, serde_json::Value>) -> Option<Self> {
        let token_id = TokenId::parse(fields.get(Self::TOKEN_ID)?.as_str()?)?;
        let name = fields
            .get(Self::NAME)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        let rate = match fields.get(Self::RATE_PER_MINUTE)? {
            serde_json::Value::Number(n) => n.as_u64()?,
            serde_json::Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some(Self {
            token_id,
            name,
            rate_per_minute: u32::try_from(rate).ok()?,
        })
    }

    /// As an authorizer context.
    pub fn to_context(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut context = serde_json::Map::new();
        context.insert(Self::TOKEN_ID.into(), self.token_id.as_str().into());
        context.insert(Self::NAME.into(), self.name.clone().into());
        context.insert(Self::RATE_PER_MINUTE.into(), self.rate_per_minute.into());
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token::from_bytes([7; 32])
    }

    #[test]
    fn a_token_is_the_prefix_and_43_base64url_characters() {
        let t = token();
        assert_eq!(t.reveal().len(), Token::LEN);
        assert!(t.reveal().starts_with("stk_"));
        assert_eq!(Token::parse(t.reveal()), Ok(t.clone()));
        assert_eq!(Token::parse(""), Err(TokenError::Missing));
        for bad in [
            format!("{} ", t.reveal()),
            format!(" {}", t.reveal()),
            format!("{}A", t.reveal()),
            t.reveal()[..Token::LEN - 1].to_owned(),
            t.reveal().replacen("stk_", "STK_", 1),
            t.reveal().replacen("stk_", "sk_", 1),
            format!("stk_{}", "+".repeat(43)),
            format!("stk_{}", "=".repeat(43)),
        ] {
            assert_eq!(Token::parse(&bad), Err(TokenError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_hash_names_the_token_without_revealing_it() {
        let hash = token().hash();
        assert_eq!(hash.to_hex().len(), 64);
        assert_eq!(TokenHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(hash.token_id().as_str(), &hash.to_hex()[..12]);
        assert_ne!(Token::from_bytes([8; 32]).hash(), hash);
        assert!(!format!("{:?}", token()).contains("stk_"));
        assert!(!format!("{hash:?}").contains(&hash.to_hex()));
    }

    #[test]
    fn sha256_of_a_known_input() {
        // sha256("abc"), from FIPS 180-2.
        let hash = Token("abc".into()).hash();
        assert_eq!(
            hash.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn grants_travel_as_authorizer_context() {
        let grant = Grant {
            token_id: TokenId::parse("0123456789ab").unwrap(),
            name: "ci".into(),
            rate_per_minute: 60,
        };
        let fields: std::collections::HashMap<String, serde_json::Value> = grant.to_context().into_iter().collect();
        assert_eq!(Grant::from_context(&fields), Some(grant.clone()));
        // API Gateway may hand numbers back as strings.
        let mut strings = fields.clone();
        strings.insert("ratePerMinute".into(), "60".into());
        assert_eq!(Grant::from_context(&strings), Some(grant));
        let mut bad = fields;
        bad.insert("tokenId".into(), "not-hex".into());
        assert_eq!(Grant::from_context(&bad), None);
    }

    #[test]
    fn a_new_token_is_checked_then_issued_from_the_randomness_and_time_given() {
        assert_eq!(NewToken::new("a b", 60), Err(TokenRuleError::InvalidName("a b".into())));
        assert_eq!(NewToken::new("ci", 0), Err(TokenRuleError::InvalidRate(0)));
        assert_eq!(
            NewToken::new("ci", MAX_RATE_PER_MINUTE + 1).unwrap_err().to_string(),
            "a token's rate must be 1 to 100000 requests a minute, not 100001"
        );
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().to_utc();
        let (token, record) = NewToken::new("ci", 7).unwrap().issue([7; 32], at);
        assert_eq!(token, Token::from_bytes([7; 32]));
        assert_eq!(record.token_id, token.hash().token_id());
        assert_eq!((record.name.as_str(), record.rate_per_minute), ("ci", 7));
        assert_eq!((record.created_at, record.revoked_at), (at, None));
    }

    #[test]
    fn names() {
        for good in ["ci", "alice@example.com", "load-test_2"] {
            assert!(valid_token_name(good), "{good}");
        }
        for bad in ["", "a b", "x".repeat(65).as_str(), "tab\t", "ünï"] {
            assert!(!valid_token_name(bad), "{bad:?}");
        }
    }
}
