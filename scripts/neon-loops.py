#!/usr/bin/env python3
"""neon-loops.py: the loops of aarch64 functions and their lengths in instructions.

Usage: neon-loops.py OBJECT_OR_RLIB NAME_SUBSTRING [NAME_SUBSTRING ...]

Disassembles with aarch64-linux-gnu-objdump and, for every function whose (demangled) name
contains one of the substrings, prints each loop (a backward branch to an address inside the
function) as `start..end  N instructions`, innermost first, plus the function's length. Used to
compare llamette's NEON kernels with llama.cpp's (ggml/src/ggml-cpu/arch/arm/quants.c compiled
with aarch64-linux-gnu-gcc -O3); see scripts/neon-insn-count.sh.
"""
import re
import subprocess
import sys

BRANCH = re.compile(r"^(b(\.\w+)?|cbn?z|tbn?z)$")


def functions(path):
    out = subprocess.run(
        ["aarch64-linux-gnu-objdump", "-d", "--no-show-raw-insn", "-C", path],
        check=True, capture_output=True, text=True).stdout
    name, body = None, []
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
        if m:
            if name:
                yield name, body
            name, body = m.group(2), []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m and name:
            body.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if name:
        yield name, body


def loops(body):
    addrs = [a for a, _, _ in body]
    found = []
    for a, mnem, ops in body:
        if not BRANCH.match(mnem):
            continue
        m = re.search(r"\b([0-9a-f]+) <", ops)
        if not m:
            continue
        target = int(m.group(1), 16)
        if addrs[0] <= target <= a:
            n = sum(1 for x in addrs if target <= x <= a)
            found.append((n, target, a))
    return sorted(set(found))


def main():
    path, pats = sys.argv[1], sys.argv[2:]
    for name, body in functions(path):
        if not any(p in name for p in pats):
            continue
        print(f"{name}  ({len(body)} instructions)")
        for n, start, end in loops(body):
            print(f"    loop {start:#x}..{end:#x}  {n} instructions")


if __name__ == "__main__":
    main()
