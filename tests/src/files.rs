//! Temporary directories, deterministic payloads and byte-for-byte tree comparison.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use tempfile::TempDir;

const CHUNK: usize = 1 << 20;

/// A fresh directory removed on drop, named after the test for easier debugging.
pub fn temp_dir(label: &str) -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("bitfleet-{label}-"))
        .tempdir()
        .context("cannot create a temporary directory")
}

/// One file of a payload: a path relative to the payload root and a length in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    pub path: PathBuf,
    pub len: u64,
}

impl FileSpec {
    pub fn new(path: impl Into<PathBuf>, len: u64) -> FileSpec {
        FileSpec {
            path: path.into(),
            len,
        }
    }
}

/// A multi-file layout of exactly `total` bytes with awkward sizes: an empty file, files far
/// smaller than any piece, nested directories, a space in a name, and large files whose
/// lengths are not multiples of any power of two.
pub fn uneven_tree(total: u64) -> Result<Vec<FileSpec>> {
    ensure!(
        total >= 1 << 20,
        "an uneven tree needs at least 1 MiB, got {total}"
    );
    let mut files = vec![
        FileSpec::new("empty.dat", 0),
        FileSpec::new("notes/tiny.txt", 1_000),
        FileSpec::new("notes/read me.txt", 777),
        FileSpec::new("a/b/c/deep.bin", total / 4 + 12_345),
        FileSpec::new("big.bin", total / 2 + 7),
    ];
    let used: u64 = files.iter().map(|f| f.len).sum();
    files.push(FileSpec::new("z-rest.bin", total - used));
    Ok(files)
}

/// Writes `files` under `root` with contents drawn from one PRNG stream seeded by `seed`, in
/// order: the same seed and layout always give the same bytes, and no two files share content.
pub fn write_payload(root: &Path, seed: u64, files: &[FileSpec]) -> Result<()> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut buf = vec![0u8; CHUNK];
    for spec in files {
        let path = root.join(&spec.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = File::create(&path).with_context(|| format!("create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        let mut left = spec.len;
        while left > 0 {
            let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
            rng.fill(&mut buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        out.flush()?;
    }
    Ok(())
}

/// Every regular file under `root`, by path relative to `root`, with its length. Symlinks and
/// other special files are an error: nothing under test should create them.
pub fn list_tree(root: &Path) -> Result<BTreeMap<PathBuf, u64>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, u64>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                out.insert(path.strip_prefix(root)?.to_owned(), entry.metadata()?.len());
            } else {
                bail!("{} is neither a file nor a directory", path.display());
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// Succeeds iff `actual` holds exactly the files of `expected`, byte for byte; the error names
/// the first difference.
pub fn compare_trees(expected: &Path, actual: &Path) -> Result<()> {
    let want = list_tree(expected)?;
    let got = list_tree(actual)?;
    let missing: Vec<_> = want.keys().filter(|p| !got.contains_key(*p)).collect();
    let extra: Vec<_> = got.keys().filter(|p| !want.contains_key(*p)).collect();
    ensure!(
        missing.is_empty() && extra.is_empty(),
        "{} differs from {}: missing {missing:?}, unexpected {extra:?}",
        actual.display(),
        expected.display()
    );
    for (path, len) in &want {
        ensure!(
            got.get(path) == Some(len),
            "{}: length {:?}, expected {len}",
            path.display(),
            got.get(path)
        );
        compare_files(&expected.join(path), &actual.join(path))?;
    }
    Ok(())
}

/// Succeeds iff the two files have identical bytes; the error gives the first differing offset.
pub fn compare_files(expected: &Path, actual: &Path) -> Result<()> {
    let open = |p: &Path| File::open(p).with_context(|| format!("open {}", p.display()));
    let (mut a, mut b) = (open(expected)?, open(actual)?);
    let (mut buf_a, mut buf_b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut a, &mut buf_a)?;
        let m = read_full(&mut b, &mut buf_b)?;
        if let Some(i) = buf_a[..n].iter().zip(&buf_b[..m]).position(|(x, y)| x != y) {
            bail!("{} differs at byte {}", actual.display(), offset + i as u64);
        }
        ensure!(
            n == m,
            "{} has length {}, expected {}",
            actual.display(),
            offset + m as u64,
            offset + n as u64
        );
        if n == 0 {
            return Ok(());
        }
        offset += n as u64;
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// True iff `dir` is absent or holds no entries at all.
pub fn is_empty_or_absent(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("read {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uneven_tree_sums_to_total_and_has_awkward_files() {
        let files = uneven_tree(64 << 20).unwrap();
        assert_eq!(files.iter().map(|f| f.len).sum::<u64>(), 64 << 20);
        assert!(files.iter().any(|f| f.len == 0));
        assert!(files.iter().any(|f| f.len > 0 && f.len < 16 << 10));
        assert!(uneven_tree(1000).is_err());
    }

    #[test]
    fn payload_is_deterministic_and_differs_by_seed() {
        let dir = temp_dir("payload").unwrap();
        let files = uneven_tree(3 << 20).unwrap();
        write_payload(&dir.path().join("a"), 7, &files).unwrap();
        write_payload(&dir.path().join("b"), 7, &files).unwrap();
        write_payload(&dir.path().join("c"), 8, &files).unwrap();
        compare_trees(&dir.path().join("a"), &dir.path().join("b")).unwrap();
        assert!(compare_trees(&dir.path().join("a"), &dir.path().join("c")).is_err());
        let sizes = list_tree(&dir.path().join("a")).unwrap();
        for spec in &files {
            assert_eq!(sizes.get(&spec.path), Some(&spec.len), "{spec:?}");
        }
        let big = fs::read(dir.path().join("a/big.bin")).unwrap();
        let deep = fs::read(dir.path().join("a/a/b/c/deep.bin")).unwrap();
        assert_ne!(big[..4096], deep[..4096], "files must not share content");
    }

    #[test]
    fn compare_reports_each_kind_of_difference() {
        let dir = temp_dir("compare").unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let files = [FileSpec::new("x/y.bin", 3 << 20), FileSpec::new("z", 10)];
        write_payload(&a, 1, &files).unwrap();
        write_payload(&b, 1, &files).unwrap();
        compare_trees(&a, &b).unwrap();

        let mut bytes = fs::read(b.join("x/y.bin")).unwrap();
        bytes[(2 << 20) + 5] ^= 1;
        fs::write(b.join("x/y.bin"), &bytes).unwrap();
        let err = compare_trees(&a, &b).unwrap_err().to_string();
        assert!(err.contains(&format!("byte {}", (2 << 20) + 5)), "{err}");

        bytes[(2 << 20) + 5] ^= 1;
        bytes.pop();
        fs::write(b.join("x/y.bin"), &bytes).unwrap();
        assert!(compare_trees(&a, &b).is_err());

        fs::write(b.join("x/y.bin"), fs::read(a.join("x/y.bin")).unwrap()).unwrap();
        fs::write(b.join("extra"), b"").unwrap();
        let err = compare_trees(&a, &b).unwrap_err().to_string();
        assert!(err.contains("extra"), "{err}");

        fs::remove_file(b.join("extra")).unwrap();
        fs::remove_file(b.join("z")).unwrap();
        assert!(compare_trees(&a, &b).is_err());
    }
}
