#!/usr/bin/env bash
# The benchmark in one command: installs its own pinned tools (npm ci from bench/package-lock.json,
# a Python venv at bench/.venv from bench/requirements.txt), builds the peers' models from
# ../shared's pretrained weights (prepare.py, into bench/build/), then runs run.mjs.
#
#   bench/run.sh            # full run: 3 rounds x (5 warm-up + 30 runs), 100 posters natively
#   bench/run.sh --quick    # CI: 1 round x (2 + 5), 20 posters; still fails on a feature mismatch
#
# Needs: node (20+), python3 with venv, Debian's chromium at /usr/bin/chromium (or $CHROMIUM),
# onesheet's wasm build in www/pkg (scripts/build-wasm.sh; www/pkg-webgpu for WebGPU) and the
# native binary (target/release/onesheet if built, else target/debug/onesheet) for the native part.
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
SHARED="${ONESHEET_SHARED:-$ROOT/../shared}"
cd "$BENCH"

fail() { echo "bench: $*" >&2; exit 1; }
[[ -f "$ROOT/www/pkg/onesheet_bg.wasm" ]] || fail "www/pkg is not built (scripts/build-wasm.sh)"
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || fail "no Chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)"
[[ -d "$SHARED/data/posters/images" ]] || fail "no posters under $SHARED (set ONESHEET_SHARED)"

# Reinstall only when a lockfile changed since the last install (a stamp beside what it installed).
if ! cmp -s package-lock.json node_modules/.bench-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.bench-lock
fi
if ! cmp -s requirements.txt .venv/.bench-requirements 2>/dev/null; then
  rm -rf .venv
  python3 -m venv .venv
  # Every package, transitive ones too, pinned with its PyPI hashes (compiled from requirements.in):
  # a file whose hash is not listed, or a package not listed, stops the install.
  .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
  cp requirements.txt .venv/.bench-requirements
fi

# The poster every runtime is given: the first of the posters, sorted (as the native part starts).
poster="$(find "$SHARED/data/posters/images" -maxdepth 1 -name '*.jpg' | LC_ALL=C sort | sed -n 1p)"
.venv/bin/python prepare.py --poster "$poster" --bundle "$ROOT/models/onesheet.safetensors"
exec node run.mjs "$@"
