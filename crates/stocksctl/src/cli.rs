//! The command line: clap types only, where every doc comment is the `--help` text. Each
//! command's module turns its arguments into work; nothing here runs anything.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use stocks_core::adapters::polygon::DEFAULT_BASE_URL;
use stocks_core::domain::{Ticker, WindowDays};
use stocks_local::{LocalConfig, PerPeriod};

/// The local stack's defaults: shown by `--help` and used when a flag is not given.
fn defaults() -> LocalConfig {
    LocalConfig::default()
}

/// Develop, try and operate the stocks WebSocket service.
///
/// `stocksctl local` runs the whole pipeline on this machine (no AWS account, no Polygon key);
/// `stocksctl get MSFT` asks it — or a deployed API — for a report; `stocksctl dlq` inspects
/// and replays the dead-letter queue; `stocksctl tokens` gives people access; `stocksctl
/// preflight` and `stocksctl smoke` come before and after a deploy.
#[derive(Debug, Parser)]
#[command(name = "stocksctl", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Local(LocalArgs),
    Get(GetArgs),
    Dlq(DlqArgs),
    Tokens(TokensArgs),
    Preflight(PreflightArgs),
    Smoke(SmokeArgs),
    Bench(BenchArgs),
}

/// Run the service locally: an API Gateway WebSocket emulator running the real handlers.
///
/// Serves on one port: the WebSocket API at ws://HOST:PORT/STAGE, the @connections API under
/// /STAGE/@connections/{id}, the demo market under /v2/aggs/..., and /_local/stats,
/// /_local/dlq, /_local/connections, /_local/requests and /_local/faults for inspection. Prints `listening on ws://HOST:PORT/STAGE`
/// when ready and serves until Ctrl-C.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = LocalConfig::DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// API Gateway stage name: the path of the WebSocket URL.
    #[arg(long, default_value_t = defaults().stage)]
    pub stage: String,

    /// Market data: `demo` serves deterministic synthetic bars offline; `polygon` calls the real
    /// API with POLYGON_API_KEY.
    #[arg(long, value_enum, default_value_t = Market::Demo)]
    pub market: Market,

    /// Polygon API key, for `--market polygon` only.
    #[arg(long, env = "POLYGON_API_KEY", hide_env_values = true)]
    pub polygon_api_key: Option<String>,

    /// Polygon endpoint, for `--market polygon`.
    #[arg(long, env = "POLYGON_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub polygon_base_url: String,

    /// Job queue: `memory` emulates SQS in this process; `sqs` uses --queue-url/--dlq-url on any
    /// SQS-compatible service (moto, LocalStack, real SQS).
    #[arg(long, value_enum, default_value_t = Queue::Memory)]
    pub queue: Queue,

    /// SQS endpoint override for `--queue sqs` (e.g. http://127.0.0.1:5000 for moto).
    #[arg(long, env = "SQS_ENDPOINT_URL")]
    pub sqs_endpoint: Option<String>,

    /// AWS region for `--queue sqs` (default: the AWS config, else us-east-1 with an endpoint).
    #[arg(long)]
    pub region: Option<String>,

    /// Jobs queue URL for `--queue sqs`.
    #[arg(long, required_if_eq("queue", "sqs"))]
    pub queue_url: Option<String>,

    /// Dead-letter queue URL for `--queue sqs`.
    #[arg(long, required_if_eq("queue", "sqs"))]
    pub dlq_url: Option<String>,

    /// Seconds a received job stays hidden before SQS delivers it again (memory queue).
    #[arg(long, default_value_t = defaults().visibility_timeout.as_secs(), value_name = "SECS")]
    pub visibility_timeout: u64,

    /// Deliveries before a job is dead-lettered (the redrive policy's maxReceiveCount).
    #[arg(long, default_value_t = defaults().max_receive_count, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_receive_count: u32,

    /// Records per worker invocation (1-10, as SQS allows).
    #[arg(long, default_value_t = defaults().batch_size as u16, value_parser = clap::value_parser!(u16).range(1..=10))]
    pub batch_size: u16,

    /// Worker invocations in flight at once (the event-source mapping's maximum concurrency).
    #[arg(long, default_value_t = defaults().concurrency as u16, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub concurrency: u16,

    /// Close connections idle for this many seconds (API Gateway: 600).
    #[arg(long, default_value_t = defaults().limits.idle_timeout.as_secs(), value_name = "SECS")]
    pub idle_timeout: u64,

    /// Close every connection after this many seconds (API Gateway: 7200).
    #[arg(long, default_value_t = defaults().limits.max_lifetime.as_secs(), value_name = "SECS")]
    pub max_lifetime: u64,

    /// Days in the default report window (REPORT_WINDOW_DAYS).
    #[arg(long, env = "REPORT_WINDOW_DAYS", default_value_t = defaults().window_days.get(), value_parser = clap::value_parser!(u32).range(1..=i64::from(WindowDays::MAX)))]
    pub window_days: u32,

    /// Share of demo-market responses that fail (0-1): 429s, 500s, 503s, stalls, bad JSON.
    #[arg(long, default_value_t = defaults().fault_rate, value_parser = parse_rate)]
    pub fault_rate: f64,

    /// Seed for --fault-rate, to replay the same faults.
    #[arg(long)]
    pub fault_seed: Option<u64>,

    /// Milliseconds added to every demo-market response.
    #[arg(long, default_value_t = defaults().market_latency.as_millis() as u64, value_name = "MS")]
    pub market_latency: u64,

    /// Market answers the worker keeps until the next market close, as deployed
    /// (MARKET_CACHE_ENTRIES); 0 sends every request to the market.
    #[arg(long, default_value_t = defaults().cache.entries)]
    pub market_cache_entries: usize,

    /// The demo market's plan: at most N requests per fixed window of PERIOD, then 429 with
    /// Retry-After as Polygon answers (e.g. 5/min, the free plan; 5/2s to see it quickly).
    #[arg(long, value_name = "N/PERIOD", value_parser = PerPeriod::parse)]
    pub market_quota: Option<PerPeriod>,

    /// The worker's own limiter, as POLYGON_REQUESTS_PER_MINUTE sets it in Lambda: it stops at
    /// N requests per PERIOD before the market has to say 429 (e.g. 5/min).
    #[arg(long, value_name = "N/PERIOD", value_parser = PerPeriod::parse)]
    pub polygon_rate: Option<PerPeriod>,

    /// Seconds the worker waits after a 429 without Retry-After (QUOTA_DEFER_SECS).
    #[arg(long, value_name = "SECS", default_value_t = defaults().quota.defer_without_retry_after.as_secs())]
    pub quota_defer: u64,

    /// Seconds a job may wait for market quota, from the client's request, before it is
    /// dead-lettered (MAX_JOB_AGE_SECS).
    #[arg(long, value_name = "SECS", default_value_t = defaults().max_job_age.as_secs())]
    pub max_job_age: u64,

    /// Who may connect: `none` (anyone), or `tokens` — `$connect` needs `?token=` (401 without
    /// one, 403 for an unknown or revoked one) and each token's requests a minute are limited,
    /// as deployed. Create tokens with `stocksctl tokens create --local URL`.
    #[arg(long, value_enum, default_value_t = Auth::None)]
    pub auth: Auth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Auth {
    None,
    Tokens,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Market {
    Demo,
    Polygon,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Queue {
    Memory,
    Sqs,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}

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
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub ping_every: Duration,
}

/// Check everything `make deploy` needs, before anything is built.
///
/// Terraform 1.7 or later; the Rust target for --arch; AWS credentials that work (STS
/// GetCallerIdentity) in the region the stack deploys to; the SSM SecureString named by
/// polygon_api_key_parameter_name; and, unless api_gateway_logging = false, API Gateway's
/// CloudWatch Logs role in that region (`make bootstrap-logging` sets it). Variables are read
/// as `terraform plan` reads them: variables.tf defaults, TF_VAR_*, terraform.tfvars,
/// *.auto.tfvars, --var-file. Every problem is said at once, each with its fix.
/// Exit status: 0 ready, 1 problems found.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// The Terraform root that will be deployed.
    #[arg(long, default_value = "terraform")]
    pub terraform_dir: std::path::PathBuf,

    /// More variable files, as given to terraform with -var-file (later wins).
    #[arg(long)]
    pub var_file: Vec<std::path::PathBuf>,

    /// The Terraform binary.
    #[arg(long, env = "TERRAFORM", default_value = "terraform")]
    pub terraform: String,

    /// The Lambda architecture that will be built.
    #[arg(long, env = "ARCH", value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,

    /// The Rust compiler whose installed targets are checked.
    #[arg(long, env = "RUSTC", default_value = "rustc")]
    pub rustc: String,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
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

/// Inspect and replay the dead-letter queue, safely by default.
///
/// `list` reads without consuming; `replay` is a dry run unless --execute, moves each message by
/// send-then-delete (never losing one) and can filter; `redrive`/`status` drive SQS's own move
/// task. Uses the normal AWS credential chain (environment, profile, SSO).
#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS endpoint override for SQS and DynamoDB: moto, LocalStack (default: AWS).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// AWS region (default: AWS_REGION or the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead jobs without consuming them: id, ticker, window, connection, enqueued at, receive
    /// count and the worker's failure reason.
    List {
        /// The dead-letter queue (`terraform output dlq_url`).
        #[arg(long, env = "STOCKS_DLQ_URL")]
        dlq_url: String,

        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        max: usize,

        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },

    /// Move dead jobs back to the jobs queue. A dry run unless --execute.
    ///
    /// Each message is sent (same body and attributes) and only then deleted from the DLQ:
    /// a crash can duplicate a job, never lose one. Messages that are not jobs are left alone
    /// unless --include-foreign.
    Replay {
        /// The dead-letter queue (`terraform output dlq_url`).
        #[arg(long, env = "STOCKS_DLQ_URL")]
        dlq_url: String,

        /// The jobs queue to move them to (`terraform output jobs_queue_url`).
        #[arg(long, env = "STOCKS_QUEUE_URL")]
        queue_url: String,

        /// Really move (and with --skip-stale, delete). Without it nothing changes.
        #[arg(long)]
        execute: bool,

        /// Only jobs for this ticker; repeat for several.
        #[arg(long, value_parser = parse_ticker)]
        ticker: Vec<Ticker>,

        /// Only jobs queued longer ago than this (e.g. 30m, 2h).
        #[arg(long, value_parser = humantime::parse_duration)]
        older_than: Option<Duration>,

        /// Only jobs queued more recently than this (e.g. 90m).
        #[arg(long, value_parser = humantime::parse_duration)]
        newer_than: Option<Duration>,

        /// Move at most this many.
        #[arg(long)]
        max: Option<usize>,

        /// At most this many sends per second (e.g. 5 or 5/s).
        #[arg(long, default_value = "10/s", value_parser = parse_per_second)]
        rate: f64,

        /// Delete jobs older than 2 h instead of replaying them: API Gateway has closed their
        /// connections, so a report could reach no one.
        #[arg(long)]
        skip_stale: bool,

        /// Replay messages that are not jobs too (the worker will dead-letter them again).
        #[arg(long)]
        include_foreign: bool,

        /// Print the per-message report and summary as JSON.
        #[arg(long)]
        json: bool,
    },

    /// Start SQS's own move task (StartMessageMoveTask): every message, no preview, no filter.
    Redrive {
        /// The dead-letter queue's ARN (`terraform output dlq_arn`).
        #[arg(long, env = "STOCKS_DLQ_ARN")]
        dlq_arn: String,

        /// Where to (default: back to each message's source queue).
        #[arg(long)]
        destination_arn: Option<String>,

        /// Messages per second (default: as fast as SQS likes).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=500))]
        rate: Option<i32>,
    },

    /// Show the DLQ's recent move tasks (ListMessageMoveTasks).
    Status {
        /// The dead-letter queue's ARN (`terraform output dlq_arn`).
        #[arg(long, env = "STOCKS_DLQ_ARN")]
        dlq_arn: String,
    },
}

