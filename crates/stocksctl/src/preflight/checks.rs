//! Each thing `make deploy` needs, checked on its own: a [`Finding`] says it is there, or one
//! sentence says what is wrong and how to fix it.

use std::path::Path;
use std::time::Duration;

use aws_config::SdkConfig;
use stocks_core::ports::error_chain;
use tokio::process::Command;

/// The oldest Terraform this stack runs on: `removed` blocks (terraform/upgrades.tf) came in 1.7.
pub const MIN_TERRAFORM: semver::Version = semver::Version::new(1, 7, 0);

/// How long a local tool (terraform, rustc) may take to say its version.
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// There, as this says.
    Ok(String),
    /// What is wrong and how to fix it, in one sentence.
    Problem(String),
    /// Not checked, because of a problem reported by another check.
    Skipped(String),
}

/// `terraform version -json`: present, and at least [`MIN_TERRAFORM`].
pub async fn terraform(binary: &str) -> Finding {
    let install = "install Terraform 1.7 or later (https://developer.hashicorp.com/terraform/install) or set TERRAFORM to its path";
    let output = match run(binary, &["version", "-json"]).await {
        Ok(output) => output,
        Err(why) => return Finding::Problem(format!("Terraform is not available ({why}): {install}.")),
    };
    let version = serde_json::from_str::<serde_json::Value>(&output)
        .ok()
        .and_then(|v| v["terraform_version"].as_str().map(str::to_owned));
    let Some(version) = version else {
        // Versions before 0.13 have no -json and print "Terraform v0.12.31".
        return Finding::Problem(format!(
            "`{binary} version` did not say a version this tool can read: {install}."
        ));
    };
    match semver::Version::parse(&version) {
        Ok(v) if v >= MIN_TERRAFORM => Finding::Ok(format!("Terraform {version}")),
        Ok(_) => Finding::Problem(format!(
            "Terraform {version} is too old: this stack needs {MIN_TERRAFORM} or later (its `removed` blocks); {install}."
        )),
        Err(_) => Finding::Problem(format!(
            "Terraform reported the version {version:?}, which is not a version: {install}."
        )),
    }
}

/// The Rust standard library for `triple` is installed (`rustc --print sysroot`).
pub async fn rust_target(rustc: &str, triple: &str) -> Finding {
    let sysroot = match run(rustc, &["--print", "sysroot"]).await {
        Ok(out) => out.trim().to_owned(),
        Err(why) => {
            return Finding::Problem(format!(
                "rustc is not available ({why}): install Rust from https://rustup.rs, then `rustup target add {triple}`."
            ));
        }
    };
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
    {
        Finding::Ok(format!("Rust target {triple}"))
    } else {
        Finding::Problem(format!(
            "the Rust target {triple} is not installed: run `rustup target add {triple}` (or build with ARCH=x86_64)."
        ))
    }
}

/// Who the credentials are (STS GetCallerIdentity): the one call any valid credentials may make.
pub async fn credentials(aws: &SdkConfig) -> Result<(String, String), Finding> {
    let Some(region) = aws.region() else {
        return Err(Finding::Problem(
            "no AWS region: set `region` in terraform/terraform.tfvars, or AWS_REGION, or a region in your AWS profile.".into(),
        ));
    };
    match aws_sdk_sts::Client::new(aws).get_caller_identity().send().await {
        Ok(identity) => Ok((
            format!(
                "AWS account {} in {region} as {}",
                identity.account().unwrap_or("?"),
                identity.arn().unwrap_or("?")
            ),
            identity.account().unwrap_or_default().to_owned(),
        )),
        Err(err) => {
            let why = reason(&err);
            let why = if why.contains("no credentials found") {
                "none found".to_owned()
            } else {
                why
            };
            Err(Finding::Problem(format!(
                "AWS credentials do not work ({why}): sign in with `aws configure`, `aws sso login` or AWS_PROFILE, then run this again."
            )))
        }
    }
}

/// The SSM parameter holding the Polygon key exists (its metadata only: the value is never read).
#[expect(clippy::expect_used, reason = "the filter's one required field, its key, is set")]
pub async fn polygon_key_parameter(aws: &SdkConfig, name: &str) -> Finding {
    let filter = aws_sdk_ssm::types::ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .expect("key is set");
    let found = aws_sdk_ssm::Client::new(aws)
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await;
    let region = aws.region().map(|r| r.to_string()).unwrap_or_default();
    match found {
        Ok(out) => match out.parameters().first() {
            Some(p) if p.r#type() == Some(&aws_sdk_ssm::types::ParameterType::SecureString) => {
                Finding::Ok(format!("SSM parameter {name} (SecureString)"))
            }
            Some(_) => Finding::Problem(format!(
                "the SSM parameter {name} is not a SecureString, so the Polygon key is stored in plain text: recreate it with `aws ssm put-parameter --overwrite --type SecureString --name {name} --value <key>`."
            )),
            None => Finding::Problem(format!(
                "the SSM parameter {name} does not exist in {region}: create it with `aws ssm put-parameter --region {region} --type SecureString --name {name} --value <your Polygon key>` (or set polygon_api_key_parameter_name)."
            )),
        },
        Err(err) => Finding::Problem(format!(
            "cannot look for the SSM parameter {name} ({}): the deploying identity needs ssm:DescribeParameters.",
            reason(&err)
        )),
    }
}

