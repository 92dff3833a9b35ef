//! A payload served from a `File` the user picked: read-only, zero-copy until a block is asked.

use bytes::Bytes;
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

use super::StoreError;

pub struct FileStore {
    file: File,
}

impl FileStore {
    pub fn new(file: File) -> Self {
        Self { file }
    }

    pub async fn read(&self, offset: u64, len: u32) -> Result<Bytes, StoreError> {
        let data = read_range(&self.file, offset, u64::from(len)).await?;
        if data.len() == len as usize {
            Ok(data)
        } else {
            Err(StoreError::Js(format!(
                "short read at {offset}: the file changed"
            )))
        }
    }

    pub fn file(&self) -> File {
        self.file.clone()
    }
}

/// Bytes `offset..offset + len` of a blob (fewer past its end).
pub async fn read_range(blob: &web_sys::Blob, offset: u64, len: u64) -> Result<Bytes, StoreError> {
    // Blob offsets are JavaScript numbers: exact up to 2^53, far past any real file.
    let end = offset.saturating_add(len);
    let slice = blob.slice_with_f64_and_f64(offset as f64, end as f64)?;
    let buffer: ArrayBuffer = JsFuture::from(slice.array_buffer()).await?.unchecked_into();
    Ok(Bytes::from(Uint8Array::new(&buffer).to_vec()))
}
