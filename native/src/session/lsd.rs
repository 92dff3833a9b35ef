//! Local Service Discovery (BEP 14) on the session's torrents: announces them to the LAN's
//! multicast group and hands peers heard there to their torrent, so colleagues on one LAN find
//! each other with no tracker at all. Datagrams are written and read by
//! `bitfleet_core::lsd`; this is the socket, the timing and the routing.
//!
//! IPv4 only (239.192.152.143:6771): every LAN with IPv6 has IPv4 too in the offices this is
//! for. Each torrent is announced when it starts and every five minutes after (BEP 14 asks
//! for at most one announce a minute); a sender is heard at most once a second, so a flood
//! from one host costs a hash-map lookup per datagram.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitfleet_core::lsd::{Search, GROUP_V4, MAX_INFO_HASHES};
use bitfleet_core::InfoHash;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::task::Event;
use super::Router;

const REANNOUNCE: Duration = Duration::from_secs(300);
/// How often the torrent list is looked at for ones not announced yet.
const TICK: Duration = Duration::from_secs(1);
/// One datagram per sender per this long is heard; the rest are dropped unread.
const PER_SENDER: Duration = Duration::from_secs(1);
/// Senders remembered for the rate limit; the map is cleared when it grows past this.
const MAX_SENDERS: usize = 4096;

/// Runs discovery for `router`'s torrents until the task is aborted.
pub(super) async fn run(router: Arc<Router>, port: u16) {
    let socket = match bind() {
        Ok(socket) => socket,
        Err(err) => {
            tracing::warn!(%err, "local service discovery unavailable");
            return;
        }
    };
    let cookie = format!("{:016x}", fastrand::u64(..));
    let mut announced: HashMap<InfoHash, Instant> = HashMap::new();
    let mut heard: HashMap<IpAddr, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval(TICK);
    let mut buf = vec![0u8; 1500];
    loop {
        tokio::select! {
            _ = ticks.tick() => announce_due(&socket, &router, port, &cookie, &mut announced).await,
            received = socket.recv_from(&mut buf) => match received {
                Ok((len, from)) => {
                    if rate_limited(&mut heard, from.ip()) {
                        continue;
                    }
                    if let Some(datagram) = buf.get(..len) {
                        deliver(datagram, from.ip(), &cookie, &router);
                    }
                }
                Err(err) => tracing::debug!(%err, "lsd receive failed"),
            },
        }
    }
}

/// The group's port, shared with other clients on this host, joined on the default interface.
fn bind() -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, GROUP_V4.port());
    socket.bind(&any.into())?;
    socket.join_multicast_v4(GROUP_V4.ip(), &Ipv4Addr::UNSPECIFIED)?;
    socket.set_multicast_ttl_v4(1)?;
    UdpSocket::from_std(socket.into())
}

/// Announces the torrents not announced for `REANNOUNCE`, several per datagram.
async fn announce_due(
    socket: &UdpSocket,
    router: &Router,
    port: u16,
    cookie: &str,
    announced: &mut HashMap<InfoHash, Instant>,
) {
    let now = Instant::now();
    let current = router.discoverable();
    announced.retain(|hash, _| current.contains(hash));
    let due: Vec<InfoHash> = current
        .into_iter()
        .filter(|hash| {
            announced
                .get(hash)
                .is_none_or(|at| now.duration_since(*at) >= REANNOUNCE)
        })
        .collect();
    for batch in due.chunks(MAX_INFO_HASHES) {
        let search = Search {
            port,
            info_hashes: batch.to_vec(),
            cookie: Some(cookie.to_owned()),
        };
        let datagram = search.encode(&GROUP_V4.to_string());
        match socket.send_to(&datagram, SocketAddr::V4(GROUP_V4)).await {
            Ok(_) => announced.extend(batch.iter().map(|hash| (*hash, now))),
            // No route to the group (no LAN yet): tried again next tick.
            Err(err) => tracing::debug!(%err, "lsd announce failed"),
        }
    }
}

/// True when `from` was heard less than `PER_SENDER` ago (and remembers it otherwise).
fn rate_limited(heard: &mut HashMap<IpAddr, Instant>, from: IpAddr) -> bool {
    let now = Instant::now();
    if heard
        .get(&from)
        .is_some_and(|at| now.duration_since(*at) < PER_SENDER)
    {
        return true;
    }
    if heard.len() >= MAX_SENDERS {
        heard.clear();
    }
    heard.insert(from, now);
    false
}

/// Hands the sender of a valid search (not ours) to each of its torrents we run.
fn deliver(datagram: &[u8], from: IpAddr, cookie: &str, router: &Router) {
    let search = match Search::parse(datagram) {
        Ok(search) => search,
        Err(err) => {
            tracing::debug!(%from, %err, "ignoring lsd datagram");
            return;
        }
    };
    if search.cookie.as_deref() == Some(cookie) {
        return;
    }
    let peer = SocketAddr::new(from, search.port);
    let ours = router.discoverable();
    for info_hash in search.info_hashes.iter().filter(|h| ours.contains(h)) {
        if let Some(events) = router.get(info_hash) {
            tracing::debug!(%peer, %info_hash, "peer found by local service discovery");
            // A full queue drops the find: the peer announces again within minutes.
            let _ = events.try_send(Event::Discovered(vec![peer]));
        }
    }
}
