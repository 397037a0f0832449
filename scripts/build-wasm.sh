#!/usr/bin/env bash
# Builds the browser packages from the onesheet-wasm crate (wasm/): www/pkg, CPU only (burn's
# flex with SIMD128), which every visitor loads, and www/pkg-webgpu (flex and wgpu), which
# pages fetch only where WebGPU is present and chosen; the WebGPU stack is three quarters of a
# build with both. www/pkg holds two compilations of the CPU build under one JavaScript glue:
# onesheet_bg.wasm (SIMD128) and onesheet_relaxed_bg.wasm (SIMD128 and relaxed SIMD: fused
# multiply-adds), which browsers with relaxed SIMD load instead (www/lib/worker.js); the
# crate's `relaxed-simd` feature makes the second (only onesheet-kernels' code differs, so it
# recompiles three crates: that one, the core and the binding). wasm-pack runs without
# downloads (the wasm-bindgen on PATH, no wasm-opt of its own), then binaryen's wasm-opt from
# npm (Debian's is too old). wasm-opt takes minutes: when wasm-bindgen's output is unchanged
# since the last build, the optimised package is kept as it is.
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

# compile STAGE FEATURES: wasm-pack's output for the crate with FEATURES into STAGE, its files
# named onesheet* (the names the pages and the kiosk load), not after the crate.
compile() {
  local stage=$1 features=$2
  rm -rf "$stage"
  "${lint[@]}" wasm-pack build --target web --mode no-install --no-opt --no-pack "${profile_flag[@]}" \
    --out-dir "$stage" --out-name onesheet wasm -- --no-default-features --features "$features"
}

# optimise WASM [FLAGS...]: binaryen's wasm-opt -O3 in place, with the wasm features rustc's
# wasm32 target enables by default, SIMD (.cargo/config.toml) and FLAGS.
optimise() {
  local wasm=$1
  shift
  node_modules/.bin/wasm-opt -O3 "$wasm" -o "$wasm.opt" \
    --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue "$@"
  mv "$wasm.opt" "$wasm"
}

# build NAME FEATURES [RELAXED]: the package www/NAME with the crate's FEATURES
# (comma-separated); with RELAXED, the relaxed-SIMD compilation beside the plain one.
build() {
  local name=$1 features=$2 relaxed=${3:-}
  [ -n "$extra" ] && features="$features,$extra"
  local stage=$target/wasm-$name
  compile "$stage" "$features"
  local stamp
  stamp="$profile features=[$features] $(sha256sum "$stage/onesheet_bg.wasm" | cut -d' ' -f1)"
  if [ -n "$relaxed" ]; then
    compile "$stage-relaxed" "$features,relaxed-simd"
    # One glue for both: the compilations differ in their instructions, never in their exports.
    if ! cmp -s "$stage/onesheet.js" "$stage-relaxed/onesheet.js"; then
      echo "the relaxed-SIMD compilation's JavaScript glue differs from the plain one's" >&2
      exit 1
    fi
    mv "$stage-relaxed/onesheet_bg.wasm" "$stage/onesheet_relaxed_bg.wasm"
    rm -rf "$stage-relaxed"
    stamp="$stamp $(sha256sum "$stage/onesheet_relaxed_bg.wasm" | cut -d' ' -f1)"
  fi

  if [ -f "www/$name/onesheet_bg.wasm" ] && [ "$(cat "www/$name/.built-from" 2>/dev/null)" = "$stamp" ]; then
    echo "www/$name is up to date"
  else
    if [ "$profile" = wasm-release ]; then
      optimise "$stage/onesheet_bg.wasm"
      [ -z "$relaxed" ] || optimise "$stage/onesheet_relaxed_bg.wasm" --enable-relaxed-simd
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
  for wasm in "www/$name"/*_bg.wasm; do
    printf '%s: %s bytes, gzip -9: %s bytes\n' "$wasm" "$(wc -c <"$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"
  done
}

packages=${ONESHEET_WASM_PACKAGES:-pkg pkg-webgpu}
for name in $packages; do
  case "$name" in
    pkg) build pkg flex relaxed ;;
    pkg-webgpu) build pkg-webgpu flex,wgpu ;;
    *) echo "unknown package $name (pkg or pkg-webgpu)" >&2; exit 2 ;;
  esac
done
