#!/usr/bin/env bash
# Runs every browser test: builds the page and the tracker, installs the test driver, then the
# smoke tests and, inside a network namespace, the WebRTC swarm tests. Needs root and Debian's
# chromium (apt-get install -y chromium).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../.."

"$repo/scripts/build-web.sh"
(cd "$repo" && cargo build -p bitfleet-signaling --bin bitfleet-server)
(cd "$repo" && cargo build --release -p bitfleet --bin bitfleet)
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)

cd "$here"
node --test smoke.test.mjs
"$here/netns.sh" node --test swarm.test.mjs webseed.test.mjs
