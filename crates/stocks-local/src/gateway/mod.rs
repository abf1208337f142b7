//! The API Gateway WebSocket emulator and its `@connections` management API.
//!
//! - [`socket`] — the handshake (`$connect` decides), the per-connection loop (frames become
//!   events for the real ingress handler; limits and lifetimes close it), `$disconnect`.
//! - [`management`] — `POST|GET|DELETE /{stage}/@connections/{id}`, as the AWS SDK calls it.
//! - [`journal`] — counters, per-request records and recent disconnects, for `/_local`.
//! - [`limits`] — API Gateway's quotas and a connection's idle and maximum lifetimes.
//!
//! A connection lives in a task that owns the socket's read half; everything written to the
//! client — answers posted through `@connections`, close frames — goes through one channel to
//! a writer task, in order.

pub mod journal;
pub mod limits;
pub mod management;
pub mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::{ApiGatewayRequestIdentity, ApiGatewayWebsocketProxyRequest};
use axum::extract::ws::Message;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use stocks_core::adapters::ApiGatewayConnections;
use stocks_core::domain::STOCKS_ACTION;
use stocks_core::handlers::{Authorizer, Ingress};
use stocks_core::ports::Clock;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::access::MemoryAccessStore;
use crate::queue::LocalQueue;
use journal::{Counters, Journal};
use limits::Limits;

/// The ingress as the local stack runs it: the real handler over the local queue, the local
/// `@connections` API (through the real SDK client) and the in-memory access table.
pub type LocalIngress = Ingress<Arc<LocalQueue>, Arc<ApiGatewayConnections>, Arc<MemoryAccessStore>>;

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
    /// The last message in either direction: the idle clock runs from here.
    last_message: Mutex<tokio::time::Instant>,
    source_ip: String,
    user_agent: String,
    /// Set when the server closes it: the code and reason its `$disconnect` will carry.
    closed_by_server: Mutex<Option<(u16, &'static str)>>,
}

impl Connection {
    /// A message went one way or the other: the idle clock starts again.
    fn active(&self) {
        *self.last_message.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now();
    }

    fn last_message(&self) -> tokio::time::Instant {
        *self.last_message.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a close frame and remembers the server closed it.
    fn close(&self, code: u16, reason: &'static str) {
        self.closed_by_server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert((code, reason));
        let _ = self.outbound.send(Outbound::Close(code, reason));
    }

    fn closed_by_server(&self) -> Option<(u16, &'static str)> {
        *self.closed_by_server.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An open connection, as `GET /_local/connections` lists it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenConnection {
    pub connection_id: String,
    pub connected_at: DateTime<Utc>,
    pub source_ip: String,
}

/// What a [`Gateway`] is built from.
pub struct Wiring {
    /// The stage: the WebSocket URL's path.
    pub stage: String,
    /// `HOST:PORT`, reported as the events' `domainName`.
    pub domain: String,
    /// API Gateway's quotas and lifetimes.
    pub limits: Limits,
    /// The real ingress handler, over the local queue and `@connections`.
    pub ingress: LocalIngress,
    /// `--auth tokens`: the access table the `$connect` authorizer reads; `None` lets anyone in.
    pub access: Option<Arc<MemoryAccessStore>>,
    /// Cancelled when the stack stops: every connection closes with 1001.
    pub shutdown: CancellationToken,
    /// The time stamped on events.
    pub clock: Clock,
}

/// API Gateway's side of the local stack: the open connections and what happens on them.
/// The queue, the market and the token store are not its business (see [`crate::admin`]).
pub struct Gateway {
    /// The stage: the WebSocket URL's path.
    pub stage: String,
    /// `HOST:PORT`, reported as the events' `domainName`.
    pub domain: String,
    /// API Gateway's quotas and lifetimes.
    pub limits: Limits,
    /// Every `stocksaction` and `$default` frame goes to it.
    pub ingress: LocalIngress,
    /// `--auth tokens`: the real `$connect` authorizer; `None` lets anyone in.
    pub authorizer: Option<Authorizer<Arc<MemoryAccessStore>>>,
    /// What the gateway delivered, counted.
    pub counters: Counters,
    /// What became of each request, and why connections ended.
    pub journal: Journal,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
    /// Cancelled when the stack stops.
    pub shutdown: CancellationToken,
    /// The time stamped on events.
    clock: Clock,
}

impl Gateway {
    /// A gateway with no connections yet.
    pub fn new(wiring: Wiring) -> Self {
        Self {
            stage: wiring.stage,
            domain: wiring.domain,
            limits: wiring.limits,
            ingress: wiring.ingress,
            authorizer: wiring.access.map(Authorizer::new),
            counters: Counters::default(),
            journal: Journal::default(),
            connections: Mutex::new(HashMap::new()),
            shutdown: wiring.shutdown,
            clock: wiring.clock,
        }
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Connection>>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections().get(id).cloned()
    }

    /// What time it is for the events.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// How many connections are open now.
    pub fn open_count(&self) -> usize {
        self.connections().len()
    }

    /// The open connections, oldest first.
    pub fn open_connections(&self) -> Vec<OpenConnection> {
        let mut open: Vec<_> = self
            .connections()
            .iter()
            .map(|(id, c)| OpenConnection {
                connection_id: id.clone(),
                connected_at: c.connected_at,
                source_ip: c.source_ip.clone(),
            })
            .collect();
        open.sort_by(|a, b| (a.connected_at, &a.connection_id).cmp(&(b.connected_at, &b.connection_id)));
        open
    }

    /// An event the way API Gateway fills it for this connection.
    fn event(
        &self,
        ids: &EventIds<'_>,
        route: &str,
        event_type: &str,
        body: Option<String>,
    ) -> ApiGatewayWebsocketProxyRequest {
        let now = self.clock.now();
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
        // What the authorizer allowed the connection with, on every event as API Gateway does.
        ctx.authorizer.fields = ids.authorizer.clone();
        event.is_base64_encoded = false;
        event.body = body;
        event
    }
}

/// Who an event is about.
#[derive(Clone, Debug)]
struct Peer {
    connection_id: String,
    connected_at: DateTime<Utc>,
    source_ip: String,
    user_agent: String,
    /// The authorizer's context (and `principalId`); empty with `--auth none`.
    authorizer: HashMap<String, serde_json::Value>,
}

/// [`Peer`] borrowed, for building events.
struct EventIds<'a> {
    connection_id: &'a str,
    connected_at: DateTime<Utc>,
    source_ip: &'a str,
    user_agent: &'a str,
    authorizer: &'a HashMap<String, serde_json::Value>,
}

impl Peer {
    fn ids(&self) -> EventIds<'_> {
        EventIds {
            connection_id: &self.connection_id,
            connected_at: self.connected_at,
            source_ip: &self.source_ip,
            user_agent: &self.user_agent,
            authorizer: &self.authorizer,
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
