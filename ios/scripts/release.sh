#!/usr/bin/env bash
# Makes the iOS release artefact and points the root Package.swift at it:
#   ios/scripts/release.sh BASE_URL        e.g. https://github.com/OWNER/kluis/releases/download
# 1. builds ios/KluisFFI.xcframework (build-xcframework.sh: freshness check, mobile profile);
# 2. zips it with the framework at the archive's root, as SwiftPM expects, into
#    target/ios-release/KluisFFI.xcframework.zip;
# 3. writes version, BASE_URL and the zip's checksum into Package.swift (set-binary-target.sh).
# Then: commit Package.swift, tag v<version>, upload the zip as BASE_URL/v<version>/KluisFFI.xcframework.zip.
# macOS only (Xcode). Not run here; step 3 runs on Linux too and is tested (tests/tests/packaging.rs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
[ $# -eq 1 ] || { echo "usage: ios/scripts/release.sh BASE_URL" >&2; exit 2; }
[ "$(uname -s)" = Darwin ] || { echo "release.sh runs on macOS with Xcode" >&2; exit 1; }
ios/scripts/build-xcframework.sh
out=target/ios-release
mkdir -p "$out"
rm -f "$out/KluisFFI.xcframework.zip"
# ditto keeps the framework's symlinks and puts KluisFFI.xcframework/ at the root of the zip.
ditto -c -k --sequesterRsrc --keepParent ios/KluisFFI.xcframework "$out/KluisFFI.xcframework.zip"
ios/scripts/set-binary-target.sh "$out/KluisFFI.xcframework.zip" "$1"
echo "next: git commit Package.swift; git tag v<version>; upload $out/KluisFFI.xcframework.zip"
