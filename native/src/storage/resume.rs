//! Resume data: which pieces are verified on disk, and what each file looked like (size and
//! mtime) when that was recorded, so a restart can trust it without hashing.
//!
//! It lives next to the torrent's data, at `DIR/.<info-hash hex>.bitfleet-resume` (temporary
//! copy: the same name plus `.tmp`), while the download is unfinished; once every piece is
//! stored it is removed, leaving DIR with the torrent's files only (a finished download that is
//! started again is checked like a first start). No torrent can clash with it: a torrent's
//! top-level name would have to spell out its own info-hash, a SHA-1 preimage.
//!
//! Format (integers big-endian): `BFRESUME`, version `1`, flags (bit 0: clean — written at a
//! graceful stop, after every write of the run), the 20-byte info-hash, the piece count (u32)
//! and the have-bitfield, the file count (u32) and per file either `0` (absent, or a pad file)
//! or `1` + size (u64) + mtime seconds (u64) + nanoseconds (u32), then the SHA-1 of everything
//! before it, so truncation and corruption are detected rather than trusted.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bitfleet_core::{Bitfield, InfoHash};
use sha1::{Digest, Sha1};

use crate::atomic_file;

const MAGIC: &[u8; 8] = b"BFRESUME";
const VERSION: u8 = 1;
const FLAG_CLEAN: u8 = 1;
const DIGEST_LEN: usize = 20;

/// A file as last seen: enough to tell whether anything rewrote it since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    pub size: u64,
    pub mtime_secs: u64,
    pub mtime_nanos: u32,
}

impl FileStamp {
    /// The file's stamp; `None` when it does not exist (or has no usable mtime).
    pub fn of(path: &Path) -> io::Result<Option<FileStamp>> {
        let meta = match fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let Ok(since_epoch) = meta.modified()?.duration_since(UNIX_EPOCH) else {
            return Ok(None);
        };
        Ok(Some(FileStamp {
            size: meta.len(),
            mtime_secs: since_epoch.as_secs(),
            mtime_nanos: since_epoch.subsec_nanos(),
        }))
    }
}

/// What a resume file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeData {
    pub info_hash: InfoHash,
    /// Written at a graceful stop: no write of ours followed it.
    pub clean: bool,
    /// Pieces verified, written and flushed to disk before this was saved.
    pub have: Bitfield,
    /// Indexed like the torrent's files; `None` for absent and pad files.
    pub files: Vec<Option<FileStamp>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: corrupt resume data ({why})", path.display())]
    Corrupt { path: PathBuf, why: &'static str },
}

/// The resume file of `info_hash` in the download folder `root`.
pub fn resume_path(root: &Path, info_hash: &InfoHash) -> PathBuf {
    root.join(format!(".{}.bitfleet-resume", info_hash.to_hex()))
}

/// Reads the resume file; `Ok(None)` when there is none.
pub fn load(root: &Path, info_hash: &InfoHash) -> Result<Option<ResumeData>, ResumeError> {
    let path = resume_path(root, info_hash);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(ResumeError::Io { path, source }),
    };
    decode(&bytes)
        .map(Some)
        .map_err(|why| ResumeError::Corrupt { path, why })
}

/// Replaces the resume file atomically: a crash leaves either the old file or the new one,
/// complete and on disk.
pub fn save(root: &Path, data: &ResumeData) -> Result<(), ResumeError> {
    let path = resume_path(root, &data.info_hash);
    atomic_file::write(&path, &encode(data), 0o644)
        .map_err(|source| ResumeError::Io { path, source })
}

/// Removes the resume file, and any temporary copy a crash mid-save left (a finished download
/// needs none); no file is fine.
pub fn remove(root: &Path, info_hash: &InfoHash) -> Result<(), ResumeError> {
    let path = resume_path(root, info_hash);
    for path in [atomic_file::temporary_path(&path), path] {
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(ResumeError::Io { path, source }),
        }
    }
    File::open(root)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| ResumeError::Io {
            path: root.to_owned(),
            source,
        })
}

