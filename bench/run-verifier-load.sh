#!/usr/bin/env bash
# The verifier service under load (README "Performance"): the landlord's rental query
# (3 credentials, direct_post.jwt) answered by a real wallet and posted by Debian's wrk to
# `kluis-verifier serve` on loopback: one instance with memory state, one with Redis, two sharing
# one Redis, and the same answers verified in process. Release build. N answers per
# configuration (default 3000), prepared before the timed run; every result is read back.
#   N=3000 THREADS=2 CONNECTIONS=16 bench/run-verifier-load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_PROFILE_DEV_DEBUG=0
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v taskset >/dev/null || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "needs Debian's ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build -q --release -p kluis-verifier-server --bin kluis-verifier
cargo build -q --release -p kluis-tests --example verifier_load
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
./target/release/examples/verifier_load --bin target/release/kluis-verifier --lua bench/verifier-load.lua \
  --n "${N:-3000}" --threads "${THREADS:-2}" --connections "${CONNECTIONS:-16}" \
  --configs "${CONFIGS:-memory,redis,two}" ${OUT:+--out "$OUT"}
