//! The API Gateway WebSocket emulator and its `@connections` management API.
//!
//! A connection lives in a task that owns the socket's read half; everything written to the
//! client — answers posted through `@connections`, close frames — goes through one channel to
//! a writer task, in order. The `$connect` handler runs during the handshake (a non-2xx answer
//! refuses the connection, as in API Gateway); every text frame becomes an
//! `ApiGatewayWebsocketProxyRequest` routed on `$request.body.action` and handed to the real
//! ingress handler on its own task; `$disconnect` runs after the socket closes, with API
//! Gateway's status code and reason.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::apigw::{ApiGatewayRequestIdentity, ApiGatewayWebsocketProxyRequest};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use stocks_core::adapters::ApiGatewayConnections;
use stocks_core::domain::{ClientMessage, STOCKS_ACTION};
use stocks_core::handlers::{self, Ingress};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::queue::LocalQueue;

/// API Gateway's WebSocket quotas, and this emulator's knobs for them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest single frame (API Gateway: 32 KB).
    pub max_frame: usize,
    /// Largest message, all its frames together (API Gateway: 128 KB).
    pub max_message: usize,
    /// Closed after this long without a frame from the client (API Gateway: 10 minutes).
    pub idle_timeout: Duration,
    /// Closed this long after connecting, whatever happens (API Gateway: 2 hours).
    pub max_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame: 32 * 1024,
            max_message: 128 * 1024,
            idle_timeout: Duration::from_secs(10 * 60),
            max_lifetime: Duration::from_secs(2 * 60 * 60),
        }
    }
}

/// Counters `GET /_local/stats` reports (the connection and DLQ counts are read live).
#[derive(Default)]
pub struct Counters {
    accepted: AtomicU64,
    reported: AtomicU64,
    errors: AtomicU64,
    gone: AtomicU64,
}

/// What `GET /_local/stats` returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Stats {
    /// Open now.
    pub connections: u64,
    /// 202s sent.
    pub accepted: u64,
    /// 200 reports sent.
    pub reported: u64,
    /// Error messages sent (400s, 404s, 503s).
    pub errors: u64,
    /// `@connections` posts that met 410 Gone.
    pub gone: u64,
    /// Jobs in the dead-letter queue now.
    pub dlq: u64,
}

/// What the `@connections` posts about one request became (`GET /_local/requests`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RequestRecord {
    /// Status codes of the messages delivered to the client, in order (202 first).
    pub delivered: Vec<u16>,
    /// Status codes of the messages that met 410 Gone.
    pub gone: Vec<u16>,
}

/// Per-request records, the newest [`JOURNAL_CAPACITY`] requests.
#[derive(Default)]
struct Journal {
    records: HashMap<String, RequestRecord>,
    order: std::collections::VecDeque<String>,
}

/// Requests the journal remembers before forgetting the oldest.
pub const JOURNAL_CAPACITY: usize = 100_000;

/// Something to write to a client.
enum Outbound {
    Frame(Message),
    Close(u16, &'static str),
}

/// A live connection, as `@connections` sees it.
struct Connection {
    outbound: mpsc::UnboundedSender<Outbound>,
    connected_at: DateTime<Utc>,
    last_active_at: Mutex<DateTime<Utc>>,
    source_ip: String,
    user_agent: String,
    /// Who closed it and why, for `$disconnect` (set when the server closes it).
    closed_by_server: Mutex<Option<(u16, &'static str)>>,
}

/// Everything the emulator's routes share.
pub struct Gateway {
    pub stage: String,
    /// `HOST:PORT`, reported as the events' `domainName`.
    pub domain: String,
    pub limits: Limits,
    pub ingress: Ingress<Arc<LocalQueue>, Arc<ApiGatewayConnections>>,
    pub queue: Arc<LocalQueue>,
    pub counters: Counters,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
    journal: Mutex<Journal>,
    pub shutdown: CancellationToken,
}

impl Gateway {
    pub fn new(
        stage: String,
        domain: String,
        limits: Limits,
        ingress: Ingress<Arc<LocalQueue>, Arc<ApiGatewayConnections>>,
        queue: Arc<LocalQueue>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            stage,
            domain,
            limits,
            ingress,
            queue,
            counters: Counters::default(),
            connections: Mutex::new(HashMap::new()),
            journal: Mutex::new(Journal::default()),
            shutdown,
        }
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Connection>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a post under its request id.
    fn journal(&self, message: Option<&ClientMessage>, delivered: bool) {
        let Some((request_id, status)) = message.and_then(|m| Some((m.request_id.clone()?, m.status_code))) else {
            return;
        };
        let mut journal = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if !journal.records.contains_key(&request_id) {
            if journal.order.len() >= JOURNAL_CAPACITY
                && let Some(oldest) = journal.order.pop_front()
            {
                journal.records.remove(&oldest);
            }
            journal.order.push_back(request_id.clone());
        }
        let record = journal.records.entry(request_id).or_default();
        if delivered {
            record.delivered.push(status)
        } else {
            record.gone.push(status)
        }
    }

