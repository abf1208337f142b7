//! [`QuotaGate`]: the market's request quota as a resource to wait for, per instance.
//!
//! Polygon's free plan answers 429 beyond 5 requests a minute. Retrying those is what turns a
//! busy minute into a dead-letter queue; the gate makes the worker wait instead:
//!
//! - **Closed after a 429** until its `Retry-After` (or [`QuotaSettings::defer_without_retry_after`]
//!   when it says nothing). While closed, no call of any record goes to the market: each is
//!   told how long to wait, and the worker defers its job by that much.
//! - **Fewer calls at once after a 429** (additive increase, multiplicative decrease, as TCP
//!   does): each 429 halves the calls allowed in flight, each success allows one more, and
//!   from [`UNLIMITED_FROM`] on there is no limit again. So the jobs that come back when the
//!   gate reopens do not all reach the market at once and spend a 429 each, while a stray 429
//!   on a paid plan costs a moment, not the afternoon.
//! - **An optional token bucket** ([`RateLimit`], `POLYGON_REQUESTS_PER_MINUTE`) closes the gate
//!   before Polygon has to. When it is empty, each caller is given its own slot at the
//!   bucket's rate, so the deferred jobs come back spread out, not as a herd.
//!
//! The gate sits inside the Polygon client, under [`super::MarketCache`]: cached answers and
//! coalesced requests never reach it, so they never wait.

use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::ports::MAX_DELAY_SECS;

/// Calls in flight at which the limit a 429 set is lifted altogether.
pub const UNLIMITED_FROM: usize = 64;

/// The longest a call waits for a free slot under the limit before it is deferred instead
/// (less when the caller's own budget ends sooner).
pub const TURN_WAIT: Duration = Duration::from_secs(5);

/// How long a call that found no free slot is told to wait: the slots turn over in seconds.
pub const SLOT_RETRY: Duration = Duration::from_secs(1);

/// A rate: `requests` per `per`, with a burst of `requests`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Requests allowed per `per`, and the burst.
    pub requests: f64,
    /// The period.
    pub per: Duration,
}

impl RateLimit {
    /// `requests` a minute.
    pub fn per_minute(requests: f64) -> Self {
        Self {
            requests,
            per: Duration::from_secs(60),
        }
    }
}

/// How the gate behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuotaSettings {
    /// Our own limiter (`POLYGON_REQUESTS_PER_MINUTE`: this instance's share of the plan);
    /// `None` leaves it to Polygon's 429s.
    pub rate: Option<RateLimit>,
    /// How long the gate stays closed after a 429 without `Retry-After` (`QUOTA_DEFER_SECS`).
    pub defer_without_retry_after: Duration,
}

impl QuotaSettings {
    /// `QUOTA_DEFER_SECS` unless set: the wait after a 429 that names none.
    pub const DEFAULT_DEFER: Duration = Duration::from_secs(60);
    /// What `QUOTA_DEFER_SECS` may be, in seconds: at least one, at most SQS's longest delay
    /// (the deferred job waits in the queue that long).
    pub const DEFER_SECS: RangeInclusive<u64> = 1..=MAX_DELAY_SECS as u64;
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            rate: None,
            defer_without_retry_after: Self::DEFAULT_DEFER,
        }
    }
}

/// A token bucket that, when empty, hands each caller its own future slot.
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    refilled: Instant,
    /// The next slot not yet promised to a caller that found the bucket empty.
    next_slot: Instant,
}

impl TokenBucket {
    fn new(rate: RateLimit, now: Instant) -> Self {
        let capacity = rate.requests.max(1.0);
        Self {
            capacity,
            per_second: rate.requests.max(f64::MIN_POSITIVE) / rate.per.as_secs_f64().max(0.001),
            tokens: capacity,
            refilled: now,
            next_slot: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled = now;
    }

    /// A token now, or the wait until this caller's slot.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let interval = Duration::from_secs_f64(1.0 / self.per_second);
        let earliest = now + Duration::from_secs_f64((1.0 - self.tokens) / self.per_second);
        let slot = earliest.max(self.next_slot);
        self.next_slot = slot + interval;
        Err(slot - now)
    }

    /// The market said 429: whatever we thought we had, we have none.
    fn empty(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = 0.0;
    }
}

