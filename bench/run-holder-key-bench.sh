#!/usr/bin/env bash
# µs per KB-JWT, holder key in the core vs in a Kotlin HolderKeyStore through the uniffi foreign
# trait (issue 14 "Performance"; README Performance "Bindings"). One JVM, two wallets, the same
# presentation N times each, alternating, after a warm-up; prints medians, B - A and B / A.
#   bench/run-holder-key-bench.sh [N] [WARMUP]     (default 1000 300)
# The library is the one the apps ship: `mobile` profile with vendored OpenSSL (target/mobile,
# built if missing or stale: fat LTO, minutes); the Kotlin is generated from the debug build of the
# same checkout (the stripped library carries no uniffi metadata). The vaults live on /dev/shm when there is one, so
# that the log entry each presentation writes is not an fsync to disk on both sides.
# Installs what is missing like bindings/test-foreign.sh (Debian JNA, a JRE; npm kotlin-compiler
# into .tools/). Not a test: a benchmark, run by hand, figures go into the README.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-1000} WARMUP=${2:-300}
KOTLIN_VERSION=2.4
TOOLS=$ROOT/.tools
OUT=$ROOT/target/bench-holder-keys
export CARGO_PROFILE_DEV_DEBUG=0

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
}
apt_install libjna-java libssl-dev pkg-config make perl
command -v java >/dev/null || apt_install default-jre-headless
kc=$TOOLS/node_modules/kotlin-compiler
if ! grep -q "\"version\": \"$KOTLIN_VERSION\." "$kc/package.json" 2>/dev/null; then
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "kotlin-compiler@~$KOTLIN_VERSION" >&2
fi

# KLUIS_BENCH_LIB=debug measures the host debug build instead (no fat-LTO build; slower Rust).
if [ "${KLUIS_BENCH_LIB:-mobile}" = debug ]; then
  LIBDIR=$ROOT/target/debug
else
  echo "building kluis-ffi (mobile profile, vendored OpenSSL)" >&2
  cargo build -q --profile mobile -p kluis-ffi --lib --features vendored-openssl
  LIBDIR=$ROOT/target/mobile
fi
echo "building kluis-ffi (debug: the uniffi metadata the stripped library lacks), uniffi-bindgen, kluis-fixtures" >&2
cargo build -q -p kluis-ffi --lib
cargo build -q -p uniffi-bindgen
cargo build -q -p kluis-fixtures --bin kluis-fixtures
rm -rf "$OUT"; mkdir -p "$OUT"
# Same checkout, same API: the Kotlin generated from the debug build fits the mobile one.
target/debug/uniffi-bindgen generate --no-format --library "$ROOT/target/debug/libkluis_ffi.so" --language kotlin --out-dir "$OUT/kotlin-src" >/dev/null

J=/usr/share/java K=$kc/lib
cp_compile="$J/jna.jar:$K/kotlinx-coroutines-core-jvm.jar"
sources=()
while IFS= read -r f; do sources+=("$f"); done < <(
  find "$OUT/kotlin-src" android/kluis/src/main/kotlin -name '*.kt' -not -path '*/nl/kluis/android/*' | sort)
sources+=(android/kluis/src/test/kotlin/nl/kluis/Fixtures.kt bench/holder-keys/HolderKeyBench.kt)
echo "compiling the Kotlin" >&2
"$kc/bin/kotlinc-jvm" -nowarn -jvm-target 17 -cp "$cp_compile" -d "$OUT/classes" "${sources[@]}" >&2

shm=/dev/shm; [ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
vaults=$(mktemp -d "$shm/kluis-holder-key-bench.XXXXXX"); trap 'rm -rf "$vaults"' EXIT
echo "library $LIBDIR/libkluis_ffi.so; $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
java -Djna.library.path="$LIBDIR" -Dkluis.fixtures="$ROOT/target/debug/kluis-fixtures" \
  -Dkluis.benchDir="$vaults" -cp "$OUT/classes:$cp_compile:$K/kotlin-stdlib.jar" nl.kluis.HolderKeyBench "$N" "$WARMUP"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
