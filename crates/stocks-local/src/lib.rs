//! The stocks WebSocket service on one machine, offline, running the real handlers.
//!
//! ```text
//! ws://HOST:PORT/STAGE                  WebSocket API (API Gateway emulation)  → ingress handler
//! /STAGE/@connections/{id}              @connections API (POST, GET, DELETE)   ← ingress and worker, via the AWS SDK
//! /v2/aggs/ticker/{T}/range/1/day/…     demo market (Polygon's shape)          ← worker, via its reqwest client
//! /_local/…                             stats, DLQ, connections, requests, faults
//! /                                     the web console (a browser client of the WebSocket API)
//! ```
//!
//! Jobs go through an in-memory queue with SQS semantics (or a real SQS endpoint); an
//! event-source-mapping loop feeds them to the worker handler in batches and deletes what it
//! did not report as failed. Nothing here decides anything about requests: that is all
//! stocks-core, exactly as deployed. `stocksctl local` is a thin command line over [`serve`].
//!
//! # Layout
//!
//! - [`config`] — [`LocalConfig`], the one source of every default.
//! - [`access`] — the access table in memory (`--auth tokens`).
//! - [`gateway`] — API Gateway WebSocket emulation: the socket loop, `@connections`, the
//!   request journal, limits and lifetimes.
//! - [`queue`] — the in-memory SQS and the SQS-endpoint alternative.
//! - [`mapping`] — the event-source mapping that invokes the worker.
//! - [`market`] — the synthetic demo market and its fault injection.
//! - [`admin`] — the `/_local` endpoints.
//! - [`console`] — the web console at `GET /`.

#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod access;
pub mod admin;
pub mod config;
pub mod console;
pub mod gateway;
pub mod mapping;
pub mod market;
pub mod queue;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use stocks_core::adapters::{
    ApiGatewayConnections, ApiKey, MarketCache, MemoryMarketStore, PolygonClient, SharedMarket, SqsQueue,
    loopback_sdk_config, sdk_config,
};
use stocks_core::handlers::{Ingress, Worker, WorkerSettings};
use stocks_core::ports::CallbackUrl;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{AuthMode, Limits, LocalConfig, MarketMode, MarketPlan, PerPeriod, QueueMode, StartError};
pub use gateway::journal::{Disconnect, RequestRecord, Stats};
use gateway::{Gateway, management, socket};
pub use mapping::InstanceStats;
use market::{Faults, MarketState};
use queue::{LocalQueue, MemoryQueue, QueueSettings};

/// The line printed when ready; scripts wait for it.
pub fn ready_line(addr: SocketAddr, config: &LocalConfig) -> String {
    let market = match (&config.market, config.demo_quota()) {
        (MarketMode::Demo, None) => "demo — synthetic prices, not real quotes".to_owned(),
        (MarketMode::Demo, Some(quota)) => format!("demo — synthetic prices, not real quotes, quota {quota}"),
        (MarketMode::Polygon { .. }, _) => "polygon — real data".to_owned(),
    };
    let queue = match config.queue {
        QueueMode::Memory => "memory",
        QueueMode::Sqs { .. } => "sqs",
    };
    let auth = match config.auth {
        AuthMode::None => "none",
        AuthMode::Tokens => "tokens",
    };
    format!(
        "listening on ws://{addr}/{} (market: {market}; queue: {queue}; auth: {auth})",
        config.stage
    )
}

/// The line printed after [`ready_line`]: where a browser finds the console.
pub fn console_line(addr: SocketAddr) -> String {
    format!("console at http://{addr}/ (open it in a browser)")
}

/// Serves on `listener` until `shutdown` resolves, then closes every connection (1001) and
/// stops the mapping. A configuration it cannot serve is refused before anything starts.
pub async fn serve(
    listener: TcpListener,
    config: LocalConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    Stack::build(listener, config).await?.run(shutdown).await
}

/// A local stack, built and checked, not yet serving.
pub struct Stack {
    listener: TcpListener,
    app: Router,
    mapping: mapping::Mapping,
    cancel: CancellationToken,
}