pub fn encode(data: &ResumeData) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + data.have.as_bytes().len() + 21 * data.files.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(if data.clean { FLAG_CLEAN } else { 0 });
    out.extend_from_slice(data.info_hash.as_bytes());
    out.extend_from_slice(&data.have.len().to_be_bytes());
    out.extend_from_slice(data.have.as_bytes());
    // A torrent's file count always fits: the parser caps it far below u32::MAX.
    let count = u32::try_from(data.files.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for stamp in &data.files {
        match stamp {
            None => out.push(0),
            Some(stamp) => {
                out.push(1);
                out.extend_from_slice(&stamp.size.to_be_bytes());
                out.extend_from_slice(&stamp.mtime_secs.to_be_bytes());
                out.extend_from_slice(&stamp.mtime_nanos.to_be_bytes());
            }
        }
    }
    let digest = Sha1::digest(&out);
    out.extend_from_slice(&digest);
    out
}

pub fn decode(bytes: &[u8]) -> Result<ResumeData, &'static str> {
    let body_len = bytes
        .len()
        .checked_sub(DIGEST_LEN)
        .ok_or("shorter than its checksum")?;
    let (body, digest) = bytes.split_at(body_len);
    if Sha1::digest(body).as_slice() != digest {
        return Err("checksum mismatch");
    }
    let mut r = Reader(body);
    if r.take(MAGIC.len())? != MAGIC {
        return Err("not a resume file");
    }
    if r.u8()? != VERSION {
        return Err("unknown version");
    }
    let clean = r.u8()? & FLAG_CLEAN != 0;
    let info_hash = InfoHash::from_slice(r.take(20)?).ok_or("bad info-hash")?;
    let pieces = r.u32()?;
    let have_bytes = r.take(pieces.div_ceil(8) as usize)?;
    let have = Bitfield::from_bytes(have_bytes, pieces).map_err(|_| "bad bitfield")?;
    let count = r.u32()?;
    // Each entry takes at least a byte: a count beyond what is left is a lie, not an allocation.
    if count as usize > r.0.len() {
        return Err("file count exceeds the data");
    }
    let files = (0..count)
        .map(|_| match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(FileStamp {
                size: r.u64()?,
                mtime_secs: r.u64()?,
                mtime_nanos: r.u32()?,
            })),
            _ => Err("bad file entry"),
        })
        .collect::<Result<_, _>>()?;
    if !r.0.is_empty() {
        return Err("trailing bytes");
    }
    Ok(ResumeData {
        info_hash,
        clean,
        have,
        files,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.0.len() {
            return Err("truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "truncated")
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(u8::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_be_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> ResumeData {
        let mut have = Bitfield::new(13);
        have.set(0);
        have.set(12);
        ResumeData {
            info_hash: InfoHash([7; 20]),
            clean: true,
            have,
            files: vec![
                Some(FileStamp {
                    size: 5,
                    mtime_secs: 1_700_000_000,
                    mtime_nanos: 123,
                }),
                None,
            ],
        }
    }

    #[test]
    fn round_trips_and_saves_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample();
        assert_eq!(load(dir.path(), &data.info_hash).unwrap(), None);
        save(dir.path(), &data).unwrap();
        assert_eq!(
            load(dir.path(), &data.info_hash).unwrap(),
            Some(data.clone())
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [format!(".{}.bitfleet-resume", "07".repeat(20))]);
        // A crash mid-save leaves the temporary copy: removal takes it too.
        fs::write(
            atomic_file::temporary_path(&resume_path(dir.path(), &data.info_hash)),
            b"half",
        )
        .unwrap();
        remove(dir.path(), &data.info_hash).unwrap();
        assert_eq!(load(dir.path(), &data.info_hash).unwrap(), None);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        remove(dir.path(), &data.info_hash).unwrap();
    }

    #[test]
    fn every_truncation_and_bit_flip_is_detected() {
        let bytes = encode(&sample());
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x10;
            assert!(decode(&flipped).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let hash = InfoHash([1; 20]);
        fs::write(resume_path(dir.path(), &hash), b"garbage").unwrap();
        let err = load(dir.path(), &hash).unwrap_err().to_string();
        assert!(err.contains("corrupt resume data"), "{err}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn arbitrary_bodies_with_a_valid_checksum_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut bytes = body.clone();
            bytes.extend_from_slice(&Sha1::digest(&body));
            let _ = decode(&bytes);
        }
    }
}
