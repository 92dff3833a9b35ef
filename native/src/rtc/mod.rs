//! WebRTC peers (webrtc-rs): the peer wire over one data channel per connection, as WebTorrent
//! and the browser page run it, with connections set up through the WebSocket tracker
//! (`tracker`). Signaling is not trickled: each description carries all its ICE candidates.

mod channel;
mod inflight;
mod tracker;
mod underway;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::tracker::ws::{IceServer, SessionDescription};
use bitfleet_core::wire::Handshake;
use bitfleet_core::{InfoHash, PeerId};
use tokio::sync::{oneshot, Notify};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState, RTCSessionDescription,
};

use channel::Owner;
pub use channel::{ChannelReader, ChannelWriter};
pub use tracker::{ws_tracker_url, RtcAnnouncer};

use crate::net::{self, NetError};

/// ICE gathering on a LAN takes milliseconds; an unreachable STUN server must not hold an offer
/// back longer than this.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    #[error(transparent)]
    WebRtc(#[from] webrtc::error::Error),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the data channel did not open")]
    NotOpened,
    #[error("expected an SDP {0}")]
    WrongKind(&'static str),
}

/// The process's WebRTC settings, shared by its torrents.
pub struct Rtc {
    bind: IpAddr,
}

impl Rtc {
    /// `bind`: the address the peer listener binds; when it is a specific one, ICE gathers
    /// candidates on that address only (a wildcard means every interface of its family but
    /// loopback and link-local).
    pub fn new(bind: IpAddr) -> Self {
        Self { bind }
    }

    async fn connection(
        &self,
        ice: &[IceServer],
        events: Arc<Events>,
    ) -> Result<Arc<dyn PeerConnection>, RtcError> {
        let ice_servers = ice
            .iter()
            .map(|server| RTCIceServer {
                urls: vec![server.urls.clone()],
                username: server.username.clone().unwrap_or_default(),
                credential: server.credential.clone().unwrap_or_default(),
            })
            .collect();
        let connection = PeerConnectionBuilder::new()
            .with_configuration(
                RTCConfigurationBuilder::new()
                    .with_ice_servers(ice_servers)
                    .build(),
            )
            .with_handler(events)
            .with_udp_addrs(vec![SocketAddr::new(self.bind, 0)])
            // Sends wait while this much is unacknowledged: no unbounded queue.
            .with_data_channel_send_buffer_limit(channel::BUFFER_HIGH)
            .build()
            .await?;
        Ok(Arc::new(connection))
    }
}

/// What a connection tells us: ICE gathering done, the peer's channel, a failure.
#[derive(Default)]
struct Events {
    gathered: Notify,
    arrived: std::sync::Mutex<Option<oneshot::Sender<Arc<dyn DataChannel>>>>,
    failed: Notify,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.notify_one();
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            self.failed.notify_one();
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        // The peer's first channel is the wire; WebTorrent opens only one.
        let arrived = self.arrived.lock().ok().and_then(|mut slot| slot.take());
        if let Some(arrived) = arrived {
            let _ = arrived.send(channel);
        }
    }
}

/// Counts a torrent's WebRTC connections, from the first signaling step to the close.
#[derive(Debug, Clone, Default)]
pub struct Slots(Arc<AtomicUsize>);

impl Slots {
    pub fn in_use(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    pub fn take(&self) -> Slot {
        self.0.fetch_add(1, Ordering::Relaxed);
        Slot(self.0.clone())
    }
}

/// One connection's place in its torrent's count, given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A WebRTC peer whose handshakes have both been exchanged.
pub struct RtcPeer {
    pub reader: ChannelReader,
    pub writer: ChannelWriter,
    pub handshake: Handshake,
    pub outgoing: bool,
}

/// A connection we offer: created with its data channel, the offer gathered.
pub struct Offering {
    owner: Owner,
    channel: Arc<dyn DataChannel>,
    pub offer: SessionDescription,
}

impl Offering {
    pub async fn new(rtc: &Rtc, ice: &[IceServer], slot: Slot) -> Result<Self, RtcError> {
        let events = Arc::new(Events::default());
        let connection = rtc.connection(ice, events.clone()).await?;
        let owner = Owner {
            connection: connection.clone(),
            events,
            _slot: slot,
        };
        let init = RTCDataChannelInit {
            ordered: true,
            ..RTCDataChannelInit::default()
        };
        let channel = connection
            .create_data_channel("bitfleet", Some(init))
            .await?;
        let offer = connection.create_offer(None).await?;
        let offer = gathered(&owner, offer).await?;
        Ok(Self {
            owner,
            channel,
            offer,
        })
    }

