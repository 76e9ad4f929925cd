#!/usr/bin/env python3
"""Pulls the PTX out of the gpu.binary ops that --onebit-gpu-pipeline
(format=isa) leaves in the host module, and checks it with ptxas.

  gpu_ptx.py dump  FILE.mlir            print every kernel's PTX
  gpu_ptx.py ptxas FILE.mlir PTXAS DIR  write DIR/NAME.ptx, run
                                        `ptxas -arch=<target> -v` on each,
                                        print registers/spills per kernel (and
                                        its count of tensor-core
                                        mma.sync.aligned.m16n8k16
                                        instructions, when it has any) and
                                        fail on any spill or ptxas error
"""
import os
import re
import subprocess
import sys

BINARY = re.compile(r'gpu\.binary @([A-Za-z0-9_$.]+)')
ASSEMBLY = re.compile(r'assembly = "((?:[^"\\]|\\.)*)"')
MMA = re.compile(r'^\s*mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32\b',
                 re.M)


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c == '\\':
            if s[i + 1] == '\\':
                out.append(ord('\\'))
                i += 2
            else:
                out.append(int(s[i + 1:i + 3], 16))
                i += 3
        else:
            out.extend(c.encode())
            i += 1
    return out.decode()


def kernels(path):
    result = []
    for line in open(path):
        m = BINARY.search(line)
        if not m:
            continue
        a = ASSEMBLY.search(line)
        if not a:
            sys.exit("gpu.binary @%s has no PTX (use format=isa)" % m.group(1))
        result.append((m.group(1), unescape(a.group(1))))
    if not result:
        sys.exit("no gpu.binary in " + path)
    return result


def run_ptxas(ptxas, outdir, name, ptx):
    """Writes OUTDIR/NAME.ptx, runs `ptxas -arch=<.target> -v` on it and
    returns ({registers, stack, spill_stores, spill_loads, smem}, log), or
    (None, log) when ptxas fails."""
    target = re.search(r'^\.target\s+(\w+)', ptx, re.M).group(1)
    f = os.path.join(outdir, name + ".ptx")
    with open(f, "w") as fh:
        fh.write(ptx)
    p = subprocess.run([ptxas, "-arch=" + target, "-v", f, "-o",
                        os.path.join(outdir, name + ".cubin")],
                       capture_output=True, text=True)
    log = p.stdout + p.stderr
    if p.returncode != 0:
        return None, log

    def num(pattern):
        m = re.search(pattern, log)
        return int(m.group(1)) if m else 0
    return {"registers": num(r'Used (\d+) registers'),
            "stack": num(r'(\d+) bytes stack frame'),
            "spill_stores": num(r'(\d+) bytes spill stores'),
            "spill_loads": num(r'(\d+) bytes spill loads'),
            "smem": num(r'(\d+) bytes smem')}, log


def main():
    mode, path = sys.argv[1], sys.argv[2]
    mods = kernels(path)
    if mode == "dump":
        for name, ptx in mods:
            print("// ----- gpu.binary @%s" % name)
            print(ptx)
        return 0
    ptxas, outdir = sys.argv[3], sys.argv[4]
    os.makedirs(outdir, exist_ok=True)
    failed = False
    for name, ptx in mods:
        if re.search(r'^\.extern \.func', ptx, re.M):
            print("%s: unresolved external function (libdevice not linked?)"
                  % name)
            failed = True
        info, log = run_ptxas(ptxas, outdir, name, ptx)
        if info is None:
            print("%s: ptxas failed\n%s" % (name, log))
            failed = True
            continue
        mma = len(MMA.findall(ptx))
        print("%s: %d registers, %d bytes stack, %d bytes spill stores, "
              "%d bytes spill loads, %d bytes smem%s" %
              (name, info["registers"], info["stack"], info["spill_stores"],
               info["spill_loads"], info["smem"],
               ", %d mma.sync.aligned.m16n8k16" % mma if mma else ""))
        if info["spill_stores"] + info["spill_loads"]:
            print("%s: SPILLS" % name)
            failed = True
    print("kernels: %d" % len(mods))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
