//! The `stocksctl` binary: parse the command line, run the command, map the result to an exit
//! status (2 when a command could not run, with its reason on stderr).

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use stocksctl::cli::{Cli, Command};
use stocksctl::{dlq, get, local, preflight, smoke, stack, tokens};
use tracing_subscriber::EnvFilter;

// The local stack allocates per message on every hop; `make bench` profiled the system
// allocator at about a quarter of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Local(args) => {
            init_terminal_logs();
            local::run(&args, shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Get(args) => Ok(get::run(&get::GetRequest::from_args(&args)).await.outcome.exit_code()),
        Command::Dlq(args) => dlq::run(&args).await,
        Command::Tokens(args) => tokens::run(&args).await,
        Command::Preflight(args) => Ok(preflight::run(&args).await),
        Command::Smoke(args) => Ok(smoke::run(&args).await),
        Command::Region(args) => {
            let region = stack::region(&args.aws, &args.stack).await?;
            match region.name {
                Some(name) => {
                    println!("{name}");
                    eprintln!("from {}", region.from);
                    Ok(ExitCode::SUCCESS)
                }
                None => anyhow::bail!(
                    "no AWS region: set `region` in terraform/terraform.tfvars, or AWS_REGION, or a region in your AWS profile"
                ),
            }
        }
    }
}

/// One short line per event on stderr (coloured only on a terminal); RUST_LOG overrides (e.g. `RUST_LOG=debug`).
fn init_terminal_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,stocks_local=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::ChronoLocal::new("%H:%M:%S%.3f".into()))
        .compact()
        .init();
}

/// Ctrl-C, or SIGTERM from a process manager.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            term.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    eprintln!("shutting down");
}
