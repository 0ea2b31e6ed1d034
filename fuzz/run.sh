#!/usr/bin/env bash
# Builds the fuzz targets and runs each, one after the other, for a set time.
#   fuzz/run.sh TARGET... [SECONDS]     e.g. fuzz/run.sh sdjwt qr 600;  fuzz/run.sh all 20
# Needs the nightly toolchain and cargo-fuzz (installed here if missing). The committed seeds
# in fuzz/corpus/<target>/ are read only; what the fuzzer finds goes to fuzz/work/<target>/
# (not committed). A crash, hang (> 10 s) or out-of-memory (> 2 GiB) stops with exit 1 and
# leaves the input in fuzz/artifacts/<target>/; copy it to fuzz/regressions/<target>/ with
# the fix. Every file in fuzz/regressions/<target>/ is replayed before fuzzing.
# FUZZ_NO_BUILD=1 skips the build and runs the binaries already in fuzz/target.
set -euo pipefail
cd "$(dirname "$0")"

ALL=(sdjwt offer_metadata dcql qr vault_record scheme_list status_list openid4vp mandate backup)
secs=60
targets=()
for a in "$@"; do
    if [[ "$a" =~ ^[0-9]+$ ]]; then secs=$a
    elif [[ "$a" == all ]]; then targets+=("${ALL[@]}")
    else targets+=("$a"); fi
done
[[ ${#targets[@]} -gt 0 ]] || { echo "usage: fuzz/run.sh TARGET...|all [SECONDS]; targets: ${ALL[*]}" >&2; exit 2; }

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
    cargo install --locked cargo-fuzz
fi
# FUZZ_DEV=1 (CI): unoptimised build without AddressSanitizer — about a third of the build
# time, slower executions; enough for a short regression run. Default: optimised, with ASan.
if [[ -n "${FUZZ_DEV:-}" ]]; then
    build=(--dev -s none); bin=target/x86_64-unknown-linux-gnu/debug
else
    build=(-O); bin=target/x86_64-unknown-linux-gnu/release
fi
if [[ -n "${FUZZ_NO_BUILD:-}" ]]; then
    : # use the binaries already built (e.g. while others are mid-edit in the tree)
elif [[ ${#targets[@]} -eq 1 ]]; then
    nice -n 10 cargo +nightly fuzz build "${build[@]}" "${targets[0]}"
else
    nice -n 10 cargo +nightly fuzz build "${build[@]}"
fi

status=0
for t in "${targets[@]}"; do
    mkdir -p "work/$t" "artifacts/$t" "regressions/$t" "corpus/$t"
    if compgen -G "regressions/$t/*" >/dev/null; then
        "$bin/$t" -timeout=10 -rss_limit_mb=2048 regressions/$t/* >"work/$t.regressions.log" 2>&1 \
            || { echo "### $t: a regression input fails again (work/$t.regressions.log)"; status=1; continue; }
    fi
    echo "### fuzz $t for ${secs}s"
    if nice -n 19 "$bin/$t" "work/$t" "corpus/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"work/$t.log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "work/$t.log" | grep -o '[0-9]*$' || true)
        cov=$(grep -o 'cov: [0-9]*' "work/$t.log" | tail -1 || true)
        echo "    ok: ${execs:-?} executions, $cov, corpus $(ls "work/$t" | wc -l) files"
    else
        echo "    FAILED: see fuzz/work/$t.log and fuzz/artifacts/$t/"
        grep -m3 -E 'panicked|ERROR: libFuzzer|SUMMARY' "work/$t.log" | sed 's/^/    /' || true
        status=1
    fi
done
exit $status
