#!/usr/bin/env bash
# Points the root Package.swift at a released XCFramework zip: writes the workspace version
# (root Cargo.toml [workspace.package]), the release's download base URL and SwiftPM's checksum of
# the zip (SHA-256, what `swift package compute-checksum` prints) into its three `let` lines.
#   ios/scripts/set-binary-target.sh ZIP BASE_URL [PACKAGE_SWIFT]
# The zip is then uploaded as BASE_URL/v<version>/KluisFFI.xcframework.zip. Runs on macOS and
# Linux (tests/tests/packaging.rs runs it on a dummy zip). On any error Package.swift is unchanged.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 2 ] || { echo "usage: set-binary-target.sh ZIP BASE_URL [PACKAGE_SWIFT]" >&2; exit 2; }
ZIP=$1 BASE=${2%/} MANIFEST=${3:-$ROOT/Package.swift}
[ -f "$ZIP" ] || { echo "$ZIP: missing" >&2; exit 2; }
[ -f "$MANIFEST" ] || { echo "$MANIFEST: missing" >&2; exit 2; }
# SwiftPM refuses a binary target whose archive is not a zip; refuse it here, before a release.
[ "$(head -c 4 "$ZIP" | od -An -tx1 | tr -d ' \n')" = 504b0304 ] || { echo "$ZIP: not a zip archive" >&2; exit 2; }
case $BASE in https://*) ;; *) echo "BASE_URL must be https:// (SwiftPM downloads binary targets over https only)" >&2; exit 2 ;; esac
case $BASE in *'"'*|*'\'*|*'|'*) echo "BASE_URL must not contain quotes, backslashes or |" >&2; exit 2 ;; esac

version=$(awk '/^\[workspace\.package\]/ { p = 1; next } /^\[/ { p = 0 }
  p && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.toml")
[ -n "$version" ] || { echo "no version in $ROOT/Cargo.toml [workspace.package]" >&2; exit 2; }

if command -v sha256sum >/dev/null; then sum=$(sha256sum "$ZIP" | cut -d' ' -f1)
else sum=$(shasum -a 256 "$ZIP" | cut -d' ' -f1); fi
# With a Swift toolchain at hand, SwiftPM's own answer must agree.
if command -v swift >/dev/null && swift package compute-checksum --help >/dev/null 2>&1; then
  swiftpm=$(cd "$(dirname "$MANIFEST")" && swift package compute-checksum "$(cd "$(dirname "$ZIP")" && pwd)/$(basename "$ZIP")")
  [ "$swiftpm" = "$sum" ] || { echo "checksum mismatch: sha256 $sum, swift package compute-checksum $swiftpm" >&2; exit 1; }
fi

for name in version releaseBase xcframeworkChecksum; do
  n=$(grep -c "^let $name = \"" "$MANIFEST" || true)
  [ "$n" = 1 ] || { echo "$MANIFEST: expected one 'let $name = \"...\"' line, found $n" >&2; exit 2; }
done
tmp=$(mktemp "$MANIFEST.XXXXXX"); trap 'rm -f "$tmp"' EXIT
sed -e "s|^let version = \".*\"|let version = \"$version\"|" \
    -e "s|^let releaseBase = \".*\"|let releaseBase = \"$BASE\"|" \
    -e "s|^let xcframeworkChecksum = \".*\"|let xcframeworkChecksum = \"$sum\"|" "$MANIFEST" >"$tmp"
# Copied over, not moved: the manifest keeps its mode (mktemp makes 0600 files).
cat "$tmp" >"$MANIFEST"
echo "Package.swift: version $version, $BASE/v$version/KluisFFI.xcframework.zip, checksum $sum"
