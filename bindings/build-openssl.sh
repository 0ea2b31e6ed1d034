#!/usr/bin/env bash
# Builds the OpenSSL the phones' libkluis_ffi.so links statically: the source openssl-src already
# vendors (no download), configured without what kluis never uses, for one Rust target, into a
# cached prefix (docs/BINDINGS.md "Size"). Prints the prefix; hand it to openssl-sys with
#   <TARGET>_OPENSSL_DIR=prefix <TARGET>_OPENSSL_STATIC=1 <TARGET>_OPENSSL_NO_VENDOR=1
# (TARGET upper-cased, '-' as '_'; bindings/test-aarch64.sh and android/kluis/build-native.sh do).
#   bindings/build-openssl.sh TARGET [PREFIX]
# Default prefix: target/openssl/TARGET-<version>-<config hash>; an existing one is reused, so a CI
# run or an app build compiles it once. Targets: x86_64-/aarch64-unknown-linux-gnu (host gcc,
# aarch64-linux-gnu-gcc), aarch64-linux-android, armv7-linux-androideabi, x86_64-linux-android
# (the NDK's clang for API 26, from ANDROID_NDK_HOME). CC_<target> / AR_<target> override.
#
# Kept: what kluis and its crates call. TLS 1.2/1.3 (native-tls, reqwest; the server side and its
# finite-field DH for the fixture holders the qemu tests run) with ECDHE,
# AES-GCM and ChaCha20-Poly1305; X.509 and the platform's roots; EC P-256/384/521 and secp256k1,
# X25519/Ed25519 (josekit's ECDH-ES and EdDSA), RSA (JWS RS/PS, RSA-OAEP, servers' RSA
# certificates), AES-CBC/GCM/KW, SHA-1/2/3, HMAC, HKDF, PBKDF2 (josekit PBES2), PKCS#8/#12.
# Left out: algorithms and protocols nothing in kluis reaches, each of which the default provider
# would otherwise keep alive through its dispatch tables (SM2/3/4, ML-KEM, ML-DSA, SLH-DSA, the
# legacy and national ciphers, DSA, binary curves, CMS, CMP, TS, OCSP, CT, SRP, PSK, QUIC, DTLS,
# engines, config-file autoload).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${1:?usage: build-openssl.sh TARGET [PREFIX]}

# The openssl-src version Cargo.lock pins, from the registry cargo already unpacked.
VERSION=$(awk '/^name = "openssl-src"$/ { getline; gsub(/"/, "", $3); print $3 }' "$ROOT/Cargo.lock")
SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"openssl-src-$VERSION"/openssl 2>/dev/null | head -1)
[ -n "$VERSION" ] && [ -n "$SRC" ] && [ -f "$SRC/Configure" ] || {
  echo "openssl-src $VERSION's OpenSSL source not found: run 'cargo fetch' first" >&2; exit 1; }

OPTIONS=(
  no-shared no-module no-tests no-apps no-docs no-comp no-zlib no-zlib-dynamic
  no-legacy no-ssl3 no-md2 no-rc5 no-weak-ssl-ciphers no-engine no-dso no-autoload-config
  no-sm2 no-sm3 no-sm4 no-ml-kem no-ml-dsa no-slh-dsa no-lms
  no-aria no-bf no-camellia no-cast no-des no-idea no-rc2 no-rc4 no-seed
  no-md4 no-mdc2 no-rmd160 no-whirlpool no-blake2 no-siphash no-cmac no-ocb no-scrypt
  no-dsa no-ec2m no-tls-deprecated-ec
  no-cms no-cmp no-ts no-ocsp no-http no-ct no-rfc3779 no-srp no-psk no-srtp
  no-quic no-dtls no-nextprotoneg no-ssl-trace no-ui-console no-filenames
)
# Size over peak speed for the C; each function in its own section so the link drops what is not
# reached; OPENSSL_SMALL_FOOTPRINT trades the unrolled C loops for compact ones (the assembler
# routines for AES, SHA-2 and P-256 stay).
CFLAGS_ADD=(-Os -ffunction-sections -fdata-sections -fPIC -DOPENSSL_SMALL_FOOTPRINT)

var=$(echo "$TARGET" | tr '-' '_')
ndk_cc() { # the NDK's clang for API 26
  : "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK}"
  local bin
  bin=$(ls -d "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin | head -1)
  echo "$bin/$1-clang"
}
case "$TARGET" in
  x86_64-unknown-linux-gnu)  OS=linux-x86_64;  cc=${CC:-cc}; ar=ar ;;
  aarch64-unknown-linux-gnu) OS=linux-aarch64; cc=aarch64-linux-gnu-gcc; ar=aarch64-linux-gnu-ar ;;
  aarch64-linux-android)     OS=linux-aarch64; cc=$(ndk_cc aarch64-linux-android26); ar=$(dirname "$cc")/llvm-ar ;;
  armv7-linux-androideabi)   OS=linux-armv4;   cc=$(ndk_cc armv7a-linux-androideabi26); ar=$(dirname "$cc")/llvm-ar ;;
  x86_64-linux-android)      OS=linux-x86_64;  cc=$(ndk_cc x86_64-linux-android26); ar=$(dirname "$cc")/llvm-ar ;;
  *) echo "build-openssl.sh: no OpenSSL configuration for $TARGET" >&2; exit 1 ;;
esac
cc_var=CC_$var; ar_var=AR_$var
cc=${!cc_var:-$cc}; ar=${!ar_var:-$ar}
# Android: as openssl-src does for these targets (no stdio-based file loading there).
case "$TARGET" in *android*) OPTIONS+=(no-stdio) ;; esac

hash=$(printf '%s\n' "$VERSION" "$OS" "$cc" "${OPTIONS[*]}" "${CFLAGS_ADD[*]}" | sha256sum | cut -c1-12)
PREFIX=${2:-$ROOT/target/openssl/$TARGET-$VERSION-$hash}
if [ -f "$PREFIX/lib/libcrypto.a" ] && [ -f "$PREFIX/lib/libssl.a" ]; then
  echo "$PREFIX"; exit 0
fi

BUILD=$PREFIX.build
rm -rf "$BUILD" "$PREFIX"
mkdir -p "$BUILD"
trap 'rm -rf "$BUILD"' EXIT
# Configure writes into the source tree: work on a copy, never on the cargo registry.
cp -R "$SRC/." "$BUILD/"
jobs=$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
t0=$SECONDS
(
  cd "$BUILD"
  env -u CROSS_COMPILE CC="$cc" AR="$ar" RANLIB="${ar%ar}ranlib" \
    perl ./Configure "$OS" --prefix="$PREFIX" --openssldir="$PREFIX/ssl" --libdir=lib \
    "${OPTIONS[@]}" "${CFLAGS_ADD[@]}" >&2
  make -j"$jobs" build_libs >&2
  make install_dev >&2
) || { rm -rf "$PREFIX"; exit 1; }
echo "build-openssl.sh: OpenSSL $VERSION for $TARGET in $((SECONDS - t0)) s: $PREFIX" >&2
echo "$PREFIX"
