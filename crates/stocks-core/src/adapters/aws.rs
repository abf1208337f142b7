//! AWS SDK settings: the Lambdas' own, and those of the tools that point at other endpoints.
//!
//! Every config built here carries [`timeouts`]: without them a stalled SQS, `@connections`,
//! SSM or DynamoDB call waits for the Lambda timeout and fails the whole batch, instead of the
//! one call failing in seconds and the handler deciding what that means.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

/// The longest one AWS call may take, retries included: four of them fit in the ingress's 10 s
/// timeout, and the worker's calls after its market fetch fit in its 20 s
/// ([`super::polygon::WORKER_MIN_TIMEOUT`]).
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);
/// The longest one attempt may take (a slow attempt is retried once within the operation).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);
/// The longest a TCP + TLS connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Operation, attempt and connect timeouts for every AWS client.
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(OPERATION_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

/// The AWS configuration of the running function (region, credentials from the environment).
pub async fn load_aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}

/// The normal credential chain and region (environment, profile, SSO when the caller's build
/// enables it), for tools. With an endpoint override (moto, LocalStack, the local stack) and no
/// credentials configured, dummy ones — those services accept anything — and us-east-1 if no
/// region is set anywhere.
pub async fn sdk_config(endpoint: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts());
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
        .timeout_config(timeouts())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_config_built_here_has_the_timeouts() {
        let expected = Some(timeouts());
        assert_eq!(loopback_sdk_config().timeout_config().cloned(), expected);
        let tools = sdk_config(Some("http://127.0.0.1:9"), Some("eu-west-1")).await;
        assert_eq!(tools.timeout_config().cloned(), expected);
        let lambda = load_aws_config().await;
        assert_eq!(lambda.timeout_config().cloned(), expected);
    }
}
