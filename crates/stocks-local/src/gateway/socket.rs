//! The WebSocket side: the handshake with `$connect` deciding, one task per connection that
//! turns text frames into events for the real ingress handler, the limits and lifetimes that
//! close it, and `$disconnect` once it is closed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use futures::{SinkExt, StreamExt};
use stocks_core::handlers::authorize::{ConnectContext, TOKEN_PARAMETER};
use stocks_core::handlers::{self, Authorizer, ConnectAuthorizerRequest};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::journal::{Counters, Disconnect};
use super::limits::Lifetime;
use super::{Connection, Gateway, Outbound, Peer, api_gateway_id, select_route};
use crate::access::MemoryAccessStore;

/// `GET /{stage}`: the WebSocket handshake — the authorizer first (with `--auth tokens`), then
/// `$connect` deciding.
pub async fn upgrade(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let mut peer = Peer {
        connection_id: api_gateway_id(),
        connected_at: gw.now(),
        source_ip: addr.ip().to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        authorizer: HashMap::new(),
    };
    if let Some(authorizer) = &gw.authorizer {
        match authorize(&gw, authorizer, &peer, query.as_deref().unwrap_or_default()).await {
            Ok(context) => peer.authorizer = context,
            Err(status) => {
                Counters::bump(&gw.counters.refused);
                info!(target: "stocks_local", "refused     a connection from {} ({status})", peer.source_ip);
                let message = match status {
                    StatusCode::UNAUTHORIZED => "Unauthorized",
                    StatusCode::FORBIDDEN => "Forbidden",
                    _ => "Internal server error",
                };
                return (status, axum::Json(serde_json::json!({ "message": message }))).into_response();
            }
        }
    }
    let answer = handlers::connect(&gw.event(&peer.ids(), "$connect", "CONNECT", None));
    if !(200..300).contains(&answer.status_code) {
        let status = StatusCode::from_u16(answer.status_code as u16).unwrap_or(StatusCode::FORBIDDEN);
        return status.into_response();
    }
    let limits = gw.limits;
    ws.max_frame_size(limits.max_frame)
        .max_message_size(limits.max_message)
        .on_upgrade(move |socket| serve_connection(gw, socket, peer))
}

async fn serve_connection(gw: Arc<Gateway>, socket: WebSocket, peer: Peer) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = Arc::new(Connection {
        outbound: tx,
        connected_at: peer.connected_at,
        last_active_at: Mutex::new(peer.connected_at),
        last_message: Mutex::new(tokio::time::Instant::now()),
        source_ip: peer.source_ip.clone(),
        user_agent: peer.user_agent.clone(),
        closed_by_server: Mutex::new(None),
    });
    let id = peer.connection_id.clone();
    gw.connections().insert(id.clone(), conn.clone());
    info!(target: "stocks_local", "connect     {id} from {}", peer.source_ip);

    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let (frame, last) = match out {
                Outbound::Frame(frame) => (frame, false),
                Outbound::Close(code, reason) => (
                    Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    })),
                    true,
                ),
            };
            if sink.send(frame).await.is_err() || last {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let lifetime = Lifetime::start(&gw.limits, tokio::time::Instant::now());
    let (status, reason): (u16, &'static str) = loop {
        let (deadline, expiry) = lifetime.deadline(conn.last_message());
        tokio::select! {
            frame = stream.next() => {
                conn.active();
                *conn.last_active_at.lock().unwrap_or_else(|p| p.into_inner()) = Utc::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let (gw, peer) = (gw.clone(), peer.clone());
                        tokio::spawn(async move { on_message(&gw, &peer, text.to_string(), false).await });
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let (gw, peer) = (gw.clone(), peer.clone());
                        let body = base64::engine::general_purpose::STANDARD.encode(&bytes);
                        tokio::spawn(async move { on_message(&gw, &peer, body, true).await });
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        break conn.closed_by_server().unwrap_or_else(|| {
                            (frame.map_or(1005, |f| f.code), "Client-side close frame status code")
                        });
                    }
                    Some(Err(err)) if is_too_big(&err) => {
                        conn.close(1009, "Message too big");
                        break (1009, "Message too big");
                    }
                    Some(Err(_)) | None => {
                        break conn.closed_by_server().unwrap_or((1006, "Connection closed abnormally"));
                    }
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                // The server may have sent something since the deadline was set.
                if lifetime.deadline(conn.last_message()).0 > tokio::time::Instant::now() {
                    continue;
                }
                conn.close(1001, "Going away");
                break (1001, expiry.reason());
            }
            () = gw.shutdown.cancelled() => {
                conn.close(1001, "Going away");
                break (1001, "Server shutting down");
            }
        }
    };
    gw.connections().remove(&id);
    drop(conn);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;

    let mut event = gw.event(&peer.ids(), "$disconnect", "DISCONNECT", None);
    event.request_context.disconnect_status_code = Some(i64::from(status));
    event.request_context.disconnect_reason = Some(reason.to_owned());
    handlers::disconnect(&event);
    gw.journal.disconnected(Disconnect {
        connection_id: id.clone(),
        connected_at: peer.connected_at,
        disconnected_at: Utc::now(),
        status_code: status,
        reason: reason.to_owned(),
    });
    info!(target: "stocks_local", "disconnect  {id} ({status} {reason})");
}

