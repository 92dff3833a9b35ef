//! Bitfleet's native client: storage, torrent creation, the tokio driver of the sans-IO engine,
//! and the `bitfleet` command line over them.

pub mod atomic_file;
pub mod cli;
pub mod create;
pub mod net;
pub mod progress;
pub mod rtc;
pub mod session;
pub mod storage;
