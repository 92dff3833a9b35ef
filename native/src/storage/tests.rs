use std::fs;
use std::sync::Arc;

use bitfleet_core::metainfo::{FileEntry, Info};
use sha1::{Digest, Sha1};

use super::*;

/// A torrent of `files` (`(path, length, pad)`), with content where byte `i` of the payload is
/// `i * 7 % 251` (pads are zeros), and real piece hashes.
fn torrent(piece_length: u32, files: &[(&str, u64, bool)]) -> (Arc<Info>, Vec<u8>) {
    let mut entries = Vec::new();
    let mut payload = Vec::new();
    for &(path, length, pad) in files {
        let offset = payload.len() as u64;
        for i in offset..offset + length {
            payload.push(if pad { 0 } else { (i * 7 % 251) as u8 });
        }
        let path = path.split('/').map(str::to_owned).collect();
        entries.push(FileEntry {
            path,
            length,
            offset,
            pad,
        });
    }
    let pieces = payload
        .chunks(piece_length as usize)
        .map(|chunk| Sha1::digest(chunk).into())
        .collect();
    let info = Info {
        name: "top".into(),
        piece_length,
        pieces,
        files: entries,
        multi_file: true,
        private: false,
    };
    (Arc::new(info), payload)
}

fn uneven() -> (Arc<Info>, Vec<u8>) {
    torrent(
        16,
        &[
            ("a.bin", 5, false),
            ("dir/b.bin", 0, false),
            ("dir/c.bin", 23, false),
            (".pad/9", 9, true),
            ("dir/sub/d.bin", 30, false),
        ],
    )
}

fn write_all(storage: &mut Storage, payload: &[u8], piece_length: usize) {
    for (piece, chunk) in payload.chunks(piece_length).enumerate() {
        storage.write_piece(piece as u32, chunk).unwrap();
    }
}

#[test]
fn round_trip_across_uneven_file_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let (info, payload) = uneven();
    let mut storage = Storage::open(dir.path(), info.clone(), Access::ReadWrite).unwrap();
    write_all(&mut storage, &payload, 16);

    let top = dir.path().join("top");
    assert_eq!(fs::read(top.join("a.bin")).unwrap(), &payload[..5]);
    assert_eq!(fs::read(top.join("dir/b.bin")).unwrap(), b"");
    assert_eq!(fs::read(top.join("dir/c.bin")).unwrap(), &payload[5..28]);
    assert_eq!(fs::read(top.join("dir/sub/d.bin")).unwrap(), &payload[37..]);
    assert!(
        !top.join(".pad").exists(),
        "pad files must never be created"
    );

    for piece in 0..info.piece_count() {
        let start = piece as usize * 16;
        let end = (start + 16).min(payload.len());
        assert_eq!(storage.read_piece(piece).unwrap(), &payload[start..end]);
    }
    // Blocks straddling c.bin and the pad, and the pad and d.bin.
    assert_eq!(storage.read_block(1, 10, 6).unwrap(), &payload[26..32]);
    assert_eq!(storage.read_block(2, 3, 5).unwrap(), &payload[35..40]);
}

#[test]
fn pad_bytes_read_as_zeros_and_writes_skip_them() {
    let dir = tempfile::tempdir().unwrap();
    let (info, payload) = uneven();
    let mut storage = Storage::open(dir.path(), info, Access::ReadWrite).unwrap();
    let mut piece = payload[16..32].to_vec();
    piece[13] = 0xee; // inside the pad: must not reach the disk
    storage.write_piece(1, &piece).unwrap();
    assert_eq!(storage.read_block(1, 12, 4).unwrap(), &[0, 0, 0, 0][..]);
}

#[test]
fn out_of_bounds_requests_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (info, _) = uneven();
    let mut storage = Storage::open(dir.path(), info.clone(), Access::ReadWrite).unwrap();
    let last = info.piece_count() - 1;
    let last_size = info.piece_size(last);
    assert!(storage.read_block(last, 0, last_size + 1).is_err());
    assert!(storage.read_block(0, u32::MAX, 2).is_err());
    assert!(storage.read_piece(info.piece_count()).is_err());
    assert!(storage.write_piece(0, &[0; 15]).is_err());
}

#[test]
fn files_are_sparse_allocated_to_full_size() {
    let dir = tempfile::tempdir().unwrap();
    let (info, payload) = uneven();
    let mut storage = Storage::open(dir.path(), info, Access::ReadWrite).unwrap();
    storage.write_piece(0, &payload[..16]).unwrap();
    let c = dir.path().join("top/dir/c.bin");
    assert_eq!(fs::metadata(c).unwrap().len(), 23);
}

