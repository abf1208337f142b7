//! The `$connect` REQUEST authorizer: a token in the query string, one lookup, Allow or Deny.
//!
//! API Gateway refuses a connection without a token itself (401: the identity source
//! `route.request.querystring.token` is missing) and calls this for the rest. A malformed,
//! doubled, unknown or revoked token is denied (403) — malformed and doubled ones without a
//! lookup. An allowed connection carries a [`Grant`] as the authorizer context, which API
//! Gateway hands to every later event on it (the ingress's rate limit reads it). A table that
//! cannot be read fails the authorization (API Gateway answers 500): never open by accident.
//!
//! It logs the decision and the token's id, never a token or a hash.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};
use tracing::{error, info, warn};

use crate::domain::{Grant, Token, TokenError};
use crate::ports::{AccessError, AccessStore, error_chain};

/// The query parameter the token travels in (browsers cannot set headers on a WebSocket).
pub const TOKEN_PARAMETER: &str = "token";

/// API Gateway's REQUEST authorizer event for a WebSocket `$connect`.
///
/// `aws_lambda_events`' `ApiGatewayCustomAuthorizerRequestTypeRequest` drops the WebSocket
/// fields of `requestContext` (`connectionId`, `routeKey`, …); this keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectAuthorizerRequest {
    /// `REQUEST`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/$connect`: what the policy allows.
    #[serde(default)]
    pub method_arn: String,
    /// The query string, one value per name (API Gateway keeps the last).
    #[serde(default, deserialize_with = "nullish")]
    pub query_string_parameters: HashMap<String, String>,
    /// The query string, every value of each name.
    #[serde(default, deserialize_with = "nullish")]
    pub multi_value_query_string_parameters: HashMap<String, Vec<String>>,
    /// Who is connecting, and where.
    #[serde(default)]
    pub request_context: ConnectContext,
}

/// The WebSocket request context of a `$connect` authorization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectContext {
    /// The connection being opened.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// `$connect`.
    #[serde(default)]
    pub route_key: Option<String>,
    /// `CONNECT`.
    #[serde(default)]
    pub event_type: Option<String>,
    /// API Gateway's id of the handshake.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The stage.
    #[serde(default)]
    pub stage: Option<String>,
    /// The API's host name.
    #[serde(default)]
    pub domain_name: Option<String>,
    /// The API's id.
    #[serde(default)]
    pub api_id: Option<String>,
    /// When the connection opened, Unix ms.
    #[serde(default)]
    pub connected_at: Option<i64>,
    /// When API Gateway received the handshake, Unix ms.
    #[serde(default)]
    pub request_time_epoch: Option<i64>,
}

fn nullish<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// The IAM policy answer API Gateway expects from a REQUEST authorizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    /// Who this is: the token's id on Allow.
    pub principal_id: String,
    /// Allow or Deny `execute-api:Invoke` on the `$connect` method.
    pub policy_document: PolicyDocument,
    /// The [`Grant`] on Allow; empty on Deny.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// An IAM policy document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDocument {
    /// `2012-10-17`.
    #[serde(rename = "Version")]
    pub version: String,
    /// One statement.
    #[serde(rename = "Statement")]
    pub statement: Vec<PolicyStatement>,
}

/// One IAM policy statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyStatement {
    /// `execute-api:Invoke`.
    #[serde(rename = "Action")]
    pub action: String,
    /// `Allow` or `Deny`.
    #[serde(rename = "Effect")]
    pub effect: String,
    /// The `$connect` method's ARN.
    #[serde(rename = "Resource")]
    pub resource: String,
}

impl AuthorizerResponse {
    fn new(principal: &str, effect: &str, method_arn: &str) -> Self {
        Self {
            principal_id: principal.to_owned(),
            policy_document: PolicyDocument {
                version: "2012-10-17".into(),
                statement: vec![PolicyStatement {
                    action: "execute-api:Invoke".into(),
                    effect: effect.into(),
                    resource: method_arn.to_owned(),
                }],
            },
            context: serde_json::Map::new(),
        }
    }

    /// Whether every statement allows.
    pub fn allows(&self) -> bool {
        self.policy_document.statement.iter().all(|s| s.effect == "Allow")
    }

    /// The grant of an Allow.
    pub fn grant(&self) -> Option<Grant> {
        self.allows()
            .then(|| Grant::from_context(&self.context.clone().into_iter().collect()))
            .flatten()
    }
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// No token, or an empty one (API Gateway itself answers these with 401 before calling).
    NoToken,
    /// The query string carries `token` more than once: which one would we check?
    Ambiguous,
    /// Not the shape of a token.
    Malformed,
    /// No such token.
    Unknown,
    /// The token was revoked.
    Revoked,
}

impl Denial {
    /// The `reason` logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::Ambiguous => "ambiguous",
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
        }
    }
}

/// What became of one connection attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Let it in, with this grant.
    Allow(Grant),
    /// Refuse it (403), for this reason.
    Deny(Denial),
}

/// The `$connect` authorizer, over the access table.
pub struct Authorizer<A> {
    access: A,
}

impl<A: AccessStore> Authorizer<A> {
    /// An authorizer over the access table.
    pub fn new(access: A) -> Self {
        Self { access }
    }

    /// The decision for one connection attempt; `Err` when the table could not answer.
    pub async fn decide(&self, request: &ConnectAuthorizerRequest) -> Result<Decision, AccessError> {
        if request
            .multi_value_query_string_parameters
            .get(TOKEN_PARAMETER)
            .is_some_and(|values| values.len() > 1)
        {
            return Ok(Decision::Deny(Denial::Ambiguous));
        }
        let raw = request
            .query_string_parameters
            .get(TOKEN_PARAMETER)
            .map(String::as_str)
            .unwrap_or_default();
        let token = match Token::parse(raw) {
            Ok(token) => token,
            Err(TokenError::Missing) => return Ok(Decision::Deny(Denial::NoToken)),
            Err(TokenError::Malformed) => return Ok(Decision::Deny(Denial::Malformed)),
        };
        let hash = token.hash();
        Ok(match self.access.token(&hash).await? {
            None => Decision::Deny(Denial::Unknown),
            Some(record) if record.revoked_at.is_some() => Decision::Deny(Denial::Revoked),
            Some(record) => Decision::Allow(Grant {
                token_id: record.token_id,
                name: record.name,
                rate_per_minute: record.rate_per_minute,
            }),
        })
    }

    /// The Lambda entry point: Allow with the grant as context, or Deny (API Gateway: 403).
    pub async fn handle(&self, request: ConnectAuthorizerRequest) -> Result<AuthorizerResponse, AccessError> {
        let connection_id = request.request_context.connection_id.as_deref().unwrap_or_default();
        match self.decide(&request).await {
            Ok(Decision::Allow(grant)) => {
                info!(decision = "allow", tokenId = %grant.token_id, connectionId = connection_id, "connection authorized");
                let mut response = AuthorizerResponse::new(grant.token_id.as_str(), "Allow", &request.method_arn);
                response.context = grant.to_context();
                Ok(response)
            }
            Ok(Decision::Deny(why)) => {
                warn!(
                    decision = "deny",
                    reason = why.as_str(),
                    connectionId = connection_id,
                    "connection refused"
                );
                Ok(AuthorizerResponse::new("anonymous", "Deny", &request.method_arn))
            }
            Err(err) => {
                error!(error = %error_chain(&err), connectionId = connection_id, "cannot read the access table; refusing");
                Err(err)
            }
        }
    }
}
