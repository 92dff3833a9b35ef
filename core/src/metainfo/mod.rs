//! `.torrent` files (BEP 3 metainfo, single- and multi-file v1; BEP 12 announce-list, BEP 19
//! url-list, BEP 47 pad files): parsing with validation, and piece geometry.
//!
//! Parsing refuses anything that could escape the download directory or make us allocate
//! absurdly: unsafe names and path components (empty, `.`, `..`, separators, NUL, drive
//! letters), colliding file paths, piece lengths outside `1..=MAX_PIECE_LENGTH`, `pieces` not
//! a multiple of 20 or not matching the data length, more than `MAX_FILES` files or
//! `MAX_PIECES` pieces, and length sums that overflow. The info-hash is SHA-1 over the `info`
//! bytes as they stand in the file, so keys we do not model (v2 fields of hybrid torrents)
//! still count.

mod create;
mod parse;

pub use create::{piece_length_for, PieceHasher, TorrentBuilder};

use sha1::{Digest, Sha1};

use crate::bencode::{write_bytes, write_int};
use crate::InfoHash;

/// Why a .torrent was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    #[error("not valid bencode: {0}")]
    Bencode(#[from] crate::bencode::BencodeError),
    #[error("missing or malformed field `{0}`")]
    Field(&'static str),
    #[error("unsafe file path {0:?}")]
    UnsafePath(String),
    #[error("{0}")]
    Invalid(String),
}

/// A parsed .torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    pub info: Info,
    pub info_hash: InfoHash,
    /// The `info` dictionary exactly as it stood in the file (served for BEP 9 metadata).
    pub info_bytes: Vec<u8>,
    pub announce: Option<String>,
    /// BEP 12 tiers; empty when absent.
    pub announce_list: Vec<Vec<String>>,
    /// BEP 19 web seeds; empty when absent.
    pub url_list: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
}

/// The `info` dictionary: what the info-hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Suggested name of the file (single-file) or top folder (multi-file); a safe path component.
    pub name: String,
    pub piece_length: u32,
    pub pieces: Vec<[u8; 20]>,
    /// In torrent order. A single-file torrent has one entry with an empty `path`.
    pub files: Vec<FileEntry>,
    pub multi_file: bool,
    pub private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Safe relative components below `name` (no `..`, no separators, none empty).
    pub path: Vec<String>,
    pub length: u64,
    /// Byte offset of the file's first byte within the torrent's concatenated data.
    pub offset: u64,
    /// BEP 47 pad file: zeros, never written to disk.
    pub pad: bool,
}

/// A contiguous run of a piece that lies in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpan {
    pub file: usize,
    pub file_offset: u64,
    pub len: u64,
}

/// Limits a parser applies so a hostile file cannot make us allocate absurd amounts.
pub const MAX_PIECE_LENGTH: u32 = 64 << 20;
pub const MAX_PIECES: usize = 4 << 20;
pub const MAX_FILES: usize = 1 << 20;

impl Metainfo {
    /// Parses and validates a .torrent; see the module docs for what is refused.
    pub fn from_bytes(data: &[u8]) -> Result<Metainfo, MetainfoError> {
        parse::parse(data)
    }

    /// A torrent from a bare info dictionary fetched from peers (BEP 9), with the trackers and
    /// web seeds a magnet link named.
    pub fn from_info_dict(
        info_bytes: &[u8],
        trackers: &[String],
        web_seeds: &[String],
    ) -> Result<Metainfo, MetainfoError> {
        let announce_list: Vec<Vec<String>> = trackers.iter().map(|t| vec![t.clone()]).collect();
        let outer = OuterFields {
            announce: trackers.first().map(String::as_str),
            announce_list: if trackers.len() > 1 {
                &announce_list
            } else {
                &[]
            },
            url_list: web_seeds,
            comment: None,
            created_by: None,
            creation_date: None,
        };
        Self::from_bytes(&outer.encode_around(info_bytes))
    }

    /// Bencodes the whole torrent; the `info` part is `info_bytes` verbatim. Outer keys this
    /// type does not model (such as a hybrid torrent's v2 `piece layers`) are not written.
    pub fn to_bytes(&self) -> Vec<u8> {
        OuterFields {
            announce: self.announce.as_deref(),
            announce_list: &self.announce_list,
            url_list: &self.url_list,
            comment: self.comment.as_deref(),
            created_by: self.created_by.as_deref(),
            creation_date: self.creation_date,
        }
        .encode_around(&self.info_bytes)
    }

