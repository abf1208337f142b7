//! `stocksctl get`: ask for one report over a WebSocket, local (`ws://`) or deployed (`wss://`).
//!
//! Prints the ack, then the report as a table (or every frame as raw JSON with `--json`). It
//! asks for progress: while the job waits for market quota it shows "queued, retrying in N s",
//! gives the wait that long on top of `--timeout`, and pings so the idle connection is not
//! dropped (API Gateway closes idle connections after 10 minutes).
//! Exit status: 0 a report arrived, 1 the server answered with an error, 2 no answer (could not
//! connect, the connection dropped, or the timeout passed).

use std::process::ExitCode;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use stocks_core::domain::{ClientMessage, STOCKS_ACTION};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// What `get` was asked to do.
#[derive(Clone, Debug)]
pub struct GetRequest {
    pub url: String,
    /// Sent as `?token=` on the URL (browsers cannot send headers on a WebSocket either).
    pub token: Option<String>,
    pub ticker: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub json: bool,
    /// Without a final answer for this long (beyond any announced wait), give up.
    pub timeout: Duration,
    /// How often to ping while waiting.
    pub ping_every: Duration,
}

/// How a `get` ended; maps to the exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum GetOutcome {
    Report,
    ErrorMessage,
    NoAnswer(String),
}

impl GetRequest {
    pub fn from_args(args: &crate::cli::GetArgs) -> Self {
        Self {
            url: args.url.clone(),
            token: args.token.clone(),
            ticker: args.ticker.clone(),
            from: args.from.clone(),
            to: args.to.clone(),
            json: args.json,
            timeout: Duration::from_secs(args.timeout),
            ping_every: args.ping_every.max(Duration::from_millis(10)),
        }
    }
}

impl GetOutcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Report => ExitCode::SUCCESS,
            Self::ErrorMessage => ExitCode::from(1),
            Self::NoAnswer(_) => ExitCode::from(2),
        }
    }
}

/// The frame `get` sends.
pub fn request_frame(req: &GetRequest) -> String {
    let mut body = serde_json::json!({"action": STOCKS_ACTION, "ticker": req.ticker, "progress": true});
    if let Some(from) = &req.from {
        body["from"] = from.as_str().into();
    }
    if let Some(to) = &req.to {
        body["to"] = to.as_str().into();
    }
    body.to_string()
}

pub async fn run(req: &GetRequest) -> GetOutcome {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message(format!("connecting to {}", req.url));
    let outcome = exchange(req, &spinner).await;
    spinner.finish_and_clear();
    if let GetOutcome::NoAnswer(why) = &outcome {
        eprintln!("error: {why}");
    }
    outcome
}

/// The URL to connect to: `--url`, with `?token=` when there is one.
pub fn connect_url(req: &GetRequest) -> Result<String, String> {
    let Some(token) = &req.token else {
        return Ok(req.url.clone());
    };
    let mut url = reqwest::Url::parse(&req.url).map_err(|e| format!("{}: {e}", req.url))?;
    url.query_pairs_mut().append_pair("token", token);
    Ok(url.into())
}

async fn exchange(req: &GetRequest, spinner: &ProgressBar) -> GetOutcome {
    let mut deadline = Instant::now() + req.timeout;
    let url = match connect_url(req) {
        Ok(url) => url,
        Err(why) => return GetOutcome::NoAnswer(format!("not a WebSocket URL: {why}")),
    };
    let connecting = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true);
    let (mut socket, _) = match tokio::time::timeout_at(deadline, connecting).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            return GetOutcome::NoAnswer(match response.status().as_u16() {
                401 => "the API wants a token: give --token (stocksctl tokens create makes one)".to_owned(),
                403 => "the API refused this token (unknown or revoked)".to_owned(),
                status => format!("could not connect to {}: HTTP {status}", req.url),
            });
        }
        Ok(Err(err)) => return GetOutcome::NoAnswer(format!("could not connect to {}: {err}", req.url)),
        Err(_) => return GetOutcome::NoAnswer(format!("could not connect within {}s", req.timeout.as_secs())),
    };
    if let Err(err) = socket.send(Message::text(request_frame(req))).await {
        return GetOutcome::NoAnswer(format!("could not send the request: {err}"));
    }
    spinner.set_message(format!("waiting for {}", req.ticker));
    let mut pings = tokio::time::interval_at(Instant::now() + req.ping_every, req.ping_every);
    loop {
        let frame = tokio::select! {
            frame = socket.next() => frame,
            _ = pings.tick() => {
                if let Err(err) = socket.send(Message::Ping(Vec::new().into())).await {
                    return GetOutcome::NoAnswer(format!("the connection failed: {err}"));
                }
                continue;
            }
            () = tokio::time::sleep_until(deadline) => {
                return GetOutcome::NoAnswer(format!("no final answer within {}s", req.timeout.as_secs()));
            }
        };
        let text = match frame {
            None | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return GetOutcome::NoAnswer(format!("the connection failed: {err}")),
        };
        if req.json {
            spinner.suspend(|| println!("{text}"));
        }
        let Ok(msg) = serde_json::from_str::<ClientMessage>(&text) else {
            // Not our envelope: API Gateway's own "Internal server error" frame, for one.
            if !req.json {
                spinner.suspend(|| eprintln!("error: unexpected message from the server: {text}"));
            }
            let _ = socket.close(None).await;
            return GetOutcome::ErrorMessage;
        };
        let ticker = msg.ticker.clone().unwrap_or_else(|| req.ticker.clone());
        if msg.is_queued() {
            let wait = msg.retry_in_seconds.unwrap_or(0);
            // The server said how long: that wait does not count against --timeout.
            deadline = deadline.max(Instant::now() + Duration::from_secs(wait) + req.timeout);
            if !req.json {
                spinner.suspend(|| eprintln!("queued {ticker}: market quota spent, retrying in {wait} s"));
            }
            spinner.set_message(format!("queued, retrying in {wait} s"));
            continue;
        }
        if msg.status_code == 202 {
            if !req.json {
                spinner.suspend(|| {
                    eprintln!(
                        "accepted {ticker} (request {})",
                        msg.request_id.as_deref().unwrap_or("?")
                    )
                });
            }
            spinner.set_message(format!("waiting for the {ticker} report"));
            continue;
        }
        let outcome = if msg.status_code == 200 && msg.report_data.is_some() {
            GetOutcome::Report
        } else {
            GetOutcome::ErrorMessage
        };
        if !req.json {
            spinner.suspend(|| match outcome {
                GetOutcome::Report => print!("{}", render_report(&msg)),
                _ => eprintln!("{}", render_error(&msg)),
            });
        }
        let _ = socket.close(None).await;
        return outcome;
    }
    GetOutcome::NoAnswer("the server closed the connection without a final answer".into())
}

