//! Recently seen SQS message ids, per instance: SQS delivers at least once, and a second
//! delivery of a finished job must not answer its client twice.

use std::time::{Duration, Instant};

/// A delivery already seen by this instance.
#[derive(Clone, Debug)]
pub(super) enum Seen {
    /// Being handled; the value becomes `Some(finished)` when it ends.
    InFlight(tokio::sync::watch::Receiver<Option<bool>>),
    Finished(Instant),
}

/// Recently seen SQS message ids, per instance (best effort: another instance can still see a
/// duplicate; the visibility timeout makes that rare).
pub(super) struct Deliveries(std::sync::Mutex<lru::LruCache<String, Seen>>);

/// The claim on a delivery; [`Deliveries::release`] ends it (dropping it counts as a retry).
pub(super) struct Claim(tokio::sync::watch::Sender<Option<bool>>);

impl Deliveries {
    /// How many ids are remembered, and for how long after they finish.
    const CAPACITY: std::num::NonZeroUsize = std::num::NonZeroUsize::MIN.saturating_add(9_999);
    const REMEMBER: Duration = Duration::from_secs(15 * 60);

    pub(super) fn new() -> Self {
        Self(std::sync::Mutex::new(lru::LruCache::new(Self::CAPACITY)))
    }

    /// Claims a message id, or says how it was already seen.
    pub(super) fn claim(&self, id: &str) -> Result<Claim, Seen> {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(id) {
            Some(Seen::Finished(at)) if at.elapsed() > Self::REMEMBER => {}
            // Its handler went away without releasing it (its future was dropped): a retry.
            Some(Seen::InFlight(first)) if first.has_changed().is_err() => {}
            Some(earlier) => return Err(earlier.clone()),
            None => {}
        }
        let (tx, rx) = tokio::sync::watch::channel(None);
        seen.put(id.to_owned(), Seen::InFlight(rx));
        Ok(Claim(tx))
    }

    /// Ends a claim: a finished delivery is remembered; a retried one is forgotten, so its
    /// next delivery runs again.
    pub(super) fn release(&self, id: &str, claim: Claim, finished: bool) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if finished {
            seen.put(id.to_owned(), Seen::Finished(Instant::now()));
        } else {
            seen.pop(id);
        }
        let _ = claim.0.send(Some(finished));
    }
}
