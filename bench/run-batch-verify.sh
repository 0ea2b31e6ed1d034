#!/usr/bin/env bash
# The user-visible verifier figure: `kluis verify --batch` over 2,000 presentations, whole process
# (start-up, reading, verifying on all cores, printing), release build.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build -q --release -p kluis-cli
cargo build -q --release -p kluis-tests --example make_presentations
./target/release/examples/make_presentations "$work" "$N" bench-nonce https://verhuurder.example
for run in 1 2 3; do
  start=$(date +%s.%N)
  ./target/release/kluis verify --batch "$work/presentations.txt" --nonce bench-nonce --aud https://verhuurder.example \
    --trust "$work/issuer.jwk" > "$work/summary.json"
  end=$(date +%s.%N)
  python3 - "$work/summary.json" "$start" "$end" "$N" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); wall = float(sys.argv[3]) - float(sys.argv[2]); n = int(sys.argv[4])
assert s["valid"] == n and s["invalid"] == 0, s
print(f"kluis verify --batch: {n} presentations, whole process {wall*1000:.0f} ms "
      f"({n/wall:.0f}/s; verification itself {s['elapsed_ms']:.0f} ms on {__import__('os').cpu_count()} cores)")
PY
done
