//! A data channel as a byte stream for the peer wire: reads as they come (the BitTorrent length
//! prefixes frame them, not the messages), writes cut into messages every WebRTC stack accepts,
//! held back while more is unacknowledged than the path carries (see `inflight`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::PeerConnection;

use super::inflight::InflightBudget;
use super::{Events, Slot};

/// Largest message we send: what every WebRTC stack accepts, whatever it advertises.
const MAX_MESSAGE: usize = 16 * 1024;
/// Sends wait while this much is handed to SCTP and not yet acknowledged, whatever the path.
pub(super) const BUFFER_HIGH: usize = 1 << 20;
/// A waiting sender looks again this soon even if no "buffer low" event woke it: the event
/// tracks SCTP's packetised bytes, a little less than what the budget counts …
const RECHECK: Duration = Duration::from_millis(2);
/// … and backs off to this while nothing is acknowledged (a stalled peer costs no busy loop).
const RECHECK_MAX: Duration = Duration::from_millis(50);

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An open data channel split into its two directions.
pub fn split(channel: Arc<dyn DataChannel>, owner: Owner) -> (ChannelReader, ChannelWriter) {
    // A failed connection does not end its channel's events by itself: closing it does.
    let connection = Arc::downgrade(&owner.connection);
    let events = owner.events.clone();
    tokio::spawn(close_on_failure(connection, events));
    let drained = Arc::new(Notify::new());
    let reader = ChannelReader {
        channel: channel.clone(),
        next: None,
        message: BytesMut::new(),
        ended: false,
        drained: drained.clone(),
    };
    let writer = ChannelWriter {
        channel,
        budget: Arc::new(std::sync::Mutex::new(InflightBudget::new(BUFFER_HIGH))),
        drained,
        sending: None,
        _owner: owner,
    };
    (reader, writer)
}

async fn close_on_failure(connection: Weak<dyn PeerConnection>, events: Arc<Events>) {
    events.failed.notified().await;
    if let Some(connection) = connection.upgrade() {
        let _ = connection.close().await;
    }
}

pub struct ChannelReader {
    channel: Arc<dyn DataChannel>,
    next: Option<Pending<Option<DataChannelEvent>>>,
    /// The rest of the message being read.
    message: BytesMut,
    ended: bool,
    /// Told when the channel's send buffer falls below its low threshold (the writer waits):
    /// the channel's events only arrive through its reader, which a peer wire connection
    /// always polls. Without it, a waiting writer looks again every `RECHECK`.
    drained: Arc<Notify>,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.message.is_empty() && !self.ended {
            let channel = self.channel.clone();
            let next = self
                .next
                .get_or_insert_with(|| Box::pin(async move { channel.poll().await }));
            let event = ready!(next.as_mut().poll(cx));
            self.next = None;
            match event {
                Some(DataChannelEvent::OnMessage(message)) => self.message = message.data,
                Some(DataChannelEvent::OnClose) | None => self.ended = true,
                Some(DataChannelEvent::OnBufferedAmountLow) => self.drained.notify_one(),
                Some(_) => {}
            }
        }
        let n = self.message.len().min(buf.remaining());
        buf.put_slice(&self.message[..n]);
        self.message.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// The sending direction; it owns the peer connection, which closes when the writer is gone.
pub struct ChannelWriter {
    channel: Arc<dyn DataChannel>,
    budget: Arc<std::sync::Mutex<InflightBudget>>,
    drained: Arc<Notify>,
    /// The message handed over last, until the channel took it.
    sending: Option<Pending<webrtc::error::Result<()>>>,
    _owner: Owner,
}

impl ChannelWriter {
    /// Waits until the message handed over last is in the channel's send buffer.
    fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(sending) = &mut self.sending else {
            return Poll::Ready(Ok(()));
        };
        let sent = ready!(sending.as_mut().poll(cx));
        self.sending = None;
        Poll::Ready(sent.map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e)))
    }
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_sent(cx))?;
        // An empty message is no bytes of the stream: nothing to send.
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let message = BytesMut::from(buf.split_at(buf.len().min(MAX_MESSAGE)).0);
        let written = message.len();
        // Taken as written once handed over (as a buffered writer does); the next write or
        // flush waits for the channel to accept it — that is where a full path holds us back.
        self.sending = Some(Box::pin(send_within_budget(
            self.channel.clone(),
            self.budget.clone(),
            self.drained.clone(),
            message,
        )));
        match self.poll_sent(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(written)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_sent(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_sent(cx))?;
        let channel = self.channel.clone();
        self.sending = Some(Box::pin(async move { channel.close().await }));
        self.poll_sent(cx)
    }
}

/// Hands `message` to the channel once the in-flight budget has room for it.
async fn send_within_budget(
    channel: Arc<dyn DataChannel>,
    budget: Arc<std::sync::Mutex<InflightBudget>>,
    drained: Arc<Notify>,
    message: BytesMut,
) -> webrtc::error::Result<()> {
    let len = message.len();
    let mut recheck = RECHECK;
    loop {
        let outstanding = channel.outstanding_bytes().await?;
        let limit = {
            let mut budget = budget
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            budget.observe(Instant::now(), outstanding);
            budget.limit()
        };
        if outstanding <= limit {
            break;
        }
        let threshold = u32::try_from(limit).unwrap_or(u32::MAX);
        channel.set_buffered_amount_low_threshold(threshold).await?;
        if tokio::time::timeout(recheck, drained.notified())
            .await
            .is_err()
        {
            recheck = (recheck * 2).min(RECHECK_MAX);
        }
    }
    channel.send(message).await?;
    let mut budget = budget
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    budget.handed(Instant::now(), len);
    Ok(())
}

/// Closes the peer connection when dropped (its driver keeps its sockets until told).
pub struct Owner {
    pub connection: Arc<dyn PeerConnection>,
    pub(super) events: Arc<Events>,
    pub _slot: Slot,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let connection = self.connection.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = connection.close().await {
                    tracing::debug!(error = %e, "closing a peer connection failed");
                }
            });
        }
    }
}
