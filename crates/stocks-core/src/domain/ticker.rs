//! The ticker symbol: the only piece of client text that ends up in a URL.
//!
//! A [`Ticker`] can only be built by [`Ticker::parse`], so holding one proves the text matched
//! `^[A-Z][A-Z0-9]{0,5}(\.[A-Z0-9]{1,3})?$`. Nothing else — no `/`, `%`, `?`, whitespace or
//! non-ASCII byte — can reach the Polygon request path.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A validated, canonical (upper-case) ticker symbol such as `MSFT` or `BRK.A`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ticker(String);

/// Why a ticker was refused; each maps to one client error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TickerError {
    /// Empty or whitespace only (`TICKER_REQUIRED`).
    #[error("ticker is required")]
    Missing,
    /// Anything that does not match the grammar (`INVALID_TICKER`).
    #[error("ticker must look like MSFT or BRK.A")]
    Malformed,
}

impl Ticker {
    /// Longest canonical symbol: six characters, a dot and a three-character class suffix.
    pub const MAX_LEN: usize = 10;

    /// Trims surrounding whitespace, upper-cases an all-lowercase symbol (ASCII only, never
    /// Unicode case mapping), then checks the grammar. Mixed case such as `Msft` is refused:
    /// it is more likely a typo than a symbol.
    pub fn parse(raw: &str) -> Result<Self, TickerError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(TickerError::Missing);
        }
        // Length first: a megabyte of junk is refused without being copied.
        if trimmed.len() > Self::MAX_LEN {
            return Err(TickerError::Malformed);
        }
        let all_lower = trimmed
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.');
        let candidate = if all_lower {
            trimmed.to_ascii_uppercase()
        } else {
            trimmed.to_owned()
        };
        if matches_grammar(candidate.as_bytes()) {
            Ok(Self(candidate))
        } else {
            Err(TickerError::Malformed)
        }
    }

    /// The symbol, as it goes into a URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `^[A-Z][A-Z0-9]{0,5}(\.[A-Z0-9]{1,3})?$`, by hand: one small grammar does not justify a
/// regex engine in every Lambda binary, and the tests below pin it down exhaustively.
fn matches_grammar(s: &[u8]) -> bool {
    let upper_or_digit = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let (root, class) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], Some(&s[dot + 1..])),
        None => (s, None),
    };
    let root_ok =
        matches!(root.first(), Some(b) if b.is_ascii_uppercase()) && root.len() <= 6 && root.iter().all(upper_or_digit);
    let class_ok = match class {
        None => true,
        Some(c) => (1..=3).contains(&c.len()) && c.iter().all(upper_or_digit),
    };
    root_ok && class_ok
}

impl fmt::Display for Ticker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Ticker {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Ticker {
    type Error = TickerError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Ticker> for String {
    fn from(value: Ticker) -> Self {
        value.0
    }
}

impl std::str::FromStr for Ticker {
    type Err = TickerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        Ticker::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
            .to_string()
    }

    #[test]
    fn accepts_plain_and_class_symbols() {
        for t in [
            "MSFT",
            "A",
            "BRK.A",
            "BF.B",
            "ABCDEF",
            "ABCDEF.XYZ",
            "X1",
            "A.1",
            "T2.B3",
        ] {
            assert_eq!(ok(t), t);
        }
    }

    #[test]
    fn trims_and_upper_cases_all_lowercase() {
        assert_eq!(ok("  msft\t\n"), "MSFT");
        assert_eq!(ok("brk.a"), "BRK.A");
        assert_eq!(ok(" AAPL "), "AAPL");
    }

    #[test]
    fn empty_and_whitespace_are_missing() {
        for t in ["", " ", "\t\r\n", "\u{2003}"] {
            assert_eq!(Ticker::parse(t), Err(TickerError::Missing), "{t:?}");
        }
    }

    #[test]
    fn refuses_mixed_case_and_bad_shapes() {
        for t in [
            "Msft",
            "mSFT",
            "1ABC",
            ".A",
            "A.",
            "A..B",
            "A.B.C",
            "ABCDEFG",
            "ABC.DEFG",
            "MS FT",
            "MS-FT",
            "MS_FT",
            "ABCDEF.ABCD",
        ] {
            assert_eq!(Ticker::parse(t), Err(TickerError::Malformed), "{t:?}");
        }
    }

    #[test]
    fn refuses_everything_that_could_change_a_url() {
        for t in [
            "../",
            "..",
            "MSFT/../../v1",
            "MSFT/",
            "/MSFT",
            "%2F",
            "MS%2FFT",
            "MSFT?apiKey=x",
            "MSFT#x",
            "MSFT&x=1",
            "MSFT\0",
            "MS\\FT",
            "http://x",
        ] {
            assert_eq!(Ticker::parse(t), Err(TickerError::Malformed), "{t:?}");
        }
    }

    #[test]
    fn refuses_unicode_look_alikes_and_case_mappings() {
        // Cyrillic М, fullwidth Ｍ, Turkish dotless ı (upper-cases to I under Unicode rules),
        // German ß (upper-cases to SS), and a zero-width joiner hidden inside.
        for t in ["МSFT", "ＭSFT", "msıt", "ß", "MS\u{200d}FT", "ms\u{301}ft"] {
            assert_eq!(Ticker::parse(t), Err(TickerError::Malformed), "{t:?}");
        }
    }

    #[test]
    fn refuses_a_megabyte_without_trouble() {
        let huge = "A".repeat(1 << 20);
        assert_eq!(Ticker::parse(&huge), Err(TickerError::Malformed));
        let padded = format!("{}MSFT{}", " ".repeat(1 << 20), " ".repeat(1 << 20));
        assert_eq!(ok(&padded), "MSFT");
    }

    #[test]
    fn every_accepted_ticker_is_url_safe() {
        // Exhaustive over every two-byte ASCII string plus a dotted suffix: whatever gets
        // through is only [A-Z0-9.].
        for a in 0u8..128 {
            for b in 0u8..128 {
                let s = String::from_utf8(vec![a, b]).unwrap();
                for candidate in [s.clone(), format!("A.{s}")] {
                    if let Ok(t) = Ticker::parse(&candidate) {
                        assert!(
                            t.as_str()
                                .bytes()
                                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'.'),
                            "{candidate:?} -> {t}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let t: Ticker = serde_json::from_str("\"brk.a\"").unwrap();
        assert_eq!(t.as_str(), "BRK.A");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"BRK.A\"");
        assert!(serde_json::from_str::<Ticker>("\"../etc\"").is_err());
    }
}
