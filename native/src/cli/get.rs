//! `bitfleet get FILE.torrent|MAGNET|URL --out DIR`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bitfleet_core::magnet::Magnet;
use bitfleet_core::metainfo::Metainfo;
use clap::Args;

use super::seed::read_torrent_file;
use super::{no_limit_if_zero, rate::parse_rate, swarm, PeerArgs};
use crate::progress::Progress;
use crate::session::{http_client, Session, TorrentHandle, TorrentOptions};
use crate::storage::{self, Access, Restored, Storage};

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
    /// Hash every piece on disk at start instead of trusting the resume data
    /// (DIR/.<info-hash>.bitfleet-resume).
    #[arg(long)]
    recheck: bool,
    /// Download cap in bytes/s (suffix K, M or G; 0 for none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    down_limit: Option<u64>,
    #[command(flatten)]
    peer: PeerArgs,
}

/// What the `get` argument names.
pub(super) enum Source {
    Torrent(Metainfo),
    Magnet(Magnet),
}

pub async fn run(args: GetArgs) -> anyhow::Result<()> {
    let mut shutdown = swarm::Shutdown::listen()?;
    let source = load(&args.source).await?;
    let session = args.peer.session().await?;
    let mut options = TorrentOptions {
        upload_limit: args.peer.up_limit(),
        download_limit: no_limit_if_zero(args.down_limit),
        seed_when_complete: args.seed_after,
        peers: args.peer.resolve_peers().await?,
        keep_resume: true,
        found_on_disk: None,
        local_networks: args.peer.local_networks(),
        max_peers: None,
    };
    let handle = match source {
        Source::Torrent(metainfo) => start_torrent(&session, &metainfo, &args, options).await?,
        Source::Magnet(magnet) => {
            for peer in &magnet.peers {
                match tokio::net::lookup_host(peer.as_str()).await {
                    Ok(found) => options.peers.extend(found),
                    Err(e) => tracing::warn!(%peer, error = %e, "ignoring the magnet's peer"),
                }
            }
            let (out, recheck) = (args.out.clone(), args.recheck);
            let prepare = Box::new(move |metainfo: &Metainfo| {
                open_and_restore(&out, metainfo, recheck, &|| {})
                    .map(|(storage, restored)| (storage, restored.have))
                    .map_err(|e| format!("{e:#}"))
            });
            session.add_magnet(&magnet, options, prepare)
        }
    };
    let mut progress = Progress::new(args.peer.mode());
    let outcome = swarm::run(
        handle,
        &mut progress,
        session.port(),
        !args.seed_after,
        &mut shutdown,
    )
    .await;
    if let Some(error) = outcome.report.error {
        bail!(error);
    }
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

async fn start_torrent(
    session: &Session,
    metainfo: &Metainfo,
    args: &GetArgs,
    mut options: TorrentOptions,
) -> anyhow::Result<TorrentHandle> {
    let (out, recheck, owned) = (args.out.clone(), args.recheck, metainfo.clone());
    let pieces = metainfo.info.piece_count();
    let (storage, restored) = swarm::with_check_bar(pieces, args.peer.mode(), move |tick| {
        open_and_restore(&out, &owned, recheck, tick)
    })
    .await?;
    options.found_on_disk = Some(restored.found);
    Ok(session.add_torrent(metainfo, storage, restored.have, options))
}

/// Opens the download's storage and finds the pieces already in it, from the resume data
/// where possible (blocking).
pub(super) fn open_and_restore(
    out: &Path,
    metainfo: &Metainfo,
    recheck: bool,
    on_piece: &(dyn Fn() + Sync),
) -> anyhow::Result<(Storage, Restored)> {
    let started = Instant::now();
    let storage = Storage::open(out, Arc::new(metainfo.info.clone()), Access::ReadWrite)
        .with_context(|| format!("opening {}", out.display()))?;
    let restored = storage::restore(&storage, &metainfo.info_hash, recheck, on_piece)?;
    tracing::info!(
        from_resume = restored.from_resume,
        checked = restored.checked,
        have = restored.have.count_ones(),
        elapsed = ?started.elapsed(),
        "pieces on disk"
    );
    Ok((storage, restored))
}

/// The torrent behind a `get` argument.
pub(super) async fn load(source: &str) -> anyhow::Result<Source> {
    if source.starts_with("magnet:") {
        return Ok(Source::Magnet(
            Magnet::parse(source).context("bad magnet link")?,
        ));
    }
    if source.starts_with("https://") {
        bail!("https URLs are not supported yet (no TLS in this build); use the http URL or the .torrent file");
    }
    if source.starts_with("http://") {
        return Ok(Source::Torrent(fetch(source).await?));
    }
    Ok(Source::Torrent(read_torrent_file(Path::new(source)).await?))
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
