//! Adapters: the ports implemented over real services.
//!
//! - [`SqsQueue`] — aws-sdk-sqs: the jobs queue (ingress), the DLQ (worker), and the polling
//!   and moving the local stack and `stocksctl dlq` need. The only SQS code there is.
//! - [`ApiGatewayConnections`] — aws-sdk-apigatewaymanagement: `@connections` post/delete.
//! - [`PolygonClient`] — reqwest + rustls: Polygon daily aggregates, every request through the
//!   fleet's quota ([`crate::ports::MarketQuota`]).
//! - [`SharedMarket`] — answers shared by the worker fleet, and one market call for identical
//!   requests on different instances ([`crate::ports::SharedAnswers`]).
//! - [`DynamoMarketStore`] / [`MemoryMarketStore`] / [`FleetStore`] — the store the fleet
//!   shares for both: a DynamoDB table, or memory.
//! - [`read_api_key`] — the Polygon key from SSM Parameter Store.
//! - [`DynamoAccessStore`] — aws-sdk-dynamodb: tokens ([`crate::ports::TokenAdmin`]) and
//!   per-token rate counters ([`crate::ports::AccessStore`]).
//! - [`MarketCache`] — wraps any market: coalesces identical requests, keeps answers until the
//!   next market close.
//! - [`issue_token`], [`now_millis`] — what the stores take from the operating system.
//! - [`load_aws_config`], [`sdk_config`], [`loopback_sdk_config`] — SDK settings, every one
//!   with [`aws_timeouts`].
//!
//! In-memory versions live in the local stack (`stocks-local`) and in `stocks-testkit`.

mod access;
mod apigw;
mod aws;
mod dynamo;
mod market_cache;
mod market_store;
mod polygon;
mod shared_market;
mod sqs;
mod ssm;
mod system;

pub use access::DynamoAccessStore;
pub use apigw::ApiGatewayConnections;
pub use aws::{
    ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, OPERATION_TIMEOUT, load_aws_config, loopback_sdk_config, sdk_config,
    timeouts as aws_timeouts,
};
pub use market_cache::{CacheSettings, CacheStats, MarketCache};
pub use market_store::{DynamoMarketStore, FleetStore, MemoryMarketStore, QuotaSettings};
pub use polygon::{
    AggregatesPage, ApiKey, DEFAULT_BASE_URL as POLYGON_BASE_URL, FETCH_BUDGET, PolygonClient, PolygonSetupError,
    RetryPolicy, STORE_RETRY, TURN_WAIT, Unlimited, WORKER_MIN_TIMEOUT,
};
pub use shared_market::{LEASE, PEER_RETRY, PEER_WAIT, SharedMarket};
pub use sqs::{MoveTask, QueueDepth, SqsQueue, Walk, move_tasks, start_move_task};
pub use ssm::{SsmError, read_api_key};
pub use system::{issue_token, now_millis};
