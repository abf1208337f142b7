//! The command line: clap types only (doc comments are the `--help`).

use clap::Parser;
use stocks_local::PerPeriod;

fn parse_paced(s: &str) -> Result<(usize, f64), String> {
    let (clients, rate) = s
        .split_once('@')
        .ok_or_else(|| format!("{s:?} is not CLIENTS@RATE, e.g. 100@3000"))?;
    match (clients.parse(), rate.parse::<f64>()) {
        (Ok(c), Ok(r)) if r >= 0.0 && r.is_finite() => Ok((c, r)),
        _ => Err(format!("{s:?} is not CLIENTS@RATE, e.g. 100@3000")),
    }
}

/// Measure the service: end-to-end latency and throughput through the local stack, the
/// handlers' own cost, each Lambda artefact's size, init time and peak memory, and bursts on
/// a rate-limited market.
///
/// Prints the figures and writes them to --out. Run a release build (`make bench` does). The
/// Lambda figures need moto (`make bench` installs it and sets MOTO_SERVER).
#[derive(Debug, Parser)]
#[command(name = "stocks-bench", version)]
pub struct Cli {
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
