//! `/_local/*`: what a developer (and the tests) can ask the running stack.
//!
//! | path | answers |
//! |---|---|
//! | `GET /_local/stats` | [`Stats`] counters |
//! | `GET /_local/dlq` | the dead jobs with their failure attributes |
//! | `GET /_local/connections` | open connections, oldest first |
//! | `GET /_local/disconnects` | the last 1 000 disconnects with status and reason |
//! | `GET /_local/requests` | per request id, the statuses delivered and those that met 410 |
//! | `GET`/`PUT /_local/faults` | the demo market's failure rate, and answers still to fail |
//! | `POST`/`GET /_local/tokens`, `DELETE /_local/tokens/{name}` | `--auth tokens`: create (the token shown once), list, revoke |

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use stocks_core::domain::{DEFAULT_RATE_PER_MINUTE, NewToken};
use stocks_core::ports::{TokenAdmin, TokenAdminError, error_chain};
use tracing::warn;

use crate::access::MemoryAccessStore;
use crate::gateway::Gateway;
use crate::gateway::journal::{Counters, Stats};
use crate::mapping::Instances;
use crate::market::MarketState;
use crate::queue::LocalQueue;

/// What `/_local` reads: each piece of the stack, owned by that piece and shared here.
pub struct LocalApi {
    /// Connections, deliveries, the request journal.
    pub gateway: Arc<Gateway>,
    /// The DLQ and the deferrals.
    pub queue: Arc<LocalQueue>,
    /// The demo market's counters and faults.
    pub market: Arc<MarketState>,
    /// `--auth tokens`: the access table; `None` with `--auth none`.
    pub tokens: Option<Arc<MemoryAccessStore>>,
    /// Every worker instance ever started.
    pub instances: Arc<Instances>,
}

impl LocalApi {
    /// The counters `GET /_local/stats` returns.
    pub async fn stats(&self) -> Stats {
        let count = |counted: Result<u64, stocks_core::ports::QueueError>, what: &str| {
            counted.unwrap_or_else(|err| {
                warn!(error = %error_chain(&err), "could not count the {what}");
                0
            })
        };
        let (jobs, dlq) = tokio::join!(self.queue.jobs_len(), self.queue.dlq_len());
        let (jobs, dlq) = (count(jobs, "jobs queue"), count(dlq, "DLQ"));
        let counters = &self.gateway.counters;
        Stats {
            connections: self.gateway.open_count() as u64,
            accepted: Counters::read(&counters.accepted),
            reported: Counters::read(&counters.reported),
            errors: Counters::read(&counters.errors),
            gone: Counters::read(&counters.gone),
            refused: Counters::read(&counters.refused),
            jobs,
            dlq,
            market_requests: Counters::read(&self.market.requests),
            market_throttled: Counters::read(&self.market.throttled),
            deferred: self.queue.deferred(),
            instances: self.instances.stats(),
        }
    }
}

/// Every `/_local` route.
pub fn routes() -> Router<Arc<LocalApi>> {
    Router::new()
        .route("/_local/stats", get(stats))
        .route("/_local/dlq", get(dead_letters))
        .route("/_local/connections", get(connections))
        .route("/_local/disconnects", get(disconnects))
        .route("/_local/requests", get(requests))
        .route("/_local/faults", get(get_faults).put(put_faults))
        .route("/_local/tokens", get(list_tokens).post(create_token))
        .route("/_local/tokens/{name}", axum::routing::delete(revoke_token))
}

async fn stats(State(api): State<Arc<LocalApi>>) -> axum::Json<Stats> {
    axum::Json(api.stats().await)
}

async fn connections(State(api): State<Arc<LocalApi>>) -> Response {
    axum::Json(api.gateway.open_connections()).into_response()
}

async fn disconnects(State(api): State<Arc<LocalApi>>) -> Response {
    axum::Json(api.gateway.journal.disconnects()).into_response()
}

async fn requests(State(api): State<Arc<LocalApi>>) -> Response {
    axum::Json(api.gateway.journal.requests()).into_response()
}

async fn dead_letters(State(api): State<Arc<LocalApi>>) -> Response {
    match api.queue.dead_jobs().await {
        Ok(jobs) => axum::Json(jobs).into_response(),
        Err(err) => (StatusCode::BAD_GATEWAY, error_chain(&err)).into_response(),
    }
}

