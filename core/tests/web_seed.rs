//! BEP 19 web seeds in the engine: URLs and ranges, a download from web seeds alone, bad data,
//! failures and back-off, and peers coming first. The "HTTP server" is a map from URL to file
//! bytes answering the engine's ranges, on a virtual clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::engine::{
    piece_ranges, Action, Config, PeerInfo, PeerKey, Torrent, WebSeedId, WebSeedRange,
};
use bitfleet_core::metainfo::{Info, PieceHasher, TorrentBuilder};
use bitfleet_core::wire::Message;
use bitfleet_core::{Bitfield, InfoHash, Instant, PeerId};
use bytes::Bytes;

const PIECE: u32 = 32 << 10;

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// A multi-file torrent over `files` (path below the name, contents), with the files of a
/// web seed at `base` as the server would hold them.
fn multi_file(base: &str, files: &[(&[&str], Vec<u8>)]) -> (Arc<Info>, BTreeMap<String, Vec<u8>>) {
    let mut hasher = PieceHasher::new(PIECE);
    for (_, data) in files {
        hasher.update(data);
    }
    let builder = TorrentBuilder {
        name: "release 1".into(),
        files: files
            .iter()
            .map(|(path, data)| {
                let path = path.iter().map(|c| (*c).to_owned()).collect();
                (path, data.len() as u64)
            })
            .collect(),
        piece_length: PIECE,
        ..Default::default()
    };
    let info = Arc::new(builder.build(hasher.finish()).expect("valid torrent").info);
    let mut server = BTreeMap::new();
    for (path, data) in files {
        let encoded: Vec<String> = path.iter().map(|c| c.replace(' ', "%20")).collect();
        server.insert(
            format!("{base}release%201/{}", encoded.join("/")),
            data.clone(),
        );
    }
    (info, server)
}

fn at(secs: f64) -> Instant {
    Instant::from_epoch(Duration::from_secs_f64(secs))
}

/// One leecher and its web seeds on a virtual clock.
struct Run {
    torrent: Torrent,
    info: Arc<Info>,
    /// Per web seed: URL → file bytes (what its HTTP server holds).
    servers: Vec<BTreeMap<String, Vec<u8>>>,
    /// Per web seed: corrupt every body it sends.
    liars: Vec<bool>,
    /// Per web seed: every request fails (connection refused, HTTP 500...).
    broken: Vec<bool>,
    now: Instant,
    stored: BTreeMap<u32, Bytes>,
    fetches: Vec<(Instant, WebSeedId, u32)>,
    max_in_flight: BTreeMap<WebSeedId, usize>,
    in_flight: BTreeMap<WebSeedId, usize>,
    complete: bool,
    /// How many fetches had gone out when a piece first failed its hash.
    fetches_at_first_failure: Option<usize>,
}

impl Run {
    fn new(info: Arc<Info>, urls: &[&str], servers: Vec<BTreeMap<String, Vec<u8>>>) -> Self {
        let now = at(100.0);
        let pieces = info.piece_count();
        let config = Config::new(PeerId([7; 20]), 6881);
        let info_hash = InfoHash([3; 20]);
        let mut torrent = Torrent::new(
            info.clone(),
            info_hash,
            Bitfield::new(pieces),
            config,
            1,
            now,
        );
        for url in urls {
            torrent.add_web_seed(url, now);
        }
        torrent.start(now);
        Run {
            torrent,
            info,
            liars: vec![false; servers.len()],
            broken: vec![false; servers.len()],
            servers,
            now,
            stored: BTreeMap::new(),
            fetches: Vec::new(),
            max_in_flight: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            complete: false,
            fetches_at_first_failure: None,
        }
    }

    fn serve(&self, seed: WebSeedId, ranges: &[WebSeedRange]) -> Result<Bytes, String> {
        let index = seed.0 as usize;
        if self.broken[index] {
            return Err("HTTP 500".into());
        }
        let mut body = Vec::new();
        for range in ranges {
            let file = self.servers[index]
                .get(&range.url)
                .ok_or_else(|| format!("404 {}", range.url))?;
            let start = range.start as usize;
            body.extend_from_slice(&file[start..start + range.len as usize]);
        }
        if self.liars[index] {
            body.iter_mut().for_each(|b| *b ^= 0x5a);
        }
        Ok(Bytes::from(body))
    }

