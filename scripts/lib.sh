# Shared by scripts/serve.sh and scripts/test.sh (sourced, not run).

target=${CARGO_TARGET_DIR:-target}

step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$SECONDS"; }

# Runs "$@" while scripts/build-wasm.sh builds the browser package in the background: both
# builds are long and each is single-crate-bound for minutes (wasm-opt is single-threaded), so
# side by side they keep both cores busy. Fails if either fails.
beside_wasm_build() {
  mkdir -p "$target"
  step "wasm build, in the background (log: $target/wasm-build.log)"
  scripts/build-wasm.sh >"$target/wasm-build.log" 2>&1 &
  local wasm_build=$!
  trap 'kill "$wasm_build" 2>/dev/null || true' EXIT
  "$@"
  step "waiting for the wasm build"
  if ! wait "$wasm_build"; then
    cat "$target/wasm-build.log"
    echo "the wasm build failed" >&2
    exit 1
  fi
  trap - EXIT
  tail -n 2 "$target/wasm-build.log"
}
