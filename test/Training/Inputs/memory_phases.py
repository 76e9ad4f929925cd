"""Checks onebit-train --report-memory output for the compile's copies.

usage: memory_phases.py SHARED.txt COPIED.txt CONSTANT_MB

The model's large constants weigh CONSTANT_MB. Code generation (the phase
that ends at "compile: machine code linked") must not copy them when they
are shared with the MLIR context (SHARED: its peak grows by less than half
of them over the resident set before it), and does copy them into the
object file and the JIT when they are not (COPIED, ONEBIT_SHARE_CONSTANTS=0:
it grows by at least them), which shows that the check can fail.
"""
import re
import sys


def phases(path):
    out = {}
    for line in open(path):
        m = re.search(r"memory: (.*): rss ([0-9.]+) MB, phase peak ([0-9.]+) MB",
                      line)
        if m:
            out[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return out


def codegen_growth(path):
    p = phases(path)
    for need in ("compile: LLVM IR optimised", "compile: machine code linked"):
        if need not in p:
            sys.exit(f"{path}: no '{need}' phase")
    return p["compile: machine code linked"][1] - p["compile: LLVM IR optimised"][0]


def main():
    shared, copied = codegen_growth(sys.argv[1]), codegen_growth(sys.argv[2])
    mb = float(sys.argv[3])
    if shared >= mb / 2:
        sys.exit(f"code generation grew by {shared:.1f} MB with shared constants "
                 f"({mb:.0f} MB of them): they were copied")
    if copied < mb:
        sys.exit(f"code generation grew by only {copied:.1f} MB with copied "
                 f"constants ({mb:.0f} MB of them): the check cannot tell")
    print(f"constants shared: code generation grew by less than {mb / 2:.0f} MB, "
          f"and by more than {mb:.0f} MB when they are copied")


if __name__ == "__main__":
    main()