impl Stack {
    /// Checks `config` and wires every piece; nothing runs yet.
    pub async fn build(listener: TcpListener, config: LocalConfig) -> Result<Self, StartError> {
        config.check()?;
        let addr = listener.local_addr().map_err(StartError::Address)?;
        let base = format!("http://{addr}");
        let callback = CallbackUrl::parse(&format!("{base}/{}", config.stage)).map_err(StartError::Callback)?;
        let cancel = CancellationToken::new();

        let queue = Arc::new(match &config.queue {
            QueueMode::Memory => LocalQueue::memory(MemoryQueue::new(QueueSettings {
                visibility_timeout: config.visibility_timeout,
                max_receive_count: config.max_receive_count,
            })),
            QueueMode::Sqs {
                endpoint,
                region,
                queue_url,
                dlq_url,
            } => {
                let jobs = SqsQueue::from_sdk(&sdk_config(endpoint.as_deref(), region.as_deref()).await, queue_url);
                let dlq = jobs.sibling(dlq_url);
                LocalQueue::sqs(jobs, dlq)
            }
        });
        // The handlers reach @connections through the real AWS SDK client, signed with dummy
        // credentials the local API ignores.
        let connections = Arc::new(ApiGatewayConnections::from_sdk(&loopback_sdk_config()));
        let (market_base, key) = match &config.market {
            MarketMode::Demo => (base.clone(), ApiKey::new("demo").ok_or(StartError::Key)?),
            MarketMode::Polygon { base_url, key } => (base_url.clone(), key.clone()),
        };
        // What the fleet shares: one market store for every instance, as one table deployed.
        let store = Arc::new(MemoryMarketStore::new(config.fleet_rate()));
        let polygon = PolygonClient::new(&market_base, &key, config.retry)
            .map_err(StartError::Polygon)?
            .with_quota(store.clone(), config.quota);
        let start_instance: mapping::StartInstance = {
            let (connections, queue) = (connections.clone(), queue.clone());
            let settings = WorkerSettings {
                max_job_age: config.max_job_age,
                ..WorkerSettings::new(callback.clone(), config.max_receive_count)
            };
            let cache = config.cache;
            Box::new(move || {
                // Each instance its own Polygon client (and request count) and first-level cache.
                let polygon = polygon.for_instance();
                let market_requests = polygon.request_counter();
                let worker = Worker::new(
                    MarketCache::new(
                        SharedMarket::new(polygon, store.clone()).keeping(cache.entries > 0),
                        cache,
                    ),
                    connections.clone(),
                    queue.clone(),
                    queue.clone(),
                    settings.clone(),
                );
                mapping::Instance {
                    function: Arc::new(worker),
                    market_requests,
                }
            })
        };
        // With --auth tokens, the real authorizer and the real ingress rate check, over memory.
        let tokens = (config.auth == AuthMode::Tokens).then(|| Arc::new(access::MemoryAccessStore::default()));
        let ingress = Ingress::new(
            queue.clone(),
            connections,
            tokens.clone(),
            Some(callback),
            config.window_days,
        );

        let market = Arc::new(MarketState::new(
            Faults::new(
                config.fault_rate,
                config.fault_seed,
                config.retry.request_timeout + Duration::from_secs(1),
            ),
            config.market_latency,
            config.demo_quota(),
            config.market_plan.history_months(),
        ));
        let mapping = mapping::Mapping::new(
            queue.clone(),
            start_instance,
            config.batch_size,
            config.worker_instances,
            config.instance_max_age,
        );
        let gateway = Arc::new(Gateway::new(gateway::Wiring {
            stage: config.stage.clone(),
            domain: addr.to_string(),
            limits: config.limits,
            ingress,
            access: tokens.clone(),
            shutdown: cancel.clone(),
            clock: config.clock.clone(),
        }));
        let api = Arc::new(admin::LocalApi {
            gateway: gateway.clone(),
            queue,
            market: market.clone(),
            tokens,
            instances: mapping.registry(),
        });
        let app = router(&config, gateway, api, market);
        Ok(Self {
            listener,
            app,
            mapping,
            cancel,
        })
    }

    /// Serves until `shutdown` resolves, then closes every connection (1001) and stops the
    /// mapping.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), StartError> {
        let Self {
            listener,
            app,
            mapping,
            cancel,
        } = self;
        let mapping = tokio::spawn(mapping.run(cancel.clone()));
        let stop = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            stop.cancel();
        });
        // Small WebSocket frames and @connections calls must not wait on Nagle's algorithm for
        // the peer's delayed ACK (40 ms each time; measured by `make bench`).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .await;
        cancel.cancel();
        let mapped = mapping.await;
        served.map_err(StartError::Serve)?;
        mapped.map_err(|e| StartError::Panicked(e.to_string()))
    }
}

fn router(config: &LocalConfig, gateway: Arc<Gateway>, api: Arc<admin::LocalApi>, market: Arc<MarketState>) -> Router {
    let stage = &config.stage;
    let gateway_routes = Router::new()
        .route(&format!("/{stage}"), get(socket::upgrade))
        .route(
            &format!("/{stage}/@connections/{{id}}"),
            get(management::get_connection)
                .post(management::post_to_connection)
                .delete(management::delete_connection),
        )
        .with_state(gateway);
    let mut market_routes = Router::new();
    if let MarketMode::Demo = config.market {
        market_routes = market_routes.route(
            "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}",
            get(market::aggregates),
        );
    }
    gateway_routes
        .merge(admin::routes().with_state(api))
        .merge(market_routes.with_state(market))
        .merge(console::routes(stage))
}

/// A local stack serving in this process on a free loopback port, stopped when dropped (for
/// the bench and the tests).
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its stage.
    pub stage: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), StartError>>>,
}

impl Running {
    /// Binds `127.0.0.1:0`, checks `config` and serves it there; a configuration that cannot
    /// be served is refused here, before anything runs.
    pub async fn start(config: LocalConfig) -> Result<Self, StartError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(StartError::Address)?;
        let addr = listener.local_addr().map_err(StartError::Address)?;
        let stage = config.stage.clone();
        let stack = Stack::build(listener, config).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(stack.run(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stage,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `ws://127.0.0.1:PORT/STAGE`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.stage)
    }

    /// Stops serving and waits for the shutdown to finish: its error, or a panic in it, is
    /// the answer.
    pub async fn stop(mut self) -> Result<(), StartError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| StartError::Panicked(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
