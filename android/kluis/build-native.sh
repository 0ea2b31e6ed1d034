#!/usr/bin/env bash
# Cross-compiles kluis-ffi for Android into <OUT>/<abi>/libkluis_ffi.so, once per release or
# whenever the Rust changes, not on every app build (docs/BINDINGS.md "Packaging").
#   android/kluis/build-native.sh [OUT_DIR]        (default: android/kluis/src/main/jniLibs, git-ignored)
# Needs: the Android NDK (ANDROID_NDK_HOME, r26 or later), cargo-ndk (`cargo install cargo-ndk`)
# and the Rust targets (`rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android`).
# `mobile` profile (opt-level s, fat LTO, stripped), API 26 (the module's minSdk). OpenSSL and
# SQLite as bindings/mobile-env.sh sets them (the trimmed OpenSSL of bindings/build-openssl.sh,
# compiled once per ABI with the NDK's clang and cached under target/openssl/): the configuration
# bindings/test-aarch64.sh tests under qemu and holds to the 8 MB goal. 16 KB pages: .cargo/config.toml
# passes -Wl,-z,max-page-size=16384 for the Android targets and check-page-size.sh refuses a
# library that came out 4 KB-aligned. Works on Linux and macOS hosts. Not run here (no NDK).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$HERE/src/main/jniLibs}
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK}"
command -v cargo-ndk >/dev/null || { echo "cargo-ndk missing: cargo install cargo-ndk" >&2; exit 1; }
if [ -n "${RUSTFLAGS:-}${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
  echo "RUSTFLAGS is set: it would replace the 16 KB page flags of .cargo/config.toml; unset it" >&2
  exit 1
fi
cd "$ROOT"
source bindings/mobile-env.sh
use_trimmed_openssl aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
cargo ndk \
  -t arm64-v8a -t armeabi-v7a -t x86_64 \
  --platform 26 \
  -o "$OUT" \
  build --profile mobile -p kluis-ffi --lib --features vendored-openssl

# The NDK's readelf when the host has no binutils (macOS).
if ! command -v readelf >/dev/null; then
  for r in "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-readelf; do
    [ -x "$r" ] && export READELF=$r
  done
fi
libs=("$OUT"/arm64-v8a/libkluis_ffi.so "$OUT"/armeabi-v7a/libkluis_ffi.so "$OUT"/x86_64/libkluis_ffi.so)
"$HERE/check-page-size.sh" "${libs[@]}"
echo "jniLibs in $OUT:"
ls -l "${libs[@]}"
