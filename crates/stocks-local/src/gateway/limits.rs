//! API Gateway's WebSocket quotas ([`Limits`]) and a connection's two clocks ([`Lifetime`]).

use std::time::Duration;

use stocks_core::ports::{CONNECTION_IDLE_TIMEOUT, CONNECTION_MAX_LIFETIME, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};
use tokio::time::Instant;

/// API Gateway's WebSocket quotas, and this emulator's knobs for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest single frame (API Gateway: 32 KB).
    pub max_frame: usize,
    /// Largest message, all its frames together (API Gateway: 128 KB).
    pub max_message: usize,
    /// Closed after this long without a frame from the client (API Gateway: 10 minutes).
    pub idle_timeout: Duration,
    /// Closed this long after connecting, whatever happens (API Gateway: 2 hours).
    pub max_lifetime: Duration,
}

impl Default for Limits {
    /// API Gateway's own.
    fn default() -> Self {
        Self {
            max_frame: MAX_FRAME_BYTES,
            max_message: MAX_MESSAGE_BYTES,
            idle_timeout: CONNECTION_IDLE_TIMEOUT,
            max_lifetime: CONNECTION_MAX_LIFETIME,
        }
    }
}

/// Why the gateway hangs up on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No frame from the client for `idle_timeout`.
    Idle,
    /// `max_lifetime` since the connection opened.
    MaxLifetime,
}

impl Expiry {
    /// The `$disconnect` event's `disconnectReason`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Idle => "Idle timeout",
            Self::MaxLifetime => "Connection exceeded its maximum duration",
        }
    }
}

/// A connection's two clocks: the idle clock runs from the last message in either direction
/// (API Gateway: "no messages sent between the server and client"); nothing moves the end of
/// the maximum lifetime.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    ends: Instant,
    idle_timeout: Duration,
}

impl Lifetime {
    pub fn start(limits: &Limits, now: Instant) -> Self {
        Self {
            ends: now + limits.max_lifetime,
            idle_timeout: limits.idle_timeout,
        }
    }

    /// When the gateway hangs up if nothing else happens after `last_active`, and why.
    pub fn deadline(&self, last_active: Instant) -> (Instant, Expiry) {
        let idle_ends = last_active + self.idle_timeout;
        if self.ends <= idle_ends {
            (self.ends, Expiry::MaxLifetime)
        } else {
            (idle_ends, Expiry::Idle)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn activity_restarts_the_idle_clock_but_never_the_maximum_lifetime() {
        let limits = Limits::default();
        let opened = Instant::now();
        let lifetime = Lifetime::start(&limits, opened);
        assert_eq!(lifetime.deadline(opened), (opened + 10 * MINUTE, Expiry::Idle));
        // A message every five minutes for three hours: never idle, but over at two hours.
        let mut last_active = opened;
        for _ in 0..36 {
            tokio::time::advance(5 * MINUTE).await;
            let now = Instant::now();
            if lifetime.deadline(last_active).0 <= now {
                break;
            }
            last_active = now;
        }
        assert_eq!(
            lifetime.deadline(last_active),
            (opened + 120 * MINUTE, Expiry::MaxLifetime)
        );
        assert!(Instant::now() >= opened + 120 * MINUTE);
    }

    #[tokio::test(start_paused = true)]
    async fn silence_ends_a_connection_after_the_idle_timeout() {
        let limits = Limits::default();
        let opened = Instant::now();
        let lifetime = Lifetime::start(&limits, opened);
        tokio::time::advance(9 * MINUTE).await;
        assert_eq!(lifetime.deadline(Instant::now()), (opened + 19 * MINUTE, Expiry::Idle));
    }
}
