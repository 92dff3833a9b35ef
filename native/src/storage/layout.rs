//! Where each file of a torrent lives under the download folder, and the checks that keep every
//! access inside that folder even when the tree on disk holds symlinks.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use bitfleet_core::metainfo::Info;

use super::StorageError;

/// The resolved on-disk paths of a torrent's files below a canonical root.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    /// Indexed like `Info::files`; `None` for pad files, which never exist on disk.
    paths: Vec<Option<PathBuf>>,
}

impl Layout {
    /// `root` must exist. Single-file torrents map to `root/NAME`, multi-file ones to
    /// `root/NAME/<path…>`.
    pub fn new(root: &Path, info: &Info) -> Result<Self, StorageError> {
        let root = fs::canonicalize(root).map_err(|source| StorageError::io(root, source))?;
        check_component(&info.name)?;
        let top = root.join(&info.name);
        let paths = info
            .files
            .iter()
            .map(|file| {
                if file.pad {
                    return Ok(None);
                }
                if !info.multi_file {
                    return Ok(Some(top.clone()));
                }
                if file.path.is_empty() {
                    return Err(StorageError::UnsafePath(String::new()));
                }
                let mut path = top.clone();
                for component in &file.path {
                    check_component(component)?;
                    path.push(component);
                }
                Ok(Some(path))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { root, paths })
    }

    /// The canonical download folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of file `index`; `None` for pad files.
    pub fn path(&self, index: usize) -> Option<&Path> {
        self.paths.get(index).and_then(|p| p.as_deref())
    }

    /// Checks that an existing file (and every folder above it) resolves inside the root. A
    /// missing folder or file surfaces as a `NotFound` I/O error.
    pub fn confine_existing(&self, path: &Path) -> Result<(), StorageError> {
        let parent = path.parent().unwrap_or(&self.root);
        self.confine(parent)?;
        self.confine_leaf(path)
    }

    /// Creates the folders above `path` one at a time, refusing any that resolves outside the
    /// root (so a planted symlink cannot make us create folders elsewhere).
    pub fn prepare(&self, path: &Path) -> Result<(), StorageError> {
        let parent = path.parent().unwrap_or(&self.root);
        let relative = parent
            .strip_prefix(&self.root)
            .map_err(|_| StorageError::Escapes(path.to_owned()))?;
        let mut current = self.root.clone();
        for component in relative.components() {
            current.push(component);
            match fs::create_dir(&current) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(StorageError::io(&current, source)),
            }
            self.confine(&current)?;
        }
        self.confine_leaf(path)
    }

    fn confine(&self, path: &Path) -> Result<(), StorageError> {
        let real = fs::canonicalize(path).map_err(|source| StorageError::io(path, source))?;
        if real.starts_with(&self.root) {
            Ok(())
        } else {
            Err(StorageError::Escapes(path.to_owned()))
        }
    }

    /// A symlink in the file's own place must point inside the root; a dangling one is refused
    /// too, since opening it for writing would create its target wherever that is.
    fn confine_leaf(&self, path: &Path) -> Result<(), StorageError> {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(path) {
                Ok(real) if real.starts_with(&self.root) => Ok(()),
                _ => Err(StorageError::Escapes(path.to_owned())),
            },
            _ => Ok(()),
        }
    }
}

/// One plain path component: not empty, not `.`/`..`, no separator, not absolute.
fn check_component(name: &str) -> Result<(), StorageError> {
    let unsafe_path = || StorageError::UnsafePath(name.to_owned());
    if name.is_empty() || name.contains(['/', '\\', '\0']) {
        return Err(unsafe_path());
    }
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) => Ok(()),
        _ => Err(unsafe_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_must_be_plain_names() {
        for bad in ["", ".", "..", "a/b", "/etc", "a\\b", "nul\0"] {
            assert!(check_component(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "file.txt", "..hidden", "name with spaces"] {
            assert!(check_component(good).is_ok(), "{good:?} refused");
        }
    }
}
