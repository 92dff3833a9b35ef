//! URL query strings as trackers see them: `key=value` pairs whose values are raw bytes,
//! percent-encoded byte by byte (an info-hash is 20 binary bytes, not text).

use std::str::FromStr;

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::TrackerError;

/// Bytes written as they are in a query component: RFC 3986 unreserved characters. Every other
/// byte, including each non-ASCII byte of a binary info-hash, becomes `%XX`.
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `bytes` for use as a query key or value.
pub fn encode_component(bytes: &[u8]) -> String {
    percent_encode(bytes, QUERY_COMPONENT).to_string()
}

/// Appends `query` to `url`, with `&` when the URL already carries a query (a tracker URL such
/// as `http://host:8080/announce?token=T` keeps its token).
pub fn append_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

/// A parsed query string: decoded `(key, value)` pairs in their original order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl QueryParams {
    /// Splits and decodes a raw query (a leading `?` is allowed). `+` stands for a space, as in
    /// HTML forms; a `%` not followed by two hex digits is an error rather than a guess.
    pub fn parse(query: &str) -> Result<Self, TrackerError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let pairs = query
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                Ok((decode_component(key)?, decode_component(value)?))
            })
            .collect::<Result<_, TrackerError>>()?;
        Ok(Self { pairs })
    }

    /// Every value given for `key`, in order (scrape repeats `info_hash`).
    pub fn all<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'k> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The single value of `key`; a key given twice is ambiguous, hence an error.
    pub fn get(&self, key: &str) -> Result<Option<&[u8]>, TrackerError> {
        let mut values = self.all(key);
        let first = values.next();
        if values.next().is_some() {
            return Err(bad_query(format!("parameter `{key}` given more than once")));
        }
        Ok(first)
    }

    pub fn require(&self, key: &str) -> Result<&[u8], TrackerError> {
        self.get(key)?
            .ok_or_else(|| bad_query(format!("missing parameter `{key}`")))
    }

    /// The value of `key` as UTF-8 text.
    pub fn text(&self, key: &str) -> Result<Option<String>, TrackerError> {
        self.get(key)?
            .map(|value| {
                String::from_utf8(value.to_vec())
                    .map_err(|_| bad_query(format!("parameter `{key}` is not UTF-8")))
            })
            .transpose()
    }

    /// The value of `key` as a decimal number of type `T`; signs, spaces and overflow are errors.
    pub fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, TrackerError> {
        self.get(key)?
            .map(|value| parse_decimal(key, value))
            .transpose()
    }

    pub fn require_number<T: FromStr>(&self, key: &str) -> Result<T, TrackerError> {
        parse_decimal(key, self.require(key)?)
    }
}

fn parse_decimal<T: FromStr>(key: &str, value: &[u8]) -> Result<T, TrackerError> {
    let invalid = || bad_query(format!("parameter `{key}` is not a valid number"));
    // `FromStr` for integers accepts a leading `+`; a query parameter should be plain digits.
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    std::str::from_utf8(value)
        .map_err(|_| invalid())?
        .parse()
        .map_err(|_| invalid())
}

fn decode_component(raw: &str) -> Result<Vec<u8>, TrackerError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let escaped = match rest {
                    [high, low, tail @ ..] => {
                        rest = tail;
                        hex_value(*high).zip(hex_value(*low))
                    }
                    _ => None,
                };
                let (high, low) = escaped
                    .ok_or_else(|| bad_query(format!("malformed percent escape in {raw:?}")))?;
                out.push(high << 4 | low);
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

pub(super) fn bad_query(message: impl Into<String>) -> TrackerError {
    TrackerError::BadQuery(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_mixed_case_hex() {
        let params = QueryParams::parse("a=%aB%Cd+x&b").unwrap();
        assert_eq!(
            params.get("a").unwrap(),
            Some(&[0xab, 0xcd, b' ', b'x'][..])
        );
        assert_eq!(params.get("b").unwrap(), Some(&b""[..]));
        assert_eq!(params.get("c").unwrap(), None);
    }

    #[test]
    fn rejects_truncated_or_non_hex_escapes() {
        for query in ["a=%", "a=%4", "a=%zz", "a=%4g", "%=1"] {
            assert!(
                matches!(QueryParams::parse(query), Err(TrackerError::BadQuery(_))),
                "{query}"
            );
        }
    }

    #[test]
    fn repeated_keys_are_listed_but_ambiguous_for_get() {
        let params = QueryParams::parse("?k=1&k=2&other=3").unwrap();
        assert_eq!(params.all("k").collect::<Vec<_>>(), vec![b"1", b"2"]);
        assert!(params.get("k").is_err());
        assert_eq!(params.number::<u8>("other").unwrap(), Some(3));
    }

    #[test]
    fn numbers_are_plain_digits_within_range() {
        let params = QueryParams::parse("a=%2B5&b=-1&c=256&d=18446744073709551616&e=").unwrap();
        assert!(params.number::<u64>("a").is_err());
        assert!(params.number::<u64>("b").is_err());
        assert!(params.number::<u8>("c").is_err());
        assert!(params.number::<u64>("d").is_err());
        assert!(params.number::<u64>("e").is_err());
    }

    #[test]
    fn encoding_keeps_only_unreserved_bytes() {
        assert_eq!(encode_component(b"aZ9-._~ /%\xff"), "aZ9-._~%20%2F%25%FF");
    }

    #[test]
    fn append_query_respects_an_existing_query() {
        assert_eq!(
            append_query("http://h/announce", "a=1"),
            "http://h/announce?a=1"
        );
        assert_eq!(
            append_query("http://h/announce?token=T", "a=1"),
            "http://h/announce?token=T&a=1"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_survive_encoding(bytes: Vec<u8>) {
            let query = format!("k={}", encode_component(&bytes));
            let params = QueryParams::parse(&query).unwrap();
            proptest::prop_assert_eq!(params.get("k").unwrap(), Some(bytes.as_slice()));
        }

        #[test]
        fn parsing_never_panics(query: String) {
            let _ = QueryParams::parse(&query);
        }
    }
}
