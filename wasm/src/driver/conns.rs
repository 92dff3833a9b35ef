//! Peer connections: one `RTCPeerConnection` each, with one ordered, reliable data channel that
//! carries the unchanged BitTorrent peer protocol, 68-byte handshake first (WebTorrent's wire).

use std::collections::VecDeque;
use std::time::Duration;

use bitfleet_core::engine::{PeerInfo, PeerKey};
use bitfleet_core::tracker::ws::OfferId;
use bitfleet_core::wire::{Decoder, Handshake, DEFAULT_MAX_MESSAGE_LEN};
use bitfleet_core::{Instant, PeerId};
use bytes::Bytes;
use js_sys::{Object, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    MessageEvent, RtcDataChannel, RtcDataChannelInit, RtcDataChannelState, RtcDataChannelType,
    RtcPeerConnection, RtcPeerConnectionState,
};

use super::{rtc, Driver};
use crate::js::{self, get, Timeout};
use crate::page::{peer_kind, Slot};

/// Largest data-channel message we send: what every WebRTC stack accepts.
const MAX_MESSAGE: usize = 16 * 1024;
/// How long sends smaller than a message wait for more to join them. The engine keeps seconds
/// of requests in flight, so a request that waits 16 ms costs no throughput, and every send
/// saved is a message less for both browsers' transports (4 ms sent four times as many).
const SMALL_SENDS: Duration = Duration::from_millis(16);
/// We fill a channel's send buffer up to this much …
const BUFFER_HIGH: u32 = 1 << 20;
/// … and top it up when it drains below this (`bufferedamountlow`).
const BUFFER_LOW: u32 = 64 * 1024;

/// The next data-channel message out of the queued bytes: up to `MAX_MESSAGE` of them, small
/// pieces joined (a block's 13-byte header and its 16 KiB of data make one full message and a
/// little one otherwise, and each message costs the channel as much as a full one).
fn next_message(queue: &mut VecDeque<Bytes>) -> Option<Bytes> {
    let alone = queue.len() == 1;
    let front = queue.front_mut()?;
    if front.len() >= MAX_MESSAGE || alone {
        let message = front.split_to(front.len().min(MAX_MESSAGE));
        if front.is_empty() {
            queue.pop_front();
        }
        return Some(message);
    }
    let mut message = Vec::with_capacity(MAX_MESSAGE);
    while let Some(front) = queue.front_mut() {
        let take = front.len().min(MAX_MESSAGE - message.len());
        message.extend_from_slice(&front.split_to(take));
        if front.is_empty() {
            queue.pop_front();
        }
        if message.len() == MAX_MESSAGE {
            break;
        }
    }
    Some(Bytes::from(message))
}

pub enum Phase {
    /// Offer or answer in flight; the data channel is not open yet.
    Signaling,
    /// Our handshake is sent; theirs is buffering.
    Handshaking(Vec<u8>),
    /// The engine has the peer.
    Connected,
}

type Handler = Closure<dyn FnMut(JsValue)>;

/// What a flush does with queued bytes short of a full message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    Send,
    Wait,
}

pub struct Conn {
    pub pc: RtcPeerConnection,
    channel: Option<RtcDataChannel>,
    outgoing: bool,
    pub phase: Phase,
    /// Their peer id: from the tracker while signaling, from the handshake once connected.
    pub remote_id: Option<PeerId>,
    address: Option<String>,
    /// The offer this connection waits to be answered under.
    pub offer_id: Option<OfferId>,
    /// Closes a connection that signaling never brought up.
    pub deadline: Option<Timeout>,
    /// Bytes waiting for room in the channel's send buffer, or for company (`SMALL_SENDS`).
    queue: VecDeque<Bytes>,
    /// Their total.
    queued: usize,
    handlers: Vec<Handler>,
    _slot: Slot,
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            clear_channel_handlers(channel);
            channel.close();
        }
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_ondatachannel(None);
        self.pc.close();
    }
}

fn clear_channel_handlers(channel: &RtcDataChannel) {
    channel.set_onopen(None);
    channel.set_onmessage(None);
    channel.set_onclose(None);
    channel.set_onbufferedamountlow(None);
}

