//! Hostile input: poisoned .torrent files, a peer that lies about piece data, and garbage
//! thrown at a seed's listener. Bitfleet must refuse cleanly, never write outside its output
//! directory, never panic, and keep serving honest peers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use bitfleet_tests::bencode::Value;
use bitfleet_tests::files::{is_empty_or_absent, list_tree};
use bitfleet_tests::{
    bitfleet, bitfleet_get, bitfleet_seed, liar_peer, loopback, lt_create, temp_dir, write_payload,
    FileSpec, Line, LtCreate, Proc, TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};

const PIECE: i64 = 16 << 10;

/// `pieces` of the right length for `total` bytes, up to 1 GiB (the hashes themselves are never
/// checked: no peer is ever contacted). Absurd totals get a token piece.
fn pieces_for(total: i64) -> Value {
    let total = if (0..=1 << 30).contains(&total) {
        total
    } else {
        1
    };
    let count = usize::try_from((total + PIECE - 1) / PIECE).unwrap_or(1);
    Value::Bytes(vec![0xAB; 20 * count])
}

fn single_file_info(name: &str, length: i64) -> Value {
    Value::dict([
        ("name", Value::str(name)),
        ("length", Value::Int(length)),
        ("piece length", Value::Int(PIECE)),
        ("pieces", pieces_for(length)),
    ])
}

fn multi_file_info(name: &str, files: &[(&[&str], i64)]) -> Value {
    let total = files
        .iter()
        .map(|(_, len)| *len)
        .fold(0, i64::saturating_add);
    let files = files
        .iter()
        .map(|(path, len)| {
            Value::dict([
                ("length", Value::Int(*len)),
                (
                    "path",
                    Value::List(path.iter().map(|c| Value::str(c)).collect()),
                ),
            ])
        })
        .collect();
    Value::dict([
        ("name", Value::str(name)),
        ("files", Value::List(files)),
        ("piece length", Value::Int(PIECE)),
        ("pieces", pieces_for(total)),
    ])
}

/// `info` with one key replaced.
fn with(info: Value, key: &str, value: Value) -> Value {
    let Value::Dict(mut entries) = info else {
        unreachable!("info is built as a dictionary")
    };
    entries.insert(key.as_bytes().to_vec(), value);
    Value::Dict(entries)
}

fn torrent(info: Value) -> Vec<u8> {
    Value::dict([
        ("announce", Value::str("http://127.0.0.1:1/announce")),
        ("info", info),
    ])
    .encode()
}

/// Hostile .torrent files, named. `abs` is an absolute directory an attacker would target.
fn hostile_torrents(abs: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let abs_file = abs.join("evil").to_string_lossy().into_owned();
    let valid = torrent(single_file_info("ok.bin", 100_000));
    let mut nested = b"d4:info".to_vec();
    nested.extend(std::iter::repeat_n(b'l', 100_000));
    nested.extend(std::iter::repeat_n(b'e', 100_001));
    vec![
        (
            "dot-dot path component",
            torrent(multi_file_info("t", &[(&["..", "evil"], 10)])),
        ),
        (
            "dot-dot deep in a path",
            torrent(multi_file_info("t", &[(&["a", "..", "..", "evil"], 10)])),
        ),
        (
            "slash inside a component",
            torrent(multi_file_info("t", &[(&["a/../../evil"], 10)])),
        ),
        (
            "dot-dot name",
            torrent(multi_file_info("..", &[(&["evil"], 10)])),
        ),
        (
            "dot-dot single-file name",
            torrent(single_file_info("../evil", 10)),
        ),
        (
            "absolute path component",
            torrent(multi_file_info("t", &[(&[&abs_file], 10)])),
        ),
        (
            "absolute single-file name",
            torrent(single_file_info(&abs_file, 10)),
        ),
        ("empty path", torrent(multi_file_info("t", &[(&[], 10)]))),
        (
            "absurd piece count",
            torrent(with(
                single_file_info("big", 10),
                "length",
                Value::Int(1 << 60),
            )),
        ),
        (
            "file lengths overflow",
            torrent(multi_file_info(
                "t",
                &[(&["a"], i64::MAX), (&["b"], i64::MAX)],
            )),
        ),
        ("negative length", torrent(single_file_info("neg", -5))),
        (
            "zero piece length",
            torrent(with(
                single_file_info("z", 10),
                "piece length",
                Value::Int(0),
            )),
        ),
        (
            "pieces not a multiple of 20",
            torrent(with(
                single_file_info("p", 10),
                "pieces",
                Value::Bytes(vec![1; 39]),
            )),
        ),
        ("truncated", valid[..valid.len() / 2].to_vec()),
        ("not bencode", b"this is not a torrent at all".to_vec()),
        (
            "string longer than the file",
            b"d4:info999999999:abce".to_vec(),
        ),
        ("nesting bomb", nested),
        ("not a dictionary", b"i42e".to_vec()),
        ("no info", b"d8:announce3:abce".to_vec()),
        ("empty file", Vec::new()),
    ]
}

