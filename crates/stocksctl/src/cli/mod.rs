//! The command line: clap types only, where every doc comment is the `--help` text. Each
//! command's module turns its arguments into work; nothing here runs anything. One file per
//! group of commands: the local stack, the clients (`get`, `smoke`), the operators' commands
//! (`dlq`, `tokens`), `preflight`.

use clap::{Args, Parser, Subcommand};

mod client;
mod local;
mod operate;
mod preflight;

pub use client::{GetArgs, SmokeArgs};
pub use local::{Auth, LocalArgs, Market, Plan, Queue};
pub use operate::{DlqArgs, DlqCommand, TokensArgs, TokensCommand};
pub use preflight::{Arch, PreflightArgs};

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
    Region(RegionArgs),
}

/// Where AWS is.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS endpoint override: moto, LocalStack (default: AWS).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// AWS region (default: the stack's `region` variable, else AWS_REGION or the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
}

/// Where the deployed stack is described.
#[derive(Debug, Args)]
pub struct StackArgs {
    /// The stack's Terraform directory (the repository's `terraform/`).
    #[arg(long, global = true, env = "STOCKS_TERRAFORM_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../terraform"))]
    pub terraform_dir: std::path::PathBuf,

    /// More variable files, as given to terraform with -var-file (later wins).
    #[arg(long, global = true)]
    pub var_file: Vec<std::path::PathBuf>,

    /// The Terraform that deploys the stack, to read its outputs.
    #[arg(long, global = true, env = "TERRAFORM", default_value = "terraform")]
    pub terraform: String,
}

/// Print the AWS region deploys and operators' commands use, and where it comes from.
///
/// `--region`, else the stack's `region` variable (terraform.tfvars, *.auto.tfvars, --var-file,
/// TF_VAR_region), else AWS_REGION or the profile's. The region alone goes to stdout (`make`
/// reads it); where it came from to stderr. Exit status 2 when no source gives one.
#[derive(Debug, Args)]
pub struct RegionArgs {
    #[command(flatten)]
    pub aws: AwsArgs,

    #[command(flatten)]
    pub stack: StackArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
