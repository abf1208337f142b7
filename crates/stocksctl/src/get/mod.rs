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
use indicatif::ProgressBar;
use stocks_core::domain::{ClientMessage, ErrorCode, STOCKS_ACTION};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// What `get` prints as the exchange goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Notes on stderr, the report as a table on stdout.
    Table,
    /// Every frame as it came, on stdout.
    Json,
    /// Nothing: the caller reports on the [`Exchange`] (`stocksctl smoke`).
    Quiet,
}

/// How often a waiting client pings: well inside API Gateway's idle timeout
/// ([`stocks_core::ports::CONNECTION_IDLE_TIMEOUT`]), so a long wait for market quota never
/// loses the connection.
pub const PING_EVERY: Duration = Duration::from_secs(60);

/// What `get` was asked to do.
#[derive(Clone, Debug)]
pub struct GetRequest {
    pub url: String,
    /// Sent as `?token=` on the URL (browsers cannot send headers on a WebSocket either).
    pub token: Option<String>,
    pub ticker: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub output: Output,
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

/// Everything one exchange saw: what `get` prints and `smoke` checks.
#[derive(Debug)]
pub struct Exchange {
    pub outcome: GetOutcome,
    /// The 202 `accepted`, if it came.
    pub ack: Option<ClientMessage>,
    /// The final message (report or error), if it came.
    pub last: Option<ClientMessage>,
    /// The close code, when the server closed the connection after the final message.
    pub closed_by_server: Option<u16>,
}

/// How long to wait, after a final message, for the server to close the connection as the
/// protocol promises before closing it ourselves.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

impl GetRequest {
    pub fn from_args(args: &crate::cli::GetArgs) -> Self {
        Self {
            url: args.url.clone(),
            token: args.token.clone(),
            ticker: args.ticker.clone(),
            from: args.from.clone(),
            to: args.to.clone(),
            output: if args.json { Output::Json } else { Output::Table },
            series: args.series,
            timeout: Duration::from_secs(args.timeout),
            ping_every: Duration::from(args.ping_every).max(Duration::from_millis(10)),
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

/// One exchange with a spinner on stderr while it lasts.
pub async fn run(req: &GetRequest) -> Exchange {
    let spinner = crate::progress::spinner(&format!("connecting to {}", req.url));
    let exchange = exchange(req, &spinner).await;
    spinner.finish_and_clear();
    if let (GetOutcome::NoAnswer(why), false) = (&exchange.outcome, req.output == Output::Quiet) {
        eprintln!("error: {why}");
    }
    exchange
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

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn exchange(req: &GetRequest, spinner: &ProgressBar) -> Exchange {
    let mut ack = None;
    let no_answer = |why: String, ack: Option<ClientMessage>| Exchange {
        outcome: GetOutcome::NoAnswer(why),
        ack,
        last: None,
        closed_by_server: None,
    };
    let table = req.output == Output::Table;
    let mut deadline = Instant::now() + req.timeout;
    let url = match connect_url(req) {
        Ok(url) => url,
        Err(why) => return no_answer(format!("not a WebSocket URL: {why}"), None),
    };
    let connecting = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true);
    let (mut socket, _) = match tokio::time::timeout_at(deadline, connecting).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            let why = match response.status().as_u16() {
                401 => "the API wants a token: give --token (stocksctl tokens create makes one)".to_owned(),
                403 => "the API refused this token (unknown or revoked)".to_owned(),
                status => format!("could not connect to {}: HTTP {status}", req.url),
            };
            return no_answer(why, None);
        }
        Ok(Err(err)) => return no_answer(format!("could not connect to {}: {err}", req.url), None),
        Err(_) => return no_answer(format!("could not connect within {}s", req.timeout.as_secs()), None),
    };
    if let Err(err) = socket.send(Message::text(request_frame(req))).await {
        return no_answer(format!("could not send the request: {err}"), None);
    }
    spinner.set_message(format!("waiting for {}", req.ticker));
    let mut pings = tokio::time::interval_at(Instant::now() + req.ping_every, req.ping_every);
    loop {
        let frame = tokio::select! {
            frame = socket.next() => frame,
            _ = pings.tick() => {
                if let Err(err) = socket.send(Message::Ping(Vec::new().into())).await {
                    return no_answer(format!("the connection failed: {err}"), ack);
                }
                continue;
            }
            () = tokio::time::sleep_until(deadline) => {
                return no_answer(format!("no final answer within {}s", req.timeout.as_secs()), ack);
            }
        };
        let text = match frame {
            None | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return no_answer(format!("the connection failed: {err}"), ack),
        };
        if req.output == Output::Json {
            spinner.suspend(|| println!("{text}"));
        }
        let Ok(msg) = serde_json::from_str::<ClientMessage>(&text) else {
            // Not our envelope: API Gateway's own "Internal server error" frame, for one.
            if table {
                spinner.suspend(|| eprintln!("error: unexpected message from the server: {text}"));
            }
            let _ = socket.close(None).await;
            return Exchange {
                outcome: GetOutcome::ErrorMessage,
                ack,
                last: None,
                closed_by_server: None,
            };
        };
        let ticker = msg.ticker.clone().unwrap_or_else(|| req.ticker.clone());
        if msg.is_queued() {
            let wait = msg.retry_in_seconds.unwrap_or(0);
            // The server said how long: that wait does not count against --timeout.
            deadline = deadline.max(Instant::now() + Duration::from_secs(wait) + req.timeout);
            if table {
                spinner.suspend(|| eprintln!("queued {ticker}: waiting for market data, retrying in {wait} s"));
            }
            spinner.set_message(format!("queued, retrying in {wait} s"));
            continue;
        }
        if msg.status_code == 202 {
            if table {
                spinner.suspend(|| {
                    eprintln!(
                        "accepted {ticker} (request {})",
                        msg.request_id.as_deref().unwrap_or("?")
                    )
                });
            }
            spinner.set_message(format!("waiting for the {ticker} report"));
            ack = Some(msg);
            continue;
        }
        let outcome = if msg.status_code == 200 && msg.report_data.is_some() {
            GetOutcome::Report
        } else {
            GetOutcome::ErrorMessage
        };
        if table {
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
        spinner.set_message("waiting for the server to close the connection");
        // Reports, NO_RESULTS and a failed job close the connection; a 400 or QUEUE_UNAVAILABLE
        // leaves it open for another try.
        let closes = msg.is_terminal() && msg.error != Some(ErrorCode::QueueUnavailable);
        let closed_by_server = if closes {
            server_close(&mut socket, CLOSE_GRACE).await
        } else {
            None
        };
        if closed_by_server.is_none() {
            let _ = socket.close(None).await;
        }
        return Exchange {
            outcome,
            ack,
            last: Some(msg),
            closed_by_server,
        };
    }
    no_answer("the server closed the connection without a final answer".into(), ack)
}

/// Waits up to `grace` for the server's close frame; its code, or `None` if none came.
async fn server_close(socket: &mut Socket, grace: Duration) -> Option<u16> {
    let closing = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return Some(frame.map_or(1005, |f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                // The server dropped the connection without a close frame.
                Some(Err(_)) | None => return None,
            }
        }
    };
    tokio::time::timeout(grace, closing).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msft(url: &str) -> GetRequest {
        GetRequest {
            url: url.into(),
            token: None,
            ticker: "MSFT".into(),
            from: None,
            to: None,
            output: Output::Table,
            series: false,
            timeout: Duration::from_secs(1),
            ping_every: PING_EVERY,
        }
    }

    #[test]
    fn builds_the_request_frame() {
        let mut req = msft("");
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
        let mut req = msft("wss://abc.execute-api.eu-west-1.amazonaws.com/prod");
        assert_eq!(connect_url(&req).unwrap(), req.url);
        req.token = Some("stk_a+b/c".into());
        assert_eq!(
            connect_url(&req).unwrap(),
            "wss://abc.execute-api.eu-west-1.amazonaws.com/prod?token=stk_a%2Bb%2Fc"
        );
    }
}
