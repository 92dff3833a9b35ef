//! The 68-byte handshake on a stream (TCP, or a WebRTC data channel), each direction under a
//! timeout.

use bitfleet_core::wire::{Decoder, Handshake, WireError, DEFAULT_MAX_MESSAGE_LEN};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::{NetError, HANDSHAKE_TIMEOUT};

/// Reads exactly the handshake, so every later byte is left for the engine.
pub async fn read_handshake(stream: &mut (impl AsyncRead + Unpin)) -> Result<Handshake, NetError> {
    let mut raw = [0u8; Handshake::LEN];
    timeout(HANDSHAKE_TIMEOUT, stream.read_exact(&mut raw))
        .await
        .map_err(|_| NetError::Timeout)??;
    let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
    decoder.extend(&raw);
    decoder
        .next_handshake()?
        .ok_or(NetError::Wire(WireError::Handshake("incomplete")))
}

pub async fn write_handshake(
    stream: &mut (impl AsyncWrite + Unpin),
    handshake: &Handshake,
) -> Result<(), NetError> {
    let mut raw = Vec::with_capacity(Handshake::LEN);
    handshake.encode(&mut raw);
    let write = async {
        stream.write_all(&raw).await?;
        stream.flush().await
    };
    timeout(HANDSHAKE_TIMEOUT, write)
        .await
        .map_err(|_| NetError::Timeout)??;
    Ok(())
}
