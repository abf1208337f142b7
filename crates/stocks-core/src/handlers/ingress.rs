//! The ingress: `stocksaction` and `$default` frames.
//!
//! Validates in microseconds and never calls Polygon. Bad input gets its 400 and nothing is
//! queued. With access control on, a valid frame is then counted against its token's
//! requests-per-minute (one conditional write); over the limit it gets 429 RATE_LIMITED and
//! nothing is queued. Good input gets `202 accepted` *first* and is queued *second*, so the ack
//! always arrives before the report; if queuing then fails, the client gets QUEUE_UNAVAILABLE as
//! its terminal message and may resend.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use chrono::{DateTime, NaiveDate, Utc};
use tracing::{error, info, warn};

use crate::domain::{
    ClientMessage, Grant, Job, Rejection, STOCKS_ACTION, StockRequest, TokenHash, TokenId, TokenRecord, WindowDays,
    unrouted,
};
use crate::ports::{
    AccessError, AccessStore, CallbackUrl, ConnectionError, Connections, JobQueue, RateDecision, error_chain,
};

use super::{ok_response, request_id};

/// The `stocksaction` / `$default` handler, generic over where jobs go, how clients are
/// reached, and where per-token request counts are kept.
pub struct Ingress<Q, C, A> {
    queue: Q,
    connections: C,
    /// `ACCESS_TABLE`: per-token rate limits; `None` (auth off) does no lookup at all.
    access: Option<A>,
    /// `CALLBACK_URL`; when unset, `https://{domainName}/{stage}` from each event (which breaks
    /// behind custom domains, hence the setting).
    callback: Option<CallbackUrl>,
    /// Length of the default window (`REPORT_WINDOW_DAYS`).
    window_days: WindowDays,
}

/// Failures that make the invocation itself fail, so API Gateway answers the client with its
/// own "Internal server error" frame and the Lambda error metric counts it.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// The event names no connection to answer.
    #[error("the event has no requestContext.connectionId")]
    NoConnectionId,
    /// Nowhere to post the answer.
    #[error("no CALLBACK_URL is configured and the event has no domainName/stage")]
    NoCallback,
    /// `@connections` failed for another reason than 410.
    #[error("could not post to the client")]
    Post(#[source] ConnectionError),
}

/// What happened to one frame; logged, and returned for the local gateway and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressOutcome {
    /// 202 posted and the job queued.
    Accepted,
    /// A 400 posted; nothing queued.
    Rejected,
    /// 202 posted but queuing failed; QUEUE_UNAVAILABLE posted.
    QueueUnavailable,
    /// The client left before we could answer; nothing queued.
    ClientGone,
    /// 429 RATE_LIMITED posted: the token's minute is spent; nothing queued.
    RateLimited,
}

/// The access store of an ingress with access control off (`ACCESS_TABLE` unset): there is
/// none, and no value of this type can exist, so it is never asked.
#[derive(Debug)]
pub enum NoAccessControl {}

impl AccessStore for NoAccessControl {
    async fn token(&self, _: &TokenHash) -> Result<Option<TokenRecord>, AccessError> {
        match *self {}
    }

    async fn count_request(&self, _: &TokenId, _: i64, _: u32) -> Result<RateDecision, AccessError> {
        match *self {}
    }
}

impl<Q: JobQueue, C: Connections> Ingress<Q, C, NoAccessControl> {
    /// An ingress with access control off: anyone connected may ask, as the seed's open API.
    pub fn open(queue: Q, connections: C, callback: Option<CallbackUrl>, window_days: WindowDays) -> Self {
        Self::new(queue, connections, None, callback, window_days)
    }
}

impl<Q: JobQueue, C: Connections, A: AccessStore> Ingress<Q, C, A> {
    /// An ingress; `access` is the access table when access control is on, `None` when off.
    pub fn new(
        queue: Q,
        connections: C,
        access: Option<A>,
        callback: Option<CallbackUrl>,
        window_days: WindowDays,
    ) -> Self {
        Self {
            queue,
            connections,
            access,
            callback,
            window_days,
        }
    }

