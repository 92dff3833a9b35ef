//! Bytes exchanged with browser peers (told by their peer ids), reported apart from the totals
//! so a mixed swarm shows which way data flowed between browsers and natives.

use std::collections::HashSet;

use bitfleet_core::engine::PeerKey;
use bitfleet_core::PeerId;

/// Peer-wire bytes to and from browsers, protocol messages included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrowserBytes {
    pub received: u64,
    pub sent: u64,
}

#[derive(Debug, Default)]
pub(super) struct BrowserTraffic {
    browsers: HashSet<PeerKey>,
    pub bytes: BrowserBytes,
}

impl BrowserTraffic {
    pub fn connected(&mut self, key: PeerKey, peer_id: &PeerId) {
        if peer_id.is_browser() {
            self.browsers.insert(key);
        }
    }

    pub fn received(&mut self, key: PeerKey, bytes: usize) {
        if self.browsers.contains(&key) {
            self.bytes.received = self.bytes.received.saturating_add(bytes as u64);
        }
    }

    pub fn sent(&mut self, key: PeerKey, bytes: usize) {
        if self.browsers.contains(&key) {
            self.bytes.sent = self.bytes.sent.saturating_add(bytes as u64);
        }
    }

    pub fn closed(&mut self, key: PeerKey) {
        self.browsers.remove(&key);
    }
}
