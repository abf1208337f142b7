//! `$connect` and `$disconnect`: nothing to decide, one structured log line each.
//!
//! API Gateway accepts the connection when `$connect` answers 200. `$disconnect` is best effort
//! (API Gateway may not deliver it), so nothing may depend on it.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use tracing::info;

use super::{ok_response, request_id};

/// `$connect`: log and allow.
pub fn connect(request: &ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let ctx = &request.request_context;
    info!(
        event = "connect",
        connectionId = ctx.connection_id.as_deref().unwrap_or_default(),
        requestId = %request_id(request),
        connectedAt = ctx.connected_at,
        "client connected"
    );
    ok_response()
}

/// `$disconnect`: log who left and why.
pub fn disconnect(request: &ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
    let ctx = &request.request_context;
    let connected_ms =
        (ctx.request_time_epoch > 0 && ctx.connected_at > 0).then(|| ctx.request_time_epoch - ctx.connected_at);
    info!(
        event = "disconnect",
        connectionId = ctx.connection_id.as_deref().unwrap_or_default(),
        requestId = %request_id(request),
        disconnectStatusCode = ctx.disconnect_status_code,
        disconnectReason = ctx.disconnect_reason.as_deref().unwrap_or_default(),
        connected_ms,
        "client disconnected"
    );
    ok_response()
}
