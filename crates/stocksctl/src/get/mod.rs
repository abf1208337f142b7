//! `stocksctl get`: ask for one report over a WebSocket, local (`ws://`) or deployed (`wss://`).
//!
//! Prints the ack, then the report as a table with a sparkline of the daily closes (or the bars
//! as a table with `--series`, or every frame as raw JSON with `--json`). It asks for progress
//! and the series: while the job waits for market quota it shows "queued, retrying in N s",
//! gives the wait that long on top of `--timeout`, and pings so the idle connection is not
//! dropped (API Gateway closes idle connections after 10 minutes).
//! Exit status: 0 a report arrived, 1 the server answered with an error, 2 no answer (could not
//! connect, the connection dropped, or the timeout passed).

mod render;

use std::io::IsTerminal;
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
    /// Print the daily bars as a table instead of the sparkline.
    pub series: bool,
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
            series: args.series,
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
    let mut body = serde_json::json!({"action": STOCKS_ACTION, "ticker": req.ticker, "progress": true, "series": true});
    if let Some(from) = &req.from {
        body["from"] = from.as_str().into();
    }
    if let Some(to) = &req.to {
        body["to"] = to.as_str().into();
    }
    body.to_string()
}

pub use render::{render_error, render_report};

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
                GetOutcome::Report => {
                    print!("{}", render_report(&msg));
                    match (&msg.series, req.series) {
                        (Some(series), true) => print!("{}", render::series_table(series)),
                        (Some(series), false) => {
                            print!("{}", render::sparkline(series, std::io::stdout().is_terminal()))
                        }
                        (None, _) => {}
                    }
                }
                _ => eprintln!("{}", render_error(&msg)),
            });
        }
        let _ = socket.close(None).await;
        return outcome;
    }
    GetOutcome::NoAnswer("the server closed the connection without a final answer".into())
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
            series: false,
            timeout: Duration::from_secs(1),
            ping_every: Duration::from_secs(60),
            token: None,
        };
        assert_eq!(
            request_frame(&req),
            r#"{"action":"stocksaction","progress":true,"series":true,"ticker":"MSFT"}"#
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
            series: false,
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
}
