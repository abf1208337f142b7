//! Before and after a deploy, as `make preflight` and `make smoke` run them: `stocksctl
//! preflight` against moto (STS, SSM and API Gateway's account settings) with stand-in
//! `terraform` and `rustc` binaries, and `stocksctl smoke` against the local stack.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stocks_local::{AuthMode, LocalConfig};
use stocks_testkit::stack::fast_config;
use stocks_testkit::{MotoServer, Stack};

const BIN: &str = env!("CARGO_BIN_EXE_stocksctl");

/// Runs the binary with these environment changes (an empty value removes the variable).
async fn stocksctl(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(BIN);
        command.args(&args);
        for (key, value) in env {
            if value.is_empty() {
                command.env_remove(key);
            } else {
                command.env(key, value);
            }
        }
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------- preflight

/// A scratch directory with stand-in tools and a Terraform root.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    /// `terraform` that reports `version`; `rustc` whose sysroot has the x86_64 target, and the
    /// aarch64 one when `arm64_installed`; the real variables.tf plus `tfvars`.
    fn new(terraform_version: &str, arm64_installed: bool, tfvars: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let sysroot = dir.path().join("sysroot");
        let mut targets = vec!["x86_64-unknown-linux-gnu"];
        if arm64_installed {
            targets.push("aarch64-unknown-linux-gnu");
        }
        for target in targets {
            std::fs::create_dir_all(sysroot.join("lib/rustlib").join(target).join("lib")).unwrap();
        }
        script(
            &bin.join("terraform"),
            &format!("echo '{{\"terraform_version\":\"{terraform_version}\",\"platform\":\"linux_amd64\"}}'"),
        );
        script(&bin.join("rustc"), &format!("echo '{}'", sysroot.display()));
        script(&bin.join("python3"), "echo 3.11.7");
        script(
            &bin.join("python-without-venv"),
            "echo 'No module named ensurepip' >&2; exit 1",
        );
        let root = dir.path().join("terraform");
        std::fs::create_dir_all(&root).unwrap();
        let variables = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../terraform/variables.tf");
        std::fs::copy(variables, root.join("variables.tf")).unwrap();
        std::fs::write(root.join("terraform.tfvars"), tfvars).unwrap();
        Self { dir }
    }

    fn args(&self, arch: &str) -> Vec<String> {
        let path = |p: &str| self.dir.path().join(p).display().to_string();
        vec![
            "preflight".into(),
            "--terraform-dir".into(),
            path("terraform"),
            "--terraform".into(),
            path("bin/terraform"),
            "--rustc".into(),
            path("bin/rustc"),
            "--python".into(),
            path("bin/python3"),
            "--cargo-lambda-marker".into(),
            path("no-cargo-lambda-yet"),
            "--arch".into(),
            arch.into(),
        ]
    }
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Credentials and endpoint for moto; nothing from this machine's own AWS set-up.
fn moto_env(moto: &MotoServer) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto.endpoint().to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_CONFIG_FILE", "/nonexistent".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// What `make bootstrap-logging` and the README's step 1 leave in an account.
async fn prepared_account(moto: &MotoServer, parameter: &str) {
    let aws = moto.sdk_config();
    aws_sdk_ssm::Client::new(&aws)
        .put_parameter()
        .name(parameter)
        .value("pk-test")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    aws_sdk_apigateway::Client::new(&aws)
        .update_account()
        .patch_operations(
            aws_sdk_apigateway::types::PatchOperation::builder()
                .op(aws_sdk_apigateway::types::Op::Replace)
                .path("/cloudwatchRoleArn")
                .value("arn:aws:iam::123456789012:role/apigateway-cloudwatch-logs-us-east-1")
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The report's line for one check.
fn line<'a>(stdout: &'a str, check: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.get(9..).is_some_and(|rest| rest.starts_with(check)))
        .unwrap_or_else(|| panic!("no {check} line in:\n{stdout}"))
}

#[tokio::test]
async fn preflight_passes_when_everything_a_deploy_needs_is_there() {
    let moto = MotoServer::start();
    prepared_account(&moto, "/markets/polygon").await;
    let machine = Machine::new(
        "1.9.8",
        true,
        "region = \"us-east-1\"\npolygon_api_key_parameter_name = \"/markets/polygon\"\n",
    );
    let out = stocksctl(machine.args("arm64"), moto_env(&moto)).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        line(&stdout, "terraform"),
        "ok       terraform            Terraform 1.9.8"
    );
    assert!(line(&stdout, "rust target").ends_with("Rust target aarch64-unknown-linux-gnu"));
    assert!(line(&stdout, "aws credentials").contains("AWS account 123456789012 in us-east-1"));
    assert!(line(&stdout, "polygon key").ends_with("SSM parameter /markets/polygon (SecureString)"));
    assert!(line(&stdout, "api gateway logging").contains("apigateway-cloudwatch-logs-us-east-1"));
    assert!(line(&stdout, "python venv").ends_with("Python 3.11.7 with venv, for cargo-lambda"));
    assert_eq!(
        line(&stdout, "region"),
        "ok       region               us-east-1 (from the stack's Terraform variables): every make target and stocksctl command uses it"
    );
    assert!(line(&stdout, "kms key").starts_with("skipped"), "{stdout}");
    assert!(stdout.ends_with("ready to deploy\n"), "{stdout}");
}