#[derive(Debug, Default)]
struct State {
    closed_until: Option<Instant>,
    bucket: Option<TokenBucket>,
    /// Market calls allowed at once since the last 429; `None`: no limit.
    limit: Option<usize>,
    /// Market calls under way now.
    in_flight: usize,
}

impl State {
    fn closed_for(&self, now: Instant) -> Option<Duration> {
        self.closed_until.filter(|until| *until > now).map(|until| until - now)
    }

    fn has_room(&self) -> bool {
        self.limit.is_none_or(|limit| self.in_flight < limit)
    }
}

/// Permission to make one market call, holding its slot until dropped. Call
/// [`Admission::succeeded`] when the market answered: it is how the limit grows back.
#[derive(Debug)]
pub struct Admission<'a> {
    gate: &'a QuotaGate,
}

impl Admission<'_> {
    /// The call got an answer that was not a 429: one more call may go at once.
    pub fn succeeded(self) {
        let mut state = self.gate.state();
        if let Some(limit) = state.limit {
            state.limit = (limit + 1 < UNLIMITED_FROM).then_some(limit + 1);
        }
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.gate.state().in_flight -= 1;
        self.gate.room.notify_one();
    }
}

/// What the gate is doing, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateState {
    /// Closed for this long from now.
    pub closed_for: Option<Duration>,
    /// Calls allowed at once (`None`: no limit).
    pub limit: Option<usize>,
    /// Calls under way now.
    pub in_flight: usize,
}

/// The instance's quota gate.
#[derive(Debug)]
pub struct QuotaGate {
    settings: QuotaSettings,
    state: Mutex<State>,
    /// Wakes a caller waiting for a slot under the limit.
    room: Notify,
}

impl Default for QuotaGate {
    fn default() -> Self {
        Self::new(QuotaSettings::default())
    }
}

