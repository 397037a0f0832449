#!/usr/bin/env bash
# Builds the browser packages: www/pkg, CPU only (burn's flex with SIMD128), which every
# visitor loads, and www/pkg-webgpu (flex and wgpu), which pages fetch only where WebGPU is
# present and chosen; the WebGPU stack is three quarters of a build with both. wasm-pack
# runs without downloads (the wasm-bindgen on PATH, no wasm-opt of its own), then binaryen's
# wasm-opt from npm (Debian's is too old). wasm-opt takes minutes: when wasm-bindgen's output
# is unchanged since the last build, the optimised package is kept as it is.
#
#   scripts/build-wasm.sh                    # both packages, optimised (profile wasm-release)
#   ONESHEET_WASM_PACKAGES=pkg ...           # only the CPU package (pkg-webgpu: only that one)
#   ONESHEET_WASM_PROFILE=dev ...            # quick, unoptimised
#   ONESHEET_WASM_PROFILE=wasm-test ...      # optimised, without fat LTO and wasm-opt (the tests')
#   ONESHEET_WASM_FEATURES=testing ...       # with the browser tests' hooks (scripts/test.sh)
#   ONESHEET_WASM_LINT=1 ...                 # compiled through clippy, warnings fail the build
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

profile=${ONESHEET_WASM_PROFILE:-wasm-release}
case "$profile" in
  dev) profile_flag=(--dev) ;;
  *) profile_flag=(--profile "$profile") ;;
esac
extra=${ONESHEET_WASM_FEATURES:-}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
lint=()
[ "${ONESHEET_WASM_LINT:-}" = 1 ] && lint=(linted)

# build NAME FEATURES: the package www/NAME with the crate's FEATURES (comma-separated).
build() {
  local name=$1 features=$2
  [ -n "$extra" ] && features="$features,$extra"
  local stage=$target/wasm-$name
  rm -rf "$stage"
  "${lint[@]}" wasm-pack build --target web --mode no-install --no-opt --no-pack "${profile_flag[@]}" \
    --out-dir "$stage" -- --no-default-features --features "$features"

  local stamp
  stamp="$profile features=[$features] $(sha256sum "$stage/onesheet_bg.wasm" | cut -d' ' -f1)"
  if [ -f "www/$name/onesheet_bg.wasm" ] && [ "$(cat "www/$name/.built-from" 2>/dev/null)" = "$stamp" ]; then
    echo "www/$name is up to date"
  else
    if [ "$profile" = wasm-release ]; then
      # The features rustc's wasm32 target enables by default, plus SIMD (.cargo/config.toml).
      node_modules/.bin/wasm-opt -O3 "$stage/onesheet_bg.wasm" -o "$stage/onesheet_bg.wasm.opt" \
        --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
        --enable-mutable-globals --enable-reference-types --enable-multivalue
      mv "$stage/onesheet_bg.wasm.opt" "$stage/onesheet_bg.wasm"
    fi
    # Swapped in whole: a server may be serving the old package meanwhile (scripts/serve.sh
    # builds pkg-webgpu while it serves), and a new script with an old wasm would not start.
    echo "$stamp" >"$stage/.built-from"
    rm -rf "www/.$name.new" "www/.$name.old"
    cp -a "$stage" "www/.$name.new"
    if [ -d "www/$name" ]; then mv "www/$name" "www/.$name.old"; fi
    mv "www/.$name.new" "www/$name"
    rm -rf "www/.$name.old"
  fi
  printf 'www/%s/onesheet_bg.wasm: %s bytes, gzip -9: %s bytes\n' "$name" \
    "$(wc -c <"www/$name/onesheet_bg.wasm")" "$(gzip -9 -c "www/$name/onesheet_bg.wasm" | wc -c)"
}

packages=${ONESHEET_WASM_PACKAGES:-pkg pkg-webgpu}
for name in $packages; do
  case "$name" in
    pkg) build pkg flex ;;
    pkg-webgpu) build pkg-webgpu flex,wgpu ;;
    *) echo "unknown package $name (pkg or pkg-webgpu)" >&2; exit 2 ;;
  esac
done