#[tokio::test]
async fn preflight_says_when_python_cannot_make_the_venv_cargo_lambda_needs() {
    let moto = MotoServer::start();
    prepared_account(&moto, "/stocks/polygon-api-key").await;
    let machine = Machine::new("1.9.8", true, "region = \"us-east-1\"\n");
    let mut args = machine.args("arm64");
    let python = args.iter().position(|a| a == "--python").unwrap() + 1;
    args[python] = machine.dir.path().join("bin/python-without-venv").display().to_string();
    let out = stocksctl(args, moto_env(&moto)).await;
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let venv = line(&stdout, "python venv");
    assert!(
        venv.starts_with("PROBLEM") && venv.contains("sudo apt-get install python3-venv"),
        "{venv}"
    );
}

/// A customer-managed key on moto with this key policy; its ARN.
async fn key_with_policy(moto: &MotoServer, policy: serde_json::Value) -> String {
    aws_sdk_kms::Client::new(&moto.sdk_config())
        .create_key()
        .policy(policy.to_string())
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn preflight_checks_that_a_customer_managed_key_lets_the_worker_decrypt() {
    let moto = MotoServer::start();
    prepared_account(&moto, "/stocks/polygon-api-key").await;
    let statement = |principal: &str, action: &str| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": "*"}
        ]})
    };
    let cases = [
        // The usual key policy: IAM policies may grant it, and the worker role's does.
        (
            statement("arn:aws:iam::123456789012:root", "kms:*"),
            "ok",
            "lets IAM grant kms:Decrypt",
        ),
        // Only the worker role, by name.
        (
            statement("arn:aws:iam::123456789012:role/stocks-worker-us-east-1", "kms:Decrypt"),
            "ok",
            "lets stocks-worker-us-east-1 decrypt",
        ),
        // Someone else only: the worker could never read the key.
        (
            statement("arn:aws:iam::123456789012:role/admin", "kms:*"),
            "PROBLEM",
            "neither lets IAM policies grant kms:Decrypt",
        ),
    ];
    for (policy, verdict, words) in cases {
        let key = key_with_policy(&moto, policy).await;
        let machine = Machine::new(
            "1.9.8",
            true,
            &format!("region = \"us-east-1\"\npolygon_api_key_kms_key_arn = \"{key}\"\n"),
        );
        let out = stocksctl(machine.args("arm64"), moto_env(&moto)).await;
        let (stdout, _) = text(&out);
        let kms = line(&stdout, "kms key");
        assert!(kms.starts_with(verdict) && kms.contains(words), "{kms}\n{stdout}");
    }
}

#[tokio::test]
async fn preflight_says_every_problem_at_once_each_with_its_fix() {
    // A fresh account: no key parameter, no logging role; old Terraform; no arm64 target.
    let moto = MotoServer::start();
    let machine = Machine::new("1.6.6", false, "region = \"us-east-1\"\n");
    let out = stocksctl(machine.args("arm64"), moto_env(&moto)).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("4 problems to fix before `make deploy`"), "{stderr}");
    let problems: Vec<&str> = stdout.lines().filter(|l| l.starts_with("PROBLEM")).collect();
    assert_eq!(problems.len(), 4, "{stdout}");
    for (check, sentence) in [
        (
            "terraform",
            "Terraform 1.6.6 is too old: this stack needs 1.7.0 or later",
        ),
        ("rust target", "run `rustup target add aarch64-unknown-linux-gnu`"),
        (
            "polygon key",
            "/stocks/polygon-api-key does not exist in us-east-1: create it with `aws ssm put-parameter --region us-east-1 --type SecureString",
        ),
        (
            "api gateway logging",
            "has no CloudWatch Logs role, which the stage's access logs need: run `make bootstrap-logging`",
        ),
    ] {
        let line = line(&stdout, check);
        assert!(
            line.starts_with("PROBLEM") && line.contains(sentence),
            "{check}: {line}"
        );
    }
    assert!(line(&stdout, "aws credentials").starts_with("ok"));

    // The same machine building x86_64 needs no arm64 target; turning API logs off needs no role.
    let machine = Machine::new("1.6.6", false, "region = \"us-east-1\"\napi_gateway_logging = false\n");
    let out = stocksctl(machine.args("x86_64"), moto_env(&moto)).await;
    let (stdout, _) = text(&out);
    assert!(line(&stdout, "rust target").starts_with("ok"), "{stdout}");
    assert!(line(&stdout, "api gateway logging").starts_with("skipped"), "{stdout}");
}

