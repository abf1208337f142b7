//! The `stocksctl` binary: parse the command line and run the command.

use std::process::ExitCode;

use clap::Parser;
use stocksctl::cli::{Cli, Command};
use stocksctl::{bench, dlq, get, local};
use tracing_subscriber::EnvFilter;

// The local stack allocates per message on every hop; `stocksctl bench` profiled the system
// allocator at about a quarter of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Local(args) => {
            init_terminal_logs();
            let config = match args.to_config() {
                Ok(config) => config,
                Err(why) => return fail(&why),
            };
            let listener = match tokio::net::TcpListener::bind(args.listen).await {
                Ok(listener) => listener,
                Err(err) => return fail(&format!("cannot listen on {}: {err}", args.listen)),
            };
            let addr = listener.local_addr().expect("a bound socket has an address");
            println!("{}", local::ready_line(addr, &config));
            match local::serve(listener, config, shutdown_signal()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&stocks_core::ports::error_chain(&err)),
            }
        }
        Command::Get(args) => get::run(&args.to_request()).await.exit_code(),
        Command::Dlq(args) => dlq::run(&args).await,
        Command::Bench(args) => match bench::run(&args.to_config()).await {
            Ok(results) => {
                print!("{}", bench::render(&results));
                let json = serde_json::to_string_pretty(&results).expect("results serialise");
                if let Some(dir) = args.out.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                match std::fs::write(&args.out, json + "\n") {
                    Ok(()) => {
                        eprintln!("\nwritten to {}", args.out.display());
                        ExitCode::SUCCESS
                    }
                    Err(err) => fail(&format!("cannot write {}: {err}", args.out.display())),
                }
            }
            Err(why) => fail(&why),
        },
    }
}

/// One short line per event on stderr; RUST_LOG overrides (e.g. `RUST_LOG=debug`).
fn init_terminal_logs() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,stocksctl::local=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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

fn fail(why: &str) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(2)
}
