//! Noticing that the machine moved to another network (a laptop leaving the office Wi-Fi for a
//! VPN or a hotspot): connections bound to an address the machine no longer has are dead even
//! though TCP has not said so yet, and the path to known peers now leaves from elsewhere.
//!
//! No OS notification API is used: binding a UDP socket to an address tells whether the
//! machine still has it, and "connecting" one (which sends nothing) tells which source address
//! the kernel would use towards a peer. Both are cheap enough to poll every few seconds.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Peers remembered as landmarks to probe routes towards.
const LANDMARKS: usize = 8;

/// Route sources towards a few known peers, as of the last poll.
#[derive(Debug, Default)]
pub(super) struct NetworkWatch {
    /// (peer, the source address we would use towards it; `None`: unreachable).
    landmarks: VecDeque<(SocketAddr, Option<IpAddr>)>,
}

impl NetworkWatch {
    /// Remembers a peer we reached (or were told of) to probe routes towards later.
    pub fn remember(&mut self, peer: SocketAddr) {
        if self.landmarks.iter().any(|(addr, _)| *addr == peer) {
            return;
        }
        if self.landmarks.len() == LANDMARKS {
            self.landmarks.pop_front();
        }
        self.landmarks.push_back((peer, route_source(peer)));
    }

    /// Re-probes every landmark; true when any route now leaves from another address (or
    /// became reachable or unreachable) since the last poll.
    pub fn routes_changed(&mut self) -> bool {
        let mut changed = false;
        for (peer, source) in &mut self.landmarks {
            let now = route_source(*peer);
            if now != *source {
                tracing::info!(%peer, was = ?source, now = ?now, "route to peer changed");
                *source = now;
                changed = true;
            }
        }
        changed
    }
}

/// Whether the machine still has the address of `local` (binding to an address it lacks
/// fails); the whole socket address is used so an IPv6 link-local one keeps its scope.
pub(super) fn is_local(mut local: SocketAddr) -> bool {
    local.set_port(0);
    local.ip().is_unspecified() || UdpSocket::bind(local).is_ok()
}

/// The source address the kernel picks towards `peer`; `None` when there is no route.
fn route_source(peer: SocketAddr) -> Option<IpAddr> {
    let any: IpAddr = match peer {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind(SocketAddr::new(any, 0)).ok()?;
    socket.connect(peer).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_local_and_a_documentation_address_is_not() {
        assert!(is_local("127.0.0.1:5000".parse().unwrap()));
        assert!(!is_local("192.0.2.77:5000".parse().unwrap()));
    }

    #[test]
    fn stable_routes_are_not_a_change() {
        let mut watch = NetworkWatch::default();
        watch.remember("127.0.0.1:6881".parse().unwrap());
        watch.remember("127.0.0.1:6881".parse().unwrap());
        assert_eq!(watch.landmarks.len(), 1);
        assert_eq!(
            watch.landmarks[0].1,
            Some(IpAddr::from(Ipv4Addr::LOCALHOST))
        );
        assert!(!watch.routes_changed());
    }
}