/// Give people access to the API: create, list and revoke tokens.
///
/// A token is shown once, when created, alone on stdout (so `TOKEN=$(stocksctl tokens create
/// --name ci)` works); only its hash is stored. `list` never shows a token or a hash. Against
/// the deployed access table (`--table`, default: `terraform output access_table_name`) with the
/// normal AWS credential chain, or against a local stack (`--local http://127.0.0.1:8080`).
/// Exit status: 0 done, 2 it could not be done (each reason said in words).
#[derive(Debug, Args)]
pub struct TokensArgs {
    /// DynamoDB access table (default: `terraform -chdir=terraform output -raw access_table_name`).
    #[arg(long, global = true, env = "STOCKS_ACCESS_TABLE", conflicts_with = "local")]
    pub table: Option<String>,

    /// A local stack running with `--auth tokens`, e.g. http://127.0.0.1:8080.
    #[arg(long, global = true, value_name = "URL")]
    pub local: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(subcommand)]
    pub command: TokensCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token: printed once, alone on stdout.
    Create {
        /// What to call it (unique among live tokens): 1-64 letters, digits, - _ . @
        #[arg(long)]
        name: String,

        /// `stocksaction` requests a minute it may send.
        #[arg(long, default_value_t = 60)]
        rate: u32,
    },

    /// List tokens: name, id, created, rate, revoked. Never a token or a hash.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },

    /// Revoke the live token named NAME: it can no longer connect.
    Revoke {
        /// The token's name.
        name: String,
    },
}