    /// The Lambda entry point: always a 200 to API Gateway unless the client could not be told.
    pub async fn handle(
        &self,
        request: ApiGatewayWebsocketProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, IngressError> {
        self.process(&request).await?;
        Ok(ok_response())
    }

    /// Handles one frame and says what became of it.
    pub async fn process(&self, request: &ApiGatewayWebsocketProxyRequest) -> Result<IngressOutcome, IngressError> {
        let ctx = &request.request_context;
        let connection_id = ctx
            .connection_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or(IngressError::NoConnectionId)?;
        let request_id = request_id(request);
        let callback = match &self.callback {
            Some(url) => url.clone(),
            None => CallbackUrl::from_request(
                ctx.domain_name.as_deref().unwrap_or_default(),
                ctx.stage.as_deref().unwrap_or_default(),
            )
            .ok_or(IngressError::NoCallback)?,
        };
        let route = ctx.route_key.as_deref().unwrap_or("$default");
        let body = request.body.as_deref().unwrap_or_default();

        let parsed = if request.is_base64_encoded {
            Err(Rejection::binary_frame())
        } else if route == STOCKS_ACTION {
            StockRequest::parse(body, request_day(ctx.request_time_epoch), self.window_days)
        } else {
            Err(unrouted(body))
        };
        let frame = Frame {
            callback: &callback,
            connection_id,
            request_id: &request_id,
            grant: Grant::from_context(&ctx.authorizer.fields),
            at_ms: ctx.request_time_epoch,
        };

        match parsed {
            Err(rejection) => {
                info!(
                    outcome = "rejected",
                    route,
                    connectionId = connection_id,
                    requestId = %request_id,
                    error = %rejection.code,
                    body_bytes = body.len(),
                    "request rejected"
                );
                self.post(&frame, &rejection.to_message(&request_id)).await.map(|sent| {
                    if sent {
                        IngressOutcome::Rejected
                    } else {
                        IngressOutcome::ClientGone
                    }
                })
            }
            Ok(stock_request) => self.accept(&frame, &stock_request).await,
        }
    }

    async fn accept(&self, frame: &Frame<'_>, request: &StockRequest) -> Result<IngressOutcome, IngressError> {
        let ticker = &request.ticker;
        if let Some(retry_in_seconds) = self.over_rate(frame).await {
            info!(
                outcome = "rate_limited",
                connectionId = frame.connection_id,
                requestId = frame.request_id,
                tokenId = frame.grant.as_ref().map(|g| g.token_id.as_str()).unwrap_or_default(),
                ticker = %ticker,
                retry_in_seconds,
                "request refused: this token's requests for the minute are spent"
            );
            let refusal = ClientMessage::rate_limited(frame.request_id, ticker, retry_in_seconds);
            return self.post(frame, &refusal).await.map(|sent| {
                if sent {
                    IngressOutcome::RateLimited
                } else {
                    IngressOutcome::ClientGone
                }
            });
        }
        if !self
            .post(frame, &ClientMessage::accepted(frame.request_id, ticker))
            .await?
        {
            return Ok(IngressOutcome::ClientGone);
        }
        let job = Job::new(frame.request_id, frame.connection_id, request, Utc::now());
        match self.queue.send(&job).await {
            Ok(()) => {
                info!(
                    outcome = "accepted",
                    connectionId = frame.connection_id,
                    requestId = frame.request_id,
                    ticker = %ticker,
                    window = %request.window,
                    "request accepted and queued"
                );
                Ok(IngressOutcome::Accepted)
            }
            Err(err) => {
                error!(
                    outcome = "queue_unavailable",
                    connectionId = frame.connection_id,
                    requestId = frame.request_id,
                    ticker = %ticker,
                    error = %error_chain(&err),
                    "could not queue an accepted request"
                );
                self.post(frame, &ClientMessage::queue_unavailable(frame.request_id, ticker))
                    .await?;
                Ok(IngressOutcome::QueueUnavailable)
            }
        }
    }

    /// With access control on, counts the frame against its token's minute: `Some(seconds)` to
    /// the next minute when the minute's requests are spent. A table that cannot be reached
    /// lets the frame through (logged): the `$connect` authorizer has already checked who this
    /// is, and the market's own quota gate still protects Polygon.
    async fn over_rate(&self, frame: &Frame<'_>) -> Option<u64> {
        let access = self.access.as_ref()?;
        let Some(grant) = &frame.grant else {
            warn!(
                connectionId = frame.connection_id,
                "ACCESS_TABLE is set but the event carries no authorizer context; not rate limiting"
            );
            return None;
        };
        let at_ms = if frame.at_ms > 0 {
            frame.at_ms
        } else {
            Utc::now().timestamp_millis()
        };
        let minute = at_ms.div_euclid(60_000);
        match access
            .count_request(&grant.token_id, minute, grant.rate_per_minute)
            .await
        {
            Ok(RateDecision::Counted) => None,
            Ok(RateDecision::OverLimit) => Some(((minute + 1) * 60_000 - at_ms).div_euclid(1000).max(1) as u64),
            Err(err) => {
                error!(error = %error_chain(&err), tokenId = %grant.token_id, "could not count the request; letting it through");
                None
            }
        }
    }

    /// Posts one frame. `Ok(false)` when the client has already left (410 Gone).
    async fn post(&self, frame: &Frame<'_>, message: &ClientMessage) -> Result<bool, IngressError> {
        match self
            .connections
            .post(frame.callback, frame.connection_id, message)
            .await
        {
            Ok(()) => Ok(true),
            Err(ConnectionError::Gone) => {
                info!(
                    connectionId = frame.connection_id,
                    requestId = frame.request_id,
                    "client left before the answer"
                );
                Ok(false)
            }
            Err(err) => {
                warn!(
                    connectionId = frame.connection_id,
                    requestId = frame.request_id,
                    status = message.status_code,
                    error = %error_chain(&err),
                    "could not post to the client"
                );
                Err(IngressError::Post(err))
            }
        }
    }
}

/// Who a frame came from and where answers go.
struct Frame<'a> {
    callback: &'a CallbackUrl,
    connection_id: &'a str,
    request_id: &'a str,
    /// The authorizer's context: whose token this connection is.
    grant: Option<Grant>,
    /// When API Gateway received it (Unix ms; 0 when the event does not say).
    at_ms: i64,
}

/// "Today" for window rules: the UTC day API Gateway received the frame (deterministic for a
/// given event), or the clock when the event does not say.
fn request_day(request_time_epoch_ms: i64) -> NaiveDate {
    match DateTime::from_timestamp_millis(request_time_epoch_ms) {
        Some(at) if request_time_epoch_ms > 0 => at.date_naive(),
        _ => Utc::now().date_naive(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_day_comes_from_the_event() {
        // 2026-11-24T23:59:59.999Z
        assert_eq!(request_day(1_795_564_799_999).to_string(), "2026-11-24");
        assert_eq!(request_day(0), Utc::now().date_naive());
    }
}
