//! The time, for everything that decides by the calendar.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The time, as the code that asks sees it: the wall clock, or one a test sets. Everything
/// that decides by the calendar (expiries, windows of a minute, waits for a slot) takes one, so
/// tests are exact without waiting and without paused time (which jumps while a task awaits
/// real I/O): a [`Clock::manual`] clock's sleeps move it forward and return at once.
#[derive(Clone)]
pub struct Clock {
    now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// `Some`: a manual clock, whose sleeps move this time forward.
    manual: Option<Arc<std::sync::Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Self::new(Utc::now)
    }

    /// A clock that reads `now` (and sleeps for real).
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Self {
            now: Arc::new(now),
            manual: None,
        }
    }

    /// A clock stopped at `at` (and sleeping for real).
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self::new(move || at)
    }

    /// A clock that starts at `at` and moves only when told to ([`Clock::advance`]) or when
    /// someone sleeps on it.
    pub fn manual(at: DateTime<Utc>) -> Self {
        let time = Arc::new(std::sync::Mutex::new(at));
        let read = time.clone();
        Self {
            now: Arc::new(move || *read.lock().unwrap_or_else(std::sync::PoisonError::into_inner)),
            manual: Some(time),
        }
    }

    /// What time it is.
    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }

    /// Moves a manual clock forward (nothing on any other).
    pub fn advance(&self, by: Duration) {
        if let Some(time) = &self.manual {
            let mut time = time.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *time += chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::MAX);
        }
    }

    /// Waits `by`: for real, or on a manual clock by moving it forward.
    pub async fn sleep(&self, by: Duration) {
        if self.manual.is_some() {
            self.advance(by);
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(by).await;
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}
