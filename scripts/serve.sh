#!/usr/bin/env bash
# Builds bitfleet (release) and publishes PATH...: embedded tracker, /t/NAME.torrent, seeding.
# Extra options go to `bitfleet serve` (default --listen 127.0.0.1:8080), e.g.
#   scripts/serve.sh /srv/releases --listen 0.0.0.0:8080 --up-limit 50M
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 PATH... [--listen ADDR] [--peer-port N] [--up-limit RATE] [--data-dir DIR]" >&2
    exit 1
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
exec cargo run --release --quiet --manifest-path "$root/Cargo.toml" -p bitfleet -- serve "$@"
