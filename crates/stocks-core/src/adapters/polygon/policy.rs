//! How hard one fetch tries, and the budget that keeps it inside the worker's timeout.

use std::time::Duration;

/// How hard to try before calling the market unavailable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// HTTP attempts per page, first one included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time, with jitter.
    pub base_delay: Duration,
    /// Longest single wait. A `Retry-After` beyond it ends the retries at once: SQS's
    /// visibility timeout is the cheaper way to wait that long.
    pub max_delay: Duration,
    /// Per-request timeout (connect + headers + body); shortened to what is left of the budget.
    pub request_timeout: Duration,
    /// Wall-clock budget for all pages and retries of one fetch: no request starts after it is
    /// spent, and none runs past it.
    pub budget: Duration,
}

/// The deployed worker's budget for one market fetch. With the three AWS calls that can follow
/// it (dead-letter, tell the client, disconnect: [`OPERATION_TIMEOUT`] each) it ends inside
/// [`WORKER_MIN_TIMEOUT`].
///
/// [`OPERATION_TIMEOUT`]: crate::adapters::aws::OPERATION_TIMEOUT
pub const FETCH_BUDGET: Duration = Duration::from_secs(11);

/// The shortest worker timeout the deployed worker fits in; Terraform's
/// `worker_timeout_seconds` validation refuses less (20 s, its default).
pub const WORKER_MIN_TIMEOUT: Duration = Duration::from_secs(20);

impl Default for RetryPolicy {
    /// Three tries of at most 5 s per page with 0.5 s and 1 s of backoff between them, and
    /// [`FETCH_BUDGET`] for the whole fetch, pages and quota waits included.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            budget: FETCH_BUDGET,
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1`: `base × 2^(attempt-1)`, capped, then jittered
    /// into its upper half so concurrent workers do not retry in lockstep.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_and_the_calls_after_it_fit_the_shortest_worker_timeout() {
        // Worst case after the fetch: dead-letter the job, tell the client, disconnect.
        let after = crate::adapters::aws::OPERATION_TIMEOUT * 3;
        assert!(RetryPolicy::default().budget + after < WORKER_MIN_TIMEOUT);
        assert_eq!(WORKER_MIN_TIMEOUT.as_secs(), 20, "terraform/variables.tf says 20 too");
    }

    #[test]
    fn backoff_doubles_within_bounds() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let first = p.backoff(1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let second = p.backoff(2);
            assert!(
                second >= Duration::from_millis(100) && second <= Duration::from_millis(200),
                "{second:?}"
            );
            let capped = p.backoff(30);
            assert!(
                capped >= Duration::from_millis(150) && capped <= Duration::from_millis(300),
                "{capped:?}"
            );
        }
    }
}
