#!/usr/bin/env bash
# The foreign-language tests of kluis-ffi (docs/BINDINGS.md):
#   1. Kotlin on the JVM against the host library (JUnit 4, JNA; kotlinc from npm, no Gradle);
#   2. Python (pytest) against the same library;
#   3. the Swift freshness check (the committed ios/ sources must equal freshly generated ones).
# Idempotent; installs what is missing (Debian packages, kotlin-compiler from npm into .tools/,
# pytest from PyPI); no stdin needed. Kotlin and Python bindings are generated here, into
# target/foreign/, never committed. Reruns reuse the compiled Kotlin when nothing changed.
# Exit status: 0 only if every suite passed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/target/foreign
KOTLIN_VERSION=2.4
TOOLS=$ROOT/.tools

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

install_tools() {
  # JNA, JUnit 4 and Hamcrest for the JVM tests; OpenSSL headers for the core's build.
  apt_install libjna-java junit4 libhamcrest-java libssl-dev pkg-config
  command -v java >/dev/null || apt_install default-jre-headless
  local kc=$TOOLS/node_modules/kotlin-compiler
  if ! grep -q "\"version\": \"$KOTLIN_VERSION\." "$kc/package.json" 2>/dev/null; then
    log "installing kotlin-compiler $KOTLIN_VERSION.x from npm into .tools/"
    mkdir -p "$TOOLS"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS" "kotlin-compiler@~$KOTLIN_VERSION" >&2
  fi
  KOTLIN_HOME=$kc
  python3 -c 'import pytest' 2>/dev/null || {
    log "installing pytest"
    python3 -m pip install -q --disable-pip-version-check pytest >&2
  }
}

build_and_generate() {
  log "building kluis-ffi (host cdylib), uniffi-bindgen, the sample issuer and kluis-fixtures"
  cargo build -q -p kluis-ffi --lib --example sample_issuer
  cargo build -q -p uniffi-bindgen
  # The simulated holders (and requesting parties) the collecting tests run as child processes.
  cargo build -q -p kluis-fixtures --bin kluis-fixtures
  # The host build: Linux .so, macOS .dylib (the JVM and Python load either through JNA/ctypes).
  local ext=so; [ "$(uname -s)" = Darwin ] && ext=dylib
  LIB=$ROOT/target/debug/libkluis_ffi.$ext
  ISSUER=$ROOT/target/debug/examples/sample_issuer
  FIXTURES=$ROOT/target/debug/kluis-fixtures
  rm -rf "$OUT/kotlin-src" "$OUT/python"
  # --no-format: output must not depend on whether ktlint/swift-format happen to be installed.
  for lang in kotlin python; do
    local dir=$OUT/$lang; [ "$lang" = kotlin ] && dir=$OUT/kotlin-src
    target/debug/uniffi-bindgen generate --no-format --library "$LIB" --language "$lang" --out-dir "$dir" >/dev/null
  done
  cp "$LIB" "$OUT/python/"
}

run_kotlin() {
  log "Kotlin: JUnit 4 tests on the JVM (android/kluis/src/test)"
  local J=/usr/share/java K=$KOTLIN_HOME/lib
  local cp_compile="$J/jna.jar:$J/junit4.jar:$J/hamcrest-core.jar:$K/kotlinx-coroutines-core-jvm.jar"
  # Pure-Kotlin sources of the module (the Android-only ones live under nl/kluis/android/).
  local sources=()
  while IFS= read -r f; do sources+=("$f"); done < <(
    find "$OUT/kotlin-src" android/kluis/src/main/kotlin android/kluis/src/test/kotlin -name '*.kt' \
      -not -path '*/nl/kluis/android/*' 2>/dev/null | sort)
  local key
  key=$( { cat "$KOTLIN_HOME/package.json"; cat "${sources[@]}"; } | sha256sum | cut -c1-16)
  local classes=$OUT/kotlin-classes/$key
  if [ ! -f "$classes/.complete" ]; then
    rm -rf "$OUT/kotlin-classes"; mkdir -p "$classes"
    "$KOTLIN_HOME/bin/kotlinc-jvm" -nowarn -jvm-target 17 -cp "$cp_compile" -d "$classes" "${sources[@]}" >&2
    touch "$classes/.complete"
  else
    echo "(compiled classes reused: sources unchanged)" >&2
  fi
  local tests=()
  while IFS= read -r f; do tests+=("nl.kluis.$(basename "$f" .kt)"); done < <(
    find android/kluis/src/test/kotlin -name '*Test.kt' | sort)
  java -Djna.library.path="$ROOT/target/debug" -Dkluis.sampleIssuer="$ISSUER" \
    -Dkluis.fixtures="$FIXTURES" -Dkluis.typeMetadataDir="$ROOT/fixtures/metadata" \
    -cp "$classes:$cp_compile:$K/kotlin-stdlib.jar" nl.kluis.JvmTestMain "${tests[@]}"
}

run_python() {
  log "Python: pytest against the same library (bindings/python/tests)"
  KLUIS_PY_BINDINGS=$OUT/python KLUIS_SAMPLE_ISSUER=$ISSUER KLUIS_FIXTURES=$FIXTURES \
    python3 -m pytest -q -p no:cacheprovider bindings/python/tests
}

run_swift_check() {
  log "Swift: committed ios/ sources are fresh"
  ios/scripts/check-generated.sh "$LIB"
}

install_tools
build_and_generate
failed=()
run_kotlin || failed+=(kotlin)
run_python || failed+=(python)
run_swift_check || failed+=(swift-freshness)
if [ ${#failed[@]} -gt 0 ]; then
  log "foreign-language checks FAILED: ${failed[*]}"
  exit 1
fi
log "foreign-language checks passed (Kotlin, Python, Swift freshness)"
