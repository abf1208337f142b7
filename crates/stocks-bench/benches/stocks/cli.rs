//! The command line: clap types only (doc comments are the `--help`).

use clap::Parser;

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
    #[arg(long, value_delimiter = ',', default_value = "1,10,50,100")]
    pub clients: Vec<usize>,

    /// Seconds measured per level.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub duration: u64,

    /// Also measure latency under a set load: CLIENTS clients paced to RATE requests/s in all
    /// (a rate of 0, as in 0@0, skips it). Closed-loop clients measure throughput; paced ones, latency under load.
    #[arg(long, default_value = "100@3000", value_name = "CLIENTS@RATE", value_parser = parse_paced)]
    pub paced: Option<(usize, f64)>,

    /// Where `make build` put the zips (DIR/FUNCTION/bootstrap.zip); without it the Lambda
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

    /// Skip the fleet scenarios (they run on the free plan's real 5 requests a minute: about
    /// seven minutes).
    #[arg(long)]
    pub no_fleet: bool,

    /// Skip the market table's cost (needs moto).
    #[arg(long)]
    pub no_store: bool,

    /// Where to write the JSON results (default: the repository's bench/results.json; `cargo
    /// bench` runs this from the crate's folder, so relative paths start there).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/results.json"))]
    pub out: std::path::PathBuf,

    /// Passed by `cargo bench` to every bench target; means nothing here.
    #[arg(long, hide = true)]
    pub bench: bool,
}
