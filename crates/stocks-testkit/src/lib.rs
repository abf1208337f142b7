//! Test harness shared by the workspace's integration tests (never a runtime dependency).
//!
//! [`MotoServer`] runs a real SQS wire implementation (moto) on a free loopback port for the
//! length of one test and kills it on drop. `make test` installs moto into
//! `target/py/test` and points `MOTO_SERVER` at its `moto_server`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::{Credentials, Region};

/// Region every test client uses against moto.
pub const REGION: &str = "us-east-1";

/// A moto server process, killed when dropped.
pub struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    /// Starts `moto_server -p 0` and waits for the port it prints.
    ///
    /// Panics (failing the test, never skipping it) when moto is not installed.
    pub fn start() -> Self {
        let bin = moto_binary();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}. Run `make test` (it installs moto into target/py/test) or set MOTO_SERVER to a moto_server binary",
                    bin.display()
                )
            });
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        // Keep draining moto's log for its whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("Running on http://")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(line[at + "Running on ".len()..].trim().to_owned());
                }
            }
        });
        let endpoint = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(endpoint) => endpoint,
            Err(_) => {
                let _ = child.kill();
                panic!("moto_server did not report its port within 60 s");
            }
        };
        Self { child, endpoint }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SQS client pointed at this server with static test credentials.
    pub fn sqs_client(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
                .endpoint_url(&self.endpoint)
                .build(),
        )
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `MOTO_SERVER`, else the venv `make test` creates under the workspace's `target/`.
fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/py/test/bin/moto_server")
}
