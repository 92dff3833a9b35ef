//! The tracker's WebSocket face: WebTorrent clients (browsers, and natives speaking WebRTC)
//! connect to `ws://host:port/announce` (with `?token=...` when a token is configured) and
//! exchange JSON text messages (see `bitfleet_core::tracker::ws`).
//!
//! Each connection gets a bounded outbox drained by its own writer, so one slow reader never
//! holds up the others or grows memory: whoever lets its outbox fill is disconnected.
//! Messages are capped in size, silent connections time out, and a closing connection stops
//! its peers in every swarm.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};

use bitfleet_core::sites::SiteId;
use bitfleet_core::tracker::ws::TrackerMessage;

use crate::http::refused;
use crate::relay::Delivery;
use crate::swarm::ConnectionId;
use crate::tracker::Tracker;

/// Open connections' outboxes, and the permits that cap how many may be open.
pub(crate) struct Hub {
    outboxes: Mutex<HashMap<ConnectionId, Outbox>>,
    permits: Arc<Semaphore>,
}

/// Messages waiting for one connection's writer, and how to tell the connection it is cut
/// off (its writer may be stuck in a send the client never reads, so closing the queue
/// alone would not reach it).
struct Outbox {
    queue: mpsc::Sender<String>,
    cut_off: Arc<Notify>,
}

impl Hub {
    pub(crate) fn new(tracker: &Tracker) -> Self {
        Self {
            outboxes: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(tracker.config().websocket.max_connections)),
        }
    }

    /// Queues each message on its connection's outbox; a connection whose outbox is full is
    /// cut off: it gets nothing more and is closed.
    fn deliver(&self, deliveries: Vec<Delivery>) {
        let mut outboxes = self.lock_outboxes();
        for delivery in deliveries {
            let Some(outbox) = outboxes.get(&delivery.to) else {
                continue;
            };
            match outbox.queue.try_send(delivery.message.to_json()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(connection = delivery.to.0, "slow websocket client dropped");
                    outbox.cut_off.notify_one();
                    outboxes.remove(&delivery.to);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    outboxes.remove(&delivery.to);
                }
            }
        }
    }

    fn lock_outboxes(&self) -> MutexGuard<'_, HashMap<ConnectionId, Outbox>> {
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
    remote: Option<SocketAddr>,
) -> Response {
    let site = match tracker.authorize_websocket(query, remote) {
        Ok(site) => site,
        Err(refusal) => return refused(&refusal),
    };
    let Ok(permit) = hub.permits.clone().try_acquire_owned() else {
        tracing::warn!("websocket connection refused: connection limit reached");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response();
    };
    let max_message_size = tracker.config().websocket.max_message_size;
    upgrade
        .max_message_size(max_message_size)
        .max_frame_size(max_message_size)
        .on_upgrade(move |socket| serve_connection(socket, tracker, hub, permit, site))
}

async fn serve_connection(
    socket: WebSocket,
    tracker: Arc<Tracker>,
    hub: Arc<Hub>,
    _permit: OwnedSemaphorePermit,
    site: Option<SiteId>,
) {
    let limits = tracker.config().websocket.clone();
    let id = tracker.open_connection(site);
    let (queue, mut pending) = mpsc::channel::<String>(limits.outbox_capacity.max(1));
    let cut_off = Arc::new(Notify::new());
    hub.lock_outboxes().insert(
        id,
        Outbox {
            queue,
            cut_off: cut_off.clone(),
        },
    );
    tracing::debug!(connection = id.0, "websocket connected");

    let (mut sink, mut stream) = socket.split();
    let write = async {
        while let Some(text) = pending.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
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
        () = cut_off.notified() => {}
    }
    hub.lock_outboxes().remove(&id);
    tracker.close_connection(id);
    tracing::debug!(connection = id.0, "websocket closed");
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::TrackerConfig;

    fn failure(to: ConnectionId) -> Delivery {
        Delivery {
            to,
            message: TrackerMessage::Failure {
                action: None,
                info_hash: None,
                reason: "test".into(),
            },
        }
    }

    #[test]
    fn a_connection_whose_outbox_fills_is_cut_off_alone() {
        let hub = Hub::new(&Tracker::new(TrackerConfig::default()));
        let outbox = |capacity| {
            let (queue, pending) = mpsc::channel(capacity);
            let cut_off = Arc::new(Notify::new());
            let outbox = Outbox {
                queue,
                cut_off: cut_off.clone(),
            };
            (outbox, pending, cut_off)
        };
        let (slow, mut slow_pending, slow_cut_off) = outbox(1);
        let (fast, mut fast_pending, fast_cut_off) = outbox(4);
        hub.lock_outboxes().insert(ConnectionId(1), slow);
        hub.lock_outboxes().insert(ConnectionId(2), fast);

        let (one, two) = (ConnectionId(1), ConnectionId(2));
        hub.deliver(vec![failure(one), failure(two), failure(one), failure(two)]);

        assert!(!hub.lock_outboxes().contains_key(&one));
        assert!(slow_pending.try_recv().is_ok(), "what fitted was queued");
        assert_eq!(
            slow_pending.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        );
        // The notification is kept until the connection's task waits for it.
        assert!(slow_cut_off.notified().now_or_never().is_some());

        assert!(hub.lock_outboxes().contains_key(&two));
        assert!(fast_pending.try_recv().is_ok() && fast_pending.try_recv().is_ok());
        assert!(fast_cut_off.notified().now_or_never().is_none());
    }
}
