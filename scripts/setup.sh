#!/usr/bin/env bash
# Installs what onesheet needs on a fresh Debian machine with Rust (rustup), pinned to exact
# versions. Idempotent: a tool already present at the pinned version is not reinstalled.
#
#   scripts/setup.sh serve   # what building and serving the page needs
#   scripts/setup.sh test    # that, plus Chromium and Mesa's software Vulkan for the tests
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_PACK_VERSION=0.15.1
# Must equal the `wasm-bindgen` crate's version in Cargo.lock exactly.
WASM_BINDGEN_VERSION=0.2.130

mode=${1:-test}
case "$mode" in serve | test) ;; *) echo "usage: $0 serve|test" >&2; exit 2 ;; esac

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# The crate's published Cargo.lock names a webpki-roots release the registry no longer has, so
# `cargo install --locked` cannot resolve it, and without --locked every dependency floats. It
# is built from its registry source with our own lockfile instead, --locked:
# scripts/wasm-bindgen-cli.lock is the published one with only webpki-roots moved to the newest
# 1.0 release still listed (1.0.10), so every dependency is pinned by version and checksum; the
# crate itself is pinned by the registry's checksum of its .crate file.
WASM_BINDGEN_CRATE_SHA256=c37f6904387d19a319525c74af274c73912f3871c35555aa49f3ea64ebb2fc7a
install_wasm_bindgen() (
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  crate=""
  # Cargo downloads crates only for a package that depends on them: a throwaway one, resolved
  # from our lockfile, so `cargo fetch` brings the crate and the versions the lockfile names.
  mkdir -p "$work/fetch/src"
  : >"$work/fetch/src/lib.rs"
  cat >"$work/fetch/Cargo.toml" <<EOF
[package]
name = "fetch-wasm-bindgen-cli"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
wasm-bindgen-cli = "=$WASM_BINDGEN_VERSION"

[workspace]
EOF
  cp scripts/wasm-bindgen-cli.lock "$work/fetch/Cargo.lock"
  cargo fetch --quiet --manifest-path "$work/fetch/Cargo.toml"
  for candidate in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"wasm-bindgen-cli-$WASM_BINDGEN_VERSION.crate"; do
    [ -f "$candidate" ] || continue
    if echo "$WASM_BINDGEN_CRATE_SHA256  $candidate" | sha256sum --check --status; then crate=$candidate; fi
  done
  if [ -z "$crate" ]; then
    echo "setup: no downloaded wasm-bindgen-cli-$WASM_BINDGEN_VERSION.crate has sha256 $WASM_BINDGEN_CRATE_SHA256" >&2
    exit 1
  fi
  tar -xzf "$crate" -C "$work" --no-same-owner
  cp scripts/wasm-bindgen-cli.lock "$work/wasm-bindgen-cli-$WASM_BINDGEN_VERSION/Cargo.lock"
  cargo install --path "$work/wasm-bindgen-cli-$WASM_BINDGEN_VERSION" --locked --force
)

# Debian packages: Chromium for the browser tests, lavapipe (Mesa's software Vulkan) so the wgpu
# backend has a real adapter on machines without a GPU, and Python's venv for the benchmark's
# smoke pass (bench/run.sh installs its pinned packages into bench/.venv).
apt_pkgs=(pkg-config)
if [ "$mode" = test ]; then
  apt_pkgs+=(chromium mesa-vulkan-drivers libvulkan1 vulkan-tools fonts-dejavu-core python3-venv)
fi
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

log "rustup target add wasm32-unknown-unknown"
rustup target add wasm32-unknown-unknown >/dev/null

# The two tools are built for this machine and run for seconds per build, so they are built
# unoptimised, without LTO: each installs in half the time of opt-level 1 (wasm-pack 50 s against
# 92 s, wasm-bindgen-cli 48 s), and wasm-bindgen then takes 13 s on the tests' 35 MB wasm
# instead of 4 s, once per build.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false
if ! wasm-pack --version 2>/dev/null | grep -qx "wasm-pack $WASM_PACK_VERSION"; then
  log "cargo install wasm-pack $WASM_PACK_VERSION"
  cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
fi
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WASM_BINDGEN_VERSION"; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (locked by scripts/wasm-bindgen-cli.lock)"
  install_wasm_bindgen
fi

# npm: binaryen's wasm-opt (Debian's is too old for this wasm-bindgen), playwright-core, which
# drives Debian's Chromium and never downloads a browser of its own, and TypeScript's tsc, which
# checks the pages' JavaScript against its JSDoc types (nothing is emitted).
log "npm ci"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