fn parse_paced(s: &str) -> Result<(usize, f64), String> {
    let (clients, rate) = s
        .split_once('@')
        .ok_or_else(|| format!("{s:?} is not CLIENTS@RATE, e.g. 100@3000"))?;
    match (clients.parse(), rate.parse::<f64>()) {
        (Ok(c), Ok(r)) if r >= 0.0 && r.is_finite() => Ok((c, r)),
        _ => Err(format!("{s:?} is not CLIENTS@RATE, e.g. 100@3000")),
    }
}

fn parse_ticker(s: &str) -> Result<Ticker, String> {
    Ticker::parse(s).map_err(|e| format!("{s:?}: {e}"))
}

fn parse_per_second(s: &str) -> Result<f64, String> {
    let n = s.strip_suffix("/s").unwrap_or(s);
    match n.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!("{s:?} is not a rate such as 10 or 10/s")),
    }
}

/// Measure the service: end-to-end latency and throughput through the local stack, the
/// handlers' own cost, and each Lambda artefact's size, init time and peak memory.
///
/// Prints the figures and writes them to --out. Run a release build (`make bench` does).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Concurrent clients, one level each.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub clients: Vec<usize>,

    /// Seconds measured per level.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub duration: u64,

    /// Also measure latency under a set load: CLIENTS clients paced to RATE requests/s in all
    /// (0 skips it). Closed-loop clients measure throughput; paced ones, latency under load.
    #[arg(long, default_value = "100@3000", value_name = "CLIENTS@RATE", value_parser = parse_paced)]
    pub paced: Option<(usize, f64)>,

    /// Where `make build` put the zips (<dir>/<function>/bootstrap.zip); without it the Lambda
    /// figures are skipped.
    #[arg(long)]
    pub lambda_dir: Option<std::path::PathBuf>,

    /// Cold starts per function.
    #[arg(long, default_value_t = 20)]
    pub init_runs: usize,

    /// Events per function before reading its peak memory.
    #[arg(long, default_value_t = 100)]
    pub invocations: usize,

    /// Let the worker's market cache answer repeated requests (default: every report asks the
    /// demo market over HTTP).
    #[arg(long)]
    pub market_cache: bool,

    /// The quota scenario: CLIENTS tickers asked for at once while the demo market allows
    /// N per PERIOD (run twice: the worker's gate alone, then with its own limiter too).
    #[arg(long, default_value = "30@5/2s", value_name = "CLIENTS@N/PERIOD", value_parser = parse_burst)]
    pub quota_burst: Option<(usize, PerPeriod)>,

    /// Skip the quota scenario.
    #[arg(long)]
    pub no_quota: bool,

    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results.json")]
    pub out: std::path::PathBuf,
}

