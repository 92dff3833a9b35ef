//! WebRTC peers (webrtc-rs): the peer wire over one data channel per connection, as WebTorrent
//! and the browser page run it, with connections set up through the WebSocket tracker
//! (`tracker`). Signaling is not trickled: each description carries all its ICE candidates.

mod channel;
mod tracker;
mod underway;

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::tracker::ws::{IceServer, SessionDescription};
use bitfleet_core::wire::Handshake;
use bitfleet_core::{InfoHash, PeerId};
use tokio::sync::oneshot;
use webrtc::api::setting_engine::SettingEngine;
use webrtc::api::{APIBuilder, API};
use webrtc::data_channel::data_channel_init::RTCDataChannelInit;
use webrtc::data_channel::RTCDataChannel;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::peer_connection::RTCPeerConnection;

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
    WebRtc(#[from] webrtc::Error),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the data channel did not open")]
    NotOpened,
    #[error("expected an SDP {0}")]
    WrongKind(&'static str),
}

/// The process's WebRTC stack, shared by its torrents.
pub struct Rtc {
    api: API,
}

impl Rtc {
    /// `bind`: the address the peer listener binds; when it is a specific one, ICE gathers
    /// candidates on that address only.
    pub fn new(bind: IpAddr) -> Self {
        let mut settings = SettingEngine::default();
        // Data channels as plain streams: we frame the bytes ourselves.
        settings.detach_data_channels();
        // IPv6 link-local addresses cannot be bound without their interface (webrtc-rs fails
        // on each, noisily, for every connection).
        settings.set_ip_filter(Box::new(move |ip| {
            let link_local = matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local());
            !link_local && (bind.is_unspecified() || ip == bind)
        }));
        Self {
            api: APIBuilder::new().with_setting_engine(settings).build(),
        }
    }

    async fn connection(&self, ice: &[IceServer]) -> Result<Arc<RTCPeerConnection>, RtcError> {
        let config = RTCConfiguration {
            ice_servers: ice
                .iter()
                .map(|server| RTCIceServer {
                    urls: vec![server.urls.clone()],
                    username: server.username.clone().unwrap_or_default(),
                    credential: server.credential.clone().unwrap_or_default(),
                })
                .collect(),
            ..RTCConfiguration::default()
        };
        Ok(Arc::new(self.api.new_peer_connection(config).await?))
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
    opened: oneshot::Receiver<Arc<RTCDataChannel>>,
    pub offer: SessionDescription,
}

impl Offering {
    pub async fn new(rtc: &Rtc, ice: &[IceServer], slot: Slot) -> Result<Self, RtcError> {
        let connection = rtc.connection(ice).await?;
        let owner = Owner {
            connection: connection.clone(),
            _slot: slot,
        };
        let init = RTCDataChannelInit {
            ordered: Some(true),
            ..RTCDataChannelInit::default()
        };
        let channel = connection
            .create_data_channel("bitfleet", Some(init))
            .await?;
        let opened = when_open(channel);
        let offer = connection.create_offer(None).await?;
        let offer = gathered(&connection, offer).await?;
        Ok(Self {
            owner,
            opened,
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
        open(self.owner, self.opened, info_hash, peer_id, true).await
    }
}

/// A connection answering a peer's offer: the answer to send back, and the connection's bring-up.
pub struct Answering {
    owner: Owner,
    opened: oneshot::Receiver<Arc<RTCDataChannel>>,
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
        let connection = rtc.connection(ice).await?;
        let owner = Owner {
            connection: connection.clone(),
            _slot: slot,
        };
        let (arrived, opened) = oneshot::channel();
        let mut arrived = Some(arrived);
        connection.on_data_channel(Box::new(move |channel| {
            // The peer's first channel is the wire; WebTorrent opens only one.
            if let Some(arrived) = arrived.take() {
                let open = when_open(channel);
                tokio::spawn(async move {
                    if let Ok(channel) = open.await {
                        let _ = arrived.send(channel);
                    }
                });
            }
            Box::pin(async {})
        }));
        connection
            .set_remote_description(RTCSessionDescription::offer(offer.sdp)?)
            .await?;
        let answer = connection.create_answer(None).await?;
        let answer = gathered(&connection, answer).await?;
        Ok(Self {
            owner,
            opened,
            answer,
        })
    }

    pub async fn complete(self, info_hash: InfoHash, peer_id: PeerId) -> Result<RtcPeer, RtcError> {
        open(self.owner, self.opened, info_hash, peer_id, false).await
    }
}

/// Resolves with the channel once it is open.
fn when_open(channel: Arc<RTCDataChannel>) -> oneshot::Receiver<Arc<RTCDataChannel>> {
    let (opened, when) = oneshot::channel();
    let open = channel.clone();
    channel.on_open(Box::new(move || {
        let _ = opened.send(open);
        Box::pin(async {})
    }));
    when
}

/// Sets our description and waits for ICE gathering, so it carries every candidate.
async fn gathered(
    connection: &RTCPeerConnection,
    description: RTCSessionDescription,
) -> Result<SessionDescription, RtcError> {
    let mut complete = connection.gathering_complete_promise().await;
    connection.set_local_description(description).await?;
    let _ = tokio::time::timeout(GATHER_TIMEOUT, complete.recv()).await;
    let local = connection
        .local_description()
        .await
        .ok_or(RtcError::NotOpened)?;
    Ok(SessionDescription {
        kind: local.sdp_type.to_string(),
        sdp: local.sdp,
    })
}

/// Waits for the data channel, then exchanges handshakes over it (both sides send theirs at
/// once, as WebTorrent does).
async fn open(
    owner: Owner,
    opened: oneshot::Receiver<Arc<RTCDataChannel>>,
    info_hash: InfoHash,
    peer_id: PeerId,
    outgoing: bool,
) -> Result<RtcPeer, RtcError> {
    let channel = opened.await.map_err(|_| RtcError::NotOpened)?;
    let channel = channel.detach().await?;
    // A failed or closed connection ends the channel, so its reader sees the end.
    let closing = channel.clone();
    owner
        .connection
        .on_peer_connection_state_change(Box::new(move |state| {
            let closing = closing.clone();
            Box::pin(async move {
                if matches!(
                    state,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                ) {
                    let _ = closing.close().await;
                }
            })
        }));
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