impl Conn {
    /// Hands queued bytes to the channel while its buffer has room; returns how many.
    ///
    /// Bytes in the channel's buffer count as written, as bytes in a socket's send buffer do
    /// for a TCP peer: the engine then prepares the next ones while the channel still has
    /// plenty to send, rather than only once it ran dry.
    ///
    /// `Tail::Wait` keeps a last message shorter than `MAX_MESSAGE` queued, for more to join it.
    fn flush(&mut self, tail: Tail) -> usize {
        let Some(channel) = &self.channel else {
            return 0;
        };
        if channel.ready_state() != RtcDataChannelState::Open {
            return 0;
        }
        let mut handed = 0;
        while channel.buffered_amount() < BUFFER_HIGH {
            if tail == Tail::Wait && self.queued < MAX_MESSAGE {
                break;
            }
            let Some(message) = next_message(&mut self.queue) else {
                break;
            };
            self.queued -= message.len();
            // A failed send means the channel is closing; its close event follows.
            if channel.send_with_u8_array(&message).is_err() {
                break;
            }
            handed += message.len();
        }
        handed
    }

    fn push(&mut self, data: Bytes) {
        self.queued += data.len();
        self.queue.push_back(data);
    }

    /// For the page's peer list; only peers past the handshake.
    pub fn describe(&self, key: PeerKey) -> Option<Object> {
        if !matches!(self.phase, Phase::Connected) {
            return None;
        }
        let id = self.remote_id?;
        let client = String::from_utf8_lossy(id.0.get(..8).unwrap_or_default()).into_owned();
        Some(js::object(&[
            ("key", JsValue::from_f64(key.0 as f64)),
            ("peerId", id.to_hex().into()),
            ("client", client.into()),
            ("kind", peer_kind(&id).into()),
            (
                "address",
                self.address.as_deref().map_or(JsValue::NULL, JsValue::from),
            ),
            ("outgoing", self.outgoing.into()),
        ]))
    }
}

impl Driver {
    /// Connections this torrent may still open, within its cap and the page's.
    pub(super) fn room(&self) -> usize {
        self.page
            .max_per_torrent
            .saturating_sub(self.conns.len())
            .min(self.page.free_slots())
    }

    /// Whether some connection already is (or is becoming) one with this peer.
    pub(super) fn knows_peer(&self, peer_id: &PeerId) -> bool {
        self.conns
            .values()
            .any(|conn| conn.remote_id.as_ref() == Some(peer_id))
    }

    /// The connection they offered us, while one is open.
    pub(super) fn incoming_from(&self, peer_id: &PeerId) -> Option<PeerKey> {
        self.conns
            .iter()
            .find(|(_, conn)| !conn.outgoing && conn.remote_id.as_ref() == Some(peer_id))
            .map(|(key, _)| *key)
    }

    /// A new connection; the offering side creates the data channel, the answering side gets
    /// it from the offer.
    pub(super) fn new_conn(&mut self, outgoing: bool) -> Option<(PeerKey, RtcPeerConnection)> {
        let slot = self.page.take_slot()?;
        let pc =
            RtcPeerConnection::new_with_configuration(self.page.rtc_config.unchecked_ref()).ok()?;
        let key = self.new_key();
        let on_state = self.handler(key, Self::connection_state_changed);
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        let mut handlers = vec![on_state];
        let channel = if outgoing {
            let init = RtcDataChannelInit::new();
            init.set_ordered(true);
            Some(pc.create_data_channel_with_data_channel_dict("bitfleet", &init))
        } else {
            let on_channel = self.handler(key, Self::channel_arrived);
            pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
            handlers.push(on_channel);
            None
        };
        self.conns.insert(
            key,
            Conn {
                pc: pc.clone(),
                channel: None,
                outgoing,
                phase: Phase::Signaling,
                remote_id: None,
                address: None,
                offer_id: None,
                deadline: None,
                queue: VecDeque::new(),
                queued: 0,
                handlers,
                _slot: slot,
            },
        );
        if let Some(channel) = channel {
            self.attach_channel(key, channel);
        }
        Some((key, pc))
    }

    fn attach_channel(&mut self, key: PeerKey, channel: RtcDataChannel) {
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        channel.set_buffered_amount_low_threshold(BUFFER_LOW);
        let on_open = self.handler(key, Self::channel_opened);
        let on_message = self.handler(key, Self::channel_message);
        let on_close = self.handler(key, Self::channel_closed);
        let on_drained = self.handler(key, Self::channel_drained);
        channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        channel.set_onbufferedamountlow(Some(on_drained.as_ref().unchecked_ref()));
        let already_open = channel.ready_state() == RtcDataChannelState::Open;
        let Some(conn) = self.conns.get_mut(&key) else {
            return clear_channel_handlers(&channel);
        };
        conn.handlers
            .extend([on_open, on_message, on_close, on_drained]);
        conn.channel = Some(channel);
        if already_open {
            self.channel_opened(key, JsValue::UNDEFINED);
        }
    }

