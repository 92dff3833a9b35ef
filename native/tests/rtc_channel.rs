//! The WebRTC transport between two webrtc-rs peers in one process: offer and answer handed
//! over directly, the peer-wire handshake over the data channel, then a byte stream that
//! arrives intact. ICE ignores loopback, so this needs one other address (any machine's NIC, or
//! the test namespace's veth).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bitfleet::net::NetError;
use bitfleet::rtc::{Answering, Offering, Rtc, RtcError, RtcPeer, Slots};
use bitfleet_core::{InfoHash, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(30);

async fn pair(
    offerer_hash: InfoHash,
    answerer_hash: InfoHash,
    slots: &Slots,
) -> (Result<RtcPeer, RtcError>, Result<RtcPeer, RtcError>) {
    let rtc = Rtc::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let offering = Offering::new(&rtc, &[], slots.take()).await.expect("offer");
    let answering = Answering::new(&rtc, &[], offering.offer.clone(), slots.take())
        .await
        .expect("answer");
    let answer = answering.answer.clone();
    let up = async {
        tokio::join!(
            offering.complete(answer, offerer_hash, PeerId::generate(1)),
            answering.complete(answerer_hash, PeerId::generate(2)),
        )
    };
    tokio::time::timeout(LIMIT, up)
        .await
        .expect("connections come up or fail in time")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_channel_carries_the_handshake_and_a_stream_intact() {
    let slots = Slots::default();
    let hash = InfoHash([3; 20]);
    let (sender, receiver) = pair(hash, hash, &slots).await;
    let (sender, receiver) = (sender.expect("offerer up"), receiver.expect("answerer up"));
    assert_eq!(sender.handshake.peer_id, PeerId::generate(2));
    assert_eq!(receiver.handshake.peer_id, PeerId::generate(1));
    assert!(sender.outgoing && !receiver.outgoing);
    assert_eq!(slots.in_use(), 2);

    // Larger than the send buffer's high-water mark, in writes larger than a message: the
    // writer must cut and hold back, and every byte must still arrive in order.
    let payload: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut writer = sender.writer;
    let sent = payload.clone();
    let send = tokio::spawn(async move {
        for chunk in sent.chunks(200 * 1024) {
            writer.write_all(chunk).await.expect("write");
        }
        writer.flush().await.expect("flush");
        writer
    });
    let mut reader = receiver.reader;
    let mut got = vec![0; payload.len()];
    tokio::time::timeout(LIMIT, reader.read_exact(&mut got))
        .await
        .expect("the stream arrives in time")
        .expect("read");
    assert!(got == payload, "the bytes arrived intact and in order");
    drop(send.await.expect("sender"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_for_another_torrent_is_refused() {
    let slots = Slots::default();
    let (offerer, answerer) = pair(InfoHash([1; 20]), InfoHash([2; 20]), &slots).await;
    // Whichever side reads the other's handshake first refuses it and hangs up; the other
    // may see the refusal or just the closed channel, but never a connection.
    let mut refusals = 0;
    for side in [offerer, answerer] {
        match side {
            Err(RtcError::Net(NetError::WrongTorrent)) => refusals += 1,
            Err(RtcError::Net(NetError::Io(_))) => {}
            Err(e) => panic!("a wrong torrent is refused, not failed with {e:?}"),
            Ok(_) => panic!("a handshake for another torrent was accepted"),
        }
    }
    assert!(refusals >= 1, "neither side saw the wrong info-hash");
    // Refused connections give their places back once closed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(slots.in_use(), 0);
}
