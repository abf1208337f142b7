//! Ports: one small trait per capability the handlers need.
//!
//! Handlers are generic over these and never name a concrete adapter, which is what lets the
//! very same handler code run in Lambda (AWS adapters), in `stocksctl local` (an in-memory queue
//! and the local `@connections` API) and in tests (hand-written fakes).
//!
//! Errors say what the caller must decide on — [`ConnectionError::Gone`] (client left, do not
//! retry) versus anything else, [`MarketError::Unavailable`] (retry later) versus
//! [`MarketError::Rejected`] (dead-letter now) versus [`MarketError::PlanLimit`] (tell the client)
//! versus [`MarketError::Wait`] (defer the job) — and keep their source for the logs.

mod access;
mod clock;
mod market;
mod messaging;

pub use access::*;
pub use clock::*;
pub use market::*;
pub use messaging::*;

/// A boxed error source, kept for logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a DynamoDB table could not answer, by what an operator must fix (it is named): the
/// access table's errors and the market store's.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A wrong name, another account or region, or a deleted table.
    #[error("no such table: {table}")]
    NoSuchTable {
        /// The table's name.
        table: String,
    },
    /// The credentials in use may not do this to the table (IAM, or its KMS key).
    #[error("access denied to table {table}: check the AWS credentials and their permissions")]
    AccessDenied {
        /// The table's name.
        table: String,
        /// What DynamoDB said.
        #[source]
        source: BoxError,
    },
    /// No answer at all: DNS, a refused connection, a timeout.
    #[error("cannot reach DynamoDB for table {table}")]
    Unreachable {
        /// The table's name.
        table: String,
        /// What the connection said.
        #[source]
        source: BoxError,
    },
    /// DynamoDB answered, refusing the request for another reason (throttling, a bad item).
    #[error("DynamoDB refused a request on table {table}")]
    Refused {
        /// The table's name.
        table: String,
        /// What DynamoDB said.
        #[source]
        source: BoxError,
    },
}

/// Renders an error with its whole `source()` chain, for one-line logs.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls() {
        assert_eq!(
            CallbackUrl::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod/")
                .unwrap()
                .as_str(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
        );
        assert_eq!(
            CallbackUrl::parse("http://127.0.0.1:8080/local").unwrap().as_str(),
            "http://127.0.0.1:8080/local"
        );
        for bad in ["", "abc.example.com/prod", "ftp://x/y", "https://", "https:///prod"] {
            assert!(CallbackUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            CallbackUrl::from_request("abc.execute-api.us-east-1.amazonaws.com", "prod")
                .unwrap()
                .as_str(),
            "https://abc.execute-api.us-east-1.amazonaws.com/prod"
        );
        assert_eq!(CallbackUrl::from_request("", "prod"), None);
    }

    #[test]
    fn error_chain_includes_sources() {
        let err = QueueError::Unreachable {
            queue: "https://sqs/q".into(),
            source: "connection refused".into(),
        };
        assert_eq!(
            error_chain(&err),
            "cannot reach SQS for https://sqs/q: connection refused"
        );
    }
}