    /// A browser callback that runs `on` on the driver, deferred, then pumps.
    pub(super) fn handler<K: Copy + 'static>(
        &self,
        arg: K,
        on: fn(&mut Driver, K, JsValue),
    ) -> Closure<dyn FnMut(JsValue)> {
        let me = self.me.clone();
        Closure::new(move |event: JsValue| {
            let me = me.clone();
            js::defer(move || {
                if let Some(driver) = me.upgrade() {
                    let mut this = driver.borrow_mut();
                    if !this.stopped {
                        on(&mut this, arg, event);
                        this.pump();
                    }
                }
            });
        })
    }

    fn channel_arrived(&mut self, key: PeerKey, event: JsValue) {
        if let Ok(channel) = get(&event, "channel").dyn_into::<RtcDataChannel>() {
            self.attach_channel(key, channel);
        }
    }

    fn connection_state_changed(&mut self, key: PeerKey, _: JsValue) {
        let Some(conn) = self.conns.get(&key) else {
            return;
        };
        if matches!(
            conn.pc.connection_state(),
            RtcPeerConnectionState::Failed | RtcPeerConnectionState::Closed
        ) {
            self.close(key, js::now());
        }
    }

    fn channel_opened(&mut self, key: PeerKey, _: JsValue) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if !matches!(conn.phase, Phase::Signaling) {
            return;
        }
        conn.phase = Phase::Handshaking(Vec::with_capacity(Handshake::LEN));
        conn.deadline = None;
        let mut handshake = Vec::with_capacity(Handshake::LEN);
        Handshake::new(self.info_hash, self.page.peer_id).encode(&mut handshake);
        self.send(key, Bytes::from(handshake), js::now());
    }

    fn channel_message(&mut self, key: PeerKey, event: JsValue) {
        let data = event.unchecked_into::<MessageEvent>().data();
        let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() else {
            // Text frames are not part of the protocol.
            return self.close(key, js::now());
        };
        let bytes = Uint8Array::new(&buffer).to_vec();
        let now = js::now();
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        match &mut conn.phase {
            Phase::Connected => self.engine.peer_data(key, &bytes, now),
            Phase::Handshaking(buffer) => {
                buffer.extend_from_slice(&bytes);
                let buffered = std::mem::take(buffer);
                self.handshake_received(key, buffered, now);
            }
            Phase::Signaling => {}
        }
    }

    /// Checks what is buffered of the peer's handshake; once whole, hands the peer to the
    /// engine along with whatever followed it.
    fn handshake_received(&mut self, key: PeerKey, buffered: Vec<u8>, now: Instant) {
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        let split = buffered.len().min(Handshake::LEN);
        let (head, rest) = buffered.split_at(split);
        decoder.extend(head);
        let handshake = match decoder.next_handshake() {
            Err(_) => return self.close(key, now),
            Ok(None) => {
                if let Some(conn) = self.conns.get_mut(&key) {
                    conn.phase = Phase::Handshaking(buffered);
                }
                return;
            }
            Ok(Some(handshake)) => handshake,
        };
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if handshake.info_hash != self.info_hash {
            return self.close(key, now);
        }
        conn.phase = Phase::Connected;
        conn.remote_id = Some(handshake.peer_id);
        let info = PeerInfo {
            addr: None,
            peer_id: handshake.peer_id,
            supports_fast: handshake.supports_fast(),
            supports_extensions: handshake.supports_extensions(),
            outgoing: conn.outgoing,
        };
        let pc = conn.pc.clone();
        if !self.engine.peer_connected(key, info, now) {
            // Refused (a duplicate, ourselves, over the cap): the engine never knew it.
            if let Some(conn) = self.conns.get_mut(&key) {
                conn.phase = Phase::Signaling;
            }
            return self.close(key, now);
        }
        if let Some(peer) = self.conns.get(&key).and_then(|conn| conn.describe(key)) {
            self.listeners.emit("peer", with_event(peer, "connected"));
        }
        if !rest.is_empty() {
            self.engine.peer_data(key, rest, now);
        }
        self.after(
            async move { rtc::remote_address(&pc).await },
            move |this, address, _| {
                let Some(conn) = this.conns.get_mut(&key) else {
                    return;
                };
                conn.address = address;
                if let Some(peer) = conn.describe(key) {
                    this.listeners.emit("peer", with_event(peer, "updated"));
                }
            },
        );
    }

    fn channel_closed(&mut self, key: PeerKey, _: JsValue) {
        self.close(key, js::now());
    }

    fn channel_drained(&mut self, key: PeerKey, _: JsValue) {
        self.flush(key, Tail::Send, js::now());
    }

    /// Queues bytes for a peer. A full message goes out at once; less waits `SMALL_SENDS` for
    /// company: a downloading page asks for one block per block received, and a `send` of 17
    /// bytes costs the browser as much as one of 16 KiB (and a packet each way).
    pub(super) fn send(&mut self, key: PeerKey, data: Bytes, now: Instant) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        conn.push(data);
        self.flush(key, Tail::Wait, now);
        let waiting = self.conns.get(&key).is_some_and(|conn| conn.queued > 0);
        if waiting && self.small_sends.is_none() {
            match self.timeout(SMALL_SENDS, Self::send_small) {
                Ok(timeout) => self.small_sends = Some(timeout),
                // No timer (no window): send now rather than never.
                Err(_) => self.flush(key, Tail::Send, now),
            }
        }
    }

    /// `SMALL_SENDS` passed: whatever waits goes out.
    fn send_small(&mut self) {
        self.small_sends = None;
        let now = js::now();
        let keys: Vec<PeerKey> = self.conns.keys().copied().collect();
        for key in keys {
            self.flush(key, Tail::Send, now);
        }
        self.pump();
    }

    /// Hands what the channel has room for; reports it to the engine.
    fn flush(&mut self, key: PeerKey, tail: Tail, now: Instant) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let handed = conn.flush(tail);
        // Only the engine's bytes are reported: the handshake goes out before it has the peer.
        if handed > 0 && matches!(conn.phase, Phase::Connected) {
            self.engine.peer_written(key, handed, now);
        }
    }

    /// Drops a connection; the engine hears of it if it had the peer.
    pub(super) fn close(&mut self, key: PeerKey, now: Instant) {
        let Some(conn) = self.conns.remove(&key) else {
            return;
        };
        if let Some(offer_id) = conn.offer_id {
            self.offers.remove(&offer_id);
        }
        if matches!(conn.phase, Phase::Connected) {
            if let Some(peer) = conn.describe(key) {
                self.listeners.emit("peer", with_event(peer, "closed"));
            }
            self.engine.peer_closed(key, now);
        }
    }
}

