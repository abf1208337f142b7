//! AWS settings for the commands that talk to real services (`local --queue sqs`, `dlq`).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

/// The normal credential chain and region (environment, profile, SSO, …). With an endpoint
/// override (moto, LocalStack, `stocksctl local --queue sqs`) and no credentials configured,
/// dummy ones — those services accept anything — and us-east-1 if no region is set anywhere.
pub async fn sdk_config(endpoint: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
            loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "stocksctl"));
        }
    }
    let config = loader.load().await;
    if config.region().is_none() && endpoint.is_some() {
        return config.into_builder().region(Region::new("us-east-1")).build();
    }
    config
}