    pub fn requests(&self) -> HashMap<String, RequestRecord> {
        self.journal.lock().unwrap_or_else(|p| p.into_inner()).records.clone()
    }

    fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections().get(id).cloned()
    }

    pub async fn stats(&self) -> Stats {
        let dlq = match self.queue.dlq_len().await {
            Ok(n) => n as u64,
            Err(err) => {
                warn!(error = %stocks_core::ports::error_chain(&err), "could not count the DLQ");
                0
            }
        };
        Stats {
            connections: self.connections().len() as u64,
            accepted: self.counters.accepted.load(Ordering::Relaxed),
            reported: self.counters.reported.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            gone: self.counters.gone.load(Ordering::Relaxed),
            dlq,
        }
    }

    /// An event the way API Gateway fills it for this connection.
    fn event(
        &self,
        ids: &EventIds<'_>,
        route: &str,
        event_type: &str,
        body: Option<String>,
    ) -> ApiGatewayWebsocketProxyRequest {
        let now = Utc::now();
        let request_id = api_gateway_id();
        let mut identity = ApiGatewayRequestIdentity::default();
        identity.source_ip = Some(ids.source_ip.to_owned());
        identity.user_agent = Some(ids.user_agent.to_owned());
        let mut event = ApiGatewayWebsocketProxyRequest::default();
        let ctx = &mut event.request_context;
        ctx.route_key = Some(route.to_owned());
        ctx.event_type = Some(event_type.to_owned());
        ctx.message_id = (event_type == "MESSAGE").then(api_gateway_id);
        ctx.extended_request_id = Some(request_id.clone());
        ctx.request_id = Some(request_id);
        ctx.request_time = Some(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
        ctx.request_time_epoch = now.timestamp_millis();
        ctx.message_direction = Some("IN".to_owned());
        ctx.stage = Some(self.stage.clone());
        ctx.connected_at = ids.connected_at.timestamp_millis();
        ctx.identity = identity;
        ctx.domain_name = Some(self.domain.clone());
        ctx.connection_id = Some(ids.connection_id.to_owned());
        ctx.apiid = Some("local".to_owned());
        event.is_base64_encoded = false;
        event.body = body;
        event
    }
}

/// Who an event is about.
struct EventIds<'a> {
    connection_id: &'a str,
    connected_at: DateTime<Utc>,
    source_ip: &'a str,
    user_agent: &'a str,
}

/// `GET /{stage}`: the WebSocket handshake, with `$connect` deciding.
pub async fn upgrade(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let connection_id = api_gateway_id();
    let connected_at = Utc::now();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let source_ip = peer.ip().to_string();
    let ids = EventIds {
        connection_id: &connection_id,
        connected_at,
        source_ip: &source_ip,
        user_agent: &user_agent,
    };
    let answer = handlers::connect(&gw.event(&ids, "$connect", "CONNECT", None));
    if !(200..300).contains(&answer.status_code) {
        let status = StatusCode::from_u16(answer.status_code as u16).unwrap_or(StatusCode::FORBIDDEN);
        return status.into_response();
    }
    let limits = gw.limits;
    ws.max_frame_size(limits.max_frame)
        .max_message_size(limits.max_message)
        .on_upgrade(move |socket| async move {
            serve_connection(gw, socket, connection_id, connected_at, source_ip, user_agent).await;
        })
}

async fn serve_connection(
    gw: Arc<Gateway>,
    socket: WebSocket,
    connection_id: String,
    connected_at: DateTime<Utc>,
    source_ip: String,
    user_agent: String,
) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn = Arc::new(Connection {
        outbound: tx,
        connected_at,
        last_active_at: Mutex::new(connected_at),
        source_ip: source_ip.clone(),
        user_agent: user_agent.clone(),
        closed_by_server: Mutex::new(None),
    });
    gw.connections().insert(connection_id.clone(), conn.clone());
    info!(target: "stocksctl::local", "connect     {connection_id} from {source_ip}");

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