    /// Takes the peer's answer and brings the connection up.
    pub async fn complete(
        self,
        answer: SessionDescription,
        info_hash: InfoHash,
        peer_id: PeerId,
    ) -> Result<RtcPeer, RtcError> {
        if answer.kind != "answer" {
            return Err(RtcError::WrongKind("answer"));
        }
        self.owner
            .connection
            .set_remote_description(RTCSessionDescription::answer(answer.sdp)?)
            .await?;
        open(self.owner, self.channel, info_hash, peer_id, true).await
    }
}

/// A connection answering a peer's offer: the answer to send back, and the connection's bring-up.
pub struct Answering {
    owner: Owner,
    arrived: oneshot::Receiver<Arc<dyn DataChannel>>,
    pub answer: SessionDescription,
}

impl Answering {
    pub async fn new(
        rtc: &Rtc,
        ice: &[IceServer],
        offer: SessionDescription,
        slot: Slot,
    ) -> Result<Self, RtcError> {
        if offer.kind != "offer" {
            return Err(RtcError::WrongKind("offer"));
        }
        let (arrives, arrived) = oneshot::channel();
        let events = Arc::new(Events {
            arrived: std::sync::Mutex::new(Some(arrives)),
            ..Events::default()
        });
        let connection = rtc.connection(ice, events.clone()).await?;
        let owner = Owner {
            connection: connection.clone(),
            events,
            _slot: slot,
        };
        connection
            .set_remote_description(RTCSessionDescription::offer(offer.sdp)?)
            .await?;
        let answer = connection.create_answer(None).await?;
        let answer = gathered(&owner, answer).await?;
        Ok(Self {
            owner,
            arrived,
            answer,
        })
    }

    pub async fn complete(self, info_hash: InfoHash, peer_id: PeerId) -> Result<RtcPeer, RtcError> {
        let channel = self.arrived.await.map_err(|_| RtcError::NotOpened)?;
        open(self.owner, channel, info_hash, peer_id, false).await
    }
}

/// Sets our description and waits for ICE gathering, so it carries every candidate.
async fn gathered(
    owner: &Owner,
    description: RTCSessionDescription,
) -> Result<SessionDescription, RtcError> {
    owner.connection.set_local_description(description).await?;
    let _ = tokio::time::timeout(GATHER_TIMEOUT, owner.events.gathered.notified()).await;
    let local = owner
        .connection
        .local_description()
        .await
        .ok_or(RtcError::NotOpened)?;
    Ok(SessionDescription {
        kind: local.sdp_type.to_string(),
        sdp: local.sdp,
    })
}

/// Waits for the data channel to open, then exchanges handshakes over it (both sides send
/// theirs at once, as WebTorrent does).
async fn open(
    owner: Owner,
    channel: Arc<dyn DataChannel>,
    info_hash: InfoHash,
    peer_id: PeerId,
    outgoing: bool,
) -> Result<RtcPeer, RtcError> {
    loop {
        match channel.poll().await {
            Some(DataChannelEvent::OnOpen) => break,
            Some(_) => {}
            None => return Err(RtcError::NotOpened),
        }
    }
    let (mut reader, mut writer) = channel::split(channel, owner);
    net::write_handshake(&mut writer, &Handshake::new(info_hash, peer_id)).await?;
    let handshake = net::read_handshake(&mut reader).await?;
    if handshake.info_hash != info_hash {
        return Err(NetError::WrongTorrent.into());
    }
    if handshake.peer_id == peer_id {
        return Err(NetError::OurOwnId.into());
    }
    Ok(RtcPeer {
        reader,
        writer,
        handshake,
        outgoing,
    })
}
