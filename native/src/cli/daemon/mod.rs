//! `bitfleet daemon`: runs many torrents unattended, controlled over a local JSON HTTP API
//! (`api`, reference in native/README.md) by `bitfleet add/list/pause/resume/remove/limit`
//! (`cli::remote`). Its torrents, their folders, paused state and caps survive a restart
//! (`state`); each torrent's pieces are kept by its resume data.

mod api;
pub mod protocol;
mod state;
mod torrents;

use std::future::IntoFuture;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::{rate::parse_rate, swarm, Discovery};
use protocol::{Endpoint, LimitsSpec};
use state::StateDir;
use torrents::Torrents;

/// The API's default port on 127.0.0.1.
pub const DEFAULT_API_PORT: u16 = 7881;
/// Where the daemon tells its clients the API's address and token.
pub const ENDPOINT_FILE: &str = "api.json";

/// `--state-dir`, shared by the daemon and its clients.
#[derive(Debug, Clone, Args)]
pub struct StateDirArg {
    /// The daemon's state folder [default: $XDG_STATE_HOME/bitfleet or
    /// ~/.local/state/bitfleet].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

impl StateDirArg {
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        self.state_dir
            .clone()
            .or_else(state::default_state_dir)
            .context("no --state-dir given and neither XDG_STATE_HOME nor HOME is set")
    }
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(flatten)]
    state: StateDirArg,
    /// Port of the API, on 127.0.0.1 only; 0 picks a free one.
    #[arg(long, default_value_t = DEFAULT_API_PORT)]
    api_port: u16,
    /// TCP port for peers; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address the peer listener binds.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// Global upload cap shared by all torrents, in bytes/s (suffix K, M or G; 0 for none);
    /// replaces the saved one.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    up_limit: Option<u64>,
    /// Global download cap, like --up-limit.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    down_limit: Option<u64>,
    #[command(flatten)]
    discovery: Discovery,
}

pub async fn run(args: DaemonArgs) -> anyhow::Result<()> {
    let mut shutdown = swarm::Shutdown::listen()?;
    let root = args.state.resolve()?;
    let state_dir = StateDir::open(&root)?;
    let saved = state_dir.load()?;

    let api_addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), args.api_port);
    let listener = TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("binding the API on {api_addr}"))?;
    let api_addr = listener.local_addr()?;
    let peers = SocketAddr::new(args.bind, args.port);
    let session = args.discovery.session(peers).await?;
    let peer_port = session.port();

    let torrents = Arc::new(Mutex::new(Torrents::new(session, state_dir.clone())));
    Torrents::restore(&torrents, saved).await;
    let flags = LimitsSpec {
        upload: args.up_limit,
        download: args.down_limit,
    };
    if flags != LimitsSpec::default() {
        torrents.lock().await.set_limits(None, flags).await?;
    }

    let token = random_token().context("making the API token")?;
    let endpoint = Endpoint {
        url: format!("http://{api_addr}"),
        token: token.clone(),
    };
    let endpoint_path = root.join(ENDPOINT_FILE);
    state_dir.write(&endpoint_path, &serde_json::to_vec_pretty(&endpoint)?)?;

    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(
        axum::serve(listener, api::router(torrents.clone(), &token))
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .into_future(),
    );
    println!("api: {}", endpoint.url);
    println!("peers: {peer_port}");
    println!("state: {}", root.display());

    shutdown.recv().await;
    let _ = stop_http.send(());
    if let Err(e) = std::fs::remove_file(&endpoint_path) {
        tracing::warn!(error = %e, "removing {}", endpoint_path.display());
    }
    torrents.lock().await.shut_down().await;
    http.await
        .context("API server task failed")?
        .context("API server failed")?;
    Ok(())
}

/// 256 random bits from the operating system, hex.
fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}