    let limits = gw.limits;
    let hard_stop = tokio::time::sleep(limits.max_lifetime);
    tokio::pin!(hard_stop);
    let (status, reason): (u16, &'static str) = loop {
        let idle = tokio::time::sleep(limits.idle_timeout);
        tokio::select! {
            frame = stream.next() => {
                *conn.last_active_at.lock().unwrap_or_else(|p| p.into_inner()) = Utc::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let gw = gw.clone();
                        let ids = (connection_id.clone(), source_ip.clone(), user_agent.clone());
                        tokio::spawn(async move { on_message(&gw, ids, connected_at, text.to_string(), false).await });
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        let gw = gw.clone();
                        let ids = (connection_id.clone(), source_ip.clone(), user_agent.clone());
                        let body = base64::engine::general_purpose::STANDARD.encode(&bytes);
                        tokio::spawn(async move { on_message(&gw, ids, connected_at, body, true).await });
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        break match conn.closed_by_server.lock().unwrap_or_else(|p| p.into_inner()).take() {
                            Some(server) => server,
                            None => (frame.map_or(1005, |f| f.code), "Client-side close frame status code"),
                        };
                    }
                    Some(Err(err)) if is_too_big(&err) => {
                        close(&conn, 1009, "Message too big");
                        break (1009, "Message too big");
                    }
                    Some(Err(_)) | None => {
                        break conn.closed_by_server.lock().unwrap_or_else(|p| p.into_inner()).take()
                            .unwrap_or((1006, "Connection closed abnormally"));
                    }
                }
            }
            () = idle => {
                close(&conn, 1001, "Going away");
                break (1001, "Idle timeout");
            }
            () = &mut hard_stop => {
                close(&conn, 1001, "Going away");
                break (1001, "Connection exceeded its maximum duration");
            }
            () = gw.shutdown.cancelled() => {
                close(&conn, 1001, "Going away");
                break (1001, "Server shutting down");
            }
        }
    };
    gw.connections().remove(&connection_id);
    drop(conn);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;

    let ids = EventIds {
        connection_id: &connection_id,
        connected_at,
        source_ip: &source_ip,
        user_agent: &user_agent,
    };
    let mut event = gw.event(&ids, "$disconnect", "DISCONNECT", None);
    event.request_context.disconnect_status_code = Some(i64::from(status));
    event.request_context.disconnect_reason = Some(reason.to_owned());
    handlers::disconnect(&event);
    info!(target: "stocksctl::local", "disconnect  {connection_id} ({status} {reason})");
}

/// Queues a close frame and remembers the server closed it.
fn close(conn: &Connection, code: u16, reason: &'static str) {
    conn.closed_by_server
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert((code, reason));
    let _ = conn.outbound.send(Outbound::Close(code, reason));
}

