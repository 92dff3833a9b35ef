//! Bitfleet against stock libtorrent (python bindings) on loopback, in both directions, with
//! torrents made by either side.

use std::path::{Path, PathBuf};

use bitfleet_tests::files::list_tree;
use bitfleet_tests::{
    bitfleet_create, bitfleet_get, bitfleet_seed, compare_trees, loopback, lt_create, lt_get,
    lt_info, lt_seed, temp_dir, uneven_tree, write_payload, FileSpec, LtCreate, TIMEOUT_QUICK,
    TIMEOUT_TRANSFER,
};
use tempfile::TempDir;

const PAYLOAD: u64 = 8 << 20;

/// A temp dir holding `data/payload/...` (an uneven multi-file tree).
fn payload_dir(label: &str, seed: u64) -> (TempDir, PathBuf) {
    let tmp = temp_dir(label).unwrap();
    let data = tmp.path().join("data");
    write_payload(&data.join("payload"), seed, &uneven_tree(PAYLOAD).unwrap()).unwrap();
    (tmp, data)
}

/// libtorrent makes the torrent and seeds it; `bitfleet get SOURCE` must reproduce the data.
/// `source` maps (torrent path, v1 info-hash) to what bitfleet is given.
fn bitfleet_downloads_from_libtorrent(
    label: &str,
    options: LtCreate,
    source: impl Fn(&Path, &str) -> String,
) {
    let (tmp, data) = payload_dir(label, 5);
    let torrent = tmp.path().join("payload.torrent");
    let info = lt_create(&data.join("payload"), &torrent, &options).unwrap();
    assert_eq!(
        info.files.iter().any(|f| f.pad),
        !options.v1_only,
        "{info:?}"
    );

    let mut seed = lt_seed("libtorrent seed", &torrent, &data, false).unwrap();
    let port = seed.wait_started(TIMEOUT_QUICK).unwrap().port;
    let out = tmp.path().join("out");
    let mut get = bitfleet_get(
        "bitfleet get",
        source(&torrent, &info.info_hash),
        &out,
        &[loopback(port)],
        &[],
    )
    .unwrap();
    let started = get.wait_started(TIMEOUT_QUICK).unwrap();
    assert_eq!(started.info_hash, info.info_hash);
    assert_eq!(started.pieces, info.pieces);
    let done = get.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert_eq!((done.have, done.hash_failures), (info.pieces, 0));
    let status = get.wait_exit(TIMEOUT_QUICK).unwrap();
    assert!(
        status.success(),
        "{}",
        get.failure(&format!("exited with {status}"))
    );

    assert!(
        !out.join("payload/.pad").exists(),
        "pad files were written to disk"
    );
    compare_trees(&data, &out).unwrap();
    seed.stop(TIMEOUT_QUICK).unwrap();
}

fn torrent_file(torrent: &Path, _info_hash: &str) -> String {
    torrent.to_string_lossy().into_owned()
}

#[test]
fn bitfleet_gets_a_hybrid_torrent_with_pad_files_from_libtorrent() {
    bitfleet_downloads_from_libtorrent("lt-hybrid", LtCreate::default(), torrent_file);
}

#[test]
fn bitfleet_gets_a_v1_only_torrent_from_libtorrent() {
    let options = LtCreate {
        v1_only: true,
        piece_size: Some(32 << 10),
        ..LtCreate::default()
    };
    bitfleet_downloads_from_libtorrent("lt-v1", options, torrent_file);
}

#[test]
fn bitfleet_gets_a_magnet_link_from_libtorrent() {
    let options = LtCreate {
        v1_only: true,
        ..LtCreate::default()
    };
    bitfleet_downloads_from_libtorrent("lt-magnet", options, |_, info_hash| {
        format!("magnet:?xt=urn:btih:{info_hash}&dn=payload")
    });
}

#[test]
fn libtorrent_gets_from_a_bitfleet_seed() {
    let (tmp, data) = payload_dir("bf-seed", 6);
    let torrent = tmp.path().join("payload.torrent");
    let created = bitfleet_create(&data.join("payload"), &torrent, &[]).unwrap();

    let mut seed = bitfleet_seed("bitfleet seed", &torrent, &data, &[]).unwrap();
    let started = seed.wait_started(TIMEOUT_QUICK).unwrap();
    assert_eq!(started.info_hash, created.info_hash);
    let out = tmp.path().join("out");
    let mut get = lt_get(
        "libtorrent get",
        &torrent,
        &out,
        &[loopback(started.port)],
        false,
    )
    .unwrap();
    get.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert!(get.wait_exit(TIMEOUT_QUICK).unwrap().success());
    compare_trees(&data, &out).unwrap();

    let last = seed.stop(TIMEOUT_QUICK).unwrap();
    assert!(last.uploaded >= PAYLOAD, "seed reported {last:?}");
}

#[test]
fn libtorrent_reads_bitfleet_torrents_with_the_same_info_hash() {
    let (tmp, data) = payload_dir("bf-create", 7);
    let single = data.join("payload/big.bin");
    let cases: [(&Path, &[&str]); 3] = [
        (&data.join("payload"), &[]),
        (&data.join("payload"), &["--piece-length", "65536"]),
        (&single, &["--tracker", "http://127.0.0.1:1/announce"]),
    ];
    for (i, (path, extra)) in cases.into_iter().enumerate() {
        let torrent = tmp.path().join(format!("{i}.torrent"));
        let created = bitfleet_create(path, &torrent, extra).unwrap();
        let info = lt_info(&torrent).unwrap();
        assert_eq!(info.info_hash, created.info_hash, "case {i}: {extra:?}");
        assert!(
            created.magnet.contains(&created.info_hash),
            "{}",
            created.magnet
        );
        assert_eq!(
            Some(info.name.as_str()),
            path.file_name().and_then(|n| n.to_str())
        );
        assert!(!info.v2 && info.files.iter().all(|f| !f.pad), "{info:?}");
        assert!(info.piece_length.is_power_of_two(), "{info:?}");
        if extra.first() == Some(&"--piece-length") {
            assert_eq!(info.piece_length, 65536);
        }
        assert_eq!(file_sizes(&info.files), expected_sizes(path));
    }
}

/// (path relative to the torrent's root, size) as libtorrent lists them.
fn file_sizes(files: &[bitfleet_tests::python::LtFile]) -> Vec<FileSpec> {
    files
        .iter()
        .map(|f| FileSpec::new(&f.path, f.size))
        .collect()
}

/// The same list computed from disk: a folder's files sorted by path under its name, or the
/// single file itself.
fn expected_sizes(path: &Path) -> Vec<FileSpec> {
    let name = PathBuf::from(path.file_name().unwrap());
    if path.is_file() {
        return vec![FileSpec::new(name, std::fs::metadata(path).unwrap().len())];
    }
    list_tree(path)
        .unwrap()
        .into_iter()
        .map(|(rel, len)| FileSpec::new(name.join(rel), len))
        .collect()
}
