//! `stocksctl dlq` against moto (a real SQS wire implementation), `redrive`/`status` against
//! replayed HTTP (moto lacks StartMessageMoveTask), and a replay that rescues a job failed by a
//! market outage while its client is still connected.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::{TimeDelta, Utc};
use serde_json::json;
use stocks_core::adapters::SqsQueue;
use stocks_core::domain::{ErrorCode, Ticker};
use stocks_local::LocalConfig;
use stocks_testkit::stack::{fast_config as config, moto_queue};
use stocks_testkit::ws::{next_message, send};
use stocks_testkit::{MotoServer, Stack};
use stocksctl::dlq::ops::{self as dlq, ReplayOptions};
use stocksctl::dlq::policy::{Decision, Selection};

const BIN: &str = env!("CARGO_BIN_EXE_stocksctl");

/// A seeded pair of queues: the DLQ holds five jobs of several tickers and ages, one foreign
/// message; the jobs queue is empty.
struct Seeded {
    moto: MotoServer,
    sqs: Client,
    jobs_url: String,
    dlq_url: String,
}

fn job(ticker: &str, age_minutes: i64, conn: &str) -> String {
    let enqueued = Utc::now() - TimeDelta::minutes(age_minutes);
    json!({
        "v": 1, "requestId": format!("req-{conn}"), "connectionId": conn, "ticker": ticker,
        "from": "2024-10-01", "to": "2024-10-31", "disconnect": true,
        "enqueuedAt": enqueued.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
    .to_string()
}

const FOREIGN: &str = "hello from some other producer";

/// (name, ticker, age in minutes): `msft_10m` is the only one with worker failure attributes.
const JOBS: [(&str, &str, i64); 5] = [
    ("msft_10m", "MSFT", 10),
    ("aapl_45m", "AAPL", 45),
    ("msft_3h", "MSFT", 180),
    ("ko_1d", "KO", 24 * 60),
    ("aapl_5m", "AAPL", 5),
];

async fn seeded() -> (Seeded, Vec<(&'static str, String)>) {
    let moto = MotoServer::start();
    let sqs = moto.sqs_client();
    let queues = moto.jobs_and_dlq("jobs", None, None).await;
    let (jobs_url, dlq_url) = (queues.jobs_url, queues.dlq_url);
    let mut bodies = Vec::new();
    for (name, ticker, age) in JOBS {
        let body = job(ticker, age, name);
        let mut send = sqs.send_message().queue_url(&dlq_url).message_body(&body);
        if name == "msft_10m" {
            for (k, v, t) in [
                ("failureReason", "UPSTREAM_UNAVAILABLE", "String"),
                (
                    "failureDetail",
                    "market data unavailable after 3 attempt(s): HTTP 503",
                    "String",
                ),
                ("attempts", "3", "Number"),
            ] {
                send = send.message_attributes(
                    k,
                    MessageAttributeValue::builder()
                        .data_type(t)
                        .string_value(v)
                        .build()
                        .unwrap(),
                );
            }
        }
        send.send().await.unwrap();
        bodies.push((name, body));
    }
    sqs.send_message()
        .queue_url(&dlq_url)
        .message_body(FOREIGN)
        .send()
        .await
        .unwrap();
    (
        Seeded {
            moto,
            sqs,
            jobs_url,
            dlq_url,
        },
        bodies,
    )
}

impl Seeded {
    fn dlq(&self) -> SqsQueue {
        SqsQueue::new(self.sqs.clone(), &self.dlq_url)
    }

    fn jobs(&self) -> SqsQueue {
        SqsQueue::new(self.sqs.clone(), &self.jobs_url)
    }

    /// Every message in a queue with its attributes, received with a hold so each is seen once.
    async fn messages(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                return out;
            }
            out.extend(got);
        }
    }

    async fn bodies(&self, url: &str) -> Vec<String> {
        let mut out: Vec<String> = self.messages(url).await.into_iter().map(|m| m.body.unwrap()).collect();
        out.sort();
        out
    }
}

fn options(selection: Selection) -> ReplayOptions {
    ReplayOptions {
        selection,
        execute: false,
        max: None,
        rate: 1000.0,
    }
}

/// Message id -> seeded job name, from one listing.
async fn names_by_id(s: &Seeded, bodies: &[(&'static str, String)]) -> HashMap<String, &'static str> {
    let listed = dlq::list(&s.dlq(), 50).await.unwrap();
    listed
        .iter()
        .filter_map(|m| {
            bodies
                .iter()
                .find(|(_, b)| *b == m.body())
                .map(|(n, _)| (m.id().to_owned(), *n))
        })
        .collect()
}

/// Names of the seeded jobs a dry run would replay.
async fn would_replay(
    s: &Seeded,
    ids: &HashMap<String, &'static str>,
    options: ReplayOptions,
) -> BTreeSet<&'static str> {
    let (summary, outcomes) = dlq::replay(&s.dlq(), &s.jobs(), &options).await.unwrap();
    assert!(summary.dry_run);
    outcomes
        .iter()
        .filter(|o| o.decision == Decision::Replay)
        .filter_map(|o| ids.get(&o.message_id).copied())
        .collect()
}

fn names(list: &[&'static str]) -> BTreeSet<&'static str> {
    list.iter().copied().collect()
}

#[tokio::test]
async fn list_shows_every_message_without_consuming_any() {
    let (s, bodies) = seeded().await;
    let listed = dlq::list(&s.dlq(), 50).await.unwrap();
    assert_eq!(listed.len(), 6);
    let foreign: Vec<_> = listed.iter().filter(|m| m.job.is_none()).collect();
    assert_eq!(foreign.len(), 1);
    assert_eq!(foreign[0].body(), FOREIGN);
    let msft = listed.iter().find(|m| m.body() == bodies[0].1).unwrap();
    assert_eq!(msft.failure_reason(), Some("UPSTREAM_UNAVAILABLE"));
    assert_eq!(msft.job.as_ref().unwrap().ticker.as_str(), "MSFT");

    let table = stocksctl::dlq::render::render_list(&listed);
    assert!(
        table.contains("UPSTREAM_UNAVAILABLE: market data unavailable after 3 attempt(s): HTTP 503"),
        "{table}"
    );
    assert!(table.contains("(not a job)"));

    // Visible again at once: everything can be received right now.
    assert_eq!(s.bodies(&s.dlq_url).await.len(), 6, "listing consumed nothing");
    assert!(s.bodies(&s.jobs_url).await.is_empty());
}

#[tokio::test]
async fn list_respects_max() {
    let (s, _) = seeded().await;
    assert_eq!(dlq::list(&s.dlq(), 2).await.unwrap().len(), 2);
    assert_eq!(s.bodies(&s.dlq_url).await.len(), 6);
}

#[tokio::test]
async fn a_dry_run_moves_nothing() {
    let (s, _) = seeded().await;
    let (summary, outcomes) = dlq::replay(&s.dlq(), &s.jobs(), &options(Selection::default()))
        .await
        .unwrap();
    assert_eq!((summary.moved, summary.skipped_foreign, summary.failed), (5, 1, 0));
    assert_eq!(outcomes.len(), 6);
    assert!(outcomes.iter().all(|o| !o.done));
    assert_eq!(s.bodies(&s.dlq_url).await.len(), 6);
    assert!(s.bodies(&s.jobs_url).await.is_empty());
}

#[tokio::test]
async fn filters_select_exactly_the_right_messages() {
    let (s, bodies) = seeded().await;
    let ids = names_by_id(&s, &bodies).await;
    let msft = Selection {
        tickers: vec![Ticker::parse("MSFT").unwrap()],
        ..Selection::default()
    };
    assert_eq!(
        would_replay(&s, &ids, options(msft)).await,
        names(&["msft_10m", "msft_3h"])
    );

    let older = Selection {
        older_than: Some(Duration::from_secs(30 * 60)),
        ..Selection::default()
    };
    assert_eq!(
        would_replay(&s, &ids, options(older)).await,
        names(&["aapl_45m", "msft_3h", "ko_1d"])
    );

    let newer = Selection {
        newer_than: Some(Duration::from_secs(60 * 60)),
        ..Selection::default()
    };
    assert_eq!(
        would_replay(&s, &ids, options(newer)).await,
        names(&["msft_10m", "aapl_45m", "aapl_5m"])
    );

    let fresh = Selection {
        skip_stale: true,
        ..Selection::default()
    };
    assert_eq!(
        would_replay(&s, &ids, options(fresh.clone())).await,
        names(&["msft_10m", "aapl_45m", "aapl_5m"])
    );
    let (summary, _) = dlq::replay(&s.dlq(), &s.jobs(), &options(fresh)).await.unwrap();
    assert_eq!(summary.dropped_stale, 2, "says how many stale jobs it would drop");

    let (summary, _) = dlq::replay(
        &s.dlq(),
        &s.jobs(),
        &ReplayOptions {
            max: Some(2),
            ..options(Selection::default())
        },
    )
    .await
    .unwrap();
    assert_eq!((summary.moved, summary.skipped_max), (2, 3));

    // All dry runs: nothing moved.
    assert_eq!(s.bodies(&s.dlq_url).await.len(), 6);
    assert!(s.bodies(&s.jobs_url).await.is_empty());
}

#[tokio::test]
async fn execute_moves_exactly_the_selected_jobs_with_their_attributes() {
    let (s, bodies) = seeded().await;
    let options = ReplayOptions {
        selection: Selection {
            skip_stale: true,
            ..Selection::default()
        },
        execute: true,
        max: None,
        rate: 1000.0,
    };
    let (summary, _) = dlq::replay(&s.dlq(), &s.jobs(), &options).await.unwrap();
    assert_eq!(
        (
            summary.moved,
            summary.dropped_stale,
            summary.skipped_foreign,
            summary.failed
        ),
        (3, 2, 1, 0)
    );

    let body = |name: &str| bodies.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let mut expected_jobs = vec![body("msft_10m"), body("aapl_45m"), body("aapl_5m")];
    expected_jobs.sort();
    let moved = s.messages(&s.jobs_url).await;
    let mut moved_bodies: Vec<String> = moved.iter().map(|m| m.body.clone().unwrap()).collect();
    moved_bodies.sort();
    assert_eq!(moved_bodies, expected_jobs, "nothing lost, nothing duplicated");
    assert_eq!(
        s.bodies(&s.dlq_url).await,
        vec![FOREIGN.to_owned()],
        "stale dropped, foreign left alone"
    );

    // The copy keeps its attributes.
    let copy = moved
        .iter()
        .find(|m| m.body.as_deref() == Some(body("msft_10m").as_str()))
        .unwrap();
    let attrs = copy.message_attributes.clone().unwrap();
    assert_eq!(attrs["failureReason"].string_value(), Some("UPSTREAM_UNAVAILABLE"));
    assert_eq!(attrs["attempts"].data_type(), "Number");
}

#[tokio::test]
async fn include_foreign_and_max_together() {
    let (s, _) = seeded().await;
    let options = ReplayOptions {
        selection: Selection {
            include_foreign: true,
            ..Selection::default()
        },
        execute: true,
        max: Some(6),
        rate: 1000.0,
    };
    let (summary, _) = dlq::replay(&s.dlq(), &s.jobs(), &options).await.unwrap();
    assert_eq!(summary.moved, 6);
    assert!(s.bodies(&s.dlq_url).await.is_empty());
    assert_eq!(s.bodies(&s.jobs_url).await.len(), 6);
}

fn stocksctl(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_cli_lists_and_dry_runs_and_explains_errors() {
    let (s, _) = seeded().await;
    let endpoint = s.moto.endpoint().to_owned();
    let (dlq_url, jobs_url) = (s.dlq_url.clone(), s.jobs_url.clone());
    let outputs = tokio::task::spawn_blocking(move || {
        let list = stocksctl(&["dlq", "list", "--dlq-url", &dlq_url, "--endpoint-url", &endpoint]);
        let json = stocksctl(&[
            "dlq",
            "list",
            "--dlq-url",
            &dlq_url,
            "--endpoint-url",
            &endpoint,
            "--json",
        ]);
        let dry = stocksctl(&[
            "dlq",
            "replay",
            "--dlq-url",
            &dlq_url,
            "--queue-url",
            &jobs_url,
            "--endpoint-url",
            &endpoint,
            "--skip-stale",
        ]);
        let missing = stocksctl(&[
            "dlq",
            "list",
            "--dlq-url",
            &format!("{endpoint}/123456789012/nope"),
            "--endpoint-url",
            &endpoint,
        ]);
        let wrong_target = stocksctl(&[
            "dlq",
            "replay",
            "--dlq-url",
            &dlq_url,
            "--queue-url",
            &format!("{endpoint}/123456789012/nope"),
            "--endpoint-url",
            &endpoint,
        ]);
        (list, json, dry, missing, wrong_target)
    })
    .await
    .unwrap();
    let (list, json, dry, missing, wrong_target) = outputs;

    assert_eq!(list.status.code(), Some(0));
    let table = String::from_utf8_lossy(&list.stdout);
    assert_eq!(table.lines().count(), 7, "a header and six messages:\n{table}");

    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 6);

    assert_eq!(dry.status.code(), Some(0));
    let report = String::from_utf8_lossy(&dry.stdout);
    assert!(report.contains("would move 3, dropped 2 stale"), "{report}");
    assert!(report.contains("This was a dry run"), "{report}");

    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("error: no such queue"),
        "{missing:?}"
    );
    assert_eq!(
        wrong_target.status.code(),
        Some(2),
        "a wrong target queue stops before the DLQ is touched"
    );

    assert_eq!(s.bodies(&s.dlq_url).await.len(), 6, "the CLI changed nothing");
}

#[tokio::test]
async fn redrive_and_status_use_sqs_move_tasks() {
    use wiremock::matchers::header;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let aws = MockServer::start().await;
    let json_response = |body: serde_json::Value| {
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.0")
            .set_body_json(body)
    };
    Mock::given(header("x-amz-target", "AmazonSQS.StartMessageMoveTask"))
        .respond_with(json_response(json!({"TaskHandle": "eyJ0YXNrSWQiOiJkYTFk"})))
        .expect(1)
        .mount(&aws)
        .await;
    Mock::given(header("x-amz-target", "AmazonSQS.ListMessageMoveTasks"))
        .respond_with(json_response(json!({"Results": [{
            "TaskHandle": "eyJ0YXNrSWQiOiJkYTFk", "Status": "RUNNING",
            "SourceArn": "arn:aws:sqs:eu-west-1:123456789012:stocks-dlq",
            "MaxNumberOfMessagesPerSecond": 5, "ApproximateNumberOfMessagesMoved": 12,
            "ApproximateNumberOfMessagesToMove": 40, "StartedTimestamp": 1795514400000u64
        }]})))
        .expect(1)
        .mount(&aws)
        .await;
    let endpoint = aws.uri();
    let arn = "arn:aws:sqs:eu-west-1:123456789012:stocks-dlq";
    let (redrive, status) = tokio::task::spawn_blocking(move || {
        let common = ["--endpoint-url", endpoint.as_str(), "--region", "eu-west-1"];
        let jobs = "arn:aws:sqs:eu-west-1:123456789012:stocks-jobs";
        let mut redrive = vec![
            "dlq",
            "redrive",
            "--dlq-arn",
            arn,
            "--destination-arn",
            jobs,
            "--rate",
            "5",
        ];
        redrive.extend(common);
        let mut status = vec!["dlq", "status", "--dlq-arn", arn];
        status.extend(common);
        (stocksctl(&redrive), stocksctl(&status))
    })
    .await
    .unwrap();
    assert_eq!(redrive.status.code(), Some(0), "{redrive:?}");
    assert!(String::from_utf8_lossy(&redrive.stdout).contains("started move task eyJ0YXNrSWQiOiJkYTFk"));
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        table.contains("RUNNING") && table.contains("12") && table.contains("40") && table.contains("5/s"),
        "{table}"
    );

    let requests = aws.received_requests().await.unwrap();
    let bodies: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        json!({"SourceArn": arn, "DestinationArn": "arn:aws:sqs:eu-west-1:123456789012:stocks-jobs", "MaxNumberOfMessagesPerSecond": 5})
    );
    assert_eq!(bodies[1], json!({"SourceArn": arn, "MaxResults": 10}));
}

#[tokio::test]
async fn a_job_failed_by_an_outage_is_replayed_to_its_still_connected_client() {
    let moto = MotoServer::start();
    let sqs = moto.sqs_client();
    let queues = moto.jobs_and_dlq("stocks-jobs", None, None).await;
    let queue = moto_queue(&moto, &queues);
    let (jobs_url, dlq_url) = (queues.jobs_url, queues.dlq_url);
    // The market fails every answer; one delivery is the last.
    let stack = Stack::start(LocalConfig {
        queue,
        fault_rate: 1.0,
        max_receive_count: 1,
        ..config()
    })
    .await;

    let mut ws = stack.connect().await;
    send(
        &mut ws,
        r#"{"action":"stocksaction","ticker":"MSFT","from":"2024-10-01","to":"2024-10-31","disconnect":false}"#,
    )
    .await;
    let ack = next_message(&mut ws).await;
    let failed = next_message(&mut ws).await;
    assert_eq!(failed.error, Some(ErrorCode::UpstreamUnavailable));
    stack.wait_for_stats("the dead letter", |st| st.dlq == 1).await;

    // The outage ends; the operator replays.
    stack.set_fault_rate(0.0).await;
    let summary = super::replay_everything(&sqs, &dlq_url, &jobs_url).await;
    assert_eq!(summary.moved, 1);

    let report = next_message(&mut ws).await;
    assert_eq!(
        (report.status_code, report.request_id),
        (200, ack.request_id),
        "the report reaches the same client"
    );
    assert!(report.report_data.is_some());
    let stats = stack.wait_for_stats("an empty DLQ", |st| st.dlq == 0).await;
    assert_eq!(stats.reported, 1);
}

/// `stocksctl dlq redrive` against a stub of SQS's JSON API (moto has no StartMessageMoveTask),
/// with a stand-in `terraform` that knows the stack's outputs: the request it sends.
async fn redrive(extra: &[&str], outputs: bool) -> (std::process::Output, Vec<serde_json::Value>) {
    use wiremock::matchers::header;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let sqs = MockServer::start().await;
    Mock::given(header("x-amz-target", "AmazonSQS.StartMessageMoveTask"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"TaskHandle": "task-1"})))
        .mount(&sqs)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let terraform = dir.path().join("terraform");
    let answers = if outputs {
        r#"case "$*" in
  *jobs_queue_arn*) echo arn:aws:sqs:us-east-1:123456789012:stocks-jobs ;;
  *dlq_arn*) echo arn:aws:sqs:us-east-1:123456789012:stocks-dlq ;;
  *) exit 1 ;;
