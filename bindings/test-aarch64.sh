#!/usr/bin/env bash
# The device-architecture run (issue 14 item 7; docs/BINDINGS.md "Device-architecture tests"):
# cross-compiles the library crates the phones ship (kluis-crypto, -vault, -sdjwt, -qr, -verifier,
# -core, -ffi) and their own tests for aarch64-unknown-linux-gnu with the `vendored-openssl` feature the
# Android/iOS builds use (OpenSSL built from source for the target), and runs those tests under
# qemu-user. Same CPU architecture and word size as arm64-v8a phones; the libc is glibc, not
# Bionic, so this checks the code (endianness, alignment, atomics, the vendored OpenSSL and
# SQLite built for arm64), not Android itself. The end-to-end suites (tests/, CLI) stay native.
# Idempotent; installs what is missing (Debian gcc-aarch64-linux-gnu, libc6-dev-arm64-cross,
# qemu-user; rustup's aarch64 standard library). Build output: target/aarch64-unknown-linux-gnu/.
# OpenSSL is the trimmed build the phones link (bindings/build-openssl.sh, cached under
# target/openssl/), for the tests and the library alike. Then builds libkluis_ffi.so as the phones
# get it for x86_64 and aarch64, checks its 16 KB page alignment and holds its size to a set ceiling.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

log() { printf '\n### %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
}

apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user make perl
rustup target list --installed | grep -qx "$TARGET" || {
  log "installing the Rust standard library for $TARGET"
  rustup target add "$TARGET" >&2
}

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# Every test binary runs under user-mode emulation, with the target's libc from the cross sysroot.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $SYSROOT"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# Debug info off: the emulated binaries start faster and the build is smaller.
export CARGO_PROFILE_DEV_DEBUG=0

# The phones' build settings (trimmed OpenSSL, SQLite without unused extensions): tests and library.
source bindings/mobile-env.sh

crates=(-p kluis-crypto -p kluis-vault -p kluis-sdjwt -p kluis-qr -p kluis-verifier -p kluis-core -p kluis-ffi)
features=(--features kluis-core/vendored-openssl,kluis-sdjwt/vendored-openssl,kluis-ffi/vendored-openssl)
t0=$SECONDS
log "building the trimmed OpenSSL for $TARGET (once; cached under target/openssl/)"
use_trimmed_openssl "$TARGET"
log "building the library crates' tests for $TARGET (trimmed OpenSSL, $((SECONDS - t0)) s so far)"
cargo test --no-run -q --target "$TARGET" "${crates[@]}" "${features[@]}" --lib --tests
log "built in $((SECONDS - t0)) s; running them under qemu-aarch64"
t1=$SECONDS
# Skipped: core/vault/tests/concurrency.rs `separate_processes` starts its own binary as child
# processes, which needs binfmt_misc to run an aarch64 executable (absent in containers); its
# in-process siblings run, and it runs natively in the main suite.
cargo test -q --target "$TARGET" "${crates[@]}" "${features[@]}" --lib --tests --no-fail-fast -- \
  --skip separate_processes 2>&1
log "aarch64 tests passed under qemu: build $((t1 - t0)) s, run $((SECONDS - t1)) s"

# The library as the phones get it (docs/BINDINGS.md "Packaging", "Size"): `mobile` profile, the
# trimmed OpenSSL, linked with the Android targets' 16 KB page flag (.cargo/config.toml; on these
# glibc targets it comes from the environment, for this build only), for arm64 (aarch64) and
# x86_64 (emulators, Chromebooks). Each must load on 16 KB-page devices (else the run fails) and
# is held against the 8 MB goal of issue 14 "Performance", which it misses today (README
# Performance "Bindings"): the run fails when a library grows past its ceiling below (its size
# with the trimmed OpenSSL at the end of 2026-12-03, x86_64 12,246,928 B, plus about 4% for the
# work of the next days), so growth is caught; lower a ceiling when a library shrinks, and at
# 8 MB the goal is the ceiling. The linker map beside each library says where the bytes are
# (bindings/size-report.py).
GOAL=8000000
declare -A CEILING=([aarch64-unknown-linux-gnu]=11000000 [x86_64-unknown-linux-gnu]=12740000)
mobile_lib() {
  local t=$1 var t2=$SECONDS
  var=$(echo "$t" | tr 'a-z-' 'A-Z_')
  use_trimmed_openssl "$t"
  log "building libkluis_ffi.so for $t as the phones ship it (mobile profile, fat LTO)"
  env "CARGO_TARGET_${var}_RUSTFLAGS=-C link-arg=-Wl,-z,max-page-size=16384 -C link-arg=-Wl,-Map=$ROOT/target/$t/mobile/libkluis_ffi.map" \
    cargo build -q --profile mobile -p kluis-ffi --lib --features vendored-openssl --target "$t"
  local lib=target/$t/mobile/libkluis_ffi.so size
  android/kluis/check-page-size.sh "$lib"
  size=$(stat -c %s "$lib")
  local goal="under the $GOAL-byte goal"
  [ "$size" -lt "$GOAL" ] || goal="OVER the $GOAL-byte goal"
  log "mobile library for $t: $size bytes stripped, $goal; 16 KB pages; built in $((SECONDS - t2)) s"
  if [ "$size" -gt "${CEILING[$t]}" ]; then
    log "mobile library for $t grew past its ceiling of ${CEILING[$t]} bytes: see bindings/size-report.py target/$t/mobile/libkluis_ffi.map"
    return 1
  fi
}
mkdir -p "target/$TARGET/mobile" target/x86_64-unknown-linux-gnu/mobile
mobile_lib x86_64-unknown-linux-gnu
mobile_lib "$TARGET"
