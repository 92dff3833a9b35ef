//! .torrent parsing: well-formed files, geometry, and hostile input that must be refused
//! with a clear error (never a panic).

use bitfleet_core::bencode::{write_bytes, write_int, BencodeError};
use bitfleet_core::metainfo::{
    FileSpan, Metainfo, MetainfoError, PieceHasher, TorrentBuilder, MAX_PIECE_LENGTH,
};
use proptest::prelude::*;

/// `(path, length, attr)` rows of a multi-file info dict.
type FileRow<'a> = (&'a [&'a str], i64, Option<&'a str>);

fn multi_info(name: &str, piece_length: i64, files: &[FileRow], pieces: usize) -> Vec<u8> {
    let mut info = b"d5:filesl".to_vec();
    for (path, length, attr) in files {
        info.push(b'd');
        if let Some(attr) = attr {
            write_bytes(&mut info, b"attr");
            write_bytes(&mut info, attr.as_bytes());
        }
        write_bytes(&mut info, b"length");
        write_int(&mut info, *length);
        write_bytes(&mut info, b"path");
        info.push(b'l');
        for component in *path {
            write_bytes(&mut info, component.as_bytes());
        }
        info.extend_from_slice(b"ee");
    }
    info.push(b'e');
    finish_info(info, name, piece_length, pieces)
}

fn single_info(name: &str, length: i64, piece_length: i64, pieces: usize) -> Vec<u8> {
    let mut info = b"d6:length".to_vec();
    write_int(&mut info, length);
    finish_info(info, name, piece_length, pieces)
}

fn finish_info(mut info: Vec<u8>, name: &str, piece_length: i64, pieces: usize) -> Vec<u8> {
    write_bytes(&mut info, b"name");
    write_bytes(&mut info, name.as_bytes());
    write_bytes(&mut info, b"piece length");
    write_int(&mut info, piece_length);
    write_bytes(&mut info, b"pieces");
    write_bytes(&mut info, &vec![0xab; pieces * 20]);
    info.push(b'e');
    info
}

fn torrent(info: &[u8]) -> Vec<u8> {
    let mut doc = b"d8:announce20:http://t.example/ann4:info".to_vec();
    doc.extend_from_slice(info);
    doc.push(b'e');
    doc
}

fn parse_info(info: &[u8]) -> Result<Metainfo, MetainfoError> {
    Metainfo::from_bytes(&torrent(info))
}

#[test]
fn single_file_torrent() {
    let info = single_info("movie.mkv", 40_000, 16384, 3);
    let t = parse_info(&info).unwrap();
    assert_eq!(t.info_bytes, info, "info bytes are kept verbatim");
    assert_eq!(t.info_hash.0, sha1_of(&info));
    assert!(!t.info.multi_file);
    assert_eq!(t.info.files.len(), 1);
    assert!(t.info.files[0].path.is_empty());
    assert_eq!(t.info.total_length(), 40_000);
    assert_eq!(t.info.piece_size(0), 16384);
    assert_eq!(t.info.piece_size(2), 40_000 - 2 * 16384);
    assert_eq!(t.info.piece_size(3), 0);
    assert_eq!(t.announce.as_deref(), Some("http://t.example/ann"));
    assert_eq!(t.trackers(), vec!["http://t.example/ann".to_string()]);
    assert_eq!(Metainfo::from_bytes(&t.to_bytes()).unwrap(), t);
}

