//! What the gateway remembers for `/_local`: counters ([`Stats`]), what became of each
//! request's messages ([`RequestRecord`]), and why recent connections ended ([`Disconnect`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Requests the journal remembers before forgetting the oldest.
pub const JOURNAL_CAPACITY: usize = 100_000;

/// Disconnects remembered for `/_local/disconnects`.
pub const DISCONNECTS_KEPT: usize = 1_000;

/// What `GET /_local/stats` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Open now.
    pub connections: u64,
    /// 202 `accepted` acks sent (`queued` notices are not counted).
    pub accepted: u64,
    /// 200 reports sent.
    pub reported: u64,
    /// Error messages sent (400s, 404s, 503s).
    pub errors: u64,
    /// `@connections` posts that met 410 Gone.
    pub gone: u64,
    /// Handshakes refused before any connection opened (`--auth tokens`: 401 no token, 403
    /// unknown, revoked or malformed).
    pub refused: u64,
    /// Jobs in the jobs queue now: waiting, delayed (deferred) or being handled.
    pub jobs: u64,
    /// Jobs in the dead-letter queue now.
    pub dlq: u64,
    /// HTTP requests the demo market answered.
    pub market_requests: u64,
    /// Of those, 429s because the `--market-quota` was spent.
    pub market_throttled: u64,
    /// Jobs the worker sent back to wait for market data, so far.
    pub deferred: u64,
    /// Every worker instance ever started: `id`, `batches`, `market_requests`.
    pub instances: Vec<crate::mapping::InstanceStats>,
}

/// The counters behind [`Stats`] (connections and the DLQ are read live).
#[derive(Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub reported: AtomicU64,
    pub errors: AtomicU64,
    pub gone: AtomicU64,
    pub refused: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// What the `@connections` posts about one request became (`GET /_local/requests`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Status codes of the messages delivered to the client, in order (202 first).
    pub delivered: Vec<u16>,
    /// Status codes of the messages that met 410 Gone.
    pub gone: Vec<u16>,
}

/// How one connection ended, as its `$disconnect` event said (`GET /_local/disconnects`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Disconnect {
    pub connection_id: String,
    pub connected_at: DateTime<Utc>,
    pub disconnected_at: DateTime<Utc>,
    /// `disconnectStatusCode`: 1000 deleted by the server, 1001 going away (idle, maximum
    /// lifetime, shutdown), 1005/1006 the client's doing, 1009 too big.
    pub status_code: u16,
    pub reason: String,
}

/// Per-request records (the newest [`JOURNAL_CAPACITY`]) and recent disconnects.
#[derive(Default)]
pub struct Journal {
    requests: Mutex<Requests>,
    disconnects: Mutex<VecDeque<Disconnect>>,
}

#[derive(Default)]
struct Requests {
    records: HashMap<String, RequestRecord>,
    order: VecDeque<String>,
}

impl Journal {
    /// Records one post under its request id: delivered, or met 410.
    pub fn record(&self, request_id: &str, status: u16, delivered: bool) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        if !requests.records.contains_key(request_id) {
            if requests.order.len() >= JOURNAL_CAPACITY
                && let Some(oldest) = requests.order.pop_front()
            {
                requests.records.remove(&oldest);
            }
            requests.order.push_back(request_id.to_owned());
        }
        let record = requests.records.entry(request_id.to_owned()).or_default();
        if delivered {
            record.delivered.push(status)
        } else {
            record.gone.push(status)
        }
    }

    pub fn requests(&self) -> HashMap<String, RequestRecord> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).records.clone()
    }

    pub fn disconnected(&self, disconnect: Disconnect) {
        let mut kept = self.disconnects.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= DISCONNECTS_KEPT {
            kept.pop_front();
        }
        kept.push_back(disconnect);
    }

    /// Oldest first.
    pub fn disconnects(&self) -> Vec<Disconnect> {
        self.disconnects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_deliveries_and_gones_per_request() {
        let journal = Journal::default();
        journal.record("r1", 202, true);
        journal.record("r1", 200, false);
        journal.record("r2", 400, true);
        let requests = journal.requests();
        assert_eq!(
            requests["r1"],
            RequestRecord {
                delivered: vec![202],
                gone: vec![200]
            }
        );
        assert_eq!(requests["r2"].delivered, vec![400]);
    }
}
