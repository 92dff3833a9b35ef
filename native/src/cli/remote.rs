//! `bitfleet add/list/pause/resume/remove/limit`: talk to a running `bitfleet daemon` over its
//! local API, found (address and token) in the daemon's state folder.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use indicatif::HumanBytes;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::daemon::protocol::{
    AddRequest, Endpoint, ErrorBody, LimitsSpec, ListResponse, TorrentView,
};
use super::daemon::{StateDirArg, ENDPOINT_FILE};
use super::get::{load, Source};
use super::rate::parse_rate;
use super::resolve_peers;

/// Pausing stops a torrent gracefully, which may take a few seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A .torrent file or its http URL.
    source: String,
    /// Download folder: data lands in DIR/NAME.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Add without starting.
    #[arg(long)]
    paused: bool,
    /// This torrent's upload cap in bytes/s (suffix K, M or G; 0 for none).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    up_limit: Option<u64>,
    /// This torrent's download cap, like --up-limit.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    down_limit: Option<u64>,
    /// A peer to connect to at every start (HOST:PORT); repeatable.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    peers: Vec<String>,
    #[command(flatten)]
    state: StateDirArg,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The daemon's answer as one JSON document (see native/README.md).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    state: StateDirArg,
}

#[derive(Debug, Args)]
pub struct TorrentArg {
    /// The torrent's info-hash (hex, as `list` shows it).
    info_hash: String,
    #[command(flatten)]
    state: StateDirArg,
}

#[derive(Debug, Args)]
pub struct LimitArgs {
    /// The torrent to cap; without it, the global caps shared by all torrents.
    info_hash: Option<String>,
    /// Upload cap in bytes/s (suffix K, M or G; 0 for none); left out: unchanged.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    up: Option<u64>,
    /// Download cap, like --up.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    down: Option<u64>,
    #[command(flatten)]
    state: StateDirArg,
}

/// What a torrent command asks the daemon.
#[derive(Debug, Clone, Copy)]
pub enum Verb {
    Pause,
    Resume,
    Remove,
}

pub async fn add(args: AddArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.state)?;
    let metainfo = match load(&args.source).await? {
        Source::Torrent(metainfo) => metainfo,
        Source::Magnet(_) => {
            bail!("the daemon takes .torrent files and their URLs; use `bitfleet get` for magnets")
        }
    };
    let out =
        std::path::absolute(&args.out).with_context(|| format!("--out {}", args.out.display()))?;
    let request = AddRequest {
        torrent: hex::encode(metainfo.to_bytes()),
        out,
        paused: args.paused,
        limits: LimitsSpec {
            upload: args.up_limit,
            download: args.down_limit,
        },
        peers: resolve_peers(&args.peers).await?,
    };
    let view: TorrentView = client
        .call(Method::POST, "/v1/torrents", Some(&request))
        .await?;
    println!("added {} {}", view.info_hash, view.name);
    Ok(())
}

pub async fn list(args: ListArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.state)?;
    let list: ListResponse = client
        .call(Method::GET, "/v1/torrents", None::<&()>)
        .await?;
    if args.json {
        println!("{}", serde_json::to_string(&list)?);
        return Ok(());
    }
    println!("global caps: {}", caps(&list.limits));
    for t in &list.torrents {
        let percent = if t.pieces == 0 {
            100.0
        } else {
            f64::from(t.have) * 100.0 / f64::from(t.pieces)
        };
        println!(
            "{} {:<12} {:>5.1}% ↓{}/s ↑{}/s {} peers  caps {}  {}",
            t.info_hash,
            t.state.as_str(),
            percent,
            HumanBytes(t.down_rate),
            HumanBytes(t.up_rate),
            t.peers,
            caps(&t.limits),
            t.name,
        );
        if let Some(error) = &t.error {
            println!("    error: {error}");
        }
    }
    Ok(())
}

fn caps(limits: &LimitsSpec) -> String {
    let one =
        |rate: Option<u64>| rate.map_or("none".to_owned(), |r| format!("{}/s", HumanBytes(r)));
    format!("↓{} ↑{}", one(limits.download), one(limits.upload))
}

pub async fn torrent(verb: Verb, args: TorrentArg) -> anyhow::Result<()> {
    let client = Client::connect(&args.state)?;
    let path = format!("/v1/torrents/{}", args.info_hash);
    match verb {
        Verb::Pause | Verb::Resume => {
            let action = if matches!(verb, Verb::Pause) {
                "pause"
            } else {
                "resume"
            };
            let view: TorrentView = client
                .call(Method::POST, &format!("{path}/{action}"), None::<&()>)
                .await?;
            println!("{} {}", view.info_hash, view.state.as_str());
        }
        Verb::Remove => {
            client.send(Method::DELETE, &path, None::<&()>).await?;
            println!("removed {} (its files are kept)", args.info_hash);
        }
    }
    Ok(())
}

pub async fn limit(args: LimitArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.state)?;
    let path = match &args.info_hash {
        Some(info_hash) => format!("/v1/torrents/{info_hash}/limits"),
        None => "/v1/limits".to_owned(),
    };
    let change = LimitsSpec {
        upload: args.up,
        download: args.down,
    };
    let limits: LimitsSpec = client.call(Method::PUT, &path, Some(&change)).await?;
    println!("caps: {}", caps(&limits));
    Ok(())
}

struct Client {
    http: reqwest::Client,
    endpoint: Endpoint,
}

impl Client {
    fn connect(state: &StateDirArg) -> anyhow::Result<Client> {
        let path = state.resolve()?.join(ENDPOINT_FILE);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("{}: is `bitfleet daemon` running?", path.display()))?;
        let endpoint: Endpoint = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not the daemon's endpoint file", path.display()))?;
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("making the HTTP client")?;
        Ok(Client { http, endpoint })
    }

    /// Sends a request; an answer other than success becomes an error with the daemon's
    /// message.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<Vec<u8>> {
        let url = format!("{}{path}", self.endpoint.url);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(&self.endpoint.token);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body)?);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{url}: is `bitfleet daemon` running?"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the daemon's answer")?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|e| e.error)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
        if status == StatusCode::UNAUTHORIZED {
            bail!("the daemon refused the API token: {message}");
        }
        bail!("{message}")
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> anyhow::Result<T> {
        let bytes = self.send(method, path, body).await?;
        serde_json::from_slice(&bytes).context("the daemon's answer is not what was expected")
    }
}
