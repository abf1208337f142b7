//! In-memory implementations of every port, written once, for the tests and the bench.
//!
//! They share a [`Journal`] so a test can assert the order things happened in across ports
//! (the 202 is posted before the job is queued). Each can be told to fail, and counts what it
//! was asked; with `discard` set they keep counts only (the bench runs millions of requests).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stocks_core::domain::{Bar, ClientMessage, DateWindow, DeadLetter, Job, Ticker, TokenHash, TokenId, TokenRecord};
use stocks_core::ports::{
    AccessError, AccessStore, CallbackUrl, ConnectionError, Connections, DeadLetters, JobQueue, MarketData,
    MarketError, QueueError, RateDecision,
};

/// What happened, in order, across every fake sharing it.
#[derive(Clone, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn outage(queue: &str) -> QueueError {
    QueueError::Unreachable {
        queue: queue.to_owned(),
        source: "simulated SQS outage".into(),
    }
}

/// A job queue that keeps what it is sent, or refuses everything when `failing`.
#[derive(Default)]
pub struct FakeQueue {
    journal: Journal,
    failing: bool,
    /// Count only; keep nothing.
    discard: bool,
    jobs: Mutex<Vec<Job>>,
    delayed: Mutex<Vec<(Job, u32)>>,
}

impl FakeQueue {
    /// Writes to `journal` what happens.
    pub fn journaled(journal: &Journal) -> Self {
        Self {
            journal: journal.clone(),
            ..Self::default()
        }
    }

    /// Refuses every send.
    pub fn failing(self) -> Self {
        Self { failing: true, ..self }
    }

    /// Counts sends, keeps nothing.
    pub fn discarding(self) -> Self {
        Self { discard: true, ..self }
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().unwrap().clone()
    }

    /// Jobs sent with a delay (deferrals), and their `DelaySeconds`.
    pub fn delayed(&self) -> Vec<(Job, u32)> {
        self.delayed.lock().unwrap().clone()
    }
}

impl JobQueue for FakeQueue {
    async fn send(&self, job: &Job) -> Result<(), QueueError> {
        if self.failing {
            self.journal.push("send:refused".into());
            return Err(outage("fake-jobs"));
        }
        if !self.discard {
            self.journal.push(format!("send:{}", job.ticker));
            self.jobs.lock().unwrap().push(job.clone());
        }
        Ok(())
    }

    async fn send_delayed(&self, job: &Job, delay_secs: u32) -> Result<(), QueueError> {
        if self.failing {
            self.journal.push("send_delayed:refused".into());
            return Err(outage("fake-jobs"));
        }
        if !self.discard {
            self.journal.push(format!("send_delayed:{}:{delay_secs}", job.ticker));
            self.delayed.lock().unwrap().push((job.clone(), delay_secs));
        }
        Ok(())
    }
}

/// A dead-letter queue that keeps what it is sent, or refuses everything when `failing`.
#[derive(Default)]
pub struct FakeDeadLetters {
    journal: Journal,
    failing: bool,
    letters: Mutex<Vec<DeadLetter>>,
}

impl FakeDeadLetters {
    /// Writes to `journal` what happens.
    pub fn journaled(journal: &Journal) -> Self {
        Self {
            journal: journal.clone(),
            ..Self::default()
        }
    }

    /// Refuses every dead letter.
    pub fn failing(self) -> Self {
        Self { failing: true, ..self }
    }

    pub fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().unwrap().clone()
    }
}

impl DeadLetters for FakeDeadLetters {
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        if self.failing {
            self.journal.push("dead_letter:refused".into());
            return Err(outage("fake-dlq"));
        }
        self.journal.push(format!("dead_letter:{}", letter.reason));
        self.letters.lock().unwrap().push(letter.clone());
        Ok(())
    }
}

/// One `@connections` post.
#[derive(Clone, Debug)]
pub struct Post {
    pub callback: CallbackUrl,
    pub connection_id: String,
    pub message: ClientMessage,
}

/// `@connections`: records posts and deletes; ids marked gone answer 410; `failing` answers
/// every call with a non-410 error.
#[derive(Default)]
pub struct FakeConnections {
    journal: Journal,
    failing: bool,
    /// Count only; keep nothing.
    discard: bool,
    posts: Mutex<Vec<Post>>,
    deleted: Mutex<Vec<String>>,
    gone: Mutex<HashSet<String>>,
}

impl FakeConnections {
    /// Writes to `journal` what happens.
    pub fn journaled(journal: &Journal) -> Self {
        Self {
            journal: journal.clone(),
            ..Self::default()
        }
    }

    /// Answers every call, post and delete, with a 500.
    pub fn failing(self) -> Self {
        Self { failing: true, ..self }
    }

    /// Counts posts, keeps nothing.
    pub fn discarding(self) -> Self {
        Self { discard: true, ..self }
    }

    pub fn mark_gone(&self, connection_id: &str) {
        self.gone.lock().unwrap().insert(connection_id.to_owned());
    }

    /// Messages posted to one connection, in order.
    pub fn messages_to(&self, connection_id: &str) -> Vec<ClientMessage> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.connection_id == connection_id)
            .map(|p| p.message.clone())
            .collect()
    }

    pub fn all_messages(&self) -> Vec<ClientMessage> {
        self.posts.lock().unwrap().iter().map(|p| p.message.clone()).collect()
    }

    pub fn callbacks(&self) -> Vec<String> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.callback.to_string())
            .collect()
    }

    pub fn deleted(&self) -> Vec<String> {
        self.deleted.lock().unwrap().clone()
    }
}

