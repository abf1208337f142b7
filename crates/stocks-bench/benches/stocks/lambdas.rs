//! The deployed artefacts: zip size, init time and peak memory of each `bootstrap`.
//!
//! Init time is process start to the first `GET /runtime/invocation/next`, measured against a
//! minimal Lambda Runtime API served here (so nothing else is timed). Peak RSS is the process's
//! high-water mark (`VmHWM`) after it has handled a series of real events, each all the way
//! through: the ingress posts its 202 to a live connection on the local stack and sends the job
//! to SQS (moto); the worker fetches from the demo market, posts the report to that connection
//! and could dead-letter to moto's DLQ.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;

pub use stocks_testkit::LAMBDA_PACKAGES as FUNCTIONS;

#[derive(Clone, Debug, Serialize)]
pub struct LambdaFigures {
    pub name: String,
    pub zip_bytes: u64,
    pub binary_bytes: u64,
    /// Median of `init_runs` cold starts, milliseconds.
    pub init_ms_median: f64,
    pub init_ms_max: f64,
    pub init_runs: usize,
    /// High-water mark after `invocations` events, KiB.
    pub peak_rss_kib: u64,
    pub invocations: usize,
}

/// A one-function Runtime API: hands out queued events, records when the function first asked
/// and how many responses it sent.
#[derive(Default)]
struct RuntimeApi {
    first_poll: Mutex<Option<Instant>>,
    events: Mutex<VecDeque<Value>>,
    responses: Mutex<usize>,
    /// Worker responses that named records to retry: the run did not go all the way through.
    retried: Mutex<usize>,
    errors: Mutex<Vec<String>>,
    changed: Notify,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    api.first_poll
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(Instant::now);
    api.changed.notify_waiters();
    loop {
        let notified = api.changed.notified();
        if let Some(event) = api.events.lock().unwrap_or_else(PoisonError::into_inner).pop_front() {
            let mut headers = HeaderMap::new();
            let id = format!("{:032x}", fastrand::u128(..));
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&id).expect("hex"),
            );
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:bench"),
            );
            return (headers, axum::Json(event)).into_response();
        }
        notified.await;
    }
}

async fn response(State(api): State<Arc<RuntimeApi>>, UrlPath(_): UrlPath<String>, body: String) -> StatusCode {
    let retried = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["batchItemFailures"].as_array().map(|f| !f.is_empty()))
        .unwrap_or(false);
    if retried {
        *api.retried.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }
    *api.responses.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<RuntimeApi>>, body: String) -> StatusCode {
    api.errors.lock().unwrap_or_else(PoisonError::into_inner).push(body);
    *api.responses.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: String) -> StatusCode {
    api.errors.lock().unwrap_or_else(PoisonError::into_inner).push(body);
    api.changed.notify_waiters();
    StatusCode::ACCEPTED
}

