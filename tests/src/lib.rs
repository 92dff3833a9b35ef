//! Harness for Bitfleet's end-to-end tests: real processes (`bitfleet`, `bitfleet-server`,
//! python libtorrent peers) talking over loopback, observed through their `--json` lines.
//!
//! Every child is wrapped in a [`Proc`] that kills it on drop, so a failing test leaves no
//! process behind.

pub mod bencode;
pub mod bins;
pub mod daemon;
pub mod events;
pub mod files;
pub mod http;
pub mod net;
pub mod netns;
pub mod process;
pub mod python;
pub mod resume_file;

use std::time::Duration;

pub use bins::{
    bitfleet, bitfleet_create, bitfleet_get, bitfleet_seed, bitfleet_serve, bitfleet_server,
    Created,
};
pub use events::{Event, Line, Started, Stats};
pub use files::{compare_trees, temp_dir, uneven_tree, write_payload, FileSpec};
pub use net::{free_port, loopback, wait_listening};
pub use process::{run, run_ok, Finished, Proc};
pub use python::{liar_peer, lt_create, lt_get, lt_info, lt_seed, LtCreate, LtTorrent};

/// For steps that should take a second or two (start-up, create, info, shutdown).
pub const TIMEOUT_QUICK: Duration = Duration::from_secs(30);
/// For a whole transfer of a test payload on loopback.
pub const TIMEOUT_TRANSFER: Duration = Duration::from_secs(180);
