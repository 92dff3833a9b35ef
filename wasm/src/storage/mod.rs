//! Where a torrent's payload lives in the browser: one file per torrent, pieces at their offsets.
//!
//! Downloads go to the Origin Private File System through a dedicated worker ([`OpfsStore`]),
//! or to memory where a page has no OPFS and the payload is small ([`MemoryStore`]); a file
//! the user seeds is served straight from its `File` ([`FileStore`]), never copied.

mod file;
mod memory;
mod opfs;

use bitfleet_core::metainfo::Info;
use bitfleet_core::Bitfield;
use bytes::Bytes;
use wasm_bindgen::JsValue;
use web_sys::File;

pub use file::{read_range, FileStore};
pub use memory::MemoryStore;
pub use opfs::OpfsStore;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Js(String),
    #[error("storage: a seeded file is read-only")]
    ReadOnly,
    #[error("storage: out of the payload's bounds")]
    OutOfBounds,
    #[error(
        "no Origin Private File System on this page (it needs HTTPS or localhost), and {0} bytes \
         are too many to keep in memory"
    )]
    TooLargeForMemory(u64),
}

impl From<JsValue> for StoreError {
    fn from(value: JsValue) -> Self {
        Self::Js(crate::js::describe(&value))
    }
}

pub enum Store {
    Opfs(OpfsStore),
    Memory(MemoryStore),
    File(FileStore),
}

impl Store {
    /// Storage for a download, `name` unique to the torrent: OPFS, else memory if small.
    pub async fn for_download(name: &str, length: u64) -> Result<Self, StoreError> {
        if crate::js::has_opfs() {
            OpfsStore::open(name, length).await.map(Self::Opfs)
        } else {
            MemoryStore::new(length).map(Self::Memory)
        }
    }

    pub async fn read(&self, offset: u64, len: u32) -> Result<Bytes, StoreError> {
        match self {
            Self::Opfs(store) => store.read(offset, len).await,
            Self::Memory(store) => store.read(offset, len),
            Self::File(store) => store.read(offset, len).await,
        }
    }

    pub async fn write(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        match self {
            Self::Opfs(store) => store.write(offset, data).await,
            Self::Memory(store) => store.write(offset, data),
            Self::File(_) => Err(StoreError::ReadOnly),
        }
    }

    /// The pieces already stored and valid: a download resumed in a new tab keeps them.
    pub async fn check(&self, info: &Info) -> Bitfield {
        let count = info.piece_count();
        if !matches!(self, Self::Opfs(store) if store.found_data) {
            return Bitfield::new(count);
        }
        let mut have = Bitfield::new(count);
        for piece in 0..count {
            let offset = u64::from(piece) * u64::from(info.piece_length);
            let valid = self
                .read(offset, info.piece_size(piece))
                .await
                .is_ok_and(|data| info.verify_piece(piece, &data));
            if valid {
                have.set(piece);
            }
        }
        have
    }

    /// The whole payload as one `File` (a snapshot of what is stored).
    pub async fn file(&self, name: &str) -> Result<File, StoreError> {
        match self {
            Self::Opfs(store) => store.file(name).await,
            Self::Memory(store) => store.file(name),
            Self::File(store) => Ok(store.file()),
        }
    }
}
