//! `make bench` (`cargo bench -p stocks-bench -- --help` for its flags): the service's speed,
//! measured, written to `bench/results.json`. A bench target, not a binary: it drives the
//! handlers over the test kit's in-memory ports and runs the Lambda zips against moto, so it
//! and everything it uses are dev-dependencies, never shipped.
//!
//! # Layout
//!
//! - [`cli`] — the command line.
//! - [`run`] — one run of every scenario, and the tables it prints.
//! - [`e2e`] — send → report through the local stack at several client counts.
//! - [`handlers`] — the ingress and worker handlers' own cost per request.
//! - [`lambdas`] — each deployed artefact's zip size, cold-start init time and peak RSS.
//! - [`fleet`] — the worker fleet on Polygon's free plan: bursts of distinct tickers on 2 and 4
//!   instances, recycled instances, many clients asking for a few tickers.
//! - [`store`] — DynamoDB calls per report on the market table (moto).
//!
//! These are benchmarks, run on demand, never timed assertions in tests.

mod cli;
mod e2e;
mod fleet;
mod handlers;
mod lambdas;
mod run;
mod store;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

// The same allocator as `stocksctl local`, so the local stack is measured as developers run it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match bench(cli::Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn bench(args: cli::Cli) -> Result<()> {
    let results = run::run(&run::BenchConfig::from_args(&args))
        .await
        .map_err(anyhow::Error::msg)?;
    print!("{}", run::render(&results));
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(&results)?;
    std::fs::write(&args.out, json + "\n").with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!("\nwritten to {}", args.out.display());
    Ok(())
}