#[test]
fn multi_file_geometry_spans_files_and_skips_empty_ones() {
    let files: &[FileRow] = &[
        (&["a"], 10, None),
        (&["empty"], 0, None),
        (&["sub", "b"], 30, None),
        (&[".pad", "8"], 8, Some("p")),
        (&["c"], 2, None),
    ];
    let t = parse_info(&multi_info("dir", 16, files, 4)).unwrap();
    let info = &t.info;
    assert!(info.multi_file);
    assert_eq!(info.total_length(), 50);
    let offsets: Vec<u64> = info.files.iter().map(|f| f.offset).collect();
    assert_eq!(offsets, [0, 10, 10, 40, 48]);
    assert_eq!(
        info.files.iter().map(|f| f.pad).collect::<Vec<_>>(),
        [false, false, false, true, false]
    );
    let span = |file, file_offset, len| FileSpan {
        file,
        file_offset,
        len,
    };
    assert_eq!(info.file_spans(0, 0, 16), [span(0, 0, 10), span(2, 0, 6)]);
    assert_eq!(info.file_spans(2, 4, 12), [span(2, 26, 4), span(3, 0, 8)]);
    assert_eq!(
        info.file_spans(3, 0, 16),
        [span(4, 0, 2)],
        "cut at the end of the data"
    );
    assert_eq!(info.file_spans(1, 0, 16), [span(2, 6, 16)]);
    assert!(info.file_spans(9, 0, 16).is_empty());
    assert_eq!(info.piece_size(3), 2);
}

#[test]
fn pad_directory_counts_as_pad_without_attr() {
    let files: &[FileRow] = &[
        (&["a"], 10, None),
        (&[".pad", "6"], 6, None),
        (&["b"], 1, None),
    ];
    let t = parse_info(&multi_info("dir", 16, files, 2)).unwrap();
    assert!(t.info.files[1].pad);
    assert!(!t.info.files[2].pad);
}

#[test]
fn prefers_utf8_variants_and_ignores_unknown_keys() {
    let mut info = b"d6:lengthi5e4:name3:bad10:name.utf-84:good".to_vec();
    info.extend_from_slice(b"12:piece lengthi16e6:pieces20:");
    info.extend_from_slice(&[1; 20]);
    info.extend_from_slice(b"7:privatei1e12:meta versioni2ee");
    let t = parse_info(&info).unwrap();
    assert_eq!(t.info.name, "good");
    assert!(t.info.private);
}

#[test]
fn verify_piece_checks_hash_and_length() {
    let data: Vec<u8> = (0..40u8).collect();
    let mut hasher = PieceHasher::new(16);
    hasher.update(&data);
    let builder = TorrentBuilder {
        name: "x".into(),
        files: vec![(vec![], 40)],
        piece_length: 16,
        ..Default::default()
    };
    let t = builder.build(hasher.finish()).unwrap();
    assert!(t.info.verify_piece(0, &data[..16]));
    assert!(t.info.verify_piece(2, &data[32..]));
    assert!(!t.info.verify_piece(1, &data[..16]));
    assert!(!t.info.verify_piece(2, &data[31..]));
    assert!(!t.info.verify_piece(3, &[]));
}

#[test]
fn builder_output_round_trips_with_all_fields() {
    let builder = TorrentBuilder {
        name: "share".into(),
        files: vec![
            (vec!["a.bin".into()], 20),
            (vec!["d".into(), "b.bin".into()], 13),
        ],
        piece_length: 16,
        trackers: vec!["http://one/announce".into(), "udp://two:6969".into()],
        web_seeds: vec!["http://seed/files/".into()],
        comment: Some("hello".into()),
        created_by: Some("bitfleet".into()),
        creation_date: Some(1_700_000_000),
        private: true,
    };
    let t = builder.build(vec![[7; 20]; 3]).unwrap();
    assert_eq!(t.announce.as_deref(), Some("http://one/announce"));
    assert_eq!(
        t.announce_list,
        [
            vec!["http://one/announce".to_string()],
            vec!["udp://two:6969".into()]
        ]
    );
    assert_eq!(t.trackers(), ["http://one/announce", "udp://two:6969"]);
    assert_eq!(t.url_list, ["http://seed/files/"]);
    assert_eq!(t.comment.as_deref(), Some("hello"));
    assert_eq!(t.created_by.as_deref(), Some("bitfleet"));
    assert_eq!(t.creation_date, Some(1_700_000_000));
    assert!(t.info.private && t.info.multi_file);
    assert_eq!(t.info.files[1].path, ["d", "b.bin"]);
    assert_eq!(t.info.files[1].offset, 20);
    let bytes = t.to_bytes();
    assert_eq!(Metainfo::from_bytes(&bytes).unwrap(), t);
    assert!(bytes.starts_with(b"d8:announce19:http://one/announce13:announce-listll"));
}

