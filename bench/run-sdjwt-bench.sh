#!/usr/bin/env bash
# kluis-sdjwt against its floor (P-256 ECDSA via `openssl speed`) and its peers (the Python
# reference sd-jwt 0.10.4 and @sd-jwt/sd-jwt-vc 0.19.0 on Node), same workload
# (bench/sdjwt-peers/workload.json), one core each. Prints figures and ratios.
#
# Needs: cargo; python3 with `pip install sd-jwt==0.10.4`; node + npm (installs
# bench/sdjwt-peers/node_modules from its package-lock on first run).
# Env: PEER_SECONDS (default 3) per peer operation; SKIP_PEERS=1 for the Rust side only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peers=bench/sdjwt-peers
target=${CARGO_TARGET_DIR:-$root/target}

echo "machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Floor. `openssl speed` prints "sign verify sign/s verify/s" for 256 bits.
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ {print $(NF-1), $NF}')
read -r sign_s verify_s <<<"$speed"
floor_sign=$(awk -v s="$sign_s" 'BEGIN {printf "%.1f", 1e6 / s}')
floor_verify=$(awk -v s="$verify_s" 'BEGIN {printf "%.1f", 1e6 / s}')
echo "openssl speed ecdsap256: sign ${floor_sign} µs, verify ${floor_verify} µs"

# kluis (criterion; medians from its estimates).
log="$target/sdjwt-bench.log"
cargo bench -p kluis-sdjwt --bench sdjwt -- --noplot >"$log" 2>&1 || { cat "$log"; exit 1; }
est() { python3 -c "import json,sys; print('%.1f' % (json.load(open(sys.argv[1]))['median']['point_estimate'] / 1000))" "$target/criterion/sdjwt/$1/new/estimates.json"; }
k_issue=$(est issue); k_present=$(est present); k_verify=$(est verify_presentation)
b_sign=$(est floor_ecdsa_p256_sign); b_verify=$(est floor_ecdsa_p256_verify)
echo "kluis-sdjwt: issue ${k_issue} µs, present ${k_present} µs, verify ${k_verify} µs (in-process floor: sign ${b_sign} µs, verify ${b_verify} µs)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "targets: present/sign = $(ratio "$k_present" "$b_sign") (openssl speed: $(ratio "$k_present" "$floor_sign")), goal <= 1.5"
echo "         verify/(2 verifies) = $(ratio "$k_verify" "$(awk -v v="$b_verify" 'BEGIN {print 2 * v}')") (openssl speed: $(ratio "$k_verify" "$(awk -v v="$floor_verify" 'BEGIN {print 2 * v}')")), goal <= 1.5"

[ "${SKIP_PEERS:-0}" = 1 ] && exit 0

field() { python3 -c "import json,sys; print('%.1f' % json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
report() {
  local name=$1 json=$2
  local i p v
  i=$(field "$json" issue_us); p=$(field "$json" present_us); v=$(field "$json" verify_us)
  echo "$name: issue ${i} µs, present ${p} µs, verify ${v} µs"
  echo "  kluis speed-up: issue $(ratio "$i" "$k_issue")x, present $(ratio "$p" "$k_present")x, verify $(ratio "$v" "$k_verify")x (goal >= 4x)"
}

py=$(taskset -c 0 python3 "$peers/bench_python.py" 2>/dev/null || python3 "$peers/bench_python.py")
report "python sd-jwt 0.10.4" "$py"

if [ ! -d "$peers/node_modules/@sd-jwt/sd-jwt-vc" ]; then
  (cd "$peers" && npm ci --no-audit --no-fund >/dev/null)
fi
nd=$(taskset -c 0 node "$peers/bench_node.mjs" 2>/dev/null || node "$peers/bench_node.mjs")
report "node @sd-jwt/sd-jwt-vc 0.19.0" "$nd"
