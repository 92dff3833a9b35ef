//! A live peer connection: a reader task turning stream reads into events, and a writer task
//! draining a queue of outgoing bytes. The stream is TCP or a WebRTC data channel.

use std::net::SocketAddr;
use std::time::Duration;

use bitfleet_core::engine::PeerKey;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Socket read size.
const READ_BUFFER: usize = 64 * 1024;
/// Queued messages are coalesced into writes of up to this size.
const WRITE_BATCH: usize = 256 * 1024;
/// A peer that accepts none of a batch for this long is gone (or hostile): without a limit, a
/// peer that never reads would pin the connection after we dropped it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a connection's tasks report to the torrent that owns it.
#[derive(Debug)]
pub enum PeerEvent {
    Data(PeerKey, Bytes),
    /// This many queued bytes reached the socket (the engine paces uploads by it).
    Written(PeerKey, usize),
    /// The peer hung up or the socket failed; sent at most once per task.
    Closed(PeerKey),
}

/// The torrent's side of a connection. Dropping it closes the connection once queued bytes
/// are flushed.
#[derive(Debug)]
pub struct PeerConnection {
    outgoing: mpsc::UnboundedSender<Bytes>,
    reader: AbortHandle,
    local: Option<SocketAddr>,
}

impl PeerConnection {
    /// Starts the reader and writer tasks; `events` receives what they see.
    pub fn spawn<E>(key: PeerKey, stream: TcpStream, events: mpsc::Sender<E>) -> Self
    where
        E: From<PeerEvent> + Send + 'static,
    {
        let local = stream.local_addr().ok();
        let (read_half, write_half) = stream.into_split();
        Self::spawn_halves(key, read_half, write_half, local, events)
    }

    /// The same over any stream's two halves; `local` is our end's address, if it has one.
    pub fn spawn_halves<E>(
        key: PeerKey,
        read_half: impl AsyncRead + Unpin + Send + 'static,
        write_half: impl AsyncWrite + Unpin + Send + 'static,
        local: Option<SocketAddr>,
        events: mpsc::Sender<E>,
    ) -> Self
    where
        E: From<PeerEvent> + Send + 'static,
    {
        let (outgoing, queue) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(key, read_half, events.clone())).abort_handle();
        tokio::spawn(write_loop(key, write_half, queue, events));
        Self {
            outgoing,
            reader,
            local,
        }
    }

    /// Our end's address: when the machine loses it, the connection is dead.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Queues bytes for the peer; a dead writer has already reported the close.
    pub fn send(&self, data: Bytes) {
        let _ = self.outgoing.send(data);
    }
}

impl Drop for PeerConnection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn read_loop<E: From<PeerEvent>>(
    key: PeerKey,
    mut socket: impl AsyncRead + Unpin,
    events: mpsc::Sender<E>,
) {
    let mut buffer = BytesMut::with_capacity(READ_BUFFER);
    loop {
        buffer.reserve(READ_BUFFER);
        match socket.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let data = buffer.split().freeze();
                if events
                    .send(PeerEvent::Data(key, data).into())
                    .await
                    .is_err()
                {
                    return; // the torrent is gone
                }
            }
        }
    }
    let _ = events.send(PeerEvent::Closed(key).into()).await;
}

async fn write_loop<E: From<PeerEvent>>(
    key: PeerKey,
    mut socket: impl AsyncWrite + Unpin,
    mut queue: mpsc::UnboundedReceiver<Bytes>,
    events: mpsc::Sender<E>,
) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(first) = queue.recv().await {
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        // Flushed too: a stream may hold bytes back until then (a data channel does).
        let write = async {
            socket.write_all(&batch).await?;
            socket.flush().await
        };
        let written = tokio::time::timeout(WRITE_TIMEOUT, write).await;
        if !matches!(written, Ok(Ok(()))) {
            let _ = events.send(PeerEvent::Closed(key).into()).await;
            return;
        }
        if events
            .send(PeerEvent::Written(key, batch.len()).into())
            .await
            .is_err()
        {
            return; // the torrent is gone
        }
    }
    let _ = socket.shutdown().await;
}
