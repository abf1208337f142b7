//! The date window a report covers: `from..=to`, whole UTC days.
//!
//! Clients may send `from`/`to` as strict `YYYY-MM-DD`; otherwise the window is the
//! configured number of days ending yesterday (today's bar is not final until the close).

use std::fmt;

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// An inclusive range of calendar days, `from <= to`, at most [`DateWindow::MAX_SPAN_MONTHS`] long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateWindow {
    from: NaiveDate,
    to: NaiveDate,
}

/// Why a window was refused (all map to `INVALID_RANGE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not a strict `YYYY-MM-DD`.
    #[error("`{0}` must be a date in YYYY-MM-DD format")]
    Format(DateField),
    /// `from` after `to`.
    #[error("`from` must not be after `to`")]
    Reversed,
    /// `to` after today.
    #[error("`to` must not be in the future")]
    Future,
    /// Longer than five years.
    #[error("the window must not be longer than five years")]
    TooLong,
}

/// Which of the two request fields a [`WindowError::Format`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateField {
    /// `from`.
    From,
    /// `to`.
    To,
}

impl fmt::Display for DateField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::From => "from",
            Self::To => "to",
        })
    }
}

/// How many days a default window covers (`REPORT_WINDOW_DAYS`), checked to be 1..=1826.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowDays(u32);

impl WindowDays {
    /// The seed's window: the last thirty days.
    pub const DEFAULT: Self = Self(30);
    /// Five years, the longest window a client may ask for.
    pub const MAX: u32 = 5 * 365 + 1;

    /// `days` if within 1..=[`WindowDays::MAX`].
    pub fn new(days: u32) -> Option<Self> {
        (1..=Self::MAX).contains(&days).then_some(Self(days))
    }

    /// The number of days.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for WindowDays {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl DateWindow {
    /// Longest span a client may ask for: five years (there is no limit on how old `from` is).
    pub const MAX_SPAN_MONTHS: u32 = 60;

    /// Checks the rules that hold for a window forever, whatever today is.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, WindowError> {
        if from > to {
            return Err(WindowError::Reversed);
        }
        match to.checked_sub_months(Months::new(Self::MAX_SPAN_MONTHS)) {
            Some(earliest) if from < earliest => Err(WindowError::TooLong),
            _ => Ok(Self { from, to }),
        }
    }

    /// The window for a client request made on `today` (UTC), from the optional raw fields.
    ///
    /// A missing `to` is yesterday; a missing `from` is `days` days ending at `to`.
    pub fn resolve(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
        days: WindowDays,
    ) -> Result<Self, WindowError> {
        let from = from
            .map(|s| parse_date(s).ok_or(WindowError::Format(DateField::From)))
            .transpose()?;
        let to = to
            .map(|s| parse_date(s).ok_or(WindowError::Format(DateField::To)))
            .transpose()?;
        let to = match to {
            Some(to) if to > today => return Err(WindowError::Future),
            Some(to) => to,
            None => today.pred_opt().ok_or(WindowError::Future)?,
        };
        let from = match from {
            Some(from) => from,
            None => to
                .checked_sub_days(Days::new(u64::from(days.get() - 1)))
                .ok_or(WindowError::TooLong)?,
        };
        Self::new(from, to)
    }

    /// The first day.
    pub fn from(&self) -> NaiveDate {
        self.from
    }

    /// The last day.
    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// Calendar days covered, both ends included.
    pub fn days(&self) -> u32 {
        // Bounded by MAX_SPAN_MONTHS, so it always fits.
        u32::try_from((self.to - self.from).num_days() + 1).unwrap_or(u32::MAX)
    }
}

/// Strict `YYYY-MM-DD`: exactly ten ASCII bytes with dashes in place. Chrono alone would also
/// take `2026-1-1` or a leading `+`, which we do not want to promise clients.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl fmt::Display for DateWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.from, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    const TODAY: &str = "2026-11-24";

    fn resolve(from: Option<&str>, to: Option<&str>) -> Result<DateWindow, WindowError> {
        DateWindow::resolve(from, to, d(TODAY), WindowDays::DEFAULT)
    }

    #[test]
    fn default_is_thirty_days_ending_yesterday() {
        let w = resolve(None, None).unwrap();
        assert_eq!(w.to(), d("2026-11-23"));
        assert_eq!(w.from(), d("2026-10-25"));
        assert_eq!(w.days(), 30);
    }

    #[test]
    fn default_length_follows_configuration() {
        let w = DateWindow::resolve(None, None, d(TODAY), WindowDays::new(1).unwrap()).unwrap();
        assert_eq!((w.from(), w.to()), (d("2026-11-23"), d("2026-11-23")));
        assert_eq!(WindowDays::new(0), None);
        assert_eq!(WindowDays::new(WindowDays::MAX + 1), None);
    }

    #[test]
    fn explicit_window_is_kept() {
        let w = resolve(Some("2026-10-01"), Some("2026-10-31")).unwrap();
        assert_eq!((w.from(), w.to(), w.days()), (d("2026-10-01"), d("2026-10-31"), 31));
        assert_eq!(w.to_string(), "2026-10-01..2026-10-31");
    }

    #[test]
    fn only_to_counts_back_the_default_days() {
        let w = resolve(None, Some("2026-03-31")).unwrap();
        assert_eq!(w.from(), d("2026-03-02"));
    }

    #[test]
    fn only_from_runs_to_yesterday() {
        let w = resolve(Some("2026-11-01"), None).unwrap();
        assert_eq!(w.to(), d("2026-11-23"));
        // Asking for today alone leaves `to` (yesterday) before `from`.
        assert_eq!(resolve(Some(TODAY), None), Err(WindowError::Reversed));
    }

    #[test]
    fn today_is_allowed_tomorrow_is_not() {
        assert!(resolve(Some(TODAY), Some(TODAY)).is_ok());
        assert_eq!(resolve(None, Some("2026-11-25")), Err(WindowError::Future));
    }

    #[test]
    fn from_after_to_is_refused() {
        assert_eq!(
            resolve(Some("2026-10-31"), Some("2026-10-01")),
            Err(WindowError::Reversed)
        );
    }

    #[test]
    fn span_is_at_most_five_years_but_age_is_unlimited() {
        assert!(resolve(Some("2021-11-23"), Some("2026-11-23")).is_ok());
        assert_eq!(
            resolve(Some("2021-11-22"), Some("2026-11-23")),
            Err(WindowError::TooLong)
        );
        assert!(resolve(Some("1990-01-02"), Some("1990-12-31")).is_ok());
        // Leap day: five years before 2028-02-29 is 2023-02-28.
        let w = DateWindow::new(d("2023-02-28"), d("2028-02-29")).unwrap();
        assert_eq!(w.days(), 1828);
    }

    #[test]
    fn dates_must_be_strict_iso() {
        for bad in [
            "20260101",
            "2026-1-01",
            "2026-01-1",
            "2026/01/01",
            "2026-01-01T00:00:00Z",
            " 2026-01-01",
            "2026-02-30",
            "2026-13-01",
            "+026-01-01",
            "２０２６-01-01",
            "",
        ] {
            assert_eq!(
                resolve(Some(bad), Some("2026-10-31")),
                Err(WindowError::Format(DateField::From)),
                "{bad:?}"
            );
            assert_eq!(
                resolve(Some("2026-01-01"), Some(bad)),
                Err(WindowError::Format(DateField::To)),
                "{bad:?}"
            );
        }
    }
}
