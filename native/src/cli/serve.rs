//! `bitfleet serve PATH...`: the central server. One HTTP listener carries the embedded tracker
//! (`/announce`, `/scrape`, `/stats`), the intranet page (`/`) with its catalog (`/catalog`),
//! the .torrent of each PATH (`/t/NAME.torrent`) and a BEP 19 web seed of its files
//! (`/files/NAME...`, listed in each torrent's `url-list`); each PATH is seeded in place.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bitfleet_core::budget::Limits;
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::tracker::{append_query, encode_component};
use bitfleet_core::Bitfield;
use bitfleet_signaling::site::{default_page_dir, is_built_page, torrent_path, FILES_PATH};
use bitfleet_signaling::{Catalog, ConfigFile, Published, Site, Tracker, TrackerConfig};
use bytes::Bytes;
use clap::Args;
use tokio::net::TcpListener;

use super::{no_limit_if_zero, rate::parse_rate, swarm};
use crate::create::{create_torrent, CreateOptions};
use crate::session::{Session, TorrentHandle, TorrentOptions};
use crate::storage::{Access, Storage};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Files or folders to publish and seed, each as its own torrent.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// HTTP address of the tracker, the page, the .torrent downloads and the web seed.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL clients reach the server under (announce and web seed URLs point there);
    /// default `http://LISTEN`.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// TCP port the seeds take peers on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    peer_port: u16,
    /// Upload cap in bytes/s shared by all the seeds together (suffix K, M or G; 0 for none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    up_limit: Option<u64>,
    /// Connections each seed keeps at most. A server should reach every client: laptops
    /// turned away wait for others to bring them what only the server has.
    #[arg(long, value_name = "N", default_value_t = 500)]
    max_peers: usize,
    /// Seeds take TCP peers only: no WebRTC (browser) peers.
    #[arg(long)]
    no_webrtc: bool,
    /// Also write each .torrent here, as NAME.torrent.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Folder of the intranet page served at `/` (the built `web/`); default: `web/` of the
    /// source tree the binary was built in, when its wasm is built.
    #[arg(long, value_name = "DIR")]
    page: Option<PathBuf>,
    /// Publish without seeding over BitTorrent: clients get the data from peers and from the
    /// web seed only.
    #[arg(long)]
    no_seed: bool,
    /// The tracker's TOML configuration: sites (offices), selection policy, interval, token…
    /// (the same file as `bitfleet-server --config`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut shutdown = swarm::Shutdown::listen()?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let local = listener.local_addr()?;
    let base = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let base = base.trim_end_matches('/').to_owned();
    let tracker_config = match &args.config {
        Some(path) => ConfigFile::load(path)?.apply(TrackerConfig::default())?,
        None => TrackerConfig::default(),
    };
    let announce = match &tracker_config.require_token {
        Some(token) => append_query(
            &format!("{base}/announce"),
            &format!("token={}", encode_component(token.as_bytes())),
        ),
        None => format!("{base}/announce"),
    };
    // The web seed wants the token as the first segment of its path (see the site's docs).
    let web_seed = match &tracker_config.require_token {
        Some(token) => format!("{base}{FILES_PATH}{}/", encode_component(token.as_bytes())),
        None => format!("{base}{FILES_PATH}"),
    };

    let mut published = Vec::new();
    let mut storages = Vec::new();
    for path in &args.paths {
        let (entry, storage) = publish(path, &announce, &web_seed).await?;
        if let Some(dir) = &args.data_dir {
            let out = dir.join(format!("{}.torrent", entry.metainfo.info.name));
            tokio::fs::write(&out, &entry.torrent)
                .await
                .with_context(|| format!("writing {}", out.display()))?;
        }
        storages.push((entry.metainfo.clone(), storage));
        published.push(entry);
    }
    let site = Site {
        catalog: Catalog::new(published)?,
        page_dir: args.page.clone().or_else(default_page_dir),
    };
    match &site.page_dir {
        Some(dir) if is_built_page(dir) => println!("page: {base}/"),
        Some(dir) => eprintln!(
            "warning: {} has no built page (run scripts/build-web.sh)",
            dir.display()
        ),
        None => eprintln!("warning: no page to serve (run scripts/build-web.sh or pass --page)"),
    }

    let tracker = Arc::new(Tracker::new(tracker_config));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(bitfleet_signaling::serve(listener, tracker, site, async {
        let _ = http_stopped.await;
    }));

    let peers = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), args.peer_port);
    let mut session = Session::bind(peers)
        .await
        .with_context(|| format!("binding the peer port {peers}"))?;
    session.set_global_limits(Limits {
        upload: no_limit_if_zero(args.up_limit),
        download: None,
    });
    if !args.no_webrtc {
        session.enable_webrtc();
    }
    println!("tracker: {announce}");
    let mut handles: Vec<TorrentHandle> = Vec::new();
    for (metainfo, storage) in storages {
        println!(
            "torrent: {base}{} {}",
            torrent_path(&metainfo.info.name),
            metainfo.info_hash
        );
        if args.no_seed {
            continue;
        }
        let have = Bitfield::full(metainfo.info.piece_count());
        let options = TorrentOptions {
            seed_when_complete: true,
            max_peers: Some(args.max_peers),
            ..TorrentOptions::default()
        };
        handles.push(session.add_torrent(&metainfo, storage, have, options));
    }

    shutdown.recv().await;
    // Seeds first: their `stopped` announces go to our own tracker, still up.
    for handle in handles {
        handle.stop().await;
    }
    let _ = stop_http.send(());
    http.await
        .context("HTTP server task failed")?
        .context("HTTP server failed")?;
    Ok(())
}

/// Hashes `path` into a torrent announcing to `announce` with the web seed `web_seed`, with
/// read-only storage on it in place.
async fn publish(
    path: &Path,
    announce: &str,
    web_seed: &str,
) -> anyhow::Result<(Published, Storage)> {
    let path = tokio::fs::canonicalize(path)
        .await
        .with_context(|| format!("{}", path.display()))?;
    let parent = path
        .parent()
        .with_context(|| format!("{}: cannot share a root folder", path.display()))?
        .to_owned();
    let options = CreateOptions {
        trackers: vec![announce.to_owned()],
        web_seeds: vec![web_seed.to_owned()],
        ..CreateOptions::default()
    };
    let hashed = path.clone();
    let metainfo: Metainfo = tokio::task::spawn_blocking(move || create_torrent(&hashed, &options))
        .await
        .context("hashing task failed")??;
    let storage = Storage::open(&parent, Arc::new(metainfo.info.clone()), Access::ReadOnly)
        .with_context(|| format!("opening {}", path.display()))?;
    let published = Published {
        torrent: Bytes::from(metainfo.to_bytes()),
        metainfo,
        data: Some(parent),
    };
    Ok((published, storage))
}