impl QuotaGate {
    /// A gate with these settings, open and with a full bucket.
    pub fn new(settings: QuotaSettings) -> Self {
        let now = Instant::now();
        Self {
            settings,
            state: Mutex::new(State {
                bucket: settings.rate.map(|rate| TokenBucket::new(rate, now)),
                ..State::default()
            }),
            room: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What the gate is doing now.
    pub fn status(&self) -> GateState {
        let state = self.state();
        GateState {
            closed_for: state.closed_for(Instant::now()),
            limit: state.limit,
            in_flight: state.in_flight,
        }
    }

    /// May one call go to the market now? `Err(wait)`: the gate is closed for this caller for
    /// `wait` (until it reopens, or until this caller's slot in the bucket). A caller that finds
    /// the limit reached waits for a slot until [`TURN_WAIT`] or `by`, whichever is sooner.
    pub async fn admit(&self, by: Instant) -> Result<Admission<'_>, Duration> {
        let give_up = (Instant::now() + TURN_WAIT).min(by);
        loop {
            let room = self.room.notified();
            {
                let mut state = self.state();
                let now = Instant::now();
                if let Some(wait) = state.closed_for(now) {
                    return Err(wait);
                }
                if state.has_room() {
                    if let Some(bucket) = state.bucket.as_mut() {
                        bucket.take(now)?;
                    }
                    state.in_flight += 1;
                    return Ok(Admission { gate: self });
                }
            }
            // At the limit: wait for a slot, but not for long — a deferred job waits in the
            // queue for free, a waiting one costs Lambda time.
            if tokio::time::timeout_at(give_up, room).await.is_err() {
                return Err(self.status().closed_for.unwrap_or(SLOT_RETRY));
            }
        }
    }

    /// The market answered 429: closes the gate until `retry_after` (or the default) has
    /// passed, and halves the calls allowed at once. Returns how long it is closed.
    pub fn throttled(&self, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or(self.settings.defer_without_retry_after);
        let now = Instant::now();
        let mut state = self.state();
        let until = now + wait;
        state.closed_until = Some(state.closed_until.map_or(until, |open| open.max(until)));
        // The call that met the 429 is still counted in flight (its admission is dropped after).
        let level = state.limit.unwrap_or(state.in_flight).min(state.in_flight.max(1));
        state.limit = Some((level / 2).max(1));
        if let Some(bucket) = state.bucket.as_mut() {
            bucket.empty(now);
        }
        state.closed_for(now).unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// No deadline of the caller's own.
    fn far() -> Instant {
        Instant::now() + Duration::from_secs(86_400)
    }

    fn gate(rate: Option<RateLimit>) -> QuotaGate {
        QuotaGate::new(QuotaSettings {
            rate,
            defer_without_retry_after: 60 * SECOND,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn open_until_a_429_then_closed_for_its_retry_after() {
        let gate = gate(None);
        for _ in 0..100 {
            assert!(gate.admit(far()).await.is_ok(), "no limiter of our own: always open");
        }
        assert_eq!(gate.throttled(Some(7 * SECOND)), 7 * SECOND);
        assert_eq!(gate.admit(far()).await.unwrap_err(), 7 * SECOND);
        tokio::time::advance(3 * SECOND).await;
        assert_eq!(
            gate.admit(far()).await.unwrap_err(),
            4 * SECOND,
            "every caller learns the same reopening"
        );
        tokio::time::advance(4 * SECOND).await;
        assert!(gate.admit(far()).await.is_ok(), "open again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_without_retry_after_closes_for_the_default() {
        let gate = gate(None);
        assert_eq!(gate.throttled(None), 60 * SECOND);
        assert_eq!(gate.admit(far()).await.unwrap_err(), 60 * SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_429_never_reopens_the_gate_sooner() {
        let gate = gate(None);
        gate.throttled(Some(30 * SECOND));
        assert_eq!(gate.throttled(Some(5 * SECOND)), 30 * SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_calls_at_once_and_successes_win_them_back() {
        let gate = gate(None);
        // Eight calls under way, one of them meets a 429.
        let calls: Vec<_> = futures::future::join_all((0..8).map(|_| gate.admit(far())))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        gate.throttled(Some(SECOND));
        drop(calls);
        assert_eq!(gate.status().limit, Some(4), "half of the eight");
        tokio::time::advance(SECOND).await;
        let four: Vec<_> = futures::future::join_all((0..4).map(|_| gate.admit(far())))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        // A fifth waits for a slot, and is deferred when none comes in time…
        let started = Instant::now();
        assert_eq!(gate.admit(far()).await.unwrap_err(), SLOT_RETRY);
        assert_eq!(Instant::now() - started, TURN_WAIT);
        // …or sooner, when its own budget ends sooner.
        let started = Instant::now();
        assert!(gate.admit(started + SECOND).await.is_err());
        assert_eq!(Instant::now() - started, SECOND);
        for call in four {
            call.succeeded();
        }
        assert_eq!(gate.status().limit, Some(8), "one more per success");
        for _ in 0..UNLIMITED_FROM {
            gate.admit(far()).await.unwrap().succeeded();
        }
        assert_eq!(gate.status().limit, None, "no limit again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_call_gets_the_slot_another_frees() {
        let gate = std::sync::Arc::new(gate(None));
        let only = gate.admit(far()).await.unwrap();
        gate.throttled(Some(Duration::ZERO));
        assert_eq!(gate.status().limit, Some(1));
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit(far()).await.map(drop) }
        });
        tokio::task::yield_now().await;
        drop(only);
        assert!(waiter.await.unwrap().is_ok(), "woken when the slot freed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_spends_its_burst_then_gives_each_caller_a_slot_at_the_rate() {
        // 5 per 2 s: a burst of five, then one every 400 ms.
        let gate = gate(Some(RateLimit {
            requests: 5.0,
            per: 2 * SECOND,
        }));
        for _ in 0..5 {
            assert!(gate.admit(far()).await.is_ok());
        }
        let waits: Vec<Duration> = futures::future::join_all((0..4).map(|_| gate.admit(far())))
            .await
            .into_iter()
            .map(|a| a.unwrap_err())
            .collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [400, 800, 1200, 1600], "slots one interval apart, not a herd");
        tokio::time::advance(Duration::from_millis(400)).await;
        assert!(gate.admit(far()).await.is_ok(), "a token has come back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_empties_the_bucket() {
        let gate = gate(Some(RateLimit::per_minute(60.0)));
        assert!(gate.admit(far()).await.is_ok());
        gate.throttled(Some(SECOND));
        tokio::time::advance(SECOND).await;
        // Open again, but the 58 tokens left of the burst are gone: one has come back since.
        drop(gate.admit(far()).await.unwrap());
        assert_eq!(gate.admit(far()).await.unwrap_err(), SECOND);
    }
}
