//! `.torrent` parsing: serde for the fields, the raw `info` span for the hash, and hard
//! validation of everything that later becomes a file path or an allocation size.

use serde::Deserialize;
use serde_bencode::value::Value;
use serde_bytes::ByteBuf;

use super::{
    sha1, FileEntry, Info, Metainfo, MetainfoError, MAX_FILES, MAX_PIECES, MAX_PIECE_LENGTH,
};
use crate::bencode::raw_dict_value;
use crate::InfoHash;

/// The outer dictionary. Everything here is advisory, so wrong types are ignored the way stock
/// clients ignore them (a garbled `comment` must not make a torrent unusable).
#[derive(Deserialize)]
struct RawTorrent {
    announce: Option<Value>,
    #[serde(rename = "announce-list")]
    announce_list: Option<Value>,
    #[serde(rename = "url-list")]
    url_list: Option<Value>,
    comment: Option<Value>,
    #[serde(rename = "created by")]
    created_by: Option<Value>,
    #[serde(rename = "creation date")]
    creation_date: Option<Value>,
}

/// The v1 fields of the `info` dictionary; v2 keys of hybrid torrents are ignored here (they
/// are still covered by the info-hash, which is taken over the raw bytes).
#[derive(Deserialize)]
struct RawInfo {
    name: Option<ByteBuf>,
    #[serde(rename = "name.utf-8")]
    name_utf8: Option<ByteBuf>,
    #[serde(rename = "piece length")]
    piece_length: Option<i64>,
    pieces: Option<ByteBuf>,
    length: Option<i64>,
    files: Option<Vec<RawFile>>,
    private: Option<i64>,
    #[serde(rename = "meta version")]
    meta_version: Option<i64>,
}

#[derive(Deserialize)]
struct RawFile {
    length: Option<i64>,
    path: Option<Vec<ByteBuf>>,
    #[serde(rename = "path.utf-8")]
    path_utf8: Option<Vec<ByteBuf>>,
    /// BEP 47 attributes: `p` pad, `x` executable, `h` hidden, `l` symlink.
    attr: Option<ByteBuf>,
}

pub(super) fn parse(data: &[u8]) -> Result<Metainfo, MetainfoError> {
    // The scanner validates the whole document (depth, lengths) before serde recurses into it.
    let info_bytes = raw_dict_value(data, b"info")?.ok_or(MetainfoError::Field("info"))?;
    let outer: RawTorrent = serde_bencode::from_bytes(data)
        .map_err(|e| MetainfoError::Invalid(format!("torrent: {e}")))?;
    let raw_info: RawInfo = serde_bencode::from_bytes(info_bytes)
        .map_err(|e| MetainfoError::Invalid(format!("info: {e}")))?;
    Ok(Metainfo {
        info: parse_info(raw_info)?,
        info_hash: InfoHash(sha1(info_bytes)),
        info_bytes: info_bytes.to_vec(),
        announce: outer
            .announce
            .as_ref()
            .and_then(text)
            .filter(|s| !s.is_empty()),
        announce_list: outer.announce_list.as_ref().map(tiers).unwrap_or_default(),
        url_list: outer.url_list.as_ref().map(text_list).unwrap_or_default(),
        comment: outer.comment.as_ref().and_then(text),
        created_by: outer.created_by.as_ref().and_then(text),
        creation_date: match outer.creation_date {
            Some(Value::Int(date)) => Some(date),
            _ => None,
        },
    })
}

fn parse_info(raw: RawInfo) -> Result<Info, MetainfoError> {
    let name = raw
        .name_utf8
        .or(raw.name)
        .ok_or(MetainfoError::Field("name"))?;
    let name = safe_component(&name)?;

    let piece_length = raw
        .piece_length
        .ok_or(MetainfoError::Field("piece length"))?;
    let piece_length = u32::try_from(piece_length)
        .ok()
        .filter(|&len| len > 0 && len <= MAX_PIECE_LENGTH)
        .ok_or_else(|| invalid(format!("piece length {piece_length} out of range")))?;

    let (files, multi_file) = match (raw.length, raw.files) {
        (Some(_), Some(_)) => return Err(invalid("both `length` and `files` present".into())),
        (None, None) if raw.meta_version == Some(2) => {
            return Err(invalid(
                "v2-only torrent: no v1 file list (only v1 and hybrid are supported)".into(),
            ))
        }
        (None, None) => return Err(MetainfoError::Field("length")),
        (Some(length), None) => {
            let length = non_negative(length)?;
            (
                vec![FileEntry {
                    path: Vec::new(),
                    length,
                    offset: 0,
                    pad: false,
                }],
                false,
            )
        }
        (None, Some(raw_files)) => (parse_files(raw_files)?, true),
    };
    let total = files.last().map_or(0, |f| f.offset + f.length);
    if total == 0 {
        return Err(invalid("torrent holds no data".into()));
    }

    let pieces = raw.pieces.ok_or(MetainfoError::Field("pieces"))?;
    if pieces.len() % 20 != 0 {
        return Err(invalid(format!(
            "`pieces` is {} bytes, not a multiple of 20",
            pieces.len()
        )));
    }
    let count = pieces.len() / 20;
    if count > MAX_PIECES {
        return Err(invalid(format!(
            "{count} pieces exceed the limit of {MAX_PIECES}"
        )));
    }
    let expected = total.div_ceil(u64::from(piece_length));
    if count as u64 != expected {
        return Err(invalid(format!(
            "{count} piece hashes for {total} bytes in pieces of {piece_length} (expected {expected})"
        )));
    }

    Ok(Info {
        name,
        piece_length,
        pieces: pieces
            .chunks_exact(20)
            .filter_map(|hash| hash.try_into().ok())
            .collect(),
        files,
        multi_file,
        private: raw.private == Some(1),
    })
}