/// API Gateway's region-wide CloudWatch Logs role is set, which stage logging needs.
pub async fn api_gateway_logging_role(aws: &SdkConfig) -> Finding {
    let region = aws.region().map(|r| r.to_string()).unwrap_or_default();
    match aws_sdk_apigateway::Client::new(aws).get_account().send().await {
        Ok(account) => match account.cloudwatch_role_arn().filter(|arn| !arn.is_empty()) {
            Some(arn) => Finding::Ok(format!("API Gateway logging role in {region}: {arn}")),
            None => Finding::Problem(format!(
                "API Gateway in {region} has no CloudWatch Logs role, which the stage's access logs need: run `make bootstrap-logging` once for this account and region (or set api_gateway_logging = false)."
            )),
        },
        Err(err) => Finding::Problem(format!(
            "cannot read API Gateway's account settings in {region} ({}): the deploying identity needs apigateway:GET on /account.",
            reason(&err)
        )),
    }
}

/// Python has the venv module `make build` installs cargo-lambda with (Debian ships it apart,
/// as python3-venv), unless cargo-lambda is installed already.
pub async fn python_venv(python: &str, installed: &Path) -> Finding {
    if installed.exists() {
        let shown = std::fs::canonicalize(installed).unwrap_or_else(|_| installed.to_owned());
        return Finding::Ok(format!("cargo-lambda is installed ({})", shown.display()));
    }
    match run(
        python,
        &["-c", "import venv, ensurepip, sys; print(sys.version.split()[0])"],
    )
    .await
    {
        Ok(version) => Finding::Ok(format!("Python {} with venv, for cargo-lambda", version.trim())),
        Err(why) => Finding::Problem(format!(
            "`make build` installs cargo-lambda into a Python venv, and {python} cannot make one ({why}): install Python 3 with its venv module (Debian and Ubuntu: `sudo apt-get install python3-venv`), or set PYTHON."
        )),
    }
}

/// A customer-managed key on the Polygon key's parameter must let the worker role decrypt:
/// its key policy either lets IAM policies grant use of the key (a statement allowing
/// `kms:Decrypt`, or `kms:*`, to the account's root) — then the role's own grant is enough — or
/// names the worker role. Without it the worker cannot start, and says so only in its log.
pub async fn key_policy(aws: &SdkConfig, key_arn: Option<&str>, account: &str, worker_role: &str) -> Finding {
    let Some(key) = key_arn else {
        return Finding::Skipped("the parameter uses SSM's own key (aws/ssm), which IAM grants alone open".into());
    };
    let policy = match aws_sdk_kms::Client::new(aws)
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
    {
        Ok(output) => output.policy.unwrap_or_default(),
        Err(err) => {
            return Finding::Skipped(format!(
                "cannot tell whether {key}'s policy lets the worker decrypt ({}): the deploying identity needs kms:GetKeyPolicy to check it",
                reason(&err)
            ));
        }
    };
    let root = format!(":iam::{account}:root");
    let role = format!(":role/{worker_role}");
    if lets_decrypt(&policy, |principal| principal.ends_with(&root) || principal == account) {
        Finding::Ok(format!(
            "{key}'s policy lets IAM grant kms:Decrypt: the worker role's grant is enough"
        ))
    } else if lets_decrypt(&policy, |principal| principal.ends_with(&role)) {
        Finding::Ok(format!("{key}'s policy lets {worker_role} decrypt"))
    } else {
        Finding::Problem(format!(
            "{key}'s key policy neither lets IAM policies grant kms:Decrypt (a statement allowing it to arn:aws:iam::{account}:root) nor names the role {worker_role}: add one, or the worker cannot read the Polygon key."
        ))
    }
}

/// Does a key policy allow `kms:Decrypt` to an AWS principal `principal` accepts?
fn lets_decrypt(policy: &str, principal: impl Fn(&str) -> bool) -> bool {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(policy) else {
        return false;
    };
    let listed = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    };
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && listed(&s["Action"]).iter().any(|a| a == "kms:*" || a == "kms:Decrypt")
            && listed(&s["Principal"]["AWS"]).iter().any(|p| principal(p))
    })
}

/// An error's whole cause chain on one line, short enough for a sentence.
fn reason(err: &(dyn std::error::Error + 'static)) -> String {
    let chain = error_chain(err).split_whitespace().collect::<Vec<_>>().join(" ");
    match chain.char_indices().nth(240) {
        Some((at, _)) => format!("{}…", &chain[..at]),
        None => chain,
    }
}

/// Runs `program args…` and returns its stdout; a sentence on failure.
async fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = tokio::time::timeout(
        TOOL_TIMEOUT,
        Command::new(program).args(args).kill_on_drop(true).output(),
    )
    .await
    .map_err(|_| format!("`{program}` did not answer within {} s", TOOL_TIMEOUT.as_secs()))?
    .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{program} {}` failed: {}", args.join(" "), output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
