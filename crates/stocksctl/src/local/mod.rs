//! `stocksctl local`: the whole pipeline on one port, offline, running the real handlers.
//!
//! ```text
//! ws://HOST:PORT/STAGE                  WebSocket API (API Gateway emulation)  → ingress handler
//! /STAGE/@connections/{id}              @connections API (POST, GET, DELETE)   ← ingress and worker, via the AWS SDK
//! /v2/aggs/ticker/{T}/range/1/day/…     demo market (Polygon's shape)          ← worker, via its reqwest client
//! /_local/stats, /_local/dlq, /_local/connections, /_local/requests, /_local/faults
//! ```
//!
//! Jobs go through an in-memory queue with SQS semantics (or a real SQS endpoint); an
//! event-source-mapping loop feeds them to the worker handler in batches and deletes what it
//! did not report as failed. Nothing here decides anything about requests: that is all
//! stocks-core, exactly as deployed.
//!
//! - [`gateway`] — WebSocket emulation and `@connections`.
//! - [`queue`] — the in-memory SQS and the SQS-endpoint alternative.
//! - [`market`] — the synthetic demo market and its fault injection.

pub mod gateway;
pub mod market;
pub mod queue;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use stocks_core::adapters::{
    ApiGatewayConnections, ApiKey, CacheSettings, MarketCache, PolygonClient, RetryPolicy, SqsQueue,
};
use stocks_core::domain::WindowDays;
use stocks_core::handlers::{Ingress, Worker};
use stocks_core::ports::{CallbackUrl, error_chain};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use gateway::{Gateway, Limits};
use market::{Faults, MarketState};
use queue::{LocalQueue, MemoryQueue, QueueSettings};

/// Where market data comes from.
#[derive(Clone, Debug)]
pub enum MarketMode {
    /// The built-in synthetic market on the same port.
    Demo,
    /// The real Polygon API.
    Polygon { base_url: String, key: ApiKey },
}

/// Where jobs are queued.
#[derive(Clone, Debug)]
pub enum QueueMode {
    /// In memory, with SQS semantics.
    Memory,
    /// Any SQS-compatible service (moto, LocalStack, real SQS).
    Sqs {
        endpoint: Option<String>,
        region: Option<String>,
        queue_url: String,
        dlq_url: String,
    },
}

/// Everything `stocksctl local` can be told.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub stage: String,
    pub market: MarketMode,
    pub queue: QueueMode,
    pub visibility_timeout: Duration,
    pub max_receive_count: u32,
    /// Records per worker invocation (SQS allows 1..=10).
    pub batch_size: usize,
    /// Worker invocations in flight at once (the mapping's maximum concurrency).
    pub concurrency: usize,
    pub limits: Limits,
    pub window_days: WindowDays,
    /// Share of demo-market responses that fail.
    pub fault_rate: f64,
    pub fault_seed: Option<u64>,
    /// Extra delay on every demo-market response.
    pub market_latency: Duration,
    /// The worker's Polygon retry policy.
    pub retry: RetryPolicy,
    /// The worker's market cache (as deployed: identical requests coalesced, answers kept until
    /// the next market close).
    pub cache: CacheSettings,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            stage: "local".into(),
            market: MarketMode::Demo,
            queue: QueueMode::Memory,
            visibility_timeout: Duration::from_secs(10),
            max_receive_count: 3,
            batch_size: 10,
            concurrency: 5,
            limits: Limits::default(),
            window_days: WindowDays::DEFAULT,
            fault_rate: 0.0,
            fault_seed: None,
            market_latency: Duration::ZERO,
            // Shorter than in Lambda so a stalled demo response costs seconds, not tens.
            retry: RetryPolicy {
                request_timeout: Duration::from_secs(2),
                budget: Duration::from_secs(10),
                ..RetryPolicy::default()
            },
            cache: CacheSettings::default(),
        }
    }
}

