//! The market quota a fleet of worker instances shares, as plain rules: [`QuotaLedger`].
//!
//! Polygon's plans count requests per minute, and answer 429 beyond. The ledger remembers when
//! the last calls started, the slots promised to calls that had to wait, and the gate a 429
//! closed. A call may start when the gate is open and no window of the rate's length then holds
//! more than its number of starts — whichever instance makes the call. A call that may not start
//! is promised the earliest slot that keeps every window within the rate, held under its key
//! (the answer it wants) until it comes back: so the jobs that wait come back spread out, at most
//! the rate's number in any window, and no newcomer takes their slots.
//!
//! The same ledger runs in memory (the local stack, a worker without `MARKET_TABLE`) and in one
//! DynamoDB item (read, decided here, written back with a condition on its version), so a test
//! of the rules holds for both.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A plan's rate: at most `calls` starts in any window of `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Calls that may start in one window.
    pub calls: u32,
    /// The window's length.
    pub per: Duration,
}

impl Rate {
    /// `calls` a minute, as Polygon's plans are written (`POLYGON_REQUESTS_PER_MINUTE`).
    pub fn per_minute(calls: u32) -> Self {
        Self {
            calls,
            per: Duration::from_secs(60),
        }
    }

    /// The window the ledger counts in: the rate's own, plus a fiftieth, so that two calls we
    /// start one window apart never reach the provider inside one of its windows (the network
    /// delays them differently).
    pub fn window(&self) -> Duration {
        self.per + self.per / 50
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.window().as_millis()).unwrap_or(i64::MAX)
    }
}

/// What the ledger says to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Start now: the start is counted.
    Start,
    /// The rate is spent: come back at this time, when a slot is held for the call's key.
    WaitUntil(DateTime<Utc>),
    /// A 429 closed the gate: nothing starts before it reopens; a slot is held for the call's
    /// key at this time.
    Closed(DateTime<Utc>),
}

/// Start times, promised slots and the gate: everything the fleet shares about its quota.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuotaLedger {
    /// When recent calls started (Unix ms), oldest first; none older than one window.
    pub starts: Vec<i64>,
    /// Slots promised to calls that wait (Unix ms), by the key of the answer each wants.
    pub reserved: BTreeMap<String, i64>,
    /// No call starts before this (Unix ms): set by whoever met a 429. 0: open.
    pub closed_until: i64,
}

impl QuotaLedger {
    /// The most slots held at once; past it, a call is told when to come back but holds none
    /// (the ledger must fit one DynamoDB item).
    pub const MAX_RESERVED: usize = 2000;

    /// May the call for `key` start at `now`? With no `rate` only the gate is kept (and no
    /// start is recorded).
    pub fn take(&mut self, key: &str, now: DateTime<Utc>, rate: Option<Rate>) -> Slot {
        let now = now.timestamp_millis();
        let window = rate.map_or(0, |r| r.window_ms());
        self.forget(now, window);
        let held = self.reserved.remove(key);
        let closed = now < self.closed_until;
        let Some(rate) = rate else {
            return if closed {
                wait(self.closed_until, true)
            } else {
                Slot::Start
            };
        };
        if rate.calls == 0 {
            return wait(now.saturating_add(window), closed);
        }
        let from = now.max(self.closed_until);
        // Came back early, or the gate closed since its slot was promised: it keeps its slot
        // if the slot is still good.
        if let Some(at) = held.filter(|at| *at > now && *at >= self.closed_until) {
            return self.hold(key, at, closed);
        }
        if from == now {
            // A call that held a slot due now checks only the calls that did start (the slot
            // was counted when promised); a newcomer also leaves the promised slots alone.
            let fits = match held {
                Some(_) => self.starts_in(now - window, now) < rate.calls as usize,
                None => self.fits(now, rate),
            };
            if fits {
                self.starts.push(now);
                self.starts.sort_unstable();
                return Slot::Start;
            }
        }
        let at = self.earliest(from, rate);
        self.hold(key, at, closed)
    }

    /// A 429 came back anyway: no call starts before `until`. A later 429 never reopens the
    /// gate sooner. Returns whether anything changed.
    pub fn close(&mut self, until: DateTime<Utc>) -> bool {
        let until = until.timestamp_millis();
        if until > self.closed_until {
            self.closed_until = until;
            true
        } else {
            false
        }
    }

