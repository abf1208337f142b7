//! [`MotoServer`]: moto (real SQS and DynamoDB wire protocols) on a free loopback port, one per
//! test.
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
        Self::try_start().unwrap_or_else(|reason| panic!("{reason}"))
    }

    /// [`MotoServer::start`], or one sentence saying why moto could not be started.
    pub fn try_start() -> Result<Self, String> {
        let bin = moto_binary();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start moto ({}: {e}): run it through make (`make test` and `make bench` install moto into target/py/test), or set MOTO_SERVER to a moto_server binary",
                    bin.display()
                )
            })?;
        let stderr = child.stderr.take().ok_or("moto's stderr is not piped")?;
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
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(endpoint) => Ok(Self { child, endpoint }),
            Err(_) => {
                let _ = child.kill();
                Err(format!("{} did not report its port within 60 s", bin.display()))
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK settings for any client of this server: its endpoint, [`REGION`], static test
    /// credentials.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "moto",
            )))
            .endpoint_url(&self.endpoint)
            .build()
    }

    /// An SQS client pointed at this server.
    pub fn sqs_client(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config())
    }
}

impl MotoServer {
    /// A DynamoDB client pointed at this server.
    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config())
    }

    /// A table as Terraform creates the access and market tables: partition key `pk`
    /// (string), on demand.
    pub async fn table(&self, name: &str) -> aws_sdk_dynamodb::Client {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let client = self.dynamodb_client();
        client
            .create_table()
            .table_name(name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .unwrap();
        client
    }
}

/// A jobs queue and the dead-letter queue it redrives to.
#[derive(Clone, Debug)]
pub struct Queues {
    pub jobs_url: String,
    pub dlq_url: String,
    pub dlq_arn: String,
}

impl MotoServer {
    /// Creates `<name>` redriving to `<name>-dlq` after `max_receive_count` receives (no redrive
    /// policy when `None`), with the given visibility timeout (SQS's 30 s when `None`).
    pub async fn jobs_and_dlq(
        &self,
        name: &str,
        max_receive_count: Option<u32>,
        visibility_timeout_secs: Option<u32>,
    ) -> Queues {
        use aws_sdk_sqs::types::QueueAttributeName;
        let sqs = self.sqs_client();
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let mut jobs = sqs.create_queue().queue_name(name);
        if let Some(max) = max_receive_count {
            let policy = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max}"}}"#);
            jobs = jobs.attributes(QueueAttributeName::RedrivePolicy, policy);
        }
        if let Some(secs) = visibility_timeout_secs {
            jobs = jobs.attributes(QueueAttributeName::VisibilityTimeout, secs.to_string());
        }
        let jobs_url = jobs.send().await.unwrap().queue_url.unwrap();
        Queues {
            jobs_url,
            dlq_url,
            dlq_arn,
        }
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
