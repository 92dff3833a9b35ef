#!/usr/bin/env bash
# Runs every browser test: builds the page and the tracker, installs the test driver, then the
# smoke tests and, inside a network namespace, the WebRTC swarm tests (browsers, then browsers
# with natives). Needs root and Debian's chromium (apt-get install -y chromium).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../.."

"$repo/scripts/build-web.sh"
# Release builds: CI has them already (scripts/test-all.sh); a debug build would start cold.
(cd "$repo" && cargo build --release -p bitfleet-signaling -p bitfleet --bins)
target="${CARGO_TARGET_DIR:-$repo/target}"
export BITFLEET_SERVER="${BITFLEET_SERVER:-$target/release/bitfleet-server}"
export BITFLEET_BIN="${BITFLEET_BIN:-$target/release/bitfleet}"
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)

cd "$here"
node --test smoke.test.mjs
"$here/netns.sh" node --test swarm.test.mjs webseed.test.mjs
"$here/netns.sh" node --test native.test.mjs
