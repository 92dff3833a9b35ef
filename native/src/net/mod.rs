//! TCP for the peer wire: handshakes, dialing, and the reader/writer tasks of a connection.

mod handshake;
pub mod local_networks;
mod peer;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bitfleet_core::wire::{Handshake, WireError};
use bitfleet_core::{InfoHash, PeerId};
use tokio::net::TcpStream;

pub use handshake::{read_handshake, write_handshake};
pub use peer::{PeerConnection, PeerEvent};

/// Limit on a dial, and on each half of a handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("timed out")]
    Timeout,
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("peer answered for another torrent")]
    WrongTorrent,
    #[error("handshake for a torrent we do not have")]
    UnknownTorrent,
    #[error("connected to ourselves")]
    OurOwnId,
}

/// A connection whose handshakes have both been exchanged.
#[derive(Debug)]
pub struct ShakenPeer {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub handshake: Handshake,
    pub outgoing: bool,
}

/// Dials `addr`, sends our handshake and checks theirs.
pub async fn dial(
    addr: SocketAddr,
    info_hash: InfoHash,
    peer_id: PeerId,
) -> Result<ShakenPeer, NetError> {
    let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| NetError::Timeout)??;
    stream.set_nodelay(true)?;
    write_handshake(&mut stream, &Handshake::new(info_hash, peer_id)).await?;
    let handshake = read_handshake(&mut stream).await?;
    if handshake.info_hash != info_hash {
        return Err(NetError::WrongTorrent);
    }
    if handshake.peer_id == peer_id {
        return Err(NetError::OurOwnId);
    }
    Ok(ShakenPeer {
        stream,
        addr,
        handshake,
        outgoing: true,
    })
}
