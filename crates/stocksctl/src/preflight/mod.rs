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
pub const CHECKS: [&str; 8] = [
    "region",
    "terraform",
    "rust target",
    "python venv",
    "aws credentials",
    "polygon key",
    "kms key",
    "api gateway logging",
];

/// Runs every check and prints one line each; exit status 1 when anything is a problem.
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
    let settings = args.stack.settings();
    let region = match crate::stack::region(&args.aws, &args.stack).await {
        Err(err) => Finding::Problem(format!("{err:#}: fix it, then run this again.")),
        Ok(found) => match found.name {
            Some(name) => Finding::Ok(format!("{name} (from {}): every make target and stocksctl command uses it", found.from)),
            None => Finding::Problem(
                "no AWS region: set `region` in terraform/terraform.tfvars, or AWS_REGION, or a region in your AWS profile.".into(),
            ),
        },
    };
    let (terraform, target, venv, aws) = tokio::join!(
        checks::terraform(&args.stack.terraform),
        checks::rust_target(&args.rustc, triple),
        checks::python_venv(&args.python, &args.cargo_lambda_marker),
        aws_checks(args, &settings),
    );
    let mut findings = vec![
        (CHECKS[0], region),
        (CHECKS[1], terraform),
        (CHECKS[2], target),
        (CHECKS[3], venv),
    ];
    findings.extend(CHECKS[4..].iter().copied().zip(aws));
    findings
}

/// Credentials first; the parameter, its key and the logging role need them.
async fn aws_checks(args: &PreflightArgs, settings: &anyhow::Result<DeploySettings>) -> [Finding; 4] {
    let settings = match settings {
        Ok(settings) => settings,
        Err(err) => {
            let problem = Finding::Problem(format!("{err:#}: fix it, then run this again."));
            let skipped = || Finding::Skipped("needs the Terraform variables".into());
            return [problem, skipped(), skipped(), skipped()];
        }
    };
    let region = crate::stack::region(&args.aws, &args.stack)
        .await
        .ok()
        .and_then(|r| r.name);
    // A person is waiting, not a client: more patience than the functions' 2.5 s per call.
    let aws = sdk_config(args.aws.endpoint_url.as_deref(), region.as_deref())
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
    let (identity, account) = match checks::credentials(&aws).await {
        Ok((identity, account)) => (Finding::Ok(identity), account),
        Err(problem) => {
            let skipped = || Finding::Skipped("needs AWS credentials".into());
            return [problem, skipped(), skipped(), skipped()];
        }
    };
    let worker_role = format!("{}-worker-{}", settings.name, region.as_deref().unwrap_or_default());
    let logging = async {
        if !settings.api_gateway_logging {
            Finding::Skipped("api_gateway_logging = false: the stage writes no API logs".into())
        } else if settings.manage_api_gateway_account {
            Finding::Ok("manage_api_gateway_account = true: the stack sets the role itself".into())
        } else {
            checks::api_gateway_logging_role(&aws).await
        }
    };
    let (parameter, key, logging) = tokio::join!(
        checks::polygon_key_parameter(&aws, &settings.polygon_api_key_parameter_name),
        checks::key_policy(
            &aws,
            settings.polygon_api_key_kms_key_arn.as_deref(),
            &account,
            &worker_role
        ),
        logging
    );
    [identity, parameter, key, logging]
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
