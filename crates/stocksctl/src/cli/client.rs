//! The clients: `stocksctl get` and `stocksctl smoke`.

use clap::Args;

/// Ask for one report and print it.
///
/// Prints the 202 ack, then the report as a table with a sparkline of the daily closes (the bars
/// themselves with --series, or every frame as JSON with --json). While
/// the job waits for market quota it says "queued, retrying in N s" and keeps the connection
/// alive with pings.
/// Exit status: 0 report, 1 error message from the service, 2 no answer (could not connect,
/// connection dropped, timeout).
#[derive(Debug, Args)]
pub struct GetArgs {
    /// Ticker symbol, e.g. MSFT or BRK.A.
    pub ticker: String,

    /// WebSocket URL: the local stack, or a deployed API (wss://…/STAGE).
    #[arg(long, env = "STOCKS_WS_URL", default_value = "ws://127.0.0.1:8080/local")]
    pub url: String,

    /// Access token (`stocksctl tokens create`), sent as `?token=` on the URL.
    #[arg(long, env = "STOCKS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// First day of the window (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,

    /// Last day of the window (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,

    /// Print every server frame as raw JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Print the daily bars the report was computed from as a table (by default a one-line
    /// sparkline of the closes).
    #[arg(long)]
    pub series: bool,

    /// Give up after this many seconds without a final answer (a wait the server announces
    /// with "queued, retrying in N s" comes on top).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub timeout: u64,

    /// How often to ping while waiting, so the connection is never idle long enough to be
    /// dropped (API Gateway: 10 minutes), e.g. 60s or 500ms.
    #[arg(long, default_value_t = humantime::Duration::from(crate::get::PING_EVERY))]
    pub ping_every: humantime::Duration,
}

/// After a deploy: one real request through the API — the 202, the report, the server's close.
///
/// Prints each check; exit status 0 when all three happened, 1 otherwise. The URL is the
/// deployed stage's (`terraform output -raw websocket_url`); with auth_mode = "token", give a
/// token (`stocksctl tokens create`).
#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// WebSocket URL of the deployed stage (wss://…/STAGE), or of a local stack.
    #[arg(long, env = "STOCKS_WS_URL")]
    pub url: String,

    /// Access token, sent as `?token=` on the URL (never printed).
    #[arg(long, env = "STOCKS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Ticker to ask for; the default window (the last 30 days) must have trading days.
    #[arg(long, default_value = "MSFT")]
    pub ticker: String,

    /// Give up after this many seconds without the report (a market-quota wait the server
    /// announces comes on top).
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub timeout: u64,
}
