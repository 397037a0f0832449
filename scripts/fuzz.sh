#!/usr/bin/env bash
# Fuzzes what an attacker controls, with cargo-fuzz (libFuzzer + AddressSanitizer, rustup's
# nightly toolchain; the product itself builds on stable):
#   image   image bytes → model input (decode and resize budgets)
#   bundle  bundle bytes → loaded model (header, manifest sanity, checksum, weights)
#   http    raw client bytes → hyper's parser → `onesheet serve`'s handler
#
#   scripts/fuzz.sh              # each target for 600 s (the hardening issue's soak)
#   scripts/fuzz.sh 30           # the smoke pass: builds every target, 30 s each
#   scripts/fuzz.sh 600 http     # one target
#
# Not part of scripts/test.sh: building the targets compiles every dependency again with
# nightly and sanitizer instrumentation (~20 minutes on 2 cores), which would push CI past its
# time budget. Findings land in fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(image bundle http)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo +nightly install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# Seeds: the wasm warm-up images (a JPEG, a PNG, a WebP) and small hand-made requests and headers.
seeds_for() {
  case "$1" in
    image) echo wasm/warmup ;;
    *) echo "fuzz/seeds/$1" ;;
  esac
}

for target in "${targets[@]}"; do
  printf '\n==> fuzzing %s for %s s\n' "$target" "$seconds"
  mkdir -p "fuzz/corpus/$target"
  # -rss_limit_mb: the decode budget is 64 MiB in the target; anything near 2 GiB is a bug.
  cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "$(seeds_for "$target")" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -max_len=262144 -print_final_stats=1
done
