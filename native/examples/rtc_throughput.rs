//! Native → native WebRTC throughput: two peer connections in one process, offer and answer
//! handed over directly (no tracker), the peer-wire handshake, then `--mib` MiB written through
//! one side's data channel and read on the other, the way a torrent's connection does it.
//! Prints one JSON line. Needs a non-loopback address (ICE ignores loopback): bench/webrtc.sh
//! runs it in a network namespace.
//!
//!   cargo run --release -p bitfleet --example rtc_throughput -- --mib 256

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use anyhow::{bail, Context};
use bitfleet::rtc::{Answering, Offering, Rtc, Slots};
use bitfleet_core::{InfoHash, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 256 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mib: usize = match std::env::args().skip_while(|a| a != "--mib").nth(1) {
        Some(n) => n.parse().context("--mib N")?,
        None => 256,
    };
    let rtc = Rtc::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let slots = Slots::default();
    let info_hash = InfoHash([7; 20]);
    let (sender_id, receiver_id) = (PeerId::generate(1), PeerId::generate(2));

    let offering = Offering::new(&rtc, &[], slots.take()).await?;
    let answering = Answering::new(&rtc, &[], offering.offer.clone(), slots.take()).await?;
    let answer = answering.answer.clone();
    let (sender, receiver) = tokio::try_join!(
        offering.complete(answer, info_hash, sender_id),
        answering.complete(info_hash, receiver_id),
    )?;

    let total = mib * 1024 * 1024;
    let started = Instant::now();
    let mut writer = sender.writer;
    // As on a peer wire connection, the sending side reads too: the channel's events, the
    // writer's wake-ups among them, come in through the reader.
    let mut sender_reader = sender.reader;
    tokio::spawn(async move { tokio::io::copy(&mut sender_reader, &mut tokio::io::sink()).await });
    let send = tokio::spawn(async move {
        let chunk = vec![0xa5u8; CHUNK];
        let mut left = total;
        while left > 0 {
            let n = left.min(CHUNK);
            writer.write_all(&chunk[..n]).await?;
            left -= n;
        }
        writer.flush().await?;
        anyhow::Ok(writer)
    });
    let mut reader = receiver.reader;
    let mut buffer = vec![0u8; CHUNK];
    let mut received = 0;
    while received < total {
        let n = reader.read(&mut buffer).await?;
        if n == 0 {
            bail!("the channel closed after {received} bytes");
        }
        received += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Keeps the sending connection open until every byte arrived.
    drop(send.await??);
    println!(
        "{{\"path\":\"native->native\",\"bytes\":{total},\"seconds\":{elapsed:.3},\"mb_per_s\":{:.1}}}",
        total as f64 / elapsed / 1e6
    );
    Ok(())
}
