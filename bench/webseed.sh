#!/usr/bin/env bash
# Web seed benchmark: `bitfleet serve --no-seed` publishes one random file (512 MiB by default)
# on loopback; the baseline is curl fetching the same file from the server in one plain GET,
# then `bitfleet get` downloads it from the web seed alone (piece Range requests, each piece
# verified and written). Prints both times, MB/s and the ratio; the copy is checked byte for
# byte. Data lives in /dev/shm when it has room.
#   bench/webseed.sh [SIZE_MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-512}
cargo build --release --quiet -p bitfleet --bin bitfleet
bin="$PWD/target/release/bitfleet"

base=/dev/shm
if [ "$(df --output=avail -k "$base" | tail -1)" -lt $((size_mib * 2 * 1024 + 65536)) ]; then
    base=${TMPDIR:-/tmp}
fi
dir=$(mktemp -d "$base/bitfleet-webseed-bench.XXXXXX")
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/pub" "$dir/out"
head -c $((size_mib << 20)) /dev/urandom >"$dir/pub/payload.bin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve "$dir/pub/payload.bin" --listen "127.0.0.1:$port" --no-seed >"$dir/serve.log" 2>&1 &
server=$!
until curl -sf "http://127.0.0.1:$port/catalog" >/dev/null; do
    kill -0 "$server" || { cat "$dir/serve.log" >&2; exit 1; }
    sleep 0.2
done

seconds() { python3 -c "import time; print(time.monotonic())"; }
t0=$(seconds)
curl -sf -o /dev/null "http://127.0.0.1:$port/files/payload.bin"
t1=$(seconds)
"$bin" get "http://127.0.0.1:$port/t/payload.bin.torrent" --out "$dir/out" --quiet
t2=$(seconds)
cmp "$dir/pub/payload.bin" "$dir/out/payload.bin"

python3 - "$size_mib" "$t0" "$t1" "$t2" "$base" <<'PY'
import sys
size_mib, t0, t1, t2, base = int(sys.argv[1]), *map(float, sys.argv[2:5]), sys.argv[5]
mb = size_mib * 1048576 / 1e6
curl, get = t1 - t0, t2 - t1
print(f"{size_mib} MiB on loopback, data in {base}")
print(f"curl, one plain GET          {curl:6.2f} s  {mb / curl:7.1f} MB/s")
print(f"bitfleet get, web seed only  {get:6.2f} s  {mb / get:7.1f} MB/s  ({curl / get:.2f}x curl)")
PY
