//! One bench run: every scenario in turn, behind one progress bar, into [`Results`].

use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use stocks_core::adapters::CacheSettings;

use stocks_local::{LocalConfig, Running};

use stocks_core::domain::{MAX_RATE_PER_MINUTE, NewToken};
use stocks_core::ports::TokenAdmin;

use crate::{e2e, fleet, handlers, lambdas, store};

/// The fleet scenarios: (tickers or clients, instances, recycle after).
const FLEET: [(&str, usize, usize, Option<u64>); 4] = [
    ("burst", 15, 2, None),
    ("burst", 15, 4, None),
    ("burst", 15, 4, Some(20)),
    ("shared", 40, 4, None),
];

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub clients: Vec<usize>,
    /// Also measure `paced.0` clients sending `paced.1` requests per second in all.
    pub paced: Option<(usize, f64)>,
    pub duration: Duration,
    /// Directory of `<function>/bootstrap.zip` (`make build`); skipped when `None`.
    pub lambda_dir: Option<PathBuf>,
    pub init_runs: usize,
    pub invocations: usize,
    /// Let the worker's market cache answer repeats (off: every report asks the market).
    pub market_cache: bool,
    /// Run the fleet scenarios.
    pub fleet: bool,
    /// Measure the market table's calls per report.
    pub store: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Results {
    pub machine: Machine,
    pub settings: Settings,
    pub end_to_end: Vec<e2e::Level>,
    pub handlers: handlers::HandlerCosts,
    pub lambdas: Vec<lambdas::LambdaFigures>,
    pub fleet: Vec<fleet::Burst>,
    pub market_table: Option<store::StoreCalls>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub seconds_per_level: f64,
    pub market_cache: bool,
    pub build: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub measured_at: String,
}

