#!/usr/bin/env bash
# Sets up, builds and serves the three faces with the shipped model on http://127.0.0.1:8080/:
# the drop page at /, the shop widget's demo at /shop-demo.html, the kiosk at /kiosk/.
# The binary it builds (target/debug/onesheet) also runs the kiosk alone: `onesheet kiosk`.
# Arguments go to `onesheet serve` (--port N, --host ADDR, --models DIR, ...).
#
#   scripts/serve.sh               # then open the URL it prints and drop posters on the page
#   scripts/serve.sh --port 9000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "setup"
scripts/setup.sh serve

native_build() {
  step "native build (the onesheet binary)"
  # The same build as scripts/test.sh's, so neither rebuilds the other's dependencies.
  cargo build --workspace --locked
}
beside_wasm_build native_build

step "the onesheet binary with the kiosk built in (onesheet kiosk; needs the wasm build)"
cargo build --workspace --features onesheet-trainer/kiosk --locked

step "serving (Ctrl-C stops)"
exec "$target/debug/onesheet" serve "$@"