#[test]
fn check_finds_valid_pieces_and_tolerates_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let (info, payload) = uneven();
    let layout = |storage: &Storage| storage.layout().clone();

    // Nothing on disk: every piece absent, no error.
    let empty = Storage::with_layout(
        info.clone(),
        Arc::new(Layout::new(dir.path(), &info).unwrap()),
        Access::ReadOnly,
    );
    assert_eq!(
        check(&info, &layout(&empty), &|| {}).unwrap().count_ones(),
        0
    );

    let mut storage = Storage::open(dir.path(), info.clone(), Access::ReadWrite).unwrap();
    write_all(&mut storage, &payload, 16);
    let checked = std::sync::atomic::AtomicU32::new(0);
    let count = || {
        checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    assert!(check(&info, &layout(&storage), &count).unwrap().is_full());
    assert_eq!(checked.into_inner(), info.piece_count());

    // Corrupt one byte of d.bin (piece 3) and delete a.bin (piece 0).
    let d = dir.path().join("top/dir/sub/d.bin");
    let mut bytes = fs::read(&d).unwrap();
    bytes[20] ^= 1;
    fs::write(&d, bytes).unwrap();
    fs::remove_file(dir.path().join("top/a.bin")).unwrap();
    let have = check(&info, &layout(&storage), &|| {}).unwrap();
    assert_eq!(have.iter_ones().collect::<Vec<_>>(), vec![1, 2, 4]);
}

#[test]
fn unsafe_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["../evil", "/etc/passwd", "a//b", "./x", "dir/../../x"] {
        let (info, _) = torrent(16, &[(bad, 4, false)]);
        let err = Storage::open(dir.path(), info, Access::ReadWrite).err();
        assert!(
            matches!(err, Some(StorageError::UnsafePath(_))),
            "{bad:?}: {err:?}"
        );
    }
    let (info, _) = torrent(16, &[("ok", 4, false)]);
    let mut info = Arc::unwrap_or_clone(info);
    info.name = "..".into();
    let err = Storage::open(dir.path(), Arc::new(info), Access::ReadWrite).err();
    assert!(matches!(err, Some(StorageError::UnsafePath(_))), "{err:?}");
}

#[cfg(unix)]
#[test]
fn symlinks_escaping_the_folder_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (info, payload) = torrent(16, &[("dir/f.bin", 16, false)]);
    fs::create_dir(dir.path().join("top")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("top/dir")).unwrap();

    let mut storage = Storage::open(dir.path(), info.clone(), Access::ReadWrite).unwrap();
    let err = storage.write_piece(0, &payload).unwrap_err();
    assert!(matches!(err, StorageError::Escapes(_)), "{err:?}");
    assert!(!outside.path().join("f.bin").exists());

    // Reading through the link is refused too, even when the file exists there.
    fs::write(outside.path().join("f.bin"), &payload).unwrap();
    let mut reader = Storage::open(dir.path(), info.clone(), Access::ReadOnly).unwrap();
    assert!(matches!(
        reader.read_piece(0),
        Err(StorageError::Escapes(_))
    ));

    // A symlinked file pointing outside, in a real folder.
    fs::remove_file(dir.path().join("top/dir")).unwrap();
    fs::create_dir(dir.path().join("top/dir")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("f.bin"),
        dir.path().join("top/dir/f.bin"),
    )
    .unwrap();
    let mut reader = Storage::open(dir.path(), info, Access::ReadOnly).unwrap();
    assert!(matches!(
        reader.read_piece(0),
        Err(StorageError::Escapes(_))
    ));
}

#[test]
fn single_file_torrents_map_to_dir_slash_name() {
    let dir = tempfile::tempdir().unwrap();
    let (info, payload) = torrent(16, &[("", 20, false)]);
    let mut info = Arc::unwrap_or_clone(info);
    info.multi_file = false;
    info.files[0].path.clear();
    info.name = "movie.mkv".into();
    let mut storage = Storage::open(dir.path(), Arc::new(info), Access::ReadWrite).unwrap();
    write_all(&mut storage, &payload, 16);
    assert_eq!(fs::read(dir.path().join("movie.mkv")).unwrap(), payload);
}

mod restore {
    use std::time::Duration;

    use bitfleet_core::{Bitfield, InfoHash};

    use super::*;
    use crate::storage::resume::{self, FileStamp, ResumeData};

    const HASH: InfoHash = InfoHash([9; 20]);

    /// A complete download of `uneven()` in a fresh folder.
    fn downloaded() -> (tempfile::TempDir, Storage, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let (info, payload) = uneven();
        let mut storage = Storage::open(dir.path(), info, Access::ReadWrite).unwrap();
        write_all(&mut storage, &payload, 16);
        (dir, storage, payload)
    }

    fn stamps(storage: &Storage) -> Vec<Option<FileStamp>> {
        (0..storage.info().files.len())
            .map(|f| {
                storage
                    .layout()
                    .path(f)
                    .and_then(|p| FileStamp::of(p).unwrap())
            })
            .collect()
    }