#[test]
fn builder_refuses_what_the_parser_refuses() {
    let builder = TorrentBuilder {
        name: "..".into(),
        files: vec![(vec![], 1)],
        piece_length: 16,
        ..Default::default()
    };
    assert!(matches!(
        builder.build(vec![[0; 20]]),
        Err(MetainfoError::UnsafePath(_))
    ));
}

#[test]
fn url_list_may_be_a_single_string_and_bad_optional_fields_are_ignored() {
    let info = single_info("f", 1, 16, 1);
    let mut doc = b"d7:commenti5e13:creation date3:now4:info".to_vec();
    doc.extend_from_slice(&info);
    doc.extend_from_slice(b"8:url-list9:http://wse");
    let t = Metainfo::from_bytes(&doc).unwrap();
    assert_eq!(t.url_list, ["http://ws"]);
    assert_eq!(
        (&t.comment, t.creation_date, &t.announce),
        (&None, None, &None)
    );
    assert!(t.trackers().is_empty());
}

fn assert_unsafe(info: Vec<u8>) {
    match parse_info(&info) {
        Err(MetainfoError::UnsafePath(_)) => {}
        other => panic!("expected UnsafePath, got {other:?}"),
    }
}

#[test]
fn refuses_unsafe_paths() {
    for bad in [
        "..",
        ".",
        "",
        "a/b",
        "a\\b",
        "C:",
        "c:evil",
        "nul\0byte",
        "/abs",
    ] {
        assert_unsafe(single_info(bad, 1, 16, 1));
        assert_unsafe(multi_info("ok", 16, &[(&["dir", bad], 1, None)], 1));
    }
    assert_unsafe(multi_info("ok", 16, &[(&[], 1, None)], 1));
}

fn assert_invalid(info: Vec<u8>, needle: &str) {
    match parse_info(&info) {
        Err(MetainfoError::Invalid(message)) => {
            assert!(
                message.contains(needle),
                "{message:?} should mention {needle:?}"
            )
        }
        other => panic!("expected Invalid mentioning {needle:?}, got {other:?}"),
    }
}

#[test]
fn refuses_inconsistent_geometry() {
    assert_invalid(single_info("f", 100, 16, 6), "expected 7");
    assert_invalid(single_info("f", 100, 16, 8), "expected 7");
    assert_invalid(single_info("f", 0, 16, 0), "no data");
    assert_invalid(single_info("f", -1, 16, 1), "negative length");
    assert_invalid(single_info("f", 1, 0, 1), "piece length 0");
    assert_invalid(single_info("f", 1, -16, 1), "piece length");
    assert_invalid(
        single_info("f", 1, i64::from(MAX_PIECE_LENGTH) + 1, 1),
        "piece length",
    );
    // Absurd piece count: a petabyte in 16-byte pieces, with one hash.
    assert_invalid(single_info("f", 1 << 50, 16, 1), "expected");
    let mut info = single_info("f", 1, 16, 1);
    let at = info.windows(4).position(|w| w == b"20:\xab").unwrap();
    info.splice(at..at + 3, b"19:".iter().copied());
    info.remove(at + 3);
    assert_invalid(info, "not a multiple of 20");
}

