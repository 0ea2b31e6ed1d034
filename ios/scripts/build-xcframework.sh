#!/usr/bin/env bash
# Builds ios/KluisFFI.xcframework (static libraries + the generated C header and module map) for
# iOS devices, the iOS simulator (arm64 + x86_64) and macOS (for `KLUIS_LOCAL_XCFRAMEWORK=1 swift test`
# on a Mac, which the root Package.swift then uses instead of the released zip).
#   ios/scripts/build-xcframework.sh
# macOS only: needs Xcode (xcodebuild, lipo) and the Rust targets
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin
# OpenSSL is built from source for each target (feature vendored-openssl). Not run in CI here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh runs on macOS with Xcode" >&2; exit 1; }

# The committed Swift must match this library's API before we package it.
cargo build -q -p kluis-ffi --lib
ios/scripts/check-generated.sh "$ROOT/target/debug/libkluis_ffi.dylib"

build() { cargo build --profile mobile -p kluis-ffi --lib --features vendored-openssl --target "$1"; }
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
  build "$t"
done

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/headers" "$work/ios-sim" "$work/macos"
cp ios/Generated/KluisFFI.h "$work/headers/"
cp ios/Generated/KluisFFI.modulemap "$work/headers/module.modulemap"
lib=libkluis_ffi.a
lipo -create target/aarch64-apple-ios-sim/mobile/$lib target/x86_64-apple-ios/mobile/$lib -output "$work/ios-sim/$lib"
lipo -create target/aarch64-apple-darwin/mobile/$lib target/x86_64-apple-darwin/mobile/$lib -output "$work/macos/$lib"

rm -rf ios/KluisFFI.xcframework
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/mobile/$lib -headers "$work/headers" \
  -library "$work/ios-sim/$lib" -headers "$work/headers" \
  -library "$work/macos/$lib" -headers "$work/headers" \
  -output ios/KluisFFI.xcframework
echo "built ios/KluisFFI.xcframework; now: KLUIS_LOCAL_XCFRAMEWORK=1 swift test (in the repository root)"
