#!/usr/bin/env bash
# Runs the vault benchmark (kluis-core, criterion) and the same workload on SQLCipher
# (bench/sqlcipher-compare), then prints a table of medians, ratios and file sizes.
# Then the wallet's list and overview end to end over 10,000 imported credentials.
# Load averages before and after each side are kept beside the figures (shared machines).
# Usage: bench/run-vault-bench.sh            (all three; ~8 minutes on 2 cores after the build)
#        bench/run-vault-bench.sh --table    (only print the table from the last run)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/target/vault-bench"
mkdir -p "$out"

if [[ "${1:-}" != "--table" ]]; then
  # Built first, so that the two sides run back to back.
  (cd "$root" && cargo bench -p kluis-vault --bench vault --no-run && cargo bench -p kluis-core --bench wallet --no-run)
  (cd "$root/bench/sqlcipher-compare" && cargo bench --bench sqlcipher --no-run)
  load() { echo "$1 $(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/load.txt"; }
  : > "$out/load.txt"
  load "kluis-start"
  (cd "$root" && KLUIS_BENCH_OUT="$out/kluis-size.json" cargo bench -p kluis-vault --bench vault)
  load "sqlcipher-start"
  (cd "$root/bench/sqlcipher-compare" && KLUIS_BENCH_OUT="$out/sqlcipher-size.json" cargo bench --bench sqlcipher)
  load "wallet-start"
  (cd "$root" && cargo bench -p kluis-core --bench wallet)
  load "end"
fi

python3 - "$root" "$out" <<'PY'
import json, os, sys
root, out = sys.argv[1], sys.argv[2]
def est(base, group, name):
    p = os.path.join(base, "criterion", group, name, "new", "estimates.json")
    try:
        with open(p) as f:
            return json.load(f)["median"]["point_estimate"]  # ns
    except FileNotFoundError:
        return None
def fmt(ns):
    if ns is None: return "-"
    if ns >= 1e6: return f"{ns/1e6:.2f} ms"
    if ns >= 1e3: return f"{ns/1e3:.1f} µs"
    return f"{ns:.0f} ns"
def size(name):
    try:
        with open(os.path.join(out, name)) as f: return json.load(f)
    except FileNotFoundError: return None
k_base = os.path.join(root, "target")
s_base = os.path.join(root, "bench", "sqlcipher-compare", "target")
rows = [("unlock without KDF", "unlock_no_kdf", None),
        ("put (committed, sync FULL)", "put", 0.5e6),
        ("put (committed, sync NORMAL)", "put_sync_normal", None),
        ("bare fdatasync 48 KiB (put's floor)", "fsync_floor", None),
        ("get by id", "get", 8e3),
        ("get by id, file not mapped", "get_without_mmap", None),
        ("list 10k summaries (holder,type,dates,state)", "list_summaries_10k", 20e6),
        ("list all 10k full (decrypt+decode)", "list_10k", None),
        ("unlock with Argon2id m=64MiB t=3 p=4", "unlock_full_recommended_kdf", None)]
print(f"{'operation':40} {'kluis':>11} {'SQLCipher':>11} {'kluis/SQLC':>10} {'target':>9}")
for label, name, target in rows:
    k, s = est(k_base, "vault", name), est(s_base, "sqlcipher", name)
    ratio = f"{k/s:.2f}x" if k and s else "-"
    t = ("<" + fmt(target)) if target else ""
    ok = "" if not (target and k) else (" ok" if k < target else " MISS")
    print(f"{label:40} {fmt(k):>11} {fmt(s):>11} {ratio:>10} {t:>9}{ok}")
for label, name in [("wallet list 10k (end to end)", "list_10k"),
                    ("wallet overview 10k (end to end)", "overview_10k")]:
    k = est(k_base, "wallet", name)
    ok = "" if k is None else (" ok" if k < 50e6 else " MISS")
    print(f"{label:40} {fmt(k):>11} {'-':>11} {'-':>10} {'<50.00 ms':>9}{ok}")
ks, ss = size("kluis-size.json"), size("sqlcipher-size.json")
def ratio(x): return f"{x['ratio']:.3f}x ({x['file_bytes']/1e6:.1f} MB)" if x else "-"
print(f"{'file size / plaintext (10k records)':40} {ratio(ks):>11} {ratio(ss):>11}  target <1.15x")
if ks: print(f"plaintext: {ks['plaintext_bytes']} bytes, {ks['plaintext_bytes']//ks['records']} B/record")
try:
    with open(os.path.join(out, "load.txt")) as f: print("load (1/5/15 min):", "; ".join(l.strip() for l in f))
except FileNotFoundError: pass
PY