fn is_too_big(err: &axum::Error) -> bool {
    use std::error::Error;
    use tokio_tungstenite::tungstenite;
    err.source()
        .and_then(|s| s.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// One client frame through route selection and the ingress handler.
async fn on_message(
    gw: &Gateway,
    (connection_id, source_ip, user_agent): (String, String, String),
    connected_at: DateTime<Utc>,
    body: String,
    binary: bool,
) {
    let route = if binary { "$default" } else { select_route(&body) };
    let ids = EventIds {
        connection_id: &connection_id,
        connected_at,
        source_ip: &source_ip,
        user_agent: &user_agent,
    };
    let mut event = gw.event(&ids, route, "MESSAGE", Some(body));
    event.is_base64_encoded = binary;
    let request_id = event.request_context.request_id.clone().unwrap_or_default();
    if let Err(err) = gw.ingress.handle(event).await {
        // What API Gateway sends when the integration fails.
        warn!(target: "stocksctl::local", "ingress failed for {connection_id}: {}", stocks_core::ports::error_chain(&err));
        if let Some(conn) = gw.connection(&connection_id) {
            let text = serde_json::json!({"message": "Internal server error", "connectionId": connection_id, "requestId": request_id}).to_string();
            let _ = conn.outbound.send(Outbound::Frame(Message::Text(text.into())));
        }
    }
}

/// `$request.body.action`: the route named by a string `action` if it exists, else `$default`.
pub fn select_route(body: &str) -> &'static str {
    #[derive(serde::Deserialize)]
    struct Selector {
        action: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Selector>(body) {
        Ok(Selector {
            action: Some(serde_json::Value::String(action)),
        }) if action == STOCKS_ACTION => STOCKS_ACTION,
        _ => "$default",
    }
}

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
    let delivered = gw
        .connection(&id)
        .is_some_and(|conn| conn.outbound.send(Outbound::Frame(frame)).is_ok());
    gw.journal(message.as_ref(), delivered);
    if !delivered {
        gw.counters.gone.fetch_add(1, Ordering::Relaxed);
        info!(target: "stocksctl::local", "→ {id} 410 gone (the client had left)");
        return gone();
    }
    count_and_log(&gw, &id, message, body.len());
    StatusCode::OK.into_response()
}

/// One concise terminal line per message, and the stats counters.
fn count_and_log(gw: &Gateway, id: &str, message: Option<ClientMessage>, len: usize) {
    let Some(msg) = message else {
        info!(target: "stocksctl::local", "→ {id} {len} bytes");
        return;
    };
    let ticker = msg.ticker.as_deref().unwrap_or("-");
    match (msg.status_code, msg.error, msg.report_data) {
        (202, _, _) => {
            gw.counters.accepted.fetch_add(1, Ordering::Relaxed);
            info!(target: "stocksctl::local", "→ {id} 202 accepted {ticker}");
        }
        (200, _, Some(r)) => {
            gw.counters.reported.fetch_add(1, Ordering::Relaxed);
            let window = match (msg.from, msg.to) {
                (Some(f), Some(t)) => format!("{f}..{t}"),
                _ => String::new(),
            };
            info!(
                target: "stocksctl::local",
                "→ {id} 200 report {ticker} {window} ({} bars) avg {:.2} min {:.2} max {:.2}",
                msg.bars.unwrap_or(0), r.avg_stock, r.min_stock, r.max_stock
            );
        }
        (status, Some(code), _) => {
            gw.counters.errors.fetch_add(1, Ordering::Relaxed);
            info!(target: "stocksctl::local", "→ {id} {status} {code} {ticker}");
        }
        (status, None, _) => info!(target: "stocksctl::local", "→ {id} {status} {ticker}"),
    }
}

/// `GET /_local/connections`: the open connections, oldest first.
pub async fn list_connections(State(gw): State<Arc<Gateway>>) -> Response {
    let mut open: Vec<_> = gw
        .connections()
        .iter()
        .map(|(id, c)| (c.connected_at, id.clone(), c.source_ip.clone()))
        .collect();
    open.sort();
    let list: Vec<_> = open
        .into_iter()
        .map(|(at, id, ip)| serde_json::json!({"connectionId": id, "connectedAt": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "sourceIp": ip}))
        .collect();
    axum::Json(list).into_response()
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
    close(&conn, 1000, "Connection deleted by the server");
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

/// An id in API Gateway's style: 16 characters of base64 ending in `=` (`TWegAcC4EowCHnA=`).
pub fn api_gateway_id() -> String {
    let bytes: [u8; 11] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_selection_matches_api_gateway() {
        assert_eq!(
            select_route(r#"{"action":"stocksaction","ticker":"MSFT"}"#),
            "stocksaction"
        );
        for body in [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"action":null}"#,
            r#"{"action":"STOCKSACTION"}"#,
            r#"{"Action":"stocksaction"}"#,
            r#"{"action":["stocksaction"]}"#,
            r#"{"action":"sell"}"#,
        ] {
            assert_eq!(select_route(body), "$default", "{body}");
        }
    }

    #[test]
    fn ids_look_like_api_gateway_ids() {
        let id = api_gateway_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
        assert_ne!(id, api_gateway_id());
    }
}
