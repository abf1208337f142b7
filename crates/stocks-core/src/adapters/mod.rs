//! Adapters: the ports implemented over real services.
//!
//! - [`SqsQueue`] — aws-sdk-sqs: jobs queue (ingress) and dead-letter queue (worker).
//! - [`ApiGatewayConnections`] — aws-sdk-apigatewaymanagement: `@connections` post/delete.
//! - [`PolygonClient`] — reqwest + rustls: Polygon daily aggregates.
//! - [`ssm`] — the Polygon key from Parameter Store.
//! - [`MarketCache`] — wraps any market: coalesces identical requests, keeps answers until the
//!   next market close.
//!
//! In-memory versions live with the local gateway (`stocksctl local`) and in the tests.

pub mod apigw;
pub mod market_cache;
pub mod polygon;
pub mod sqs;
pub mod ssm;

pub use apigw::ApiGatewayConnections;
pub use market_cache::{CacheSettings, MarketCache};
pub use polygon::{AggregatesPage, ApiKey, PolygonClient, RetryPolicy};
pub use sqs::SqsQueue;

/// The AWS configuration of the running function (region, credentials from the environment).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