/// Serves a Runtime API on a free port until dropped.
struct Served {
    api: Arc<RuntimeApi>,
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_runtime_api() -> Served {
    let api = Arc::new(RuntimeApi::default());
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served { api, addr, task }
}

/// Kills the function when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where the functions' calls go: the local stack and moto.
#[derive(Clone, Debug)]
pub struct Targets {
    /// `HOST:PORT` of the local stack (`@connections`, the demo market).
    pub stack: String,
    /// A connection open on the stack that reads and drops whatever it is sent.
    pub connection_id: String,
    /// moto, for SQS.
    pub sqs_endpoint: String,
    pub jobs_url: String,
    pub dlq_url: String,
    /// The access table (moto) and a live token in it: the authorizer looks it up, the
    /// ingress counts each request against it.
    pub access_table: String,
    pub token: String,
}

/// The environment each function gets (no network is needed before the first invocation).
fn environment(name: &str, runtime_api: std::net::SocketAddr, targets: &Targets) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "bench".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "bench".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        ("AWS_ENDPOINT_URL", targets.sqs_endpoint.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let callback = format!("http://{}/local", targets.stack);
    let extra: &[(&str, String)] = match name {
        "stocks-ingress" => &[
            ("QUEUE_URL", targets.jobs_url.clone()),
            ("CALLBACK_URL", callback),
            ("ACCESS_TABLE", targets.access_table.clone()),
        ],
        "stocks-authorizer" => &[("ACCESS_TABLE", targets.access_table.clone())],
        "stocks-worker" => &[
            ("QUEUE_URL", targets.jobs_url.clone()),
            ("CALLBACK_URL", callback),
            // A literal key: reading SSM would time a network call, not the binary.
            ("POLYGON_API_KEY", "bench".into()),
            ("POLYGON_BASE_URL", format!("http://{}", targets.stack)),
            ("DLQ_URL", targets.dlq_url.clone()),
            ("MAX_RECEIVE_COUNT", "3".into()),
        ],
        _ => &[],
    };
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    env
}

/// What the authorizer hands API Gateway for `token`: its grant, as every later event carries it.
fn authorizer_context(token: &str) -> Value {
    let hash = stocks_core::domain::Token::parse(token).expect("a token").hash();
    serde_json::json!({
        "principalId": hash.token_id().as_str(), "tokenId": hash.token_id().as_str(),
        "name": "bench", "ratePerMinute": 100_000
    })
}

fn unpack(zip: &Path, into: &Path) -> Result<PathBuf, String> {
    let file = std::fs::File::open(zip).map_err(|e| format!("{}: {e}", zip.display()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", zip.display()))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|e| format!("{}: {e}", zip.display()))?;
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    let bin = into.join("bootstrap");
    std::fs::write(&bin, bytes).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    Ok(bin)
}

/// One cold start: milliseconds from spawn to the first poll.
async fn cold_start(bin: &Path, name: &str, targets: &Targets) -> Result<(f64, Running, Served), String> {
    let served = serve_runtime_api().await;
    // Its log, beside the binary: what a function that does not start said.
    let log_path = bin.with_file_name("log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let stderr = log.try_clone().map_err(|e| e.to_string())?;
    let spawned = Instant::now();
    let child = Command::new(bin)
        .env_clear()
        .envs(environment(name, served.addr, targets))
        .stdout(log)
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("{name}: {e}"))?;
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    let api = served.api.clone();
    loop {
        let notified = api.changed.notified();
        let first_poll = *api.first_poll.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = first_poll {
            drop(notified);
            return Ok(((at - spawned).as_secs_f64() * 1e3, running, served));
        }
        if let Some(err) = api.errors.lock().unwrap_or_else(PoisonError::into_inner).first() {
            return Err(format!("{name} failed to start: {err}"));
        }
        let exited = running.0.try_wait().map_err(|e| e.to_string())?;
        if exited.is_some() || Instant::now() > deadline {
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last = said.lines().last().unwrap_or("nothing");
            return Err(match exited {
                Some(status) => format!("{name} stopped ({status}) before polling the runtime API; it said: {last}"),
                None => format!("{name} never polled the runtime API; it said: {last}"),
            });
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
    }
}

/// Events to feed each function for the memory figure, all about the one live connection.
fn events(name: &str, n: usize, targets: &Targets) -> Vec<Value> {
    let connection_id = targets.connection_id.as_str();
    let grant = authorizer_context(&targets.token);
    let fixture = |route: &str, body: Option<String>| {
        serde_json::json!({
            "requestContext": {
                "routeKey": route, "eventType": if body.is_some() { "MESSAGE" } else { "CONNECT" },
                "connectionId": connection_id, "requestId": format!("bench{:011x}=", fastrand::u64(..) >> 20),
                "connectedAt": 1_795_514_395_000i64, "requestTimeEpoch": chrono::Utc::now().timestamp_millis(),
                "domainName": "localhost", "stage": "local", "authorizer": grant
            },
            "body": body, "isBase64Encoded": false
        })
    };
    (0..n)
        .map(|i| match name {
            "stocks-connect" => fixture("$connect", None),
            "stocks-disconnect" => fixture("$disconnect", None),
            "stocks-authorizer" => serde_json::json!({
                "type": "REQUEST",
                "methodArn": "arn:aws:execute-api:us-east-1:000000000000:local/local/$connect",
                "queryStringParameters": {"token": targets.token},
                "multiValueQueryStringParameters": {"token": [targets.token]},
                "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": connection_id}
            }),
            "stocks-ingress" => fixture(
                "stocksaction",
                Some(format!(r#"{{"action":"stocksaction","ticker":"MSFT","from":"2024-01-02","to":"2024-{:02}-28"}}"#, 1 + i % 12)),
            ),
            _ => {
                let records: Vec<Value> = (0..10)
                    .map(|r| {
                        let (ticker, _) = stocks_local::market::UNIVERSE[(i * 10 + r) % stocks_local::market::UNIVERSE.len()];
                        // The default window's length, ending on many different days.
                        let to = chrono::NaiveDate::from_ymd_opt(2024, 1, 2).expect("valid") + chrono::Days::new(((i * 10 + r) % 700) as u64);
                        let job = serde_json::json!({
                            "v": 1, "requestId": "bench", "connectionId": connection_id, "ticker": ticker,
                            "from": (to - chrono::Days::new(29)).to_string(), "to": to.to_string(), "disconnect": false,
                            "enqueuedAt": chrono::Utc::now()
                        });
                        serde_json::json!({"messageId": format!("m{i}-{r}"), "body": job.to_string(), "attributes": {"ApproximateReceiveCount": "1"}})
                    })
                    .collect();
                serde_json::json!({"Records": records})
            }
        })
        .collect()
}

/// Peak RSS of a running function after it has handled `n` events.
async fn peak_rss(running: &Running, served: &Served, name: &str, n: usize, targets: &Targets) -> Result<u64, String> {
    served
        .api
        .events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(events(name, n, targets));
    served.api.changed.notify_waiters();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let notified = served.api.changed.notified();
        if *served.api.responses.lock().unwrap_or_else(PoisonError::into_inner) >= n {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{name} handled only {} of {n} events",
                served.api.responses.lock().unwrap_or_else(PoisonError::into_inner)
            ));
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", running.0.id())).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc status".into())
}

pub async fn measure(
    lambda_dir: &Path,
    targets: &Targets,
    init_runs: usize,
    invocations: usize,
    progress: &indicatif::ProgressBar,
) -> Result<Vec<LambdaFigures>, String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for name in FUNCTIONS {
        let zip = lambda_dir.join(name).join("bootstrap.zip");
        let dir = scratch.path().join(name);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let bin = unpack(&zip, &dir)?;
        let mut inits = Vec::with_capacity(init_runs);
        let mut last = None;
        for run in 0..init_runs {
            progress.set_message(format!("{name}: cold start {}/{init_runs}", run + 1));
            let (ms, running, served) = cold_start(&bin, name, targets).await?;
            inits.push(ms);
            last = Some((running, served));
        }
        let (running, served) = last.ok_or("init_runs must be at least 1")?;
        progress.set_message(format!("{name}: {invocations} invocations"));
        let rss = peak_rss(&running, &served, name, invocations, targets).await?;
        if let Some(err) = served.api.errors.lock().unwrap_or_else(PoisonError::into_inner).first() {
            return Err(format!("{name} answered an error during the memory run: {err}"));
        }
        let retried = *served.api.retried.lock().unwrap_or_else(PoisonError::into_inner);
        if retried > 0 {
            return Err(format!(
                "{name} left records to retry in {retried} of {invocations} batches"
            ));
        }
        inits.sort_by(f64::total_cmp);
        out.push(LambdaFigures {
            name: name.to_owned(),
            zip_bytes: std::fs::metadata(&zip).map_err(|e| e.to_string())?.len(),
            binary_bytes: std::fs::metadata(&bin).map_err(|e| e.to_string())?.len(),
            init_ms_median: inits[inits.len() / 2],
            init_ms_max: *inits.last().unwrap_or(&0.0),
            init_runs,
            peak_rss_kib: rss,
            invocations,
        });
        progress.inc(1);
    }
    Ok(out)
}
