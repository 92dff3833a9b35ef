//! The payload in wasm memory, for pages without the Origin Private File System (it needs a
//! secure context: HTTPS or localhost). Only for small payloads: it is gone with the tab.

use std::cell::RefCell;

use bytes::Bytes;
use js_sys::Array;
use web_sys::File;

use super::StoreError;

/// Largest payload kept in memory.
pub const MEMORY_LIMIT: u64 = 256 << 20;

pub struct MemoryStore {
    data: RefCell<Vec<u8>>,
}

impl MemoryStore {
    pub fn new(length: u64) -> Result<Self, StoreError> {
        if length > MEMORY_LIMIT {
            return Err(StoreError::TooLargeForMemory(length));
        }
        // Bounded just above, so it fits in usize.
        Ok(Self {
            data: RefCell::new(vec![0; length as usize]),
        })
    }

    pub fn read(&self, offset: u64, len: u32) -> Result<Bytes, StoreError> {
        let data = self.data.borrow();
        range(offset, len as usize, data.len())
            .and_then(|r| data.get(r))
            .map(Bytes::copy_from_slice)
            .ok_or(StoreError::OutOfBounds)
    }

    pub fn write(&self, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let mut data = self.data.borrow_mut();
        let len = data.len();
        range(offset, bytes.len(), len)
            .and_then(|r| data.get_mut(r))
            .ok_or(StoreError::OutOfBounds)?
            .copy_from_slice(bytes);
        Ok(())
    }

    pub fn file(&self, name: &str) -> Result<File, StoreError> {
        let data = self.data.borrow();
        let bytes = js_sys::Uint8Array::from(data.as_slice());
        Ok(File::new_with_u8_array_sequence(&Array::of1(&bytes), name)?)
    }
}

fn range(offset: u64, len: usize, size: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(len)?;
    (end <= size).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_inside_the_payload() {
        assert_eq!(range(0, 10, 10), Some(0..10));
        assert_eq!(range(5, 5, 10), Some(5..10));
        assert_eq!(range(6, 5, 10), None);
        assert_eq!(range(u64::MAX, 1, 10), None);
        assert_eq!(range(1, usize::MAX, 10), None);
    }

    #[test]
    fn writes_and_reads_at_offsets_and_refuses_out_of_bounds() {
        let store = MemoryStore::new(8).unwrap();
        store.write(2, b"abc").unwrap();
        assert_eq!(&store.read(1, 4).unwrap()[..], b"\0abc");
        assert!(matches!(
            store.write(6, b"abc"),
            Err(StoreError::OutOfBounds)
        ));
        assert!(matches!(store.read(8, 1), Err(StoreError::OutOfBounds)));
        assert!(matches!(
            MemoryStore::new(MEMORY_LIMIT + 1),
            Err(StoreError::TooLargeForMemory(_))
        ));
    }
}
