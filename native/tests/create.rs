//! `create`: a folder becomes a torrent whose pieces verify against the data it came from.

use std::fs;
use std::process::Command;
use std::sync::Arc;

use bitfleet::create::{create_torrent, CreateError, CreateOptions};
use bitfleet::storage::{self, Access, Storage};
use bitfleet_core::metainfo::Metainfo;

/// `root/share` with files of awkward sizes, in an order the walk would not give sorted.
fn sample_folder(root: &std::path::Path) -> std::path::PathBuf {
    let share = root.join("share");
    fs::create_dir_all(share.join("b/deep")).unwrap();
    fs::create_dir_all(share.join("a")).unwrap();
    let content = |n: usize, salt: u8| {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31) ^ salt)
            .collect::<Vec<u8>>()
    };
    fs::write(share.join("z.bin"), content(40_000, 1)).unwrap();
    fs::write(share.join("b/deep/x.bin"), content(70_001, 2)).unwrap();
    fs::write(share.join("a/empty"), b"").unwrap();
    fs::write(share.join("a/.hidden"), content(3, 3)).unwrap();
    fs::write(share.join("b/y.bin"), content(16_384, 4)).unwrap();
    share
}

#[test]
fn folder_torrent_round_trips_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let share = sample_folder(dir.path());
    let options = CreateOptions {
        trackers: vec!["http://127.0.0.1:1/announce".into()],
        piece_length: Some(32 * 1024),
        comment: Some("test".into()),
        ..CreateOptions::default()
    };
    let created = create_torrent(&share, &options).unwrap();
    let parsed = Metainfo::from_bytes(&created.to_bytes()).unwrap();
    assert_eq!(parsed.info_hash, created.info_hash);
    assert_eq!(parsed.info.name, "share");
    assert_eq!(parsed.info.piece_length, 32 * 1024);
    assert_eq!(
        parsed.trackers(),
        vec!["http://127.0.0.1:1/announce".to_owned()]
    );
    let paths: Vec<String> = parsed
        .info
        .files
        .iter()
        .filter(|f| !f.pad)
        .map(|f| f.path.join("/"))
        .collect();
    assert_eq!(
        paths,
        ["a/.hidden", "a/empty", "b/deep/x.bin", "b/y.bin", "z.bin"]
    );
    assert_eq!(parsed.info.total_length(), 3 + 70_001 + 16_384 + 40_000);

    let info = Arc::new(parsed.info);
    let storage = Storage::open(dir.path(), info.clone(), Access::ReadOnly).unwrap();
    let have = storage::check(&info, storage.layout(), &|| {}).unwrap();
    assert!(have.is_full(), "{have:?}");

    // One flipped byte fails exactly the piece holding it.
    let x = share.join("b/deep/x.bin");
    let mut bytes = fs::read(&x).unwrap();
    bytes[40_000] ^= 0xff; // payload offset 3 + 40_000: piece 1
    fs::write(&x, bytes).unwrap();
    let have = storage::check(&info, storage.layout(), &|| {}).unwrap();
    assert!(!have.get(1));
    assert_eq!(have.count_ones(), have.len() - 1);
}

#[test]
fn single_file_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("movie.mkv");
    fs::write(&file, vec![7u8; 100_000]).unwrap();
    let created = create_torrent(&file, &CreateOptions::default()).unwrap();
    assert!(!created.info.multi_file);
    assert_eq!(created.info.name, "movie.mkv");
    assert_eq!(created.info.total_length(), 100_000);
}

#[cfg(unix)]
#[test]
fn symlinks_and_empty_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let share = sample_folder(dir.path());
    std::os::unix::fs::symlink("/etc/passwd", share.join("a/link")).unwrap();
    let err = create_torrent(&share, &CreateOptions::default()).unwrap_err();
    assert!(matches!(err, CreateError::Symlink(_)), "{err}");

    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = create_torrent(&empty, &CreateOptions::default()).unwrap_err();
    assert!(matches!(err, CreateError::Empty(_)), "{err}");

    let options = CreateOptions {
        piece_length: Some(1000),
        ..CreateOptions::default()
    };
    fs::remove_file(share.join("a/link")).unwrap();
    let err = create_torrent(&share, &options).unwrap_err();
    assert!(matches!(err, CreateError::PieceLength(1000)), "{err}");
}

#[test]
fn cli_prints_info_hash_and_magnet() {
    let dir = tempfile::tempdir().unwrap();
    let share = sample_folder(dir.path());
    let out = dir.path().join("share.torrent");
    let result = Command::new(env!("CARGO_BIN_EXE_bitfleet"))
        .arg("create")
        .arg(&share)
        .arg("-o")
        .arg(&out)
        .args(["--tracker", "http://example.invalid/announce"])
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stdout = String::from_utf8(result.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let metainfo = Metainfo::from_bytes(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], metainfo.info_hash.to_hex());
    assert!(
        lines[1].starts_with(&format!(
            "magnet:?xt=urn:btih:{}",
            metainfo.info_hash.to_hex()
        )),
        "{stdout}"
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_bitfleet"))
        .args(["create", "/nonexistent/path", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: "));
}
