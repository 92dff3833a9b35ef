//! `bitfleet-server`: the tracker on its own.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bitfleet_core::tracker::ws::IceServer;
use bitfleet_core::InfoHash;
use bitfleet_signaling::site::{default_page_dir, is_built_page};
use bitfleet_signaling::{serve, Catalog, ConfigFile, Site, Tracker, TrackerConfig};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Bitfleet's BitTorrent tracker: HTTP announces at http://HOST:PORT/announce, WebTorrent
/// (WebSocket, WebRTC signaling) at ws://HOST:PORT/announce, STUN/TURN servers for WebRTC
/// peers at /ice, the intranet page at / and its catalog at /catalog. With --token T, clients
/// add ?token=T to the tracker's URLs. Sites (offices) and every tracker option below can be
/// set in a TOML file (--config); flags override it.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address and port to listen on; nothing wider is bound.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// TOML configuration: sites, selection policy and the options below (see the signaling
    /// crate's README).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seconds between client announces (default 300); silent peers are forgotten after
    /// twice that.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    interval: Option<u64>,
    /// Token every announce, scrape and stats URL must carry as `token=...`.
    #[arg(long)]
    token: Option<String>,
    /// Track only this info-hash (40 hex digits); repeat for several.
    #[arg(long = "allow-info-hash", value_name = "HEX", value_parser = parse_info_hash)]
    allowed: Vec<InfoHash>,
    /// List peers under the address they claim with `ip=` instead of their source address.
    #[arg(long)]
    accept_ip_param: bool,
    /// A STUN server for WebRTC peers, e.g. stun:stun.example.org:3478; repeat for several.
    #[arg(long = "stun", value_name = "URL")]
    stun: Vec<String>,
    /// A TURN server relaying WebRTC traffic for peers no STUN can connect,
    /// e.g. turn:turn.example.org:3478.
    #[arg(long, value_name = "URL", requires_all = ["turn_user", "turn_pass"])]
    turn: Option<String>,
    /// The TURN server's user name.
    #[arg(long, value_name = "USER", requires = "turn")]
    turn_user: Option<String>,
    /// The TURN server's password.
    #[arg(long, value_name = "PASSWORD", requires = "turn")]
    turn_pass: Option<String>,
    /// Most WebSocket (WebTorrent) connections open at once (default 10000).
    #[arg(long)]
    max_websockets: Option<usize>,
    /// Folder of the intranet page served at `/` (the built `web/`); default: `web/` of the
    /// source tree the binary was built in, when its wasm is built.
    #[arg(long, value_name = "DIR")]
    page: Option<PathBuf>,
    /// Folder of .torrent files listed at `/catalog` and served at `/t/NAME.torrent`.
    #[arg(long, value_name = "DIR")]
    catalog: Option<PathBuf>,
}

impl Args {
    /// The file's configuration (if any) with the flags given on top.
    fn tracker_config(&self) -> anyhow::Result<TrackerConfig> {
        let mut config = match &self.config {
            Some(path) => ConfigFile::load(path)?.apply(TrackerConfig::default())?,
            None => TrackerConfig::default(),
        };
        if let Some(secs) = self.interval {
            config.interval = Duration::from_secs(secs);
        }
        if self.token.is_some() {
            config.require_token.clone_from(&self.token);
        }
        if !self.allowed.is_empty() {
            config.allowed_info_hashes = Some(self.allowed.iter().copied().collect());
        }
        config.accept_ip_param |= self.accept_ip_param;
        config.ice_servers.extend(self.ice_servers());
        if let Some(max) = self.max_websockets {
            config.websocket.max_connections = max;
        }
        // A WebTorrent client re-announces every interval; give it one more before closing.
        config.websocket.idle_timeout = config
            .interval
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(60));
        Ok(config)
    }

    fn ice_servers(&self) -> Vec<IceServer> {
        let stun = self.stun.iter().map(|url| IceServer {
            urls: url.clone(),
            username: None,
            credential: None,
        });
        let turn = self.turn.iter().map(|url| IceServer {
            urls: url.clone(),
            username: self.turn_user.clone(),
            credential: self.turn_pass.clone(),
        });
        stun.chain(turn).collect()
    }
}

fn parse_info_hash(hex: &str) -> Result<InfoHash, String> {
    InfoHash::from_hex(hex).map_err(|err| err.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = args.tracker_config()?;
    let site = Site {
        catalog: match &args.catalog {
            Some(dir) => Catalog::from_torrent_dir(dir)?,
            None => Catalog::default(),
        },
        page_dir: args.page.clone().or_else(default_page_dir),
    };
    match &site.page_dir {
        Some(dir) if !is_built_page(dir) => tracing::warn!(
            dir = %dir.display(),
            "the page's wasm is not built there (scripts/build-web.sh)"
        ),
        Some(dir) => tracing::info!(dir = %dir.display(), "serving the page"),
        None => tracing::info!("no page to serve (build it with scripts/build-web.sh)"),
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        address = %listener.local_addr()?,
        token = config.require_token.is_some(),
        allow_list = ?config.allowed_info_hashes.as_ref().map(HashSet::len),
        ice_servers = config.ice_servers.len(),
        sites = config.sites.map.len(),
        "tracker listening"
    );
    serve(
        listener,
        Arc::new(Tracker::new(config)),
        site,
        shutdown_signal(),
    )
    .await?;
    tracing::info!("tracker stopped");
    Ok(())
}

/// Resolves on Ctrl-C, or SIGTERM on Unix (how service managers stop us).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
