//! The `stocksctl` binary as users run it: `local` prints its ready line and stops cleanly on
//! SIGTERM; `get` prints reports and exits 0, 1 or 2; every command explains itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use stocks_core::adapters::RetryPolicy;
use stocks_local::{Limits, LocalConfig, PerPeriod};
use stocks_testkit::Stack;
use stocks_testkit::stack::fast_config as config;

const BIN: &str = env!("CARGO_BIN_EXE_stocksctl");

async fn stocksctl(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn get_prints_the_report_and_exits_0() {
    let stack = Stack::start(config()).await;
    let out = stocksctl(&[
        "get",
        "MSFT",
        "--url",
        &stack.ws_url(),
        "--from",
        "2024-10-01",
        "--to",
        "2024-10-31",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("MSFT  2024-10-01 → 2024-10-31  (23 daily bars)"),
        "{stdout}"
    );
    for field in ["avgStock", "minStock", "maxStock", "minVolume", "maxVolume"] {
        assert!(stdout.contains(field), "{field} missing:\n{stdout}");
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("accepted MSFT"));
    // Under the report, the 23 closes as a sparkline: plain text, since stdout is a pipe.
    let spark = stdout.lines().last().unwrap();
    assert!(spark.starts_with("  close "), "{stdout}");
    let blocks = spark.chars().filter(|c| ('▁'..='█').contains(c)).count();
    assert_eq!(blocks, 23, "{spark}");
    assert!(!stdout.contains('\x1b'), "no escape codes into a pipe");
}

#[tokio::test]
async fn get_series_prints_the_bars_the_report_was_computed_from() {
    let stack = Stack::start(config()).await;
    let url = stack.ws_url();
    let args = [
        "get",
        "MSFT",
        "--url",
        &url,
        "--from",
        "2024-10-01",
        "--to",
        "2024-10-31",
        "--series",
    ];
    let out = stocksctl(&args).await;
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let days: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.starts_with("2024-10-"))
        .collect();
    assert_eq!(days.len(), 23, "{stdout}");
    assert_eq!((days[0], days[22]), ("2024-10-01", "2024-10-31"), "oldest first");
    let expected =
        stocks_local::market::daily_bars("MSFT", "2024-10-01".parse().unwrap(), "2024-10-31".parse().unwrap());
    let first_close = format!("{:.2}", expected[0].c);
    let first_line = stdout.lines().find(|l| l.starts_with("  2024-10-01")).unwrap();
    assert_eq!(
        first_line.split_whitespace().nth(4),
        Some(first_close.as_str()),
        "{first_line}"
    );
}

#[tokio::test]
async fn get_json_prints_every_frame() {
    let stack = Stack::start(config()).await;
    let out = stocksctl(&["get", "ko", "--url", &stack.ws_url(), "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    let frames: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (frames[0]["statusCode"].as_u64(), frames[1]["statusCode"].as_u64()),
        (Some(202), Some(200))
    );
    assert_eq!(frames[1]["ticker"], "KO");
}

#[tokio::test]
async fn get_exits_1_on_an_error_message() {
    let stack = Stack::start(config()).await;
    let out = stocksctl(&["get", "Msft", "--url", &stack.ws_url()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error: INVALID_TICKER (400)"));
    let out = stocksctl(&["get", "ZZZZ", "--url", &stack.ws_url()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NO_RESULTS (404)"));
}

#[tokio::test]
async fn get_exits_2_when_there_is_no_answer() {
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = stocksctl(&["get", "MSFT", "--url", &format!("ws://{nobody}/local")]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not connect"));
}

/// Spends the demo market's one request of the current window.
async fn spend_the_quota(stack: &Stack) {
    let status = stack
        .http()
        .get(stack.http_url("/v2/aggs/ticker/KO/range/1/day/2024-10-01/2024-10-31"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .status();
    assert!(status == 200 || status == 429, "{status}");
}

#[tokio::test]
async fn get_says_it_is_queued_and_pings_while_the_job_waits_for_quota() {
    let stack = Stack::start(LocalConfig {
        // One request per 3 s; any Retry-After is deferred, not waited out in the worker.
        market_quota: Some(PerPeriod::parse("1/3s").unwrap()),
        retry: RetryPolicy {
            max_delay: std::time::Duration::from_millis(100),
            ..config().retry
        },
        // Far shorter than the wait: only the pings can keep the connection open.
        limits: Limits {
            idle_timeout: std::time::Duration::from_millis(700),
            ..Limits::default()
        },
        ..config()
    })
    .await;
    let url = stack.ws_url();
    let get = |ticker: &'static str| {
        [
            "get",
            ticker,
            "--url",
            &url,
            "--from",
            "2024-10-01",
            "--to",
            "2024-10-31",
        ]
    };

    spend_the_quota(&stack).await;
    let mut pinging = get("MSFT").to_vec();
    pinging.extend(["--ping-every", "200ms"]);
    let out = stocksctl(&pinging).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("queued MSFT: waiting for market data, retrying in "),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("MSFT  2024-10-01 → 2024-10-31"),
        "the report after the wait"
    );

    // The same wait without pings (another ticker: MSFT's answer is cached now): the idle
    // connection is dropped before the report.
    spend_the_quota(&stack).await;
    let out = stocksctl(&get("AAPL")).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("without a final answer"), "{stderr}");
}

#[test]
fn local_prints_its_ready_line_and_console_and_stops_on_sigterm() {
    let mut child = Command::new(BIN)
        .args(["local", "--listen", "127.0.0.1:0", "--stage", "dev"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on ws://127.0.0.1:"), "{line}");
    assert!(
        line.contains("/dev (market: demo — synthetic prices, not real quotes"),
        "{line}"
    );
    let url = line.split_whitespace().nth(2).unwrap().to_owned();
    let mut console = String::new();
    stdout.read_line(&mut console).unwrap();
    let page = console.split_whitespace().nth(2).unwrap();
    assert_eq!(page, url.replace("ws://", "http://").replace("/dev", "/"), "{console}");
    let (content_type, html) = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let response = reqwest::get(page).await.unwrap();
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        (content_type, response.text().await.unwrap())
    });
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(
        html.contains("data-stage=\"dev\""),
        "the console is served for this stage"
    );

    let got = Command::new(BIN).args(["get", "AMZN", "--url", &url]).output().unwrap();
    assert_eq!(got.status.code(), Some(0), "{}", String::from_utf8_lossy(&got.stderr));

    // SIGTERM, as a process manager would send.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn every_command_explains_itself() {
    // Each command's `--help` opens with what its doc comment says (stripped, clap would still
    // print "Usage: …"), and every option it lists says what it is for.
    let commands: &[(&[&str], &str)] = &[
        (&[], "Develop, try and operate the stocks WebSocket service."),
        (&["local"], "Run the service locally"),
        (&["get"], "Ask for one report and print it."),
        (&["dlq"], "Inspect and replay the dead-letter queue"),
        (&["dlq", "list"], "List dead jobs without consuming them"),
        (&["dlq", "replay"], "Move dead jobs back to the jobs queue"),
        (&["dlq", "redrive"], "Start SQS's own move task"),
        (&["dlq", "status"], "Show the DLQ's recent move tasks"),
        (&["tokens"], "Give people access to the API"),
        (&["tokens", "create"], "Create a token"),
        (&["tokens", "list"], "List tokens"),
        (&["tokens", "revoke"], "Revoke the live token named NAME"),
        (&["preflight"], "Check everything `make deploy` needs"),
        (&["smoke"], "After a deploy: one real request through the API"),
    ];
    for (command, opening) in commands {
        let out = Command::new(BIN).args(*command).arg("--help").output().unwrap();
        assert!(out.status.success(), "{command:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.starts_with(opening),
            "{command:?} --help does not open with {opening:?}:\n{help}"
        );
        // `  -x, --flag <VALUE>  What it is for [default: …]`, or (long help) the same words
        // on the lines below: something must be said before any `[default]`/`[env]`.
        let lines: Vec<&str> = help.lines().skip_while(|l| *l != "Options:").collect();
        let undocumented: Vec<&str> = (0..lines.len())
            // Options start with `-`; `- value: …` lines list a value's choices.
            .filter(|&i| lines[i].trim_start().starts_with('-') && !lines[i].trim_start().starts_with("- "))
            .filter(|&i| {
                let inline = lines[i].trim_start().split_once("  ").map_or("", |(_, d)| d.trim());
                let below = lines.get(i + 1).map_or("", |l| l.trim());
                let said = if inline.is_empty() && !below.starts_with('-') {
                    below
                } else {
                    inline
                };
                said.is_empty() || said.starts_with('[')
            })
            .map(|i| lines[i])
            .collect();
        assert!(
            undocumented.is_empty(),
            "{command:?}: options without a word of help: {undocumented:?}"
        );
    }
    let local =
        String::from_utf8_lossy(&Command::new(BIN).args(["local", "--help"]).output().unwrap().stdout).to_string();
    for flag in [
        "--listen",
        "--stage",
        "--market",
        "--queue",
        "--sqs-endpoint",
        "--queue-url",
        "--dlq-url",
        "--visibility-timeout",
        "--max-receive-count",
        "--batch-size",
        "--fault-rate",
    ] {
        assert!(local.contains(flag), "local --help does not mention {flag}");
    }
}
