#!/usr/bin/env bash
# Builds the browser client into web/pkg (wasm + its JavaScript bindings) for the intranet page.
# Idempotent: installs the wasm target and the wasm-bindgen CLI only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-release}

rustup target add wasm32-unknown-unknown >/dev/null

# The CLI must be exactly the version of the wasm-bindgen crate the build links, or the
# bindings it generates do not match the module.
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$version" ]; then
  echo "error: no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  # Not --locked: one of the CLI's locked dependencies is not served by every registry mirror.
  cargo install wasm-bindgen-cli --version "$version"
fi

cargo build -p bitfleet-wasm --target wasm32-unknown-unknown --profile "$profile"
wasm-bindgen --target web --out-dir web/pkg --no-typescript \
  "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/$profile/bitfleet_wasm.wasm"
echo "built web/pkg ($(du -h web/pkg/bitfleet_wasm_bg.wasm | cut -f1) of wasm)"
