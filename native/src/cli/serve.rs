//! `bitfleet serve PATH...`: the central server. One HTTP listener carries the embedded tracker
//! (`/announce`, `/scrape`, `/stats`) and the .torrent of each PATH (`/t/NAME.torrent`); each
//! PATH is seeded in place.

use std::collections::HashMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::tracker::{append_query, encode_component};
use bitfleet_core::Bitfield;
use bitfleet_signaling::{ConfigFile, Tracker, TrackerConfig};
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
    /// HTTP address of the tracker and the .torrent downloads.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL clients reach the server under (announce URLs point there); default
    /// `http://LISTEN`.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// TCP port the seeds take peers on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    peer_port: u16,
    /// Upload cap of each seed in bytes/s (suffix K, M or G; 0 for none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    up_limit: Option<u64>,
    /// Also write each .torrent here, as NAME.torrent.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The tracker's TOML configuration: sites (offices), selection policy, interval, token…
    /// (the same file as `bitfleet-server --config`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The .torrent files served under `/t/`, by file name (`NAME.torrent`).
type TorrentFiles = Arc<HashMap<String, Bytes>>;

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

    let mut published = Vec::new();
    for path in &args.paths {
        published.push(publish(path, &announce).await?);
    }
    let mut files = HashMap::new();
    for (metainfo, _) in &published {
        let file_name = format!("{}.torrent", metainfo.info.name);
        if files
            .insert(file_name.clone(), Bytes::from(metainfo.to_bytes()))
            .is_some()
        {
            bail!(
                "two paths are named {}: torrent names must differ",
                metainfo.info.name
            );
        }
        if let Some(dir) = &args.data_dir {
            let out = dir.join(&file_name);
            tokio::fs::write(&out, metainfo.to_bytes())
                .await
                .with_context(|| format!("writing {}", out.display()))?;
        }
    }

    let tracker = Arc::new(Tracker::new(tracker_config));
    let sweeper = tracker.spawn_sweeper();
    let app = bitfleet_signaling::router(tracker).merge(
        Router::new()
            .route("/t/{file}", get(torrent_file))
            .with_state(Arc::new(files)),
    );
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = http_stopped.await;
        })
        .into_future(),
    );

    let peers = SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), args.peer_port);
    let session = Session::bind(peers)
        .await
        .with_context(|| format!("binding the peer port {peers}"))?;
    println!("tracker: {announce}");
    let mut handles: Vec<TorrentHandle> = Vec::new();
    for (metainfo, storage) in published {
        let have = Bitfield::full(metainfo.info.piece_count());
        let options = TorrentOptions {
            upload_limit: no_limit_if_zero(args.up_limit),
            seed_when_complete: true,
            ..TorrentOptions::default()
        };
        println!(
            "torrent: {base}/t/{}.torrent {}",
            metainfo.info.name, metainfo.info_hash
        );
        handles.push(session.add_torrent(&metainfo, storage, have, options));
    }

    shutdown.recv().await;
    // Seeds first: their `stopped` announces go to our own tracker, still up.
    for handle in handles {
        handle.stop().await;
    }
    let _ = stop_http.send(());
    sweeper.abort();
    http.await
        .context("HTTP server task failed")?
        .context("HTTP server failed")?;
    Ok(())
}

/// Hashes `path` into a torrent announcing to `announce`, with read-only storage on it in place.
async fn publish(path: &Path, announce: &str) -> anyhow::Result<(Metainfo, Storage)> {
    let path = tokio::fs::canonicalize(path)
        .await
        .with_context(|| format!("{}", path.display()))?;
    let parent = path
        .parent()
        .with_context(|| format!("{}: cannot share a root folder", path.display()))?
        .to_owned();
    let options = CreateOptions {
        trackers: vec![announce.to_owned()],
        ..CreateOptions::default()
    };
    let hashed = path.clone();
    let metainfo = tokio::task::spawn_blocking(move || create_torrent(&hashed, &options))
        .await
        .context("hashing task failed")??;
    let storage = Storage::open(&parent, Arc::new(metainfo.info.clone()), Access::ReadOnly)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok((metainfo, storage))
}

async fn torrent_file(
    State(files): State<TorrentFiles>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    match files.get(&file) {
        Some(bytes) => (
            [(header::CONTENT_TYPE, "application/x-bittorrent")],
            bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such torrent\n").into_response(),
    }
}
