//! Start-up: which pieces are on disk, from the resume data where it can be trusted and by
//! hashing only what it cannot vouch for.

use std::ops::Range;

use bitfleet_core::metainfo::Info;
use bitfleet_core::{Bitfield, InfoHash};

use super::check::{check, check_pieces, Holes};
use super::resume::{self, FileStamp, ResumeData};
use super::{Storage, StorageError};

/// The pieces on disk, and the files' stamps as they were found (the resume writer's baseline).
#[derive(Debug)]
pub struct Restored {
    pub have: Bitfield,
    /// The pieces of `have` found by checking rather than listed by the resume data.
    pub found: Bitfield,
    pub stamps: Vec<Option<FileStamp>>,
    /// Pieces checked to get there (hashed, unless never written at all).
    pub checked: usize,
    /// Whether the resume data was used.
    pub from_resume: bool,
}

/// Pieces on `storage`'s disk. With usable resume data (same torrent, files unchanged), its
/// pieces are trusted unread; pieces touching a file that changed since are rechecked, and
/// after an unclean stop so are pieces written after the last save (any not listed, unless
/// never written at all). No or corrupt resume data, or `recheck`, means a check of everything.
pub fn restore(
    storage: &Storage,
    info_hash: &InfoHash,
    recheck: bool,
    on_piece: &(dyn Fn() + Sync),
) -> Result<Restored, StorageError> {
    let (info, layout) = (storage.info(), storage.layout());
    let stamps = current_stamps(storage)?;
    let full = |holes| -> Result<Restored, StorageError> {
        let have = match holes {
            Holes::Hash => check(info, layout, on_piece)?,
            Holes::Absent => {
                let all: Vec<u32> = (0..info.piece_count()).collect();
                check_pieces(info, layout, &all, holes, on_piece)?
            }
        };
        Ok(Restored {
            found: have.clone(),
            have,
            stamps: stamps.clone(),
            checked: info.piece_count() as usize,
            from_resume: false,
        })
    };
    if recheck {
        return full(Holes::Hash);
    }
    let saved = match resume::load(layout.root(), info_hash) {
        Ok(Some(saved)) if fits(&saved, info, info_hash) => saved,
        Ok(Some(_)) => {
            tracing::warn!("resume data does not match the torrent; checking every piece");
            return full(Holes::Absent);
        }
        Ok(None) => return full(Holes::Absent),
        Err(e) => {
            tracing::warn!("{e}; checking every piece");
            return full(Holes::Absent);
        }
    };
    let mut unsure = Bitfield::new(info.piece_count());
    for (file, (then, now)) in saved.files.iter().zip(&stamps).enumerate() {
        if then != now {
            tracing::info!(file, "changed since the resume data was saved");
            for piece in pieces_of_file(info, file) {
                unsure.set(piece);
            }
        }
    }
    if !saved.clean {
        // Pieces written after the last save, before the process died.
        for piece in (0..info.piece_count()).filter(|&p| !saved.have.get(p)) {
            unsure.set(piece);
        }
    }
    let candidates: Vec<u32> = unsure.iter_ones().collect();
    let found = check_pieces(info, layout, &candidates, Holes::Absent, on_piece)?;
    let mut have = found.clone();
    for piece in saved.have.iter_ones().filter(|&p| !unsure.get(p)) {
        have.set(piece);
    }
    Ok(Restored {
        have,
        found,
        stamps,
        checked: candidates.len(),
        from_resume: true,
    })
}

/// Resume data of this very torrent (the name says so, the contents must agree).
fn fits(saved: &ResumeData, info: &Info, info_hash: &InfoHash) -> bool {
    saved.info_hash == *info_hash
        && saved.have.len() == info.piece_count()
        && saved.files.len() == info.files.len()
}

/// Every file's stamp now; pad files have none.
fn current_stamps(storage: &Storage) -> Result<Vec<Option<FileStamp>>, StorageError> {
    (0..storage.info().files.len())
        .map(|index| match storage.layout().path(index) {
            None => Ok(None),
            Some(path) => FileStamp::of(path).map_err(|source| StorageError::io(path, source)),
        })
        .collect()
}

/// The pieces holding bytes of file `index` (none for empty and unknown files).
pub fn pieces_of_file(info: &Info, index: usize) -> Range<u32> {
    let Some(file) = info.files.get(index) else {
        return 0..0;
    };
    let piece_length = u64::from(info.piece_length.max(1));
    if file.length == 0 {
        return 0..0;
    }
    let start = file.offset;
    let first = start / piece_length;
    let last = start.saturating_add(file.length - 1) / piece_length;
    let to_u32 = |p: u64| u32::try_from(p).unwrap_or(u32::MAX);
    to_u32(first)..to_u32(last).saturating_add(1).min(info.piece_count())
}
