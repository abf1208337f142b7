//! `stocksctl preflight`.

use clap::{Args, ValueEnum};

use super::AwsArgs;

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
    #[command(flatten)]
    pub stack: super::StackArgs,

    /// The Lambda architecture that will be built.
    #[arg(long, env = "ARCH", value_enum, default_value_t = Arch::Arm64)]
    pub arch: Arch,

    /// The Rust compiler whose installed targets are checked.
    #[arg(long, env = "RUSTC", default_value = "rustc")]
    pub rustc: String,

    /// The Python `make build` makes cargo-lambda's venv with.
    #[arg(long, env = "PYTHON", default_value = "python3")]
    pub python: String,

    /// What `make` touches once cargo-lambda is installed (then Python is not needed).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/py/tools/.installed"))]
    pub cargo_lambda_marker: std::path::PathBuf,

    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}
