//! What the DynamoDB adapters share: sorting an SDK failure into what an operator must fix, and
//! attribute values.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::ports::TableError;

/// Sorts a failed call on `table` into what an operator must fix.
pub(crate) fn classify<E, R>(table: &str, err: SdkError<E, R>) -> TableError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let table = table.to_owned();
    let code = err.as_service_error().and_then(|e| e.code()).unwrap_or_default();
    let source = || DisplayErrorContext(&err).to_string().into();
    match code {
        "ResourceNotFoundException" => TableError::NoSuchTable { table },
        "AccessDeniedException" | "UnrecognizedClientException" | "KMSAccessDeniedException" => {
            TableError::AccessDenied {
                table,
                source: source(),
            }
        }
        _ if matches!(err, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) => TableError::Unreachable {
            table,
            source: source(),
        },
        _ => TableError::Refused {
            table,
            source: source(),
        },
    }
}

/// A conditional call's result: `Ok(true)` when it was done, `Ok(false)` when its condition did
/// not hold, any other failure as it came.
pub(crate) fn condition_held<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
{
    match result {
        Ok(_) => Ok(true),
        Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException") => {
            Ok(false)
        }
        Err(err) => Err(err),
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
