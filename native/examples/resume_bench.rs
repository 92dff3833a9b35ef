//! How long a large download takes to resume from valid resume data: a sparse torrent of
//! zeros (default 50 GiB in 50 files, 4 MiB pieces), interrupted cleanly with one piece to go
//! (resume data lists all others), timed through the library and through a real
//! `bitfleet get` process (start to its `started` line, printed once the pieces are known).
//!
//! `cargo build --release -p bitfleet --bins --examples &&
//!  target/release/examples/resume_bench [GIB] [FILES] [DIR]`

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use bitfleet::storage::resume::{self, FileStamp, ResumeData};
use bitfleet::storage::{restore, Access, Storage};
use bitfleet_core::metainfo::TorrentBuilder;
use bitfleet_core::Bitfield;
use sha1::{Digest, Sha1};

const PIECE_LENGTH: u64 = 4 << 20;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let gib: u64 = args.next().map_or(Ok(50), |a| a.parse())?;
    let files: u64 = args.next().map_or(Ok(50), |a| a.parse())?;
    let parent = args.next().map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = tempfile::tempdir_in(&parent)?;
    let out = dir.path();

    // Every file a whole number of pieces, so every piece is the same block of zeros.
    let file_len = (gib << 30) / files / PIECE_LENGTH * PIECE_LENGTH;
    if file_len == 0 {
        bail!("{gib} GiB in {files} files leaves less than a piece per file");
    }
    let top = out.join("bench");
    fs::create_dir_all(&top)?;
    let mut builder = TorrentBuilder {
        name: "bench".into(),
        piece_length: PIECE_LENGTH as u32,
        ..TorrentBuilder::default()
    };
    for i in 0..files {
        let name = format!("part{i:04}.bin");
        let file = File::create(top.join(&name))?;
        file.set_len(file_len)?;
        // On disk, as a finished download's files are: the stop's flush has nothing to do.
        file.sync_all()?;
        builder.files.push((vec![name], file_len));
    }
    File::open(&top)?.sync_all()?;
    let zeros: [u8; 20] = Sha1::digest(vec![0u8; PIECE_LENGTH as usize]).into();
    let pieces = (file_len / PIECE_LENGTH * files) as usize;
    let metainfo = builder.build(vec![zeros; pieces])?;
    let torrent = out.join("bench.torrent");
    fs::write(&torrent, metainfo.to_bytes())?;

    // A clean stop one piece short of complete: every other piece listed, files as they are.
    let info = Arc::new(metainfo.info.clone());
    let storage = Storage::open(out, info.clone(), Access::ReadWrite)?;
    let stamps = (0..info.files.len())
        .map(|f| {
            let path = storage.layout().path(f).context("no pad files here")?;
            Ok(FileStamp::of(path)?)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut have = Bitfield::full(info.piece_count());
    have.clear(info.piece_count() - 1);
    let listed = have.count_ones();
    let data = ResumeData {
        info_hash: metainfo.info_hash,
        clean: true,
        have,
        files: stamps,
    };
    resume::save(storage.layout().root(), &data)?;
    println!(
        "{} GiB sparse torrent: {files} files, {} pieces of {} MiB",
        info.total_length() >> 30,
        info.piece_count(),
        PIECE_LENGTH >> 20
    );

    let started = Instant::now();
    let restored = restore(&storage, &metainfo.info_hash, false, &|| {})?;
    let elapsed = started.elapsed();
    if restored.have.count_ones() != listed || restored.checked != 0 {
        bail!("resume data not trusted: {restored:?}");
    }
    println!("library restore from resume data: {elapsed:?} (0 pieces hashed)");

    let bin = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("bitfleet"))
        .context("no target directory")?;
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .arg("get")
        .arg(&torrent)
        .arg("--out")
        .arg(out)
        .args(["--bind", "127.0.0.1", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} (build it with --bins)", bin.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.contains(r#""event":"started""#))
        .map(|_| started.elapsed());
    child.kill()?;
    child.wait()?;
    match ready {
        Some(at) => println!("bitfleet get: process start to `started` (pieces known) in {at:?}"),
        None => bail!("bitfleet get never started"),
    }
    Ok(())
}