impl Machine {
    fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        };
        Self {
            cpu: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: field(&meminfo, "MemTotal")
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            measured_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

impl BenchConfig {
    pub fn from_args(args: &crate::cli::Cli) -> Self {
        Self {
            clients: args.clients.clone(),
            paced: args.paced.filter(|(clients, rate)| *clients > 0 && *rate > 0.0),
            duration: Duration::from_secs(args.duration.max(1)),
            lambda_dir: args.lambda_dir.clone(),
            init_runs: args.init_runs.max(1),
            invocations: args.invocations.max(1),
            market_cache: args.market_cache,
            fleet: !args.no_fleet,
            store: !args.no_store,
        }
    }
}

pub async fn run(config: &BenchConfig) -> Result<Results, String> {
    let phases = config.clients.len() as u64
        + 1
        + if config.fleet { FLEET.len() as u64 } else { 0 }
        + u64::from(config.store)
        + if config.lambda_dir.is_some() {
            lambdas::FUNCTIONS.len() as u64
        } else {
            0
        };
    let progress = ProgressBar::new(phases);
    progress.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})").expect("valid template"));

    // The local stack, in this process, as `make dev` runs it (no logs: they would be timed).
    let stack_config = LocalConfig {
        cache: if config.market_cache {
            CacheSettings::default()
        } else {
            CacheSettings {
                entries: 0,
                max_age: None,
            }
        },
        // As `make dev` runs it: the default worker instances (Terraform's default
        // worker_max_concurrency).
        ..LocalConfig::default()
    };
    let stack = Running::start(stack_config).await.map_err(|e| e.to_string())?;
    let (addr, url) = (stack.addr, stack.ws_url());

    let mut end_to_end = Vec::new();
    for &clients in &config.clients {
        progress.set_message(format!("end to end, {clients} client(s)"));
        end_to_end.push(e2e::level(&url, clients, config.duration, None).await?);
        progress.inc(1);
    }
    if let Some((clients, rate)) = config.paced {
        progress.set_message(format!("end to end, {clients} clients paced to {rate}/s"));
        end_to_end.push(e2e::level(&url, clients, config.duration, Some(rate)).await?);
        progress.inc(1);
    }
    progress.set_message("handler costs");
    let handlers = handlers::measure(config.duration).await;
    progress.inc(1);
    let lambdas = match &config.lambda_dir {
        Some(dir) => {
            progress.set_message("starting moto for the Lambda runs");
            let moto = stocks_testkit::MotoServer::try_start()?;
            let queues = moto.jobs_and_dlq("bench-jobs", None, None).await;
            let access =
                stocks_core::adapters::DynamoAccessStore::new(moto.table("bench-access").await, "bench-access");
            let bench = NewToken::new("bench", MAX_RATE_PER_MINUTE).map_err(|e| e.to_string())?;
            let (token, _) = access.create(&bench).await.map_err(|e| e.to_string())?;
            let sink = Sink::open(&url, &addr.to_string()).await?;
            let targets = lambdas::Targets {
                stack: addr.to_string(),
                connection_id: sink.connection_id.clone(),
                sqs_endpoint: moto.endpoint().to_owned(),
                jobs_url: queues.jobs_url.clone(),
                dlq_url: queues.dlq_url.clone(),
                access_table: "bench-access".into(),
                token: token.reveal().to_owned(),
            };
            let figures = lambdas::measure(dir, &targets, config.init_runs, config.invocations, &progress).await?;
            // Every ingress invocation must have sent its job to SQS.
            let sqs = stocks_core::adapters::SqsQueue::new(moto.sqs_client(), &queues.jobs_url);
            let queued = sqs.depth().await.map_err(|e| e.to_string())?.total();
            if queued != config.invocations as u64 {
                return Err(format!(
                    "the ingress queued {queued} jobs in {} invocations",
                    config.invocations
                ));
            }
            figures
        }
        None => Vec::new(),
    };
    let market_table = if config.store {
        progress.set_message("the market table's calls per report (moto)");
        let calls = store::measure(&format!("http://{addr}"), 20).await?;
        progress.inc(1);
        Some(calls)
    } else {
        None
    };
    let _ = stack.stop().await;
    let mut fleet_runs = Vec::new();
    if config.fleet {
        for (kind, n, instances, age) in FLEET {
            let scenario = match kind {
                "burst" => fleet::Scenario::burst(n, instances, age.map(Duration::from_secs)),
                _ => fleet::Scenario::shared(n, 4, instances),
            };
            progress.set_message(scenario.name.clone());
            fleet_runs.push(fleet::run(&scenario).await?);
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    Ok(Results {
        machine: Machine::read(),
        settings: Settings {
            seconds_per_level: config.duration.as_secs_f64(),
            market_cache: config.market_cache,
            build: if cfg!(debug_assertions) {
                "debug (use --release for real figures)"
            } else {
                "release"
            },
        },
        end_to_end,
        handlers,
        lambdas,
        fleet: fleet_runs,
        market_table,
    })
}

/// A WebSocket client that keeps one connection open and drops whatever it is sent, so the
/// Lambda runs have a live connection to post to.
/// `GET http://{stack}{path}` on the local stack, as JSON.
pub(crate) async fn local_json<T: serde::de::DeserializeOwned>(
    stack: impl std::fmt::Display,
    path: &str,
) -> Result<T, String> {
    reqwest::get(format!("http://{stack}{path}"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("{path}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{path}: {e}"))
}

struct Sink {
    connection_id: String,
    _reader: tokio::task::JoinHandle<()>,
}

impl Sink {
    async fn open(url: &str, stack: &str) -> Result<Self, String> {
        use futures::StreamExt;
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let reader = tokio::spawn(async move {
            let (_write, mut read) = ws.split();
            while read.next().await.is_some() {}
        });
        let list: serde_json::Value = local_json(stack, "/_local/connections").await?;
        let connection_id = list[0]["connectionId"]
            .as_str()
            .ok_or("the stack lists no connection")?
            .to_owned();
        Ok(Self {
            connection_id,
            _reader: reader,
        })
    }
}

/// The results as the tables `make bench` prints.
pub fn render(r: &Results) -> String {
    let mut out = format!(
        "machine: {} ({} cores, {} GiB), {} build, {}\n\nend to end (send -> report, local stack, market cache {}):\n",
        r.machine.cpu,
        r.machine.cores,
        r.machine.memory_gib,
        r.settings.build,
        r.machine.measured_at,
        if r.settings.market_cache { "on" } else { "off" }
    );
    out.push_str("  clients  paced to   reports/s    p50 ms    p90 ms    p99 ms    max ms\n");
    for l in &r.end_to_end {
        let paced = l
            .paced_per_second
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.0}/s"));
        out.push_str(&format!(
            "  {:>7}  {:>8}  {:>10.0}  {:>8.2}  {:>8.2}  {:>8.2}  {:>8.2}\n",
            l.clients, paced, l.reports_per_second, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        ));
    }
    out.push_str(&format!(
        "\nhandlers (in-memory ports): ingress {:.1} µs/request, worker {:.1} µs/record ({} bars each)\n",
        r.handlers.ingress_us_per_request, r.handlers.worker_us_per_record, r.handlers.bars_per_record
    ));
    if !r.fleet.is_empty() {
        out.push_str(&format!(
            "\nthe worker fleet (real time; the free plan is 5 requests a minute):\n  {:<70}  reports  wall s  bound s  wall/bound  requests  429s  deferrals  dlq  instances\n",
            "scenario"
        ));
        let or_dash = |v: Option<f64>, decimals: usize| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"));
        for b in &r.fleet {
            out.push_str(&format!(
                "  {:<70}  {:>3}/{:<3}  {:>6.1}  {:>7}  {:>10}  {:>8}  {:>4}  {:>9}  {:>3}  {:>9}\n",
                b.scenario,
                b.reports,
                b.clients,
                b.wall_seconds,
                or_dash(b.bound_seconds, 1),
                or_dash(b.wall_over_bound, 2),
                b.market_requests,
                b.throttled,
                b.deferrals,
                b.dlq,
                b.instances_started
            ));
        }
    }
    if let Some(t) = &r.market_table {
        out.push_str(&format!(
            "\nthe market table, per report ({} of each): a miss {:.1} reads + {:.1} writes, {:.1} market calls; a hit {:.1} reads + {:.1} writes, {:.1} market calls\n",
            t.reports_per_kind, t.miss_reads, t.miss_writes, t.miss_market_calls, t.hit_reads, t.hit_writes, t.hit_market_calls
        ));
    }
    if !r.lambdas.is_empty() {
        out.push_str("\nlambdas:\n  function            zip MiB   init ms (median/max)   peak RSS MiB\n");
        for l in &r.lambdas {
            out.push_str(&format!(
                "  {:<18}  {:>7.2}   {:>8.2} / {:<8.2}      {:>8.1}\n",
                l.name,
                l.zip_bytes as f64 / 1048576.0,
                l.init_ms_median,
                l.init_ms_max,
                l.peak_rss_kib as f64 / 1024.0
            ));
        }
    }
    out
}