impl Connections for FakeConnections {
    async fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> Result<(), ConnectionError> {
        if self.failing {
            self.journal.push(format!("post:{}:refused", message.status_code));
            return Err(ConnectionError::Failed("simulated 500 from @connections".into()));
        }
        if self.gone.lock().unwrap().contains(connection_id) {
            self.journal.push(format!("post:{}:gone", message.status_code));
            return Err(ConnectionError::Gone);
        }
        if self.discard {
            // What the real adapter costs at least: the message as JSON.
            std::hint::black_box(message.to_json());
            return Ok(());
        }
        self.journal.push(format!("post:{}", message.status_code));
        self.posts.lock().unwrap().push(Post {
            callback: callback.clone(),
            connection_id: connection_id.to_owned(),
            message: message.clone(),
        });
        Ok(())
    }

    async fn delete(&self, _callback: &CallbackUrl, connection_id: &str) -> Result<(), ConnectionError> {
        if self.failing {
            self.journal.push("delete:refused".into());
            return Err(ConnectionError::Failed("simulated 500 from @connections".into()));
        }
        if self.gone.lock().unwrap().contains(connection_id) {
            return Err(ConnectionError::Gone);
        }
        if !self.discard {
            self.journal.push("delete".into());
            self.deleted.lock().unwrap().push(connection_id.to_owned());
        }
        Ok(())
    }
}

/// Market data from memory: the same bars for every ticker unless told otherwise, after an
/// optional delay; fails on demand; counts calls; can hold every call until `n` are waiting.
pub struct FakeMarket {
    bars: Vec<Bar>,
    by_ticker: Mutex<HashMap<String, Vec<Bar>>>,
    delay: Duration,
    failure: Mutex<Option<MarketError>>,
    barrier: Option<tokio::sync::Barrier>,
    calls: AtomicUsize,
}

impl FakeMarket {
    /// Every ticker has `bars`.
    pub fn with_bars(bars: Vec<Bar>) -> Self {
        Self {
            bars,
            by_ticker: Mutex::new(HashMap::new()),
            delay: Duration::ZERO,
            failure: Mutex::new(None),
            barrier: None,
            calls: AtomicUsize::new(0),
        }
    }

    /// Every ticker has `n` identical bars.
    pub fn with_n_bars(n: usize) -> Self {
        Self::with_bars(vec![bar(1.0, 1.0, 1.0, 1.0); n])
    }

    /// Each call waits this long before answering (so concurrent callers overlap).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// No call answers until `n` calls are waiting at once.
    pub fn gathering(mut self, n: usize) -> Self {
        self.barrier = Some(tokio::sync::Barrier::new(n));
        self
    }

    /// `ticker` has these bars instead.
    pub fn set_bars(&self, ticker: &str, bars: Vec<Bar>) {
        self.by_ticker.lock().unwrap().insert(ticker.to_owned(), bars);
    }

    /// Every call fails with `err` until called with `None`.
    pub fn fail_with(&self, err: Option<MarketError>) {
        *self.failure.lock().unwrap() = err;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl MarketData for FakeMarket {
    async fn daily_bars(&self, ticker: &Ticker, _window: &DateWindow) -> Result<Vec<Bar>, MarketError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(barrier) = &self.barrier {
            barrier.wait().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if let Some(err) = self.failure.lock().unwrap().clone() {
            return Err(err);
        }
        Ok(self
            .by_ticker
            .lock()
            .unwrap()
            .get(ticker.as_str())
            .cloned()
            .unwrap_or_else(|| self.bars.clone()))
    }
}

/// A daily bar with these prices, volume 1.
pub fn bar(o: f64, h: f64, l: f64, c: f64) -> Bar {
    Bar {
        o,
        h,
        l,
        c,
        v: 1.0,
        vw: None,
        t: 0,
        n: None,
    }
}

/// The access table: tokens by hash, per-minute counters; counts every call; refuses
/// everything when `failing`.
#[derive(Default)]
pub struct FakeAccess {
    tokens: Mutex<HashMap<TokenHash, TokenRecord>>,
    counters: Mutex<HashMap<(TokenId, i64), u32>>,
    failing: AtomicBool,
    calls: AtomicUsize,
}

impl FakeAccess {
    pub fn insert(&self, hash: TokenHash, record: TokenRecord) {
        self.tokens.lock().unwrap().insert(hash, record);
    }

    /// Every lookup and count fails (DynamoDB unreachable) until called with `false`.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Lookups and counts asked of it.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// What a token's minute has counted.
    pub fn counted(&self, token_id: &TokenId, minute: i64) -> u32 {
        self.counters
            .lock()
            .unwrap()
            .get(&(token_id.clone(), minute))
            .copied()
            .unwrap_or(0)
    }

    fn check(&self) -> Result<(), AccessError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(AccessError::Unreachable {
                table: "fake-access".into(),
                source: "simulated DynamoDB outage".into(),
            });
        }
        Ok(())
    }
}

impl AccessStore for FakeAccess {
    async fn token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, AccessError> {
        self.check()?;
        Ok(self.tokens.lock().unwrap().get(hash).cloned())
    }

    async fn count_request(&self, token_id: &TokenId, minute: i64, limit: u32) -> Result<RateDecision, AccessError> {
        self.check()?;
        let mut counters = self.counters.lock().unwrap();
        let count = counters.entry((token_id.clone(), minute)).or_insert(0);
        if *count >= limit {
            return Ok(RateDecision::OverLimit);
        }
        *count += 1;
        Ok(RateDecision::Counted)
    }
}
