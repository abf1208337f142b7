//! A market answer as the fleet shares it: under whose key ([`AnswerKey`]), and packed small
//! ([`PackedBars`]).
//!
//! An answer is the daily bars of a ticker over a window ("no bars" included). Packed, a bar
//! takes 64 bytes, so a five-year window (at most 1 827 days) takes under 117 KB: well inside
//! DynamoDB's 400 KB item, with no need to split or compress.

use std::fmt;

use super::{Bar, DateWindow, Ticker};

/// Which answer: a ticker and a window.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    /// The symbol.
    pub ticker: Ticker,
    /// The days.
    pub window: DateWindow,
}

impl AnswerKey {
    /// The answer for `ticker` over `window`.
    pub fn new(ticker: &Ticker, window: &DateWindow) -> Self {
        Self {
            ticker: ticker.clone(),
            window: *window,
        }
    }
}

/// `MSFT#2026-10-01#2026-10-31`: what stores and the quota ledger key it by.
impl fmt::Display for AnswerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}#{}", self.ticker, self.window.from(), self.window.to())
    }
}

/// Daily bars packed for a store: a version byte, then per bar eight little-endian 8-byte
/// values — `t`, `o`, `h`, `l`, `c`, `v`, `vw` (NaN when absent), `n` (`u64::MAX` when absent).
/// Exact: every `f64` comes back bit for bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedBars(Vec<u8>);

impl PackedBars {
    const VERSION: u8 = 1;
    const BAR_BYTES: usize = 64;
    /// The most bars a store keeps in one answer: 384 KB packed, under DynamoDB's 400 KB item.
    /// A valid window holds at most 1 827 daily bars.
    pub const MAX_BARS: usize = 6000;

    /// Packs `bars`; `None` past [`PackedBars::MAX_BARS`].
    pub fn pack(bars: &[Bar]) -> Option<Self> {
        if bars.len() > Self::MAX_BARS {
            return None;
        }
        let mut bytes = Vec::with_capacity(1 + bars.len() * Self::BAR_BYTES);
        bytes.push(Self::VERSION);
        for bar in bars {
            bytes.extend_from_slice(&bar.t.to_le_bytes());
            for value in [bar.o, bar.h, bar.l, bar.c, bar.v, bar.vw.unwrap_or(f64::NAN)] {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            bytes.extend_from_slice(&bar.n.unwrap_or(u64::MAX).to_le_bytes());
        }
        Some(Self(bytes))
    }

    /// What a store kept: `None` unless it is a packing of this version.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        let (version, bars) = bytes.split_first()?;
        (*version == Self::VERSION && bars.len() % Self::BAR_BYTES == 0).then_some(Self(bytes))
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bars again.
    pub fn unpack(&self) -> Vec<Bar> {
        self.0
            .get(1..)
            .unwrap_or_default()
            .chunks_exact(Self::BAR_BYTES)
            .map(|chunk| {
                let word = |i: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&chunk[i * 8..i * 8 + 8]);
                    w
                };
                let float = |i: usize| f64::from_le_bytes(word(i));
                let vw = float(6);
                let n = u64::from_le_bytes(word(7));
                Bar {
                    t: i64::from_le_bytes(word(0)),
                    o: float(1),
                    h: float(2),
                    l: float(3),
                    c: float(4),
                    v: float(5),
                    vw: (!vw.is_nan()).then_some(vw),
                    n: (n != u64::MAX).then_some(n),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_date;

    fn bar(i: i64) -> Bar {
        Bar {
            o: 0.1 + i as f64,
            h: 1.0 / 3.0 + i as f64,
            l: f64::MIN_POSITIVE,
            c: 421.27,
            v: 7.0790813e+07,
            vw: (i % 2 == 0).then_some(123.4567),
            t: 1_727_755_200_000 + i * 86_400_000,
            n: (i % 3 != 0).then_some(654_321),
        }
    }

    #[test]
    fn bars_come_back_bit_for_bit() {
        let bars: Vec<Bar> = (0..30).map(bar).collect();
        let packed = PackedBars::pack(&bars).unwrap();
        assert_eq!(packed.as_bytes().len(), 1 + 30 * 64);
        let again = PackedBars::from_bytes(packed.as_bytes().to_vec()).unwrap().unpack();
        assert_eq!(again, bars);
        assert!(
            PackedBars::pack(&[]).unwrap().unpack().is_empty(),
            "no bars is an answer too"
        );
    }

    #[test]
    fn a_five_year_window_fits_a_dynamodb_item_and_foreign_bytes_are_refused() {
        let bars: Vec<Bar> = (0..1827).map(bar).collect();
        assert!(PackedBars::pack(&bars).unwrap().as_bytes().len() < 120_000);
        assert!(PackedBars::pack(&vec![bar(0); PackedBars::MAX_BARS + 1]).is_none());
        assert!(PackedBars::from_bytes(vec![]).is_none());
        assert!(PackedBars::from_bytes(vec![2, 0, 0]).is_none());
        assert!(PackedBars::from_bytes(vec![1, 0, 0]).is_none());
    }

    #[test]
    fn keys_name_the_ticker_and_window() {
        let window = DateWindow::new(parse_date("2026-10-01").unwrap(), parse_date("2026-10-31").unwrap()).unwrap();
        let key = AnswerKey::new(&Ticker::parse("BRK.A").unwrap(), &window);
        assert_eq!(key.to_string(), "BRK.A#2026-10-01#2026-10-31");
    }
}
