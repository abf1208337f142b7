//! [`ApiGatewayConnections`]: the `@connections` management API over
//! aws-sdk-apigatewaymanagement.
//!
//! The endpoint is per API and stage, so the adapter keeps one SDK client per callback URL and
//! reuses it across invocations (building a client costs more than the call it makes).
//! `410 Gone` — the client left — becomes [`ConnectionError::Gone`], whether the body names
//! `GoneException` (AWS) or not (the local gateway, proxies).

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::{Client, Config};

use crate::domain::ClientMessage;
use crate::ports::{CallbackUrl, ConnectionError, Connections};

/// `@connections` clients, one per callback URL.
#[derive(Debug)]
pub struct ApiGatewayConnections {
    /// Region, credentials and retry settings shared by every endpoint's client.
    base: Config,
    clients: Mutex<HashMap<CallbackUrl, Client>>,
}

impl ApiGatewayConnections {
    /// `@connections` clients built from `base` (region, credentials, timeouts) and each callback URL.
    pub fn new(base: Config) -> Self {
        Self {
            base,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `@connections` clients with the settings of `config`.
    pub fn from_sdk(config: &SdkConfig) -> Self {
        Self::new(Config::from(config))
    }

    /// How many endpoints have a client (one per callback URL seen, kept for the instance's
    /// life).
    pub fn endpoints(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    fn client(&self, callback: &CallbackUrl) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .entry(callback.clone())
            .or_insert_with(|| Client::from_conf(self.base.to_builder().endpoint_url(callback.as_str()).build()))
            .clone()
    }
}

impl Connections for ApiGatewayConnections {
    async fn post(
        &self,
        callback: &CallbackUrl,
        connection_id: &str,
        message: &ClientMessage,
    ) -> Result<(), ConnectionError> {
        self.client(callback)
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(message.to_json()))
            .send()
            .await
            .map(drop)
            .map_err(classify)
    }

    async fn delete(&self, callback: &CallbackUrl, connection_id: &str) -> Result<(), ConnectionError> {
        self.client(callback)
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
            .map(drop)
            .map_err(classify)
    }
}

fn classify<E>(err: SdkError<E, HttpResponse>) -> ConnectionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let gone = err.as_service_error().and_then(|e| e.code()) == Some("GoneException") || status == Some(410);
    if gone {
        ConnectionError::Gone
    } else {
        ConnectionError::Failed(err.into())
    }
}
