//! API Gateway's WebSocket quotas ([`Limits`]) and a connection's two clocks ([`Lifetime`]).

use std::time::Duration;

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
    fn default() -> Self {
        Self {
            max_frame: 32 * 1024,
            max_message: 128 * 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            max_lifetime: Duration::from_secs(2 * 60 * 60),
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

/// A connection's two clocks: client frames restart the idle clock; nothing moves the end of
/// the maximum lifetime.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    ends: Instant,
    idle_ends: Instant,
    idle_timeout: Duration,
}

impl Lifetime {
    pub fn start(limits: &Limits, now: Instant) -> Self {
        Self {
            ends: now + limits.max_lifetime,
            idle_ends: now + limits.idle_timeout,
            idle_timeout: limits.idle_timeout,
        }
    }

    /// A frame arrived from the client.
    pub fn touch(&mut self, now: Instant) {
        self.idle_ends = now + self.idle_timeout;
    }

    /// When the gateway hangs up if nothing else happens, and why.
    pub fn deadline(&self) -> (Instant, Expiry) {
        if self.ends <= self.idle_ends {
            (self.ends, Expiry::MaxLifetime)
        } else {
            (self.idle_ends, Expiry::Idle)
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
        let mut lifetime = Lifetime::start(&limits, opened);
        assert_eq!(lifetime.deadline(), (opened + 10 * MINUTE, Expiry::Idle));
        // A frame every five minutes for three hours: never idle, but over at two hours.
        for _ in 0..36 {
            tokio::time::advance(5 * MINUTE).await;
            let now = Instant::now();
            let (at, _) = lifetime.deadline();
            if at <= now {
                break;
            }
            lifetime.touch(now);
        }
        assert_eq!(lifetime.deadline(), (opened + 120 * MINUTE, Expiry::MaxLifetime));
        assert!(Instant::now() >= opened + 120 * MINUTE);
    }

    #[tokio::test(start_paused = true)]
    async fn silence_ends_a_connection_after_the_idle_timeout() {
        let limits = Limits::default();
        let opened = Instant::now();
        let mut lifetime = Lifetime::start(&limits, opened);
        tokio::time::advance(9 * MINUTE).await;
        lifetime.touch(Instant::now());
        assert_eq!(lifetime.deadline(), (opened + 19 * MINUTE, Expiry::Idle));
    }
}
