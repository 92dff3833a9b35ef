//! How much of our upload remote peers may have while colleagues on our site wait for it.
//!
//! With sites on, an office of n takes about one copy of the payload over its WAN link and
//! copies every piece n - 1 times over its members' own uplinks, so those uplinks have room
//! for about one copy out. Flow fairness gave remote peers far more: in an office of five,
//! each member unchoked four colleagues and three remote peers, so 3/7 of its uplink left
//! the office (1.6-1.9 copies per office) and the members were fed at 76-80 % of their
//! links. While colleagues wait for our upload, remote peers now get what they gave us
//! since the last rechoke (tit-for-tat in bytes, which keeps the office's imports coming),
//! or a floor, whichever is more. The floor lets a remote peer that gave nothing yet start
//! trading (without it the office's imports dried up: every laptop 1.32 x the bound against
//! 1.22 x), which the office needs only while it lacks pieces: it is 1/(2c + 1) of our
//! upload with c colleagues waiting, times the share of the pieces no one on the site
//! holds. (Without that factor an office of five that held every piece still sent 16-25 %
//! of its uplinks out while its members lacked a quarter of them, and its members finished
//! last.) With no colleague waiting, remote peers take everything (docs/simulation.md,
//! items 12 and 14).

use crate::wire::BLOCK_SIZE;

use super::torrent::Torrent;

/// Bytes remote peers may get ahead of their ration, so a round starts with some to give.
const SLACK: u64 = 4 * BLOCK_SIZE as u64;

/// The ration for the current rechoke round, while colleagues wait for our upload.
#[derive(Debug, Clone, Copy)]
pub(super) struct ExportRation {
    /// Colleagues we unchoke that want data and have some on its way.
    colleagues: u64,
    /// What remote peers sent us since the last rechoke.
    given_to_us: u64,
    /// Share of the pieces no one on our site held at the last rechoke.
    site_lacks: f64,
}

impl ExportRation {
    /// Whether a remote peer may have another block, given what was read for colleagues and
    /// for remote peers since the last rechoke.
    pub fn allows(&self, to_colleagues: u64, to_remote: u64) -> bool {
        let floor = (to_colleagues / (2 * self.colleagues)) as f64 * self.site_lacks;
        to_remote <= (self.given_to_us + SLACK).max(floor as u64)
    }
}

impl Torrent {
    /// The ration remote peers' requests are served under now; `None` when no colleague
    /// waits for our upload.
    pub(super) fn export_ration(&self) -> Option<ExportRation> {
        let colleagues = self
            .peers
            .values()
            .filter(|p| {
                p.local
                    && !p.am_choking
                    && p.peer_interested
                    && (p.unsent > 0 || p.reading > 0 || !p.incoming.is_empty())
            })
            .count() as u64;
        // Called on every byte in and out: a torrent with no colleague waiting (every laptop
        // in the field, every seed) stops here.
        if colleagues == 0 {
            return None;
        }
        let given_to_us = self
            .peers
            .values()
            .filter(|p| !p.local)
            .map(|p| p.received_since_rechoke())
            .sum();
        Some(ExportRation {
            colleagues,
            given_to_us,
            site_lacks: self.site_lacks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_peers_get_what_they_give_or_a_small_share() {
        let ration = ExportRation {
            colleagues: 4,
            given_to_us: 0,
            site_lacks: 1.0,
        };
        assert!(ration.allows(0, SLACK), "a round starts with some to give");
        assert!(!ration.allows(0, SLACK + 1));
        assert!(
            ration.allows(800_000, 100_000),
            "an eighth of what colleagues got: a ninth of the upload"
        );
        assert!(!ration.allows(800_000, 100_001));
        let trading = ExportRation {
            colleagues: 4,
            given_to_us: 500_000,
            site_lacks: 1.0,
        };
        assert!(
            trading.allows(800_000, 500_000 + SLACK),
            "what they gave us, back"
        );
        assert!(!trading.allows(800_000, 500_001 + SLACK));
    }

    #[test]
    fn the_floor_shrinks_with_what_the_site_still_lacks() {
        let ration = |site_lacks| ExportRation {
            colleagues: 4,
            given_to_us: 0,
            site_lacks,
        };
        assert!(ration(0.5).allows(1_600_000, 100_000), "half the floor");
        assert!(!ration(0.5).allows(1_600_000, 100_001));
        assert!(
            !ration(0.0).allows(800_000, SLACK + 1),
            "a site that holds every piece owes remote peers only what they gave"
        );
        let trading = ExportRation {
            given_to_us: 300_000,
            ..ration(0.0)
        };
        assert!(trading.allows(800_000, 300_000 + SLACK));
    }
}