fn parse_files(raw_files: Vec<RawFile>) -> Result<Vec<FileEntry>, MetainfoError> {
    if raw_files.is_empty() {
        return Err(invalid("`files` is empty".into()));
    }
    if raw_files.len() > MAX_FILES {
        return Err(invalid(format!(
            "{} files exceed the limit of {MAX_FILES}",
            raw_files.len()
        )));
    }
    let mut offset = 0u64;
    let mut files = Vec::with_capacity(raw_files.len());
    for raw in raw_files {
        let length = non_negative(raw.length.ok_or(MetainfoError::Field("length"))?)?;
        let raw_path = raw
            .path_utf8
            .or(raw.path)
            .ok_or(MetainfoError::Field("path"))?;
        if raw_path.is_empty() {
            return Err(MetainfoError::UnsafePath(String::new()));
        }
        let path = raw_path
            .iter()
            .map(|c| safe_component(c))
            .collect::<Result<Vec<_>, _>>()?;
        let pad = raw.attr.is_some_and(|a| a.contains(&b'p'))
            || matches!(path.as_slice(), [dir, _] if dir == ".pad");
        files.push(FileEntry {
            path,
            length,
            offset,
            pad,
        });
        offset = offset
            .checked_add(length)
            .ok_or_else(|| invalid("total length overflows".into()))?;
    }
    reject_colliding_paths(&files)?;
    Ok(files)
}

/// Two real files at one path, or a file where another needs a directory, would overwrite
/// each other on disk. Pad files are exempt: they are never written, and libtorrent reuses
/// `.pad/<size>` names freely.
fn reject_colliding_paths(files: &[FileEntry]) -> Result<(), MetainfoError> {
    let mut paths: Vec<&[String]> = files
        .iter()
        .filter(|f| !f.pad)
        .map(|f| f.path.as_slice())
        .collect();
    paths.sort_unstable();
    // After sorting, a path is immediately followed by any path it is a prefix of.
    match paths.windows(2).find(|pair| pair[1].starts_with(pair[0])) {
        Some(pair) => Err(invalid(format!(
            "file path {:?} collides with {:?}",
            pair[0], pair[1]
        ))),
        None => Ok(()),
    }
}

/// A name or path component that is safe to join onto a download directory on any OS.
/// Non-UTF-8 bytes become U+FFFD (as libtorrent does) rather than refusing the torrent.
fn safe_component(raw: &[u8]) -> Result<String, MetainfoError> {
    let component = String::from_utf8_lossy(raw).into_owned();
    let bytes = component.as_bytes();
    let is_drive = matches!(bytes, [letter, b':', ..] if letter.is_ascii_alphabetic());
    let unsafe_component = component.is_empty()
        || component == "."
        || component == ".."
        || is_drive
        || bytes.iter().any(|&b| matches!(b, b'/' | b'\\' | 0));
    if unsafe_component {
        return Err(MetainfoError::UnsafePath(component));
    }
    Ok(component)
}

fn non_negative(length: i64) -> Result<u64, MetainfoError> {
    u64::try_from(length).map_err(|_| invalid(format!("negative length {length}")))
}

fn invalid(message: String) -> MetainfoError {
    MetainfoError::Invalid(message)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    }
}

/// BEP 19 allows a single string or a list of strings.
fn text_list(value: &Value) -> Vec<String> {
    match value {
        Value::List(items) => items
            .iter()
            .filter_map(text)
            .filter(|s| !s.is_empty())
            .collect(),
        single => text(single).into_iter().filter(|s| !s.is_empty()).collect(),
    }
}

/// BEP 12 tiers, keeping only well-formed, non-empty ones.
fn tiers(value: &Value) -> Vec<Vec<String>> {
    let Value::List(tiers) = value else {
        return Vec::new();
    };
    tiers
        .iter()
        .filter(|tier| matches!(tier, Value::List(_)))
        .map(text_list)
        .filter(|tier| !tier.is_empty())
        .collect()
}
