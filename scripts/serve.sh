#!/usr/bin/env bash
# Builds the intranet page (wasm + web/, installing the wasm target and wasm-bindgen CLI when
# missing) and bitfleet (release), then publishes PATH...: the page at /, its catalog, the
# embedded tracker, /t/NAME.torrent, the web seed and seeding. Extra options go to
# `bitfleet serve` (default --listen 127.0.0.1:8080), e.g.
#   scripts/serve.sh /srv/releases --listen 0.0.0.0:8080 --public-url http://files.corp:8080
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 PATH... [--listen ADDR] [--public-url URL] [--peer-port N] [--up-limit RATE] [--data-dir DIR] [--page DIR] [--no-seed]" >&2
    exit 1
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/build-web.sh"
exec cargo run --release --quiet --manifest-path "$root/Cargo.toml" -p bitfleet -- serve "$@"