fn with_event(peer: Object, event: &str) -> Object {
    js::set(&peer, "event", &event.into());
    peer
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use bytes::Bytes;

    use super::{next_message, MAX_MESSAGE};

    fn drain(queue: &mut VecDeque<Bytes>) -> Vec<Bytes> {
        std::iter::from_fn(|| next_message(queue)).collect()
    }

    #[test]
    fn small_pieces_join_into_full_messages_in_order() {
        let header = Bytes::from_static(&[1; 13]);
        let block = Bytes::from(vec![2; MAX_MESSAGE]);
        let mut queue: VecDeque<Bytes> = [header.clone(), block.clone(), header, block]
            .into_iter()
            .collect();
        let messages = drain(&mut queue);
        assert_eq!(
            messages.iter().map(Bytes::len).collect::<Vec<_>>(),
            [MAX_MESSAGE, MAX_MESSAGE, 26]
        );
        let stream: Vec<u8> = messages.concat();
        assert_eq!(&stream[..13], &[1; 13]);
        assert_eq!(stream[13], 2);
        assert_eq!(&stream[MAX_MESSAGE + 13..MAX_MESSAGE + 26], &[1; 13]);
        assert_eq!(stream.len(), 2 * (MAX_MESSAGE + 13));
    }

    #[test]
    fn a_long_piece_is_cut_without_joining() {
        let mut queue: VecDeque<Bytes> = [Bytes::from(vec![7; 2 * MAX_MESSAGE + 5])].into();
        let sizes: Vec<usize> = drain(&mut queue).iter().map(Bytes::len).collect();
        assert_eq!(sizes, [MAX_MESSAGE, MAX_MESSAGE, 5]);
    }
}
