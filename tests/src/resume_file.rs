//! Reading `bitfleet get`'s resume data from outside, per its documented format (native
//! `storage::resume`), to check that it never claims a piece whose bytes are wrong.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use bitfleet_core::metainfo::Info;
use bitfleet_core::Bitfield;

/// What a resume file claims.
#[derive(Debug, Clone)]
pub struct ResumeClaims {
    pub clean: bool,
    pub have: Bitfield,
}

/// `DIR/.<info-hash>.bitfleet-resume`.
pub fn resume_path(out: &Path, info_hash_hex: &str) -> PathBuf {
    out.join(format!(".{info_hash_hex}.bitfleet-resume"))
}

/// The claims of the resume file in `out`, `None` when there is none yet. The trailing
/// checksum is the writer's business; this reads the fields before it.
pub fn read_claims(out: &Path, info_hash_hex: &str) -> Result<Option<ResumeClaims>> {
    let path = resume_path(out, info_hash_hex);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    ensure!(bytes.len() > 38 + 20, "{}: too short", path.display());
    ensure!(&bytes[..8] == b"BFRESUME", "{}: bad magic", path.display());
    ensure!(bytes[8] == 1, "{}: unknown version", path.display());
    let clean = bytes[9] & 1 != 0;
    ensure!(
        hex::encode(&bytes[10..30]) == info_hash_hex,
        "{}: another torrent's info-hash",
        path.display()
    );
    let pieces = u32::from_be_bytes(bytes[30..34].try_into()?);
    let end = 34 + pieces.div_ceil(8) as usize;
    let bits = bytes.get(34..end).context("truncated bitfield")?;
    let have = Bitfield::from_bytes(bits, pieces)?;
    Ok(Some(ResumeClaims { clean, have }))
}

/// Pieces in `claimed` whose bytes under `out` do not hash right (should be none).
pub fn wrong_pieces(info: &Info, out: &Path, claimed: &Bitfield) -> Result<Vec<u32>> {
    let top = out.join(&info.name);
    let mut wrong = Vec::new();
    for piece in claimed.iter_ones() {
        let mut data = Vec::new();
        for span in info.file_spans(piece, 0, info.piece_size(piece)) {
            let file = info.files.get(span.file).context("span of no file")?;
            let len = usize::try_from(span.len)?;
            if file.pad {
                data.resize(data.len() + len, 0);
                continue;
            }
            let path = if info.multi_file {
                file.path.iter().fold(top.clone(), |p, c| p.join(c))
            } else {
                top.clone()
            };
            let mut chunk = vec![0u8; len];
            let mut handle =
                fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            handle.seek(SeekFrom::Start(span.file_offset))?;
            handle
                .read_exact(&mut chunk)
                .with_context(|| format!("reading piece {piece} from {}", path.display()))?;
            data.extend_from_slice(&chunk);
        }
        if !info.verify_piece(piece, &data) {
            wrong.push(piece);
        }
    }
    Ok(wrong)
}