    /// When the gate reopens, if it is closed at `now`.
    pub fn closed_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (now.timestamp_millis() < self.closed_until)
            .then(|| DateTime::from_timestamp_millis(self.closed_until))
            .flatten()
    }

    fn hold(&mut self, key: &str, at: i64, closed: bool) -> Slot {
        if self.reserved.len() < Self::MAX_RESERVED {
            self.reserved.insert(key.to_owned(), at);
        }
        wait(at, closed)
    }

    /// Drops starts that no window from now on can hold, and promised slots a window past
    /// their time (their calls never came back: the job was answered from a cache, or gave up).
    fn forget(&mut self, now: i64, window: i64) {
        self.starts.retain(|s| *s > now - window);
        self.reserved.retain(|_, at| *at > now - window);
    }

    fn starts_in(&self, after: i64, until: i64) -> usize {
        self.starts.iter().filter(|s| **s > after && **s <= until).count()
    }

    /// Would one more call at `t` keep every window of the rate that holds `t` within it,
    /// counting starts and promised slots alike?
    fn fits(&self, t: i64, rate: Rate) -> bool {
        let window = rate.window_ms();
        let taken: Vec<i64> = self
            .starts
            .iter()
            .chain(self.reserved.values())
            .copied()
            .filter(|e| *e > t - window && *e < t + window)
            .collect();
        // The windows [a, a + window) that hold t have a in (t - window, t]; the count in
        // them changes only just after some e - window (e enters) and at t - window + 1.
        let lefts = taken.iter().map(|e| e - window + 1).chain([t - window + 1, t]);
        lefts
            .filter(|a| *a > t - window && *a <= t)
            .all(|a| taken.iter().filter(|e| **e >= a && **e < a + window).count() < rate.calls as usize)
    }

    /// The first time at or after `from` where one more call fits: `from` itself, or the moment
    /// a start or promised slot leaves the windows (only then can a call newly fit).
    fn earliest(&self, from: i64, rate: Rate) -> i64 {
        let window = rate.window_ms();
        let mut candidates: Vec<i64> = self
            .starts
            .iter()
            .chain(self.reserved.values())
            .map(|e| e + window)
            .filter(|t| *t >= from)
            .chain([from])
            .collect();
        candidates.sort_unstable();
        candidates
            .into_iter()
            .find(|t| self.fits(*t, rate))
            // One window past the last of them nothing is in the way.
            .unwrap_or_else(|| {
                let last = self.starts.iter().chain(self.reserved.values()).max().copied();
                last.map_or(from, |last| (last + window).max(from))
            })
    }
}

