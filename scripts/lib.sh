# Shared by scripts/serve.sh and scripts/test.sh (sourced, not run).

target=${CARGO_TARGET_DIR:-target}

step() { printf '\n\033[1m==> %s\033[0m (%ss)\n' "$*" "$SECONDS"; }

# Runs "$@" while scripts/build-wasm.sh builds the browser packages (ONESHEET_WASM_PACKAGES,
# default both) in the background: both
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

# Runs a cargo build ("$@") with clippy-driver compiling the workspace's own crates (cargo's
# RUSTC_WORKSPACE_WRAPPER: dependencies are compiled by plain rustc, as ever) and fails on any
# warning. The build under test is the build linted: no second compilation of the dependencies
# just to lint. scripts/lint.sh is the same check as plain `cargo clippy`.
linted() {
  local log
  log=$(mktemp)
  if ! with_clippy "$@" 2>&1 | tee "$log"; then
    rm -f "$log"
    return 1
  fi
  if grep -q '^warning' "$log"; then
    echo "lint warnings in the build above (the workspace denies them; scripts/lint.sh shows them with clippy)" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# Runs "$@" with clippy-driver as the workspace's compiler, without checking for warnings: for
# the commands after a `linted` build, which must not rebuild what it built.
with_clippy() {
  RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver) "$@"
}
