//! Accepting peers: read the handshake, find its torrent, answer, hand the connection over.

use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::wire::Handshake;
use bitfleet_core::PeerId;
use tokio::net::{TcpListener, TcpStream};

use super::task::Event;
use super::Router;
use crate::net::{self, NetError, ShakenPeer};

pub(super) async fn accept_loop(listener: TcpListener, router: Arc<Router>, peer_id: PeerId) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let router = router.clone();
                tokio::spawn(async move {
                    if let Err(e) = route(stream, addr, &router, peer_id).await {
                        tracing::debug!(%addr, error = %e, "incoming peer dropped");
                    }
                });
            }
            Err(e) => {
                // Typically out of descriptors: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn route(
    mut stream: TcpStream,
    addr: std::net::SocketAddr,
    router: &Router,
    peer_id: PeerId,
) -> Result<(), NetError> {
    stream.set_nodelay(true)?;
    let handshake = net::read_handshake(&mut stream).await?;
    let Some(torrent) = router.get(&handshake.info_hash) else {
        return Err(NetError::UnknownTorrent);
    };
    if handshake.peer_id == peer_id {
        return Err(NetError::OurOwnId);
    }
    net::write_handshake(&mut stream, &Handshake::new(handshake.info_hash, peer_id)).await?;
    let peer = ShakenPeer {
        stream,
        addr,
        handshake,
        outgoing: false,
    };
    // A closed channel means the torrent just stopped; dropping the peer is right then.
    let _ = torrent.send(Event::Shaken(peer)).await;
    Ok(())
}
