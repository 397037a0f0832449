#!/usr/bin/env bash
# Builds the browser package into www/pkg: wasm-pack without downloads (the wasm-bindgen on
# PATH, no wasm-opt of its own), then binaryen's wasm-opt from npm (Debian's is too old).
# wasm-opt takes minutes: when wasm-bindgen's output is unchanged since the last build, the
# optimised www/pkg is kept as it is.
#
#   scripts/build-wasm.sh                    # optimised (profile wasm-release)
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

features=${ONESHEET_WASM_FEATURES:-}
feature_flags=()
[ -n "$features" ] && feature_flags=(-- --features "$features")

case "$target" in /*) ;; *) target=$PWD/$target ;; esac
stage=$target/wasm-pkg
rm -rf "$stage"
lint=()
[ "${ONESHEET_WASM_LINT:-}" = 1 ] && lint=(linted)
"${lint[@]}" wasm-pack build --target web --mode no-install --no-opt --no-pack "${profile_flag[@]}" \
  --out-dir "$stage" "${feature_flags[@]}"

stamp="$profile features=[$features] $(sha256sum "$stage/onesheet_bg.wasm" | cut -d' ' -f1)"
if [ -f www/pkg/onesheet_bg.wasm ] && [ "$(cat www/pkg/.built-from 2>/dev/null)" = "$stamp" ]; then
  echo "www/pkg is up to date"
else
  if [ "$profile" = wasm-release ]; then
    # The features rustc's wasm32 target enables by default, plus SIMD (.cargo/config.toml).
    node_modules/.bin/wasm-opt -O3 "$stage/onesheet_bg.wasm" -o "$stage/onesheet_bg.wasm.opt" \
      --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types --enable-multivalue
    mv "$stage/onesheet_bg.wasm.opt" "$stage/onesheet_bg.wasm"
  fi
  mkdir -p www/pkg
  rm -f www/pkg/.built-from
  cp -a "$stage/." www/pkg/
  echo "$stamp" >www/pkg/.built-from
fi
ls -l www/pkg/onesheet_bg.wasm
printf 'gzip: %s bytes\n' "$(gzip -9 -c www/pkg/onesheet_bg.wasm | wc -c)"
