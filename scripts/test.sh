#!/usr/bin/env bash
# Sets up and runs every test on a fresh Debian machine with Rust:
# native Rust tests (CPU backend, and wgpu on a real Vulkan adapter: lavapipe without a GPU),
# then the browser tests in headless Chromium against the optimised wasm build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# A clean build gains nothing from incremental compilation's bookkeeping.
[ -n "${CI:-}" ] && export CARGO_INCREMENTAL=0

step "setup"
scripts/setup.sh test

step "cargo fmt --check"
cargo fmt --all --check

step "tsc --noEmit: the browser JavaScript against its JSDoc types"
node_modules/.bin/tsc --noEmit -p tsconfig.json
node_modules/.bin/tsc --noEmit -p tsconfig.worker.json

# Libraries, binaries and integration tests: the examples (measurements, run on their own) and
# doc tests (there are none) are left to scripts/lint.sh, which checks every target.
native_tests() {
  step "cargo build of every test target, linted (clippy's lints, warnings denied)"
  linted cargo test --workspace --locked --lib --bins --tests --no-run

  step "cargo test (native: flex and wgpu)"
  with_clippy cargo test --workspace --locked --lib --bins --tests

  step "test bundle (pretrained backbone, untrained head, f32)"
  # The binary `cargo test` built: `cargo run -p` alone would resolve features anew and rebuild.
  "$target/debug/onesheet" export --untrained-head --f32 --out "$target/test-bundle.safetensors"
}
# The browser tests drive the test-only hooks (a deliberate panic), so their wasm has them; the
# wasm crate is linted as it is built (wasm/ is empty on other targets). Both builds: the
# CPU-only www/pkg every visitor loads and www/pkg-webgpu.
# Built with the wasm-test profile: the shipped build's fat LTO and wasm-opt only buy size, and
# cost CI minutes (scripts/serve.sh builds the shipped one).
ONESHEET_WASM_PROFILE=wasm-test ONESHEET_WASM_FEATURES=testing ONESHEET_WASM_LINT=1 \
  beside_wasm_build native_tests

step "onesheet-kiosk, the kiosk binary (embeds the wasm build), linted"
# The whole workspace, so every dependency keeps the features the test build gave it: only the
# server crate and the onesheet binary build again.
linted cargo build --workspace --features onesheet-server/kiosk --locked

step "browser tests (headless Chromium; screenshots in $target/browser-artifacts)"
# The soak runs 150 posters here; its full 500-poster session is its own command (README).
# Two test files at a time: each mostly waits on one browser's single-threaded wasm, so two
# share the two cores (measured: the whole suite in 163 s instead of about 250 s).
ONESHEET_SOAK_POSTERS=${ONESHEET_SOAK_POSTERS:-150} \
  node --test --test-concurrency=2 --test-reporter=spec tests/browser/

step "benchmark smoke pass (bench/run.sh --quick: every peer's output checked against onesheet's)"
# One round of a few runs, so the suite cannot rot; the full run is its own command
# (bench/README.md). WebGPU is left out here: the browser tests cover it, and SwiftShader
# takes seconds a run.
bench/run.sh --quick --no-webgpu

step "all tests passed"
