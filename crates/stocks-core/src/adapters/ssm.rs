//! Reading the Polygon key from SSM Parameter Store (a SecureString), once per cold start.

use aws_sdk_ssm::Client;

use super::polygon::ApiKey;
use crate::ports::BoxError;

/// Why the Polygon key could not be read (the worker cannot start).
#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    /// SSM refused or could not be reached: a wrong name, no permission, a KMS key that
    /// does not let the function decrypt.
    #[error("could not read SSM parameter {name:?}")]
    Request {
        /// The parameter's name.
        name: String,
        /// What SSM said.
        #[source]
        source: BoxError,
    },
    /// The parameter holds nothing that can be a key.
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
