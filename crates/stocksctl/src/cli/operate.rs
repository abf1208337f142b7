//! The operators' commands: `stocksctl dlq` and `stocksctl tokens`.

use std::time::Duration;

use clap::{Args, Subcommand};
use stocks_core::domain::{DEFAULT_RATE_PER_MINUTE, Ticker};

use super::{AwsArgs, StackArgs};

/// Inspect and replay the dead-letter queue, safely by default.
///
/// `list` reads without consuming; `replay` is a dry run unless --execute, moves each message by
/// send-then-delete (never losing one) and can filter; `redrive`/`status` drive SQS's own move
/// task. Uses the normal AWS credential chain (environment, profile, SSO).
#[derive(Debug, Args)]
pub struct DlqArgs {
    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(flatten)]
    pub stack: StackArgs,

    #[command(subcommand)]
    pub command: DlqCommand,
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
    ///
    /// The messages go to the jobs queue: SQS can return a message to its source queue only if
    /// SQS moved it to the DLQ, and the worker dead-letters most jobs itself.
    Redrive {
        /// The dead-letter queue's ARN (default: the stack's `dlq_arn` output).
        #[arg(long, env = "STOCKS_DLQ_ARN")]
        dlq_arn: Option<String>,

        /// Where to (default: the jobs queue, the stack's `jobs_queue_arn` output).
        #[arg(long, env = "STOCKS_QUEUE_ARN")]
        destination_arn: Option<String>,

        /// Messages per second (default: as fast as SQS likes).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..=500))]
        rate: Option<i32>,
    },

    /// Show the DLQ's recent move tasks (ListMessageMoveTasks).
    Status {
        /// The dead-letter queue's ARN (default: the stack's `dlq_arn` output).
        #[arg(long, env = "STOCKS_DLQ_ARN")]
        dlq_arn: Option<String>,
    },
}

/// Give people access to the API: create, list and revoke tokens.
///
/// A token is shown once, when created, alone on stdout (so `TOKEN=$(stocksctl tokens create
/// --name ci)` works); only its hash is stored. `list` never shows a token or a hash. A name
/// belongs to one live token: revoke it to reuse the name. Against the deployed access table
/// (`--table`, default: the stack's `access_table_name` output) with the normal AWS credential
/// chain, or against a local stack (`--local http://127.0.0.1:8080`). Exit status: 0 done, 2
/// it could not be done (each reason said in words).
#[derive(Debug, Args)]
pub struct TokensArgs {
    /// DynamoDB access table (default: `terraform -chdir=TERRAFORM_DIR output -raw
    /// access_table_name`).
    #[arg(long, global = true, env = "STOCKS_ACCESS_TABLE", conflicts_with = "local")]
    pub table: Option<String>,

    #[command(flatten)]
    pub stack: StackArgs,

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
        #[arg(long, default_value_t = DEFAULT_RATE_PER_MINUTE)]
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

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
            stack: _,
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
