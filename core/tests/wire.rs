//! Peer wire round-trips: whatever we encode decodes to the same thing, however the byte
//! stream is cut into reads, and garbage never panics the decoder.

use bitfleet_core::wire::{
    BlockRef, Decoder, Handshake, Message, WireError, DEFAULT_MAX_MESSAGE_LEN, MAX_BLOCK_SIZE,
};
use bitfleet_core::{InfoHash, PeerId};
use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;

fn block() -> impl Strategy<Value = BlockRef> {
    (any::<u32>(), any::<u32>(), 1..=MAX_BLOCK_SIZE).prop_map(|(piece, begin, len)| BlockRef {
        piece,
        begin,
        len,
    })
}

fn payload(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        any::<u32>().prop_map(Message::Have),
        any::<u32>().prop_map(Message::SuggestPiece),
        any::<u32>().prop_map(Message::AllowedFast),
        any::<u16>().prop_map(Message::Port),
        block().prop_map(Message::Request),
        block().prop_map(Message::Cancel),
        block().prop_map(Message::RejectRequest),
        payload(300).prop_map(Message::Bitfield),
        (any::<u32>(), any::<u32>(), payload(2000))
            .prop_map(|(piece, begin, data)| Message::Piece { piece, begin, data }),
        (any::<u8>(), payload(300)).prop_map(|(id, payload)| Message::Extended { id, payload }),
    ]
}

fn handshake() -> impl Strategy<Value = Handshake> {
    (any::<[u8; 8]>(), any::<[u8; 20]>(), any::<[u8; 20]>()).prop_map(|(reserved, h, p)| {
        Handshake {
            reserved,
            info_hash: InfoHash(h),
            peer_id: PeerId(p),
        }
    })
}

/// Feeds `wire` to a fresh decoder in reads of the given sizes (cycled), collecting
/// everything it yields.
fn decode_in_chunks(wire: &[u8], sizes: &[usize]) -> (Handshake, Vec<Message>) {
    let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
    let mut handshake = None;
    let mut messages = Vec::new();
    let mut rest = wire;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (read, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        decoder.extend(read);
        if handshake.is_none() {
            handshake = decoder.next_handshake().unwrap();
            if handshake.is_none() {
                continue;
            }
        }
        while let Some(message) = decoder.next_message().unwrap() {
            messages.push(message);
        }
    }
    assert_eq!(decoder.buffered(), 0);
    (handshake.expect("a whole handshake was sent"), messages)
}

proptest! {
    #[test]
    fn stream_round_trips_under_any_chunking(
        ours in handshake(),
        sent in vec(message(), 0..20),
        sizes in vec(1usize..3000, 1..10),
    ) {
        let mut wire = Vec::new();
        ours.encode(&mut wire);
        for message in &sent {
            message.encode(&mut wire);
        }
        let whole = decode_in_chunks(&wire, &[wire.len()]);
        prop_assert_eq!(&whole, &(ours, sent.clone()));
        prop_assert_eq!(decode_in_chunks(&wire, &sizes), whole.clone());
        prop_assert_eq!(decode_in_chunks(&wire, &[1]), whole);
    }

    #[test]
    fn handshake_flags_survive_encoding(ours in handshake()) {
        let mut wire = Vec::new();
        ours.encode(&mut wire);
        prop_assert_eq!(wire.len(), Handshake::LEN);
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        decoder.extend(&wire);
        let theirs = decoder.next_handshake().unwrap().unwrap();
        prop_assert_eq!(theirs.supports_fast(), ours.reserved[7] & 0x04 != 0);
        prop_assert_eq!(theirs.supports_extensions(), ours.reserved[5] & 0x10 != 0);
        prop_assert_eq!(theirs, ours);
    }

    #[test]
    fn garbage_never_panics(garbage in vec(any::<u8>(), 0..2000), sizes in vec(1usize..100, 1..5)) {
        let mut decoder = Decoder::new(4096);
        let mut rest = garbage.as_slice();
        'feed: for &size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (read, tail) = rest.split_at(size.min(rest.len()));
            rest = tail;
            decoder.extend(read);
            loop {
                match decoder.next_message() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
        prop_assert!(decoder.buffered() <= garbage.len());
    }
}

#[test]
fn exact_lengths_are_enforced_for_every_fixed_size_id() {
    // (id, correct length including the id byte)
    let fixed = [
        (0u8, 1u32),
        (1, 1),
        (2, 1),
        (3, 1),
        (4, 5),
        (6, 13),
        (8, 13),
        (9, 3),
        (13, 5),
    ];
    let fast = [(14u8, 1u32), (15, 1), (16, 13), (17, 5)];
    for (id, len) in fixed.into_iter().chain(fast) {
        for wrong in [len - 1, len + 1] {
            if wrong == 0 {
                continue;
            }
            let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
            let mut frame = wrong.to_be_bytes().to_vec();
            frame.push(id);
            frame.resize(4 + wrong as usize, 0);
            decoder.extend(&frame);
            assert_eq!(
                decoder.next_message(),
                Err(WireError::BadLength { id, len: wrong })
            );
        }
    }
}

#[test]
fn oversized_piece_and_request_are_refused() {
    let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
    let len = 9 + MAX_BLOCK_SIZE + 1;
    let mut frame = len.to_be_bytes().to_vec();
    frame.push(7);
    decoder.extend(&frame);
    assert_eq!(
        decoder.next_message(),
        Err(WireError::BadLength { id: 7, len })
    );

    let mut wire = Vec::new();
    let huge = BlockRef {
        piece: 0,
        begin: 0,
        len: MAX_BLOCK_SIZE + 1,
    };
    Message::Cancel(huge).encode(&mut wire);
    let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
    decoder.extend(&wire);
    assert_eq!(
        decoder.next_message(),
        Err(WireError::BadLength {
            id: 8,
            len: MAX_BLOCK_SIZE + 1
        })
    );
}