    /// Carries out every action, answering fetches at once; returns the fetches' answers so a
    /// test can hold some back.
    fn settle(&mut self) {
        while let Some(action) = self.torrent.poll_action() {
            match action {
                Action::FetchWebSeed {
                    seed,
                    piece,
                    ranges,
                } => {
                    self.fetches.push((self.now, seed, piece));
                    // A web seed kept despite lying would be asked forever, with no time passing.
                    assert!(self.fetches.len() < 10_000, "endless fetches");
                    let count = self.in_flight.entry(seed).or_default();
                    *count += 1;
                    let max = self.max_in_flight.entry(seed).or_default();
                    *max = (*max).max(*count);
                    let answer = self.serve(seed, &ranges);
                    *self.in_flight.entry(seed).or_default() -= 1;
                    self.torrent.web_seed_fetched(seed, piece, answer, self.now);
                }
                Action::Verify { piece, data } => {
                    let valid = self.info.verify_piece(piece, &data);
                    if !valid {
                        let sent = self.fetches.len();
                        self.fetches_at_first_failure.get_or_insert(sent);
                    }
                    self.torrent.piece_verified(piece, valid, self.now);
                }
                Action::Write { piece, data } => {
                    self.stored.insert(piece, data);
                    self.torrent.piece_written(piece, true, self.now);
                }
                Action::Completed => self.complete = true,
                _ => {}
            }
        }
    }

    /// Runs until complete or `limit` of virtual time passed.
    fn run(&mut self, limit: Duration) -> bool {
        let end = self.now + limit;
        self.settle();
        while !self.complete && self.now < end {
            self.now = self
                .torrent
                .poll_timeout()
                .map_or(end, |t| t.max(self.now))
                .min(end);
            self.torrent.handle_timeout(self.now);
            self.settle();
        }
        self.complete
    }

    fn stored_bytes(&self) -> Vec<u8> {
        self.stored
            .values()
            .flat_map(|d| d.iter().copied())
            .collect()
    }
}

fn files() -> Vec<(&'static [&'static str], Vec<u8>)> {
    vec![
        (&["a b.bin"][..], payload(100_000, 1)),
        (&["dir", "empty"][..], Vec::new()),
        (&["dir", "c.bin"][..], payload(250_001, 2)),
    ]
}

#[test]
fn ranges_follow_bep19_urls_across_files() {
    let (info, _) = multi_file("http://s/files/", &files());
    // Piece 3 runs from byte 98304: the end of "a b.bin", then the start of "dir/c.bin".
    let ranges = piece_ranges(&info, "http://s/files", 3);
    assert_eq!(
        ranges,
        vec![
            WebSeedRange {
                url: "http://s/files/release%201/a%20b.bin".into(),
                start: 98_304,
                len: 1_696,
            },
            WebSeedRange {
                url: "http://s/files/release%201/dir/c.bin".into(),
                start: 0,
                len: u64::from(PIECE) - 1_696,
            },
        ]
    );
    assert_eq!(ranges[0].header(), "bytes=98304-99999");

    let data = payload(70_000, 3);
    let mut hasher = PieceHasher::new(PIECE);
    hasher.update(&data);
    let single = TorrentBuilder {
        name: "disk image.iso".into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length: PIECE,
        ..Default::default()
    };
    let info = single.build(hasher.finish()).expect("valid torrent").info;
    // A single-file torrent's URL is the file, unless it names a folder.
    assert_eq!(
        piece_ranges(&info, "http://s/x.iso", 0)[0].url,
        "http://s/x.iso"
    );
    let last = &piece_ranges(&info, "http://s/files/", 2)[0];
    assert_eq!(last.url, "http://s/files/disk%20image.iso");
    assert_eq!((last.start, last.len), (65_536, 4_464));
}