#[test]
fn refuses_structural_problems() {
    let overflow: &[FileRow] = &[
        (&["a"], i64::MAX, None),
        (&["b"], i64::MAX, None),
        (&["c"], 2, None),
    ];
    assert_invalid(multi_info("d", 16, overflow, 1), "overflow");
    assert_invalid(multi_info("d", 16, &[], 0), "empty");
    let dup: &[FileRow] = &[(&["a"], 1, None), (&["a"], 1, None)];
    assert_invalid(multi_info("d", 16, dup, 1), "collides");
    let file_vs_dir: &[FileRow] = &[(&["a"], 1, None), (&["a", "b"], 1, None)];
    assert_invalid(multi_info("d", 16, file_vs_dir, 1), "collides");
    let repeated_pads: &[FileRow] = &[
        (&["a"], 1, None),
        (&[".pad", "15"], 15, Some("p")),
        (&["b"], 1, None),
        (&[".pad", "15"], 15, Some("p")),
    ];
    assert!(parse_info(&multi_info("d", 16, repeated_pads, 2)).is_ok());

    let mut both = b"d5:filesld6:lengthi1e4:pathl1:aeee".to_vec();
    both.extend_from_slice(&single_info("f", 1, 16, 1)[1..]);
    assert_invalid(both, "both");
    assert_eq!(
        Metainfo::from_bytes(b"d8:announce1:xe"),
        Err(MetainfoError::Field("info"))
    );
    assert_eq!(
        parse_info(b"d4:name1:f12:piece lengthi16e6:pieces0:e"),
        Err(MetainfoError::Field("length"))
    );
    assert!(matches!(
        parse_info(b"d4:name1:f6:lengthi1e12:piece length1:x6:pieces0:e"),
        Err(MetainfoError::Invalid(_))
    ));
    assert!(matches!(parse_info(b"le"), Err(MetainfoError::Invalid(_))));
    let v2_only = b"d9:file treede12:meta versioni2e4:name1:f12:piece lengthi16ee";
    assert_invalid(v2_only.to_vec(), "v2-only");
}

#[test]
fn refuses_malformed_bencode() {
    let bencode = |doc: &[u8]| match Metainfo::from_bytes(doc) {
        Err(MetainfoError::Bencode(e)) => e,
        other => panic!("expected a bencode error, got {other:?}"),
    };
    assert!(matches!(bencode(b""), BencodeError::Malformed(0)));
    assert!(matches!(bencode(b"d4:info"), BencodeError::Malformed(_)));
    assert!(matches!(
        bencode(b"d4:infoi01ee"),
        BencodeError::Malformed(_)
    ));
    assert!(matches!(
        bencode(b"d4:info18446744073709551616:e"),
        BencodeError::Malformed(_)
    ));
    assert_eq!(bencode(b"i1e"), BencodeError::NotADict);
    let mut deep = b"d4:info".to_vec();
    deep.extend(std::iter::repeat_n(b'l', 100_000));
    assert!(matches!(bencode(&deep), BencodeError::TooDeep(_)));
}

fn sha1_of(data: &[u8]) -> [u8; 20] {
    let mut hasher = PieceHasher::new(u32::try_from(data.len()).unwrap());
    hasher.update(data);
    hasher.finish()[0]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Metainfo::from_bytes(&data);
    }

    #[test]
    fn never_panics_on_mutated_torrents(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let files: &[FileRow] =
            &[(&["a"], 10, None), (&[".pad", "6"], 6, Some("p")), (&["s", "b"], 20, None)];
        let mut doc = torrent(&multi_info("dir", 16, files, 3));
        for (at, byte) in edits {
            let i = at.index(doc.len());
            doc[i] = byte;
        }
        if truncate {
            doc.truncate(cut.index(doc.len()));
        }
        if let Ok(t) = Metainfo::from_bytes(&doc) {
            // Whatever parses must be self-consistent.
            prop_assert_eq!(Metainfo::from_bytes(&t.to_bytes()).unwrap(), t.clone());
            let pieces = u64::from(t.info.piece_count());
            prop_assert_eq!(pieces, t.info.total_length().div_ceil(u64::from(t.info.piece_length)));
        }
    }
}
