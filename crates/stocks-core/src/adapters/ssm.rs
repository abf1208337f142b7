//! Reading the Polygon key from SSM Parameter Store (a SecureString), once per cold start.

use aws_config::SdkConfig;
use aws_sdk_ssm::Client;

use super::polygon::ApiKey;
use crate::ports::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error("could not read SSM parameter {name:?}")]
    Request {
        name: String,
        #[source]
        source: BoxError,
    },
    #[error("SSM parameter {0:?} is empty or not a printable ASCII key")]
    Empty(String),
}

/// `GetParameter` with decryption; the value never touches a log.
pub async fn read_api_key(client: &Client, name: &str) -> Result<ApiKey, SsmError> {
    let output = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| SsmError::Request {
            name: name.to_owned(),
            source: e.into(),
        })?;
    output
        .parameter
        .and_then(|p| p.value)
        .and_then(ApiKey::new)
        .ok_or_else(|| SsmError::Empty(name.to_owned()))
}

/// [`read_api_key`] with a client built from the Lambda's own configuration.
pub async fn read_api_key_with(config: &SdkConfig, name: &str) -> Result<ApiKey, SsmError> {
    read_api_key(&Client::new(config), name).await
}
