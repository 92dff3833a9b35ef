#!/usr/bin/env bash
# Runs every check: setup, formatting, release build, all tests (unit, property, end-to-end
# with real processes on loopback), the wasm build of the core, and clippy. Stops at the first
# failure. The end-to-end tests drive the release binaries, so they are built first.
set -euo pipefail
cd "$(dirname "$0")/.."
# Test failures carry anyhow errors with the child's stderr; their backtraces only add noise.
export RUST_LIB_BACKTRACE="${RUST_LIB_BACKTRACE:-0}"

step() {
    printf '\n==> %s  (%ss elapsed)\n' "$*" "$SECONDS"
}

step "setup"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo build --release (binaries for the end-to-end tests)"
cargo build --workspace --release --bins

step "cargo test --release"
cargo test --workspace --release --no-fail-fast

step "cargo build bitfleet-core for wasm32-unknown-unknown"
cargo build -p bitfleet-core --target wasm32-unknown-unknown

step "browser tests (headless Chromium, WebRTC inside a network namespace)"
tests/browser/run.sh

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "all checks passed"
