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

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use stocks_core::ports::error_chain;

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
