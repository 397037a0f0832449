#!/usr/bin/env bash
# Sets up and runs every test on a fresh Debian machine with Rust:
# native Rust tests (CPU backend, and wgpu on a real Vulkan adapter: lavapipe without a GPU),
# then the wasm build and the browser tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$SECONDS"; }

step "setup"
scripts/setup.sh test

step "cargo fmt --check"
cargo fmt --all --check

step "cargo test (native: flex and wgpu)"
cargo test --workspace --locked

step "test bundle (pretrained backbone, untrained head, f32)"
# The binary `cargo test` built: `cargo run -p` alone would resolve features anew and rebuild.
target/debug/onesheet export --untrained-head --f32 --out target/test-bundle.safetensors

step "wasm build"
scripts/build-wasm.sh

step "browser tests (headless Chromium)"
node --test --test-reporter=spec tests/browser/

step "all tests passed"