#[tokio::test]
async fn preflight_without_credentials_says_so_once_and_skips_what_needs_them() {
    let machine = Machine::new("1.9.8", true, "region = \"eu-west-1\"\n");
    let env = vec![
        ("AWS_CONFIG_FILE", "/nonexistent".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        // No keys, no profile, no endpoint: nothing to sign with (empty: removed).
        ("AWS_ACCESS_KEY_ID", String::new()),
        ("AWS_SECRET_ACCESS_KEY", String::new()),
        ("AWS_ENDPOINT_URL", String::new()),
    ];
    let out = stocksctl(machine.args("arm64"), env).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let credentials = line(&stdout, "aws credentials");
    assert!(
        credentials.starts_with("PROBLEM  aws credentials      AWS credentials do not work ("),
        "{credentials}"
    );
    assert!(
        credentials.ends_with("sign in with `aws configure`, `aws sso login` or AWS_PROFILE, then run this again.")
    );
    assert!(line(&stdout, "polygon key").starts_with("skipped"), "{stdout}");
    assert!(line(&stdout, "api gateway logging").starts_with("skipped"), "{stdout}");
    assert!(stderr.contains("1 problem to fix"), "{stderr}");
}

#[tokio::test]
async fn preflight_names_a_bad_tfvars_value_and_a_missing_terraform() {
    let moto = MotoServer::start();
    let machine = Machine::new("1.9.8", true, "api_gateway_logging = \"yes\"\n");
    let mut args = machine.args("arm64");
    args[4] = "/nonexistent/terraform".into();
    let out = stocksctl(args, moto_env(&moto)).await;
    let (stdout, _) = text(&out);
    assert!(
        line(&stdout, "terraform").contains("Terraform is not available (cannot run `/nonexistent/terraform`"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "aws credentials").contains("terraform.tfvars: api_gateway_logging must be true or false"),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------- smoke

fn smoke(url: &str) -> Vec<String> {
    vec![
        "smoke".into(),
        "--url".into(),
        url.into(),
        "--timeout".into(),
        "20".into(),
    ]
}

#[tokio::test]
async fn smoke_passes_on_the_202_the_report_and_the_servers_close() {
    let stack = Stack::start(fast_config()).await;
    let out = stocksctl(smoke(&stack.ws_url()), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("smoke test: one MSFT request to {}", stack.ws_url()));
    assert!(lines[1].starts_with("  ok   202 accepted (request "), "{stdout}");
    assert!(lines[2].starts_with("  ok   200 report: MSFT "), "{stdout}");
    assert!(lines[2].ends_with("daily bars"), "{stdout}");
    assert_eq!(lines[3], "  ok   the server closed the connection (1000)");
    assert_eq!(lines[4], "smoke test passed");
}

#[tokio::test]
async fn smoke_fails_saying_which_check_failed() {
    let stack = Stack::start(LocalConfig {
        auth: AuthMode::Tokens,
        ..fast_config()
    })
    .await;
    // No token: refused at the handshake.
    let out = stocksctl(smoke(&stack.ws_url()), vec![]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("  FAIL no 202 accepted: the API wants a token"),
        "{stdout}"
    );
    assert!(stderr.contains("smoke test failed: 3 of 3 checks"), "{stderr}");

    // A token (from the environment, as `make smoke TOKEN=…` passes it), a ticker with no bars.
    let token = stack.create_token("smoke", 60).await;
    let mut args = smoke(&stack.ws_url());
    args.extend(["--ticker".into(), "ZZZZ".into()]);
    let out = stocksctl(args, vec![("STOCKS_TOKEN", token.clone())]).await;
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("  ok   202 accepted"), "{stdout}");
    assert!(
        stdout.contains("  FAIL no report: the answer was 404 NO_RESULTS"),
        "{stdout}"
    );
    assert!(!stdout.contains(&token), "the token is never printed");

    let out = stocksctl(smoke(&stack.ws_url()), vec![("STOCKS_TOKEN", token)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);
}
