//! BEP 10 extension handshake (extended message id 0).
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// Extension name → the id the sender wants to receive it under.
    pub m: BTreeMap<String, u8>,
    /// Client name and version.
    pub v: Option<String>,
    /// The sender's listen port.
    pub p: Option<u16>,
    /// How many outstanding requests the sender accepts.
    pub reqq: Option<u32>,
    pub metadata_size: Option<u64>,
    /// Our address as the sender sees it (4 or 16 bytes).
    pub yourip: Option<Vec<u8>>,
}

impl ExtensionHandshake {
    pub fn encode(&self) -> Vec<u8> {
        todo!("formats helper")
    }
    /// Unknown keys are ignored; wrong types for known keys are errors.
    pub fn decode(payload: &[u8]) -> Result<Self, super::WireError> {
        let _ = payload;
        todo!("formats helper")
    }
}