/// Why the local stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("stage name {0:?} must be letters, digits, '-' or '_'")]
    Stage(String),
    #[error("could not read the listening address")]
    Address(#[source] std::io::Error),
    #[error("could not set up the Polygon client")]
    Polygon(#[source] stocks_core::adapters::polygon::PolygonSetupError),
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
}

/// The line printed when ready; scripts wait for it.
pub fn ready_line(addr: SocketAddr, config: &LocalConfig) -> String {
    let market = match config.market {
        MarketMode::Demo => "demo — synthetic prices, not real quotes",
        MarketMode::Polygon { .. } => "polygon — real data",
    };
    let queue = match config.queue {
        QueueMode::Memory => "memory",
        QueueMode::Sqs { .. } => "sqs",
    };
    format!(
        "listening on ws://{addr}/{} (market: {market}; queue: {queue})",
        config.stage
    )
}

/// Serves until `shutdown` resolves, then closes every connection (1001) and stops the mapping.
pub async fn serve(
    listener: TcpListener,
    config: LocalConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    if config.stage.is_empty()
        || !config
            .stage
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(StartError::Stage(config.stage));
    }
    let addr = listener.local_addr().map_err(StartError::Address)?;
    let base = format!("http://{addr}");
    let callback = CallbackUrl::parse(&format!("{base}/{}", config.stage)).expect("a loopback URL is valid");
    let cancel = CancellationToken::new();

    let queue = Arc::new(match &config.queue {
        QueueMode::Memory => LocalQueue::Memory(MemoryQueue::new(QueueSettings {
            visibility_timeout: config.visibility_timeout,
            max_receive_count: config.max_receive_count,
        })),
        QueueMode::Sqs {
            endpoint,
            region,
            queue_url,
            dlq_url,
        } => {
            let sdk = crate::aws::sdk_config(endpoint.as_deref(), region.as_deref()).await;
            LocalQueue::Sqs {
                jobs: SqsQueue::from_sdk(&sdk, queue_url),
                dlq: SqsQueue::from_sdk(&sdk, dlq_url),
                receiving: tokio::sync::Mutex::new(()),
            }
        }
    });
    // The handlers reach @connections through the real AWS SDK client, signed with dummy
    // credentials the local API ignores.
    let connections = Arc::new(ApiGatewayConnections::from_sdk(&loopback_sdk_config()));
    let (market_base, key) = match &config.market {
        MarketMode::Demo => (base.clone(), ApiKey::new("demo").expect("valid key")),
        MarketMode::Polygon { base_url, key } => (base_url.clone(), key.clone()),
    };
    let polygon = PolygonClient::new(&market_base, &key, config.retry).map_err(StartError::Polygon)?;
    let worker = Arc::new(Worker::new(
        MarketCache::new(polygon, config.cache),
        connections.clone(),
        queue.clone(),
        callback.clone(),
        config.max_receive_count,
    ));
    let ingress = Ingress::new(queue.clone(), connections, Some(callback), config.window_days);

    let gateway = Arc::new(Gateway::new(
        config.stage.clone(),
        addr.to_string(),
        config.limits,
        ingress,
        queue.clone(),
        cancel.clone(),
    ));
    let market = Arc::new(MarketState {
        faults: Faults::new(
            config.fault_rate,
            config.fault_seed,
            config.retry.request_timeout + Duration::from_secs(1),
        ),
        latency: config.market_latency,
    });
    let app = router(&config, gateway, market);

    let mapping = tokio::spawn(event_source_mapping(
        queue,
        worker,
        config.batch_size,
        config.concurrency,
        cancel.clone(),
    ));
    let stop = cancel.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    // Small WebSocket frames and @connections calls must not wait on Nagle's algorithm for the
    // peer's delayed ACK (40 ms each time; measured by `stocksctl bench`).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .await;
    cancel.cancel();
    let _ = mapping.await;
    served.map_err(StartError::Serve)
}

fn router(config: &LocalConfig, gateway: Arc<Gateway>, market: Arc<MarketState>) -> Router {
    let stage = &config.stage;
    let mut app = Router::new()
        .route(&format!("/{stage}"), get(gateway::upgrade))
        .route(
            &format!("/{stage}/@connections/{{id}}"),
            get(gateway::get_connection)
                .post(gateway::post_to_connection)
                .delete(gateway::delete_connection),
        )
        .route("/_local/stats", get(stats))
        .route("/_local/dlq", get(dead_letters))
        .route("/_local/connections", get(gateway::list_connections))
        .route("/_local/requests", get(requests))
        .with_state(gateway);
    let faults = Router::new().route("/_local/faults", get(get_faults).put(put_faults));
    let market_routes = match config.market {
        MarketMode::Demo => faults.route(
            "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}",
            get(market::aggregates),
        ),
        MarketMode::Polygon { .. } => faults,
    };
    app = app.merge(market_routes.with_state(market));
    app
}

