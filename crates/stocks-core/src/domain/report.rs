//! Daily bars in, the seed's report out.
//!
//! The numbers are exactly the ones the original Python service computed, so existing clients
//! see no change: `minStock` = min of lows, `maxStock` = max of highs, `avgStock` = (mean of
//! lows + mean of highs) / 2, `minVolume`/`maxVolume` = min/max of volumes.

use serde::{Deserialize, Serialize};

/// One daily aggregate in Polygon's wire shape (`/v2/aggs/...` `results[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Open price.
    pub o: f64,
    /// High price.
    pub h: f64,
    /// Low price.
    pub l: f64,
    /// Close price.
    pub c: f64,
    /// Volume; Polygon sends it as an integer or a float (`7.0790813e+07`).
    pub v: f64,
    /// Volume-weighted average price; absent for some symbols and days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vw: Option<f64>,
    /// Start of the bar's window, Unix milliseconds.
    pub t: i64,
    /// Number of trades; absent for some symbols and days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
}

/// One daily bar as a client sees it in a 200's `series`: the day, and its prices and volume.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesBar {
    /// The trading day (UTC date of the bar's start: Polygon stamps daily bars at midnight New
    /// York time, which is the same date in UTC).
    pub t: chrono::NaiveDate,
    /// Open.
    pub o: f64,
    /// High.
    pub h: f64,
    /// Low.
    pub l: f64,
    /// Close.
    pub c: f64,
    /// Volume.
    pub v: f64,
}

impl SeriesBar {
    /// `None` for a bar whose timestamp is not a date (never from Polygon).
    pub fn from_bar(bar: &Bar) -> Option<Self> {
        Some(Self {
            t: chrono::DateTime::from_timestamp_millis(bar.t)?.date_naive(),
            o: bar.o,
            h: bar.h,
            l: bar.l,
            c: bar.c,
            v: bar.v,
        })
    }

    /// The bars oldest first, as a 200's `series`.
    pub fn series(bars: &[Bar]) -> Vec<Self> {
        let mut series: Vec<Self> = bars.iter().filter_map(Self::from_bar).collect();
        series.sort_by_key(|b| b.t);
        series
    }
}

/// The `reportData` object sent to clients. Field order matches the seed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// (Mean of the lows + mean of the highs) / 2.
    pub avg_stock: f64,
    /// The lowest low.
    pub min_stock: f64,
    /// The highest high.
    pub max_stock: f64,
    /// The smallest daily volume.
    pub min_volume: f64,
    /// The largest daily volume.
    pub max_volume: f64,
}

impl Report {
    /// `None` when there are no bars: the caller answers NO_RESULTS instead of dividing by zero.
    pub fn from_bars(bars: &[Bar]) -> Option<Self> {
        let first = bars.first()?;
        let n = bars.len() as f64;
        let mut report = Self {
            avg_stock: 0.0,
            min_stock: first.l,
            max_stock: first.h,
            min_volume: first.v,
            max_volume: first.v,
        };
        let (mut sum_low, mut sum_high) = (0.0, 0.0);
        for bar in bars {
            sum_low += bar.l;
            sum_high += bar.h;
            report.min_stock = report.min_stock.min(bar.l);
            report.max_stock = report.max_stock.max(bar.h);
            report.min_volume = report.min_volume.min(bar.v);
            report.max_volume = report.max_volume.max(bar.v);
        }
        report.avg_stock = (sum_low / n + sum_high / n) / 2.0;
        Some(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three real-shaped MSFT daily bars as Polygon returns them (the middle one without the
    /// optional `vw`/`n`, the last with a float volume).
    const POLYGON_PAGE: &str = r#"[
        {"v":20417513,"vw":414.1327,"o":415.23,"c":413.72,"h":416.83,"l":411.62,"t":1727755200000,"n":288214},
        {"v":19034202,"o":414.27,"c":417.13,"h":419.75,"l":414.13,"t":1727841600000},
        {"v":1.6523947e+07,"vw":416.3312,"o":417.63,"c":416.54,"h":419.55,"l":414.29,"t":1727928000000,"n":250541}
    ]"#;

    #[test]
    fn report_matches_hand_computed_numbers() {
        let bars: Vec<Bar> = serde_json::from_str(POLYGON_PAGE).unwrap();
        assert_eq!(bars[1].vw, None);
        assert_eq!(bars[1].n, None);
        let r = Report::from_bars(&bars).unwrap();
        // mean l = (411.62 + 414.13 + 414.29) / 3 = 413.346666…
        // mean h = (416.83 + 419.75 + 419.55) / 3 = 418.71
        // avg    = (413.346666… + 418.71) / 2     = 416.028333…
        assert!((r.avg_stock - 416.028_333_333).abs() < 1e-6, "{}", r.avg_stock);
        assert_eq!(r.min_stock, 411.62);
        assert_eq!(r.max_stock, 419.75);
        assert_eq!(r.min_volume, 16_523_947.0);
        assert_eq!(r.max_volume, 20_417_513.0);
    }

    #[test]
    fn min_and_max_come_from_lows_and_highs_not_closes() {
        let bar = |o, h, l, c| Bar {
            o,
            h,
            l,
            c,
            v: 1.0,
            vw: None,
            t: 0,
            n: None,
        };
        let r = Report::from_bars(&[bar(10.0, 50.0, 1.0, 20.0), bar(30.0, 40.0, 5.0, 35.0)]).unwrap();
        assert_eq!((r.min_stock, r.max_stock), (1.0, 50.0));
        assert_eq!(r.avg_stock, ((1.0 + 5.0) / 2.0 + (50.0 + 40.0) / 2.0) / 2.0);
    }

    #[test]
    fn single_bar() {
        let bars: Vec<Bar> = serde_json::from_str(POLYGON_PAGE).unwrap();
        let r = Report::from_bars(&bars[..1]).unwrap();
        assert_eq!(r.avg_stock, (411.62 + 416.83) / 2.0);
        assert_eq!(r.min_volume, r.max_volume);
    }

    #[test]
    fn no_bars_is_no_report() {
        assert_eq!(Report::from_bars(&[]), None);
    }

    #[test]
    fn serialises_with_the_seed_field_names_in_order() {
        let r = Report {
            avg_stock: 1.5,
            min_stock: 1.0,
            max_stock: 2.0,
            min_volume: 10.0,
            max_volume: 20.0,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"avgStock":1.5,"minStock":1.0,"maxStock":2.0,"minVolume":10.0,"maxVolume":20.0}"#
        );
    }
}
