//! A data channel as a byte stream for the peer wire: reads as they come (the BitTorrent length
//! prefixes frame them, not the messages), writes cut into messages every WebRTC stack accepts,
//! held back while the channel's send buffer is full.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use webrtc::data::data_channel::{DataChannel, PollDataChannel};
use webrtc::peer_connection::RTCPeerConnection;

use super::Slot;

/// Largest message we send: what every WebRTC stack accepts, whatever it advertises.
const MAX_MESSAGE: usize = 16 * 1024;
/// Largest message we take: Chromium's own `max-message-size` (WebTorrent sends what it likes).
const MAX_INCOMING: usize = 256 * 1024;
/// Writes wait once this much is buffered unsent …
const BUFFER_HIGH: usize = 1 << 20;
/// … until it drains below this (the channel's `bufferedamountlow`).
const BUFFER_LOW: usize = 64 * 1024;

/// An open, detached data channel split into its two directions.
pub fn split(channel: Arc<DataChannel>, owner: Owner) -> (ChannelReader, ChannelWriter) {
    let mut reader = PollDataChannel::new(channel.clone());
    reader.set_read_buf_capacity(MAX_INCOMING);
    let drained = Arc::new(AtomicWaker::new());
    channel.set_buffered_amount_low_threshold(BUFFER_LOW);
    let waker = drained.clone();
    channel.on_buffered_amount_low(Box::new(move || {
        waker.wake();
        Box::pin(async {})
    }));
    let writer = ChannelWriter {
        inner: PollDataChannel::new(channel.clone()),
        channel,
        drained,
        _owner: owner,
    };
    (ChannelReader { inner: reader }, writer)
}

pub struct ChannelReader {
    inner: PollDataChannel,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// The sending direction; it owns the peer connection, which closes when the writer is gone.
pub struct ChannelWriter {
    inner: PollDataChannel,
    channel: Arc<DataChannel>,
    drained: Arc<AtomicWaker>,
    _owner: Owner,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.channel.buffered_amount() >= BUFFER_HIGH {
            self.drained.register(cx.waker());
            // Checked again: the buffer may have drained before the waker was in place.
            if self.channel.buffered_amount() >= BUFFER_HIGH {
                return Poll::Pending;
            }
        }
        let message = buf.len().min(MAX_MESSAGE);
        Pin::new(&mut self.inner).poll_write(cx, buf.split_at(message).0)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Closes the peer connection when dropped (webrtc-rs keeps its tasks and sockets until told).
pub struct Owner {
    pub connection: Arc<RTCPeerConnection>,
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