fn parse_burst(s: &str) -> Result<(usize, PerPeriod), String> {
    let (clients, quota) = s
        .split_once('@')
        .ok_or_else(|| format!("{s:?} is not CLIENTS@N/PERIOD, e.g. 30@5/2s"))?;
    let clients = clients
        .parse::<usize>()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("{s:?}: CLIENTS must be a positive number"))?;
    Ok((clients, PerPeriod::parse(quota)?))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dlq_flags() {
        let cli = Cli::try_parse_from([
            "stocksctl",
            "dlq",
            "replay",
            "--dlq-url",
            "d",
            "--queue-url",
            "q",
            "--ticker",
            "msft",
            "--ticker",
            "KO",
            "--older-than",
            "90m",
            "--rate",
            "5/s",
            "--endpoint-url",
            "http://127.0.0.1:5000",
        ])
        .unwrap();
        let Command::Dlq(DlqArgs {
            aws,
            command:
                DlqCommand::Replay {
                    ticker,
                    older_than,
                    rate,
                    execute,
                    ..
                },
        }) = cli.command
        else {
            unreachable!()
        };
        assert_eq!(ticker.iter().map(|t| t.as_str()).collect::<Vec<_>>(), ["MSFT", "KO"]);
        assert_eq!(older_than, Some(Duration::from_secs(5400)));
        assert_eq!(rate, 5.0);
        assert!(!execute, "a dry run unless --execute");
        assert_eq!(aws.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        for bad in [["--ticker", "../x"], ["--rate", "0"], ["--older-than", "soon"]] {
            let mut args = vec!["stocksctl", "dlq", "replay", "--dlq-url", "d", "--queue-url", "q"];
            args.extend(bad);
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }
}