    fn save(storage: &Storage, clean: bool, have: Bitfield) {
        let data = ResumeData {
            info_hash: HASH,
            clean,
            have,
            files: stamps(storage),
        };
        resume::save(storage.layout().root(), &data).unwrap();
    }

    /// Flips a byte of file `index` at `offset`, keeping or moving its mtime.
    fn tamper(storage: &Storage, index: usize, offset: u64, keep_mtime: bool) {
        let path = storage.layout().path(index).unwrap();
        let before = fs::metadata(path).unwrap().modified().unwrap();
        let mut bytes = fs::read(path).unwrap();
        bytes[offset as usize] ^= 0xff;
        fs::write(path, bytes).unwrap();
        let mtime = if keep_mtime {
            before
        } else {
            before + Duration::from_secs(3)
        };
        let file = fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(mtime).unwrap();
    }

    fn ones(bits: &Bitfield) -> Vec<u32> {
        bits.iter_ones().collect()
    }

    #[test]
    fn without_resume_data_everything_is_checked() {
        let (_dir, storage, _) = downloaded();
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert!(restored.have.is_full());
        assert!(!restored.from_resume);
    }

    #[test]
    fn clean_resume_data_with_unchanged_files_is_trusted_unread() {
        let (_dir, storage, _) = downloaded();
        let pieces = storage.info().piece_count();
        save(&storage, true, Bitfield::full(pieces));
        // Rewritten behind our back with the mtime put back: only --recheck can notice.
        tamper(&storage, 2, 1, true);
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert!(restored.from_resume);
        assert_eq!(restored.checked, 0);
        assert!(restored.have.is_full());
        let rechecked = crate::storage::restore(&storage, &HASH, true, &|| {}).unwrap();
        assert_eq!(rechecked.checked, pieces as usize);
        assert!(
            !rechecked.have.get(0),
            "byte 6 of the payload is in piece 0"
        );
    }

    #[test]
    fn only_pieces_of_changed_files_are_rechecked() {
        let (_dir, storage, _) = downloaded();
        let pieces = storage.info().piece_count();
        save(&storage, true, Bitfield::full(pieces));
        // d.bin starts at payload offset 37 (piece 2) and ends in piece 4.
        tamper(&storage, 4, 20, false);
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert_eq!(crate::storage::pieces_of_file(storage.info(), 4), 2..5);
        assert_eq!(restored.checked, 3);
        assert_eq!(
            ones(&restored.have),
            [0, 1, 2, 4],
            "offset 57 is in piece 3"
        );
    }

    #[test]
    fn a_clean_stop_lists_everything_written() {
        let (_dir, storage, _) = downloaded();
        let mut have = Bitfield::new(storage.info().piece_count());
        have.set(1);
        save(&storage, true, have);
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert_eq!(restored.checked, 0);
        assert_eq!(ones(&restored.have), [1]);
    }

    #[test]
    fn after_a_crash_pieces_written_since_the_last_save_are_found() {
        let (_dir, storage, _) = downloaded();
        let mut have = Bitfield::new(storage.info().piece_count());
        have.set(1);
        save(&storage, false, have);
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert_eq!(restored.checked, 4, "the unlisted pieces");
        assert!(restored.have.is_full());
    }

    #[test]
    fn unwritten_pieces_of_sparse_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let (info, payload) = torrent(16, &[("big.bin", 16 * 64, false)]);
        let mut storage = Storage::open(dir.path(), info, Access::ReadWrite).unwrap();
        storage.write_piece(0, &payload[..16]).unwrap();
        // Sparse: everything past piece 0 is a hole (where the file system supports holes, a
        // hole piece is reported absent without reading it; elsewhere it fails its hash).
        assert!(!storage.is_hole(0).unwrap());
        save(&storage, false, Bitfield::new(64));
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert_eq!(ones(&restored.have), [0]);
    }

    #[test]
    fn corrupt_resume_data_means_a_full_check() {
        let (dir, storage, _) = downloaded();
        fs::write(resume::resume_path(dir.path(), &HASH), b"BFRESUME\x01\x00").unwrap();
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert!(!restored.from_resume);
        assert!(restored.have.is_full());
    }

    #[test]
    fn resume_data_of_another_shape_means_a_full_check() {
        let (_dir, storage, _) = downloaded();
        let data = ResumeData {
            info_hash: HASH,
            clean: true,
            have: Bitfield::full(3),
            files: vec![None],
        };
        resume::save(storage.layout().root(), &data).unwrap();
        let restored = crate::storage::restore(&storage, &HASH, false, &|| {}).unwrap();
        assert!(!restored.from_resume);
        assert!(restored.have.is_full());
    }
}
