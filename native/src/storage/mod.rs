//! A torrent's pieces on disk, like libtorrent's `save_path`: files live at `DIR/NAME` (single
//! file) or `DIR/NAME/<path…>` (multi-file). Pad files (BEP 47) never touch the disk: they read
//! as zeros and writes skip them. Everything here blocks; drivers call it from blocking threads.

mod check;
mod handles;
mod layout;
mod restore;
pub mod resume;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bitfleet_core::metainfo::{FileSpan, Info};
use bytes::Bytes;

pub use check::{check, check_pieces, Holes};
use handles::FileHandles;
pub use layout::Layout;
pub use restore::{pieces_of_file, restore, Restored};

/// Open files kept per storage; a process may hold several storages and checker threads.
const MAX_OPEN_FILES: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("unsafe path component {0:?} in the torrent")]
    UnsafePath(String),
    #[error("{} resolves outside the download folder", .0.display())]
    Escapes(PathBuf),
    #[error("piece {piece}: range {begin}+{len} is out of bounds")]
    OutOfBounds { piece: u32, begin: u32, len: u32 },
    #[error("piece {piece}: got {got} bytes, expected {expected}")]
    WrongLength {
        piece: u32,
        got: usize,
        expected: u32,
    },
}

impl StorageError {
    fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// The data is simply not there (missing or short file), as opposed to an I/O failure.
    pub fn is_missing_data(&self) -> bool {
        matches!(self, Self::Io { source, .. }
            if matches!(source.kind(), io::ErrorKind::NotFound | io::ErrorKind::UnexpectedEof))
    }
}

/// Whether the storage may create and write files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Seeding: files must exist; nothing is created or modified.
    ReadOnly,
    /// Downloading: folders and files are created on demand, files sparse-allocated to size.
    ReadWrite,
}

pub struct Storage {
    info: Arc<Info>,
    layout: Arc<Layout>,
    access: Access,
    handles: FileHandles,
}

impl Storage {
    /// Maps `info` below `root`, creating `root` and the empty files of the torrent when
    /// writable (no piece ever touches an empty file).
    pub fn open(root: &Path, info: Arc<Info>, access: Access) -> Result<Self, StorageError> {
        if access == Access::ReadWrite {
            std::fs::create_dir_all(root).map_err(|source| StorageError::io(root, source))?;
        }
        let layout = Arc::new(Layout::new(root, &info)?);
        let storage = Self::with_layout(info, layout, access);
        if access == Access::ReadWrite {
            storage.create_empty_files()?;
        }
        Ok(storage)
    }

    /// Another view on an already resolved layout (checker threads each keep their own handles).
    pub fn with_layout(info: Arc<Info>, layout: Arc<Layout>, access: Access) -> Self {
        Self {
            info,
            layout,
            access,
            handles: FileHandles::new(MAX_OPEN_FILES),
        }
    }

    pub fn info(&self) -> &Arc<Info> {
        &self.info
    }

    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    /// Stores a whole piece; `data` must be exactly the piece's size.
    pub fn write_piece(&mut self, piece: u32, data: &[u8]) -> Result<(), StorageError> {
        let expected = self.checked_piece_size(piece)?;
        if data.len() != expected as usize {
            return Err(StorageError::WrongLength {
                piece,
                got: data.len(),
                expected,
            });
        }
        let mut written = 0usize;
        for span in self.info.file_spans(piece, 0, expected) {
            let chunk = advance(&mut written, &span)
                .and_then(|range| data.get(range))
                .ok_or(StorageError::WrongLength {
                    piece,
                    got: data.len(),
                    expected,
                })?;
            if self.is_pad(span.file) {
                continue;
            }
            let (file, path) = self.file(span.file)?;
            file.seek(SeekFrom::Start(span.file_offset))
                .and_then(|_| file.write_all(chunk))
                .map_err(|source| StorageError::io(&path, source))?;
        }
        Ok(())
    }

    /// `len` bytes of `piece` from `begin`.
    pub fn read_block(&mut self, piece: u32, begin: u32, len: u32) -> Result<Bytes, StorageError> {
        let size = self.checked_piece_size(piece)?;
        if begin.checked_add(len).is_none_or(|end| end > size) {
            return Err(StorageError::OutOfBounds { piece, begin, len });
        }
        let mut out = vec![0u8; len as usize];
        let mut filled = 0usize;
        for span in self.info.file_spans(piece, begin, len) {
            let chunk = advance(&mut filled, &span)
                .and_then(|range| out.get_mut(range))
                .ok_or(StorageError::OutOfBounds { piece, begin, len })?;
            if self.is_pad(span.file) {
                continue; // already zeros
            }
            let (file, path) = self.file(span.file)?;
            file.seek(SeekFrom::Start(span.file_offset))
                .and_then(|_| file.read_exact(chunk))
                .map_err(|source| StorageError::io(&path, source))?;
        }
        Ok(Bytes::from(out))
    }

