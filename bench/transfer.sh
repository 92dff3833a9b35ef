#!/usr/bin/env bash
# Loopback transfer benchmark (1 GiB single file by default): bitfleet and libtorrent as seeder
# and leecher in every pairing. Options go to the bench binary, e.g.
#   bench/transfer.sh --size-mib 256 --pairs lt-lt,bf-bf
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --workspace --bins
exec target/release/bench-transfer "$@"
