//! Where a torrent's payload lives in the browser: one file per torrent, pieces at their offsets.
//!
//! Downloads go to the Origin Private File System through a dedicated worker ([`OpfsStore`]);
//! a file the user seeds is served straight from its `File` ([`FileStore`]), never copied.

mod file;
mod opfs;

use bytes::Bytes;
use wasm_bindgen::JsValue;
use web_sys::File;

pub use file::{read_range, FileStore};
pub use opfs::OpfsStore;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Js(String),
    #[error("storage: a seeded file is read-only")]
    ReadOnly,
}

impl From<JsValue> for StoreError {
    fn from(value: JsValue) -> Self {
        Self::Js(crate::js::describe(&value))
    }
}

pub enum Store {
    Opfs(OpfsStore),
    File(FileStore),
}

impl Store {
    pub async fn read(&self, offset: u64, len: u32) -> Result<Bytes, StoreError> {
        match self {
            Self::Opfs(store) => store.read(offset, len).await,
            Self::File(store) => store.read(offset, len).await,
        }
    }

    pub async fn write(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        match self {
            Self::Opfs(store) => store.write(offset, data).await,
            Self::File(_) => Err(StoreError::ReadOnly),
        }
    }

    /// The whole payload as one `File` (a snapshot of what is stored).
    pub async fn file(&self, name: &str) -> Result<File, StoreError> {
        match self {
            Self::Opfs(store) => store.file(name).await,
            Self::File(store) => Ok(store.file()),
        }
    }
}
