//! The `bitfleet` command line (contract: docs/cli.md).

mod create;
mod daemon;
mod get;
mod rate;
mod remote;
mod seed;
mod serve;
mod swarm;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::progress::Mode;
use crate::session::Session;
use rate::parse_rate;

#[derive(Debug, Parser)]
#[command(
    name = "bitfleet",
    version,
    about = "Move large files through an organization with BitTorrent"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make a .torrent of a file or a folder.
    Create(create::CreateArgs),
    /// Share data that is already complete on disk.
    Seed(seed::SeedArgs),
    /// Download a torrent (a .torrent file, its http URL, or a magnet link).
    Get(get::GetArgs),
    /// Run the central server: tracker, .torrent downloads, and a seed of each PATH.
    Serve(serve::ServeArgs),
    /// Run many torrents unattended, controlled by the commands below over a local API.
    Daemon(daemon::DaemonArgs),
    /// Add a torrent to the daemon.
    Add(remote::AddArgs),
    /// Show the daemon's torrents: state, progress, rates, peers, caps.
    List(remote::ListArgs),
    /// Stop one of the daemon's torrents, keeping it (and its progress).
    Pause(remote::TorrentArg),
    /// Start a paused torrent again.
    Resume(remote::TorrentArg),
    /// Stop and forget one of the daemon's torrents; its files stay.
    Remove(remote::TorrentArg),
    /// Change a torrent's caps, or the global caps shared by all torrents.
    Limit(remote::LimitArgs),
}

/// Options of every command that joins a swarm.
#[derive(Debug, Clone, Args)]
struct PeerArgs {
    /// TCP port for peers; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address the peer listener binds.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// A peer to connect to at start (HOST:PORT); repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// Upload cap in bytes/s (suffix K, M or G; 0 for none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    up_limit: Option<u64>,
    #[command(flatten)]
    discovery: Discovery,
    /// Our LAN (CIDR), whose peers are preferred: pieces one of them holds are not fetched
    /// from farther away. Repeatable; default: the subnets of this machine's interfaces.
    #[arg(
        long = "local-network",
        value_name = "CIDR",
        conflicts_with = "no_local_preference"
    )]
    local_networks: Vec<ipnet::IpNet>,
    /// Treat every peer alike, near or far.
    #[arg(long)]
    no_local_preference: bool,
    /// No progress output.
    #[arg(long, conflicts_with = "json")]
    quiet: bool,
    /// JSON lines on stdout instead of a progress bar.
    #[arg(long)]
    json: bool,
}

/// Ways of meeting peers besides trackers' TCP peers, on unless turned off.
#[derive(Debug, Clone, Args)]
struct Discovery {
    /// TCP peers only: no WebSocket announces, no WebRTC (browser) peers.
    #[arg(long)]
    no_webrtc: bool,
    /// No Local Service Discovery (BEP 14 multicast on the LAN, UDP port 6771; never used
    /// when --bind is a loopback address).
    #[arg(long)]
    no_lsd: bool,
}

impl Discovery {
    /// Binds the peer listener on `addr`, with WebRTC unless `--no-webrtc` and Local Service
    /// Discovery unless `--no-lsd` (never on a loopback listener: tests sharing one host stay
    /// apart).
    async fn session(&self, addr: SocketAddr) -> anyhow::Result<Session> {
        let mut session = Session::bind(addr)
            .await
            .with_context(|| format!("binding the peer port {addr}"))?;
        if !self.no_webrtc {
            session.enable_webrtc();
        }
        if !self.no_lsd && !addr.ip().is_loopback() {
            session.discover_locally();
        }
        Ok(session)
    }
}

impl PeerArgs {
    fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// Binds the peer listener, with the ways of meeting peers `--no-webrtc` and `--no-lsd`
    /// leave on.
    async fn session(&self) -> anyhow::Result<Session> {
        self.discovery.session(self.listen_addr()).await
    }

    fn mode(&self) -> Mode {
        match (self.quiet, self.json) {
            (true, _) => Mode::Quiet,
            (_, true) => Mode::Json,
            _ => Mode::Bar,
        }
    }

    fn up_limit(&self) -> Option<u64> {
        no_limit_if_zero(self.up_limit)
    }

    fn local_networks(&self) -> Vec<ipnet::IpNet> {
        if self.no_local_preference {
            Vec::new()
        } else if self.local_networks.is_empty() {
            crate::net::local_networks::detect()
        } else {
            self.local_networks
                .iter()
                .map(ipnet::IpNet::trunc)
                .collect()
        }
    }

    /// The `--peer` addresses, host names resolved.
    async fn resolve_peers(&self) -> anyhow::Result<Vec<SocketAddr>> {
        resolve_peers(&self.peers).await
    }
}

/// Warnings, except webrtc-rs's: it warns about every connection torn down, which is routine.
const DEFAULT_LOG: &str = "warn,webrtc=error,rtc=error,rtc_ice=error,rtc_sctp=error,\
                           rtc_mdns=error,rtc_datachannel=error,rtc_dtls=error";

/// Runs the command line; the binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: logs captured to a file stay greppable.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .init();
    let result = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Create(args) => create::run(args).await,
        Command::Seed(args) => seed::run(args).await,
        Command::Get(args) => get::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Daemon(args) => daemon::run(args).await,
        Command::Add(args) => remote::add(args).await,
        Command::List(args) => remote::list(args).await,
        Command::Pause(args) => remote::torrent(remote::Verb::Pause, args).await,
        Command::Resume(args) => remote::torrent(remote::Verb::Resume, args).await,
        Command::Remove(args) => remote::torrent(remote::Verb::Remove, args).await,
        Command::Limit(args) => remote::limit(args).await,
    }
}

/// `--peer` addresses (HOST:PORT), host names resolved.
async fn resolve_peers(peers: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    let mut addrs = Vec::new();
    for peer in peers {
        let found = tokio::net::lookup_host(peer.as_str())
            .await
            .with_context(|| format!("--peer {peer}: expected HOST:PORT"))?;
        addrs.extend(found);
    }
    Ok(addrs)
}

/// Rate caps: `0` means none.
fn no_limit_if_zero(rate: Option<u64>) -> Option<u64> {
    rate.filter(|&r| r > 0)
}
