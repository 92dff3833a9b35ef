//! Bencode helpers on top of `serde_bencode`: locating a dictionary value's exact byte span
//! (the info-hash is taken over the `info` bytes as they stand in the file, never re-encoded),
//! and the two primitive writers used to emit canonical bencode around such verbatim spans.

/// Deepest nesting of lists/dictionaries accepted; real torrents use about 5 levels.
pub const MAX_DEPTH: usize = 64;

/// Malformed or over-deep bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    #[error("malformed bencode at byte {0}")]
    Malformed(usize),
    #[error("bencode nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("top-level value is not a dictionary")]
    NotADict,
}

/// Returns the raw bytes of the value stored under `key` in the top-level dictionary `data`
/// (`None` if the key is absent), validating the whole document's structure on the way.
///
/// Validation is strict: integers have no leading zeros and no `-0`, string lengths stay
/// inside the input, dictionary keys are strings, nesting stops at [`MAX_DEPTH`], and nothing
/// may follow the top-level dictionary. Keys need not be sorted (many real files are not);
/// if a key repeats, the first occurrence wins.
pub fn raw_dict_value<'a>(data: &'a [u8], key: &[u8]) -> Result<Option<&'a [u8]>, BencodeError> {
    if data.first() != Some(&b'd') {
        return Err(if data.is_empty() {
            BencodeError::Malformed(0)
        } else {
            BencodeError::NotADict
        });
    }
    let mut scanner = Scanner { data, pos: 1 };
    let mut found = None;
    loop {
        if scanner.peek()? == b'e' {
            scanner.pos += 1;
            break;
        }
        let this_key = scanner.string()?;
        let start = scanner.pos;
        scanner.value(1)?;
        if found.is_none() && this_key == key {
            found = data.get(start..scanner.pos);
        }
    }
    if scanner.pos != data.len() {
        return Err(BencodeError::Malformed(scanner.pos));
    }
    Ok(found)
}

/// Checks that `data` is one well-formed dictionary within the limits of [`raw_dict_value`];
/// call before handing untrusted bytes to `serde_bencode`, whose recursion has no depth limit.
pub fn validate_dict(data: &[u8]) -> Result<(), BencodeError> {
    // Looking up any key walks and checks the whole document.
    raw_dict_value(data, b"").map(drop)
}

/// Length of the one well-formed value at the start of `data`; what follows it is not looked at
/// (BEP 9 data messages append raw bytes to a dictionary).
pub fn leading_value_len(data: &[u8]) -> Result<usize, BencodeError> {
    let mut scanner = Scanner { data, pos: 0 };
    scanner.value(0)?;
    Ok(scanner.pos)
}

/// Appends `bytes` as a bencode string (`<len>:<bytes>`).
pub fn write_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(bytes.len().to_string().as_bytes());
    buf.push(b':');
    buf.extend_from_slice(bytes);
}

/// Appends `value` as a bencode integer (`i<value>e`).
pub fn write_int(buf: &mut Vec<u8>, value: i64) {
    buf.push(b'i');
    buf.extend_from_slice(value.to_string().as_bytes());
    buf.push(b'e');
}

