#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian 12, running as root. Idempotent:
# each step checks first and only installs what is missing, so a second run takes a second.
#   - the wasm32-unknown-unknown Rust target (bitfleet-core must build for browsers)
#   - python libtorrent (required: the interop tests and the benchmark use it as a stock peer)
#   - transmission-cli (optional for now: a second stock client)
#   - Debian's chromium and iproute2 (the browser tests run headless Chromium in a network
#     namespace), node/npm for their driver
set -euo pipefail

PYTHON=${BITFLEET_PYTHON:-python3}
apt_updated=false

log() { printf 'setup: %s\n' "$*"; }

apt_install() {
    if ! $apt_updated; then
        log "apt-get update"
        apt-get update -qq
        apt_updated=true
    fi
    log "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v rustup >/dev/null; then
    log "error: rustup not found; install Rust with rustup first" >&2
    exit 1
fi
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "rust target wasm32-unknown-unknown: present"
else
    log "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

if "$PYTHON" -c 'import libtorrent' 2>/dev/null; then
    log "python libtorrent: present ($("$PYTHON" -c 'import libtorrent; print(libtorrent.__version__)'))"
else
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    log "pip install libtorrent"
    # Debian's own python refuses pip installs outside a venv (PEP 668) unless told otherwise;
    # Debian's package (libtorrent 2.0) is the last resort.
    "$PYTHON" -m pip install --quiet libtorrent \
        || "$PYTHON" -m pip install --quiet --break-system-packages libtorrent \
        || apt_install python3-libtorrent
    "$PYTHON" -c 'import libtorrent' || { log "error: libtorrent still not importable" >&2; exit 1; }
fi

if command -v transmission-cli >/dev/null; then
    log "transmission-cli: present"
else
    apt_install transmission-cli || log "warning: transmission-cli not installed (optional)"
fi

if command -v chromium >/dev/null; then
    log "chromium: present"
else
    apt_install chromium
fi
if command -v ip >/dev/null; then
    log "iproute2: present"
else
    apt_install iproute2
fi
command -v npm >/dev/null || apt_install nodejs npm
