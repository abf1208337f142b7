//! AWS SDK settings: the Lambdas' own, and those of the tools that point at other endpoints.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

/// The AWS configuration of the running function (region, credentials from the environment).
pub async fn load_aws_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// The normal credential chain and region (environment, profile, SSO when the caller's build
/// enables it), for tools. With an endpoint override (moto, LocalStack, the local stack) and no
/// credentials configured, dummy ones — those services accept anything — and us-east-1 if no
/// region is set anywhere.
pub async fn sdk_config(endpoint: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
            loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "stocks"));
        }
    }
    let config = loader.load().await;
    if config.region().is_none() && endpoint.is_some() {
        return config.into_builder().region(Region::new("us-east-1")).build();
    }
    config
}

/// Settings for an endpoint that ignores signatures (the local stack's `@connections`): any
/// region, dummy credentials, nothing read from the environment.
pub fn loopback_sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(Credentials::new(
            "local", "local", None, None, "stocks",
        )))
        .build()
}
