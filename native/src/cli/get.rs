//! `bitfleet get FILE.torrent|MAGNET|URL --out DIR`

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use bitfleet_core::magnet::Magnet;
use bitfleet_core::metainfo::Metainfo;
use clap::Args;

use super::seed::read_torrent_file;
use super::{no_limit_if_zero, rate::parse_rate, swarm, PeerArgs};
use crate::progress::Progress;
use crate::session::{http_client, Session, TorrentOptions};
use crate::storage::{Access, Storage};

/// A .torrent larger than this is refused before it is parsed.
const MAX_TORRENT_FILE: usize = 64 << 20;

#[derive(Debug, Args)]
pub struct GetArgs {
    /// A .torrent file, its http URL, or a magnet link.
    source: String,
    /// Download folder: data lands in DIR/NAME.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Keep seeding once complete, until SIGINT/SIGTERM.
    #[arg(long)]
    seed_after: bool,
    /// Download cap in bytes/s (suffix K, M or G; 0 for none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    down_limit: Option<u64>,
    #[command(flatten)]
    peer: PeerArgs,
}

pub async fn run(args: GetArgs) -> anyhow::Result<()> {
    let mut shutdown = swarm::Shutdown::listen()?;
    let metainfo = load(&args.source).await?;
    let info = Arc::new(metainfo.info.clone());
    let storage = Storage::open(&args.out, info, Access::ReadWrite)
        .with_context(|| format!("opening {}", args.out.display()))?;
    let have = swarm::check(&storage, args.peer.mode()).await?;
    let session = Session::bind(args.peer.listen_addr())
        .await
        .with_context(|| format!("binding the peer port {}", args.peer.listen_addr()))?;
    let options = TorrentOptions {
        upload_limit: args.peer.up_limit(),
        download_limit: no_limit_if_zero(args.down_limit),
        seed_when_complete: args.seed_after,
        peers: args.peer.resolve_peers().await?,
    };
    let mut progress = Progress::new(args.peer.mode());
    let handle = swarm::start(&session, &metainfo, storage, have, options, &mut progress);
    let outcome = swarm::run(handle, &progress, !args.seed_after, &mut shutdown).await;
    if !outcome.report.complete {
        let status = &outcome.report.status;
        let why = if outcome.interrupted {
            "interrupted"
        } else {
            "stopped"
        };
        bail!(
            "{why} before completion: {} of {} pieces",
            status.pieces_have,
            status.pieces_total
        );
    }
    Ok(())
}

/// The torrent behind a `get` argument.
async fn load(source: &str) -> anyhow::Result<Metainfo> {
    if source.starts_with("magnet:") {
        let magnet = Magnet::parse(source).context("bad magnet link")?;
        bail!(
            "magnet links need metadata exchange (BEP 9), not supported yet; \
             get the .torrent of {} instead",
            magnet.info_hash
        );
    }
    if source.starts_with("https://") {
        bail!("https URLs are not supported yet (no TLS in this build); use the http URL or the .torrent file");
    }
    if source.starts_with("http://") {
        return fetch(source).await;
    }
    read_torrent_file(Path::new(source)).await
}

async fn fetch(url: &str) -> anyhow::Result<Metainfo> {
    let response = http_client()
        .get(url)
        .send()
        .await
        .with_context(|| format!("fetching {url}"))?
        .error_for_status()
        .with_context(|| format!("fetching {url}"))?;
    if response
        .content_length()
        .is_some_and(|n| n > MAX_TORRENT_FILE as u64)
    {
        bail!("{url}: larger than {MAX_TORRENT_FILE} bytes, not a .torrent");
    }
    let bytes = response
        .bytes()
        .await
        .with_context(|| format!("fetching {url}"))?;
    if bytes.len() > MAX_TORRENT_FILE {
        bail!("{url}: larger than {MAX_TORRENT_FILE} bytes, not a .torrent");
    }
    Metainfo::from_bytes(&bytes).with_context(|| format!("{url}: not a valid .torrent"))
}
