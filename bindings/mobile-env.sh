# Sourced (not run) by the scripts that build libkluis_ffi.so for devices: bindings/test-aarch64.sh
# and android/kluis/build-native.sh, so the library tested under qemu, measured against the 8 MB
# goal and shipped in the AAR is built the same way (docs/BINDINGS.md "Size").
#   source bindings/mobile-env.sh; use_trimmed_openssl TARGET...

# The bundled SQLite without the extensions libsqlite3-sys switches on and the vault never uses
# (full-text search, R-tree, dbstat, STAT4, soundex): the vault needs plain
# tables, indexes and transactions.
export LIBSQLITE3_FLAGS="-USQLITE_ENABLE_FTS3 -USQLITE_ENABLE_FTS3_PARENTHESIS -USQLITE_ENABLE_FTS5 -USQLITE_ENABLE_RTREE -USQLITE_ENABLE_DBSTAT_VTAB -USQLITE_ENABLE_STAT4 -USQLITE_SOUNDEX"

# openssl-sys takes the trimmed OpenSSL of bindings/build-openssl.sh for each TARGET (built once,
# cached under target/openssl/) instead of building the full one; the vendored-openssl feature
# stays on, so the features are those of every device build.
use_trimmed_openssl() {
  local t prefix var
  for t in "$@"; do
    prefix=$("$(dirname "${BASH_SOURCE[0]}")/build-openssl.sh" "$t")
    var=$(echo "$t" | tr 'a-z-' 'A-Z_')
    export "${var}_OPENSSL_DIR=$prefix" "${var}_OPENSSL_STATIC=1" "${var}_OPENSSL_NO_VENDOR=1"
  done
}
