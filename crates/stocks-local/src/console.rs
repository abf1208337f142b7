//! The web console: `GET /` and its assets, embedded in the binary (no CDN, works offline).
//!
//! | path | serves |
//! |---|---|
//! | `GET /` | the page; its URL field defaults to this stack's WebSocket URL |
//! | `GET /console/console.js`, `/console/console.css` | the page's script and style |
//! | `GET /console/uPlot.iife.min.js`, `/console/uPlot.min.css` | uPlot, vendored (MIT, `console/vendor/uplot/LICENSE`) |
//!
//! The page is a WebSocket client like any other: it asks with `"progress": true` and
//! `"series": true` and draws what comes back. It may point at any `ws://` or `wss://` URL,
//! so the Content-Security-Policy allows WebSocket connections anywhere and nothing else
//! outside this origin.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");
const UPLOT_SCRIPT: &str = include_str!("../console/vendor/uplot/uPlot.iife.min.js");
const UPLOT_STYLE: &str = include_str!("../console/vendor/uplot/uPlot.min.css");

/// uPlot sizes its elements through inline styles, hence `'unsafe-inline'` for styles only.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; connect-src ws: wss:; base-uri 'none'; form-action 'none'; \
                      frame-ancestors 'none'";

/// The console's routes; `stage` is the WebSocket API's stage, already validated.
pub fn routes<S: Clone + Send + Sync + 'static>(stage: &str) -> Router<S> {
    let page: Arc<str> = INDEX.replace("__STAGE__", stage).into();
    Router::new()
        .route("/", get(move || index(page.clone())))
        .route("/console/console.js", get(|| asset(SCRIPT, JAVASCRIPT)))
        .route("/console/console.css", get(|| asset(STYLE, CSS)))
        .route("/console/uPlot.iife.min.js", get(|| asset(UPLOT_SCRIPT, JAVASCRIPT)))
        .route("/console/uPlot.min.css", get(|| asset(UPLOT_STYLE, CSS)))
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

async fn index(page: Arc<str>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        page.to_string(),
    )
        .into_response()
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_every_hook_the_design_names() {
        for id in [
            "url", "token", "ticker", "from", "to", "send", "status", "report", "error", "chart",
        ] {
            assert_eq!(INDEX.matches(&format!("data-testid=\"{id}\"")).count(), 1, "{id}");
        }
        for field in ["avgStock", "minStock", "maxStock", "minVolume", "maxVolume"] {
            assert_eq!(INDEX.matches(&format!("data-field=\"{field}\"")).count(), 1, "{field}");
        }
        assert!(INDEX.contains("data-points=\"0\""));
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for text in [INDEX, SCRIPT, STYLE] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "an outside URL"
            );
        }
    }
}
