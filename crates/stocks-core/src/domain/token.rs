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
    #[error("no token")]
    Missing,
    #[error("not a token")]
    Malformed,
}

impl Token {
    pub const PREFIX: &str = "stk_";
    /// `stk_` and 43 base64url characters.
    pub const LEN: usize = 4 + 43;

    /// The token for 32 random bytes (the caller brings the randomness: see
    /// `adapters::access::new_token`).
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
    pub const LEN: usize = 12;

    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == Self::LEN && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(raw.to_owned()))
    }

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

/// What the service keeps of a token (never the token, never shown with the hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub token_id: TokenId,
    pub name: String,
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
    pub token_id: TokenId,
    pub name: String,
    pub rate_per_minute: u32,
}

impl Grant {
    /// Context keys, as the authorizer returns them and events carry them.
    pub const TOKEN_ID: &str = "tokenId";
    pub const NAME: &str = "name";
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
    fn names() {
        for good in ["ci", "alice@example.com", "load-test_2"] {
            assert!(valid_token_name(good), "{good}");
        }
        for bad in ["", "a b", "x".repeat(65).as_str(), "tab\t", "ünï"] {
            assert!(!valid_token_name(bad), "{bad:?}");
        }
    }
}
