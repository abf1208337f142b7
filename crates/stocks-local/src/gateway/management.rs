//! The `@connections` management API, as API Gateway serves it under the stage and the AWS
//! SDK's `apigatewaymanagementapi` client calls it: unknown or closed ids are 410 Gone.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::Message;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use stocks_core::domain::ClientMessage;
use tracing::info;

use super::journal::Counters;
use super::{Gateway, Outbound};

/// `POST /{stage}/@connections/{id}`: send the body to the client.
pub async fn post_to_connection(State(gw): State<Arc<Gateway>>, Path(id): Path<String>, body: Bytes) -> Response {
    if body.len() > gw.limits.max_message {
        return aws_error(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLargeException");
    }
    let message = serde_json::from_slice::<ClientMessage>(&body).ok();
    let frame = match std::str::from_utf8(&body) {
        Ok(text) => Message::Text(text.to_owned().into()),
        Err(_) => Message::Binary(body.clone()),
    };
    // Counted once, after the send was tried: delivered, or gone.
    let delivered = gw.connection(&id).is_some_and(|conn| {
        conn.active();
        conn.outbound.send(Outbound::Frame(frame)).is_ok()
    });
    if let Some(m) = &message
        && let Some(request_id) = &m.request_id
    {
        gw.journal.record(request_id, m.status_code, delivered);
    }
    if !delivered {
        Counters::bump(&gw.counters.gone);
        info!(target: "stocks_local", "→ {id} 410 gone (the client had left)");
        return gone();
    }
    count_and_log(&gw, &id, message, body.len());
    StatusCode::OK.into_response()
}

/// One concise terminal line per message, and the stats counters.
fn count_and_log(gw: &Gateway, id: &str, message: Option<ClientMessage>, len: usize) {
    let Some(msg) = message else {
        info!(target: "stocks_local", "→ {id} {len} bytes");
        return;
    };
    let ticker = msg.ticker.as_deref().unwrap_or("-");
    match (msg.status_code, msg.error, msg.report_data) {
        (202, _, _) if msg.is_queued() => {
            let wait = msg.retry_in_seconds.unwrap_or(0);
            info!(target: "stocks_local", "→ {id} 202 queued {ticker}, retrying in {wait} s");
        }
        (202, _, _) => {
            Counters::bump(&gw.counters.accepted);
            info!(target: "stocks_local", "→ {id} 202 accepted {ticker}");
        }
        (200, _, Some(r)) => {
            Counters::bump(&gw.counters.reported);
            let window = match (msg.from, msg.to) {
                (Some(f), Some(t)) => format!("{f}..{t}"),
                _ => String::new(),
            };
            info!(
                target: "stocks_local",
                "→ {id} 200 report {ticker} {window} ({} bars) avg {:.2} min {:.2} max {:.2}",
                msg.bars.unwrap_or(0), r.avg_stock, r.min_stock, r.max_stock
            );
        }
        (status, Some(code), _) => {
            Counters::bump(&gw.counters.errors);
            info!(target: "stocks_local", "→ {id} {status} {code} {ticker}");
        }
        (status, None, _) => info!(target: "stocks_local", "→ {id} {status} {ticker}"),
    }
}

/// `GET /{stage}/@connections/{id}`: API Gateway's GetConnection shape.
pub async fn get_connection(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let Some(conn) = gw.connection(&id) else { return gone() };
    let last = *conn.last_active_at.lock().unwrap_or_else(|p| p.into_inner());
    axum::Json(serde_json::json!({
        "connectedAt": conn.connected_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
        "lastActiveAt": last.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }))
    .into_response()
}

/// `DELETE /{stage}/@connections/{id}`: close the connection from the server side.
pub async fn delete_connection(State(gw): State<Arc<Gateway>>, Path(id): Path<String>) -> Response {
    let Some(conn) = gw.connections().remove(&id) else {
        return gone();
    };
    conn.close(1000, "Connection deleted by the server");
    StatusCode::NO_CONTENT.into_response()
}

fn gone() -> Response {
    aws_error(StatusCode::GONE, "GoneException")
}

fn aws_error(status: StatusCode, error_type: &'static str) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({"message": null}))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    response
}
