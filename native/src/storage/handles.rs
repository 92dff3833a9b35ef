//! A bounded cache of open files, least recently used out first: a torrent may have 100k files
//! and a process only so many descriptors.

use std::collections::HashMap;
use std::fs::File;

/// Open files keyed by their index in the torrent.
#[derive(Debug)]
pub struct FileHandles {
    capacity: usize,
    clock: u64,
    open: HashMap<usize, (File, u64)>,
}

impl FileHandles {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            clock: 0,
            open: HashMap::new(),
        }
    }

    /// The cached handle of `index`, or the one `open` returns (then cached, evicting the least
    /// recently used handle when full).
    pub fn get_or_open<E>(
        &mut self,
        index: usize,
        open: impl FnOnce() -> Result<File, E>,
    ) -> Result<&mut File, E> {
        self.clock += 1;
        let now = self.clock;
        if !self.open.contains_key(&index) {
            let file = open()?;
            if self.open.len() >= self.capacity {
                self.evict_oldest();
            }
            self.open.insert(index, (file, now));
        }
        let (file, last_used) = self.open.get_mut(&index).expect("inserted above");
        *last_used = now;
        Ok(file)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.open.len()
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .open
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(&index, _)| index);
        if let Some(index) = oldest {
            self.open.remove(&index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            let path = dir.path().join(name);
            move || File::create(path)
        };
        let mut handles = FileHandles::new(2);
        handles.get_or_open(0, open("a")).unwrap();
        handles.get_or_open(1, open("b")).unwrap();
        handles.get_or_open(0, open("a")).unwrap();
        handles.get_or_open(2, open("c")).unwrap();
        assert_eq!(handles.len(), 2);
        // 1 was the least recently used: opening it again must call `open`.
        let reopened = handles.get_or_open(1, || Err::<File, _>("reopened"));
        assert_eq!(reopened.err(), Some("reopened"));
        assert!(handles.get_or_open(0, || Err::<File, _>("cached")).is_ok());
    }
}
