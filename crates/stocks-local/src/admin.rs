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
use stocks_core::ports::error_chain;

use stocks_core::adapters::access::TokenAdminError;

use crate::gateway::Gateway;
use crate::gateway::journal::Stats;
use crate::market::MarketState;

/// The routes over the gateway's state.
pub fn gateway_routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/_local/stats", get(stats))
        .route("/_local/dlq", get(dead_letters))
        .route("/_local/connections", get(connections))
        .route("/_local/disconnects", get(disconnects))
        .route("/_local/requests", get(requests))
        .route("/_local/tokens", get(list_tokens).post(create_token))
        .route("/_local/tokens/{name}", axum::routing::delete(revoke_token))
}

/// The routes over the demo market's state.
pub fn market_routes() -> Router<Arc<MarketState>> {
    Router::new().route("/_local/faults", get(get_faults).put(put_faults))
}

async fn stats(State(gw): State<Arc<Gateway>>) -> axum::Json<Stats> {
    axum::Json(gw.stats().await)
}

async fn connections(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.open_connections()).into_response()
}

async fn disconnects(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.journal.disconnects()).into_response()
}

async fn requests(State(gw): State<Arc<Gateway>>) -> Response {
    axum::Json(gw.journal.requests()).into_response()
}

async fn dead_letters(State(gw): State<Arc<Gateway>>) -> Response {
    match gw.queue.dead_jobs().await {
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

async fn get_faults(State(market): State<Arc<MarketState>>) -> Response {
    fault_settings(&market)
}

/// `PUT /_local/faults {"rate": 0.5, "failNext": 3}`: change the demo market's failure rate
/// while serving, and make the next `failNext` answers 503s.
async fn put_faults(
    State(market): State<Arc<MarketState>>,
    axum::Json(settings): axum::Json<FaultSettings>,
) -> Response {
    if !(0.0..=1.0).contains(&settings.rate) {
        return (StatusCode::BAD_REQUEST, "rate must be between 0 and 1").into_response();
    }
    market.faults.set_rate(settings.rate);
    market.faults.set_fail_next(settings.fail_next);
    fault_settings(&market)
}

/// `POST /_local/tokens` body.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewToken {
    name: String,
    #[serde(default = "default_rate")]
    rate_per_minute: u32,
}

fn default_rate() -> u32 {
    60
}

fn refusal(status: StatusCode, error: impl std::fmt::Display) -> Response {
    (status, axum::Json(serde_json::json!({ "error": error.to_string() }))).into_response()
}

fn admin_error(err: TokenAdminError) -> Response {
    let status = match err {
        TokenAdminError::NameTaken(_) => StatusCode::CONFLICT,
        TokenAdminError::NoSuchToken(_) => StatusCode::NOT_FOUND,
        TokenAdminError::InvalidName(_) | TokenAdminError::InvalidRate(_) => StatusCode::BAD_REQUEST,
        TokenAdminError::Access(_) => StatusCode::BAD_GATEWAY,
    };
    refusal(status, err)
}

/// Tokens mean something only when they are checked.
fn auth_off(gw: &Gateway) -> Option<Response> {
    gw.authorizer.is_none().then(|| {
        refusal(
            StatusCode::CONFLICT,
            "this stack runs with --auth none: tokens are not checked; start it with --auth tokens",
        )
    })
}

/// `POST /_local/tokens {"name","ratePerMinute"}` → `{"token","tokenId","name","ratePerMinute"}`.
async fn create_token(State(gw): State<Arc<Gateway>>, body: axum::body::Bytes) -> Response {
    if let Some(refused) = auth_off(&gw) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<NewToken>(&body) else {
        return refusal(StatusCode::BAD_REQUEST, "send {\"name\": \"…\", \"ratePerMinute\": 60}");
    };
    match gw.access.create(&request.name, request.rate_per_minute) {
        Ok((token, record)) => (
            StatusCode::CREATED,
            axum::Json(serde_json::json!({
                "token": token.reveal(), "tokenId": record.token_id, "name": record.name,
                "ratePerMinute": record.rate_per_minute,
            })),
        )
            .into_response(),
        Err(err) => admin_error(err),
    }
}

/// `GET /_local/tokens`: every token, never a token or a hash.
async fn list_tokens(State(gw): State<Arc<Gateway>>) -> Response {
    auth_off(&gw).unwrap_or_else(|| axum::Json(gw.access.list()).into_response())
}

/// `DELETE /_local/tokens/{name}`: revoke.
async fn revoke_token(
    State(gw): State<Arc<Gateway>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if let Some(refused) = auth_off(&gw) {
        return refused;
    }
    match gw.access.revoke(&name) {
        Ok(record) => axum::Json(record).into_response(),
        Err(err) => admin_error(err),
    }
}
