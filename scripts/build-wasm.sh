#!/usr/bin/env bash
# Builds the browser package into www/pkg: wasm-pack without downloads (the wasm-bindgen on
# PATH, no wasm-opt of its own), then binaryen's wasm-opt from npm (Debian's is too old).
#
#   scripts/build-wasm.sh            # optimised (profile wasm-release)
#   ONESHEET_WASM_PROFILE=dev ...    # quick, unoptimised
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${ONESHEET_WASM_PROFILE:-wasm-release}
case "$profile" in
  dev) profile_flag=(--dev) ;;
  *) profile_flag=(--profile "$profile") ;;
esac

wasm-pack build --target web --mode no-install --no-opt --no-pack "${profile_flag[@]}" \
  --out-dir www/pkg

if [ "$profile" != dev ]; then
  wasm=www/pkg/onesheet_bg.wasm
  # The features rustc's wasm32 target enables by default, plus SIMD (.cargo/config.toml).
  node_modules/.bin/wasm-opt -O3 "$wasm" -o "$wasm.opt" \
    --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue
  mv "$wasm.opt" "$wasm"
fi
ls -l www/pkg/onesheet_bg.wasm
printf 'gzip: %s bytes\n' "$(gzip -9 -c www/pkg/onesheet_bg.wasm | wc -c)"
