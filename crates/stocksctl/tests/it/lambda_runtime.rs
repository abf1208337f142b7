//! The deployed artefacts under a real Lambda runtime emulator.
//!
//! The four `bootstrap` binaries exactly as `cargo lambda build` zipped them are started against
//! `cargo lambda watch --only-lambda-apis` (the Lambda Runtime API) and invoked with
//! `cargo lambda invoke` and the event fixtures. SQS and SSM are moto; `@connections` and the
//! market are the local stack's. This proves the artefacts start, read their environment and do
//! their job — the worker even reads its Polygon key from an SSM SecureString.
//!
//! Ignored by default because it needs the zips: `make test` builds the deployed default (arm64,
//! release) and runs it; on an x86_64 machine each `bootstrap` runs under qemu-user, named by
//! `STOCKS_LAMBDA_RUNNER` (e.g. `qemu-aarch64 -L /usr/aarch64-linux-gnu`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use stocks_core::domain::{Job, Report, parse_date};
use stocks_local::market::daily_bars;
use stocks_testkit::stack::fast_config as config;
use stocks_testkit::ws::{expect_close, next_message};
use stocks_testkit::{MotoServer, Stack, fixture};

use crate::FUNCTIONS;

const ACCESS_TABLE: &str = "stocks-access";
const KEY_PARAMETER: &str = "/stocks/polygon-api-key";
const KEY: &str = "demo-key-from-ssm";

