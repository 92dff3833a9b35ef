//! `bitfleet create PATH -o FILE.torrent`

use std::path::PathBuf;

use anyhow::Context;
use bitfleet_core::magnet::Magnet;
use bitfleet_core::metainfo::Metainfo;
use clap::Args;

use crate::create::{create_torrent, CreateOptions};

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A file (single-file torrent) or a folder (every regular file in it).
    path: PathBuf,
    /// Where to write the .torrent.
    #[arg(short = 'o', long = "output", value_name = "FILE.torrent")]
    output: PathBuf,
    /// Tracker announce URL; repeatable (one tier each).
    #[arg(long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// Web seed URL (BEP 19); repeatable.
    #[arg(long = "web-seed", value_name = "URL")]
    web_seeds: Vec<String>,
    /// Piece length in bytes (a power of two, at least 16384); chosen from the size if absent.
    #[arg(long, value_name = "N")]
    piece_length: Option<u32>,
    /// Private torrent (BEP 27): trackers only, no peer exchange.
    #[arg(long)]
    private: bool,
    #[arg(long, value_name = "S")]
    comment: Option<String>,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            trackers: self.trackers.clone(),
            web_seeds: self.web_seeds.clone(),
            piece_length: self.piece_length,
            private: self.private,
            comment: self.comment.clone(),
        }
    }
}

pub async fn run(args: CreateArgs) -> anyhow::Result<()> {
    let options = args.options();
    let path = args.path.clone();
    let metainfo = tokio::task::spawn_blocking(move || create_torrent(&path, &options))
        .await
        .context("hashing task failed")??;
    tokio::fs::write(&args.output, metainfo.to_bytes())
        .await
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("{}", metainfo.info_hash);
    println!("{}", magnet_of(&metainfo));
    Ok(())
}

/// The magnet link of a torrent: info-hash, name, trackers and web seeds.
pub fn magnet_of(metainfo: &Metainfo) -> String {
    Magnet {
        info_hash: metainfo.info_hash,
        display_name: Some(metainfo.info.name.clone()),
        trackers: metainfo.trackers(),
        web_seeds: metainfo.url_list.clone(),
        peers: Vec::new(),
    }
    .to_uri()
}
