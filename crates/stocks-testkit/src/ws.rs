//! A WebSocket client for tests: every wait is bounded by [`PATIENCE`] and a wrong frame fails
//! the test saying what came instead.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use stocks_core::domain::ClientMessage;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::PATIENCE;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.expect("connects").0
}

pub async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
}

/// The next text frame as a client message (fails on close or timeout).
pub async fn next_message(ws: &mut Ws) -> ClientMessage {
    next_message_within(ws, PATIENCE).await
}

/// The next text frame as a client message, waiting up to `patience` for it.
pub async fn next_message_within(ws: &mut Ws, patience: Duration) -> ClientMessage {
    let text = next_text_within(ws, patience).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a client message ({e}): {text}"))
}

pub async fn next_text(ws: &mut Ws) -> String {
    next_text_within(ws, PATIENCE).await
}

async fn next_text_within(ws: &mut Ws, patience: Duration) -> String {
    loop {
        match tokio::time::timeout(patience, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within {patience:?}"))
        {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Waits for the server's close frame; returns it.
pub async fn expect_close(ws: &mut Ws) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("closed in time") {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(Message::Text(text))) => panic!("expected a close, got {text}"),
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("expected a close frame, got error {err}"),
            None => panic!("stream ended without a close frame"),
        }
    }
}

/// Sends `body`, expects the 202, then returns it and the next message.
pub async fn request(ws: &mut Ws, body: &str) -> (ClientMessage, ClientMessage) {
    send(ws, body).await;
    let ack = next_message(ws).await;
    assert_eq!(ack.status_code, 202, "{ack:?}");
    let last = next_message(ws).await;
    (ack, last)
}
