//! The tracker's WebSocket face: WebTorrent clients (browsers, and natives speaking WebRTC)
//! connect to `ws://host:port/announce` (with `?token=...` when a token is configured) and
//! exchange JSON text messages (see `bitfleet_core::tracker::ws`).
//!
//! Each connection gets a bounded outbox drained by its own writer, so one slow reader never
//! holds up the others or grows memory: whoever lets its outbox fill is disconnected.
//! Messages are capped in size, silent connections time out, and a closing connection stops
//! its peers in every swarm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use bitfleet_core::tracker::ws::TrackerMessage;

use crate::http::refused;
use crate::relay::Delivery;
use crate::swarm::ConnectionId;
use crate::tracker::Tracker;

/// Open connections' outboxes, and the permits that cap how many may be open.
pub(crate) struct Hub {
    outboxes: Mutex<HashMap<ConnectionId, mpsc::Sender<String>>>,
    permits: Arc<Semaphore>,
}

impl Hub {
    pub(crate) fn new(tracker: &Tracker) -> Self {
        Self {
            outboxes: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(tracker.config().websocket.max_connections)),
        }
    }

    /// Queues each message on its connection's outbox; a connection whose outbox is full is
    /// cut off (dropping its outbox ends its writer, which ends the connection).
    fn deliver(&self, deliveries: Vec<Delivery>) {
        let mut outboxes = self.lock_outboxes();
        for delivery in deliveries {
            let Some(outbox) = outboxes.get(&delivery.to) else {
                continue;
            };
            match outbox.try_send(delivery.message.to_json()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(connection = delivery.to.0, "slow websocket client dropped");
                    outboxes.remove(&delivery.to);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    outboxes.remove(&delivery.to);
                }
            }
        }
    }

    fn lock_outboxes(&self) -> MutexGuard<'_, HashMap<ConnectionId, mpsc::Sender<String>>> {
        // Inserts and removes leave the map consistent whatever panics elsewhere.
        self.outboxes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Accepts a WebSocket upgrade of `/announce` if the token checks out and there is room.
pub(crate) fn upgrade(
    upgrade: WebSocketUpgrade,
    tracker: Arc<Tracker>,
    hub: Arc<Hub>,
    query: &str,
) -> Response {
    if let Err(refusal) = tracker.authorize(query) {
        return refused(&refusal);
    }
    let Ok(permit) = hub.permits.clone().try_acquire_owned() else {
        tracing::warn!("websocket connection refused: connection limit reached");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let max_message_size = tracker.config().websocket.max_message_size;
    upgrade
        .max_message_size(max_message_size)
        .max_frame_size(max_message_size)
        .on_upgrade(move |socket| serve_connection(socket, tracker, hub, permit))
}

async fn serve_connection(
    socket: WebSocket,
    tracker: Arc<Tracker>,
    hub: Arc<Hub>,
    _permit: OwnedSemaphorePermit,
) {
    let limits = tracker.config().websocket.clone();
    let id = tracker.open_connection();
    let (outbox, mut pending) = mpsc::channel::<String>(limits.outbox_capacity.max(1));
    hub.lock_outboxes().insert(id, outbox);
    tracing::debug!(connection = id.0, "websocket connected");

    let (mut sink, mut stream) = socket.split();
    let write = async {
        while let Some(text) = pending.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        // The hub dropped this outbox: close politely, the reader is told by `select!`.
        let _ = sink.close().await;
    };
    let read = async {
        loop {
            let next = tokio::time::timeout(limits.idle_timeout, stream.next()).await;
            let message = match next {
                Err(_) => {
                    tracing::debug!(connection = id.0, "websocket idle, closing");
                    return;
                }
                Ok(None) => return,
                Ok(Some(Err(err))) => {
                    // Oversized messages and protocol violations end up here.
                    tracing::debug!(connection = id.0, %err, "websocket error");
                    return;
                }
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => hub.deliver(tracker.websocket_message(id, text.as_str())),
                Message::Binary(_) => hub.deliver(vec![Delivery {
                    to: id,
                    message: TrackerMessage::Failure {
                        action: None,
                        info_hash: None,
                        reason: "expected a JSON text message".into(),
                    },
                }]),
                Message::Close(_) => return,
                // Pings are answered by axum; either way the connection is alive.
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    };
    tokio::select! {
        () = write => {}
        () = read => {}
    }
    hub.lock_outboxes().remove(&id);
    tracker.close_connection(id);
    tracing::debug!(connection = id.0, "websocket closed");
}