    /// Every tracker URL: announce-list tiers flattened, else `announce`. Duplicates are
    /// dropped, first occurrence kept.
    pub fn trackers(&self) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        let tiers = self.announce_list.iter().flatten();
        let candidates: Vec<&String> = if self.announce_list.is_empty() {
            self.announce.iter().collect()
        } else {
            tiers.collect()
        };
        for url in candidates {
            if !urls.contains(url) {
                urls.push(url.clone());
            }
        }
        urls
    }
}

impl Info {
    pub fn total_length(&self) -> u64 {
        // Offsets are cumulative, so the last file ends where the data ends.
        self.files
            .last()
            .map_or(0, |f| f.offset.saturating_add(f.length))
    }
    pub fn piece_count(&self) -> u32 {
        self.pieces.len() as u32
    }
    /// Length of `piece` (the last one is usually short); 0 for a piece past the end.
    pub fn piece_size(&self, piece: u32) -> u32 {
        let start = u64::from(piece) * u64::from(self.piece_length);
        let remaining = self.total_length().saturating_sub(start);
        // Bounded by `piece_length`, so the conversion cannot truncate.
        remaining.min(u64::from(self.piece_length)) as u32
    }
    /// The files a byte range of a piece touches, in order (pad files included, flagged by
    /// their `FileEntry::pad`). Zero-length files touch nothing; a range running past the end
    /// of the data is cut short.
    pub fn file_spans(&self, piece: u32, begin: u32, len: u32) -> Vec<FileSpan> {
        let start = u64::from(piece) * u64::from(self.piece_length) + u64::from(begin);
        let end = (start + u64::from(len)).min(self.total_length());
        let file_end = |f: &FileEntry| f.offset.saturating_add(f.length);
        let first = self.files.partition_point(|f| file_end(f) <= start);
        let mut spans = Vec::new();
        for (index, file) in self.files.iter().enumerate().skip(first) {
            if file.offset >= end {
                break;
            }
            if file.length == 0 {
                continue;
            }
            let from = start.max(file.offset);
            let to = end.min(file_end(file));
            spans.push(FileSpan {
                file: index,
                file_offset: from - file.offset,
                len: to - from,
            });
        }
        spans
    }
    /// Whether `data` is piece `piece` (SHA-1 against the torrent's hash).
    pub fn verify_piece(&self, piece: u32, data: &[u8]) -> bool {
        self.pieces.get(piece as usize).is_some_and(|expected| {
            data.len() == self.piece_size(piece) as usize && sha1(data) == *expected
        })
    }
}

/// The outer dictionary's fields, borrowed, so `to_bytes` and the builder share one encoder.
struct OuterFields<'a> {
    announce: Option<&'a str>,
    announce_list: &'a [Vec<String>],
    url_list: &'a [String],
    comment: Option<&'a str>,
    created_by: Option<&'a str>,
    creation_date: Option<i64>,
}

impl OuterFields<'_> {
    /// The whole torrent with `info_bytes` spliced in verbatim; keys in sorted order.
    fn encode_around(&self, info_bytes: &[u8]) -> Vec<u8> {
        fn put_str_list(buf: &mut Vec<u8>, items: &[String]) {
            buf.push(b'l');
            for item in items {
                write_bytes(buf, item.as_bytes());
            }
            buf.push(b'e');
        }
        fn put_str(buf: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
            if let Some(value) = value {
                write_bytes(buf, key);
                write_bytes(buf, value.as_bytes());
            }
        }
        let mut buf = Vec::with_capacity(info_bytes.len() + 256);
        buf.push(b'd');
        put_str(&mut buf, b"announce", self.announce);
        if !self.announce_list.is_empty() {
            write_bytes(&mut buf, b"announce-list");
            buf.push(b'l');
            for tier in self.announce_list {
                put_str_list(&mut buf, tier);
            }
            buf.push(b'e');
        }
        put_str(&mut buf, b"comment", self.comment);
        put_str(&mut buf, b"created by", self.created_by);
        if let Some(date) = self.creation_date {
            write_bytes(&mut buf, b"creation date");
            write_int(&mut buf, date);
        }
        write_bytes(&mut buf, b"info");
        buf.extend_from_slice(info_bytes);
        if !self.url_list.is_empty() {
            write_bytes(&mut buf, b"url-list");
            put_str_list(&mut buf, self.url_list);
        }
        buf.push(b'e');
        buf
    }
}

/// SHA-1 of `data`, the v1 piece and info-hash function.
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}
