//! Which pieces are already on disk and valid: read and SHA-1 every piece, on as many threads
//! as there are cores (hashing, not the disk, is the bottleneck on SSDs).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, Ordering};
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
    let pieces = info.piece_count();
    let have = Mutex::new(Bitfield::new(pieces));
    let next = AtomicU32::new(0);
    let workers = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut storage =
                        Storage::with_layout(info.clone(), layout.clone(), Access::ReadOnly);
                    loop {
                        let piece = next.fetch_add(1, Ordering::Relaxed);
                        if piece >= pieces {
                            return Ok(());
                        }
                        let valid = match storage.read_piece(piece) {
                            Ok(data) => info.verify_piece(piece, &data),
                            Err(e) if e.is_missing_data() => false,
                            Err(e) => {
                                next.store(pieces, Ordering::Relaxed); // stop the others
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
