#!/usr/bin/env python3
"""Where the bytes of libkluis_ffi.so are, from the linker map bindings/test-aarch64.sh writes
beside each mobile library (target/<target>/mobile/libkluis_ffi.map; docs/BINDINGS.md "Size").

    bindings/size-report.py target/aarch64-unknown-linux-gnu/mobile/libkluis_ffi.map [TOP]

Sums the input sections the link kept (code, read-only data, relocated data, unwind tables) by
origin: each OpenSSL/SQLite object file by its library, the Rust code by the crate its (legacy-
mangled) symbol names. Sections the linker merges without a name (.eh_frame, string tables) are
shown by output section. Sizes are bytes in the file before `strip` removes the symbol tables.
"""
import re
import sys
from collections import Counter

RUST_SYM = re.compile(r"_ZN(\d+)([A-Za-z0-9_$.]+)")
INPUT = re.compile(r"^ (\.\S+?)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*))?$")
CONT = re.compile(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$")
LLD = re.compile(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+(\S.*):\((\.[^)]*)\)\s*$")
KEPT = (".text", ".rodata", ".data.rel.ro", ".data", ".gcc_except_table", ".eh_frame", ".init_array")


def origin(section, obj):
    # Static C libraries come bundled in their -sys crate's rlib: name them by archive member.
    member = obj[obj.rfind("(") + 1 : -1] if obj.endswith(")") else obj.rsplit("/", 1)[-1]
    if member.startswith(("libcrypto-", "libdefault-", "libcommon-", "liblegacy-")):
        return "OpenSSL libcrypto"
    if member.startswith("libssl-"):
        return "OpenSSL libssl"
    if member.endswith("-sqlite3.o") or member == "sqlite3.o":
        return "SQLite"
    if not member.endswith(".o") or "/usr/lib" in obj or "gcc" in obj:
        # GNU ld lists the merged .eh_frame under crtbeginS.o.
        return "unnamed eh_frame (Rust and C)" if section.startswith(".eh_frame") else "C runtime"
    m = RUST_SYM.search(section)
    if m:
        name = m.group(2)[: int(m.group(1))]
        if name.startswith("_$LT$"):  # <Type as Trait>::f: the crate of Type
            name = name[5:].replace("$RF$", "").replace("mut$u20$", "").split("..")[0]
        return "Rust " + name
    return "unnamed " + section.split(".")[1] + " (Rust and C)"


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    sizes = Counter()
    out_sections = Counter()
    in_map = False
    lld = False
    pending = None
    with open(path, errors="replace") as f:
        for line in f:
            if "VMA" in line and "LMA" in line:  # lld's map (rust-lld on x86_64 Linux, the NDK)
                lld = True
                continue
            if lld:
                m = LLD.match(line)
                if m and m.group(3).startswith(KEPT):
                    add(sizes, out_sections, m.group(3), int(m.group(1), 16), m.group(2))
                continue
            if not in_map:
                in_map = line.startswith("Linker script and memory map")
                continue
            if pending is not None:
                m = CONT.match(line)
                pending_sec = pending
                pending = None
                if m:
                    add(sizes, out_sections, pending_sec, int(m.group(2), 16), m.group(3))
                    continue
            m = INPUT.match(line)
            if not m:
                continue
            sec = m.group(1)
            if not sec.startswith(KEPT):
                continue
            if m.group(2) is None:
                pending = sec
            else:
                add(sizes, out_sections, sec, int(m.group(3), 16), m.group(4))
    total = sum(sizes.values())
    print(f"{'bytes':>10}  {'share':>6}  origin (kept input sections: {total:,} B)")
    groups = Counter()
    for k, v in sizes.items():
        groups["OpenSSL" if k.startswith("OpenSSL") else "Rust" if k.startswith("Rust") else k] += v
    for k, v in groups.most_common():
        print(f"{v:>10,}  {100 * v / total:5.1f}%  {k} (all)")
    print()
    for k, v in sizes.most_common(top):
        print(f"{v:>10,}  {100 * v / total:5.1f}%  {k}")
    print("\nby output section:")
    for k, v in out_sections.most_common():
        print(f"{v:>10,}  {k}")


def add(sizes, out_sections, sec, size, obj):
    if size == 0:
        return
    kind = next(k for k in KEPT if sec.startswith(k))
    out_sections[kind] += size
    sizes[origin(sec, obj)] += size


if __name__ == "__main__":
    main()
