//! Replacing a file atomically: a crash leaves either the old file or the new one, complete
//! and on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a temporary file beside `path`, flushes it, renames it over `path` and
/// flushes the folder (the rename must reach the disk too). On unix the file gets `mode`.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temporary_path(path);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    File::open(folder.unwrap_or(Path::new(".")))?.sync_all()
}

/// Where [`write`] writes before renaming (a crash may leave it behind).
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut tmp = path.to_owned().into_os_string();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}