fn wait(at: i64, closed: bool) -> Slot {
    let at = DateTime::from_timestamp_millis(at).unwrap_or(DateTime::<Utc>::MAX_UTC);
    if closed { Slot::Closed(at) } else { Slot::WaitUntil(at) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    fn ms(slot: Slot) -> i64 {
        match slot {
            Slot::Start => panic!("started"),
            Slot::WaitUntil(t) | Slot::Closed(t) => t.timestamp_millis() - 1_800_000_000_000,
        }
    }

    /// 5 per 2 s: a window of 2.04 s.
    const FIVE: Rate = Rate {
        calls: 5,
        per: Duration::from_secs(2),
    };

    #[test]
    fn a_burst_starts_the_rate_then_each_waiter_is_promised_its_own_slot() {
        let mut ledger = QuotaLedger::default();
        for i in 0..5 {
            assert_eq!(ledger.take(&format!("k{i}"), at(0), Some(FIVE)), Slot::Start);
        }
        let waits: Vec<i64> = (5..15)
            .map(|i| ms(ledger.take(&format!("k{i}"), at(0), Some(FIVE))))
            .collect();
        assert_eq!(waits, [2040, 2040, 2040, 2040, 2040, 4080, 4080, 4080, 4080, 4080]);
        assert_eq!(ledger.reserved.len(), 10);
    }

    #[test]
    fn a_waiter_that_comes_back_on_time_starts_and_a_newcomer_does_not_take_its_slot() {
        let mut ledger = QuotaLedger::default();
        for i in 0..5 {
            ledger.take(&format!("k{i}"), at(0), Some(FIVE));
        }
        assert_eq!(ms(ledger.take("late", at(0), Some(FIVE))), 2040);
        // A newcomer at 2.1 s: four slots left at 2.04 s, the fifth promised to `late`.
        for i in 0..4 {
            assert_eq!(ledger.take(&format!("n{i}"), at(2100), Some(FIVE)), Slot::Start);
        }
        assert_eq!(
            ms(ledger.take("n4", at(2100), Some(FIVE))),
            4080,
            "the promised slot is kept"
        );
        assert_eq!(ledger.take("late", at(2150), Some(FIVE)), Slot::Start);
    }

    #[test]
    fn coming_back_early_keeps_the_slot() {
        let mut ledger = QuotaLedger::default();
        for i in 0..5 {
            ledger.take(&format!("k{i}"), at(0), Some(FIVE));
        }
        assert_eq!(ms(ledger.take("w", at(0), Some(FIVE))), 2040);
        assert_eq!(ms(ledger.take("w", at(1000), Some(FIVE))), 2040);
        assert_eq!(ledger.take("w", at(2040), Some(FIVE)), Slot::Start);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_rate_whatever_the_arrivals() {
        // Calls arrive every 37 ms for 20 s, and each comes back at its slot plus up to
        // 700 ms (SQS's delay is whole seconds, a busy fleet receives late).
        let mut ledger = QuotaLedger::default();
        let mut started = Vec::new();
        let mut waiting: Vec<(i64, String)> = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for step in 0..540 {
            let now = step * 37;
            waiting.push((now, format!("k{step}")));
            let (due, later): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(t, _)| *t <= now);
            waiting = later;
            for (_, key) in due {
                match ledger.take(&key, at(now), Some(FIVE)) {
                    Slot::Start => started.push(now),
                    Slot::WaitUntil(t) | Slot::Closed(t) => {
                        waiting.push((t.timestamp_millis() - 1_800_000_000_000 + rng.i64(0..700), key))
                    }
                }
            }
        }
        started.sort_unstable();
        for (i, s) in started.iter().enumerate() {
            let in_window = started[i..].iter().take_while(|t| **t < s + 2040).count();
            assert!(in_window <= 5, "{in_window} starts in the window from {s} ms");
        }
        // At most 49 fit in 20 s; late returns cost some of them, not most.
        assert!(started.len() >= 34, "and the rate is used: {} starts", started.len());
    }

    #[test]
    fn a_429_closes_the_gate_for_every_key_until_its_time() {
        let mut ledger = QuotaLedger::default();
        assert!(ledger.close(at(30_000)));
        assert!(!ledger.close(at(10_000)), "a later 429 never reopens it sooner");
        assert_eq!(ledger.closed_at(at(0)), Some(at(30_000)));
        assert_eq!(ledger.take("a", at(0), Some(FIVE)), Slot::Closed(at(30_000)));
        assert_eq!(
            ledger.take("b", at(0), None),
            Slot::Closed(at(30_000)),
            "with no limiter too"
        );
        assert_eq!(ledger.take("b", at(30_000), None), Slot::Start);
        assert_eq!(ledger.take("a", at(30_000), Some(FIVE)), Slot::Start);
    }

    #[test]
    fn with_no_limiter_nothing_is_recorded() {
        let mut ledger = QuotaLedger::default();
        for _ in 0..100 {
            assert_eq!(ledger.take("a", at(0), None), Slot::Start);
        }
        assert_eq!(ledger, QuotaLedger::default());
    }

    #[test]
    fn slots_never_claimed_are_forgotten_a_window_after_their_time() {
        let mut ledger = QuotaLedger::default();
        for i in 0..5 {
            ledger.take(&format!("k{i}"), at(0), Some(FIVE));
        }
        ledger.take("gone", at(0), Some(FIVE));
        ledger.take("x", at(10_000), Some(FIVE));
        assert!(!ledger.reserved.contains_key("gone"));
        assert!(ledger.starts.len() <= 1, "{:?}", ledger.starts);
    }
}