async fn stats(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.stats().await).into_response()
}

/// `GET /_local/requests`: request id -> the statuses delivered to its client, and those that
/// met 410 Gone.
async fn requests(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.requests()).into_response()
}

async fn dead_letters(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.queue.dead_jobs().await {
        Ok(jobs) => axum::Json(jobs).into_response(),
        Err(err) => (axum::http::StatusCode::BAD_GATEWAY, error_chain(&err)).into_response(),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct FaultSettings {
    rate: f64,
}

async fn get_faults(State(market): State<Arc<MarketState>>) -> Response {
    axum::Json(FaultSettings {
        rate: market.faults.rate(),
    })
    .into_response()
}

/// `PUT /_local/faults {"rate": 0.5}`: change the demo market's failure rate while serving.
async fn put_faults(
    State(market): State<Arc<MarketState>>,
    axum::Json(settings): axum::Json<FaultSettings>,
) -> Response {
    if !(0.0..=1.0).contains(&settings.rate) {
        return (axum::http::StatusCode::BAD_REQUEST, "rate must be between 0 and 1").into_response();
    }
    market.faults.set_rate(settings.rate);
    axum::Json(FaultSettings {
        rate: market.faults.rate(),
    })
    .into_response()
}

/// Lambda's SQS event-source mapping: `concurrency` pollers, each receiving up to
/// `batch_size` records, invoking the worker, and deleting every record it did not report as
/// failed (all of them stay when the response names an empty id, as Lambda does).
async fn event_source_mapping<M, C, D>(
    queue: Arc<LocalQueue>,
    worker: Arc<Worker<M, C, D>>,
    batch_size: usize,
    concurrency: usize,
    cancel: CancellationToken,
) where
    M: stocks_core::ports::MarketData + 'static,
    C: stocks_core::ports::Connections + 'static,
    D: stocks_core::ports::DeadLetters + 'static,
{
    let pollers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (queue, worker, cancel) = (queue.clone(), worker.clone(), cancel.clone());
            tokio::spawn(async move {
                loop {
                    let records = tokio::select! {
                        () = cancel.cancelled() => return,
                        batch = queue.receive(batch_size.clamp(1, 10), Duration::from_secs(1)) => batch,
                    };
                    let records = match records {
                        Ok(records) if records.is_empty() => continue,
                        Ok(records) => records,
                        Err(err) => {
                            warn!(target: "stocksctl::local", "queue receive failed: {}", error_chain(&err));
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    };
                    let mut event = SqsEvent::default();
                    event.records = records;
                    let response = worker.handle(event.clone()).await;
                    let failed: std::collections::HashSet<_> = response
                        .batch_item_failures
                        .iter()
                        .map(|f| f.item_identifier.as_str())
                        .collect();
                    if failed.contains("") {
                        continue;
                    }
                    // Everything not reported as failed goes, in one call, as Lambda's
                    // mapping does: deleting one by one can outlast the visibility timeout
                    // under load, and SQS would deliver the job again.
                    let done: Vec<&str> = event
                        .records
                        .iter()
                        .filter(|r| !failed.contains(r.message_id.as_deref().unwrap_or_default()))
                        .filter_map(|r| r.receipt_handle.as_deref())
                        .collect();
                    match queue.delete_batch(&done).await {
                        Ok(refused) if refused.is_empty() => {}
                        Ok(refused) => {
                            warn!(target: "stocksctl::local", "SQS refused to delete {} message(s)", refused.len())
                        }
                        Err(err) => warn!(target: "stocksctl::local", "queue delete failed: {}", error_chain(&err)),
                    }
                }
            })
        })
        .collect();
    for poller in pollers {
        let _ = poller.await;
    }
}

/// SDK settings for the local `@connections` API: any region, dummy credentials.
fn loopback_sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local",
            "local",
            None,
            None,
            "stocksctl",
        )))
        .build()
}
