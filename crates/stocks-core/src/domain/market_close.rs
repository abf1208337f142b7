//! When the US market next closes: the moment cached daily bars may change.
//!
//! NYSE and Nasdaq close at 16:00 New York time on weekdays. New York observes daylight saving
//! time from the second Sunday of March to the first Sunday of November (02:00 local), so the
//! close is 20:00 UTC in summer and 21:00 UTC in winter. Exchange holidays are not modelled:
//! on a holiday the cache merely expires a day early.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};

/// The first 16:00 New York time on a weekday strictly after `now`.
pub fn next_market_close(now: DateTime<Utc>) -> DateTime<Utc> {
    // Start from the New York calendar day of `now` (UTC-5 is early enough to never skip one).
    let mut day = (now - chrono::TimeDelta::hours(5)).date_naive();
    loop {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let close = close_utc(day);
            if close > now {
                return close;
            }
        }
        day = day + Days::new(1);
    }
}

/// 16:00 New York time on `day`, in UTC.
fn close_utc(day: NaiveDate) -> DateTime<Utc> {
    let hour = if is_daylight_saving(day) { 20 } else { 21 };
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)) + TimeDelta::hours(hour)
}

/// US daylight saving time, in effect at 16:00 local on `day`.
fn is_daylight_saving(day: NaiveDate) -> bool {
    let year = day.year();
    let start = nth_sunday(year, 3, 2);
    let end = nth_sunday(year, 11, 1);
    day >= start && day < end
}

#[expect(
    clippy::expect_used,
    reason = "called for March's second and November's first Sunday, which every year has"
)]
fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8).expect("every month has a second Sunday")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn summer_weekday_closes_at_20_utc() {
        // Tuesday 2026-07-14.
        assert_eq!(
            next_market_close(at("2026-07-14T13:30:00Z")),
            at("2026-07-14T20:00:00Z")
        );
        assert_eq!(
            next_market_close(at("2026-07-14T19:59:59Z")),
            at("2026-07-14T20:00:00Z")
        );
        assert_eq!(
            next_market_close(at("2026-07-14T20:00:00Z")),
            at("2026-07-15T20:00:00Z"),
            "strictly after"
        );
    }

    #[test]
    fn winter_weekday_closes_at_21_utc() {
        // Tuesday 2026-11-24.
        assert_eq!(
            next_market_close(at("2026-11-24T01:00:00Z")),
            at("2026-11-24T21:00:00Z")
        );
        // 23:00 UTC Tuesday is still Tuesday evening in New York: next close is Wednesday's.
        assert_eq!(
            next_market_close(at("2026-11-24T23:00:00Z")),
            at("2026-11-25T21:00:00Z")
        );
    }

    #[test]
    fn weekends_roll_to_monday() {
        // Friday 2026-11-27 after the close, Saturday, Sunday: Monday 2026-11-30.
        for now in ["2026-11-27T21:00:01Z", "2026-11-28T12:00:00Z", "2026-11-29T23:59:00Z"] {
            assert_eq!(next_market_close(at(now)), at("2026-11-30T21:00:00Z"), "{now}");
        }
    }

    #[test]
    fn daylight_saving_boundaries() {
        // 2026: DST from Sunday 8 March to Sunday 1 November.
        assert_eq!(
            next_market_close(at("2026-03-06T12:00:00Z")),
            at("2026-03-06T21:00:00Z"),
            "Friday before"
        );
        assert_eq!(
            next_market_close(at("2026-03-09T12:00:00Z")),
            at("2026-03-09T20:00:00Z"),
            "Monday after"
        );
        assert_eq!(
            next_market_close(at("2026-10-30T12:00:00Z")),
            at("2026-10-30T20:00:00Z"),
            "Friday before the end"
        );
        assert_eq!(
            next_market_close(at("2026-11-02T12:00:00Z")),
            at("2026-11-02T21:00:00Z"),
            "Monday after the end"
        );
    }
}
