//! The fleet's market store, in memory and on moto's DynamoDB, held to the same rules by the
//! same tests: the quota ledger's slots and gate, answers until their expiry, leases taken only
//! if absent or expired. Time is injected (moto never expires TTL items, and paused time would
//! jump while a request awaits moto). And a race: four adapters on one moto table never start
//! more calls than the rate in any window.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use stocks_core::adapters::{DynamoMarketStore, MemoryMarketStore};
use stocks_core::domain::{AnswerKey, DateWindow, Rate, Slot, Ticker, parse_date};
use stocks_core::ports::{MarketQuota, SharedAnswers};
use stocks_testkit::{MotoServer, bar};

/// 5 a minute, Polygon's free plan: a window of 61.2 s.
const FREE: Rate = Rate {
    calls: 5,
    per: Duration::from_secs(60),
};

fn at(secs: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T15:00:00Z").unwrap().to_utc()
        + TimeDelta::milliseconds((secs * 1000.0) as i64)
}

fn key(ticker: &str) -> AnswerKey {
    AnswerKey::new(
        &Ticker::parse(ticker).unwrap(),
        &DateWindow::new(parse_date("2026-10-01").unwrap(), parse_date("2026-10-31").unwrap()).unwrap(),
    )
}

async fn dynamo(moto: &MotoServer, rate: Option<Rate>) -> DynamoMarketStore {
    DynamoMarketStore::new(moto.table("stocks-market").await, "stocks-market", rate)
}

/// The rate's calls start, then each waiter is promised a slot a window later; a 429's gate
/// holds every key, and a later 429 never reopens it sooner.
async fn slots_and_the_gate(store: impl MarketQuota) {
    for i in 0..5 {
        assert_eq!(store.take_slot(&format!("k{i}"), at(0.0)).await.unwrap(), Slot::Start);
    }
    assert_eq!(store.take_slot("k5", at(1.0)).await.unwrap(), Slot::WaitUntil(at(61.2)));
    assert_eq!(
        store.take_slot("k5", at(61.2)).await.unwrap(),
        Slot::Start,
        "back on time"
    );
    store.close_gate(at(130.0)).await.unwrap();
    store.close_gate(at(100.0)).await.unwrap();
    assert_eq!(store.take_slot("k6", at(120.0)).await.unwrap(), Slot::Closed(at(130.0)));
    assert_eq!(store.take_slot("k6", at(130.0)).await.unwrap(), Slot::Start);
}

/// An answer is there until its time, "no bars" included; a lease is taken only if absent or
/// expired, and only its holder gives it back.
async fn answers_and_leases(store: impl SharedAnswers) {
    let (msft, ko) = (key("MSFT"), key("KO"));
    assert_eq!(store.answer(&msft, at(0.0)).await.unwrap(), None);
    let bars = vec![bar(1.0, 2.0, 0.5, 1.5), bar(1.5, 2.5, 1.0, 2.0)];
    store.keep(&msft, &bars, at(100.0)).await.unwrap();
    store.keep(&ko, &[], at(100.0)).await.unwrap();
    assert_eq!(store.answer(&msft, at(99.0)).await.unwrap(), Some(bars));
    assert_eq!(
        store.answer(&ko, at(99.0)).await.unwrap(),
        Some(vec![]),
        "no bars is an answer"
    );
    assert_eq!(
        store.answer(&msft, at(100.0)).await.unwrap(),
        None,
        "expired at the close"
    );

    assert!(store.take_lease(&msft, "a", at(0.0), at(13.0)).await.unwrap());
    assert!(
        !store.take_lease(&msft, "b", at(5.0), at(18.0)).await.unwrap(),
        "a's lease is live"
    );
    store.release_lease(&msft, "b").await.unwrap();
    assert!(
        !store.take_lease(&msft, "b", at(6.0), at(19.0)).await.unwrap(),
        "b gave back nothing of a's"
    );
    assert!(
        store.take_lease(&msft, "b", at(13.0), at(26.0)).await.unwrap(),
        "a's lease lapsed"
    );
    store.release_lease(&msft, "a").await.unwrap();
    assert!(
        !store.take_lease(&msft, "c", at(14.0), at(27.0)).await.unwrap(),
        "still b's"
    );
    store.release_lease(&msft, "b").await.unwrap();
    assert!(store.take_lease(&msft, "c", at(14.0), at(27.0)).await.unwrap());
}

#[tokio::test]
async fn in_memory_the_ledger_promises_slots_and_keeps_the_gate() {
    slots_and_the_gate(MemoryMarketStore::new(Some(FREE))).await;
}

#[tokio::test]
async fn on_dynamodb_the_ledger_promises_slots_and_keeps_the_gate() {
    let moto = MotoServer::start();
    slots_and_the_gate(dynamo(&moto, Some(FREE)).await).await;
}

#[tokio::test]
async fn in_memory_answers_expire_and_leases_are_taken_once() {
    answers_and_leases(MemoryMarketStore::new(None)).await;
}

#[tokio::test]
async fn on_dynamodb_answers_expire_and_leases_are_taken_once() {
    let moto = MotoServer::start();
    answers_and_leases(dynamo(&moto, None).await).await;
}

#[tokio::test]
async fn on_dynamodb_a_five_year_answer_fits_one_item() {
    let moto = MotoServer::start();
    let store = dynamo(&moto, None).await;
    let five_years: Vec<_> = (0..1827).map(|i| bar(f64::from(i), 2.0, 0.5, 1.5)).collect();
    store.keep(&key("MSFT"), &five_years, at(100.0)).await.unwrap();
    assert_eq!(store.answer(&key("MSFT"), at(0.0)).await.unwrap(), Some(five_years));
}

#[tokio::test]
async fn four_instances_on_one_table_never_start_more_than_the_rate_in_a_window() {
    let moto = MotoServer::start();
    let first = dynamo(&moto, Some(FREE)).await;
    // Four instances, each its own client, racing on one ledger: each asks for eight calls,
    // one every 2 s of the clock they share, all at once in real time.
    let instances: Vec<_> = (0..4)
        .map(|_| DynamoMarketStore::new(moto.dynamodb_client(), first.table(), Some(FREE)))
        .collect();
    let runs: Vec<_> = instances
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            tokio::spawn(async move {
                let mut started = Vec::new();
                for call in 0..8 {
                    let now = at(f64::from(call) * 2.0 + i as f64 * 0.25);
                    if store.take_slot(&format!("i{i}-c{call}"), now).await.unwrap() == Slot::Start {
                        started.push(now);
                    }
                }
                started
            })
        })
        .collect();
    let mut started = Vec::new();
    for run in runs {
        started.extend(run.await.unwrap());
    }
    started.sort();
    assert_eq!(started.len(), 5, "the rate is used, and no more: {started:?}");
    for (i, s) in started.iter().enumerate() {
        let in_window = started[i..]
            .iter()
            .filter(|t| **t < *s + TimeDelta::milliseconds(61_200))
            .count();
        assert!(in_window <= 5, "{in_window} starts in the window from {s}");
    }
}
