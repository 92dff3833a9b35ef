//! Which pieces are already on disk and valid: read and SHA-1 them, on as many threads as there
//! are cores (hashing, not the disk, is the bottleneck on SSDs).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use bitfleet_core::metainfo::Info;
use bitfleet_core::Bitfield;

use super::{Access, Layout, Storage, StorageError};

/// The valid pieces below `layout`. Missing or short files make their pieces absent; other I/O
/// errors (permissions, a symlink escaping the folder) are errors. `on_piece` is called once per
/// piece checked, from the worker threads (for progress display).
pub fn check(
    info: &Arc<Info>,
    layout: &Arc<Layout>,
    on_piece: &(dyn Fn() + Sync),
) -> Result<Bitfield, StorageError> {
    let all: Vec<u32> = (0..info.piece_count()).collect();
    check_pieces(info, layout, &all, Holes::Hash, on_piece)
}

/// What to do with a piece whose bytes are all unallocated (a hole of a sparse file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holes {
    /// Hash it like any other (a full check trusts nothing).
    Hash,
    /// Count it absent unread: we never wrote it, and refetching an all-zero piece is cheap,
    /// while hashing gigabytes of holes is not.
    Absent,
}

/// Like [`check`], for `candidates` only: the valid ones among them.
pub fn check_pieces(
    info: &Arc<Info>,
    layout: &Arc<Layout>,
    candidates: &[u32],
    holes: Holes,
    on_piece: &(dyn Fn() + Sync),
) -> Result<Bitfield, StorageError> {
    let have = Mutex::new(Bitfield::new(info.piece_count()));
    let next = AtomicUsize::new(0);
    let workers = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut storage =
                        Storage::with_layout(info.clone(), layout.clone(), Access::ReadOnly);
                    loop {
                        let Some(&piece) = candidates.get(next.fetch_add(1, Ordering::Relaxed))
                        else {
                            return Ok(());
                        };
                        let valid = match verify(&mut storage, piece, holes) {
                            Ok(valid) => valid,
                            Err(e) if e.is_missing_data() => false,
                            Err(e) => {
                                next.store(candidates.len(), Ordering::Relaxed); // stop the others
                                return Err(e);
                            }
                        };
                        if valid {
                            have.lock().unwrap_or_else(|e| e.into_inner()).set(piece);
                        }
                        on_piece();
                    }
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })?;
    Ok(have.into_inner().unwrap_or_else(|e| e.into_inner()))
}

fn verify(storage: &mut Storage, piece: u32, holes: Holes) -> Result<bool, StorageError> {
    if holes == Holes::Absent && storage.is_hole(piece)? {
        return Ok(false);
    }
    let data = storage.read_piece(piece)?;
    Ok(storage.info().verify_piece(piece, &data))
}
