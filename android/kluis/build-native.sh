#!/usr/bin/env bash
# Cross-compiles kluis-ffi for Android into jniLibs/<abi>/libkluis_ffi.so.
#   android/kluis/build-native.sh [OUT_DIR]        (default: android/kluis/build/rustJniLibs)
# Needs: the Android NDK (ANDROID_NDK_HOME), cargo-ndk (`cargo install cargo-ndk`) and the Rust
# targets (`rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android`).
# OpenSSL is built from source for the device (feature vendored-openssl). Release profile,
# stripped. Not run in CI: device targets cannot be built on the CI machine.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$HERE/build/rustJniLibs}
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK}"
command -v cargo-ndk >/dev/null || { echo "cargo-ndk missing: cargo install cargo-ndk" >&2; exit 1; }
cd "$ROOT"
cargo ndk \
  -t arm64-v8a -t armeabi-v7a -t x86_64 \
  --platform 26 \
  -o "$OUT" \
  build --profile mobile -p kluis-ffi --lib --features vendored-openssl
echo "jniLibs in $OUT:"
find "$OUT" -name '*.so' -exec ls -l {} \;