/// How long a refusal may take. Cases run concurrently, so a client that hangs on all of them
/// costs this once, not once per case.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn hostile_torrents_are_refused_without_writing_anything() {
    let tmp = temp_dir("hostile-torrents").unwrap();
    let abs = tmp.path().join("abs");
    let running: Vec<_> = hostile_torrents(&abs)
        .into_iter()
        .enumerate()
        .map(|(i, (label, bytes))| {
            let sandbox = tmp.path().join(format!("case{i}/sandbox"));
            (label, spawn_get(&sandbox, &bytes), sandbox)
        })
        .collect();
    let deadline = Instant::now() + REFUSAL_DEADLINE;
    let failures: Vec<String> = running
        .into_iter()
        .filter_map(|(label, mut get, sandbox)| {
            let left = deadline.saturating_duration_since(Instant::now());
            refusal_problem(&mut get, left, &sandbox).map(|p| format!("{label}: {p}"))
        })
        .chain(
            abs.exists()
                .then(|| format!("wrote to an absolute path: {:?}", list_tree(&abs))),
        )
        .collect();
    assert!(
        failures.is_empty(),
        "hostile torrents mishandled:\n{}",
        failures.join("\n")
    );
}

/// Writes `bytes` next to `sandbox` and starts `bitfleet get` on it with `--out sandbox/out`.
fn spawn_get(sandbox: &Path, bytes: &[u8]) -> Proc {
    std::fs::create_dir_all(sandbox).unwrap();
    let torrent = sandbox.with_file_name("hostile.torrent");
    std::fs::write(&torrent, bytes).unwrap();
    let mut cmd = bitfleet().unwrap();
    cmd.arg("get")
        .arg(&torrent)
        .arg("--out")
        .arg(sandbox.join("out"));
    cmd.args(["--bind", "127.0.0.1", "--json"]);
    Proc::spawn("bitfleet get", cmd).unwrap()
}

/// What went wrong with a refusal, if anything: anything but a prompt exit 1 with `error:`, a
/// panic, or any file or directory created in the sandbox, --out included.
fn refusal_problem(get: &mut Proc, timeout: Duration, sandbox: &Path) -> Option<String> {
    let status = match get.wait_exit(timeout) {
        Ok(status) => status,
        Err(e) => return Some(format!("{e:#}")),
    };
    let stderr = get.stderr();
    if stderr.contains("panicked") {
        return Some(format!("panicked: {stderr}"));
    }
    if status.code() != Some(1) || !stderr.contains("error:") {
        return Some(format!("{status}, stderr {stderr:?}"));
    }
    let outside: Vec<_> = std::fs::read_dir(sandbox)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != "out")
        .collect();
    if !outside.is_empty() {
        return Some(format!("wrote outside --out: {outside:?}"));
    }
    let out = sandbox.join("out");
    if !is_empty_or_absent(&out).unwrap() {
        return Some(format!("wrote into --out: {:?}", list_tree(&out).ok()));
    }
    None
}

/// A single-file payload and a v1 libtorrent-made torrent for it, in `dir`.
fn small_torrent(dir: &Path, len: u64, piece_size: u32) -> std::path::PathBuf {
    write_payload(dir, 99, &[FileSpec::new("blob.bin", len)]).unwrap();
    let torrent = dir.join("blob.torrent");
    let options = LtCreate {
        v1_only: true,
        piece_size: Some(piece_size),
        ..LtCreate::default()
    };
    lt_create(&dir.join("blob.bin"), &torrent, &options).unwrap();
    torrent
}

