#!/usr/bin/env bash
# Checks that shared libraries load on 16 KB-page devices (Android 15+): every LOAD segment of
# each ELF file must be aligned to a multiple of 16,384 bytes.
#   android/kluis/check-page-size.sh LIB.so...
# Exit 0: all aligned; 1: a library is 4 KB-aligned (or otherwise short), with the segments named;
# 2: a file is missing or not ELF. Needs readelf (binutils) or llvm-readelf (the NDK's).
set -euo pipefail
PAGE=16384
[ $# -gt 0 ] || { echo "usage: check-page-size.sh LIB.so..." >&2; exit 2; }
READELF=${READELF:-}
if [ -z "$READELF" ]; then
  for r in readelf llvm-readelf; do command -v "$r" >/dev/null && { READELF=$r; break; }; done
  [ -n "$READELF" ] || { echo "check-page-size.sh: needs readelf or llvm-readelf" >&2; exit 2; }
fi
status=0
for lib in "$@"; do
  [ -f "$lib" ] || { echo "$lib: missing" >&2; exit 2; }
  headers=$("$READELF" -lW "$lib" 2>/dev/null) || { echo "$lib: not an ELF file" >&2; exit 2; }
  # LOAD rows: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align (Align is the last field).
  aligns=$(awk '$1 == "LOAD" { print $NF }' <<<"$headers")
  [ -n "$aligns" ] || { echo "$lib: no LOAD segments" >&2; exit 2; }
  short=()
  while read -r a; do
    (( a % PAGE == 0 )) || short+=("$a")
  done <<<"$aligns"
  if [ ${#short[@]} -gt 0 ]; then
    echo "$lib: LOAD segments aligned to ${short[*]}, not a multiple of $PAGE (link with -Wl,-z,max-page-size=$PAGE)" >&2
    status=1
  else
    echo "$lib: $(wc -l <<<"$aligns") LOAD segments, aligned to $(sort -u <<<"$aligns" | tr '\n' ' ')(16 KB pages: ok)"
  fi
done
exit $status
