//! `stocksctl dlq`: inspect and replay the dead-letter queue, safely by default.
//!
//! SQS's own redrive (`StartMessageMoveTask`) moves everything back blindly; `list` and
//! `replay` look first.
//!
//! - [`policy`] — which message goes where ([`policy::Selection::decide`]), pure.
//! - [`ops`] — list, replay (send, then delete), over the one SQS adapter.
//! - [`render`] — tables, JSON and progress.
//!
//! Exit status: 0 done, 1 some messages failed, 2 the command could not run (no such queue,
//! access denied, SQS unreachable — each said in words).

pub mod ops;
pub mod policy;
pub mod render;

use std::process::ExitCode;

use anyhow::{Context, Result};
use stocks_core::adapters::SqsQueue;
use stocks_core::adapters::{move_tasks, start_move_task};

use crate::cli::{DlqArgs, DlqCommand, StackArgs};
use ops::ReplayOptions;
use policy::Selection;

/// Runs one `stocksctl dlq` command. `Err` means it could not run at all (exit 2).
pub async fn run(args: &DlqArgs) -> Result<ExitCode> {
    let sdk = crate::stack::aws_config(&args.aws, &args.stack).await?;
    match &args.command {
        DlqCommand::List { dlq_url, max, json } => {
            let progress = crate::progress::spinner("reading the DLQ");
            let listed = ops::list(&SqsQueue::from_sdk(&sdk, dlq_url), *max).await;
            progress.finish_and_clear();
            let messages = listed?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&render::list_json(&messages))?);
            } else if messages.is_empty() {
                eprintln!("the DLQ is empty");
            } else {
                print!("{}", render::render_list(&messages));
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay {
            dlq_url,
            queue_url,
            execute,
            ticker,
            older_than,
            newer_than,
            max,
            rate,
            skip_stale,
            include_foreign,
            json,
        } => {
            let options = ReplayOptions {
                selection: Selection {
                    tickers: ticker.clone(),
                    older_than: *older_than,
                    newer_than: *newer_than,
                    skip_stale: *skip_stale,
                    include_foreign: *include_foreign,
                },
                execute: *execute,
                max: *max,
                rate: *rate,
            };
            let jobs = SqsQueue::from_sdk(&sdk, queue_url);
            let dlq = jobs.sibling(dlq_url);
            // Fail on a wrong jobs queue before touching the DLQ.
            jobs.depth().await?;
            let (summary, outcomes) = ops::replay(&dlq, &jobs, &options).await?;
            if *json {
                let report = serde_json::json!({"summary": summary, "messages": outcomes});
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render::render_replay(&summary, &outcomes));
            }
            Ok(if summary.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        DlqCommand::Redrive {
            dlq_arn,
            destination_arn,
            rate,
        } => {
            let dlq_arn = stack_output(dlq_arn, &args.stack, "dlq_arn", "--dlq-arn")?;
            // Never "back to the source": the worker's own dead letters have none SQS knows of,
            // and the move task would fail with CouldNotDetermineMessageSource.
            let destination = stack_output(destination_arn, &args.stack, "jobs_queue_arn", "--destination-arn")?;
            let handle = start_move_task(&sdk, &dlq_arn, Some(&destination), *rate).await?;
            println!("started move task {handle}: {dlq_arn} -> {destination}");
            eprintln!("follow it with: stocksctl dlq status --dlq-arn {dlq_arn}");
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Status { dlq_arn } => {
            let dlq_arn = stack_output(dlq_arn, &args.stack, "dlq_arn", "--dlq-arn")?;
            let dlq_arn = &dlq_arn;
            let tasks = move_tasks(&sdk, dlq_arn).await?;
            if tasks.is_empty() {
                println!("no move tasks for {dlq_arn}");
            } else {
                print!("{}", render::render_status(&tasks));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A value given on the command line, else the stack's output `name`.
fn stack_output(given: &Option<String>, stack: &StackArgs, name: &str, flag: &str) -> Result<String> {
    match given {
        Some(value) => Ok(value.clone()),
        None => stack.output(name).with_context(|| format!("give {flag}")),
    }
}
