//! How long a job waits when the market's quota is spent: the seconds until the gate reopens,
//! plus a little jitter so jobs deferred together do not all come back in the same second,
//! within SQS's `DelaySeconds` range.

use std::time::Duration;

use crate::ports::MAX_DELAY_SECS;

/// `DelaySeconds` for a job that meets a gate closed for `wait`: whole seconds, rounded up,
/// plus up to a tenth of that again as jitter (`jitter` in `[0, 1)`), between 1 and [`MAX_DELAY_SECS`].
pub fn deferral_delay(wait: Duration, jitter: f64) -> u32 {
    let base = wait.as_secs_f64().ceil().clamp(1.0, f64::from(MAX_DELAY_SECS));
    let spread = (base / 10.0).floor();
    let extra = (spread + 1.0) * jitter.clamp(0.0, 0.999_999);
    ((base + extra.floor()) as u32).min(MAX_DELAY_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn the_wait_is_rounded_up_to_whole_seconds() {
        assert_eq!(deferral_delay(secs(0.3), 0.0), 1, "never 0: the gate is closed now");
        assert_eq!(deferral_delay(secs(1.0), 0.0), 1);
        assert_eq!(deferral_delay(secs(1.01), 0.0), 2);
        assert_eq!(deferral_delay(Duration::ZERO, 0.9), 1);
    }

    #[test]
    fn a_retry_after_is_honoured_with_at_most_a_tenth_more() {
        let delays: Vec<u32> = (0..100)
            .map(|i| deferral_delay(secs(30.0), f64::from(i) / 100.0))
            .collect();
        assert_eq!(delays.iter().min(), Some(&30));
        assert_eq!(delays.iter().max(), Some(&33));
        // The default wait (QUOTA_DEFER_SECS, 60) spreads over 60..=66.
        assert_eq!(deferral_delay(secs(60.0), 0.0), 60);
        assert_eq!(deferral_delay(secs(60.0), 0.999), 66);
    }

    #[test]
    fn short_waits_get_no_jitter() {
        for j in [0.0, 0.5, 0.99] {
            assert_eq!(deferral_delay(secs(2.0), j), 2);
            assert_eq!(deferral_delay(secs(9.0), j), 9);
        }
    }

    #[test]
    fn never_more_than_sqs_allows() {
        assert_eq!(deferral_delay(secs(899.5), 0.999), MAX_DELAY_SECS);
        assert_eq!(deferral_delay(secs(3600.0), 0.0), MAX_DELAY_SECS);
        assert_eq!(deferral_delay(Duration::MAX, 0.5), MAX_DELAY_SECS);
    }
}
