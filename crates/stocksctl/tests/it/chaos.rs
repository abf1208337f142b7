//! Chaos: a thousand requests through the local stack while a fifth of market answers fail
//! (429s, 500s, 503s, stalls, bad JSON) and a tenth of clients leave before their report. A
//! 429 defers its job (the worker waits for quota), so deferred jobs are in the run too.
//!
//! Afterwards every accepted request must have ended in exactly one way — report delivered,
//! terminal error delivered, client gone, or job in the DLQ — checked request id by request
//! id, from the clients' side and the server's, and matching `/_local/stats`. Then the faults
//! clear, the DLQ is replayed with `stocksctl dlq replay`, and the replayed jobs complete.
//!
//! Jobs go through moto (a real SQS implementation) so the replay is the real tool's.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use stocks_core::adapters::{CacheSettings, RetryPolicy};
use stocks_core::domain::ClientMessage;
use stocks_local::market::UNIVERSE;
use stocks_local::{LocalConfig, RequestRecord};
use stocks_testkit::stack::moto_queue;
use stocks_testkit::ws::{Ws, next_message, next_message_within, send};
use stocks_testkit::{MotoServer, Stack};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: usize = 1000;
const IN_FLIGHT: usize = 100;
/// How long a client and the test wait for a request to end. A job can meet several faults in
/// a row — each costs a visibility timeout (6 s) or a deferral — and moto serves a thousand
/// of them on CI's two cores: this test's claim is that every request ends, not how fast.
const ENDING_WITHIN: Duration = Duration::from_secs(120);

/// What one client saw.
struct Seen {
    request_id: String,
    /// Left right after the 202.
    left: bool,
    /// Terminal messages received (200, 404, 503); more than one is a failure.
    terminals: Vec<ClientMessage>,
    /// Kept open after its terminal message (asked with `disconnect: false`).
    socket: Option<Ws>,
    /// From the 202 to the terminal message.
    waited: Duration,
}