esac"#
    } else {
        "echo 'No outputs found' >&2; exit 1"
    };
    std::fs::write(&terraform, format!("#!/bin/sh\n{answers}\n")).unwrap();
    std::fs::set_permissions(&terraform, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut args = vec![
        "dlq".to_owned(),
        "redrive".into(),
        "--endpoint-url".into(),
        sqs.uri(),
        "--region".into(),
        "us-east-1".into(),
        "--terraform".into(),
        terraform.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let sent = sqs
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    (out, sent)
}

#[tokio::test]
async fn redrive_sends_the_workers_dead_letters_to_the_jobs_queue_not_to_a_source_sqs_cannot_know() {
    let (out, sent) = redrive(&[], true).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        sent,
        [json!({
            "SourceArn": "arn:aws:sqs:us-east-1:123456789012:stocks-dlq",
            "DestinationArn": "arn:aws:sqs:us-east-1:123456789012:stocks-jobs"
        })],
        "the jobs queue, named: the worker's own dead letters have no source SQS can return them to"
    );
    // An operator's own destination wins.
    let (_, sent) = redrive(&["--destination-arn", "arn:aws:sqs:us-east-1:123456789012:other"], true).await;
    assert_eq!(sent[0]["DestinationArn"], "arn:aws:sqs:us-east-1:123456789012:other");
}

#[tokio::test]
async fn redrive_without_a_stack_to_ask_refuses_in_words() {
    let (out, sent) = redrive(&["--dlq-arn", "arn:aws:sqs:us-east-1:123456789012:stocks-dlq"], false).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("give --destination-arn"), "{stderr}");
    assert!(sent.is_empty(), "nothing was started");
}
