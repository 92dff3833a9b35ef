//! `bitfleet seed FILE.torrent --dir DATA_DIR`

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::Bitfield;
use clap::Args;

use super::{swarm, PeerArgs};
use crate::progress::Progress;
use crate::session::TorrentOptions;
use crate::storage::{Access, Storage};

#[derive(Debug, Args)]
pub struct SeedArgs {
    torrent: PathBuf,
    /// Folder holding the data: DATA_DIR/NAME.
    #[arg(long, value_name = "DATA_DIR")]
    dir: PathBuf,
    /// Trust the data without verifying every piece first.
    #[arg(long)]
    skip_check: bool,
    #[command(flatten)]
    peer: PeerArgs,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    let mut shutdown = swarm::Shutdown::listen()?;
    let metainfo = read_torrent_file(&args.torrent).await?;
    let info = Arc::new(metainfo.info.clone());
    let storage = Storage::open(&args.dir, info.clone(), Access::ReadOnly)
        .with_context(|| format!("opening {}", args.dir.display()))?;
    let have = if args.skip_check {
        Bitfield::full(info.piece_count())
    } else {
        swarm::check(&storage, args.peer.mode()).await?
    };
    if !have.is_full() {
        bail!(
            "{}: data missing or wrong, only {} of {} pieces are valid",
            args.dir.join(&info.name).display(),
            have.count_ones(),
            have.len()
        );
    }
    let session = args.peer.session().await?;
    let options = TorrentOptions {
        upload_limit: args.peer.up_limit(),
        download_limit: None,
        seed_when_complete: true,
        peers: args.peer.resolve_peers().await?,
        keep_resume: false,
        found_on_disk: None,
        local_networks: args.peer.local_networks(),
        max_peers: None,
    };
    let mut progress = Progress::new(args.peer.mode());
    let handle = session.add_torrent(&metainfo, storage, have, options);
    swarm::run(handle, &mut progress, session.port(), false, &mut shutdown).await;
    Ok(())
}

/// Reads and parses a .torrent file.
pub async fn read_torrent_file(path: &std::path::Path) -> anyhow::Result<Metainfo> {
    let bytes = tokio::fs::read(path)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    Metainfo::from_bytes(&bytes)
        .with_context(|| format!("{}: not a valid .torrent", path.display()))
}