/// The report as a small table.
pub fn render_report(msg: &ClientMessage) -> String {
    let Some(r) = msg.report_data else { return String::new() };
    let window = match (msg.from, msg.to) {
        (Some(f), Some(t)) => format!("  {f} → {t}"),
        _ => String::new(),
    };
    let bars = msg.bars.map(|n| format!("  ({n} daily bars)")).unwrap_or_default();
    format!(
        "{}{window}{bars}\n  avgStock   {:>16.4}\n  minStock   {:>16.4}\n  maxStock   {:>16.4}\n  minVolume  {:>16}\n  maxVolume  {:>16}\n",
        msg.ticker.as_deref().unwrap_or("?"),
        r.avg_stock,
        r.min_stock,
        r.max_stock,
        thousands(r.min_volume),
        thousands(r.max_volume),
    )
}

pub fn render_error(msg: &ClientMessage) -> String {
    let code = msg.error.map_or_else(|| "ERROR".to_owned(), |c| c.to_string());
    format!("error: {code} ({}): {}", msg.status_code, msg.message)
}

fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_request_frame() {
        let mut req = GetRequest {
            url: String::new(),
            ticker: "MSFT".into(),
            from: None,
            to: None,
            json: false,
            timeout: Duration::from_secs(1),
            ping_every: Duration::from_secs(60),
            token: None,
        };
        assert_eq!(
            request_frame(&req),
            r#"{"action":"stocksaction","progress":true,"ticker":"MSFT"}"#
        );
        req.from = Some("2026-10-01".into());
        req.to = Some("2026-10-31".into());
        let v: serde_json::Value = serde_json::from_str(&request_frame(&req)).unwrap();
        assert_eq!(
            (v["from"].as_str(), v["to"].as_str()),
            (Some("2026-10-01"), Some("2026-10-31"))
        );
    }

    #[test]
    fn the_token_goes_in_the_query_string_encoded() {
        let mut req = GetRequest {
            url: "wss://abc.execute-api.eu-west-1.amazonaws.com/prod".into(),
            token: None,
            ticker: "MSFT".into(),
            from: None,
            to: None,
            json: false,
            timeout: Duration::from_secs(1),
            ping_every: Duration::from_secs(60),
        };
        assert_eq!(connect_url(&req).unwrap(), req.url);
        req.token = Some("stk_a+b/c".into());
        assert_eq!(
            connect_url(&req).unwrap(),
            "wss://abc.execute-api.eu-west-1.amazonaws.com/prod?token=stk_a%2Bb%2Fc"
        );
    }

    #[test]
    fn renders_reports_and_errors() {
        let msg: ClientMessage = serde_json::from_str(
            r#"{"statusCode":200,"message":"success","reportData":{"avgStock":416.0283,"minStock":411.62,"maxStock":419.75,"minVolume":16523947.0,"maxVolume":20417513.0},"ticker":"MSFT","from":"2026-10-01","to":"2026-10-31","bars":22}"#,
        )
        .unwrap();
        let table = render_report(&msg);
        assert!(
            table.starts_with("MSFT  2026-10-01 → 2026-10-31  (22 daily bars)\n"),
            "{table}"
        );
        assert!(table.contains("minVolume        16,523,947"), "{table}");
        assert!(table.contains("avgStock           416.0283"), "{table}");
        let err: ClientMessage = serde_json::from_str(
            r#"{"statusCode":400,"message":"A ticker is required.","reportData":null,"error":"TICKER_REQUIRED"}"#,
        )
        .unwrap();
        assert_eq!(
            render_error(&err),
            "error: TICKER_REQUIRED (400): A ticker is required."
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(20_417_513.0), "20,417,513");
    }
}