/// A cursor that checks structure without building values.
struct Scanner<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn malformed(&self) -> BencodeError {
        BencodeError::Malformed(self.pos)
    }

    fn peek(&self) -> Result<u8, BencodeError> {
        self.data
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.malformed())
    }

    /// Skips one value; `depth` is the number of containers already open around it.
    fn value(&mut self, depth: usize) -> Result<(), BencodeError> {
        match self.peek()? {
            b'i' => self.integer(),
            b'0'..=b'9' => self.string().map(drop),
            open @ (b'l' | b'd') => {
                if depth >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep(MAX_DEPTH));
                }
                self.pos += 1;
                while self.peek()? != b'e' {
                    if open == b'd' {
                        self.string()?;
                    }
                    self.value(depth + 1)?;
                }
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.malformed()),
        }
    }

    /// `i<digits>e` with an optional minus, no leading zeros, no `-0`.
    fn integer(&mut self) -> Result<(), BencodeError> {
        self.pos += 1; // 'i'
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits = self.digits();
        let first = self.data.get(digits.start).copied();
        let valid = match digits.len() {
            0 => false,
            1 => !(negative && first == Some(b'0')),
            _ => first != Some(b'0'),
        };
        if !valid || self.peek()? != b'e' {
            return Err(BencodeError::Malformed(digits.start));
        }
        self.pos += 1;
        Ok(())
    }

    /// `<len>:<bytes>`; returns the bytes.
    fn string(&mut self) -> Result<&'a [u8], BencodeError> {
        let digits = self.digits();
        let text = self.data.get(digits.clone()).unwrap_or_default();
        let well_formed = text.len() == 1 || (!text.is_empty() && text.first() != Some(&b'0'));
        if !well_formed || self.peek()? != b':' {
            return Err(BencodeError::Malformed(digits.start));
        }
        self.pos += 1;
        // Overflow-checked, then bounded by the input: a huge length prefix is an error, never
        // an allocation or a wrap.
        let len = text.iter().try_fold(0usize, |acc, &d| {
            acc.checked_mul(10)
                .and_then(|v| v.checked_add(usize::from(d - b'0')))
        });
        let end = len
            .and_then(|len| self.pos.checked_add(len))
            .filter(|&end| end <= self.data.len());
        let end = end.ok_or(BencodeError::Malformed(digits.start))?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.malformed())?;
        self.pos = end;
        Ok(bytes)
    }

    /// Advances over ASCII digits; returns their range.
    fn digits(&mut self) -> std::ops::Range<usize> {
        let start = self.pos;
        let count = self
            .data
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.pos += count;
        start..self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info_of(doc: &[u8]) -> Result<Option<&[u8]>, BencodeError> {
        raw_dict_value(doc, b"info")
    }

    #[test]
    fn finds_the_exact_span_of_a_value() {
        let doc = b"d8:announce3:url4:infod4:name1:a6:lengthi-3ee3:zzzli0eee";
        assert_eq!(info_of(doc).unwrap(), Some(&b"d4:name1:a6:lengthi-3ee"[..]));
        assert_eq!(raw_dict_value(doc, b"zzz").unwrap(), Some(&b"li0ee"[..]));
        assert_eq!(raw_dict_value(doc, b"nope").unwrap(), None);
    }

    #[test]
    fn leading_value_stops_at_its_end() {
        assert_eq!(leading_value_len(b"d1:ai1eeTRAILING").unwrap(), 8);
        assert_eq!(leading_value_len(b"i-3e").unwrap(), 4);
        assert!(leading_value_len(b"d1:ai1e").is_err());
        assert!(leading_value_len(b"").is_err());
    }

    #[test]
    fn first_duplicate_key_wins() {
        assert_eq!(
            raw_dict_value(b"d1:ai1e1:ai2ee", b"a").unwrap(),
            Some(&b"i1e"[..])
        );
    }

    #[test]
    fn rejects_malformed_integers() {
        for doc in [
            &b"d1:ai-0ee"[..],
            b"d1:ai01ee",
            b"d1:aiee",
            b"d1:ai-e",
            b"d1:ai1",
            b"d1:ai1xe",
        ] {
            assert!(
                matches!(info_of(doc), Err(BencodeError::Malformed(_))),
                "{doc:?}"
            );
        }
        assert!(
            info_of(b"d1:ai0ei-1ee").is_err(),
            "integer keys are not allowed"
        );
        assert!(info_of(b"d1:ai0e1:bi-10ee").is_ok());
    }

    #[test]
    fn rejects_bad_strings() {
        let huge = b"d4:info99999999999999999999999:xe";
        assert_eq!(info_of(huge), Err(BencodeError::Malformed(7)));
        for doc in [&b"d4:info5:abce"[..], b"d01:ae", b"d1ae", b"d:e"] {
            assert!(
                matches!(info_of(doc), Err(BencodeError::Malformed(_))),
                "{doc:?}"
            );
        }
    }

    #[test]
    fn rejects_non_dicts_truncation_and_trailing_bytes() {
        assert_eq!(info_of(b"li1ee"), Err(BencodeError::NotADict));
        assert_eq!(info_of(b""), Err(BencodeError::Malformed(0)));
        assert!(info_of(b"d4:infod").is_err());
        assert!(info_of(b"d4:infodee").is_ok());
        assert!(info_of(b"d4:infodeex").is_err());
        assert!(info_of(b"d4:infodeee").is_err());
    }

    #[test]
    fn limits_nesting_depth() {
        let nest = |depth: usize| {
            let mut doc = b"d1:a".to_vec();
            doc.extend(std::iter::repeat_n(b'l', depth - 1));
            doc.extend(std::iter::repeat_n(b'e', depth));
            doc
        };
        assert!(info_of(&nest(MAX_DEPTH)).is_ok());
        assert_eq!(
            info_of(&nest(MAX_DEPTH + 1)),
            Err(BencodeError::TooDeep(MAX_DEPTH))
        );
        // Far deeper than the stack could take if the scanner did not stop early.
        assert_eq!(
            info_of(&nest(1_000_000)),
            Err(BencodeError::TooDeep(MAX_DEPTH))
        );
    }

    #[test]
    fn writers_produce_canonical_bencode() {
        let mut buf = Vec::new();
        write_bytes(&mut buf, b"spam");
        write_int(&mut buf, -42);
        write_bytes(&mut buf, b"");
        assert_eq!(buf, b"4:spami-42e0:");
    }
}
