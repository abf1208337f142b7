//! `stocksctl preflight` (`make preflight`, which `make deploy` runs first): everything a
//! deploy needs, checked before anything is built, and every problem said at once — each in
//! one sentence with its fix.
//!
//! - [`settings`] — the Terraform variables it needs, resolved as `terraform plan` would.
//! - [`checks`] — each check: Terraform, the Rust target, AWS credentials, the Polygon key's
//!   SSM parameter, API Gateway's logging role.

pub mod checks;
pub mod settings;

use std::process::ExitCode;
use std::time::Duration;

use stocks_core::adapters::sdk_config;

use crate::cli::{Arch, PreflightArgs};
use checks::Finding;
use settings::DeploySettings;

/// The checks' names, in the order they are printed.
pub const CHECKS: [&str; 5] = [
    "terraform",
    "rust target",
    "aws credentials",
    "polygon key",
    "api gateway logging",
];

pub async fn run(args: &PreflightArgs) -> ExitCode {
    let spinner = crate::progress::spinner("checking what the deploy needs");
    let findings = check(args).await;
    spinner.finish_and_clear();
    print!("{}", render(&findings));
    let problems = findings
        .iter()
        .filter(|(_, f)| matches!(f, Finding::Problem(_)))
        .count();
    if problems == 0 {
        println!("ready to deploy");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "{problems} problem{} to fix before `make deploy`",
            if problems == 1 { "" } else { "s" }
        );
        ExitCode::from(1)
    }
}

/// Every check, run at once; one finding each, in [`CHECKS`] order.
pub async fn check(args: &PreflightArgs) -> Vec<(&'static str, Finding)> {
    let triple = match args.arch {
        Arch::Arm64 => "aarch64-unknown-linux-gnu",
        Arch::X86_64 => "x86_64-unknown-linux-gnu",
    };
    let settings = DeploySettings::resolve(&args.terraform_dir, &args.var_file, std::env::vars());
    let (terraform, target, aws) = tokio::join!(
        checks::terraform(&args.terraform),
        checks::rust_target(&args.rustc, triple),
        aws_checks(args, &settings),
    );
    let mut findings = vec![(CHECKS[0], terraform), (CHECKS[1], target)];
    findings.extend(CHECKS[2..].iter().copied().zip(aws));
    findings
}

/// Credentials first; the parameter and the logging role need them.
async fn aws_checks(args: &PreflightArgs, settings: &Result<DeploySettings, settings::SettingsError>) -> [Finding; 3] {
    let settings = match settings {
        Ok(settings) => settings,
        Err(err) => {
            let problem = Finding::Problem(format!("{err}: fix it, then run this again."));
            let skipped = || Finding::Skipped("needs the Terraform variables".into());
            return [problem, skipped(), skipped()];
        }
    };
    let region = args.aws.region.as_deref().or(settings.region.as_deref());
    // A person is waiting, not a client: more patience than the functions' 2.5 s per call.
    let aws = sdk_config(args.aws.endpoint_url.as_deref(), region)
        .await
        .into_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(15))
                .operation_attempt_timeout(Duration::from_secs(5))
                .connect_timeout(Duration::from_secs(3))
                .build(),
        )
        .build();
    let identity = match checks::credentials(&aws).await {
        Ok(identity) => Finding::Ok(identity),
        Err(problem) => {
            let skipped = || Finding::Skipped("needs AWS credentials".into());
            return [problem, skipped(), skipped()];
        }
    };
    let logging = async {
        if !settings.api_gateway_logging {
            Finding::Skipped("api_gateway_logging = false: the stage writes no API logs".into())
        } else if settings.manage_api_gateway_account {
            Finding::Ok("manage_api_gateway_account = true: the stack sets the role itself".into())
        } else {
            checks::api_gateway_logging_role(&aws).await
        }
    };
    let (parameter, logging) = tokio::join!(
        checks::polygon_key_parameter(&aws, &settings.polygon_api_key_parameter_name),
        logging
    );
    [identity, parameter, logging]
}

/// One line per check: `ok`, `PROBLEM` or `skipped`, then what was found.
pub fn render(findings: &[(&str, Finding)]) -> String {
    let mut out = String::new();
    for (name, finding) in findings {
        let (mark, text) = match finding {
            Finding::Ok(text) => ("ok     ", text),
            Finding::Problem(text) => ("PROBLEM", text),
            Finding::Skipped(text) => ("skipped", text),
        };
        out.push_str(&format!("{mark}  {name:<20} {text}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_finding_is_one_line_with_its_verdict_first() {
        let text = render(&[
            ("terraform", Finding::Ok("Terraform 1.9.5".into())),
            (
                "aws credentials",
                Finding::Problem("AWS credentials do not work (…): sign in.".into()),
            ),
            ("polygon key", Finding::Skipped("needs AWS credentials".into())),
        ]);
        assert_eq!(
            text,
            "ok       terraform            Terraform 1.9.5\n\
             PROBLEM  aws credentials      AWS credentials do not work (…): sign in.\n\
             skipped  polygon key          needs AWS credentials\n"
        );
    }
}
