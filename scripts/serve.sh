#!/usr/bin/env bash
# Sets up, builds and serves the three faces with the shipped model on http://127.0.0.1:8080/:
# the drop page at /, the shop widget's demo at /shop-demo.html, the kiosk at /kiosk/.
# Builds only what serving needs: the browser packages (the model runs there; the CPU one
# before serving starts, the WebGPU one while it serves) and the small server crate, whose two
# binaries are onesheet-serve (what runs here; the same server as `onesheet serve`) and
# onesheet-kiosk (the kiosk alone, with everything inside: copy it to a
# kiosk PC). The onesheet CLI (train, classify, ...) is `cargo build --release -p onesheet-cli`.
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
# The CPU build first: it is what every visitor loads, and serving starts once it is there.
ONESHEET_WASM_PACKAGES=pkg beside_wasm_build native_build

step "onesheet-kiosk (embeds the wasm build, so after it)"
cargo build -p onesheet-server --features kiosk --locked

# The WebGPU build takes longer (the wgpu stack) and only WebGPU users need it: it goes on in
# the background while the page is served. Until it is in www/pkg-webgpu, `auto` runs on the
# CPU (and does not remember that as its choice) and `?backend=webgpu` says the build is missing.
step "WebGPU build, in the background (log: $target/wasm-webgpu-build.log)"
ONESHEET_WASM_PACKAGES=pkg-webgpu nohup scripts/build-wasm.sh >"$target/wasm-webgpu-build.log" 2>&1 &

step "serving (Ctrl-C stops)"
exec "$target/debug/onesheet-serve" "$@"