#[test]
fn a_torrent_finishes_from_web_seeds_alone_within_the_in_flight_bound() {
    let files = files();
    let (info, server) = multi_file("http://s/files/", &files);
    let mut run = Run::new(info.clone(), &["http://s/files/"], vec![server]);
    assert!(run.run(Duration::from_secs(60)), "did not complete");
    let expected: Vec<u8> = files.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    assert_eq!(run.stored_bytes(), expected);
    assert_eq!(
        run.fetches.len(),
        info.piece_count() as usize,
        "a piece fetched twice"
    );
    assert!(run.max_in_flight.values().all(|&m| m <= 4));
    let status = run.torrent.status(run.now);
    assert_eq!(status.transfer.downloaded, expected.len() as u64);
    assert_eq!(status.hash_failures, 0);
}

#[test]
fn a_lying_web_seed_is_dropped_and_an_honest_one_finishes() {
    let files = files();
    let (info, server) = multi_file("http://a/", &files);
    let (_, honest) = multi_file("http://b/", &files);
    let mut run = Run::new(
        info.clone(),
        &["http://a/", "http://b/"],
        vec![server, honest],
    );
    run.liars[0] = true;
    assert!(run.run(Duration::from_secs(60)), "did not complete");
    let expected: Vec<u8> = files.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    assert_eq!(run.stored_bytes(), expected, "bad bytes reached storage");
    // Once its first piece failed the hash check, the liar got only what was already queued
    // for it (fewer than its in-flight bound), nothing new.
    let caught = run
        .fetches_at_first_failure
        .expect("the liar was never asked");
    let after: Vec<_> = run.fetches[caught..]
        .iter()
        .filter(|f| f.1 == WebSeedId(0))
        .collect();
    assert!(after.len() < 4, "asked again after lying: {after:?}");
    assert!(run.torrent.status(run.now).hash_failures >= 1);
}

#[test]
fn failing_web_seeds_back_off_then_are_given_up() {
    let (info, server) = multi_file("http://s/", &files());
    let mut run = Run::new(info, &["http://s/"], vec![server]);
    run.broken[0] = true;
    run.run(Duration::from_secs(600));
    assert!(!run.complete);
    // One batch per attempt: the attempts are spaced by a doubling back-off, five in all.
    let mut attempts: Vec<Instant> = run.fetches.iter().map(|f| f.0).collect();
    attempts.dedup();
    assert_eq!(attempts.len(), 5, "{attempts:?}");
    let gaps: Vec<u64> = attempts
        .windows(2)
        .map(|w| w[1].saturating_since(w[0]).as_secs())
        .collect();
    for (gap, expected) in gaps.iter().zip([2, 4, 8, 16]) {
        assert!((expected..=expected + 1).contains(gap), "gaps {gaps:?}");
    }
    // It recovers nothing by itself, but a working server later is not asked: it was dropped.
    run.broken[0] = false;
    run.run(Duration::from_secs(120));
    assert!(!run.complete);
}

#[test]
fn peers_come_first_and_slow_peers_bring_the_web_seed_in() {
    let (info, server) = multi_file("http://s/", &files());
    let mut run = Run::new(info, &["http://s/"], vec![server]);
    // The start sent a first batch to the web seed (no peer was known); before any answer, a
    // seed connects. It never unchokes us.
    let peer = PeerInfo {
        addr: None,
        peer_id: PeerId([9; 20]),
        supports_fast: true,
        supports_extensions: false,
        outgoing: false,
    };
    assert!(run.torrent.peer_connected(PeerKey(0), peer, run.now));
    let mut have_all = Vec::new();
    Message::HaveAll.encode(&mut have_all);
    run.torrent.peer_data(PeerKey(0), &have_all, run.now);
    run.run(Duration::from_secs(4));
    assert_eq!(
        run.fetches.len(),
        4,
        "web seed used while a seed was just found"
    );
    // The seed delivers nothing: after the grace period the web seed takes over.
    assert!(run.run(Duration::from_secs(60)), "did not complete");
    assert!(run.fetches.iter().skip(4).all(|f| f.0 >= at(105.0)));
}