async fn client(url: String, i: usize) -> Seen {
    let mut ws = tokio_tungstenite::connect_async(url).await.expect("connects").0;
    // Mostly known symbols, some unknown; windows vary so the market is really asked.
    let ticker = if i.is_multiple_of(20) {
        "ZZZZ"
    } else {
        UNIVERSE[i % UNIVERSE.len()].0
    };
    let to = chrono::NaiveDate::from_ymd_opt(2024, 10, 1).unwrap() + chrono::Days::new((i % 90) as u64);
    let keep_open = i % 25 == 1;
    let body = json!({"action": "stocksaction", "ticker": ticker, "from": "2024-06-03", "to": to.to_string(), "disconnect": !keep_open});
    send(&mut ws, &body.to_string()).await;
    let ack = next_message_within(&mut ws, ENDING_WITHIN).await;
    assert_eq!(ack.status_code, 202, "{ack:?}");
    let acked = std::time::Instant::now();
    let request_id = ack.request_id.clone().unwrap();
    let left = i % 10 == 3;
    if left {
        let _ = ws.close(None).await;
        return Seen {
            request_id,
            left,
            terminals: Vec::new(),
            socket: None,
            waited: Duration::ZERO,
        };
    }
    let terminal = next_message_within(&mut ws, ENDING_WITHIN).await;
    let waited = acked.elapsed();
    assert!(terminal.is_terminal(), "{terminal:?}");
    let mut terminals = vec![terminal];
    if keep_open {
        return Seen {
            request_id,
            left,
            terminals,
            socket: Some(ws),
            waited,
        };
    }
    // The server closes the connection after the terminal message; anything else before the
    // close is a second answer.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Text(text))) => terminals.push(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    Seen {
        request_id,
        left,
        terminals,
        socket: None,
        waited,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_accepted_request_ends_exactly_once_under_faults() {
    let moto = MotoServer::start();
    let sqs = moto.sqs_client();
    // The visibility timeout is longer than any worker batch here, so a job is never delivered
    // twice at once.
    let queues = moto.jobs_and_dlq("chaos-jobs", Some(2), Some(6)).await;
    let queue = moto_queue(&moto, &queues);
    let (jobs_url, dlq_url) = (queues.jobs_url, queues.dlq_url);

    let stack = Stack::start(LocalConfig {
        queue,
        fault_rate: 0.2,
        fault_seed: Some(2026),
        // One try per delivery and two deliveries: about 4% of jobs end in the DLQ.
        max_receive_count: 2,
        retry: RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(1),
            request_timeout: Duration::from_millis(300),
            budget: Duration::from_secs(2),
        },
        // Every request really reaches the (failing) market.
        cache: CacheSettings {
            entries: 0,
            max_age: None,
        },
        // Long enough for the leaving clients to be gone before their answer.
        market_latency: Duration::from_millis(150),
        worker_instances: 10,
        ..stocks_testkit::stack::fast_config()
    })
    .await;

    // ---------------------------------------------------------------- the storm
    let started = std::time::Instant::now();
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (url, gate) = (stack.ws_url(), gate.clone());
            tokio::spawn(async move {
                let _slot = gate.acquire_owned().await.unwrap();
                client(url, i).await
            })
        })
        .collect();
    let mut seen = Vec::with_capacity(CLIENTS);
    for task in tasks {
        seen.push(task.await.expect("no client panicked"));
    }
    let by_id: HashMap<String, &Seen> = seen.iter().map(|s| (s.request_id.clone(), s)).collect();
    assert_eq!(by_id.len(), CLIENTS, "every request got its own id");

    // Every accepted request must end: wait until each has a terminal post (delivered or gone).
    let journal = wait_for(&stack, "every request to end", |j: &HashMap<String, RequestRecord>| {
        by_id.keys().all(|id| {
            j.get(id)
                .is_some_and(|r| r.delivered.iter().chain(&r.gone).any(|s| *s != 202))
        })
    })
    .await;

    // ---------------------------------------------------------------- accounting
    let dead: Vec<serde_json::Value> = stack.get_json("/_local/dlq").await;
    let dead_ids: HashSet<String> = dead
        .iter()
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d["body"].as_str().unwrap()).unwrap()["requestId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(dead_ids.len(), dead.len(), "no job is in the DLQ twice");

    let mut tally: BTreeMap<&str, u64> = BTreeMap::new();
    for (id, client) in &by_id {
        let record = &journal[id];
        let delivered: Vec<u16> = record.delivered.iter().copied().filter(|s| *s != 202).collect();
        let gone: Vec<u16> = record.gone.iter().copied().filter(|s| *s != 202).collect();
        assert_eq!(record.delivered.first(), Some(&202), "{id}: the ack came first");
        assert_eq!(
            delivered.len() + gone.len(),
            1,
            "{id}: exactly one terminal post, got {record:?}"
        );
        let terminal = delivered.first().or(gone.first()).copied().unwrap();
        let outcome = match (dead_ids.contains(id), delivered.is_empty(), terminal) {
            (true, _, 503) => "dlq",
            (false, false, 200) => "reported",
            (false, false, 404) => "error",
            (false, true, 200 | 404) => "gone",
            other => panic!("{id}: inconsistent ending {other:?} ({record:?})"),
        };
        *tally.entry(outcome).or_default() += 1;

        // The clients' side agrees.
        assert!(
            client.terminals.len() <= 1,
            "{id}: {} terminal messages",
            client.terminals.len()
        );
        if client.left {
            assert!(delivered.is_empty(), "{id}: a client that left was still answered");
        } else {
            assert_eq!(client.terminals[0].status_code, terminal, "{id}");
            assert_eq!(client.terminals[0].request_id.as_deref(), Some(id.as_str()));
        }
    }
    let storm = started.elapsed();
    let slowest = seen.iter().map(|s| s.waited).max().unwrap_or_default();
    println!("chaos outcomes over {CLIENTS} requests in {storm:?}: {tally:?}; slowest ending {slowest:?}");
    for outcome in ["reported", "error", "gone", "dlq"] {
        assert!(
            tally.get(outcome).copied().unwrap_or(0) > 0,
            "no {outcome} at all: the test is not exercising it ({tally:?})"
        );
    }

    // /_local/stats says the same.
    let stats = stack.stats().await;
    let count = |f: &dyn Fn(&RequestRecord) -> usize| by_id.keys().map(|id| f(&journal[id])).sum::<usize>() as u64;
    assert_eq!(stats.accepted, CLIENTS as u64);
    assert_eq!(stats.reported, tally["reported"]);
    assert_eq!(
        stats.errors,
        count(&|r| r.delivered.iter().filter(|s| **s != 202).count()) - tally["reported"]
    );
    assert_eq!(stats.gone, count(&|r| r.gone.len()));
    assert_eq!(stats.dlq, tally["dlq"]);
    assert!(
        stats.deferred > 0,
        "the 429 faults deferred jobs, and those ended exactly once too: {stats:?}"
    );

    // ---------------------------------------------------------------- recovery
    stack.set_fault_rate(0.0).await;
    let summary = super::replay_everything(&sqs, &dlq_url, &jobs_url).await;
    assert_eq!((summary.moved as u64, summary.failed), (tally["dlq"], 0));

    // Each replayed job now ends with a report or NO_RESULTS: delivered to the clients that
    // kept their connection open, 410 for the rest.
    let after = wait_for(&stack, "the replayed jobs", |j: &HashMap<String, RequestRecord>| {
        dead_ids.iter().all(|id| {
            j[id]
                .delivered
                .iter()
                .chain(&j[id].gone)
                .any(|s| *s == 200 || *s == 404)
        })
    })
    .await;
    assert_eq!(stack.wait_for_stats("an empty DLQ", |s| s.dlq == 0).await.dlq, 0);
    for mut client in seen.into_iter().filter(|c| dead_ids.contains(&c.request_id)) {
        if let Some(ws) = client.socket.as_mut() {
            let report = next_message(ws).await;
            assert!(matches!(report.status_code, 200 | 404), "{report:?}");
            assert_eq!(report.request_id.as_deref(), Some(client.request_id.as_str()));
        }
        assert!(after[&client.request_id].delivered.len() + after[&client.request_id].gone.len() >= 3);
    }
}

/// Polls `/_local/requests` until `done` holds (two minutes at most).
async fn wait_for(
    stack: &Stack,
    what: &str,
    done: impl Fn(&HashMap<String, RequestRecord>) -> bool,
) -> HashMap<String, RequestRecord> {
    let deadline = tokio::time::Instant::now() + ENDING_WITHIN;
    loop {
        let journal: HashMap<String, RequestRecord> = stack.get_json("/_local/requests").await;
        if done(&journal) {
            return journal;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            stack.stats().await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
