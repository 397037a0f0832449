#!/usr/bin/env bash
# Sets up, builds and serves the three faces with the shipped model on http://127.0.0.1:8080/:
# the drop page at /, the shop widget's demo at /shop-demo.html, the kiosk at /kiosk/.
# Builds only what serving needs: the browser package (the model runs there) and the small
# server crate, whose two binaries are onesheet-serve (what runs here; the same server as
# `onesheet serve`) and onesheet-kiosk (the kiosk alone, with everything inside: copy it to a
# kiosk PC). The onesheet CLI (train, classify, ...) is `cargo build --release -p onesheet-trainer`.
# Arguments go to onesheet-serve (--port N, --host ADDR, --models DIR, ...).
#
#   scripts/serve.sh               # then open the URL it prints and drop posters on the page
#   scripts/serve.sh --port 9000
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

step "setup"
scripts/setup.sh serve

native_build() {
  step "native build (the server)"
  cargo build -p onesheet-server --locked
}
beside_wasm_build native_build

step "onesheet-kiosk (embeds the wasm build, so after it)"
cargo build -p onesheet-server --features kiosk --locked

step "serving (Ctrl-C stops)"
exec "$target/debug/onesheet-serve" "$@"