/// The demo market's faults: a failure rate, and a number of responses still to fail (503).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct FaultSettings {
    rate: f64,
    #[serde(default)]
    fail_next: u64,
}

fn fault_settings(market: &MarketState) -> Response {
    axum::Json(FaultSettings {
        rate: market.faults.rate(),
        fail_next: market.faults.fail_next(),
    })
    .into_response()
}

async fn get_faults(State(api): State<Arc<LocalApi>>) -> Response {
    fault_settings(&api.market)
}

/// `PUT /_local/faults {"rate": 0.5, "failNext": 3}`: change the demo market's failure rate
/// while serving, and make the next `failNext` answers 503s.
async fn put_faults(State(api): State<Arc<LocalApi>>, axum::Json(settings): axum::Json<FaultSettings>) -> Response {
    if !(0.0..=1.0).contains(&settings.rate) {
        return (StatusCode::BAD_REQUEST, "rate must be between 0 and 1").into_response();
    }
    api.market.faults.set_rate(settings.rate);
    api.market.faults.set_fail_next(settings.fail_next);
    fault_settings(&api.market)
}

/// `POST /_local/tokens` body.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewTokenRequest {
    name: String,
    #[serde(default = "default_rate")]
    rate_per_minute: u32,
}

fn default_rate() -> u32 {
    DEFAULT_RATE_PER_MINUTE
}

fn refusal(status: StatusCode, error: impl std::fmt::Display) -> Response {
    (status, axum::Json(serde_json::json!({ "error": error.to_string() }))).into_response()
}

fn admin_error(err: TokenAdminError) -> Response {
    let status = match err {
        TokenAdminError::NameTaken(_) => StatusCode::CONFLICT,
        TokenAdminError::NoSuchToken(_) => StatusCode::NOT_FOUND,
        TokenAdminError::Rule(_) => StatusCode::BAD_REQUEST,
        TokenAdminError::Access(_) => StatusCode::BAD_GATEWAY,
    };
    refusal(status, err)
}

/// The token store, or the refusal a stack without one answers: tokens mean something only
/// when they are checked.
fn token_store(api: &LocalApi) -> Result<&MemoryAccessStore, Box<Response>> {
    api.tokens.as_deref().ok_or_else(|| {
        Box::new(refusal(
            StatusCode::CONFLICT,
            "this stack runs with --auth none: tokens are not checked; start it with --auth tokens",
        ))
    })
}

/// `POST /_local/tokens {"name","ratePerMinute"}` → `{"token","tokenId","name","ratePerMinute"}`.
async fn create_token(State(api): State<Arc<LocalApi>>, body: axum::body::Bytes) -> Response {
    let store = match token_store(&api) {
        Ok(store) => store,
        Err(refused) => return *refused,
    };
    let Ok(request) = serde_json::from_slice::<NewTokenRequest>(&body) else {
        return refusal(StatusCode::BAD_REQUEST, "send {\"name\": \"…\", \"ratePerMinute\": 60}");
    };
    let new = match NewToken::new(&request.name, request.rate_per_minute) {
        Ok(new) => new,
        Err(err) => return admin_error(err.into()),
    };
    match store.create(&new).await {
        Ok((token, record)) => (
            StatusCode::CREATED,
            axum::Json(serde_json::json!({
                "token": token.reveal(), "tokenId": record.token_id, "name": record.name,
                "ratePerMinute": record.rate_per_minute, "createdAt": record.created_at,
            })),
        )
            .into_response(),
        Err(err) => admin_error(err),
    }
}

/// `GET /_local/tokens`: every token, never a token or a hash.
async fn list_tokens(State(api): State<Arc<LocalApi>>) -> Response {
    match token_store(&api) {
        Ok(store) => match store.list().await {
            Ok(records) => axum::Json(records).into_response(),
            Err(err) => admin_error(err),
        },
        Err(refused) => *refused,
    }
}

/// `DELETE /_local/tokens/{name}`: revoke.
async fn revoke_token(
    State(api): State<Arc<LocalApi>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let store = match token_store(&api) {
        Ok(store) => store,
        Err(refused) => return *refused,
    };
    match store.revoke(&name).await {
        Ok(record) => axum::Json(record).into_response(),
        Err(err) => admin_error(err),
    }
}
