//! Adapters: the ports implemented over real services.
//!
//! - [`SqsQueue`] — aws-sdk-sqs: the jobs queue (ingress), the DLQ (worker), and the polling
//!   and moving the local stack and `stocksctl dlq` need. The only SQS code there is.
//! - [`ApiGatewayConnections`] — aws-sdk-apigatewaymanagement: `@connections` post/delete.
//! - [`PolygonClient`] — reqwest + rustls: Polygon daily aggregates, through a [`QuotaGate`].
//! - [`ssm`] — the Polygon key from Parameter Store.
//! - [`DynamoAccessStore`] — aws-sdk-dynamodb: tokens and per-token rate counters.
//! - [`MarketCache`] — wraps any market: coalesces identical requests, keeps answers until the
//!   next market close.
//! - [`aws`] — SDK settings for the Lambdas and for tools.
//!
//! In-memory versions live in the local stack (`stocks-local`) and in `stocks-testkit`.

pub mod access;
pub mod apigw;
pub mod aws;
pub mod market_cache;
pub mod polygon;
pub mod quota;
pub mod sqs;
pub mod ssm;

pub use access::DynamoAccessStore;
pub use apigw::ApiGatewayConnections;
pub use aws::{load_aws_config, loopback_sdk_config, sdk_config};
pub use market_cache::{CacheSettings, CacheStats, MarketCache};
pub use polygon::{AggregatesPage, ApiKey, FETCH_BUDGET, PolygonClient, RetryPolicy, WORKER_MIN_TIMEOUT};
pub use quota::{QuotaGate, QuotaSettings, RateLimit};
pub use sqs::{QueueDepth, SqsQueue};
