//! How `get` prints what came back: the report as a table, the daily closes as a one-line
//! sparkline (coloured only on a terminal), or the bars as a table (`--series`).

use stocks_core::domain::{ClientMessage, SeriesBar};

/// The report as a small table.
pub fn render_report(msg: &ClientMessage) -> String {
    let Some(r) = msg.report_data else { return String::new() };
    let window = match (msg.from, msg.to) {
        (Some(f), Some(t)) => format!("  {f} → {t}"),
        _ => String::new(),
    };
    let bars = msg.bars.map(|n| format!("  ({n} daily bars)")).unwrap_or_default();
    format!(
        "{}{window}{bars}\n  avgStock   {:>16.4}\n  minStock   {:>16.4}\n  maxStock   {:>16.4}\n  minVolume  {:>16}\n  maxVolume  {:>16}\n",
        msg.ticker.as_deref().unwrap_or("?"),
        r.avg_stock,
        r.min_stock,
        r.max_stock,
        thousands(r.min_volume),
        thousands(r.max_volume),
    )
}

pub fn render_error(msg: &ClientMessage) -> String {
    let code = msg.error.map_or_else(|| "ERROR".to_owned(), |c| c.to_string());
    format!("error: {code} ({}): {}", msg.status_code, msg.message)
}

fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

/// The eight block heights of a sparkline, lowest first.
const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// At most this many characters: longer series are averaged into as many buckets.
const SPARK_WIDTH: usize = 60;

/// `  close  466.55 ▃▆▄▅▆▇██▇▆▅▅▄▃▂▂▁ 454.70` — first close, the closes, last close. On a
/// terminal the line is green when the last close is above the first, red when below; written
/// anywhere else it is plain text (no escape codes).
pub fn sparkline(series: &[SeriesBar], colour: bool) -> String {
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        return String::new();
    };
    let closes: Vec<f64> = series.iter().map(|b| b.c).collect();
    let points = buckets(&closes, SPARK_WIDTH);
    let (low, high) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &c| {
        (lo.min(c), hi.max(c))
    });
    let line: String = points
        .iter()
        .map(|&c| {
            let level = if high > low { (c - low) / (high - low) } else { 0.5 };
            BLOCKS[((level * 7.0).round() as usize).min(7)]
        })
        .collect();
    let line = match (colour, last.c.partial_cmp(&first.c)) {
        (true, Some(std::cmp::Ordering::Greater)) => format!("\x1b[32m{line}\x1b[0m"),
        (true, Some(std::cmp::Ordering::Less)) => format!("\x1b[31m{line}\x1b[0m"),
        _ => line,
    };
    format!("  close      {:>8.2} {line} {:.2}\n", first.c, last.c)
}

/// `values` averaged into at most `width` consecutive buckets of (nearly) equal size.
fn buckets(values: &[f64], width: usize) -> Vec<f64> {
    if values.len() <= width {
        return values.to_vec();
    }
    (0..width)
        .map(|i| {
            let chunk = &values[i * values.len() / width..(i + 1) * values.len() / width];
            chunk.iter().sum::<f64>() / chunk.len() as f64
        })
        .collect()
}

/// The daily bars, oldest first, one line each.
pub fn series_table(series: &[SeriesBar]) -> String {
    let mut out = format!(
        "  {:<10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>15}\n",
        "day", "open", "high", "low", "close", "volume"
    );
    for b in series {
        out.push_str(&format!(
            "  {}  {:>10.2}  {:>10.2}  {:>10.2}  {:>10.2}  {:>15}\n",
            b.t,
            b.o,
            b.h,
            b.l,
            b.c,
            thousands(b.v)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_reports_and_errors() {
        let msg: ClientMessage = serde_json::from_str(
            r#"{"statusCode":200,"message":"success","reportData":{"avgStock":416.0283,"minStock":411.62,"maxStock":419.75,"minVolume":16523947.0,"maxVolume":20417513.0},"ticker":"MSFT","from":"2026-10-01","to":"2026-10-31","bars":22}"#,
        )
        .unwrap();
        let table = render_report(&msg);
        assert!(
            table.starts_with("MSFT  2026-10-01 → 2026-10-31  (22 daily bars)\n"),
            "{table}"
        );
        assert!(table.contains("minVolume        16,523,947"), "{table}");
        assert!(table.contains("avgStock           416.0283"), "{table}");
        let err: ClientMessage = serde_json::from_str(
            r#"{"statusCode":400,"message":"A ticker is required.","reportData":null,"error":"TICKER_REQUIRED"}"#,
        )
        .unwrap();
        assert_eq!(
            render_error(&err),
            "error: TICKER_REQUIRED (400): A ticker is required."
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(20_417_513.0), "20,417,513");
    }

    fn bars(closes: &[f64]) -> Vec<SeriesBar> {
        let first = chrono::NaiveDate::from_ymd_opt(2024, 10, 1).unwrap();
        closes
            .iter()
            .enumerate()
            .map(|(i, &c)| SeriesBar {
                t: first + chrono::Days::new(i as u64),
                o: c - 1.0,
                h: c + 2.0,
                l: c - 3.0,
                c,
                v: 1_000_000.0 + i as f64,
            })
            .collect()
    }

    #[test]
    fn the_sparkline_rises_and_falls_with_the_closes() {
        let line = sparkline(&bars(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 45.0]), false);
        assert_eq!(line, "  close         10.00 ▁▂▃▄▅▆▇█▅ 45.00\n");
        assert!(!line.contains('\x1b'), "no escape codes off a terminal");
    }

    #[test]
    fn on_a_terminal_the_sparkline_says_up_or_down_in_colour() {
        assert!(sparkline(&bars(&[1.0, 2.0]), true).contains("\x1b[32m▁█\x1b[0m"));
        assert!(sparkline(&bars(&[2.0, 1.0]), true).contains("\x1b[31m█▁\x1b[0m"));
        assert!(!sparkline(&bars(&[2.0, 2.0]), true).contains('\x1b'), "flat: no colour");
        assert_eq!(sparkline(&[], true), "", "no bars, no line");
    }

    #[test]
    fn five_years_of_closes_fit_on_one_line() {
        let closes: Vec<f64> = (0..1260).map(f64::from).collect();
        let line = sparkline(&bars(&closes), false);
        let spark = line.split_whitespace().nth(2).unwrap();
        assert_eq!(spark.chars().count(), SPARK_WIDTH);
        assert!(spark.starts_with('▁') && spark.ends_with('█'), "{spark}");
        assert!(line.ends_with(" 1259.00\n"), "{line}");
    }

    #[test]
    fn the_series_table_has_a_line_per_bar_oldest_first() {
        let table = series_table(&bars(&[416.5, 417.25]));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["day", "open", "high", "low", "close", "volume"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["2024-10-01", "415.50", "418.50", "413.50", "416.50", "1,000,000"]
        );
        assert!(lines[2].starts_with("  2024-10-02"));
    }
}
