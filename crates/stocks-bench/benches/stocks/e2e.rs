//! End to end through the local stack: WebSocket send → report received, at a given number of
//! concurrent clients, each reusing its connection (`"disconnect": false`) so the figure is the
//! pipeline's, not TCP's.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use stocks_core::domain::ClientMessage;
use tokio_tungstenite::tungstenite::Message;

use stocks_local::market::UNIVERSE;

/// One concurrency level's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Level {
    pub clients: usize,
    /// Requests per second all clients together were paced to; `None`: each sends its next
    /// request as soon as its report arrives (closed loop, i.e. as fast as the stack goes).
    pub paced_per_second: Option<f64>,
    /// Reports received inside the measured window.
    pub reports: usize,
    pub seconds: f64,
    /// `reports / seconds`: the rate achieved, whatever was asked for.
    pub reports_per_second: f64,
    /// Latency percentiles of the requests sent inside the window.
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One request's send and report times.
type Exchange = (Instant, Instant);

/// Runs `clients` clients against `url` for `duration` (after a short warm-up), either as fast
/// as they can or paced to `rate` requests per second in all.
pub async fn level(url: &str, clients: usize, duration: Duration, rate: Option<f64>) -> Result<Level, String> {
    let gap = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
    let warmup = Duration::from_millis(500).min(duration / 4);
    let started = Instant::now();
    let measure_from = started + warmup;
    let stop_at = measure_from + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let url = url.to_owned();
            tokio::spawn(async move { one_client(&url, c, stop_at, gap).await })
        })
        .collect();
    let mut exchanges = Vec::new();
    for task in tasks {
        exchanges.extend(task.await.map_err(|e| e.to_string())??);
    }
    let in_window = |at: &Instant| *at >= measure_from && *at < stop_at;
    let reports = exchanges.iter().filter(|(_, received)| in_window(received)).count();
    let mut latencies: Vec<Duration> = exchanges
        .iter()
        .filter(|(sent, _)| in_window(sent))
        .map(|(sent, received)| *received - *sent)
        .collect();
    if latencies.is_empty() {
        return Err("no report arrived".into());
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1].as_secs_f64() * 1e3
    };
    let seconds = duration.as_secs_f64();
    Ok(Level {
        clients,
        paced_per_second: rate,
        reports,
        seconds,
        reports_per_second: reports as f64 / seconds,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    })
}

/// Request after request on one connection until `stop_at`; when each was sent and answered.
async fn one_client(
    url: &str,
    client: usize,
    stop_at: Instant,
    gap: Option<Duration>,
) -> Result<Vec<Exchange>, String> {
    // TCP_NODELAY: a small frame must not wait for the previous one's delayed ACK.
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut exchanges = Vec::new();
    let mut n = client * 7919;
    // Paced clients start spread over one gap so they do not all send at once.
    let mut next_send = Instant::now() + gap.map_or(Duration::ZERO, |g| g.mul_f64(fastrand::f64()));
    loop {
        if let Some(gap) = gap {
            tokio::time::sleep_until(next_send.into()).await;
            next_send += gap;
        }
        if Instant::now() >= stop_at {
            break;
        }
        n += 1;
        let (ticker, _) = UNIVERSE[n % UNIVERSE.len()];
        // The default window's length (30 days, ~21 bars), ending on many different days so the
        // worker really asks the market.
        let to = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).unwrap() + chrono::Days::new((n % 700) as u64);
        let from = to - chrono::Days::new(29);
        let body = format!(
            r#"{{"action":"stocksaction","ticker":"{ticker}","from":"{from}","to":"{to}","disconnect":false}}"#
        );
        let sent = Instant::now();
        ws.send(Message::text(body)).await.map_err(|e| format!("send: {e}"))?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), ws.next())
                .await
                .map_err(|_| "no answer within 30 s".to_owned())?;
            let Some(Ok(Message::Text(text))) = frame else {
                return Err(format!("connection ended: {frame:?}"));
            };
            let msg: ClientMessage = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
            if msg.is_terminal() {
                if msg.status_code != 200 {
                    return Err(format!("expected a report, got {text}"));
                }
                break;
            }
        }
        exchanges.push((sent, Instant::now()));
    }
    let _ = ws.close(None).await;
    Ok(exchanges)
}
