//! Keeps a torrent's resume data current while it downloads: at most once a second, and at the
//! stop. A piece is listed only once its write returned and the files it touches were flushed
//! (fsync) before the resume file naming it replaced the old one, so after a crash or
//! `kill -9` the resume data may lag behind the disk but never claims a piece that is not there.
//! Once every piece is stored, the resume file is removed instead.

use std::collections::BTreeSet;
use std::fs::File;
use std::sync::{Arc, Mutex, PoisonError};

use bitfleet_core::metainfo::Info;
use bitfleet_core::{Bitfield, InfoHash};

use crate::storage::resume::{self, FileStamp, ResumeData};
use crate::storage::Layout;

/// The task's side: what has been written, what the next save must flush.
pub(super) struct ResumeWriter {
    saver: Arc<Saver>,
    /// Pieces written (and so claimable once flushed): what the next save lists.
    claimed: Bitfield,
    /// Files written since the last save was started: it must flush them.
    unflushed: BTreeSet<usize>,
    /// Files written during this run (or holding pieces found unlisted at start): the final
    /// save flushes them all, in case an earlier save is still under way or failed.
    touched: BTreeSet<usize>,
    writes_in_flight: usize,
    saving: bool,
    seq: u64,
    /// No save yet in this run. The first one, at once, records the pieces found at start and
    /// that the files are being written again (the data is no longer clean).
    first: bool,
}

/// One save's instructions.
pub(super) struct Snapshot {
    saver: Arc<Saver>,
    seq: u64,
    clean: bool,
    have: Bitfield,
    flush: Vec<usize>,
}

/// The blocking side, shared by successive saves, which it runs one at a time.
struct Saver {
    info: Arc<Info>,
    layout: Arc<Layout>,
    info_hash: InfoHash,
    state: Mutex<SaverState>,
}

#[derive(Default)]
struct SaverState {
    /// Latest save written; an older snapshot that runs late is dropped.
    last_seq: u64,
    /// Stamps of every file, taken after its last flush; empty until the first save.
    stamps: Vec<Option<FileStamp>>,
}

impl ResumeWriter {
    /// `have`: the pieces already on disk and verified at start; `found`: those of them a check
    /// found rather than resume data listing them — perhaps written just before a crash and
    /// never flushed, so their files are flushed before they are listed.
    pub fn new(
        info: Arc<Info>,
        layout: Arc<Layout>,
        info_hash: InfoHash,
        have: Bitfield,
        found: &Bitfield,
    ) -> Self {
        let mut writer = Self {
            saver: Arc::new(Saver {
                info,
                layout,
                info_hash,
                state: Mutex::default(),
            }),
            claimed: have,
            unflushed: BTreeSet::new(),
            touched: BTreeSet::new(),
            writes_in_flight: 0,
            saving: false,
            seq: 0,
            first: true,
        };
        for piece in found.iter_ones() {
            writer.files_changed(piece);
        }
        writer
    }

    pub fn write_started(&mut self) {
        self.writes_in_flight += 1;
    }

    /// A write returned; a failed one may still have changed its files.
    pub fn write_finished(&mut self, piece: u32, ok: bool) {
        self.writes_in_flight = self.writes_in_flight.saturating_sub(1);
        self.files_changed(piece);
        if ok {
            self.claimed.set(piece);
        }
    }

    /// The files holding `piece` must be flushed before it is listed.
    fn files_changed(&mut self, piece: u32) {
        let size = self.saver.info.piece_size(piece);
        for span in self.saver.info.file_spans(piece, 0, size) {
            self.unflushed.insert(span.file);
            self.touched.insert(span.file);
        }
    }

    /// The periodic save, when something was written since the last one (or this run has not
    /// saved yet) and none is running.
    pub fn snapshot_if_due(&mut self) -> Option<Snapshot> {
        if self.saving || (self.unflushed.is_empty() && !self.first) {
            return None;
        }
        self.saving = true;
        self.first = false;
        let flush = std::mem::take(&mut self.unflushed).into_iter().collect();
        Some(self.snapshot(false, flush))
    }

    /// A periodic save ended; on failure the next one flushes everything written so far.
    pub fn saved(&mut self, result: Result<(), String>) {
        self.saving = false;
        if let Err(e) = result {
            tracing::warn!(error = %e, "saving resume data failed");
            self.unflushed.extend(self.touched.iter().copied());
        }
    }

    /// The save when the last piece is stored: every file written is flushed, and the resume
    /// data, no longer needed, removed.
    pub fn completion_snapshot(&mut self) -> Snapshot {
        self.first = false;
        self.unflushed.clear();
        let flush = self.touched.iter().copied().collect();
        self.snapshot(false, flush)
    }

    /// The save at the stop: clean when no write is still under way.
    pub fn final_snapshot(&mut self) -> Snapshot {
        let flush = self.touched.iter().copied().collect();
        let clean = self.writes_in_flight == 0;
        self.snapshot(clean, flush)
    }

    fn snapshot(&mut self, clean: bool, flush: Vec<usize>) -> Snapshot {
        self.seq += 1;
        Snapshot {
            saver: self.saver.clone(),
            seq: self.seq,
            clean,
            have: self.claimed.clone(),
            flush,
        }
    }
}

impl Snapshot {
    /// Flushes the files, then atomically replaces the resume file, or removes it once the
    /// download is complete (blocking).
    pub fn save(self) -> Result<(), String> {
        let saver = &self.saver;
        let mut state = saver.state.lock().unwrap_or_else(PoisonError::into_inner);
        if self.seq <= state.last_seq {
            return Ok(());
        }
        let files = saver.info.files.len();
        let first_save = state.stamps.len() != files;
        if first_save {
            state.stamps = (0..files)
                .map(|f| saver.stamp(f))
                .collect::<Result<_, _>>()?;
        }
        for &file in &self.flush {
            let Some(path) = saver.layout.path(file) else {
                continue; // pad files are never written
            };
            match File::open(path).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                // Never created: no piece of it can be listed either.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
            if let Some(stamp) = state.stamps.get_mut(file) {
                *stamp = saver.stamp(file)?;
            }
        }
        if self.have.is_full() {
            resume::remove(saver.layout.root(), &saver.info_hash).map_err(|e| e.to_string())?;
            state.last_seq = self.seq;
            return Ok(());
        }
        let data = ResumeData {
            info_hash: saver.info_hash,
            clean: self.clean,
            have: self.have,
            files: state.stamps.clone(),
        };
        resume::save(saver.layout.root(), &data).map_err(|e| e.to_string())?;
        state.last_seq = self.seq;
        Ok(())
    }
}

impl Saver {
    fn stamp(&self, file: usize) -> Result<Option<FileStamp>, String> {
        match self.layout.path(file) {
            None => Ok(None),
            Some(path) => FileStamp::of(path).map_err(|e| format!("{}: {e}", path.display())),
        }
    }
}