#[test]
fn a_lying_peer_costs_a_hash_failure_not_the_download() {
    let tmp = temp_dir("liar").unwrap();
    let data = tmp.path().join("data");
    let torrent = small_torrent(&data, 6 << 20, 256 << 10);

    let mut liar = liar_peer("liar", &torrent, &data).unwrap();
    let liar_port = liar.wait_started(TIMEOUT_QUICK).unwrap().port;
    // A slow honest seed, so the fast liar is asked for pieces too.
    let mut seed = bitfleet_seed("honest seed", &torrent, &data, &["--up-limit", "1M"]).unwrap();
    let seed_port = seed.wait_started(TIMEOUT_QUICK).unwrap().port;

    let out = tmp.path().join("out");
    let peers = [loopback(liar_port), loopback(seed_port)];
    let mut get = bitfleet_get("leecher", &torrent, &out, &peers, &[]).unwrap();
    let done = get.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert!(
        done.hash_failures >= 1,
        "the poisoned piece went unnoticed: {done:?}"
    );
    assert!(get.wait_exit(TIMEOUT_QUICK).unwrap().success());
    compare_files_in(&data, &out, "blob.bin");

    liar.wait_for("`poisoned`", TIMEOUT_QUICK, |line| match line {
        Line::Json(value) if value["event"] == "poisoned" => Some(()),
        _ => None,
    })
    .unwrap();
    seed.stop(TIMEOUT_QUICK).unwrap();
}

fn compare_files_in(expected: &Path, actual: &Path, name: &str) {
    bitfleet_tests::files::compare_files(&expected.join(name), &actual.join(name)).unwrap();
}

/// Opens a connection to `addr`, sends `bytes`, reads whatever comes back for a moment, closes.
fn throw(addr: SocketAddr, bytes: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.write_all(bytes);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    while matches!(stream.read(&mut sink), Ok(1..)) {}
}

fn handshake(info_hash: &[u8]) -> Vec<u8> {
    let mut out = b"\x13BitTorrent protocol".to_vec();
    out.extend([0u8; 8]);
    out.extend(info_hash);
    out.extend(b"-GARBAGE-0123456789X");
    out
}

fn message(id: u8, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len() + 1).unwrap();
    let mut out = len.to_be_bytes().to_vec();
    out.push(id);
    out.extend(payload);
    out
}

fn garbage(info_hash: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = fastrand::Rng::with_seed(13);
    let noise: Vec<u8> = std::iter::repeat_with(|| rng.u8(..))
        .take(64 << 10)
        .collect();
    let valid = handshake(info_hash);
    let then = |tail: &[u8]| [valid.as_slice(), tail].concat();
    let request = |index: u32, begin: u32, len: u32| {
        let payload = [index.to_be_bytes(), begin.to_be_bytes(), len.to_be_bytes()].concat();
        message(6, &payload)
    };
    vec![
        ("random bytes", noise),
        (
            "http request",
            b"GET /announce HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        ("bad protocol length", [&[0xFFu8][..], &valid[1..]].concat()),
        ("unknown info-hash", handshake(&[0x42; 20])),
        ("truncated handshake", valid[..30].to_vec()),
        ("4 GiB message length", then(&[0xFF, 0xFF, 0xFF, 0xFF, 7])),
        ("unknown message id", then(&message(0xEE, b"hello"))),
        ("oversized bitfield", then(&message(5, &[0xFF; 4096]))),
        (
            "request past the last piece",
            then(&request(u32::MAX, 0, 16 << 10)),
        ),
        (
            "request past the piece end",
            then(&request(0, u32::MAX - 10, 16 << 10)),
        ),
        ("request of 64 MiB", then(&request(0, 0, 64 << 20))),
        ("zero-length request", then(&request(0, 0, 0))),
        ("piece we never asked for", then(&message(7, &[0; 8 + 100]))),
        ("message cut short", then(&[0, 0, 0, 13, 6, 0, 0])),
        ("nothing", Vec::new()),
    ]
}

#[test]
fn garbage_on_the_listener_does_not_stop_a_seed() {
    let tmp = temp_dir("garbage").unwrap();
    let data = tmp.path().join("data");
    let torrent = small_torrent(&data, 3 << 20, 64 << 10);
    let mut seed = bitfleet_seed("seed", &torrent, &data, &[]).unwrap();
    let started = seed.wait_started(TIMEOUT_QUICK).unwrap();
    let addr = loopback(started.port);
    let info_hash = hex::decode(&started.info_hash).unwrap();

    for (label, bytes) in garbage(&info_hash) {
        throw(addr, &bytes);
        assert!(
            seed.is_running(),
            "{}",
            seed.failure(&format!("died of {label}"))
        );
    }
    // Silent connections held open must not block honest peers either.
    let idle: Vec<_> = (0..50)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();

    let out = tmp.path().join("out");
    let mut get = bitfleet_get("leecher", &torrent, &out, &[addr], &[]).unwrap();
    get.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert!(get.wait_exit(TIMEOUT_QUICK).unwrap().success());
    compare_files_in(&data, &out, "blob.bin");
    drop(idle);
    seed.stop(TIMEOUT_QUICK).unwrap();
}