    /// Whether no byte of `piece` is allocated on disk (sparse-file holes or missing files), so
    /// it was never written. Where the file system cannot tell, pieces count as written.
    pub fn is_hole(&mut self, piece: u32) -> Result<bool, StorageError> {
        let size = self.checked_piece_size(piece)?;
        for span in self.info.file_spans(piece, 0, size) {
            if self.is_pad(span.file) || span.len == 0 {
                continue;
            }
            let (file, path) = match self.file(span.file) {
                Ok(found) => found,
                Err(e) if e.is_missing_data() => continue,
                Err(e) => return Err(e),
            };
            let end = span.file_offset.saturating_add(span.len);
            match next_data(file, span.file_offset) {
                Ok(Some(at)) if at < end => return Ok(false),
                Ok(_) => {}
                Err(source) => return Err(StorageError::io(&path, source)),
            }
        }
        Ok(true)
    }

    pub fn read_piece(&mut self, piece: u32) -> Result<Bytes, StorageError> {
        let size = self.checked_piece_size(piece)?;
        self.read_block(piece, 0, size)
    }

    fn checked_piece_size(&self, piece: u32) -> Result<u32, StorageError> {
        if piece >= self.info.piece_count() {
            return Err(StorageError::OutOfBounds {
                piece,
                begin: 0,
                len: 0,
            });
        }
        Ok(self.info.piece_size(piece))
    }

    fn is_pad(&self, file: usize) -> bool {
        self.info.files.get(file).is_none_or(|f| f.pad)
    }

    /// The open handle of file `index` and its path (for error messages).
    fn file(&mut self, index: usize) -> Result<(&mut File, PathBuf), StorageError> {
        let path = self
            .layout
            .path(index)
            .ok_or(StorageError::UnsafePath(format!("file #{index}")))?
            .to_owned();
        let length = self.info.files.get(index).map_or(0, |f| f.length);
        let (layout, access) = (&self.layout, self.access);
        let file = self
            .handles
            .get_or_open(index, || open_file(layout, &path, access, length))?;
        Ok((file, path))
    }

    fn create_empty_files(&self) -> Result<(), StorageError> {
        for (index, entry) in self.info.files.iter().enumerate() {
            if entry.length == 0 && !entry.pad {
                if let Some(path) = self.layout.path(index) {
                    open_file(&self.layout, path, Access::ReadWrite, 0)?;
                }
            }
        }
        Ok(())
    }
}

fn open_file(
    layout: &Layout,
    path: &Path,
    access: Access,
    length: u64,
) -> Result<File, StorageError> {
    let io_err = |source| StorageError::io(path, source);
    match access {
        Access::ReadOnly => {
            layout.confine_existing(path)?;
            File::open(path).map_err(io_err)
        }
        Access::ReadWrite => {
            layout.prepare(path)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(io_err)?;
            // Sparse preallocation: the file has its final size at once, without writing zeros.
            if file.metadata().map_err(io_err)?.len() < length {
                file.set_len(length).map_err(io_err)?;
            }
            Ok(file)
        }
    }
}

/// Where the first allocated byte at or after `offset` is; `None` when only a hole follows.
#[cfg(target_os = "linux")]
fn next_data(file: &File, offset: u64) -> io::Result<Option<u64>> {
    use nix::errno::Errno;
    use nix::unistd::{lseek, Whence};
    let Ok(signed) = i64::try_from(offset) else {
        return Ok(None);
    };
    match lseek(file, signed, Whence::SeekData) {
        Ok(at) => Ok(u64::try_from(at).ok()),
        Err(Errno::ENXIO) => Ok(None),
        // The file system cannot say: assume data.
        Err(Errno::EINVAL | Errno::EOPNOTSUPP) => Ok(Some(offset)),
        Err(e) => Err(e.into()),
    }
}

/// Without `SEEK_DATA`, every byte counts as allocated.
#[cfg(not(target_os = "linux"))]
fn next_data(_file: &File, offset: u64) -> io::Result<Option<u64>> {
    Ok(Some(offset))
}

/// The buffer range `span` covers when spans are laid end to end from `*pos`; moves `*pos` on.
fn advance(pos: &mut usize, span: &FileSpan) -> Option<Range<usize>> {
    let start = *pos;
    let end = start.checked_add(usize::try_from(span.len).ok()?)?;
    *pos = end;
    Some(start..end)
}

#[cfg(test)]
mod tests;
