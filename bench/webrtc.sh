#!/usr/bin/env bash
# WebRTC throughput benchmark (native → page, page → native, native → native, page → page,
# against a plain Chromium ↔ Chromium data channel in the same run) and the page's memory while
# it holds a 1 GiB torrent. Needs root (a network namespace: Chromium gathers no ICE candidates
# on loopback alone) and Debian's chromium.
#   bench/webrtc.sh                 BENCH_MIB=128 per path; BENCH_HOLD_MIB=1024 held
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

"$repo/scripts/build-web.sh" >/dev/null
(cd "$repo" && cargo build --release -p bitfleet --bin bitfleet --example rtc_throughput \
  && cargo build --release -p bitfleet-signaling --bin bitfleet-server)
(cd "$repo/tests/browser" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
"$repo/tests/browser/netns.sh" node "$repo/bench/webrtc.mjs"
