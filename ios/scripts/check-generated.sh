#!/usr/bin/env bash
# Freshness check of the committed Swift bindings (docs/BINDINGS.md).
#   ios/scripts/check-generated.sh [LIB]           fail if ios/ differs from freshly generated
#   ios/scripts/check-generated.sh --update [LIB]  regenerate ios/ in place (then commit it)
# LIB defaults to the host build, target/debug/libkluis_ffi.so on Linux or .dylib on macOS (built if
# missing). The Swift is generated from the library's uniffi metadata, which is the same on every
# platform, so Linux checks what macOS builds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
update=0
if [ "${1:-}" = "--update" ]; then update=1; shift; fi
ext=so; [ "$(uname -s)" = Darwin ] && ext=dylib
LIB=${1:-$ROOT/target/debug/libkluis_ffi.$ext}
[ -f "$LIB" ] || cargo build -q -p kluis-ffi --lib
[ -x target/debug/uniffi-bindgen ] || cargo build -q -p uniffi-bindgen

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
target/debug/uniffi-bindgen generate --no-format --library "$LIB" --language swift --out-dir "$tmp" >/dev/null

# generated file -> committed place
pairs=(
  "Kluis.swift:ios/Sources/Kluis/Kluis.swift"
  "KluisFFI.h:ios/Generated/KluisFFI.h"
  "KluisFFI.modulemap:ios/Generated/KluisFFI.modulemap"
)
stale=0
for pair in "${pairs[@]}"; do
  gen=$tmp/${pair%%:*} committed=${pair#*:}
  if [ $update -eq 1 ]; then
    mkdir -p "$(dirname "$committed")"; cp "$gen" "$committed"
  elif ! diff -q "$gen" "$committed" >/dev/null 2>&1; then
    echo "STALE: $committed differs from the Swift generated from the current Rust API" >&2
    diff -u "$committed" "$gen" 2>/dev/null | head -20 >&2 || true
    stale=1
  fi
done
if [ $update -eq 1 ]; then
  echo "regenerated: ${pairs[*]#*:}"
elif [ $stale -eq 1 ]; then
  echo "run ios/scripts/check-generated.sh --update and commit ios/" >&2
  exit 1
else
  echo "Swift bindings are fresh (${#pairs[@]} files)"
fi
