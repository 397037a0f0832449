#!/usr/bin/env bash
# onesheet-serve (release) under each abuse of the hardening issue, one client at a time, while
# a visitor keeps downloading the wasm and a small file: the visitor's times and the server's
# memory (server/examples/abuse.rs; results in bench/results/server-abuse.md).
#
#   bench/server-abuse.sh [SECONDS_PER_ABUSE]    # default 20; about 2.5 minutes after building
#
# Serves www/ and models/ as they are: run scripts/build-wasm.sh first (scripts/serve.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
target=${CARGO_TARGET_DIR:-target}

cargo build --release --locked -p onesheet-server --bin onesheet-serve --example abuse
wasm=/pkg/onesheet_bg.wasm
[ -f "www$wasm" ] || { echo "www$wasm is missing: run scripts/build-wasm.sh" >&2; exit 1; }

log=$(mktemp)
"$target/release/onesheet-serve" --port 0 >"$log" 2>"$log.err" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log" "$log.err"' EXIT
for _ in $(seq 100); do grep -q '^http://' "$log" && break; sleep 0.1; done
address=$(head -n1 "$log" | sed -e 's|^http://||' -e 's|/$||')
echo "onesheet-serve $address (pid $server), $seconds s per abuse"
mkdir -p bench/results
"$target/release/examples/abuse" --address "$address" --pid "$server" --seconds "$seconds" \
  --wasm "$wasm" --model /models/onesheet.safetensors --small /lib/simd.js |
  tee bench/results/server-abuse.md
echo "the server's own log said:"
sort "$log.err" | uniq -c | sort -rn | head -n 10
