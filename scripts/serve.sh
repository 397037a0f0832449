#!/usr/bin/env bash
# Sets up, builds and serves the drop page with the shipped model on http://127.0.0.1:8080/.
# Arguments go to `onesheet serve` (--port N, --host ADDR, --models DIR, ...).
#
#   scripts/serve.sh               # then open the URL it prints and drop posters on the page
#   scripts/serve.sh --port 9000
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$SECONDS"; }

step "setup"
scripts/setup.sh serve

target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"

# Both builds are long and mostly single-threaded at their ends: run them side by side.
step "wasm build, in the background (log: $target/wasm-build.log)"
scripts/build-wasm.sh >"$target/wasm-build.log" 2>&1 &
wasm_build=$!
trap 'kill "$wasm_build" 2>/dev/null || true' EXIT

step "native build (the onesheet binary)"
# The same build as scripts/test.sh's, so neither rebuilds the other's dependencies.
cargo build --workspace --locked

step "waiting for the wasm build"
if ! wait "$wasm_build"; then
  cat "$target/wasm-build.log"
  echo "the wasm build failed" >&2
  exit 1
fi
trap - EXIT
tail -n 2 "$target/wasm-build.log"

step "serving (Ctrl-C stops)"
exec "$target/debug/onesheet" serve "$@"
