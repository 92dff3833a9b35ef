//! The torrent state machine: one `Torrent` per torrent, driven by events, emitting actions.
//!
//! A driver (tokio in `native`, the browser in `wasm`, the simulator) owns the connections and
//! the storage. It tells the torrent what happened (`peer_connected`, `peer_data`,
//! `piece_verified`, `handle_timeout`, …) and then drains `poll_action` until `None`, carrying
//! each action out. `poll_timeout` says when to call `handle_timeout` next.
//!
//! Peers are driver-assigned [`PeerKey`]s. The handshake is done by the driver (it must read the
//! info-hash to route an incoming connection to its torrent), so a peer arrives already shaken.

mod addresses;
mod announce;
mod choker;
mod discovery;
mod exports;
mod fetch;
mod inspect;
mod locality;
mod messages;
mod peer;
mod picker;
mod throttle;
mod torrent;
mod transfer;
mod web_seed;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::budget::SessionBudget;
use crate::tracker::AnnounceEvent;
use crate::wire::BlockRef;
use crate::PeerId;

pub use fetch::MetadataFetch;
pub use inspect::{PartialSnapshot, PeerSnapshot};
pub use torrent::Torrent;
pub use web_seed::{piece_ranges, WebSeedId, WebSeedRange};

/// A driver's handle for one connection; unique for the torrent's lifetime. Drivers count up
/// from zero: the top of the range names web seeds inside the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);

/// What the driver knows of a freshly shaken peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Remote address when the transport has one (TCP); WebRTC peers may have none.
    pub addr: Option<SocketAddr>,
    pub peer_id: PeerId,
    pub supports_fast: bool,
    pub supports_extensions: bool,
    /// We dialed them.
    pub outgoing: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub peer_id: PeerId,
    /// Port we accept peers on, announced to trackers and in the extension handshake.
    pub listen_port: u16,
    /// Connections the torrent keeps at most (dials stop there).
    pub max_peers: usize,
    /// Dials in flight at once.
    pub max_pending_connects: usize,
    /// Regular unchoke slots (tit-for-tat by rate); one more is the optimistic unchoke. Six,
    /// not mainline's four: a laptop's upload spread over more receivers is less often held
    /// back by receivers whose downlinks others already fill (the company simulation at 1/400:
    /// every laptop done by 1.29 × the bound instead of 1.34 ×, docs/simulation.md).
    pub unchoke_slots: usize,
    /// How often the regular unchoke slots are reassigned, by what peers moved since the last
    /// time. This and the next two are the timers that matter against the time a block takes:
    /// the simulator stretches them when it scales rates down.
    pub rechoke_interval: Duration,
    pub optimistic_interval: Duration,
    /// A peer that sent nothing we asked for this long is snubbed.
    pub snub_timeout: Duration,
    /// At the connection limit, a connection neither side has been interested in for this
    /// long is closed, so its slot can go to a peer that wants something: a seed's peers that
    /// now get everything from colleagues, laptops that finished, would otherwise keep every
    /// slot of the seed while others wait.
    pub disinterest_timeout: Duration,
    /// With local peers (see `local_networks`): once our share of the WAN fetches is in and no
    /// colleague has gained a piece for this long, their shares are open to us too.
    pub colleagues_stall_timeout: Duration,
    /// Upload cap in bytes/s; `None` is unlimited.
    pub upload_limit: Option<u64>,
    /// Download cap in bytes/s; `None` is unlimited.
    pub download_limit: Option<u64>,
    /// Global caps shared with the session's other torrents, on top of this torrent's own.
    pub budget: Option<SessionBudget>,
    /// Keep serving others once complete.
    pub seed_when_complete: bool,
    /// Client name sent in the extension handshake.
    pub client_name: String,
    /// The raw info dictionary, served to peers that ask for it (BEP 9) so magnet links work.
    pub metadata: Option<Bytes>,
    /// Order new pieces are started in. A benchmark knob: clients keep the default.
    pub piece_order: PieceOrder,
    /// Our site's networks (office LAN ranges). Peers there are local. What a local peer holds
    /// is never requested from a remote one, and what only remote peers hold is shared out
    /// among the site's members (by peer id), each fetching its share across the WAN link —
    /// so a piece crosses the site's link about once, then spreads on the LAN; a member takes
    /// the others' share too when no local peer has anything new for it. Local peers win
    /// unchoke ties. Empty: no peer is local and nothing changes.
    pub local_networks: Vec<ipnet::IpNet>,
}

/// Which missing piece the picker starts next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PieceOrder {
    /// A few random pieces first, then the rarest among peers: what keeps a swarm healthy.
    #[default]
    RarestFirst,
    /// Lowest index first: a deliberately weak picker, so the swarm simulator can show (and
    /// its regression tests can assert) what rarest-first is worth.
    Sequential,
}

impl Config {
    pub fn new(peer_id: PeerId, listen_port: u16) -> Self {
        Self {
            peer_id,
            listen_port,
            max_peers: 60,
            max_pending_connects: 10,
            unchoke_slots: 6,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            snub_timeout: Duration::from_secs(30),
            colleagues_stall_timeout: Duration::from_secs(10),
            disinterest_timeout: Duration::from_secs(120),
            upload_limit: None,
            download_limit: None,
            budget: None,
            seed_when_complete: true,
            client_name: concat!("Bitfleet ", env!("CARGO_PKG_VERSION")).to_owned(),
            metadata: None,
            piece_order: PieceOrder::default(),
            local_networks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    Protocol,
    NotUseful,
    Timeout,
    TooManyPeers,
    TooManyHashFailures,
    Shutdown,
}

/// Work the driver must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the peer's connection, in order.
    Send { peer: PeerKey, data: Bytes },
    /// Close the connection; the driver then calls `peer_closed`.
    Disconnect {
        peer: PeerKey,
        reason: DisconnectReason,
    },
    /// Dial this address, handshake, then `peer_connected` (or `connect_failed`).
    Connect { addr: SocketAddr },
    /// Read a block from storage for this peer, then `block_read`.
    ReadBlock { peer: PeerKey, block: BlockRef },
    /// Hash a complete piece, then `piece_verified`. Nothing of it has touched storage yet.
    Verify { piece: u32, data: Bytes },
    /// Store a verified piece, then `piece_written`.
    Write { piece: u32, data: Bytes },
    /// Announce to the trackers, then `announce_result`.
    Announce {
        event: Option<AnnounceEvent>,
        stats: TransferStats,
    },
    /// Every piece is verified and stored.
    Completed,
    /// Fetch `piece` from a BEP 19 web seed: the `ranges` in order, their bodies concatenated,
    /// then `web_seed_fetched` (also on failure).
    FetchWebSeed {
        seed: WebSeedId,
        piece: u32,
        ranges: Vec<WebSeedRange>,
    },
    /// From a [`MetadataFetch`]: the info dictionary, checked against the info-hash.
    MetadataReceived { info: Bytes },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferStats {
    /// Payload bytes sent to peers.
    pub uploaded: u64,
    /// Payload bytes received from peers (including discarded ones).
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
}

/// A snapshot for progress displays.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub transfer: TransferStats,
    pub pieces_have: u32,
    pub pieces_total: u32,
    pub peers: usize,
    /// Bytes/s over the last few seconds.
    pub upload_rate: u64,
    pub download_rate: u64,
    pub hash_failures: u32,
    /// Bytes received that were thrown away (duplicates in endgame, failed pieces).
    pub wasted: u64,
}
