//! Why the peers still downloading are not done: for each, what it misses, who holds it, and
//! how every connection that could give it stands (interest, choking, requests, snubs). The
//! `--dump-stalled` report, written when a run hits its time limit.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bitfleet_core::engine::{PeerKey, PeerSnapshot, Torrent};
use bitfleet_core::Instant;

use crate::report::hours;

/// Missing pieces listed by number at most (the rest are counted).
const LISTED_PIECES: usize = 8;

/// What the diagnosis needs to know of the swarm around one engine.
pub(crate) struct Swarm<'a> {
    /// Name of whoever holds an address now.
    pub name_of: &'a dyn Fn(SocketAddr) -> Option<String>,
    /// Online hosts (name, engine).
    pub engines: Vec<(String, &'a Torrent)>,
    /// When the tracker last heard from an address.
    pub tracker_seen: &'a dyn Fn(SocketAddr) -> Option<Instant>,
}

/// The report on one unfinished engine; `far_view` is how the other end sees a connection.
pub(crate) fn stalled_peer(
    out: &mut String,
    far_view: &dyn Fn(PeerKey) -> Option<PeerSnapshot>,
    name: &str,
    addr: Option<SocketAddr>,
    engine: &Torrent,
    swarm: &Swarm,
    now: Instant,
) {
    let have = engine.have();
    let total = have.len();
    let missing: Vec<u32> = (0..total).filter(|&p| !have.get(p)).collect();
    let peers = engine.peer_snapshots(now);
    let _ = writeln!(
        out,
        "\n{name} ({}): {} of {total} pieces, {} missing, {} peers, endgame {}",
        addr.map_or("offline".into(), |a| a.to_string()),
        total as usize - missing.len(),
        missing.len(),
        peers.len(),
        engine.in_endgame(),
    );
    let status = engine.status(now);
    let _ = writeln!(
        out,
        "  download {} B/s now, {} B in all ({} B wasted), upload {} B/s",
        status.download_rate, status.transfer.downloaded, status.wasted, status.upload_rate
    );
    let tracker = addr.and_then(|a| (swarm.tracker_seen)(a));
    let _ = writeln!(
        out,
        "  tracker last heard it {} ago; next announce {}",
        tracker.map_or("never".into(), |t| hours(
            now.saturating_since(t).as_secs_f64()
        )),
        engine
            .next_announce()
            .map_or("none due".into(), |t| format!(
                "in {}",
                hours(t.saturating_since(now).as_secs_f64())
            )),
    );
    for partial in engine.partial_snapshots() {
        let _ = writeln!(
            out,
            "  partial piece {}: {} free, {} requested, {} received",
            partial.piece, partial.free, partial.requested, partial.received
        );
    }
    for &piece in missing.iter().take(LISTED_PIECES) {
        let connected: Vec<String> = peers
            .iter()
            .filter(|p| p.holding.as_ref().is_some_and(|h| h.get(piece)))
            .map(|p| label(p, swarm))
            .collect();
        let anywhere = swarm
            .engines
            .iter()
            .filter(|(_, e)| e.have().get(piece))
            .count();
        let _ = writeln!(
            out,
            "  piece {piece}: held by {anywhere} online hosts; by connected peers: {}",
            if connected.is_empty() {
                "none".into()
            } else {
                connected.join(", ")
            }
        );
    }
    if missing.len() > LISTED_PIECES {
        let _ = writeln!(out, "  … {} more missing", missing.len() - LISTED_PIECES);
    }
    let useful = |p: &&PeerSnapshot| {
        p.holding
            .as_ref()
            .is_some_and(|h| missing.iter().any(|&m| h.get(m)))
    };
    let _ = writeln!(out, "  connections holding something it misses:");
    for p in peers.iter().filter(useful) {
        let flags = [
            (p.am_interested, "interested"),
            (p.peer_choking, "choked-by-them"),
            (p.peer_interested, "they-interested"),
            (!p.am_choking, "we-unchoke"),
            (p.snubbed, "SNUBBED"),
            (p.skipped, "SKIPPED"),
            (p.on_parole, "parole"),
            (p.local, "local"),
        ];
        let flags: Vec<&str> = flags.iter().filter(|f| f.0).map(|f| f.1).collect();
        let _ = writeln!(
            out,
            "    {}: interesting {}, outstanding {} (last block {} ago), their requests {}; {}",
            label(p, swarm),
            p.interesting,
            p.outstanding,
            hours(p.since_last_block.as_secs_f64()),
            p.incoming,
            flags.join(" "),
        );
        if let Some(far) = far_view(p.key) {
            let _ = writeln!(
                out,
                "      they: choking us {}, interested {}, our requests queued {}, unsent {} B",
                far.am_choking, far.peer_interested, far.incoming, far.unsent
            );
        }
    }
    let useless = peers.len() - peers.iter().filter(useful).count();
    let _ = writeln!(out, "  {useless} other connections hold nothing it misses");
}

fn label(p: &PeerSnapshot, swarm: &Swarm) -> String {
    p.addr
        .and_then(|a| (swarm.name_of)(a))
        .unwrap_or_else(|| format!("{:?}", p.key))
}
