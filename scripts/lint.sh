#!/usr/bin/env bash
# clippy on the whole workspace, natively (every target: libs, binaries, tests) and for
# wasm32-unknown-unknown (the browser API, wasm/, exists only there) in both of its builds
# (CPU only, and with WebGPU), denying warnings; and the browser JavaScript in www/ against its
# JSDoc types with TypeScript's compiler (nothing emitted: the pages load the files as they are).
# scripts/test.sh gets the same lints for free by compiling its own builds through
# clippy-driver (scripts/lib.sh: `linted`).
set -euo pipefail
cd "$(dirname "$0")/.."
# The pages, then the two workers (a worker's globals are not a window's: tsconfig.json says why).
node_modules/.bin/tsc --noEmit -p tsconfig.json
node_modules/.bin/tsc --noEmit -p tsconfig.worker.json
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p onesheet-wasm --lib --target wasm32-unknown-unknown --features testing --locked -- -D warnings
cargo clippy -p onesheet-wasm --lib --target wasm32-unknown-unknown --no-default-features \
  --features flex,testing --locked -- -D warnings
# The CPU build's relaxed-SIMD compilation changes onesheet-kernels' code (FMA, another tile).
cargo clippy -p onesheet-kernels --all-targets --target wasm32-unknown-unknown --features relaxed-simd \
  --locked -- -D warnings
