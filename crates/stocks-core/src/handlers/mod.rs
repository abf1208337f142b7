//! Handlers: the request path, written only against [`crate::ports`].
//!
//! - [`authorize`] — the `$connect` REQUEST authorizer: token in, Allow or Deny out.
//! - [`lifecycle`] — `$connect` / `$disconnect`.
//! - [`ingress`] — `stocksaction` / `$default`: validate, ack, queue.
//! - [`worker`] — the SQS batch: fetch, report, deliver, dead-letter.
//!
//! Each Lambda binary and `stocksctl local` call these same functions.

pub mod authorize;
pub mod ingress;
pub mod lifecycle;
pub mod worker;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};

pub use authorize::{Authorizer, AuthorizerResponse, ConnectAuthorizerRequest, Decision, Denial};
pub use ingress::{Ingress, IngressError, IngressOutcome, NoAccessControl};
pub use lifecycle::{connect, disconnect};
pub use worker::{Deferral, Outcome, SILENCE_LIMIT, Worker, WorkerSettings};

/// The 200 every WebSocket route answers API Gateway with. Clients never see it (no route
/// responses are configured); everything they see goes through `@connections`.
pub fn ok_response() -> ApiGatewayProxyResponse {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = 200;
    response
}

/// API Gateway's id for this frame, which clients see as `requestId`.
fn request_id(request: &ApiGatewayWebsocketProxyRequest) -> String {
    let ctx = &request.request_context;
    ctx.request_id
        .clone()
        .or_else(|| ctx.extended_request_id.clone())
        .filter(|id| !id.is_empty())
        // Never absent from API Gateway; a generated id keeps hand-made events traceable.
        .unwrap_or_else(|| format!("local-{:016x}", fastrand::u64(..)))
}
