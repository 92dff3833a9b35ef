//! Making a .torrent from a file or a folder: walk, hash in torrent order, build.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bitfleet_core::metainfo::{
    piece_length_for, Metainfo, MetainfoError, PieceHasher, TorrentBuilder,
};

/// Read size while hashing: large enough that syscalls are noise next to SHA-1.
const READ_BUFFER: usize = 4 << 20;

#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub trackers: Vec<String>,
    pub web_seeds: Vec<String>,
    /// Power of two of at least 16 KiB; `None` picks one from the total size.
    pub piece_length: Option<u32>,
    pub private: bool,
    pub comment: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: symbolic links are not followed; replace it with the file or remove it", .0.display())]
    Symlink(PathBuf),
    #[error("{}: not a regular file or folder", .0.display())]
    NotRegular(PathBuf),
    #[error("{}: file name is not valid UTF-8", .0.display())]
    NonUtf8(PathBuf),
    #[error("{}: no files to share", .0.display())]
    Empty(PathBuf),
    #[error("{}: changed size while being hashed", .0.display())]
    Changed(PathBuf),
    #[error("piece length {0} is not a power of two of at least 16 KiB")]
    PieceLength(u32),
    #[error(transparent)]
    Metainfo(#[from] MetainfoError),
}

/// One regular file of the payload.
struct SourceFile {
    /// Components below the torrent's name; empty for a single-file torrent.
    components: Vec<String>,
    path: PathBuf,
    length: u64,
}

/// Hashes `path` (a file, or a folder taken whole: every regular file, sorted by relative path)
/// into a torrent named after it.
pub fn create_torrent(path: &Path, options: &CreateOptions) -> Result<Metainfo, CreateError> {
    let name = utf8_name(path)?;
    let files = collect(path)?;
    let total = files.iter().map(|f| f.length).sum();
    if files.is_empty() || total == 0 {
        return Err(CreateError::Empty(path.to_owned()));
    }
    let piece_length = match options.piece_length {
        None => piece_length_for(total),
        Some(n) if n >= 16 * 1024 && n.is_power_of_two() => n,
        Some(n) => return Err(CreateError::PieceLength(n)),
    };

    let mut hasher = PieceHasher::new(piece_length);
    let mut buffer = vec![0u8; READ_BUFFER];
    for file in &files {
        hash_file(file, &mut hasher, &mut buffer)?;
    }

    let builder = TorrentBuilder {
        name,
        files: files
            .into_iter()
            .map(|f| (f.components, f.length))
            .collect(),
        piece_length,
        trackers: options.trackers.clone(),
        web_seeds: options.web_seeds.clone(),
        comment: options.comment.clone(),
        created_by: Some(concat!("Bitfleet ", env!("CARGO_PKG_VERSION")).to_owned()),
        creation_date: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok()),
        private: options.private,
    };
    Ok(builder.build(hasher.finish())?)
}

fn hash_file(
    file: &SourceFile,
    hasher: &mut PieceHasher,
    buffer: &mut [u8],
) -> Result<(), CreateError> {
    let io_err = |source| CreateError::Io {
        path: file.path.clone(),
        source,
    };
    let mut reader = File::open(&file.path).map_err(io_err)?;
    let mut remaining = file.length;
    loop {
        let n = match reader.read(buffer) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        if n == 0 {
            break;
        }
        remaining = remaining
            .checked_sub(n as u64)
            .ok_or_else(|| CreateError::Changed(file.path.clone()))?;
        hasher.update(&buffer[..n]);
    }
    if remaining != 0 {
        return Err(CreateError::Changed(file.path.clone()));
    }
    Ok(())
}

/// The payload's files in torrent order.
fn collect(root: &Path) -> Result<Vec<SourceFile>, CreateError> {
    let meta = symlink_metadata(root)?;
    if meta.is_file() {
        return Ok(vec![SourceFile {
            components: Vec::new(),
            path: root.to_owned(),
            length: meta.len(),
        }]);
    }
    let mut files = Vec::new();
    walk(root, &mut Vec::new(), &mut files)?;
    files.sort_by(|a, b| a.components.cmp(&b.components));
    Ok(files)
}

fn walk(
    dir: &Path,
    prefix: &mut Vec<String>,
    out: &mut Vec<SourceFile>,
) -> Result<(), CreateError> {
    let meta = symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(kind_error(dir, &meta));
    }
    let entries = fs::read_dir(dir).map_err(|source| CreateError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| CreateError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        let name = utf8_name(&path)?;
        let meta = symlink_metadata(&path)?;
        prefix.push(name);
        if meta.is_dir() {
            walk(&path, prefix, out)?;
        } else if meta.is_file() {
            out.push(SourceFile {
                components: prefix.clone(),
                path,
                length: meta.len(),
            });
        } else {
            return Err(kind_error(&path, &meta));
        }
        prefix.pop();
    }
    Ok(())
}

fn symlink_metadata(path: &Path) -> Result<fs::Metadata, CreateError> {
    fs::symlink_metadata(path).map_err(|source| CreateError::Io {
        path: path.to_owned(),
        source,
    })
}

fn kind_error(path: &Path, meta: &fs::Metadata) -> CreateError {
    if meta.file_type().is_symlink() {
        CreateError::Symlink(path.to_owned())
    } else {
        CreateError::NotRegular(path.to_owned())
    }
}

/// The last component of `path` as a torrent name (resolving `.` and the like first).
fn utf8_name(path: &Path) -> Result<String, CreateError> {
    let owned;
    let path = if path.file_name().is_none() {
        owned = fs::canonicalize(path).map_err(|source| CreateError::Io {
            path: path.to_owned(),
            source,
        })?;
        &owned
    } else {
        path
    };
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| CreateError::NonUtf8(path.to_owned()))
}
