#!/usr/bin/env bash
# Sets up and runs every test on a fresh Debian machine with Rust:
# native Rust tests (CPU backend, and wgpu on a real Vulkan adapter: lavapipe without a GPU),
# then the browser tests in headless Chromium against the optimised wasm build.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$SECONDS"; }

step "setup"
scripts/setup.sh test

step "cargo fmt --check"
cargo fmt --all --check

# The wasm build and the native test build are both long and often single-crate-bound; run
# them side by side so both cores stay busy (wasm-opt alone is single-threaded for minutes).
target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target"
step "wasm build, in the background (log: $target/wasm-build.log)"
scripts/build-wasm.sh >"$target/wasm-build.log" 2>&1 &
wasm_build=$!
trap 'kill "$wasm_build" 2>/dev/null || true' EXIT

step "cargo test (native: flex and wgpu)"
cargo test --workspace --locked

step "test bundle (pretrained backbone, untrained head, f32)"
# The binary `cargo test` built: `cargo run -p` alone would resolve features anew and rebuild.
"$target/debug/onesheet" export --untrained-head --f32 --out "$target/test-bundle.safetensors"

step "waiting for the wasm build"
if ! wait "$wasm_build"; then
  cat "$target/wasm-build.log"
  echo "the wasm build failed" >&2
  exit 1
fi
tail -n 3 "$target/wasm-build.log"

step "browser tests (headless Chromium; screenshots in $target/browser-artifacts)"
node --test --test-reporter=spec tests/browser/

step "all tests passed"
