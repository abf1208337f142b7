//! What the DynamoDB adapters share: sorting an SDK failure into what an operator must fix, and
//! attribute values.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::ports::BoxError;

/// What an operator must fix about a failed DynamoDB call.
pub(crate) enum Failure {
    /// A wrong name, another account or region, or a deleted table.
    NoSuchTable,
    /// IAM or the table's KMS key.
    AccessDenied(BoxError),
    /// No answer: DNS, a refused connection, a timeout.
    Unreachable(BoxError),
    /// Anything else DynamoDB refused (throttling, a bad item).
    Refused(BoxError),
}

/// Sorts an SDK failure.
pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or_default();
    let source = || DisplayErrorContext(&err).to_string().into();
    match code {
        "ResourceNotFoundException" => Failure::NoSuchTable,
        "AccessDeniedException" | "UnrecognizedClientException" | "KMSAccessDeniedException" => {
            Failure::AccessDenied(source())
        }
        _ if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => Failure::Unreachable(source()),
        _ => Failure::Refused(source()),
    }
}

/// A string attribute.
pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
