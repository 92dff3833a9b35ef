//! The bencoded dictionaries trackers reply with: building them, and reading untrusted ones
//! without ever panicking.

use std::collections::HashMap;

use serde_bencode::value::Value;

use super::TrackerError;

/// Tracker replies nest three levels (reply, peer list, peer); anything far deeper is hostile.
const MAX_DEPTH: usize = 32;

/// A bencoded dictionary being built; keys are sorted on encoding.
#[derive(Default)]
pub(super) struct DictBuilder(HashMap<Vec<u8>, Value>);

impl DictBuilder {
    pub fn bytes(mut self, key: &str, value: impl Into<Vec<u8>>) -> Self {
        self.0.insert(key.into(), Value::Bytes(value.into()));
        self
    }
    pub fn int(mut self, key: &str, value: impl Into<i64>) -> Self {
        self.0.insert(key.into(), Value::Int(value.into()));
        self
    }
    /// Any value under any key: a scrape reply's keys are binary info-hashes.
    pub fn value(mut self, key: impl Into<Vec<u8>>, value: Value) -> Self {
        self.0.insert(key.into(), value);
        self
    }
    pub fn into_value(self) -> Value {
        Value::Dict(self.0)
    }
    pub fn encode(self) -> Vec<u8> {
        // Serializing a `Value` only fails on serializer misuse (a key without a value), which
        // the `Value` impl never does.
        serde_bencode::to_bytes(&self.into_value()).expect("a bencode Value always serializes")
    }
}

/// A decoded dictionary with typed, fallible accessors.
pub(super) struct Dict(HashMap<Vec<u8>, Value>);

impl Dict {
    /// Decodes a whole reply, which must be a dictionary.
    pub fn decode(data: &[u8]) -> Result<Self, TrackerError> {
        check_nesting(data)?;
        match serde_bencode::from_bytes::<Value>(data) {
            Ok(value) => Self::from_value(value, "reply"),
            Err(err) => Err(bad_response(format!("malformed bencode: {err}"))),
        }
    }

    pub fn from_value(value: Value, what: &str) -> Result<Self, TrackerError> {
        match value {
            Value::Dict(entries) => Ok(Self(entries)),
            _ => Err(bad_response(format!("{what} is not a dictionary"))),
        }
    }

    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key.as_bytes())
    }

    pub fn into_entries(self) -> impl Iterator<Item = (Vec<u8>, Value)> {
        self.0.into_iter()
    }

    pub fn bytes(&mut self, key: &str) -> Result<Option<Vec<u8>>, TrackerError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bytes(bytes)) => Ok(Some(bytes)),
            Some(_) => Err(bad_response(format!("`{key}` is not a byte string"))),
        }
    }

    /// A byte string read as text; invalid UTF-8 is replaced rather than refused, since these
    /// are human-readable messages.
    pub fn text(&mut self, key: &str) -> Result<Option<String>, TrackerError> {
        Ok(self
            .bytes(key)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    pub fn int<T: TryFrom<i64>>(&mut self, key: &str) -> Result<Option<T>, TrackerError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Int(n)) => T::try_from(n)
                .map(Some)
                .map_err(|_| bad_response(format!("`{key}` = {n} is out of range"))),
            Some(_) => Err(bad_response(format!("`{key}` is not an integer"))),
        }
    }
}

/// Refuses documents nested deeper than [`MAX_DEPTH`] before `serde_bencode`, which recurses
/// once per level, gets to overflow the stack on them. The scan is stricter than the parser
/// (lengths are plain digits), so it has seen every level the parser will enter.
fn check_nesting(data: &[u8]) -> Result<(), TrackerError> {
    let malformed = |at: usize| bad_response(format!("malformed bencode at byte {at}"));
    let mut depth = 0usize;
    let mut at = 0usize;
    while let Some(&byte) = data.get(at) {
        match byte {
            b'l' | b'd' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(bad_response(format!(
                        "bencode nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                at += 1;
            }
            b'e' => {
                depth = depth.checked_sub(1).ok_or_else(|| malformed(at))?;
                at += 1;
            }
            b'i' => {
                let end = position_from(data, at, b'e').ok_or_else(|| malformed(at))?;
                at = end + 1;
            }
            b'0'..=b'9' => {
                let colon = position_from(data, at, b':').ok_or_else(|| malformed(at))?;
                let digits = data.get(at..colon).ok_or_else(|| malformed(at))?;
                let len = std::str::from_utf8(digits)
                    .ok()
                    .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|text| text.parse::<usize>().ok())
                    .ok_or_else(|| malformed(at))?;
                at = colon
                    .checked_add(1)
                    .and_then(|start| start.checked_add(len))
                    .filter(|&end| end <= data.len())
                    .ok_or_else(|| malformed(at))?;
            }
            _ => return Err(malformed(at)),
        }
    }
    Ok(())
}

fn position_from(data: &[u8], from: usize, needle: u8) -> Option<usize> {
    data.get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|offset| from + offset)
}

pub(super) fn bad_response(message: impl Into<String>) -> TrackerError {
    TrackerError::BadResponse(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_without_recursing() {
        let deep = "l".repeat(100_000);
        assert!(matches!(
            Dict::decode(deep.as_bytes()),
            Err(TrackerError::BadResponse(_))
        ));
    }

    #[test]
    fn lengths_must_be_plain_digits_and_fit() {
        for data in [&b"d1+:ae"[..], b"d99999999999999999999999:x", b"d5:abe"] {
            assert!(Dict::decode(data).is_err(), "{data:?}");
        }
    }

    #[test]
    fn builder_output_reads_back() {
        let encoded = DictBuilder::default()
            .int("n", 300)
            .bytes("s", "text")
            .encode();
        assert_eq!(encoded, b"d1:ni300e1:s4:texte");
        let mut dict = Dict::decode(&encoded).unwrap();
        assert_eq!(dict.text("s").unwrap().as_deref(), Some("text"));
        assert_eq!(dict.int::<u32>("n").unwrap(), Some(300));
        assert_eq!(dict.int::<u32>("n").unwrap(), None);
        let mut dict = Dict::decode(&encoded).unwrap();
        assert!(dict.int::<u8>("n").is_err());
        assert!(dict.int::<u32>("s").is_err());
    }
}