/// Child processes killed when the test ends, however it ends.
#[derive(Default)]
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn required_env(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("{name} is not set: run `make test`")))
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Unpacks `<lambda_dir>/<name>/bootstrap.zip` into `<into>/<name>/bootstrap`.
fn unpack(lambda_dir: &Path, name: &str, into: &Path) -> PathBuf {
    let zip_path = lambda_dir.join(name).join("bootstrap.zip");
    let mut archive = zip::ZipArchive::new(
        std::fs::File::open(&zip_path)
            .unwrap_or_else(|e| panic!("{}: {e}; build it with `make build`", zip_path.display())),
    )
    .unwrap();
    let mut entry = archive.by_name("bootstrap").expect("the zip holds a bootstrap");
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).unwrap();
    let dir = into.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("bootstrap");
    std::fs::write(&bin, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cargo lambda …` with the venv's bin (where make installs cargo-lambda) first on PATH.
fn cargo_lambda(args: &[&str]) -> Command {
    let bin_dir = required_env("CARGO_LAMBDA_PATH");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new("cargo");
    command
        .arg("lambda")
        .args(args)
        .env("PATH", path)
        .current_dir(workspace_root());
    command
}

/// Starts the runtime emulator and waits for it to say it is ready.
fn start_emulator(port: u16, processes: &mut Processes) {
    let mut child = cargo_lambda(&[
        "watch",
        "--only-lambda-apis",
        "-A",
        "127.0.0.1",
        "-P",
        &port.to_string(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("cargo lambda watch starts");
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    processes.0.push(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("cargo lambda watch printed nothing");
        if line.contains("starting Runtime server") {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "cargo lambda watch did not start");
    }
}

/// What every function gets from Lambda, plus AWS pointed at moto.
fn lambda_env(name: &str, port: u16, moto: &MotoServer) -> HashMap<String, String> {
    HashMap::from([
        (
            "AWS_LAMBDA_RUNTIME_API".into(),
            format!("http://127.0.0.1:{port}/.rt/{name}"),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), name.into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_REGION".into(), stocks_testkit::REGION.into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_ENDPOINT_URL".into(), moto.endpoint().into()),
        ("RUST_LOG".into(), "info".into()),
    ])
}

/// The machine `STOCKS_LAMBDA_ARCH` names, as Rust spells it.
fn lambda_machine() -> &'static str {
    match std::env::var("STOCKS_LAMBDA_ARCH").as_deref() {
        Ok("arm64") => "aarch64",
        Ok("x86_64") => "x86_64",
        other => panic!("STOCKS_LAMBDA_ARCH={other:?}: arm64 or x86_64"),
    }
}

/// A command that runs `bin`: directly on its own machine, otherwise through
/// `STOCKS_LAMBDA_RUNNER` (an emulator command line such as `qemu-aarch64 -L <sysroot>`).
fn function_command(bin: &Path) -> Command {
    let runner = std::env::var("STOCKS_LAMBDA_RUNNER").unwrap_or_default();
    let mut runner = runner.split_whitespace();
    match runner.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(runner).arg(bin);
            command
        }
        None => {
            let machine = lambda_machine();
            assert_eq!(
                machine,
                std::env::consts::ARCH,
                "{machine} zips do not run on this {} machine without STOCKS_LAMBDA_RUNNER \
                 (qemu-user): run `make test-lambdas`, which installs and names it",
                std::env::consts::ARCH
            );
            Command::new(bin)
        }
    }
}

fn start_function(bin: &Path, env: &HashMap<String, String>, log: &Path, processes: &mut Processes) {
    let out = std::fs::File::create(log).unwrap();
    let child = function_command(bin)
        .env_clear()
        .envs(env)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    processes.0.push(child);
}

/// `cargo lambda invoke NAME --data-file FILE`: the function's response.
fn invoke(port: u16, name: &str, event: &Value, scratch: &Path) -> Value {
    let file = scratch.join(format!("{name}-event.json"));
    std::fs::write(&file, event.to_string()).unwrap();
    let out = cargo_lambda(&[
        "invoke",
        "-A",
        "127.0.0.1",
        "-P",
        &port.to_string(),
        name,
        "--data-file",
    ])
    .arg(&file)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "invoke {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{name} answered non-JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Lambda zips and cargo-lambda: `make test` builds them and runs this"]
async fn the_built_functions_do_their_jobs_under_a_lambda_runtime() {
    let lambda_dir = required_env("STOCKS_LAMBDA_DIR");
    let scratch_dir = tempfile::tempdir().unwrap();
    let scratch = scratch_dir.path().to_path_buf();
    let mut processes = Processes::default();

    // moto: the queues and the key.
    let moto = MotoServer::start();
    let sqs = moto.sqs_client();
    let queues = moto.jobs_and_dlq("stocks-jobs", None, None).await;
    let (jobs_url, dlq_url) = (queues.jobs_url, queues.dlq_url);
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new(stocks_testkit::REGION))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .endpoint_url(moto.endpoint())
            .build(),
    );
    ssm.put_parameter()
        .name(KEY_PARAMETER)
        .value(KEY)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    // …and the access table, with one token.
    let access = stocks_core::adapters::DynamoAccessStore::new(moto.table(ACCESS_TABLE).await, ACCESS_TABLE);
    let (token, record) = stocks_core::ports::TokenAdmin::create(
        &access,
        &stocks_core::domain::NewToken::new("ci", stocks_core::domain::DEFAULT_RATE_PER_MINUTE).unwrap(),
    )
    .await
    .unwrap();

    // The local stack: @connections and the demo market (its own handlers stay idle here).
    let stack = Stack::start(config()).await;
    let callback = format!("http://{}/{}", stack.addr(), stack.stage());

    // The runtime emulator, and the four artefacts polling it.
    let port = free_port();
    start_emulator(port, &mut processes);
    let mut logs = HashMap::new();
    for name in FUNCTIONS {
        let bin = unpack(&lambda_dir, name, &scratch);
        let mut env = lambda_env(name, port, &moto);
        match name {
            "stocks-ingress" => env.extend([
                ("QUEUE_URL".into(), jobs_url.clone()),
                ("CALLBACK_URL".into(), callback.clone()),
                ("REPORT_WINDOW_DAYS".into(), "30".into()),
                ("ACCESS_TABLE".into(), ACCESS_TABLE.into()),
            ]),
            "stocks-authorizer" => env.extend([("ACCESS_TABLE".into(), ACCESS_TABLE.into())]),
            "stocks-worker" => env.extend([
                ("QUEUE_URL".into(), jobs_url.clone()),
                ("CALLBACK_URL".into(), callback.clone()),
                ("POLYGON_API_KEY_PARAM".into(), KEY_PARAMETER.into()),
                ("POLYGON_BASE_URL".into(), format!("http://{}", stack.addr())),
                ("MAX_RECEIVE_COUNT".into(), "3".into()),
                ("DLQ_URL".into(), dlq_url.clone()),
            ]),
            _ => {}
        }
        let log = scratch.join(format!("{name}.log"));
        start_function(&bin, &env, &log, &mut processes);
        logs.insert(name, log);
    }

    // The authorizer: the token lets the connection in, with its grant; another does not.
    let mut authorize = fixture("websocket-authorizer.json");
    authorize["queryStringParameters"] = json!({"token": token.reveal()});
    authorize["multiValueQueryStringParameters"] = json!({"token": [token.reveal()]});
    let allowed = invoke(port, "stocks-authorizer", &authorize, &scratch);
    assert_eq!(
        allowed["policyDocument"]["Statement"][0]["Effect"], "Allow",
        "{allowed}"
    );
    assert_eq!(allowed["context"]["tokenId"], record.token_id.as_str());
    let stranger = stocks_testkit::unknown_token();
    authorize["queryStringParameters"] = json!({"token": stranger.reveal()});
    authorize["multiValueQueryStringParameters"] = json!({"token": [stranger.reveal()]});
    let denied = invoke(port, "stocks-authorizer", &authorize, &scratch);
    assert_eq!(denied["policyDocument"]["Statement"][0]["Effect"], "Deny", "{denied}");

    // $connect
    let connected = invoke(port, "stocks-connect", &fixture("websocket-connect.json"), &scratch);
    assert_eq!(connected["statusCode"], 200);

    // A real client on the local stack, addressed by the Lambda-invoked ingress.
    let mut ws = stack.connect().await;
    stack.wait_for_stats("the client", |s| s.connections == 1).await;
    let list: Value = stack.get_json("/_local/connections").await;
    let connection_id = list[0]["connectionId"].as_str().unwrap().to_owned();

    let mut message = fixture("websocket-stocksaction.json");
    message["requestContext"]["connectionId"] = connection_id.clone().into();
    message["requestContext"]["requestTimeEpoch"] = chrono::Utc::now().timestamp_millis().into();
    message["body"] = r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31"}"#.into();
    // What API Gateway adds to every event of a connection the authorizer allowed.
    message["requestContext"]["authorizer"] = allowed["context"].clone();
    let answered = invoke(port, "stocks-ingress", &message, &scratch);
    assert_eq!(answered["statusCode"], 200);
    // The ingress counted the request against the token's minute, in DynamoDB.
    let counters = moto
        .dynamodb_client()
        .scan()
        .table_name(ACCESS_TABLE)
        .send()
        .await
        .unwrap();
    let counted: Vec<_> = counters
        .items()
        .iter()
        .filter(|item| {
            item["pk"]
                .as_s()
                .is_ok_and(|pk| pk.starts_with(&format!("rate#{}#", record.token_id)))
        })
        .collect();
    assert_eq!(counted.len(), 1, "one rate item");
    assert_eq!(counted[0]["count"].as_n().unwrap(), "1");
    let ack = next_message(&mut ws).await;
    assert_eq!(
        (ack.status_code, ack.request_id.as_deref()),
        (202, Some("TWegAFhjoAMFyNw="))
    );

    // The job is on (moto's) SQS; play the event source mapping and hand it to the worker,
    // together with a record that is not a job.
    let received = sqs
        .receive_message()
        .queue_url(&jobs_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "the ingress queued one job");
    let job = Job::parse(received[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (job.ticker.as_str(), job.connection_id.as_str()),
        ("MSFT", connection_id.as_str())
    );

    let mut event = fixture("sqs-job.json");
    let template = event["Records"][0].clone();
    let mut good = template.clone();
    good["messageId"] = received[0].message_id.clone().unwrap().into();
    good["receiptHandle"] = received[0].receipt_handle.clone().unwrap().into();
    good["body"] = received[0].body.clone().unwrap().into();
    let mut bad = template;
    bad["messageId"] = "not-a-job-1".into();
    bad["body"] = "garbage".into();
    event["Records"] = json!([good, bad]);
    let batch = invoke(port, "stocks-worker", &event, &scratch);
    assert_eq!(
        batch,
        json!({"batchItemFailures": []}),
        "both records handled: one reported, one dead-lettered"
    );

    let report = next_message(&mut ws).await;
    assert_eq!((report.status_code, report.request_id), (200, ack.request_id));
    let bars = daily_bars(
        "MSFT",
        parse_date("2024-10-01").unwrap(),
        parse_date("2024-10-31").unwrap(),
    );
    assert_eq!(
        report.report_data,
        Report::from_bars(&bars),
        "the demo market's numbers, via the worker binary"
    );
    expect_close(&mut ws).await;

    let parked = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].body.as_deref(), Some("garbage"));
    let reason = parked[0].message_attributes.as_ref().unwrap()["failureReason"]
        .string_value
        .clone();
    assert_eq!(reason.as_deref(), Some("INVALID_JOB"));

    // $disconnect
    let left = invoke(
        port,
        "stocks-disconnect",
        &fixture("websocket-disconnect.json"),
        &scratch,
    );
    assert_eq!(left["statusCode"], 200);

    // The logs: JSON lines carrying the Lambda request id, never the key.
    let worker_log = std::fs::read_to_string(&logs["stocks-worker"]).unwrap();
    assert!(!worker_log.contains(KEY), "the key leaked into the worker's log");
    let lines: Vec<Value> = worker_log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "job done" && l["outcome"] == "reported"),
        "{worker_log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "job done" && l["outcome"] == "dead_lettered")
    );
    assert!(
        lines
            .iter()
            .filter(|l| l["message"] == "job done")
            .all(|l| l["spans"][0]["requestId"].is_string())
    );
    assert_eq!(
        worker_log.lines().count(),
        lines.len(),
        "every line is JSON:\n{worker_log}"
    );
}

#[test]
#[ignore = "needs the Lambda zips: `make test` builds them and runs this"]
fn a_missing_setting_stops_the_function_with_its_name() {
    let lambda_dir = required_env("STOCKS_LAMBDA_DIR");
    let scratch = tempfile::tempdir().unwrap();
    let bin = unpack(&lambda_dir, "stocks-ingress", scratch.path());
    let out = function_command(&bin)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logged: Value = serde_json::from_str(stdout.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("the failure is not a JSON log line ({e}): {stdout}"));
    assert_eq!(
        (logged["level"].as_str(), logged["error"].as_str()),
        (Some("ERROR"), Some("QUEUE_URL is not set"))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Error: QUEUE_URL is not set"),
        "readable, not Debug: {stderr}"
    );
}
