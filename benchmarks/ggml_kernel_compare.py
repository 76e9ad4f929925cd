#!/usr/bin/env python3
"""onebit's 1-bit decode kernels against llama.cpp's ggml kernels, in one
process (docs/kernels.md, "Against ggml").

At run time, outside the repository (default: $TMPDIR/onebit-ggml), this
script
  1. downloads the llama-cpp-python sdist from PyPI with pip (it vendors
     llama.cpp, whose ggml has Q1_0, TQ1_0, TQ2_0), unless --sdist gives it;
  2. configures llama.cpp with CMake (-DGGML_NATIVE=ON -DLLAMA_CURL=OFF) and
     builds only the ggml libraries (ggml-base, ggml-cpu);
  3. compiles benchmarks/ggml_compare/matvec_bench.cpp (ours) against them
     and against onebit's runtime library from --onebit-build;
  4. runs it once per instruction set (ONEBIT_ISA=avx512 / avx2 caps onebit's
     kernels; ggml keeps its native build) and prints the table with the
     ratios ggml_ms / onebit_ms.
Nothing of llama.cpp is written into the repository.

Usage:
  python3 benchmarks/ggml_kernel_compare.py [--work DIR] [--sdist FILE]
      [--onebit-build build] [--isa avx512,avx2] [--threads 1,2]
      [--n 4096] [--k 14336] [--rounds 7] [--calls 20] [--stream-mib 512]
      [--kernels onebit-exact,onebit-fast,onebit-int16,ggml-q1_0,...]
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "0.3.36"
REPO = Path(__file__).resolve().parents[1]


def log(msg):
    print(f"[ggml-compare] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def llama_source(work: Path, sdist: str) -> Path:
    src = work / f"llama_cpp_python-{VERSION}" / "vendor" / "llama.cpp"
    if (src / "ggml" / "include" / "ggml.h").exists():
        return src
    if sdist:
        tarball = Path(sdist)
    else:
        tarball = work / f"llama_cpp_python-{VERSION}.tar.gz"
        if not tarball.exists():
            # Only llama-cpp-python itself as source (its build requirements
            # come as wheels; ":all:" would build them from source too).
            run([sys.executable, "-m", "pip", "download", "--no-deps",
                 "--no-binary", "llama-cpp-python",
                 f"llama-cpp-python=={VERSION}", "-d", work])
    with tarfile.open(tarball) as t:
        t.extractall(work)
    if not (src / "ggml" / "include" / "ggml.h").exists():
        sys.exit(f"no ggml sources under {src}")
    return src


def build_ggml(src: Path, work: Path, jobs: int) -> Path:
    build = work / "build"
    libdir = build / "bin"
    if not (libdir / "libggml-cpu.so").exists():
        # The whole llama.cpp tree is configured (ggml's own CMakeLists
        # wants a ggml.pc.in the sdist lacks); only ggml is built.
        run(["cmake", "-S", src, "-B", build, "-G", "Ninja",
             "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON",
             "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
             "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=OFF",
             "-DLLAMA_BUILD_SERVER=OFF", "-DBUILD_SHARED_LIBS=ON"],
            stdout=subprocess.DEVNULL)
        run(["ninja", "-C", build, f"-j{jobs}", "ggml-base", "ggml-cpu"],
            stdout=subprocess.DEVNULL)
    return libdir


def compile_harness(src: Path, libdir: Path, onebit_lib: Path,
                    work: Path) -> Path:
    exe = work / "matvec_bench"
    cxx = shutil.which("clang++-22") or shutil.which("clang++") or "c++"
    run([cxx, "-O2", "-std=c++17", "-DONEBIT_WITH_GGML",
         f"-I{src / 'ggml' / 'include'}",
         REPO / "benchmarks" / "ggml_compare" / "matvec_bench.cpp",
         "-o", exe, f"-L{libdir}", "-lggml-base", "-lggml-cpu",
         f"-L{onebit_lib}", "-lonebit_runtime",
         f"-Wl,-rpath,{libdir}:{onebit_lib}"])
    return exe


ROW = re.compile(r"^(\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+|inf|nan)"
                 r"\s+(\S+)\s*$")


def parse(out: str):
    rows = []
    for line in out.splitlines():
        m = ROW.match(line)
        if m and (m.group(1).startswith("onebit-") or
                  m.group(1).startswith("ggml-")):
            rows.append(dict(kernel=m.group(1), threads=int(m.group(2)),
                             median=float(m.group(3)), min=float(m.group(4)),
                             err=m.group(6)))
    return rows


def table(isa, rows):
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    threads = sorted(set(r["threads"] for r in rows))
    at = {(r["kernel"], r["threads"]): r for r in rows}
    print(f"\n### onebit kernels: {isa}\n")
    print("| threads | " + " | ".join(kernels) + " |")
    print("|---" * (len(kernels) + 1) + "|")
    for t in threads:
        cells = [f"{at[(k, t)]['median']:.3f} ms" if (k, t) in at else "-"
                 for k in kernels]
        print(f"| {t} | " + " | ".join(cells) + " |")
    print("| error | " + " | ".join(
        at[(k, threads[0])]["err"] for k in kernels) + " |")
    ones = [k for k in kernels if k.startswith("onebit-")]
    ggmls = [k for k in kernels if k.startswith("ggml-")]
    if ones and ggmls:
        print("\nratio ggml_ms / onebit_ms (medians; > 1: onebit faster)\n")
        print("| onebit | threads | " + " | ".join(ggmls) + " |")
        print("|---|---" + "|---" * len(ggmls) + "|")
        for o in ones:
            for t in threads:
                if (o, t) not in at:
                    continue
                cells = [f"{at[(g, t)]['median'] / at[(o, t)]['median']:.2f}x"
                         if (g, t) in at else "-" for g in ggmls]
                print(f"| {o} | {t} | " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(),
                                                   "onebit-ggml"))
    ap.add_argument("--sdist", default="",
                    help="a llama_cpp_python-0.3.36.tar.gz already downloaded")
    ap.add_argument("--onebit-build", default=str(REPO / "build"))
    ap.add_argument("--isa", default="avx512,avx2")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--k", type=int, default=14336)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--stream-mib", type=float, default=512)
    ap.add_argument("--kernels", default="")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()

    work = Path(a.work).resolve()
    if work == REPO or REPO in work.parents:
        sys.exit("--work must be outside the repository (llama.cpp is never "
                 "put into it)")
    work.mkdir(parents=True, exist_ok=True)
    onebit_lib = Path(a.onebit_build).resolve() / "lib"
    if not (onebit_lib / "libonebit_runtime.so").exists():
        sys.exit(f"no {onebit_lib}/libonebit_runtime.so: build onebit first "
                 "(ninja -C build onebit_runtime)")
    src = llama_source(work, a.sdist)
    libdir = build_ggml(src, work, a.jobs)
    exe = compile_harness(src, libdir, onebit_lib, work)

    args = [exe, "--n", a.n, "--k", a.k, "--threads", a.threads,
            "--rounds", a.rounds, "--calls", a.calls,
            "--stream-mib", a.stream_mib]
    if a.kernels:
        args += ["--kernels", a.kernels]
    for isa in a.isa.split(","):
        env = dict(os.environ, ONEBIT_ISA=isa)
        log(f"ONEBIT_ISA={isa}")
        out = subprocess.run([str(x) for x in args], env=env, check=True,
                             capture_output=True, text=True).stdout
        print(out)
        table(isa, parse(out))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