/// What API Gateway does with a REQUEST authorizer on `$connect`: a missing or empty `token`
/// (the identity source) is 401 without calling it; otherwise the authorizer gets the query
/// string (single and multi-valued, as API Gateway passes them) and its Deny is 403, its failure
/// 500. An Allow's context, with `principalId`, is what every later event carries.
async fn authorize(
    gw: &Gateway,
    authorizer: &Authorizer<Arc<MemoryAccessStore>>,
    peer: &Peer,
    query: &str,
) -> Result<HashMap<String, serde_json::Value>, StatusCode> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    if pairs.iter().all(|(k, v)| k != TOKEN_PARAMETER || v.is_empty()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let mut single = HashMap::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in pairs {
        single.insert(key.clone(), value.clone());
        multi.entry(key).or_default().push(value);
    }
    let request = ConnectAuthorizerRequest {
        kind: Some("REQUEST".into()),
        method_arn: format!("arn:aws:execute-api:local:000000000000:local/{}/$connect", gw.stage),
        query_string_parameters: single,
        multi_value_query_string_parameters: multi,
        request_context: ConnectContext {
            connection_id: Some(peer.connection_id.clone()),
            route_key: Some("$connect".into()),
            event_type: Some("CONNECT".into()),
            request_id: Some(api_gateway_id()),
            stage: Some(gw.stage.clone()),
            domain_name: Some(gw.domain.clone()),
            api_id: Some("local".into()),
            connected_at: Some(peer.connected_at.timestamp_millis()),
            request_time_epoch: Some(gw.now().timestamp_millis()),
        },
    };
    match authorizer.handle(request).await {
        Ok(answer) if answer.allows() => {
            let mut context: HashMap<String, serde_json::Value> = answer.context.into_iter().collect();
            context.insert("principalId".into(), answer.principal_id.into());
            Ok(context)
        }
        Ok(_) => Err(StatusCode::FORBIDDEN),
        Err(_) => Err(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

fn is_too_big(err: &axum::Error) -> bool {
    use std::error::Error;
    use tokio_tungstenite::tungstenite;
    err.source()
        .and_then(|s| s.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// One client frame through route selection and the ingress handler.
async fn on_message(gw: &Gateway, peer: &Peer, body: String, binary: bool) {
    let route = if binary { "$default" } else { select_route(&body) };
    let mut event = gw.event(&peer.ids(), route, "MESSAGE", Some(body));
    event.is_base64_encoded = binary;
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    if let Err(err) = gw.ingress.handle(event).await {
        // What API Gateway sends when the integration fails.
        let id = &peer.connection_id;
        warn!(target: "stocks_local", "ingress failed for {id}: {}", stocks_core::ports::error_chain(&err));
        if let Some(conn) = gw.connection(id) {
            let text =
                serde_json::json!({"message": "Internal server error", "connectionId": id, "requestId": request_id})
                    .to_string();
            let _ = conn.outbound.send(Outbound::Frame(Message::Text(text.into())));
        }
    }
}
